"""Pulumi dynamic provider of readiness gates: create (and update) return once the model serves.

Why a resource of our own: pulumi-kubernetes' await (`pulumi.com/waitFor`, present in the pinned provider:
provider/v4 pkg/metadata/overrides.go ReadyCondition) can wait for a condition of an object Pulumi made,
but (1) the OVMS Deployment is the operator's, not Pulumi's, and (2) when its bound passes it reports
"timed out waiting for the condition" (pkg/await/internal/awaiter.go Await), not why the model does not
serve. A failure here must say why in the system's words (conditions, Pods, the server's log), so one
gate decides and explains for every backend (`components.readiness.verdicts`), and the FuseML
Application depends on it.

Engine type token: `pulumi-python:dynamic/readiness:Readiness`. The provider keeps no instance attributes
(dill pickles it by reference); its bound is its own (`custom_timeouts` do nothing for dynamic providers).

Inputs: `app`, `backend`, `namespace`, `name` (the model's object), `revision` (the object's uid and
generation: a new one means a new spec, so the gate waits again), `timeout_s`, optionally `kubeconfig`
(secret; create mode) and `status_urn` (the gate's own URN, for the engine's status line). A no-op `up`
diffs them and makes no API call. Outputs add `ready_at` (UTC) and `ready_after_s`.

Cluster access is the program's Kubernetes provider's: the given kubeconfig (create mode), else the
ambient one (KUBECONFIG, ~/.kube/config), else in-cluster credentials. Reads only: get, list, pods/log.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import re
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pulumi
import pulumi.dynamic
from pulumi.runtime import rpc

from components.readiness.verdicts import SETTLE_S, Verdict, explain, judge, progress, seen_of
from kernel.quantities import seconds_problem

#: Seconds between looks: a ready model is noticed within about this (target: under 5 s).
POLL_S = 1.0
#: Seconds between status-line updates (each lists the model's Pods).
PROGRESS_S = 5.0
#: Timeout of one API call; an unreachable API server is retried until the gate's own bound.
REQUEST_TIMEOUT_S = 10.0
#: Threads of the dynamic provider host: the SDK's host serves 4 calls at once
#: (pulumi/dynamic/__main__.py: ThreadPoolExecutor(max_workers=4)), so a fifth model waiting would wait
#: for one of the first four, and a ready model's registration behind four unready ones.
HOST_THREADS = 256

INPUT_KEYS = ("app", "backend", "namespace", "name", "revision", "timeout_s", "kubeconfig", "status_urn")
REQUIRED = ("app", "backend", "namespace", "name", "timeout_s")
#: Changing these means another object or spec: wait again. The rest steer the wait only.
WATCHED = ("app", "backend", "namespace", "name", "revision")
BACKENDS = ("ovms", "kserve", "modelmesh", "seldon")


class ModelNotReady(Exception):
    """A model that did not become ready within its bound; its message is the whole explanation."""


# -- the engine: no traceback for a model that is not ready, enough threads, the status line ------------


def _adjust_host() -> None:
    """In the dynamic provider host only: more threads, and our failures shown as their message alone.

    The host formats every exception with `traceback.format_exc()` (pulumi/dynamic/__main__.py
    `_abort_with_traceback`); a model that does not serve is not a bug, so its traceback would only bury
    the reason. Done once per process, from the provider's first call.
    """
    if getattr(_adjust_host, "done", False):
        return
    _adjust_host.done = True  # type: ignore[attr-defined]
    main = sys.modules.get("__main__")
    if getattr(getattr(main, "__spec__", None), "name", "") != "pulumi.dynamic.__main__":
        return
    original = traceback.format_exc

    def format_exc(*args: Any, **kwargs: Any) -> str:
        err = sys.exc_info()[1]
        return str(err) if isinstance(err, ModelNotReady) else original(*args, **kwargs)

    traceback.format_exc = format_exc  # type: ignore[assignment]
    for obj in gc.get_objects():
        if isinstance(obj, ThreadPoolExecutor) and obj._max_workers < HOST_THREADS:
            obj._max_workers = HOST_THREADS


def _engine_address() -> str | None:
    """The engine's address, which the engine passes to every provider plugin as its last argument."""
    for arg in reversed(sys.argv[1:]):
        if re.fullmatch(r"[\w.\-\[\]:]+:\d+", arg):
            return arg
    return None


