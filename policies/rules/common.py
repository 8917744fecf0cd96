"""Shared pieces of the FuseML serving rules: type tokens, plain values, message helpers, the rule shape.

Why: the same rules must run inside the Pulumi policy pack (policies/__main__.py, a blocking gRPC
server) and in an offline review that has no gRPC server, so the logic lives in pure functions over
plain dicts and the Pulumi policy objects are thin wrappers around them (pack.py).  Everything two
subject modules need lives here, so each subject module holds only its own rules.

Resource checks share one signature::

    check_x(resource_type, props, config, *, name="", secret_outputs=()) -> list[str]

and stack checks take ``(resources: Sequence[StackResource], config) -> list[(urn_or_name, message)]``.
``config`` is one policy's settings (the JSON schema defaults fill in anything missing).  Props use the
engine's property names (camelCase for provider resources, the CRD's snake_case inside ModelServer
specs).  Values unknown during preview are never reported: the policy runs again on ``pulumi up``
when they are known.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import EnforcementLevel, Secret
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

from kernel.names import RESOURCE_PREFIX

# ---------------------------------------------------------------------------------------------------------
# Resource type tokens (what the engine hands to policies).
# ---------------------------------------------------------------------------------------------------------
GKE_CLUSTER = "gcp:container/cluster:Cluster"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
MODEL_SERVER = "kubernetes:intel.com/v1alpha1:ModelServer"
VIRTUAL_SERVICE = "kubernetes:networking.istio.io/v1beta1:VirtualService"
ISTIO_GATEWAY = "kubernetes:networking.istio.io/v1beta1:Gateway"
K8S_SECRET = "kubernetes:core/v1:Secret"
K8S_SERVICE = "kubernetes:core/v1:Service"
FUSEML_APPLICATION = "pulumi-python:dynamic/fuseml:Application"
INFERENCE_SERVICE = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
CLUSTER_SERVING_RUNTIME = "kubernetes:serving.kserve.io/v1alpha1:ClusterServingRuntime"
SELDON_DEPLOYMENT = "kubernetes:machinelearning.seldon.io/v1:SeldonDeployment"

APP_NAME_LABEL = "fuseml/app-name"
ENVIRONMENT_LABEL = "fuseml-serving/environment"
#: Model servers are named `ovms-<app>` (the kernel states the prefix, with the Helm limit behind it).
MODEL_SERVER_NAME_PREFIX = RESOURCE_PREFIX
#: The annotation that puts a KServe InferenceService into ModelMesh mode (shared runtime pods).
DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"


def _is_model_server(resource_type: str) -> bool:
    """True for any version of the OVMS operator's ModelServer CR, so an API bump keeps the rules on."""
    return resource_type.startswith("kubernetes:intel.com/") and resource_type.endswith(":ModelServer")


def _is_inference_service(resource_type: str) -> bool:
    """True for a KServe InferenceService in any API version (v1alpha2 stacks still exist)."""
    return resource_type.startswith("kubernetes:serving.kserve.io/") and resource_type.endswith(
        ":InferenceService")


def _is_modelmesh(resource_type: str, props: Mapping[str, Any]) -> bool:
    """True for an InferenceService that ModelMesh Serving runs (deploymentMode annotation ModelMesh)."""
    mode = _get(props, "metadata", "annotations", DEPLOYMENT_MODE_ANNOTATION)
    return _is_inference_service(resource_type) and isinstance(mode, str) and mode.lower() == "modelmesh"


def _is_seldon_deployment(resource_type: str) -> bool:
    """True for a Seldon Core SeldonDeployment in any API version (v1, v1alpha2, v1alpha3)."""
    return resource_type.startswith("kubernetes:machinelearning.seldon.io/") and resource_type.endswith(
        ":SeldonDeployment")


def _is_serving_object(resource_type: str) -> bool:
    """True for the kinds that serve one FuseML app: ModelServer, InferenceService, SeldonDeployment."""
    return (_is_model_server(resource_type) or _is_inference_service(resource_type)
            or _is_seldon_deployment(resource_type))


def _is_istio(resource_type: str, kind: str) -> bool:
    """True for an Istio networking kind in any API version (v1alpha3, v1beta1, v1)."""
    return resource_type.startswith("kubernetes:networking.istio.io/") and resource_type.endswith(f":{kind}")


def _is_fuseml_application(resource_type: str) -> bool:
    """True for the FuseML Application dynamic resource, whatever module path the helper registers."""
    if resource_type == FUSEML_APPLICATION:
        return True
    return (resource_type.startswith("pulumi-python:dynamic") and "fuseml" in resource_type.lower()
            and resource_type.endswith(":Application"))


