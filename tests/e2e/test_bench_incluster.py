"""`python -m bench --in-cluster` against the loopback cluster: its Job and ConfigMap as the API server holds
them, their deletion at the end, and on Ctrl-C (SIGINT) mid-run.

The generator never runs here: the test bed starts no job controller (testbed/cluster.py CONTROLLERS), so
the Job gets no pods, and even a pod would only be marked Running by testbed/kubelet.py, its container
never started, so no results could come back. What is checked is therefore what bench asks of the cluster
and what it leaves behind; the command itself must end in a bounded time with one line saying why there
are no results (its --job-wait), not hang. The results path (pods' logs merged) is covered by
tests/test_bench_merge.py with real vegeta 12.8.4 output.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from bench import incluster
from testbed.cluster import Cluster

# The session's cluster may start inside the first test (tens of seconds on 2 cores).
pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]
BODY = {"instances": [[1.0, 2.0, 3.0, 4.0]]}


def _bench(cluster: Cluster, namespace: str, tmp_path: Path, job_wait: float) -> subprocess.Popen:
    payload = tmp_path / "body.json"
    payload.write_text(json.dumps(BODY), encoding="utf-8")
    url = f"http://m.{namespace}.svc.cluster.local:8081/v1/models/m:predict"
    command = [
        sys.executable, "-m", "bench", "--in-cluster", "--namespace", namespace, "--target", f"m={url}",
        "--payload", str(payload), "--rate", "30", "--duration", "3", "--warmup", "1", "--parallelism", "3",
        "--kubectl", str(cluster.bin_dir / "kubectl"), "--job-wait", f"{job_wait:g}", "--out",
        str(tmp_path / "out"),
    ]  # fmt: skip
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _listed(cluster: Cluster, namespace: str, kind: str) -> list[dict[str, Any]]:
    """The namespace's objects of bench's label, as the API server lists them."""
    base = "/apis/batch/v1" if kind == "jobs" else "/api/v1"
    selector = urllib.parse.quote(incluster.LABEL)
    return cluster.get(f"{base}/namespaces/{namespace}/{kind}?labelSelector={selector}")["items"]


def _wait_for_job(cluster: Cluster, namespace: str, process: subprocess.Popen) -> tuple[dict, dict]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        jobs, maps = _listed(cluster, namespace, "jobs"), _listed(cluster, namespace, "configmaps")
        if jobs and maps:
            return jobs[0], maps[0]
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    raise AssertionError("bench created no Job and ConfigMap within 30 s")


def _assert_gone(cluster: Cluster, namespace: str) -> None:
    # Deleted with background propagation: the objects go at once (their pods, if any, after them).
    deadline = time.monotonic() + 10
    while _listed(cluster, namespace, "jobs") or _listed(cluster, namespace, "configmaps"):
        assert time.monotonic() < deadline, "bench's Job or ConfigMap is still there"
        time.sleep(0.2)


def _assert_spec(job: dict, config_map: dict, namespace: str) -> None:
    run = job["metadata"]["name"]
    assert config_map["metadata"]["name"] == run and run.startswith("bench-")
    assert job["metadata"]["namespace"] == config_map["metadata"]["namespace"] == namespace
    assert job["metadata"]["labels"] == config_map["metadata"]["labels"] == {incluster.LABEL: run}
    spec = job["spec"]
    assert spec["parallelism"] == spec["completions"] == 3 and spec["backoffLimit"] == 0
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    [container] = pod["containers"]
    assert container["image"] == incluster.IMAGE
    # Each of the 3 pods at a third of 30 req/s, for the warm-up and the measured seconds together.
    script = container["command"][2]
    assert "-rate=10/1s" in script and "-duration=4s" in script and "encode --to=csv" in script
    assert pod["volumes"] == [{"name": "targets", "configMap": {"name": run, "defaultMode": 420}}]
    [line] = config_map["data"]["targets"].splitlines()
    target = json.loads(line)
    assert target["url"] == f"http://m.{namespace}.svc.cluster.local:8081/v1/models/m:predict"
    assert json.loads(base64.b64decode(target["body"])) == BODY


def test_the_job_and_configmap_are_created_as_specified_and_deleted_when_no_results_come(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    process = _bench(cluster, namespace, tmp_path, job_wait=8)
    job, config_map = _wait_for_job(cluster, namespace, process)
    _assert_spec(job, config_map, namespace)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr
    failure = [line for line in stderr.splitlines() if line.startswith("bench: m:")]
    assert failure == [
        f"bench: m: Job {namespace}/{job['metadata']['name']}: not complete after 8s: no generator pod "
        "was created (does the cluster run a job controller?)"
    ]
    _assert_gone(cluster, namespace)
    # The report still says what happened to the target.
    results = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert results["targets"][0]["error"] == failure[0].removeprefix("bench: ")


def test_the_job_and_configmap_are_deleted_on_ctrl_c_mid_run(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    process = _bench(cluster, namespace, tmp_path, job_wait=120)
    job, config_map = _wait_for_job(cluster, namespace, process)
    _assert_spec(job, config_map, namespace)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and stderr.splitlines()[-1] == "bench: interrupted"
    _assert_gone(cluster, namespace)
