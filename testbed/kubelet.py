"""The test bed's stand-in for a kubelet: start each Pod on a fake node, or fail it as a kubelet would.

Why: the loopback cluster has no nodes, so without this every Deployment waits for Pods forever, and so
would `pulumi up`; and a Pod being deleted stays Terminating until a kubelet confirms it is gone, so its
namespace never goes away and `pulumi destroy` waits forever. Reporting Pod status and confirming deletion
is exactly the kubelet's part of the contract; everything above it (ReplicaSets, Deployment conditions,
namespace deletion, pulumi-kubernetes' await logic) stays real. No container runs: a model server's
readiness on a real cluster still depends on OVMS loading its model.

By default every Pod is bound to the node and reported Running and Ready. A test makes a Pod fail instead,
with the status a real cluster would show, in one of two ways:

- an annotation on the Pod (on a Deployment's pod template, for a Deployment the test writes itself):
  `testbed.fuseml/fail: <fault>`, with `testbed.fuseml/log: <text>` for the container's log and
  `testbed.fuseml/message: <text>` to replace the default message;
- a rule in `<cluster dir>/kubelet-faults.json` (for Pods the test does not template, such as the
  operator's): `[{"namespace": "ns", "labels": {"app": "ovms-bad"}, "fail": "<fault>", "log": "...",
  "message": "..."}]`; a Pod matches when it is in `namespace` (if given), carries every label and, when
  the rule has an `image`, runs a container of that image (so a rollout's new Pods fail, its old ones
  run). Written with `set_faults(cluster_dir, rules)`, read at every poll: removing a rule lets its Pods
  start (a Pod already failed is then reported Running and Ready, like a container whose image pull or
  restart finally succeeded).

The faults, each as the component that reports it on a real cluster words it:

- `ImagePullBackOff`: Pod Pending, bound; each container waiting, reason `ImagePullBackOff`, message
  `Back-off pulling image "<image>"` (kubelet pkg/kubelet/images/image_manager.go EnsureImageExists).
- `CrashLoopBackOff`: Pod Running; each container waiting, reason `CrashLoopBackOff`, message
  `back-off 40s restarting failed container=<c> pod=<pod>_<ns>(<uid>)` (kubelet
  pkg/kubelet/kuberuntime/kuberuntime_manager.go doBackOff, format.Pod), lastState terminated with exit
  code 1, reason `Error`; the log text is what `GET .../pods/<name>/log` returns (see below).
- `Unschedulable`: Pod Pending and never bound; condition PodScheduled False, reason `Unschedulable`, with
  the scheduler's message for one node that does not fit (kube-scheduler's FitError; override it with
  `message`). Applies to Pods not yet bound to the node.

Every failed Pod has Ready and ContainersReady False, reason `ContainersNotReady`, message
`containers with unready status: [<names>]` (kubelet pkg/kubelet/status/generate.go).

Logs: the API server serves `pods/<name>/log` by calling the kubelet of the Pod's node, at the node's
preferred address and `status.daemonEndpoints.kubeletEndpoint.Port`, path
`/containerLogs/<ns>/<pod>/<container>` (kube-apiserver pkg/registry/core/pod/strategy.go LogLocation,
pkg/kubelet/client/kubelet_client.go NodeConnectionInfoGetter; Kubernetes v1.36.3). Without
`--kubelet-certificate-authority` the API server does not verify the kubelet's certificate
(kubelet_client.go transportConfig: no CA, Insecure), so this stand-in serves that path over HTTPS with a
self-signed certificate on 127.0.0.1 and registers the node with an InternalIP address 127.0.0.1 and that
port (no Hostname address: the API server prefers one first, cmd/kube-apiserver/app/options/options.go,
and it would not resolve): logs come through the real API path (`kubectl logs` works).

Run as `python -m testbed.kubelet KUBECONFIG`; it polls, so it needs no watch machinery, and it stops
when the API server goes away for good.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from testbed.cluster import Cluster

NODE = "testbed-node"
POLL_S = 0.3
#: Consecutive failed polls after which the API server is taken to be gone (the test bed was stopped).
GIVE_UP_AFTER = 100
FAULTS_FILE = "kubelet-faults.json"
FAIL_ANNOTATION = "testbed.fuseml/fail"
LOG_ANNOTATION = "testbed.fuseml/log"
MESSAGE_ANNOTATION = "testbed.fuseml/message"
FAULTS = ("ImagePullBackOff", "CrashLoopBackOff", "Unschedulable")
#: Faults of objects without Pods of their own, for the controller stand-ins (`testbed.standins`).
CR_FAULTS = ("ModelLoadFailed",)
#: kube-scheduler's FitError for one node that fails the Pod's node affinity, with the preemption
#: postfilter's verdict (pkg/scheduler/framework/types.go FitError.Error, plugins/nodeaffinity
#: ErrReasonPod, framework/preemption/preemption.go).
UNSCHEDULABLE_MESSAGE = (
    "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes "
    "are available: 1 Preemption is not helpful for scheduling."
)
#: The back-off a kubelet reports after a few restarts (its back-off doubles from 10 s).
CRASH_BACKOFF = "40s"
CRASH_RESTARTS = 3
DEFAULT_CRASH_LOG = "testbed: the container exited with code 1"


class FaultError(ValueError):
    """A fault rule the kubelet stand-in cannot apply."""


def set_faults(cluster_dir: Path, rules: list[dict[str, Any]]) -> None:
    """Replace the cluster's fault rules (see the module docstring); [] makes every Pod start again."""
    for rule in rules:
        if rule.get("fail") not in (*FAULTS, *CR_FAULTS):
            raise FaultError(f"fail: {rule.get('fail')!r} is not one of {', '.join((*FAULTS, *CR_FAULTS))}")
        unknown = set(rule) - {"namespace", "labels", "image", "fail", "log", "message"}
        if unknown:
            allowed = "namespace, labels, image, fail, log, message"
            raise FaultError(f"unknown keys {sorted(unknown)}: allowed are {allowed}")
    target = cluster_dir / FAULTS_FILE
    scratch = target.with_suffix(".tmp")
    scratch.write_text(json.dumps(rules, indent=2), encoding="utf-8")
    scratch.replace(target)  # atomic: the kubelet never reads half a file


