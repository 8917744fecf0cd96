"""Pulumi dynamic provider that registers each model server as a FuseML Application.

Why: FuseML lists served models as Applications; registering them through Pulumi keeps the
record in step with the Kubernetes objects (create, update, refresh, destroy).

Engine type token: `pulumi-python:dynamic/fuseml:Application`.  Pulumi prefixes every Python
dynamic resource with `pulumi-python:dynamic`, so `module="fuseml", name="Application"` can only
choose the `/fuseml:Application` part.

Ownership marker
    FuseML records have no owner field, so ownership is written into the record itself:
    `workflow` is set to the owning workflow, and `description` ends with the marker
    `[managed by fuseml-serving stack <owner>]`, where `<owner>` is the managing stack
    (e.g. `fuseml-serving/dev`; letters, digits and `._/-` only).  The marker is separated from
    the user's description by one space and is parsed with `OWNER_MARKER_RE`.  A record is ours
    when both its workflow and its marker match.  Create and update GET the record first and
    raise `FuseMLOwnershipError` when it is someone else's (or has no marker), unless the
    resource sets `adopt: true`; a record that is ours is simply replaced (POST replaces).

Destroy versus FuseML-side delete
    FuseML's `DELETE /applications/{name}/` also deletes the Kubernetes objects listed in the
    record's `k8s_resources` (so `fuseml application delete` cleans up like the original step).
    A Pulumi-driven delete, however, first re-registers the record with `k8s_resources: []` and
    only then deletes it, so FuseML never deletes Kubernetes objects that Pulumi manages.
    Reason: on a replacement (name or server_url change) Pulumi creates the new Application
    and then deletes the old one while the ModelServer and VirtualService stay in use; letting
    FuseML delete them would take the model offline behind Pulumi's back.  On `pulumi destroy`
    the Application depends on those objects, so it is deleted first and Pulumi then deletes
    the objects itself.  Delete never touches a record that is no longer ours (taken over): it
    logs a warning and reports success.  A record already gone is success too.

Refresh
    `read` returns `ReadResult(None, {})` when the record vanished (e.g. deleted on the FuseML
    side) or was taken over by another workflow or stack, so `pulumi refresh` drops it from the
    state and the next `pulumi up` recreates it (or reports the ownership conflict).  Otherwise
    the server's values are mapped back to the outputs, so a change made behind Pulumi's back
    shows up as a diff and the next `pulumi up` restores it.

Readiness
    With `readiness` set (the model's spec, components/readiness), create registers only once the model
    serves, and an update whose `readiness` names another object or spec waits for it again before it
    rewrites the record: FuseML lists only models that serve, and a model whose update never becomes
    ready keeps its old record (its old server still serves) while the update fails. The Application is
    the model's gate, so a stack that registers has one dynamic resource per model, not two.

Outputs are the (normalised) inputs overlaid with the record FuseML returned: `description`
without the marker, `owner` parsed from the marker, plus any extra field the server returns;
with readiness, `ready_at`, `ready_after_s` and what the ready look saw (`seen`). The kubeconfig is
never an output.
"""

from __future__ import annotations

import copy
import functools
import logging
import re
import time
from typing import Any, TypedDict
from urllib.parse import urlsplit

import pulumi
import pulumi.dynamic
from pulumi.dynamic.dynamic import PROVIDER_KEY
from pulumi.runtime import rpc

from components.readiness.provider import (
    READY_KEYS,
    adjust_host,
    normalise_spec,
    validate_spec,
    wait,
    wait_props,
    watched,
)
from fuseml.client import FuseMLClient, FuseMLOwnershipError, redact_url
from kernel.quantities import seconds_problem

logger = logging.getLogger("fuseml.provider")

OWNER_MARKER_PREFIX = "[managed by fuseml-serving stack "
OWNER_RE = re.compile(r"^[A-Za-z0-9._/-]+$")
OWNER_MARKER_RE = re.compile(r"(?:^|\s)\[managed by fuseml-serving stack ([A-Za-z0-9._/-]+)\]$")
DNS1123_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

