"""The wait for models to serve (one, or many at once), and the dynamic provider of the stack's gate.

Why our own wait: pulumi-kubernetes' await (`pulumi.com/waitFor`, present in the pinned provider:
provider/v4 pkg/metadata/overrides.go ReadyCondition) can wait for a condition of an object Pulumi made,
but (1) the OVMS Deployment is the operator's, not Pulumi's, and (2) when its bound passes it reports
"timed out waiting for the condition" (pkg/await/internal/awaiter.go Await), not why the model does not
serve. A failure here must say why in the system's words (conditions, Pods, the server's log), so one
wait decides and explains for every backend (`components.readiness.verdicts`).

Who waits: a model's FuseML Application (fuseml/provider.py) before it registers, or, with registration
off, the stack's gate here, for every model at once. Either waits through `wait_all`: each pending model
is looked at once a second (a few API reads each, LOOKERS at a time), each within its own bound; the
failure names every model that does not serve, one line each.

The gate's engine type token: `pulumi-python:dynamic/readiness:Readiness`. Its inputs: `models` (app ->
spec: `backend`, `namespace`, `name` of the model's object, `revision` (the object's uid and generation:
a new one means a new spec, so the model is waited for again), `timeout_s`), optionally `kubeconfig`
(secret; create mode) and `status_urn` (the gate's own URN, for the engine's status line). A no-op `up`
diffs them and makes no API call; an update waits only for the models that are new or changed. Its
output `ready` holds, per app, `ready_at` (UTC), `ready_after_s` and what the ready look saw. The provider
keeps no instance attributes (dill pickles it by reference); its bound is its own (`custom_timeouts` do
nothing for dynamic providers).

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
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pulumi
import pulumi.dynamic
from pulumi.runtime import rpc

from components.readiness.verdicts import SETTLE_S, Verdict, explain, judge, progress, seen_of
from kernel.names import is_dns_label
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
#: Threads that look at the models of one gate at once (each look is a few API reads).
LOOKERS = 8

#: A model's readiness, as a gate (or its FuseML Application) holds it: changing any of these means another
#: object or spec, so the model is waited for again; `timeout_s` steers the wait only.
SPEC_KEYS = ("backend", "namespace", "name", "revision", "timeout_s")
SPEC_REQUIRED = ("backend", "namespace", "name", "timeout_s")
WATCHED = ("backend", "namespace", "name", "revision")
#: One model's wait, as `wait` takes it: its spec, its app, and how to reach the cluster and the engine.
INPUT_KEYS = ("app", *SPEC_KEYS, "kubeconfig", "status_urn")
#: The stack's gate (FuseML registration off): every gated model by app, one kubeconfig, its own URN.
GATE_KEYS = ("models", "kubeconfig", "status_urn")
#: What a ready look leaves in the state, per model.
READY_KEYS = ("ready_at", "ready_after_s", "seen")
BACKENDS = ("ovms", "kserve", "modelmesh", "seldon")
#: The backends whose ready look records the Deployment it saw (verdicts.seen_of).
SEEN = ("ovms", "seldon")


class ModelNotReady(Exception):
    """A model that did not become ready within its bound; its message is the whole explanation."""


# -- the engine: no traceback for a model that is not ready, enough threads, the status line ------------


def adjust_host() -> None:
    """In the dynamic provider host only: more threads, and our failures shown as their message alone.

    The host formats every exception with `traceback.format_exc()` (pulumi/dynamic/__main__.py
    `_abort_with_traceback`); a model that does not serve is not a bug, so its traceback would only bury
    the reason. Done once per process, from the first create or update (a no-op `up` needs neither).
    """
    if getattr(adjust_host, "done", False):
        return
    adjust_host.done = True  # type: ignore[attr-defined]
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
        try:
            config = KubeConfig.from_dict(yaml.safe_load(kubeconfig))
        except Exception as err:
            # The kubeconfig is a secret: YAML's and lightkube's errors quote the offending line.
            raise ValueError(f"the cluster's kubeconfig is not usable ({type(err).__name__})") from None
    else:
        paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
        paths.append(str(Path.home() / ".kube" / "config"))
        found = next((p for p in paths if Path(p).is_file()), None)
        try:
            config = KubeConfig.from_file(found) if found else KubeConfig.from_service_account()
        except Exception as err:
            where = found or "the in-cluster service account"
            raise ValueError(f"the kubeconfig {where} is not usable ({type(err).__name__})") from None
    return Client(config, timeout=REQUEST_TIMEOUT_S)


_readers = threading.local()


def reader_for(kubeconfig: str | None, namespace: str) -> LightkubeReader:
    """This thread's reader of one namespace: a client per thread and kubeconfig, made on first use."""
    cache = _readers.__dict__.setdefault("by", {})
    key = (kubeconfig, namespace)
    if key not in cache:
        cache[key] = LightkubeReader(client(kubeconfig), namespace)
    return cache[key]


