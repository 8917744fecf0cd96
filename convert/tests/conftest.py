"""Fixtures of the converter tests: a MinIO on 127.0.0.1 (built before any test runs), and a runner."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from convert.__main__ import main
from tests import s3server


def pytest_sessionstart(session: pytest.Session) -> None:
    # Build MinIO (about two minutes on a fresh machine) before the per-test timeout starts counting.
    s3server.ensure_minio()


@pytest.fixture(scope="session")
def minio() -> Iterator[s3server.S3Server]:
    with s3server.running() as server:
        yield server


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def convert(tmp_path: Path):
    """Run `python -m convert` in-process with exactly the given environment (plus a results dir)."""

    def run(env: dict[str, str], argv: list[str] | None = None) -> Result:
        out, err = io.StringIO(), io.StringIO()
        full = {
            "FUSEML_SERVING_RESULTS_DIR": str(tmp_path / "results"),
            "TASK_RESULT": "ovms-model-url",
            **env,
        }
        code = main(argv or [], full, out, err)
        return Result(code, out.getvalue(), err.getvalue())

    return run