def read_rules(cluster_dir: Path) -> list[dict[str, Any]]:
    try:
        return json.loads((cluster_dir / FAULTS_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except ValueError as err:
        print(f"{FAULTS_FILE}: not JSON ({err}); ignored", flush=True)
        return []


def fault_for(
    obj: dict[str, Any], rules: list[dict[str, Any]], allowed: tuple[str, ...] = FAULTS
) -> dict[str, Any] | None:
    """The fault this Pod (or CR) should show ({fail, log, message}), or None: its annotation first."""
    meta = obj["metadata"]
    annotations = meta.get("annotations") or {}
    if annotations.get(FAIL_ANNOTATION) in allowed:
        return {
            "fail": annotations[FAIL_ANNOTATION],
            "log": annotations.get(LOG_ANNOTATION),
            "message": annotations.get(MESSAGE_ANNOTATION),
        }
    labels = meta.get("labels") or {}
    for rule in rules:
        if rule.get("fail") not in allowed or rule.get("namespace") not in (None, meta["namespace"]):
            continue
        images = {c.get("image") for c in (obj.get("spec") or {}).get("containers") or []}
        if rule.get("image") and rule["image"] not in images:
            continue
        if all(labels.get(key) == value for key, value in (rule.get("labels") or {}).items()):
            return rule
    return None


def _cluster(kubeconfig: Path) -> Cluster:
    config = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
    return Cluster(
        dir=kubeconfig.parent,
        server=config["clusters"][0]["cluster"]["server"],
        token=config["users"][0]["user"]["token"],
        bin_dir=Path(),
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _register_node(cluster: Cluster, port: int) -> None:
    """The node, with the address and port the API server calls for logs (status.daemonEndpoints)."""
    if cluster.get(f"/api/v1/nodes/{NODE}") is None:
        cluster.request(
            "POST",
            "/api/v1/nodes",
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE, "labels": {"testbed": "true"}}},
        )
    now = _now()
    cluster.request(
        "PATCH",
        f"/api/v1/nodes/{NODE}/status",
        {"status": {
            # InternalIP only: the API server prefers a Hostname address first, which would not resolve.
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status", "lastHeartbeatTime": now,
                            "lastTransitionTime": now}],
        }},
        content_type="application/merge-patch+json",
    )  # fmt: skip


def _bind(cluster: Cluster, pod: dict[str, Any]) -> None:
    meta = pod["metadata"]
    cluster.request(
        "POST",
        f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding",
        {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"]},
         "target": {"apiVersion": "v1", "kind": "Node", "name": NODE}},
    )  # fmt: skip


