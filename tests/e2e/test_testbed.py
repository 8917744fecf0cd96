"""The test bed itself, on the real binaries: what it builds, how it starts and stops, what it leaves."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed import cluster as testbed_cluster
from testbed import versions
from testbed.engine import ROOT

pytestmark = pytest.mark.timeout(300)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose (its parent has not reaped it yet).
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split(") ", 1)[1][0] != "Z"


def recorded_pids(root: Path) -> list[int]:
    state = json.loads((root / testbed_cluster.STATE_FILE).read_text())
    return [entry["pid"] for entry in state["processes"]]


def test_binaries_report_the_pinned_versions(bin_dir: Path) -> None:
    pulumi = subprocess.run([str(bin_dir / "pulumi"), "version"], capture_output=True, text=True, check=True)
    assert pulumi.stdout.strip() == f"v{versions.pulumi()}"
    apiserver = subprocess.run([str(bin_dir / "kube-apiserver"), "--version"], capture_output=True, text=True)
    assert apiserver.stdout.strip() == f"Kubernetes v{versions.KUBERNETES}"


def run_testbed(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "testbed", *args],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )


def test_up_and_down_commands_start_and_stop_everything(bin_dir: Path, tmp_path: Path) -> None:
    run = run_testbed("up", "--dir", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert f"export KUBECONFIG={tmp_path / 'kubeconfig'}" in run.stdout
    pids = recorded_pids(tmp_path)
    assert len(pids) == 4 and all(alive(pid) for pid in pids)
    kubectl = subprocess.run(
        [str(bin_dir / "kubectl"), "get", "crd", "-o", "name"],
        env={**os.environ, "KUBECONFIG": str(tmp_path / "kubeconfig")},
        capture_output=True,
        text=True,
    )
    assert kubectl.stdout.split() == [
        f"customresourcedefinition.apiextensions.k8s.io/{name}"
        for name in (
            "clusterservingruntimes.serving.kserve.io",
            "gateways.networking.istio.io",
            "inferenceservices.serving.kserve.io",
            "modelservers.intel.com",
            "seldondeployments.machinelearning.seldon.io",
            "servingruntimes.serving.kserve.io",
            "virtualservices.networking.istio.io",
        )
    ]
    down = run_testbed("down", "--dir", str(tmp_path))
    assert down.returncode == 0, down.stderr
    assert down.stdout.strip() == "stopped kubelet-stand-in, kube-controller-manager, kube-apiserver, etcd"
    assert not [pid for pid in pids if alive(pid)]
    assert not (tmp_path / "kubeconfig").exists() and not (tmp_path / "etcd").exists()


def etcd_client_port(root: Path) -> int:
    """The client port of the etcd the state file records, from its command line."""
    (pid,) = [p["pid"] for p in json.loads((root / testbed_cluster.STATE_FILE).read_text())["processes"]
              if p["name"] == "etcd"]  # fmt: skip
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    (url,) = [a.split("=", 1)[1] for a in argv if a.startswith("--listen-client-urls=")]
    return int(url.rsplit(":", 1)[1])


@pytest.fixture
def taken_first_port(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, list[int]]]:
    """A port someone else listens on, handed out as the first free port (etcd's client port); yields it
    and the list of every port handed out."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    handed: list[int] = []
    real = testbed_cluster.free_port

    def free_port() -> int:
        handed.append(port if not handed else real())
        return handed[-1]

    monkeypatch.setattr(testbed_cluster, "free_port", free_port)
    try:
        yield port, handed
    finally:
        taken.close()


def test_a_taken_port_makes_it_pick_others(
    bin_dir: Path, tmp_path: Path, taken_first_port: tuple[int, list[int]], capsys: pytest.CaptureFixture[str]
) -> None:
    port, handed = taken_first_port
    with testbed_cluster.running(tmp_path, bin_dir) as running:
        assert running.get("/api/v1/namespaces/default")["metadata"]["name"] == "default"
        # The first start failed on the taken port and said so; the second got ports of its own.
        retries = [line for line in capsys.readouterr().err.splitlines() if line.startswith("testbed:")]
        assert len(retries) == 1, retries
        assert retries[0].startswith("testbed: a port was taken meanwhile (etcd exited with")
        assert retries[0].endswith("; retrying")
        assert handed.count(port) == 1 and len(handed) == 6  # three ports per start, two starts
        assert etcd_client_port(tmp_path) == handed[3] != port


def test_without_the_retry_a_taken_port_stops_the_start(
    bin_dir: Path, tmp_path: Path, taken_first_port: tuple[int, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same taken port with a single attempt: what the retry above saves a start from.
    monkeypatch.setattr(testbed_cluster, "PORT_ATTEMPTS", 1)
    with pytest.raises(testbed_cluster.TestbedError, match="address already in use"):
        testbed_cluster.up(tmp_path, bin_dir, owned=True)
    assert not (tmp_path / testbed_cluster.STATE_FILE).exists()


def test_the_test_beds_processes_die_with_a_killed_owner(bin_dir: Path, tmp_path: Path) -> None:
    owner = subprocess.Popen(
        [
            sys.executable, "-c",
            "import sys, time; from pathlib import Path; from testbed import cluster; "
            "cluster.up(Path(sys.argv[1]), Path(sys.argv[2]), owned=True); "
            "print('up', flush=True); time.sleep(300)",
            str(tmp_path), str(bin_dir),
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert owner.stdout is not None and owner.stdout.readline().strip() == "up"
    pids = recorded_pids(tmp_path)
    assert all(alive(pid) for pid in pids)
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    deadline = time.monotonic() + 20
    while [pid for pid in pids if alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in pids if alive(pid)]
    testbed_cluster.down(tmp_path)