def _unreachable(err: Exception) -> bool:
    """An error of the connection (retried within the bound), not of the request."""
    import httpx2

    return isinstance(err, httpx2.TransportError | OSError)


# -- the wait -------------------------------------------------------------------------------------------


def _number(value: Any) -> Any:
    """Integral floats (how mocks and the engine deliver numbers) as ints."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _reason(key: str, value: Any) -> str | None:
    if key == "backend" and value not in BACKENDS:
        return f"must be one of {', '.join(BACKENDS)}, got {value!r}"
    if key == "timeout_s":
        return seconds_problem(value)
    if key in ("app", "namespace", "name") and not (isinstance(value, str) and value):
        return "must be a non-empty string"
    if key in ("revision", "kubeconfig", "status_urn") and not isinstance(value, str):
        return "must be a string"
    return None


def _unknown(value: Any) -> bool:
    return isinstance(value, str) and value == rpc.UNKNOWN


def validate_spec(spec: Any, where: str) -> list[pulumi.dynamic.CheckFailure]:
    """Why one model's readiness spec is wrong (each failure names `<where>.<key>`); [] when it is right."""
    if _unknown(spec):
        return []
    if not isinstance(spec, dict):
        return [pulumi.dynamic.CheckFailure(where, f"'{where}' must be an object of {', '.join(SPEC_KEYS)}")]
    failures = [
        pulumi.dynamic.CheckFailure(f"{where}.{key}", f"'{where}.{key}' is required")
        for key in SPEC_REQUIRED
        if spec.get(key) is None
    ]
    for key, value in spec.items():
        if key not in SPEC_KEYS:
            failures.append(
                pulumi.dynamic.CheckFailure(f"{where}.{key}", f"unknown property '{where}.{key}'")
            )
        elif value is not None and not _unknown(value):
            reason = _reason(key, value)
            if reason:
                failures.append(pulumi.dynamic.CheckFailure(f"{where}.{key}", f"'{where}.{key}' {reason}"))
    return failures


def validate(inputs: dict[str, Any]) -> list[pulumi.dynamic.CheckFailure]:
    """Why the stack gate's inputs are wrong: its `models` (app -> spec), `kubeconfig`, `status_urn`."""
    failures = []
    models = inputs.get("models")
    if models is None or (isinstance(models, dict) and not models):
        failures.append(pulumi.dynamic.CheckFailure("models", "'models' must name at least one model"))
    elif not _unknown(models):
        if not isinstance(models, dict):
            failures.append(pulumi.dynamic.CheckFailure("models", "'models' must be an object: app -> spec"))
        else:
            for app, spec in models.items():
                if not is_dns_label(app):
                    failures.append(
                        pulumi.dynamic.CheckFailure(
                            "models",
                            f"'models' names a model {app!r}: app names are DNS labels, as in the config",
                        )
                    )
                failures += validate_spec(spec, f"models.{app}")
    for key in ("kubeconfig", "status_urn"):
        value = inputs.get(key)
        if value is not None and not _unknown(value) and (reason := _reason(key, value)):
            failures.append(pulumi.dynamic.CheckFailure(key, f"'{key}' {reason}"))
    for key in sorted(set(inputs) - set(GATE_KEYS) - {"__provider", "ready"}):
        if inputs[key] is not None:
            failures.append(pulumi.dynamic.CheckFailure(key, f"unknown property '{key}'"))
    return failures