def _patch_status(cluster: Cluster, pod: dict[str, Any], status: dict[str, Any]) -> None:
    meta = pod["metadata"]
    cluster.request(
        "PATCH",
        f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
        {"status": status},
        content_type="application/merge-patch+json",
    )


def start_pod(cluster: Cluster, pod: dict) -> None:
    """Bind the Pod to the fake node (as the scheduler would) and report it Running and Ready."""
    if not pod["spec"].get("nodeName"):
        _bind(cluster, pod)
    _patch_status(cluster, pod, running_status(pod))


def running_status(pod: dict[str, Any]) -> dict[str, Any]:
    now = _now()
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
            # Cleared: a Pod that crashed before and now runs has no waiting state any more.
            "lastState": {},
        }
        for c in pod["spec"]["containers"]
    ]
    return {"phase": "Running", "conditions": conditions, "containerStatuses": containers,
            "startTime": now, "hostIP": "127.0.0.1", "podIP": "127.0.0.1"}  # fmt: skip


def failed_status(pod: dict[str, Any], fault: dict[str, Any]) -> dict[str, Any]:
    """The status a real cluster reports for a Pod with this fault (see the module docstring)."""
    now = _now()
    kind = fault["fail"]
    names = [c["name"] for c in pod["spec"]["containers"]]
    if kind == "Unschedulable":
        return {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                            "message": fault.get("message") or UNSCHEDULABLE_MESSAGE,
                            "lastProbeTime": None, "lastTransitionTime": now}],
        }  # fmt: skip
    unready = f"containers with unready status: [{' '.join(names)}]"
    conditions = [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
        {"type": "Initialized", "status": "True", "lastTransitionTime": now},
        {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady", "message": unready,
         "lastTransitionTime": now},
        {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": unready,
         "lastTransitionTime": now},
    ]  # fmt: skip
    meta = pod["metadata"]
    containers = []
    for container in pod["spec"]["containers"]:
        status: dict[str, Any] = {"name": container["name"], "image": container["image"], "imageID": "",
                                  "ready": False, "started": False}  # fmt: skip
        if kind == "ImagePullBackOff":
            message = fault.get("message") or f'Back-off pulling image "{container["image"]}"'
            waiting = {"reason": "ImagePullBackOff", "message": message}
            status.update(restartCount=0, state={"waiting": waiting})
        else:
            pod_ref = f"{meta['name']}_{meta['namespace']}({meta['uid']})"
            message = fault.get("message") or (
                f"back-off {CRASH_BACKOFF} restarting failed container={container['name']} pod={pod_ref}"
            )
            status.update(
                restartCount=CRASH_RESTARTS,
                state={"waiting": {"reason": "CrashLoopBackOff", "message": message}},
                lastState={"terminated": {"exitCode": 1, "reason": "Error", "startedAt": now,
                                          "finishedAt": now, "containerID": f"containerd://testbed-{meta['uid']}"}},
            )  # fmt: skip
        containers.append(status)
    phase = "Pending" if kind == "ImagePullBackOff" else "Running"
    return {"phase": phase, "conditions": conditions, "containerStatuses": containers, "startTime": now,
            "hostIP": "127.0.0.1", "podIP": "127.0.0.1"}  # fmt: skip


def _shown(pod: dict[str, Any]) -> str:
    """What the Pod's status shows now, in the terms this stand-in decides on."""
    status = pod.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "Unschedulable":
            return "Unschedulable"
    for container in status.get("containerStatuses") or []:
        reason = (container.get("state") or {}).get("waiting", {}).get("reason")
        if reason in FAULTS:
            return reason
    return "Running" if status.get("phase") == "Running" else status.get("phase", "Pending")


def end_pod(cluster: Cluster, pod: dict) -> None:
    """Confirm that a Pod being deleted has stopped: the final delete a kubelet sends once containers exit."""
    meta = pod["metadata"]
    cluster.request(
        "DELETE",
        f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
        {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0},
    )


