"""`--in-cluster`: the generator as a Kubernetes Job in the model's namespace, its results read back.

One ConfigMap holds vegeta's targets (one JSON target per body); a Job of `parallelism` pods runs the
tutorial's vegeta image (seed 004's load-test Job, pinned here) at rate/parallelism each, every pod
printing one CSV line per request (`vegeta encode --to=csv`) to its log. Each pod's results are
summarized on their own schedule (its rate is checked), then merged. The Job and ConfigMap are deleted
afterwards, also when the run is interrupted (Ctrl-C, SIGTERM) or times out.
"""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from typing import Any

import yaml

from bench.stats import Hit
from bench.vegeta import attack_command, parse_csv, targets_lines

#: The tutorial's image (peterevans/vegeta, seed 004 and FuseML's load-test Jobs), pinned to its newest
#: tag, which carries vegeta 12.8.4 (peter-evans/vegeta-docker README: `6.9.1-vegeta12.8.4`); that
#: release has the same JSON targets and CSV encoder bench reads locally.
IMAGE = "peterevans/vegeta:6.9.1-vegeta12.8.4"
LABEL = "fuseml-serving/bench"
MOUNT = "/var/bench"


class ClusterError(Exception):
    """The Job could not be run or read: one line saying what kubectl answered."""


def manifests(
    run: str,
    namespace: str,
    url: str,
    bodies: list[bytes],
    rate: float,
    seconds: float,
    timeout_s: float,
    parallelism: int,
) -> list[dict[str, Any]]:
    """The ConfigMap and Job of one in-cluster run (`run` names both)."""
    labels = {LABEL: run}
    per_pod = rate / parallelism
    command = attack_command("vegeta", f"{MOUNT}/targets", per_pod, seconds, timeout_s)
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": run, "namespace": namespace, "labels": labels},
        "data": {"targets": targets_lines(url, bodies)},
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": run, "namespace": namespace, "labels": labels},
        "spec": {
            "parallelism": parallelism,
            "completions": parallelism,
            # A retried pod would load the server twice: a failed pod fails the run instead.
            "backoffLimit": 0,
            "activeDeadlineSeconds": int(seconds + timeout_s + 120),
            "template": {
                "metadata": {
                    "labels": labels,
                    # The generator must not go through a sidecar proxy (the tutorial's Job says the same).
                    "annotations": {"sidecar.istio.io/inject": "false"},
                },
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "vegeta",
                            "image": IMAGE,
                            "command": ["sh", "-c", command],
                            "resources": {"requests": {"cpu": "1", "memory": "256Mi"}},
                            "volumeMounts": [{"name": "targets", "mountPath": MOUNT}],
                        }
                    ],
                    "volumes": [{"name": "targets", "configMap": {"name": run}}],
                },
            },
        },
    }
    return [config_map, job]


class Kubectl:
    """kubectl in a namespace; every failure is a ClusterError with kubectl's last line."""

    def __init__(self, binary: str, namespace: str, kubeconfig: str | None = None) -> None:
        self.base = [binary, *(["--kubeconfig", kubeconfig] if kubeconfig else []), "-n", namespace]

    def __call__(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        done = subprocess.run([*self.base, *args], input=stdin, capture_output=True, text=True, check=False)
        if check and done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise ClusterError(f"kubectl {args[0]} failed: {last}")
        return done.stdout


def run_job(
    kubectl: Kubectl,
    namespace: str,
    url: str,
    bodies: list[bytes],
    rate: float,
    seconds: float,
    timeout_s: float,
    parallelism: int,
    wait_s: float,
    say: Callable[[str], None],
) -> list[list[Hit]]:
    """Run one attack as a Job; each pod's hits. The Job and ConfigMap are always deleted."""
    run = f"bench-{uuid.uuid4().hex[:8]}"
    objects = manifests(run, namespace, url, bodies, rate, seconds, timeout_s, parallelism)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objects))
        say(f"Job {namespace}/{run}: {parallelism} pod(s) at {rate / parallelism:g} req/s each")
        deadline = time.monotonic() + wait_s
        while True:
            state = kubectl("get", "job", run, "-o", "jsonpath={.status.succeeded}/{.status.failed}")
            succeeded, _, failed = state.partition("/")
            if failed and int(failed) > 0:
                raise ClusterError(
                    f"Job {namespace}/{run}: a generator pod failed (kubectl logs -l {LABEL}={run})"
                )
            if succeeded and int(succeeded) >= parallelism:
                break
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"Job {namespace}/{run}: not complete after {wait_s:g}s (do its pods run?)"
                )
            time.sleep(2)
        pods = kubectl("get", "pods", "-l", f"{LABEL}={run}", "-o", "name").split()
        return [list(parse_csv(kubectl("logs", pod).splitlines())) for pod in pods]
    finally:
        cleanup(kubectl, run)
        signal.signal(signal.SIGTERM, previous)


def cleanup(kubectl: Kubectl, run: str) -> None:
    """Delete the run's Job (with its pods) and ConfigMap, whatever state they are in."""
    # Uninterruptible: a second Ctrl-C while deleting must not leave the objects behind.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        kubectl(
            "delete", "job", run, "--ignore-not-found", "--cascade=background", "--wait=false", check=False
        )
        kubectl("delete", "configmap", run, "--ignore-not-found", "--wait=false", check=False)
    finally:
        signal.signal(signal.SIGINT, previous)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
