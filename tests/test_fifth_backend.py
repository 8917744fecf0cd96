"""A fifth backend is one new file: dropped into components/backends/ of a copy of the project, a trivial
backend (one Deployment and one Service per model, for scikit-learn) is planned, validated, documented in
the generated reference and refused where it should be, with no other file of the copy touched."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from offline.schemas import validate

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "fifth_backend"


def _copy_project(target: Path) -> None:
    """The project's tracked and new files (not the virtualenvs or caches), as a user's checkout has them."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\n")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("project")
    _copy_project(copy)
    before = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    shutil.copy(FIXTURE / "tiny.py", copy / "components" / "backends" / "tiny.py")
    after = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    assert set(after) - set(before) == {Path("components/backends/tiny.py")}
    assert all(after[name] == content for name, content in before.items())
    return copy


def _run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=project, capture_output=True, text=True, timeout=50,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(project), "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def report(project: Path) -> dict[str, Any]:
    run = _run(project, str(FIXTURE / "check.py"))
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def test_the_fifth_backend_is_planned_with_its_own_settings(report: dict[str, Any]) -> None:
    served = report["served"]
    kinds = {(r["inputs"]["kind"], r["inputs"]["metadata"]["name"]) for r in served["resources"]}
    assert {("Deployment", "ovms-iris"), ("Service", "ovms-iris"), ("VirtualService", "ovms-iris")} <= kinds
    (deployment,) = [r["inputs"] for r in served["resources"] if r["inputs"]["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "example.org/tiny:1.2"
    assert container["args"] == ["--threads=4", "--model=s3://models/iris"]
    assert served["outputs"]["prediction_url"] == "http://iris.ovms.example.org/predict"
    assert served["outputs"]["serving"]["iris"]["backend"] == "tiny"
    assert report["defaults"] == 1
    for resource in served["resources"]:
        assert validate(resource["inputs"]) == [], resource["name"]


def test_the_fifth_backend_is_refused_where_it_should_be(report: dict[str, Any]) -> None:
    assert "models[0].tiny_threads" in report["tiny_threads_on_ovms"]
    assert "tiny_threads is a setting of the tiny backend" in report["tiny_threads_on_ovms"]
    assert "models[0].format" in report["onnx_on_tiny"] and "backend tiny serves (sklearn)" in report[
        "onnx_on_tiny"
    ]
    assert "a model URL backend tiny reads: s3://" in report["gs_on_tiny"]
    assert "models[0].tiny_threads (app 'iris'): got 0; allowed: a positive integer" in report["zero_threads"]
    assert "fuseml-serving:tiny.image_tag: got 'latest'" in report["latest_tag"]


def test_the_fifth_backend_is_documented_in_the_generated_reference(project: Path) -> None:
    run = _run(project, "-m", "components.reference")
    assert run.returncode == 0, run.stderr[-3000:]
    readme = (project / "README.md").read_text()
    assert "| `tiny_threads` | `1` | tiny: worker threads of the tiny server. |" in readme
    assert "`tiny`" in readme
    pulumi_yaml = (project / "Pulumi.yaml").read_text()
    assert "fuseml-serving:tiny:" in pulumi_yaml
    schema = json.loads((project / "schema" / "Pulumi.stack.schema.json").read_text())
    assert "fuseml-serving:tiny" in schema["properties"]["config"]["properties"]
    # The real project documents no such backend: the copy's reference changed because of the one file.
    assert "tiny_threads" not in (ROOT / "README.md").read_text()