_engine_lock = threading.Lock()
_engine: Any = None


def status_line(urn: str | None, message: str) -> None:
    """Show `message` on the resource's status line, as pulumi-kubernetes does for its awaits (an
    ephemeral engine log of the resource's URN); nothing when there is no engine or URN."""
    global _engine
    address = _engine_address()
    if not urn or not address:
        return
    try:
        from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

        with _engine_lock:
            if _engine is None:
                import grpc

                _engine = engine_pb2_grpc.EngineStub(grpc.insecure_channel(address))
        _engine.Log(engine_pb2.LogRequest(severity=engine_pb2.INFO, message=message, urn=urn, ephemeral=True))
    except Exception:  # the status line is a courtesy; the wait goes on without it
        pass


# -- the cluster ----------------------------------------------------------------------------------------


class LightkubeReader:
    """The verdicts' Reader on lightkube, in one namespace; objects come back as API dicts."""

    def __init__(self, client: Any, namespace: str) -> None:
        self.client, self.namespace = client, namespace

    def _kind(self, kind: tuple[str, str, str]) -> Any:
        from lightkube.generic_resource import create_namespaced_resource

        api_version, plural, name = kind
        group, _, version = api_version.rpartition("/")
        if not group:
            from lightkube.resources.core_v1 import Pod

            return Pod
        if (group, name) == ("apps", "Deployment"):
            from lightkube.resources.apps_v1 import Deployment

            return Deployment
        return create_namespaced_resource(group, version, name, plural)

    def get(self, kind: tuple[str, str, str], name: str) -> dict[str, Any] | None:
        from lightkube import ApiError

        try:
            found = self.client.get(self._kind(kind), name, namespace=self.namespace)
        except ApiError as err:
            if err.status.code == 404:
                return None
            raise
        return _as_dict(found)

    def list(self, kind: tuple[str, str, str], labels: dict[str, str]) -> list[dict[str, Any]]:
        return [
            _as_dict(item)
            for item in self.client.list(self._kind(kind), namespace=self.namespace, labels=labels)
        ]

    def log(self, pod: str, container: str, lines: int) -> str:
        return "".join(self.client.log(pod, namespace=self.namespace, container=container, tail_lines=lines))


def _as_dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def client(kubeconfig: str | None) -> Any:
    """A lightkube client with the credentials the program's Kubernetes provider uses."""
    import yaml
    from lightkube import Client, KubeConfig

    if kubeconfig:
        config = KubeConfig.from_dict(yaml.safe_load(kubeconfig))
    else:
        paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
        paths.append(str(Path.home() / ".kube" / "config"))
        found = next((p for p in paths if Path(p).is_file()), None)
        config = KubeConfig.from_file(found) if found else KubeConfig.from_service_account()
    return Client(config, timeout=REQUEST_TIMEOUT_S)


def _unreachable(err: Exception) -> bool:
    """An error of the connection (retried within the bound), not of the request."""
    import httpx2

    return isinstance(err, httpx2.TransportError | OSError)


# -- the wait -------------------------------------------------------------------------------------------


