"""`python -m testbed down` leaves the folder as `up` found it: everything the test bed wrote is gone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.engine import ROOT

pytestmark = pytest.mark.timeout(300)


def run_testbed(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "testbed", *args],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
    )  # fmt: skip


def test_down_removes_all_the_test_bed_wrote_and_keeps_the_users_files(bin_dir: Path, tmp_path: Path) -> None:
    mine = tmp_path / "notes.txt"
    mine.write_text("the user's own file")
    before = sorted(p.name for p in tmp_path.iterdir())
    run = run_testbed("up", "--dir", str(tmp_path), "--stand-ins")
    assert run.returncode == 0, run.stderr
    assert len(list(tmp_path.iterdir())) > len(before)
    down = run_testbed("down", "--dir", str(tmp_path))
    assert down.returncode == 0, down.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert mine.read_text() == "the user's own file"


def test_down_removes_a_folder_up_made(bin_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "fresh"
    run = run_testbed("up", "--dir", str(folder))
    assert run.returncode == 0, run.stderr
    down = run_testbed("down", "--dir", str(folder))
    assert down.returncode == 0, down.stderr
    assert not folder.exists()
