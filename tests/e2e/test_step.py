"""The workflow step, `python -m step`, through the Automation API and the real CLI, as FuseML runs it.

FuseML-style environment in (the step's inputs as FUSEML_* variables, the workflow's namespace and name,
the results folder), the prediction URL in the results file out; the state in a file backend, as in the
step's image with a bucket backend.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from testbed.cluster import Cluster
from testbed.engine import ROOT, Engine
from tests.e2e import stacks
from tests.fuseml_server import FakeFuseML

pytestmark = pytest.mark.timeout(900)

APP = "step-e2e"
#: What the step prints while another update holds the stack's lock (step/runner.py).
LOCKED = "is locked by another update; retrying"
#: How long a test waits for an event before it gives up (a safety net only).
EVENT_DEADLINE_S = 180.0


def step_env(
    engine: Engine, namespace: str, fuseml: FakeFuseML, results: Path, **extra: str
) -> dict[str, str]:
    env = engine.env()
    env.update(
        {
            # The image's python is the one with the packages; so is this virtualenv's (dynamic providers
            # are started as `python3 -m pulumi.dynamic`).
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
            "PYTHONPATH": str(ROOT),
            "FUSEML_APP_NAME": APP,
            "FUSEML_MODEL": "gs://ovms-public-eu/resnet50-binary",
            "FUSEML_FORMAT": "openvino",
            "FUSEML_MODEL_NAME": "resnet",
            "FUSEML_NIREQ": "",
            "FUSEML_ENV_WORKFLOW_NAMESPACE": namespace,
            "FUSEML_ENV_WORKFLOW_NAME": "mlflow-e2e",
            "FUSEML_SERVING_DOMAIN": stacks.DOMAIN,
            "FUSEML_SERVER_URL": fuseml.url,
            "FUSEML_SERVING_RESULTS_DIR": str(results),
            "TASK_RESULT": "prediction-url",
            "FUSEML_SERVING_LOCK_TIMEOUT_S": "300",
        }
    )
    env.update(extra)
    return env


def descendants(pid: int) -> list[int]:
    """Every process below pid, from /proc (children first found, then theirs)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        children = parents.get(queue.pop(), [])
        found.extend(children)
        queue.extend(children)
    return found


def run_step(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "step"], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )


def start_step(env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[str]:
    handle = log.open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "step"], env=env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip


