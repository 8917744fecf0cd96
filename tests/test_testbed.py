"""The test bed's own contract, without building anything: versions stated once, failures in one line."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from components.config import DEFAULTS
from testbed import cluster, toolchain, versions

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def dockerfile_arg(name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert match, name
    return match.group(1)


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def test_toolchain_versions_are_the_pins_of_requirements_the_dockerfile_and_the_program() -> None:
    assert versions.pulumi() == dockerfile_arg("PULUMI_VERSION")
    # The CLI users run is at or above the SDK the program is written against, within the same major.
    cli, sdk = _release(versions.pulumi()), _release(versions.pulumi_sdk())
    assert cli >= sdk and cli[0] == sdk[0], (versions.pulumi(), versions.pulumi_sdk())
    assert versions.pulumi_kubernetes() == dockerfile_arg("PULUMI_KUBERNETES_VERSION")
    assert versions.operator() == DEFAULTS["operator"]["version"]
    # The provider module's pseudo-version is known for the pinned release.
    assert versions.kubernetes_provider_module().startswith("v4.0.0-")
    keys = [piece.key for piece in toolchain.pieces(with_operator=True)]
    assert keys[0].startswith(f"pulumi-{versions.pulumi()}-")
    assert any(key.startswith(f"pulumi-kubernetes-{versions.pulumi_kubernetes()}-") for key in keys)
    assert any(key.startswith(f"operator-{versions.operator()}-") for key in keys)
    assert any(key.startswith(f"kube-{versions.KUBERNETES}-") for key in keys)


def test_a_changed_recipe_changes_the_cache_key(monkeypatch: pytest.MonkeyPatch) -> None:
    before = {piece.name: piece.key for piece in toolchain.pieces()}

    def rebuilt_cli(out: Path, builder: toolchain.Builder, scratch: Path) -> None:
        """A CLI built another way (say, with one more ldflag)."""

    monkeypatch.setattr(toolchain, "_pulumi_cli", rebuilt_cli)
    after = {piece.name: piece.key for piece in toolchain.pieces()}
    assert after["pulumi-cli"] != before["pulumi-cli"]
    assert {k: v for k, v in after.items() if k != "pulumi-cli"} == {
        k: v for k, v in before.items() if k != "pulumi-cli"
    }


def test_an_unmapped_provider_pin_is_refused_with_what_to_add(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(versions, "pulumi_kubernetes", lambda: "9.9.9")
    with pytest.raises(
        LookupError, match=r"pulumi-kubernetes==9\.9\.9 has no provider commit in testbed/versions"
    ):
        versions.kubernetes_provider_module()


def run_testbed(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "testbed", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_no_go_toolchain_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    run = run_testbed(
        "toolchain", env={"PATH": "/nonexistent", "FUSEML_SERVING_TOOLCHAIN_CACHE": str(tmp_path)}
    )
    assert run.returncode == 1
    assert run.stderr.strip() == (
        "testbed: no Go toolchain on PATH: the test bed builds its binaries with Go 1.26 or newer"
    )


def test_a_failed_module_download_names_the_piece_and_its_log(tmp_path: Path) -> None:
    if not any((Path(p) / "go").exists() for p in os.environ.get("PATH", "").split(os.pathsep)):
        pytest.fail("this test needs the Go toolchain CI and the README require")
    # An empty module cache and no proxy: the first download fails at once.
    env = {
        "GOMODCACHE": str(tmp_path / "mod"),
        "GOPROXY": "off",
        "FUSEML_SERVING_TOOLCHAIN_CACHE": str(tmp_path),
    }
    run = run_testbed("toolchain", env=env)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "testbed: building pulumi-cli failed: downloading github.com/pulumi/pulumi/pkg/v3@v"
    )
    assert "module lookup disabled by GOPROXY=off" in last
    log = Path(last.rsplit("; log: ", 1)[1])
    assert log.is_file() and "go mod download" in log.read_text()
    assert "Traceback" not in run.stderr


def fake_bin(folder: Path, **scripts: str) -> Path:
    folder.mkdir()
    for name, body in scripts.items():
        path = folder / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return folder


def test_a_component_that_fails_to_start_is_named_with_its_log_tail(tmp_path: Path) -> None:
    bin_dir = fake_bin(tmp_path / "bin", etcd='echo "etcdmain: data dir is not writable" >&2; exit 3')
    with pytest.raises(cluster.TestbedError) as raised:
        cluster.up(tmp_path / "bed", bin_dir)
    message = str(raised.value)
    assert message.startswith("etcd exited with 3 while starting\nlast lines of ")
    assert "etcdmain: data dir is not writable" in message
    # Nothing stays behind: the state file is gone, so `down` has nothing left to stop.
    assert not (tmp_path / "bed" / cluster.STATE_FILE).exists()


def test_down_of_a_folder_without_a_test_bed_stops_nothing(tmp_path: Path) -> None:
    assert cluster.down(tmp_path) == []