DEFAULTS: dict[str, Any] = {
    "type": "predictor",
    "description": "",
    "k8s_resources": [],
    "adopt": False,
    "timeout_s": 10,
}
REQUIRED = ("server_url", "name", "url", "workflow", "owner", "k8s_namespace")
# Changing these points at another record, so the old one is deleted and a new one registered.
REPLACE_KEYS = ("server_url", "name")
# Changing these rewrites the record in place (POST replaces the record of the same name).
UPDATE_KEYS = ("type", "description", "url", "workflow", "owner", "k8s_namespace", "k8s_resources")
# Changing these only affects how this provider behaves, so no server write is needed.
LOCAL_KEYS = ("adopt", "timeout_s")
# The model's readiness: a new object or spec in `readiness` (components.readiness.provider.WATCHED) is
# waited for again; its bound, the kubeconfig and the URN only steer the wait.
READINESS_KEYS = ("readiness", "kubeconfig", "status_urn")
INPUT_KEYS = REPLACE_KEYS + UPDATE_KEYS + LOCAL_KEYS + READINESS_KEYS
RECORD_KEYS = ("name", "type", "description", "url", "workflow", "k8s_namespace", "k8s_resources")


class KubernetesResourceArgs(TypedDict):
    """One Kubernetes object FuseML associates with (and deletes with) the Application."""

    name: pulumi.Input[str]
    kind: pulumi.Input[str]


class ApplicationArgs(TypedDict, total=False):
    """Inputs of an `Application`; the FuseML token is never an input (see `fuseml.client`)."""

    server_url: pulumi.Input[str]
    name: pulumi.Input[str]
    type: pulumi.Input[str]
    description: pulumi.Input[str]
    url: pulumi.Input[str]
    workflow: pulumi.Input[str]
    owner: pulumi.Input[str]
    k8s_namespace: pulumi.Input[str]
    k8s_resources: pulumi.Input[list[KubernetesResourceArgs]]
    adopt: pulumi.Input[bool]
    timeout_s: pulumi.Input[float]
    readiness: pulumi.Input[dict[str, Any]]
    """The model's readiness spec (components.readiness.spec): register only once it serves."""
    kubeconfig: pulumi.Input[str]
    """The cluster's kubeconfig (a secret) for the readiness wait; absent: the ambient one."""
    status_urn: pulumi.Input[str]
    """The Application's own URN, for the engine's status line while it waits."""


# -- pure helpers (module level so the provider keeps no state and pickles by reference) ----------


def owner_marker(owner: str) -> str:
    """Return the description suffix that records `owner` as the managing stack."""
    return f"{OWNER_MARKER_PREFIX}{owner}]"


def with_marker(description: str, owner: str) -> str:
    """Append the owner marker to a user description (one space between them)."""
    return f"{description} {owner_marker(owner)}" if description else owner_marker(owner)


def split_marker(description: str | None) -> tuple[str, str | None]:
    """Split a stored description into (user description, owner or None when unmarked)."""
    text = description or ""
    match = OWNER_MARKER_RE.search(text)
    if not match:
        return text, None
    # Cut exactly the one separating space, so a description with trailing blanks round-trips.
    return text[: match.start()], match.group(1)


def _is_unknown(value: Any) -> bool:
    """Say whether a value is still unknown (preview), so validation must skip it."""
    return isinstance(value, str) and value == rpc.UNKNOWN


def _number(value: Any) -> Any:
    """Turn integral floats (how mocks and the engine deliver numbers) into ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _resources(value: Any) -> Any:
    """Normalise k8s_resources to a list of {name, kind} dicts; unknowns pass through."""
    if not isinstance(value, list | tuple):
        return value
    out = []
    for item in value:
        # Copy dicts (keeping unexpected keys so check can reject them); unknowns pass through.
        out.append(dict(item) if isinstance(item, dict) else item)
    return out


def normalise(props: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and normalise types of the input keys; other keys are left as they are."""
    out = dict(props)
    for key, default in DEFAULTS.items():
        if out.get(key) is None:
            out[key] = list(default) if isinstance(default, list) else default
    out["timeout_s"] = _number(out["timeout_s"])
    out["k8s_resources"] = _resources(out["k8s_resources"])
    out["readiness"] = normalise_spec(out.get("readiness"))
    return out