def test_step_deploys_then_a_rerun_is_a_no_op(
    engine: Engine, cluster: Cluster, namespace: str, fuseml: FakeFuseML, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    env = step_env(engine, namespace, fuseml, results)
    first = run_step(env, tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    url = f"http://{APP}.ovms.{stacks.DOMAIN}/v1/models/resnet:predict"
    assert (results / "prediction-url").read_text() == url
    assert set(stacks.model_servers(cluster, namespace)) == {f"ovms-{APP}"}
    assert fuseml.store[APP]["url"] == url
    api_writes, fuseml_writes = len(cluster.writes()), len(fuseml.writes())

    second = run_step(env, tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert (results / "prediction-url").read_text() == url
    assert cluster.writes()[api_writes:] == []
    assert fuseml.writes()[fuseml_writes:] == []


def test_without_a_domain_the_step_reads_the_installers_gateway(
    engine: Engine, cluster: Cluster, namespace: str, fuseml: FakeFuseML, tmp_path: Path
) -> None:
    # What the FuseML installer leaves in the workflow namespace for the ovms extension.
    gateway = {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "Gateway",
        "metadata": {"name": "ovms-gateway", "namespace": namespace},
        "spec": {
            "selector": {"istio": "ingressgateway"},
            "servers": [
                {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*.models.found.test"]}
            ],
        },
    }
    cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(gateway))
    results = tmp_path / "results"
    env = step_env(engine, namespace, fuseml, results)
    del env["FUSEML_SERVING_DOMAIN"]
    run = run_step(env, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    url = f"http://{APP}.models.found.test/v1/models/resnet:predict"
    assert (results / "prediction-url").read_text() == url
    (route,) = stacks.virtual_services(cluster, namespace).values()
    assert route["spec"]["gateways"] == [f"{namespace}/ovms-gateway"]
    assert route["spec"]["hosts"] == [f"{APP}.models.found.test"]


def wait_for(
    what: str, condition: Callable[[], bool], runs: list[subprocess.Popen[str]], logs: list[Path]
) -> None:
    """Wait until condition() holds (an event another process signals), failing at once if a run ends
    first; the deadline only keeps a broken run from hanging the suite, it is no part of the check."""
    deadline = time.monotonic() + EVENT_DEADLINE_S
    while not condition():
        ended = [run.args for run in runs if run.poll() is not None]
        if ended or time.monotonic() > deadline:
            shown = "\n".join(f"--- {log}\n{log.read_text()}" for log in logs if log.exists())
            pytest.fail(f"{what} did not happen (ended runs: {ended})\n{shown}")
        time.sleep(0.1)


def mid_update(engine: Engine, fuseml: FakeFuseML) -> bool:
    """Whether an update holds the stack's lock (a file of the file backend's .pulumi/locks) and has called
    FuseML, which only the update's registration does."""
    return bool(fuseml.requests) and bool(list((engine.backend / ".pulumi" / "locks").rglob("*.json")))


def test_two_runs_at_once_serialise_on_the_stack_lock(
    engine: Engine, cluster: Cluster, namespace: str, fuseml: FakeFuseML, tmp_path: Path
) -> None:
    env = step_env(engine, namespace, fuseml, tmp_path / "results")
    logs = [tmp_path / f"run{i}.log" for i in range(2)]
    # FuseML holds every answer until the test opens the barrier: the first run stays inside its update,
    # holding the stack's lock, for exactly as long as the second needs to meet that lock.
    barrier = threading.Event()
    fuseml.inject(None, hold=barrier, times=None)
    runs = []
    try:
        runs.append(start_step(env, tmp_path, logs[0]))
        wait_for("the first run's update reaching FuseML", lambda: mid_update(engine, fuseml), runs, logs)
        runs.append(start_step(env, tmp_path, logs[1]))
        wait_for("the second run meeting the lock", lambda: LOCKED in logs[1].read_text(), runs, logs)
    finally:
        fuseml.faults.clear()
        barrier.set()
    codes = [run.wait(timeout=600) for run in runs]
    texts = [log.read_text() for log in logs]
    assert codes == [0, 0], texts
    assert LOCKED not in texts[0], texts[0]
    assert set(stacks.model_servers(cluster, namespace)) == {f"ovms-{APP}"}
    assert fuseml.store[APP]["url"] == f"http://{APP}.ovms.{stacks.DOMAIN}/v1/models/resnet:predict"


def test_a_run_killed_mid_update_leaves_a_lock_the_next_run_explains(
    engine: Engine, cluster: Cluster, namespace: str, fuseml: FakeFuseML, tmp_path: Path
) -> None:
    env = step_env(engine, namespace, fuseml, tmp_path / "results")
    # FuseML holds its answer until the run is killed: the run is mid-update, holding the lock, when it is.
    barrier = threading.Event()
    fuseml.inject(None, hold=barrier, times=None)
    log = tmp_path / "killed.log"
    run = start_step(env, tmp_path, log)
    try:
        wait_for("the run's update reaching FuseML", lambda: mid_update(engine, fuseml), [run], [log])
    except BaseException:
        barrier.set()
        raise
    # SIGKILL the whole step, as a pod's end does: the CLI and the plugins it started (each in a process
    # group of its own) die with it, and nothing gets to release the lock.
    for pid in [run.pid, *descendants(run.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    run.wait(timeout=30)
    fuseml.faults.clear()
    barrier.set()
    next_run = run_step({**env, "FUSEML_SERVING_LOCK_TIMEOUT_S": "3"}, tmp_path)
    assert next_run.returncode == 1, next_run.stdout + next_run.stderr
    errors = [line for line in next_run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, next_run.stderr
    (line,) = errors
    assert "is still locked after 3s" in line
    assert "pulumi cancel --stack" in line and f"PULUMI_BACKEND_URL=file://{engine.backend}" in line

    subprocess.run(
        [str(engine.bin_dir / "pulumi"), "cancel", "--stack", APP, "--yes"],
        env=engine.env(), cwd=engine.project, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    recovered = run_step(env, tmp_path)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
