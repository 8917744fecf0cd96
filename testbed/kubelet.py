"""The test bed's stand-in for a kubelet: start each Pod on a fake node, and confirm each Pod's end.

Why: the loopback cluster has no nodes, so without this every Deployment waits for Pods forever, and so
would `pulumi up`; and a Pod being deleted stays Terminating until a kubelet confirms it is gone, so its
namespace never goes away and `pulumi destroy` waits forever. Reporting Pod status and confirming deletion
is exactly the kubelet's part of the contract; everything above it (ReplicaSets, Deployment conditions,
namespace deletion, pulumi-kubernetes' await logic) stays real. No container runs: a model server's
readiness on a real cluster still depends on OVMS loading its model.

Run as `python -m testbed.kubelet KUBECONFIG`; it polls, so it needs no watch machinery, and it stops
when the API server goes away for good.
"""

from __future__ import annotations

import sys
import time
import urllib.error
from datetime import UTC, datetime
from pathlib import Path

import yaml

from testbed.cluster import Cluster

NODE = "testbed-node"
POLL_S = 0.3
#: Consecutive failed polls after which the API server is taken to be gone (the test bed was stopped).
GIVE_UP_AFTER = 100


def _cluster(kubeconfig: Path) -> Cluster:
    config = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
    return Cluster(
        dir=kubeconfig.parent,
        server=config["clusters"][0]["cluster"]["server"],
        token=config["users"][0]["user"]["token"],
        bin_dir=Path(),
    )


def _register_node(cluster: Cluster) -> None:
    if cluster.get(f"/api/v1/nodes/{NODE}") is None:
        cluster.request(
            "POST",
            "/api/v1/nodes",
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE, "labels": {"testbed": "true"}}},
        )


def start_pod(cluster: Cluster, pod: dict) -> None:
    """Bind the Pod to the fake node (as the scheduler would) and report it Running and Ready."""
    meta = pod["metadata"]
    path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
    if not pod["spec"].get("nodeName"):
        cluster.request(
            "POST",
            f"{path}/binding",
            {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"]},
             "target": {"apiVersion": "v1", "kind": "Node", "name": NODE}},
        )  # fmt: skip
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    conditions = [
        {"type": kind, "status": "True", "lastTransitionTime": now}
        for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
    ]
    containers = [
        {
            "name": c["name"],
            "image": c["image"],
            "imageID": "",
            "ready": True,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": now}},
        }
        for c in pod["spec"]["containers"]
    ]
    cluster.request(
        "PATCH",
        f"{path}/status",
        {"status": {"phase": "Running", "conditions": conditions, "containerStatuses": containers,
                    "startTime": now, "hostIP": "127.0.0.1", "podIP": "127.0.0.1"}},
        content_type="application/merge-patch+json",
    )  # fmt: skip


def end_pod(cluster: Cluster, pod: dict) -> None:
    """Confirm that a Pod being deleted has stopped: the final delete a kubelet sends once containers exit."""
    meta = pod["metadata"]
    cluster.request(
        "DELETE",
        f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
        {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0},
    )


def main(kubeconfig: str) -> int:
    cluster = _cluster(Path(kubeconfig))
    failures = 0
    registered = False
    while failures < GIVE_UP_AFTER:
        try:
            if not registered:
                _register_node(cluster)
                registered = True
            pods = cluster.get("/api/v1/pods") or {"items": []}
            for pod in pods["items"]:
                try:
                    if pod["metadata"].get("deletionTimestamp"):
                        end_pod(cluster, pod)
                    elif pod.get("status", {}).get("phase", "Pending") == "Pending":
                        start_pod(cluster, pod)
                except urllib.error.HTTPError as err:
                    # A Pod deleted or rebound between the list and the patch: the next poll sees the truth.
                    print(f"pod {pod['metadata']['name']}: {err.code} {err.reason}", flush=True)
            failures = 0
        except (OSError, urllib.error.URLError) as err:
            failures += 1
            if failures == 1:
                print(f"API server unreachable ({err}); retrying", flush=True)
        time.sleep(POLL_S)
    print("API server gone; stopping", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