def _comparable(key: str, value: Any) -> Any:
    """Canonical form used by diff, so order of k8s objects and int/float do not cause writes."""
    if key == "k8s_resources" and isinstance(value, list):
        return sorted(repr(item) for item in value)
    if key == "description":
        return value or ""
    if key == "readiness":
        return watched(value) if value else None
    return _number(value)


def desired_record(inputs: dict[str, Any]) -> dict[str, Any]:
    """Build the Application body to POST: inputs plus workflow and the owner marker."""
    return {
        "name": inputs["name"],
        "type": inputs["type"],
        "description": with_marker(inputs["description"], inputs["owner"]),
        "url": inputs["url"],
        "workflow": inputs["workflow"],
        "k8s_namespace": inputs["k8s_namespace"],
        "k8s_resources": list(inputs["k8s_resources"]),
    }


def own_outputs(inputs: dict[str, Any], keys: tuple[str, ...] = INPUT_KEYS) -> dict[str, Any]:
    """The inputs among the outputs: never the kubeconfig, and the readiness keys only where set (a stack
    without readiness keeps the outputs it had)."""
    return {
        key: inputs.get(key)
        for key in keys
        if key != "kubeconfig" and (key not in READINESS_KEYS or inputs.get(key) is not None)
    }


def outputs_from(inputs: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """Map a server record back onto the outputs: inputs overlaid with what FuseML stores."""
    outs = own_outputs(inputs)
    for key, value in record.items():
        if key not in INPUT_KEYS or key in RECORD_KEYS:
            outs[key] = value
    description, owner = split_marker(record.get("description"))
    outs["description"] = description
    outs["owner"] = owner if owner is not None else ""
    outs["k8s_resources"] = _resources(record.get("k8s_resources") or [])
    return outs


def ownership(record: dict[str, Any]) -> tuple[str | None, str | None]:
    """Return (workflow, owner stack) recorded in a FuseML record."""
    return record.get("workflow"), split_marker(record.get("description"))[1]


def is_owned_by(record: dict[str, Any], workflow: Any, owner: Any) -> bool:
    """Say whether `record` carries exactly this workflow and owner marker."""
    return ownership(record) == (workflow, owner)


def ownership_error(record: dict[str, Any], inputs: dict[str, Any], server_url: str) -> FuseMLOwnershipError:
    """Explain who owns a record and how to take it over."""
    workflow, owner = ownership(record)
    holder = (
        f"stack '{owner}'" if owner else "no fuseml-serving stack (no owner marker: registered outside it)"
    )
    return FuseMLOwnershipError(
        f"FuseML application '{record.get('name')}' at {server_url} is owned by workflow "
        f"'{workflow}' and {holder}; this stack '{inputs['owner']}' (workflow '{inputs['workflow']}') "
        f"will not overwrite it. To take it over, set `adopt: true` on the model entry."
    )


def await_ready(inputs: dict[str, Any], *, updating: bool = False, seen: Any = None) -> dict[str, Any]:
    """Wait until the model serves (components.readiness.provider.wait) and return what the state keeps
    of that; without `readiness`, nothing to wait for and nothing kept."""
    spec = inputs.get("readiness")
    if not spec:
        return {}
    props = wait_props(inputs["name"], spec, inputs.get("kubeconfig"), inputs.get("status_urn"))
    found = wait(props, updating=updating, seen=seen or {})
    return {key: found[key] for key in READY_KEYS}


def _sleep_between_retries(seconds: float) -> None:
    """Wait between retries; a module function so tests can shorten it without provider state."""
    time.sleep(seconds)


def new_client(props: dict[str, Any]) -> FuseMLClient:
    """Build a client from resource properties; the token comes from the environment at call time."""
    timeout = props.get("timeout_s")
    timeout = float(timeout) if isinstance(timeout, int | float) and timeout > 0 else DEFAULTS["timeout_s"]
    return FuseMLClient(props["server_url"], timeout_s=timeout, sleep=_sleep_between_retries)


# -- validation -----------------------------------------------------------------------------------


def _http_url_reason(value: Any, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
    """Return why `value` is not a URL of these schemes without credentials, or None when it is fine."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty http(s) URL string"
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        return f"must be an {' or '.join(s + '://' for s in schemes)} URL with a host, got {value!r}"
    if parts.username or parts.password:
        return "must not contain credentials; set FUSEML_TOKEN or FUSEML_TOKEN_FILE instead"
    return None


def _label_reason(value: Any, what: str) -> str | None:
    """Return why `value` is not a DNS-1123 label (<= 63 chars), or None when it is fine."""
    if not isinstance(value, str) or not value:
        return f"{what} must be a non-empty string"
    if len(value) > 63:
        return f"{what} {value!r} is longer than 63 characters (DNS-1123 label)"
    if not DNS1123_LABEL_RE.match(value):
        return f"{what} {value!r} is not a DNS-1123 label (lowercase letters, digits, '-', alphanumeric ends)"
    return None


def _resources_reason(value: Any) -> str | None:
    """Return why k8s_resources is not a list of {name, kind} strings, or None when it is fine."""
    if not isinstance(value, list):
        return "must be a list of {name, kind} objects"
    for index, item in enumerate(value):
        if _is_unknown(item):
            continue
        if not isinstance(item, dict) or set(item) - {"name", "kind"}:
            return f"item {index} must be an object with only 'name' and 'kind'"
        for field in ("name", "kind"):
            if not _is_unknown(item.get(field)) and not (
                isinstance(item.get(field), str) and item.get(field)
            ):
                return f"item {index} needs a non-empty string '{field}'"
    return None


def _reason(key: str, value: Any) -> str | None:
    """Return why one known input value is invalid, or None when it is fine."""
    if key == "server_url":
        return _http_url_reason(value)
    if key == "url":
        # A model served over gRPC only (ModelMesh's grpc-v1 runtimes) is listed at its gRPC endpoint, in
        # the form ModelMesh itself shows (seed 001: grpc://<service>:8033?mm-vmodel-id=<name>).
        return _http_url_reason(value, ("http", "https", "grpc"))
    if key == "name":
        return _label_reason(value, "application name")
    if key == "k8s_namespace":
        return _label_reason(value, "namespace")
    if key == "owner":
        if not isinstance(value, str) or not OWNER_RE.match(value):
            return "must be the managing stack, e.g. 'fuseml-serving/dev' (letters, digits, '._/-')"
        return None
    if key == "description" and isinstance(value, str) and OWNER_MARKER_PREFIX in value:
        return "must not contain the owner marker; the provider appends it"
    if key in ("type", "workflow", "description"):
        if not isinstance(value, str) or (key != "description" and not value):
            return "must be a " + ("string" if key == "description" else "non-empty string")
        return None
    if key == "k8s_resources":
        return _resources_reason(value)
    if key == "adopt":
        return None if isinstance(value, bool) else "must be true or false"
    if key == "timeout_s":
        return seconds_problem(value)
    if key in ("kubeconfig", "status_urn") and not isinstance(value, str):
        return "must be a string"
    return None


def validate(inputs: dict[str, Any]) -> list[pulumi.dynamic.CheckFailure]:
    """Return a CheckFailure per invalid, missing or unknown-to-us input property."""
    failures = []
    for key in REQUIRED:
        if inputs.get(key) is None:
            failures.append(pulumi.dynamic.CheckFailure(key, f"'{key}' is required"))
    failures += validate_spec(inputs["readiness"], "readiness") if inputs.get("readiness") is not None else []
    for key in INPUT_KEYS:
        value = inputs.get(key)
        if value is None or _is_unknown(value) or key == "readiness":
            continue
        reason = _reason(key, value)
        if reason:
            failures.append(pulumi.dynamic.CheckFailure(key, f"'{key}' {reason}"))
    for key in sorted(set(inputs) - set(INPUT_KEYS) - set(READY_KEYS) - {"__provider"}):
        if inputs[key] is not None:
            failures.append(pulumi.dynamic.CheckFailure(key, f"unknown property '{key}'"))
    return failures


# -- the provider ---------------------------------------------------------------------------------


class ApplicationProvider(pulumi.dynamic.ResourceProvider):
    """CRUD for FuseML Applications; keeps no instance attributes so dill pickles it by reference."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        """Validate and normalise inputs so diff and create see canonical values."""
        inputs = normalise(news)
        return pulumi.dynamic.CheckResult(inputs, validate(inputs))

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        """Register the application once the model serves, after making sure no other workflow or stack
        owns the name (before the wait too, so a conflict fails at once rather than after it)."""
        adjust_host()
        inputs = normalise(props)
        identities = [(inputs["workflow"], inputs["owner"])]
        if inputs.get("readiness"):
            with new_client(inputs) as client:
                self._ensure_ours(client, inputs, identities)
        ready = await_ready(inputs)
        with new_client(inputs) as client:
            self._ensure_ours(client, inputs, identities)
            record = client.register(desired_record(inputs))
        return pulumi.dynamic.CreateResult(inputs["name"], {**outputs_from(inputs, record), **ready})

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        """Fetch the record; report it gone when deleted or taken over, else map it to outputs."""
        inputs = normalise(props)
        name = inputs.get("name") or id_
        with new_client(inputs) as client:
            record = client.get(name)
        if record is None:
            return pulumi.dynamic.ReadResult(None, {})
        if not is_owned_by(record, inputs.get("workflow"), inputs.get("owner")):
            workflow, owner = ownership(record)
            logger.warning(
                "FuseML application %s is now owned by workflow %r, stack %r; dropping it from this stack",
                name,
                workflow,
                owner,
            )
            return pulumi.dynamic.ReadResult(None, {})
        kept = {key: props[key] for key in READY_KEYS if props.get(key) is not None}
        return pulumi.dynamic.ReadResult(id_, {**outputs_from(inputs, record), **kept})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        """Compare old outputs with new inputs: name/server_url replace, record fields and a new object or
        spec of the model update."""
        olds, news = normalise(olds), normalise(news)
        # The kubeconfig and URN steer the wait only; a new one is no reason to wait or write again.
        compared = [k for k in INPUT_KEYS if k not in ("kubeconfig", "status_urn")]
        changed = [k for k in compared if _comparable(k, olds.get(k)) != _comparable(k, news.get(k))]
        if not changed:
            return pulumi.dynamic.DiffResult(changes=False, replaces=[], delete_before_replace=False)
        replaces = [k for k in changed if k in REPLACE_KEYS]
        return pulumi.dynamic.DiffResult(changes=True, replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        """Wait for a new object or spec of the model, then rewrite the record when a record field changed;
        a wait that fails leaves the record as it was."""
        adjust_host()
        olds, inputs = normalise(olds), normalise(news)
        spec_before = olds.get("readiness")
        if _comparable("readiness", spec_before) != _comparable("readiness", inputs.get("readiness")):
            # The last ready look tells a re-rendered Deployment from the old one (verdicts.SETTLE_S).
            ready = await_ready(inputs, updating=bool(spec_before), seen=olds.get("seen"))
        else:
            ready = {key: olds.get(key) for key in READY_KEYS} if inputs.get("readiness") else {}
        if all(_comparable(k, olds.get(k)) == _comparable(k, inputs.get(k)) for k in UPDATE_KEYS):
            # Only what steers this provider changed (or the model's spec, now serving): FuseML stores none.
            kept = {k: v for k, v in olds.items() if k not in ("__provider", *READINESS_KEYS, *READY_KEYS)}
            steering = own_outputs(inputs, (*LOCAL_KEYS, *READINESS_KEYS))
            return pulumi.dynamic.UpdateResult({**kept, **steering, **ready})
        # The record is still ours if it carries the old identity (a workflow/owner change) or the new.
        identities = [(olds.get("workflow"), olds.get("owner")), (inputs["workflow"], inputs["owner"])]
        with new_client(inputs) as client:
            self._ensure_ours(client, inputs, identities)
            record = client.register(desired_record(inputs))
        return pulumi.dynamic.UpdateResult({**outputs_from(inputs, record), **ready})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Delete our record without letting FuseML delete Pulumi-managed Kubernetes objects."""
        inputs = normalise(props)
        name = inputs.get("name") or id_
        with new_client(inputs) as client:
            record = client.get(name)
            if record is None:
                return
            if not is_owned_by(record, inputs.get("workflow"), inputs.get("owner")):
                workflow, owner = ownership(record)
                logger.warning(
                    "Not deleting FuseML application %s: it is owned by workflow %r, stack %r, not by us",
                    name,
                    workflow,
                    owner,
                )
                return
            if record.get("k8s_resources"):
                # Detach the Kubernetes objects first: Pulumi deletes them itself (see module docstring).
                # Only schema fields are sent back, so read-only extras from the server cannot make it fail.
                detached = {k: record[k] for k in RECORD_KEYS if k in record}
                client.register({**detached, "k8s_resources": []})
            client.delete(name)

    @staticmethod
    def _ensure_ours(client: FuseMLClient, inputs: dict[str, Any], identities: list[tuple[Any, Any]]) -> None:
        """Raise FuseMLOwnershipError when the existing record has another owner and adopt is off."""
        if inputs.get("adopt"):
            return
        existing = client.get(inputs["name"])
        if existing is None or any(is_owned_by(existing, wf, owner) for wf, owner in identities):
            return
        raise ownership_error(existing, inputs, redact_url(client.base_url))


class Application(pulumi.dynamic.Resource, module="fuseml", name="Application"):
    """A FuseML Application registered by `ApplicationProvider`.

    The engine type token is `pulumi-python:dynamic/fuseml:Application`: Pulumi requires the
    `pulumi-python:dynamic` prefix for Python dynamic resources.
    """

    server_url: pulumi.Output[str]
    name: pulumi.Output[str]
    type: pulumi.Output[str]
    description: pulumi.Output[str]
    url: pulumi.Output[str]
    workflow: pulumi.Output[str]
    owner: pulumi.Output[str]
    k8s_namespace: pulumi.Output[str]
    k8s_resources: pulumi.Output[list[dict[str, str]]]
    adopt: pulumi.Output[bool]
    timeout_s: pulumi.Output[float]
    ready_at: pulumi.Output[str | None]
    """When the model was last found ready (UTC); None without readiness."""
    ready_after_s: pulumi.Output[float | None]
    """How long that wait took."""

    def __init__(
        self,
        resource_name: str,
        args: ApplicationArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {key: None for key in INPUT_KEYS}
        props.update(copy.deepcopy(DEFAULTS))
        props.update({k: v for k, v in dict(args).items() if v is not None})
        props.update(dict.fromkeys(READY_KEYS))
        # What pulumi.dynamic.Resource.__init__ does (pulumi sdk/python/lib/pulumi/dynamic/dynamic.py),
        # with the provider serialized once per process instead of once per Application: the provider
        # has no instance state, so every dill serialization of it is the same text, and with a thousand
        # models the repeated recursive pickling was a fifth of planning time.
        props[PROVIDER_KEY] = pulumi.Output.secret(_serialized_provider())
        if props.get("kubeconfig") is not None:
            props["kubeconfig"] = pulumi.Output.secret(props["kubeconfig"])
        pulumi.CustomResource.__init__(
            self, f"pulumi-python:{self._resource_type_name}", resource_name, props, opts
        )


@functools.cache
def _serialized_provider() -> str:
    """The provider as the dynamic-provider host reads it (base64 of its dill pickle)."""
    return pulumi.dynamic.dynamic.serialize_provider(ApplicationProvider())
