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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from bench.stats import Hit
from bench.vegeta import attack_command, parse_csv, targets_lines

#: The tutorial's image (peterevans/vegeta, seed 004 and FuseML's load-test Jobs), pinned to its newest
#: tag, which carries vegeta 12.8.4 (peter-evans/vegeta-docker README: `6.9.1-vegeta12.8.4`); that
#: release has the same JSON targets, -rate flag and CSV encoder as the one bench builds (bench.vegeta
#: parse_csv names the files compared).
IMAGE = "peterevans/vegeta:6.9.1-vegeta12.8.4"
LABEL = "fuseml-serving/bench"
MOUNT = "/var/bench"
#: Seconds between two looks at the Job's status.
POLL_S = 2.0


class ClusterError(Exception):
    """The Job could not be run or read: one line saying what kubectl answered."""


@dataclass(frozen=True)
class Attack:
    """One in-cluster run's load: where, with which bodies, how fast and how long, over how many pods."""

    url: str
    bodies: list[bytes]
    rate: float
    """Requests per second, over all pods."""
    seconds: float
    timeout_s: float
    parallelism: int


def manifests(run: str, namespace: str, attack: Attack) -> list[dict[str, Any]]:
    """The ConfigMap and Job of one in-cluster run (`run` names both)."""
    labels = {LABEL: run}
    url, bodies, seconds, timeout_s, parallelism = (
        attack.url, attack.bodies, attack.seconds, attack.timeout_s, attack.parallelism
    )  # fmt: skip
    per_pod = attack.rate / parallelism
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
    kubectl: Kubectl, namespace: str, attack: Attack, wait_s: float, say: Callable[[str], None]
) -> list[list[Hit]]:
    """Run one attack as a Job; each pod's hits. The Job and ConfigMap are always deleted."""
    run = f"bench-{uuid.uuid4().hex[:8]}"
    objects = manifests(run, namespace, attack)
    rate, parallelism = attack.rate, attack.parallelism
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
                    f"Job {namespace}/{run}: not complete after {wait_s:g}s: {_pods_state(kubectl, run)}"
                )
            time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
        pods = kubectl("get", "pods", "-l", f"{LABEL}={run}", "-o", "name").split()
        return [_pod_hits(kubectl, namespace, pod) for pod in pods]
    finally:
        cleanup(kubectl, run)
        signal.signal(signal.SIGTERM, previous)


def _pods_state(kubectl: Kubectl, run: str) -> str:
    """What the run's pods are doing, in words that say where to look (a Job with no pods, pods that never
    finish: a cluster whose job controller or kubelet does not run them, as on the loopback test bed)."""
    phases = kubectl(
        "get", "pods", "-l", f"{LABEL}={run}", "-o", "jsonpath={range .items[*]}{.status.phase} {end}",
        check=False,
    ).split()  # fmt: skip
    if not phases:
        return "no generator pod was created (does the cluster run a job controller?)"
    counts = ", ".join(f"{n} {phase}" for phase, n in sorted(Counter(phases).items()))
    return f"generator pods {counts}, none finished (do their containers run? see kubectl describe pods)"


def _pod_hits(kubectl: Kubectl, namespace: str, pod: str) -> list[Hit]:
    """One pod's results from its log; a log without any (vegeta could not start) is a ClusterError."""
    log = kubectl("logs", pod)
    hits = list(parse_csv(log.splitlines()))
    if not hits:
        first = (log.strip().splitlines() or ["an empty log"])[0][:200]
        raise ClusterError(f"{namespace}/{pod.removeprefix('pod/')} wrote no results: {first}")
    return hits


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
