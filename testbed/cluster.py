"""A Kubernetes control plane on loopback: etcd, kube-apiserver and kube-controller-manager, no nodes.

It is what the end-to-end tests deploy into and what `python -m testbed up` gives a user to try the
`local` stack. Everything it starts listens on free 127.0.0.1 ports and writes under one folder, whose
`testbed.json` records the processes so `down` can stop exactly them. The upstream CRDs of every kind the
program creates (ModelServer, Istio's VirtualService and Gateway, KServe's InferenceService,
ClusterServingRuntime and ServingRuntime, Seldon Core's SeldonDeployment) are installed from the shared
reference folder, so what the program creates is checked by the real API server's validation.

There is no kubelet: Pods never run. A small stand-in (`testbed.kubelet`) binds each Pod to a fake node and
reports it Running and Ready, which is the one thing a kubelet would tell the API server here; the
Deployment and ReplicaSet controllers then do their real work, so `pulumi up` waits for Deployments exactly
as it does on a real cluster. A test makes a Pod fail as a kubelet would report it with the stand-in's
switch (see `testbed.kubelet`). With `stand_ins`, the serving systems' controllers are stood in for too
(`testbed.standins`): ModelServers become the operator's Deployment and Service, InferenceServices and
SeldonDeployments get their controllers' status.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from offline import schemas

STATE_FILE = "testbed.json"
#: kube-controller-manager's controllers: namespaces must finish deleting (pulumi-kubernetes waits for
#: it), owners' dependents must be collected, and Deployments must get ReplicaSets and Pods.
CONTROLLERS = "namespace-controller,garbage-collector-controller,deployment-controller,replicaset-controller"
#: The upstream CRDs installed into every test-bed cluster (../shared/reference/crds): the kind of every
#: custom object the program creates (the files the offline validator checks them against, so the two
#: cannot drift apart) and KServe's ServingRuntime, the kind of ModelMesh's built-in runtimes.
CRD_FILES = tuple(dict.fromkeys([*schemas.CRD_FILES.values(), "serving.kserve.io_servingruntimes.yaml"]))
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
#: Clients of the control plane itself, each with its own token and kubeconfig (admin is the user's).
USERS = ("controllers", "kubelet", "stand-ins")
AUDIT_LOG = "logs/audit.log"
#: Record every write (who, what verb, which object) and nothing else: `writes()` counts them.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "Metadata", "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
        {"level": "None"},
    ],
}
START_TIMEOUT_S = 90.0
PORT_ATTEMPTS = 3
LOG_TAIL_LINES = 25


class TestbedError(Exception):
    """The test bed could not start or stop; the message names the component and shows its log's tail."""


def shared_dir() -> Path:
    """The shared data folder: $FUSEML_SERVING_SHARED or shared/ beside the checkout."""
    override = os.environ.get("FUSEML_SERVING_SHARED")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "shared"