def _number(value: Any) -> Any:
    """Integral floats (how mocks and the engine deliver numbers) as ints."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def normalise(props: dict[str, Any]) -> dict[str, Any]:
    out = dict(props)
    out["timeout_s"] = _number(out.get("timeout_s"))
    return out


def _reason(key: str, value: Any) -> str | None:
    if key == "backend" and value not in BACKENDS:
        return f"must be one of {', '.join(BACKENDS)}, got {value!r}"
    if key == "timeout_s":
        return seconds_problem(value)
    if key in ("app", "namespace", "name") and not (isinstance(value, str) and value):
        return "must be a non-empty string"
    return None


def validate(inputs: dict[str, Any]) -> list[pulumi.dynamic.CheckFailure]:
    failures = [
        pulumi.dynamic.CheckFailure(key, f"'{key}' is required")
        for key in REQUIRED
        if inputs.get(key) is None
    ]
    for key in INPUT_KEYS:
        value = inputs.get(key)
        if value is None or value == rpc.UNKNOWN:
            continue
        reason = _reason(key, value)
        if reason:
            failures.append(pulumi.dynamic.CheckFailure(key, f"'{key}' {reason}"))
    return failures


def wait(
    props: dict[str, Any],
    *,
    updating: bool = False,
    seen: dict[str, Any] | None = None,
    reader: Any = None,
    clock: Any = time.monotonic,
    sleep: Any = time.sleep,
) -> dict[str, Any]:
    """Look until the model is ready (its outputs) or the bound passes (ModelNotReady, explained).

    An unreachable API server is retried until the bound; a model object deleted while waiting ends the
    wait at once. `reader`, `clock` and `sleep` are the test's to replace.
    """
    backend, name = props["backend"], props["name"]
    timeout = float(props["timeout_s"])
    started = clock()
    deadline = started + timeout
    urn = props.get("status_urn")
    if reader is None:
        reader = LightkubeReader(client(props.get("kubeconfig")), props["namespace"])
    verdict: Verdict | None = None
    unreachable: Exception | None = None
    unreachable_since: float | None = None
    shown_at = -math.inf
    while True:
        now = clock()
        try:
            verdict = judge(
                backend, reader, name, settled=not updating or now - started >= SETTLE_S, seen=seen
            )
            unreachable, unreachable_since = None, None
        except Exception as err:
            if not _unreachable(err):
                raise ModelNotReady(f"{_who(props)}: cannot read its status: {_one_line(err)}") from None
            unreachable = err
            unreachable_since = now if unreachable_since is None else unreachable_since
        if verdict is not None and unreachable is None:
            if verdict.gone:
                raise ModelNotReady(
                    f"{_who(props)}: {verdict.gone} while waiting for it to become ready (deleted by hand?); "
                    "`pulumi refresh` then `pulumi up` recreates it"
                )
            if verdict.ready:
                waited = clock() - started
                outputs = {k: props.get(k) for k in INPUT_KEYS if k != "kubeconfig"}
                outputs.update(
                    ready_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    ready_after_s=round(waited, 1),
                    seen=seen_of(backend, reader, name) if backend in ("ovms", "seldon") else {},
                )
                status_line(urn, "ready")
                return outputs
        if now >= deadline:
            break
        if verdict is not None and unreachable is None and now - shown_at >= PROGRESS_S:
            shown_at = now
            # Progress is best effort: a failed look at the Pods leaves the verdict to decide.
            with contextlib.suppress(Exception):
                status_line(urn, f"waiting for {name}: {progress(reader, verdict)}")
        sleep(min(POLL_S, max(0.0, deadline - now)))
    if unreachable is not None:
        raise ModelNotReady(
            f"{_who(props)}: the API server could not be reached for the last "
            f"{clock() - (unreachable_since or started):.0f} s of the {timeout:.0f} s wait "
            f"(ready_timeout_s): {_one_line(unreachable)}"
        )
    assert verdict is not None
    try:
        why = explain(reader, verdict)
    except Exception as err:  # the verdict's own words still say why
        why = f"{verdict.waiting} (pods unreadable: {_one_line(err)})"
    raise ModelNotReady(f"{_who(props)} is not ready after {timeout:.0f} s (ready_timeout_s): {why}")


def _who(props: dict[str, Any]) -> str:
    return f"app {props['app']} (backend {props['backend']})"


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split()) or type(err).__name__


class ReadinessProvider(pulumi.dynamic.ResourceProvider):
    """Waits for a model to serve; keeps no instance attributes so dill pickles it by reference."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        _adjust_host()
        inputs = normalise(news)
        return pulumi.dynamic.CheckResult(inputs, validate(inputs))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        """Another object or spec: wait again (an update). The bound, credentials and URN steer only."""
        olds, news = normalise(olds), normalise(news)
        changed = [k for k in WATCHED if olds.get(k) != news.get(k)]
        return pulumi.dynamic.DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        _adjust_host()
        props = normalise(props)
        outputs = wait(props)
        return pulumi.dynamic.CreateResult(f"{props['namespace']}/{props['name']}", outputs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        _adjust_host()
        props = normalise(news)
        return pulumi.dynamic.UpdateResult(wait(props, updating=True, seen=olds.get("seen") or {}))

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        """The last verdict stands: a refresh does not wait (the next change of spec waits again)."""
        return pulumi.dynamic.ReadResult(id_, props)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to delete: the gate is a wait, the model's objects are other resources."""