def normalise_spec(spec: Any) -> Any:
    """A spec with its bound as an int (the engine and mocks deliver numbers as floats)."""
    if not isinstance(spec, dict):
        return spec
    return {**spec, "timeout_s": _number(spec.get("timeout_s"))}


def normalise(props: dict[str, Any]) -> dict[str, Any]:
    out = dict(props)
    if isinstance(out.get("models"), dict):
        out["models"] = {app: normalise_spec(spec) for app, spec in out["models"].items()}
    return out


def watched(spec: Any) -> tuple[Any, ...]:
    """What, when it changes, makes a model wait again."""
    spec = spec if isinstance(spec, dict) else {}
    return tuple(spec.get(key) for key in WATCHED)


def wait_props(
    app: str, spec: dict[str, Any], kubeconfig: str | None, status_urn: str | None
) -> dict[str, Any]:
    """The one-model form `wait` and `wait_all` take."""
    return {**normalise_spec(spec), "app": app, "kubeconfig": kubeconfig, "status_urn": status_urn}


class Watch:
    """One model's wait: its bound, its last verdict, whether the API server answered, and the outcome.

    `look` reads the model's objects once; the driver (`wait_all`) looks at every pending model each poll,
    so a hundred models cost one loop, not a hundred threads.
    """

    def __init__(self, props: dict[str, Any], reader: Any, started: float, updating: bool,
                 seen: dict[str, Any] | None) -> None:  # fmt: skip
        self.props, self._reader, self.started = props, reader, started
        self.updating, self.seen = updating, seen
        self.timeout = float(props["timeout_s"])
        self.deadline = started + self.timeout
        self.verdict: Verdict | None = None
        self.unreachable: Exception | None = None
        self.unreachable_since: float | None = None
        self.outputs: dict[str, Any] | None = None
        self.failure: str | None = None

    @property
    def reader(self) -> Any:
        """The test's reader, else this thread's client of the model's cluster and namespace."""
        if self._reader is not None:
            return self._reader
        return reader_for(self.props.get("kubeconfig"), self.props["namespace"])

    def look(self, now: float, clock: Any) -> None:
        """Judge the model once: ready (outputs), failed for good (failure), or still waiting."""
        backend, name = self.props["backend"], self.props["name"]
        try:
            # A bound shorter than SETTLE_S settles at the bound: its last look decides.
            settled = not self.updating or now - self.started >= min(SETTLE_S, self.timeout)
            self.verdict = judge(backend, self.reader, name, settled=settled, seen=self.seen)
            seen = seen_of(backend, self.reader, name) if self.verdict.ready and backend in SEEN else {}
            self.unreachable, self.unreachable_since = None, None
        except Exception as err:
            if not _unreachable(err):
                self.failure = f"{_who(self.props)}: cannot read its status: {_one_line(err)}"
                return
            self.unreachable = err
            self.unreachable_since = now if self.unreachable_since is None else self.unreachable_since
            return
        if self.verdict.gone:
            self.failure = (
                f"{_who(self.props)}: {self.verdict.gone} while waiting for it to become ready (deleted by "
                "hand?); `pulumi refresh` then `pulumi up` recreates it"
            )
        elif self.verdict.ready:
            outputs = {k: self.props.get(k) for k in INPUT_KEYS if k != "kubeconfig"}
            outputs.update(
                ready_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                ready_after_s=round(clock() - self.started, 1),
                seen=seen,
            )
            self.outputs = outputs

    def give_up(self, now: float) -> None:
        """The bound passed: say why in the serving system's words (or that the API server was away)."""
        if self.unreachable is not None:
            self.failure = (
                f"{_who(self.props)}: the API server could not be reached for the last "
                f"{now - (self.unreachable_since or self.started):.0f} s of the {self.timeout:.0f} s wait "
                f"(ready_timeout_s): {_one_line(self.unreachable)}"
            )
            return
        assert self.verdict is not None
        try:
            why = explain(self.reader, self.verdict)
        except Exception as err:  # the verdict's own words still say why
            why = f"{self.verdict.waiting} (pods unreadable: {_one_line(err)})"
        self.failure = f"{_who(self.props)} is not ready after {self.timeout:.0f} s (ready_timeout_s): {why}"

    def progress(self) -> str | None:
        """The status line's words for this model, when its last look answered."""
        if self.verdict is None or self.unreachable is not None:
            return None
        # Progress is best effort: a failed look at the Pods leaves the verdict to decide.
        with contextlib.suppress(Exception):
            return f"waiting for {self.props['name']}: {progress(self.reader, self.verdict)}"
        return None