class Logs:
    """Each container's log text, as the stand-in decided it, for the log endpoint (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._text: dict[tuple[str, str, str], str] = {}

    def set(self, namespace: str, pod: str, container: str, text: str) -> None:
        with self._lock:
            self._text[(namespace, pod, container)] = text

    def get(self, namespace: str, pod: str, container: str) -> str | None:
        with self._lock:
            return self._text.get((namespace, pod, container))

    def forget(self, namespace: str, pod: str) -> None:
        with self._lock:
            for key in [k for k in self._text if k[:2] == (namespace, pod)]:
                del self._text[key]


def sync_pod(cluster: Cluster, pod: dict[str, Any], rules: list[dict[str, Any]], logs: Logs) -> None:
    """Bring one Pod's status to what the rules say: Running and Ready, or its fault. Writes only changes."""
    meta = pod["metadata"]
    if meta.get("deletionTimestamp"):
        end_pod(cluster, pod)
        logs.forget(meta["namespace"], meta["name"])
        return
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return  # finished: a kubelet restarts nothing of it
    fault = fault_for(pod, rules)
    if fault is None:
        for container in pod["spec"]["containers"]:
            logs.set(meta["namespace"], meta["name"], container["name"], "")
        if _shown(pod) != "Running":
            start_pod(cluster, pod)
        return
    for container in pod["spec"]["containers"]:
        text = (fault.get("log") or DEFAULT_CRASH_LOG) if fault["fail"] == "CrashLoopBackOff" else ""
        logs.set(meta["namespace"], meta["name"], container["name"], text if text.endswith("\n") or not text
                 else text + "\n")  # fmt: skip
    if _shown(pod) == fault["fail"]:
        return
    if fault["fail"] == "Unschedulable":
        if pod["spec"].get("nodeName"):
            return  # already bound: a scheduler's verdict cannot come after binding
    elif not pod["spec"].get("nodeName"):
        _bind(cluster, pod)
    _patch_status(cluster, pod, failed_status(pod, fault))


def _handler(logs: Logs) -> type[BaseHTTPRequestHandler]:
    class LogHandler(BaseHTTPRequestHandler):
        """The kubelet's `/containerLogs/<ns>/<pod>/<container>` (tailLines honoured), nothing else."""

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            parts = url.path.strip("/").split("/")
            text = logs.get(*parts[1:4]) if len(parts) == 4 and parts[0] == "containerLogs" else None
            if text is None:
                self.send_error(404, "container not found")
                return
            tail = urllib.parse.parse_qs(url.query).get("tailLines")
            if tail:
                lines = text.splitlines(keepends=True)
                text = "".join(lines[-int(tail[0]) :]) if int(tail[0]) > 0 else ""
            body = text.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            print(f"log endpoint: {format % args}", flush=True)

    return LogHandler


def serve_logs(cluster_dir: Path, logs: Logs) -> ThreadingHTTPServer:
    """Serve the log endpoint over HTTPS on a free 127.0.0.1 port, in a daemon thread."""
    certs = cluster_dir / "kubelet-certs"
    certs.mkdir(exist_ok=True)
    cert, key = certs / "kubelet.crt", certs / "kubelet.key"
    if not cert.exists():
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
             "-subj", f"/CN={NODE}", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )  # fmt: skip
        os.chmod(key, 0o600)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(logs))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True, name="kubelet-logs").start()
    return server


def poll_until_gone(poll: Callable[[], None], period_s: float = POLL_S) -> None:
    """Run `poll` every period_s until the API server has been unreachable GIVE_UP_AFTER times in a row (the
    test bed was stopped), saying so once per outage: the loop of every stand-in process."""
    failures = 0
    while failures < GIVE_UP_AFTER:
        try:
            poll()
            failures = 0
        except (OSError, urllib.error.URLError) as err:
            failures += 1
            if failures == 1:
                print(f"API server unreachable ({err}); retrying", flush=True)
        time.sleep(period_s)
    print("API server gone; stopping", flush=True)


def main(kubeconfig: str) -> int:
    cluster = _cluster(Path(kubeconfig))
    logs = Logs()
    server = serve_logs(cluster.dir, logs)
    registered = False

    def poll() -> None:
        nonlocal registered
        if not registered:
            _register_node(cluster, server.server_address[1])
            registered = True
        rules = read_rules(cluster.dir)
        pods = cluster.get("/api/v1/pods") or {"items": []}
        for pod in pods["items"]:
            try:
                sync_pod(cluster, pod, rules, logs)
            except urllib.error.HTTPError as err:
                # A Pod deleted or rebound between the list and the patch: the next poll sees the truth.
                print(f"pod {pod['metadata']['name']}: {err.code} {err.reason}", flush=True)

    poll_until_gone(poll)
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