@dataclass(frozen=True)
class Cluster:
    """A running test-bed cluster."""

    dir: Path
    server: str
    token: str
    bin_dir: Path

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    def env(self) -> dict[str, str]:
        """Environment for tools that talk to this cluster (kubectl, pulumi-kubernetes)."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> str:
        """Run the test bed's kubectl against this cluster and return its stdout."""
        result = subprocess.run(
            [str(self.bin_dir / "kubectl"), *args],
            env=self.env(),
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise TestbedError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def writes(self, user: str = "admin") -> list[dict[str, Any]]:
        """Every write the API server accepted or refused from `user` so far, from its audit log."""
        log = self.dir / AUDIT_LOG
        if not log.exists():
            return []
        events = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
        return [e for e in events if e.get("user", {}).get("username") == user]

    def get(self, path: str) -> Any:
        """GET an API path as the admin and return the decoded JSON (None for 404)."""
        request = urllib.request.Request(
            self.server + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, context=_insecure(), timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = 10,
    ) -> Any:
        """Send one API request as the admin and return the decoded JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.server + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": content_type},
        )
        with urllib.request.urlopen(request, context=_insecure(), timeout=timeout) as response:
            return json.load(response)


def _insecure() -> ssl.SSLContext:
    # The API server's certificate is self-signed by itself at start; the kubeconfig says the same.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def free_port() -> int:
    """A port free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    # Only for processes owned by a test session: the kernel kills them if that session dies.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class _Starter:
    """Starts the cluster's processes, recording each one in the state file as soon as it runs."""

    def __init__(self, root: Path, bin_dir: Path, owned: bool, found: dict[str, Any]) -> None:
        self.root, self.bin_dir, self.owned = root, bin_dir, owned
        # What the folder held before `up` (and whether `up` made it): `down` removes everything else.
        self.state: dict[str, Any] = {"processes": [], **found}

    def save(self) -> None:
        (self.root / STATE_FILE).write_text(json.dumps(self.state, indent=2), encoding="utf-8")

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = self.root / "logs" / f"{name}.log"
        # A fresh log per start: a retry must not read the last attempt's lines as its own.
        handle = log.open("wb")
        process = subprocess.Popen(
            argv,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.root,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent if self.owned else None,
        )
        handle.close()
        self.state["processes"].append({"name": name, "pid": process.pid, "log": str(log)})
        self.save()
        return process

    def wait(self, name: str, process: subprocess.Popen[bytes], ready: Any) -> None:
        """Wait until ready() is true, failing with the log's tail if the process dies or time runs out."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise TestbedError(
                    f"{name} exited with {process.returncode} while starting\n{self.tail(name)}"
                )
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                if ready():
                    return
            time.sleep(0.2)
        raise TestbedError(f"{name} was not ready within {START_TIMEOUT_S:.0f}s\n{self.tail(name)}")

    def tail(self, name: str) -> str:
        log = self.root / "logs" / f"{name}.log"
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:]
        return f"last lines of {log}:\n" + "\n".join(f"  {line}" for line in lines)


def _http_ok(url: str, token: str | None = None) -> bool:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, context=_insecure(), timeout=2) as response:
        return response.status == 200


def _write_kubeconfig(path: Path, server: str, token: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "testbed", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "testbed", "context": {"cluster": "testbed", "user": "admin"}}],
        "current-context": "testbed",
    }
    _write_private(path, yaml.safe_dump(config))


def up(root: Path, bin_dir: Path, *, owned: bool = False, stand_ins: bool = False) -> Cluster:
    """Start a cluster whose files all live under root; `owned` ties its processes to this process's life,
    `stand_ins` runs the serving systems' controller stand-ins (`testbed.standins`) beside it."""
    root = root.resolve()
    if (root / STATE_FILE).exists():
        raise TestbedError(
            f"{root} already holds a test bed: run `python -m testbed down --dir {root}` first"
        )
    found = {
        "created": not root.exists(),
        "preexisting": sorted(p.name for p in root.iterdir()) if root.exists() else [],
    }
    for attempt in range(1, PORT_ATTEMPTS + 1):
        (root / "logs").mkdir(parents=True, exist_ok=True)
        starter = _Starter(root, bin_dir, owned, found)
        try:
            return _up(starter, stand_ins)
        except TestbedError as err:
            down(root)
            # A port the kernel called free was taken before the component bound it: pick others.
            if "address already in use" not in str(err) or attempt == PORT_ATTEMPTS:
                raise
            first_line = str(err).splitlines()[0]
            print(f"testbed: a port was taken meanwhile ({first_line}); retrying", file=sys.stderr)
        except BaseException:
            down(root)
            raise
    raise AssertionError("unreachable")


def _up(starter: _Starter, stand_ins: bool) -> Cluster:
    root, bin_dir = starter.root, starter.bin_dir
    # Reading the CRD files is seconds of YAML parsing (KServe's and Seldon's are ~2 MB each): done while
    # etcd and the API server start.
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="testbed-crds")
    manifests = reader.submit(lambda: [crd_manifest(schemas.crd_dir() / name) for name in CRD_FILES])
    reader.shutdown(wait=False)
    token = secrets.token_hex(16)
    client, peer, secure = free_port(), free_port(), free_port()
    etcd = starter.start(
        "etcd",
        [
            str(bin_dir / "etcd"), "--name=testbed", f"--data-dir={root / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{client}", f"--advertise-client-urls=http://127.0.0.1:{client}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}", f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=testbed=http://127.0.0.1:{peer}", "--log-level=warn",
            # A throwaway store: durability buys nothing and fsync is most of etcd's latency here.
            "--unsafe-no-fsync",
        ],
    )  # fmt: skip
    starter.wait("etcd", etcd, lambda: _http_ok(f"http://127.0.0.1:{client}/health"))

    key = root / "service-account.key"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    # One identity per client, so the audit log tells the user's writes (admin: kubectl, pulumi) from the
    # control plane's own.
    identities = {user: secrets.token_hex(16) for user in USERS}
    identities["admin"] = token
    tokens = root / "tokens.csv"
    _write_private(tokens, "".join(f'{t},{user},{user},"system:masters"\n' for user, t in identities.items()))
    policy = root / "audit-policy.yaml"
    policy.write_text(yaml.safe_dump(AUDIT_POLICY), encoding="utf-8")
    server = f"https://127.0.0.1:{secure}"
    apiserver = starter.start(
        "kube-apiserver",
        [
            str(bin_dir / "kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{client}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={secure}",
            f"--cert-dir={root / 'certs'}", "--endpoint-reconciler-type=none",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={key}", f"--service-account-signing-key-file={key}",
            "--service-cluster-ip-range=10.0.0.0/24", f"--token-auth-file={tokens}",
            "--authorization-mode=RBAC", "--disable-admission-plugins=ServiceAccount",
            f"--audit-policy-file={policy}", f"--audit-log-path={root / AUDIT_LOG}",
        ],
    )  # fmt: skip
    starter.wait("kube-apiserver", apiserver, lambda: _http_ok(f"{server}/readyz", token))
    _write_kubeconfig(root / "kubeconfig", server, token)
    for user in USERS:
        _write_kubeconfig(root / f"{user}.kubeconfig", server, identities[user])
    starter.state.update(server=server, kubeconfig=str(root / "kubeconfig"))
    starter.save()
    cluster = Cluster(dir=root, server=server, token=token, bin_dir=bin_dir)

    controllers = starter.start(
        "kube-controller-manager",
        [
            str(bin_dir / "kube-controller-manager"), f"--kubeconfig={root / 'controllers.kubeconfig'}",
            f"--controllers={CONTROLLERS}", "--leader-elect=false", "--secure-port=0",
        ],
    )  # fmt: skip
    python_env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    watched = {"kube-controller-manager": controllers}
    watched["kubelet-stand-in"] = starter.start(
        "kubelet-stand-in",
        [sys.executable, "-m", "testbed.kubelet", str(root / "kubelet.kubeconfig")],
        python_env,
    )
    install_crds(cluster, manifests)
    if stand_ins:
        # After the CRDs: the stand-ins list the kinds they reconcile from their first poll on.
        watched["stand-ins"] = starter.start(
            "stand-ins",
            [sys.executable, "-m", "testbed.standins", str(root / "stand-ins.kubeconfig")],
            python_env,
        )
    for name, process in watched.items():
        if process.poll() is not None:
            raise TestbedError(f"{name} exited with {process.returncode}\n{starter.tail(name)}")
    return cluster


def crd_manifest(path: Path) -> dict[str, Any]:
    """The CRD of an upstream file as the API server will take it.

    The file may be a Helm template (Seldon's): `offline.schemas.crd_document` drops its control lines,
    which leaves metadata whose values are template expressions. Those go: `{{ .Release.Name }}` is no
    label value the API server accepts, and cert-manager's CA injection (an annotation naming a namespace
    `{{ include ... }}`) has no cert-manager here. A conversion webhook goes too (none of the files has
    one today): the API server would call it for every object read at another version than stored.
    """
    document = schemas.crd_document(path)
    metadata = document["metadata"]
    for field in ("labels", "annotations"):
        kept = {k: v for k, v in (metadata.get(field) or {}).items() if "{{" not in str(v)}
        if kept:
            metadata[field] = kept
        else:
            metadata.pop(field, None)
    if (document["spec"].get("conversion") or {}).get("strategy") == "Webhook":
        document["spec"]["conversion"] = {"strategy": "None"}
    return document


def install_crds(cluster: Cluster, manifests: Future[list[dict[str, Any]]]) -> None:
    """Create the CRDs (crd_manifest's documents, once read) and wait until the API server serves them.

    A plain create, as `kubectl create` would send it (the cluster is new, so none exists yet), not a
    client-side apply: KServe's and Seldon's CRDs are far beyond the 256 KiB its last-applied annotation
    may hold. Sent straight to the API, not through kubectl, which would spend seconds re-parsing them.
    """
    documents = manifests.result(timeout=START_TIMEOUT_S)
    for document in documents:
        cluster.request("POST", CRD_PATH, document, timeout=START_TIMEOUT_S)
    # Served once discovery lists them, which the API server does only for an Established CRD; polled
    # there, not with `kubectl wait`, which fails outright on a CRD whose status has no conditions yet
    # (a large one's, right after its create), nor by reading back megabytes of CRD ten times a second.
    pending = {
        (f"/apis/{document['spec']['group']}/{version['name']}", document["spec"]["names"]["plural"])
        for document in documents
        for version in document["spec"]["versions"]
        if version.get("served")
    }
    deadline = time.monotonic() + START_TIMEOUT_S
    while pending:
        for path, plural in sorted(pending):
            listed = cluster.get(path) or {}
            if any(resource["name"] == plural for resource in listed.get("resources", [])):
                pending.discard((path, plural))
        if not pending:
            break
        if time.monotonic() > deadline:
            late = ", ".join(sorted(f"{plural} ({path})" for path, plural in pending))
            raise TestbedError(f"CRDs not served within {START_TIMEOUT_S:.0f}s: {late}")
        time.sleep(0.1)


def down(root: Path) -> list[str]:
    """Stop every process the state file records, newest first, and remove what the test bed wrote."""
    root = root.resolve()
    state_file = root / STATE_FILE
    if not state_file.exists():
        return []
    state = json.loads(state_file.read_text(encoding="utf-8"))
    stopped: list[str] = []
    for entry in reversed(state.get("processes", [])):
        # A pid from a stale state file (after a reboot, say) may be someone else's process now: only a
        # process whose command line names this folder is ours.
        if _ours(entry["pid"], root) and _stop(entry["pid"]):
            stopped.append(entry["name"])
    # Everything the test bed wrote goes (data, logs, kubeconfigs, try-local's stack state and plugins);
    # what the folder held before `up` stays, and a folder `up` made is removed once empty.
    if "preexisting" in state:
        keep = set(state["preexisting"])
    else:  # a state file written before `up` recorded the folder: remove only what it is known to write
        known = {"etcd", "certs", "logs", "kubeconfig", "tokens.csv", "service-account.key", STATE_FILE}
        keep = {path.name for path in root.iterdir()} - known - {f"{user}.kubeconfig" for user in USERS}
    for path in root.iterdir():
        if path.name in keep:
            continue
        if path.is_dir() and not path.is_symlink():
            subprocess.run(["rm", "-rf", str(path)], check=False)
        else:
            path.unlink(missing_ok=True)
    if state.get("created") and not any(root.iterdir()):
        root.rmdir()
    return stopped


def _ours(pid: int, root: Path) -> bool:
    try:
        return str(root) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, from its creation on (tokens, kubeconfigs)."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def _stop(pid: int) -> bool:
    """SIGTERM the process group, then SIGKILL what is left after a grace period."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True


@contextlib.contextmanager
def running(root: Path, bin_dir: Path, *, stand_ins: bool = False) -> Iterator[Cluster]:
    """A cluster for the duration of a with-block (the pytest fixture's shape): always stopped after."""
    cluster = up(root, bin_dir, owned=True, stand_ins=stand_ins)
    try:
        yield cluster
    finally:
        down(root)