def wait_all(
    models: dict[str, dict[str, Any]],
    *,
    urn: str | None = None,
    updating: Collection[str] = (),
    seen: dict[str, dict[str, Any]] | None = None,
    reader: Any = None,
    clock: Any = time.monotonic,
    sleep: Any = time.sleep,
) -> dict[str, dict[str, Any]]:
    """Wait for every model at once, each within its own bound; return each one's outputs.

    Models named in `updating` had a new spec (their old status may linger, see verdicts.SETTLE_S), with
    what their last ready look `seen`. A model that cannot become ready (deleted, unreadable) is done at
    once; the others go on to their bounds, so the failure names every model that does not serve, one
    line each (ModelNotReady). `reader`, `clock` and `sleep` are the test's to replace.
    """
    started = clock()
    watches = {
        app: Watch(
            props,
            reader,
            started,
            app in updating,
            (seen or {}).get(app),
        )
        for app, props in models.items()
    }
    pending = dict(watches)
    shown_at = -math.inf
    with ThreadPoolExecutor(max_workers=max(1, min(LOOKERS, len(pending)))) as pool:
        while pending:
            now = clock()
            # Looks of many models overlap (each is a few API reads); their order does not matter.
            list(pool.map(Watch.look, pending.values(), [now] * len(pending), [clock] * len(pending)))
            # The bound is checked when the looks end, not when they began: slow looks (an API server
            # that does not answer within REQUEST_TIMEOUT_S) must not buy another round past it.
            looked = clock()
            for app, watch in list(pending.items()):
                if watch.outputs is None and watch.failure is None and looked >= watch.deadline:
                    watch.give_up(looked)
                if watch.outputs is not None or watch.failure is not None:
                    del pending[app]
                    if watch.outputs is not None:
                        status_line(_urn(watch, urn), "ready" if urn is None else f"{app} ready")
            if not pending:
                break
            if now - shown_at >= PROGRESS_S:
                shown_at = now
                _show(pending, urn)
            sleep(min(POLL_S, max(0.0, min(w.deadline for w in pending.values()) - looked)))
    # One line per model, whatever the system's messages hold (a condition may quote a multi-line log).
    failures = [" ".join(watch.failure.split()) for watch in watches.values() if watch.failure]
    if failures:
        raise ModelNotReady("\n".join(failures))
    return {app: watch.outputs for app, watch in watches.items() if watch.outputs is not None}


def _urn(watch: Watch, urn: str | None) -> str | None:
    return urn or watch.props.get("status_urn")