# ---------------------------------------------------------------------------------------------------------
# Plain-value conversion: SDK proxies, unknowns and secrets.
# ---------------------------------------------------------------------------------------------------------
class _Marker:
    """A named placeholder value; why: checks must tell "unknown"/"secret" apart from real values."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return self.label


UNKNOWN = _Marker("<unknown during preview>")
SECRET = _Marker("<secret>")

_UNKNOWN_SENTINELS = frozenset({
    UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE, UNKNOWN_ARCHIVE_VALUE, UNKNOWN_OBJECT_VALUE,
})
# The engine's wire signature for secrets; `pulumi stack export` keeps it around ciphertext.
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
# How `pulumi preview --json` redacts secret values.
_REDACTED_SECRET = "[secret]"


def to_plain(value: Any) -> Any:
    """Turn SDK proxies / exported state into plain dicts, lists and scalars; why: pure checks stay simple.

    Unknown preview values become ``UNKNOWN``; ciphertext or redacted secrets become ``SECRET``;
    integral floats (the engine sends every number as a float) become ints.
    """
    if isinstance(value, str):
        if value in _UNKNOWN_SENTINELS:
            return UNKNOWN
        return SECRET if value == _REDACTED_SECRET else value
    if isinstance(value, bool) or value is None or isinstance(value, _Marker):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, Secret):
        # An offline caller wrapped it as a secret on purpose: it is not plain text.
        return SECRET
    if isinstance(value, Mapping):
        plain: dict[str, Any] = {}
        for key in list(value):
            try:
                item = value[key]
            except UnknownValueError:
                plain[str(key)] = UNKNOWN
                continue
            plain[str(key)] = to_plain(item)
        if plain.get(_SIG_KEY) == _SECRET_SIG:
            return plain.get("value", SECRET)
        return plain
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                items.append(to_plain(value[index]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value


def _get(obj: Any, *path: str) -> Any:
    """Nested mapping lookup returning None when any step is missing; why: props are sparse."""
    for key in path:
        if isinstance(obj, _Marker):
            return obj  # an unknown/secret parent makes the child unknown too, not absent
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _items(value: Any) -> list[Any]:
    """The value as a list (empty when absent or not a list); why: tolerate missing optional lists."""
    return list(value) if isinstance(value, list | tuple) else []


def _known(value: Any) -> bool:
    """True when the value can be inspected (not unknown during preview, not an opaque secret)."""
    return not isinstance(value, _Marker)


def _present(value: Any) -> bool:
    """True when a value was given (unknown/secret count as given; empty strings do not)."""
    return value is not None and value != "" and value != {} and value != []


def _as_int(value: Any) -> int | None:
    """An integer from int, integral float or digit string, else None; why: numbers arrive as floats."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(value.strip())
    return None


# ---------------------------------------------------------------------------------------------------------
# Helpers for messages and settings: labels, redaction, string lists, property paths.
# ---------------------------------------------------------------------------------------------------------
def _label(resource_type: str, props: Mapping[str, Any], name: str = "") -> str:
    """A human label for messages: kind plus the best-known name, e.g. `ModelServer "ovms-mnist"`."""
    kind = resource_type.rsplit(":", 1)[-1] or resource_type
    shown = name or _get(props, "metadata", "name") or _get(props, "name") or "<unnamed>"
    return f'{kind} "{shown}"'


def _redact(secret: str) -> str:
    """Show a credential without leaking it: the first two characters and its length."""
    return f"'{secret[:2]}…' ({len(secret)} chars)"


def _str_list(value: Any) -> list[str]:
    """A list of strings from a config value (a lone string counts as one item)."""
    if isinstance(value, str):
        return [value]
    return [str(v) for v in _items(value)]


def _path_text(path: Sequence[str | int]) -> str:
    """A property path for messages: ("spec", "containers", 0, "image") -> "spec.containers[0].image"."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text



# ---------------------------------------------------------------------------------------------------------
# The rule shape: what a stack check sees, what a rule is.
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StackResource:
    """One resource as stack checks see it (plain props); why: decouple checks from the SDK classes."""

    resource_type: str
    props: Mapping[str, Any]
    urn: str = ""
    name: str = ""
    secret_outputs: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """What a violation points at: the URN, else the name."""
        return self.urn or self.name

    @property
    def label(self) -> str:
        """The human label used in messages."""
        return _label(self.resource_type, self.props, self.name)

    @property
    def namespace(self) -> str | None:
        """metadata.namespace when known."""
        ns = _get(self.props, "metadata", "namespace")
        return ns if isinstance(ns, str) and ns else None


StackViolations = list[tuple[str, str]]


def _duplicates(entries: list[tuple[str, StackResource]], what: str) -> StackViolations:
    """A violation for every resource sharing a key with another one."""
    by_key: dict[str, list[StackResource]] = {}
    for key, resource in entries:
        by_key.setdefault(key, []).append(resource)
    violations: StackViolations = []
    for key, owners in sorted(by_key.items()):
        if len(owners) < 2:
            continue
        for owner in owners:
            others = ", ".join(o.label for o in owners if o is not owner)
            violations.append((owner.ref, f"{owner.label} uses {what} {key!r}, also used by {others}; "
                                          f"each must be unique in the stack."))
    return violations


ResourceCheck = Callable[..., list[str]]
StackCheck = Callable[[Sequence[StackResource], Mapping[str, Any] | None], StackViolations]

def _string_list(default: list[str], description: str) -> dict[str, Any]:
    """The JSON schema of a list-of-strings setting (most settings are one)."""
    return {"type": "array", "items": {"type": "string"}, "default": default, "description": description}


@dataclass(frozen=True)
class RuleSpec:
    """One policy: its name, why-description, default level, check and config schema properties."""

    name: str
    description: str
    level: EnforcementLevel
    check: ResourceCheck | StackCheck
    stack: bool = False
    settings: Mapping[str, Mapping[str, Any]] | None = None

    def default(self, key: str) -> Any:
        """The schema default of one of this rule's settings."""
        return (self.settings or {})[key]["default"]

    def setting(self, config: Mapping[str, Any] | None, key: str) -> Any:
        """One setting from a policy config, falling back to the schema default; why: config is optional."""
        if config is not None and config.get(key) is not None:
            return config[key]
        return self.default(key)