def _show(pending: dict[str, Watch], urn: str | None) -> None:
    """One status line per gate: a model's own, or the stack gate's naming how many still wait."""
    if urn is None:
        for watch in pending.values():
            said = watch.progress()
            if said:
                status_line(watch.props.get("status_urn"), said)
        return
    first = next((said for said in map(Watch.progress, pending.values()) if said), None)
    if first:
        more = f" (and {len(pending) - 1} more)" if len(pending) > 1 else ""
        status_line(urn, f"{len(pending)} not ready yet; {first}{more}")


def wait(
    props: dict[str, Any],
    *,
    updating: bool = False,
    seen: dict[str, Any] | None = None,
    reader: Any = None,
    clock: Any = time.monotonic,
    sleep: Any = time.sleep,
) -> dict[str, Any]:
    """One model's wait (a FuseML Application's): its outputs, or ModelNotReady with the explanation."""
    app = props["app"]
    found = wait_all(
        {app: props},
        updating=[app] if updating else [],
        seen={app: seen or {}},
        reader=reader,
        clock=clock,
        sleep=sleep,
    )
    return found[app]


def _who(props: dict[str, Any]) -> str:
    return f"app {props['app']} (backend {props['backend']})"


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split()) or type(err).__name__


class ReadinessProvider(pulumi.dynamic.ResourceProvider):
    """The stack's gate when FuseML registration is off: waits for every gated model at once.

    (With registration on, each model's FuseML Application waits for it instead, fuseml/provider.py: one
    dynamic resource per model rather than two keeps a no-op `up` of a hundred models within a tenth.)
    Keeps no instance attributes so dill pickles it by reference.
    """

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        inputs = normalise(news)
        return pulumi.dynamic.CheckResult(inputs, validate(inputs))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        """A model added, removed, or with another object or spec: wait (for it) again. The bounds,
        credentials and URN steer only."""
        old, new = olds.get("models") or {}, news.get("models") or {}
        if not isinstance(old, dict) or not isinstance(new, dict):  # unknown in a preview: it may differ
            return pulumi.dynamic.DiffResult(changes=True, replaces=[], delete_before_replace=False)
        changed = old.keys() != new.keys() or any(watched(old[app]) != watched(new[app]) for app in new)
        return pulumi.dynamic.DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        adjust_host()
        props = normalise(props)
        return pulumi.dynamic.CreateResult("models", self._outputs(props, self._wait(props, props["models"])))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        """Wait only for the models that are new or changed; the others keep their last ready look."""
        adjust_host()
        props, old = normalise(news), olds.get("models") or {}
        before = olds.get("ready") or {}
        changed = {
            app: spec
            for app, spec in props["models"].items()
            if app not in old or app not in before or watched(old[app]) != watched(spec)
        }
        updating = [app for app in changed if app in old and app in before]
        seen = {app: (before.get(app) or {}).get("seen") or {} for app in updating}
        ready = {app: before[app] for app in props["models"] if app not in changed}
        ready.update(self._wait(props, changed, updating, seen))
        return pulumi.dynamic.UpdateResult(self._outputs(props, ready))

    @staticmethod
    def _wait(props: dict[str, Any], models: dict[str, Any], updating: Collection[str] = (),
              seen: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        found = wait_all(
            {app: wait_props(app, spec, props.get("kubeconfig"), None) for app, spec in models.items()},
            urn=props.get("status_urn"),
            updating=updating,
            seen=seen,
        )
        return {app: {key: outputs[key] for key in READY_KEYS} for app, outputs in found.items()}

    @staticmethod
    def _outputs(props: dict[str, Any], ready: dict[str, Any]) -> dict[str, Any]:
        return {"models": props["models"], "status_urn": props.get("status_urn"), "ready": ready}

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        """The last verdict stands: a refresh does not wait (the next change of spec waits again)."""
        return pulumi.dynamic.ReadResult(id_, props)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to delete: the gate is a wait, the models' objects are other resources."""
