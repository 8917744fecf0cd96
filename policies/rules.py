"""FuseML serving policy rules: plain check functions plus the Pulumi policy objects built from them.

Why: the same rules must run inside the Pulumi policy pack (policies/__main__.py, a blocking gRPC
server) and in an offline review that has no gRPC server, so the logic lives in pure functions over
plain dicts and the Pulumi policy objects are thin wrappers around them.

Resource checks share one signature::

    check_x(resource_type, props, config, *, name="", secret_outputs=()) -> list[str]

and stack checks take ``(resources: Sequence[StackResource], config) -> list[(urn_or_name, message)]``.
``config`` is one policy's settings (the JSON schema defaults fill in anything missing).  Props use the
engine's property names (camelCase for provider resources, the CRD's snake_case inside ModelServer
specs).  Values unknown during preview are never reported: the policy runs again on ``pulumi up``
when they are known.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    StackValidationArgs,
    StackValidationPolicy,
)
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

APP_NAME_LABEL = "fuseml/app-name"
ENVIRONMENT_LABEL = "fuseml-serving/environment"
MODEL_SERVER_NAME_PREFIX = "ovms-"


def _is_model_server(resource_type: str) -> bool:
    """True for any version of the OVMS operator's ModelServer CR, so an API bump keeps the rules on."""
    return resource_type.startswith("kubernetes:intel.com/") and resource_type.endswith(":ModelServer")


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


# Kubernetes quantity suffixes -> multiplier (resource.Quantity's decimal SI and binary suffixes).
QUANTITY_SUFFIXES: Mapping[str, float] = {
    "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}
_QUANTITY_RE = re.compile(
    r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:[eE]([+-]?\d+))?(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$")


def parse_quantity(value: Any) -> float | None:
    """Parse a Kubernetes quantity ("500m", "2", 1.5, "1Gi") into a float; None when not a quantity."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    match = _QUANTITY_RE.match(value.strip())
    if not match:
        return None
    number, exponent, suffix = match.groups()
    return float(number) * (10.0 ** int(exponent) if exponent else 1.0) * QUANTITY_SUFFIXES[suffix or ""]


def _label(resource_type: str, props: Mapping[str, Any], name: str = "") -> str:
    """A human label for messages: kind plus the best-known name, e.g. `ModelServer "ovms-mnist"`."""
    kind = resource_type.rsplit(":", 1)[-1] or resource_type
    shown = name or _get(props, "metadata", "name") or _get(props, "name") or "<unnamed>"
    return f'{kind} "{shown}"'


def _redact(secret: str) -> str:
    """Show a credential without leaking it: the first two characters and its length."""
    return f"'{secret[:2]}…' ({len(secret)} chars)"


def _setting(config: Mapping[str, Any] | None, key: str) -> Any:
    """One setting from a policy config, falling back to the schema default; why: config is optional."""
    if config is not None and config.get(key) is not None:
        return config[key]
    return SETTING_DEFAULTS[key]


def _str_list(value: Any) -> list[str]:
    """A list of strings from a config value (a lone string counts as one item)."""
    if isinstance(value, str):
        return [value]
    return [str(v) for v in _items(value)]


# ---------------------------------------------------------------------------------------------------------
# Rule 1: serving node pools run on Intel CPUs with a pinned minimum CPU platform.
# ---------------------------------------------------------------------------------------------------------
# GCE machine family -> Intel CPU platforms it can run on.  A family with exactly one platform implies
# it, so minCpuPlatform may be omitted there (GCE rejects it on some single-platform families anyway).
INTEL_CPU_FAMILIES: Mapping[str, frozenset[str]] = {
    "n1": frozenset({"Intel Sandy Bridge", "Intel Ivy Bridge", "Intel Haswell", "Intel Broadwell",
                     "Intel Skylake"}),
    "n2": frozenset({"Intel Cascade Lake", "Intel Ice Lake"}),
    "n4": frozenset({"Intel Emerald Rapids"}),
    "c2": frozenset({"Intel Cascade Lake"}),
    "c3": frozenset({"Intel Sapphire Rapids"}),
    "c4": frozenset({"Intel Emerald Rapids", "Intel Granite Rapids"}),
    "m1": frozenset({"Intel Broadwell", "Intel Skylake"}),
    "m2": frozenset({"Intel Cascade Lake"}),
    "m3": frozenset({"Intel Ice Lake"}),
    "m4": frozenset({"Intel Emerald Rapids"}),
    "h3": frozenset({"Intel Sapphire Rapids"}),
    "z3": frozenset({"Intel Sapphire Rapids"}),
}
# Accelerator families have Intel hosts but pay for NVIDIA GPUs that OVMS (CPU target) leaves idle,
# so they are Intel but not allowed unless a policy config lists them in allowed_machine_families.
INTEL_GPU_FAMILIES: Mapping[str, frozenset[str]] = {
    "a2": frozenset({"Intel Cascade Lake"}),
    "a3": frozenset({"Intel Sapphire Rapids"}),
    "g2": frozenset({"Intel Cascade Lake"}),
}
# Families that are never Intel-only, for a precise message: AMD, Arm or vendor-mixed.
NON_INTEL_FAMILIES: Mapping[str, str] = {
    "e2": "Intel or AMD chosen by GCE (no minimum CPU platform possible)",
    "n2d": "AMD EPYC", "t2d": "AMD EPYC", "c2d": "AMD EPYC", "c3d": "AMD EPYC", "c4d": "AMD EPYC",
    "h4d": "AMD EPYC", "t2a": "Arm (Ampere Altra)", "c4a": "Arm (Google Axion)", "n4a": "Arm (Google Axion)",
    "f1": "shared-core", "g1": "shared-core",
}
KNOWN_INTEL_PLATFORMS = frozenset().union(*INTEL_CPU_FAMILIES.values(), *INTEL_GPU_FAMILIES.values(),
                                          {"Intel Xeon E5"})
# GKE's machine type when a node config names none.
GKE_DEFAULT_MACHINE_TYPE = "e2-medium"


def machine_family(machine_type: str) -> str:
    """The GCE family of a machine type: "n2-standard-4" -> "n2", "custom-4-16384" -> "n1" (N1 custom)."""
    family = machine_type.strip().lower().split("-", 1)[0]
    return "n1" if family == "custom" else family


def _check_node_config(subject: str, node_config: Any, config: Mapping[str, Any] | None) -> list[str]:
    """Violations of one node config against the Intel family/platform tables."""
    allowed = {f.lower() for f in _str_list(_setting(config, "allowed_machine_families"))}
    tables = {**INTEL_CPU_FAMILIES, **INTEL_GPU_FAMILIES}
    machine_type = _get(node_config, "machineType")
    if not _known(node_config) or not _known(machine_type):
        return []
    shown_allowed = ", ".join(sorted(f for f in allowed if f in tables))
    if not isinstance(machine_type, str) or not machine_type.strip():
        return [f"{subject} names no nodeConfig.machineType, so GKE uses {GKE_DEFAULT_MACHINE_TYPE} "
                f"({NON_INTEL_FAMILIES['e2']}); set an Intel machine type from families: {shown_allowed}."]
    family = machine_family(machine_type)
    if family not in tables or family not in allowed:
        why = NON_INTEL_FAMILIES.get(family) or (
            "an accelerator family not enabled in allowed_machine_families" if family in tables
            else "not a known Intel family")
        return [f"{subject} uses machine type {machine_type!r} (family {family}: {why}); "
                f"allowed Intel families: {shown_allowed}."]
    platforms = tables[family]
    platform = _get(node_config, "minCpuPlatform")
    if not _known(platform):
        return []
    if not isinstance(platform, str) or not platform.strip():
        if len(platforms) == 1:
            return []
        return [f"{subject} ({machine_type}) sets no nodeConfig.minCpuPlatform, so GCE may pick any of "
                f"{', '.join(sorted(platforms))}; pin one so OpenVINO's ISA-specific kernels and benchmarks "
                f"stay reproducible."]
    canonical = {p.lower(): p for p in KNOWN_INTEL_PLATFORMS}
    chosen = canonical.get(platform.strip().lower())
    if chosen is None:
        return [f"{subject} sets minCpuPlatform {platform!r}, which is not an Intel platform; allowed for "
                f"{family}: {', '.join(sorted(platforms))}."]
    if chosen not in platforms:
        return [f"{subject} sets minCpuPlatform {platform!r}, which family {family} does not offer "
                f"(GKE would reject the pool); allowed for {family}: {', '.join(sorted(platforms))}."]
    return []


def check_intel_node_pool(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any] | None,
                          *, name: str = "", secret_outputs: Sequence[str] = ()) -> list[str]:
    """Serving node pools (and a kept default pool) must be Intel with a pinned CPU platform.

    Why: OVMS is tuned for and benchmarked on Intel Xeon (AVX-512/VNNI/AMX); AMD, Arm or mixed-vendor
    nodes silently change throughput and latency.
    """
    label = _label(resource_type, props, name)
    exempt = set(_str_list(_setting(config, "exempt_node_pools")))
    if resource_type == GKE_NODE_POOL:
        if name in exempt or _get(props, "name") in exempt:
            return []
        return _check_node_config(f"{label}", props.get("nodeConfig"), config)
    if resource_type == GKE_CLUSTER:
        remove_default = props.get("removeDefaultNodePool")
        if remove_default is True or not _known(remove_default):
            return []
        return _check_node_config(f"default node pool of {label} (removeDefaultNodePool is not true)",
                                  props.get("nodeConfig"), config)
    return []


# ---------------------------------------------------------------------------------------------------------
# Rule 2: model servers declare CPU and memory requests and limits.
# ---------------------------------------------------------------------------------------------------------
_RESOURCES_PATH = "spec.deployment_parameters.resources"
_ONE_MIB = float(2**20)


def _model_server_resources(props: Mapping[str, Any]) -> Any:
    return _get(props, "spec", "deployment_parameters", "resources")


def check_model_server_resources(resource_type: str, props: Mapping[str, Any],
                                 config: Mapping[str, Any] | None, *, name: str = "",
                                 secret_outputs: Sequence[str] = ()) -> list[str]:
    """Every ModelServer sets cpu and memory requests and limits, with requests <= limits.

    Why: without requests the scheduler packs OVMS pods onto busy nodes, and without limits one model
    can starve its neighbours; OVMS also sizes its thread pools from the CPU it sees.
    """
    if not _is_model_server(resource_type):
        return []
    label = _label(resource_type, props, name)
    resources = _model_server_resources(props)
    if not _known(resources):
        return []
    violations: list[str] = []
    parsed: dict[tuple[str, str], float] = {}
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            value = _get(resources, kind, resource)
            path = f"{_RESOURCES_PATH}.{kind}.{resource}"
            if not _present(value):
                example = '"1"' if resource == "cpu" else '"1Gi"'
                violations.append(f"{label} does not set {path}; every model server needs cpu and memory "
                                  f"requests and limits (a Kubernetes quantity such as {example}).")
                continue
            if not _known(value):
                continue
            amount = parse_quantity(value)
            if amount is None or amount <= 0:
                violations.append(f"{label} sets {path} to {value!r}, which is not a positive Kubernetes "
                                  f"quantity (e.g. \"500m\", \"2\", \"4Gi\").")
                continue
            if resource == "memory" and amount < _ONE_MIB:
                violations.append(f"{label} sets {path} to {value!r} = {amount:g} bytes; memory must be at "
                                  f"least 1Mi (\"m\" means milli-bytes: did you mean \"Mi\"?).")
                continue
            parsed[(kind, resource)] = amount
    for resource in ("cpu", "memory"):
        request, limit = parsed.get(("requests", resource)), parsed.get(("limits", resource))
        if request is not None and limit is not None and request > limit:
            violations.append(
                f"{label} requests more {resource} ({_get(resources, 'requests', resource)!r}) than its "
                f"limit ({_get(resources, 'limits', resource)!r}); Kubernetes requires requests <= limits.")
    return violations


# ---------------------------------------------------------------------------------------------------------
# Rule 3a: nireq within the CPU the server may use.
# ---------------------------------------------------------------------------------------------------------
def cpu_cores_for_model_server(props: Mapping[str, Any]) -> float | None:
    """The CPU a ModelServer may use: its cpu limit, else its cpu request; None when unknown."""
    resources = _model_server_resources(props)
    for kind in ("limits", "requests"):
        cores = parse_quantity(_get(resources, kind, "cpu"))
        if cores is not None and cores > 0:
            return cores
    return None


def nireq_upper_bound(cpu_cores: float, per_core: int) -> int:
    """Largest sensible nireq: max(1, ceil(cores)) * per_core; why: more requests than cores x factor
    only queue inside OVMS and cost memory per infer request."""
    return max(1, math.ceil(cpu_cores)) * per_core


def check_nireq_bounds(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any] | None,
                       *, name: str = "", secret_outputs: Sequence[str] = ()) -> list[str]:
    """`models_settings.nireq` (and PERFORMANCE_HINT_NUM_REQUESTS) lie in 1..ceil(cpu cores) * factor.

    Why: each infer request holds its own buffers; far more requests than cores only adds memory and
    queueing latency, and zero or negative values make OVMS refuse to load the model.
    """
    if not _is_model_server(resource_type):
        return []
    label = _label(resource_type, props, name)
    per_core = _as_int(_setting(config, "nireq_per_core")) or SETTING_DEFAULTS["nireq_per_core"]
    cores = cpu_cores_for_model_server(props)
    settings = _get(props, "spec", "models_settings")
    candidates = [("spec.models_settings.nireq", _get(settings, "nireq"))]
    plugin = _parse_plugin_config(_get(settings, "plugin_config"))
    if isinstance(plugin, dict) and "PERFORMANCE_HINT_NUM_REQUESTS" in plugin:
        hint = "PERFORMANCE_HINT_NUM_REQUESTS"
        candidates.append((f"plugin_config {hint}", plugin[hint]))
    violations: list[str] = []
    for where, value in candidates:
        if value is None or not _known(value):
            continue
        count = _as_int(value)
        floor = 0 if where.startswith("plugin_config") else 1  # 0 means "let OpenVINO decide" there
        if count is None or count < floor:
            violations.append(f"{label} sets {where} to {value!r}; it must be an integer >= {floor}.")
            continue
        if cores is None or count == 0:
            continue
        bound = nireq_upper_bound(cores, per_core)
        if count > bound:
            violations.append(
                f"{label} sets {where} to {count} but may use only {cores:g} CPU core(s); allowed is "
                f"1..{bound} (max(1, ceil(cores)) x nireq_per_core={per_core}).")
    return violations


# ---------------------------------------------------------------------------------------------------------
# Rule 3b: plugin_config holds only known OpenVINO properties with valid values.
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PluginValue:
    """How a plugin_config property's value is validated: kind "enum", "bool", "count" or "any"."""

    kind: str
    choices: frozenset[str] = frozenset()
    case_sensitive: bool = True

    def describe(self) -> str:
        """What values are allowed, for messages."""
        if self.kind == "bool":
            return "true/false or YES/NO"
        if self.kind == "count":
            extra = f" or one of {', '.join(sorted(self.choices))}" if self.choices else ""
            return f"a non-negative integer{extra}"
        return f"one of {', '.join(sorted(self.choices))}"

    def accepts(self, value: Any) -> bool:
        """True when the value is allowed for this property."""
        if self.kind == "any" or not _known(value):
            return True
        if self.kind == "bool":
            return isinstance(value, bool) or (isinstance(value, str)
                                               and value.strip().upper() in {"YES", "NO", "TRUE", "FALSE"})
        if self.kind == "count":
            number = _as_int(value)
            if number is not None:
                return number >= 0
            return isinstance(value, str) and value.strip() in self.choices
        text = value.strip() if isinstance(value, str) else None
        if text is None:
            return False
        if self.case_sensitive:
            return text in self.choices
        return text.lower() in {c.lower() for c in self.choices}


def _enum(*choices: str, case_sensitive: bool = True) -> PluginValue:
    return PluginValue("enum", frozenset(choices), case_sensitive)


def _count(*choices: str) -> PluginValue:
    return PluginValue("count", frozenset(choices))


_BOOL = PluginValue("bool")
_ANY = PluginValue("any")

# OpenVINO runtime properties OVMS passes to the plugin (2.0 API names), plus the 1.0 API CPU/GPU keys
# that OVMS documentation still uses.  Note the legacy key is CPU_BIND_THREAD (singular).
PLUGIN_CONFIG_KEYS: Mapping[str, PluginValue] = {
    "PERFORMANCE_HINT": _enum("LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT"),
    "PERFORMANCE_HINT_NUM_REQUESTS": _count(),
    "NUM_STREAMS": _count("AUTO", "NUMA"),
    "INFERENCE_NUM_THREADS": _count(),
    "INFERENCE_PRECISION_HINT": _enum("f32", "bf16", "f16", case_sensitive=False),
    "EXECUTION_MODE_HINT": _enum("PERFORMANCE", "ACCURACY"),
    "ENABLE_CPU_PINNING": _BOOL,
    "ENABLE_HYPER_THREADING": _BOOL,
    "SCHEDULING_CORE_TYPE": _enum("ANY_CORE", "PCORE_ONLY", "ECORE_ONLY"),
    "MODEL_PRIORITY": _enum("LOW", "MEDIUM", "HIGH"),
    "AFFINITY": _enum("NONE", "CORE", "NUMA", "HYBRID_AWARE"),
    "CACHE_DIR": _ANY,
    "ENABLE_PROFILING": _BOOL,
    "LOG_LEVEL": _enum("LOG_NONE", "LOG_ERROR", "LOG_WARNING", "LOG_INFO", "LOG_DEBUG", "LOG_TRACE"),
    "DYNAMIC_QUANTIZATION_GROUP_SIZE": _count(),
    "KV_CACHE_PRECISION": _ANY,
    "CPU_DENORMALS_OPTIMIZATION": _BOOL,
    "CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE": _ANY,
    "MULTI_DEVICE_PRIORITIES": _ANY,
    "DEVICE_ID": _ANY,
    "CPU_THROUGHPUT_STREAMS": _count("CPU_THROUGHPUT_AUTO", "CPU_THROUGHPUT_NUMA"),
    "CPU_THREADS_NUM": _count(),
    "CPU_BIND_THREAD": _enum("YES", "NO", "NUMA", "HYBRID_AWARE"),
    "GPU_THROUGHPUT_STREAMS": _count("GPU_THROUGHPUT_AUTO"),
    "PERF_COUNT": _BOOL,
}


def _parse_plugin_config(raw: Any) -> Any:
    """plugin_config as a dict: the CR carries JSON text, an offline caller may pass a dict.

    Returns None when absent/unknown, the dict when valid, or the error text (str) when not a JSON object.
    """
    if raw is None or not _known(raw) or raw == "":
        return None
    if isinstance(raw, Mapping):
        return dict(raw)
    if not isinstance(raw, str):
        return f"expected JSON text, got {type(raw).__name__}"
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as error:
        return f"not valid JSON ({error.msg} at position {error.pos})"
    return parsed if isinstance(parsed, dict) else f"JSON {type(parsed).__name__}, not an object"


def check_plugin_config(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any] | None,
                        *, name: str = "", secret_outputs: Sequence[str] = ()) -> list[str]:
    """`models_settings.plugin_config` is a JSON object of known OpenVINO properties with valid values.

    Why: OVMS refuses to load a model whose plugin_config has an unknown key or bad value, which only
    shows up as a crash-looping pod after the deployment "succeeded".
    """
    if not _is_model_server(resource_type):
        return []
    label = _label(resource_type, props, name)
    raw = _get(props, "spec", "models_settings", "plugin_config")
    parsed = _parse_plugin_config(raw)
    if parsed is None:
        return []
    if isinstance(parsed, str):
        return [f"{label} sets spec.models_settings.plugin_config to {raw!r}: {parsed}; it must be a JSON "
                f"object of OpenVINO properties, e.g. '{{\"PERFORMANCE_HINT\": \"LATENCY\"}}'."]
    extra = set(_str_list(_setting(config, "extra_plugin_config_keys")))
    violations: list[str] = []
    for key, value in parsed.items():
        rule = PLUGIN_CONFIG_KEYS.get(key)
        if rule is None and key in extra:
            continue
        if rule is None:
            known = ", ".join(sorted({*PLUGIN_CONFIG_KEYS, *extra}))
            violations.append(f"{label} plugin_config has unknown OpenVINO property {key!r}; known "
                              f"properties: {known} (add more with extra_plugin_config_keys).")
        elif not rule.accepts(value):
            violations.append(f"{label} plugin_config sets {key} to {value!r}; allowed: {rule.describe()}.")
    return violations


# ---------------------------------------------------------------------------------------------------------
# Rule 4: no credential in plain text in any resource input.
# ---------------------------------------------------------------------------------------------------------
# Single name tokens and adjacent token pairs that make a field or env var name credential-bearing.
CREDENTIAL_WORDS = frozenset({
    "secret", "secrets", "password", "passwords", "passwd", "passphrase", "token", "tokens", "credential",
    "credentials", "creds", "apikey", "privatekey", "accesskey", "secretkey", "connectionstring",
    "authorization",
})
CREDENTIAL_WORD_PAIRS = frozenset({
    ("access", "key"), ("api", "key"), ("private", "key"), ("secret", "key"), ("account", "key"),
    ("connection", "string"), ("client", "secret"), ("auth", "key"), ("signing", "key"),
})
# Last name tokens that mark a field as a *reference* to a credential stored elsewhere
# (gcp_creds_secret_name, secretName, secretKeyRef, valueFrom, passwordFile, tokenPath, secretArn, ...).
# Also metadata about a credential (tokenUrl, passwordPolicy, tokenTtl): a URL carrying one is still
# caught by the value patterns below.
REFERENCE_SUFFIXES = frozenset({
    "name", "names", "ref", "refs", "reference", "from", "namespace", "path", "file", "arn", "selector",
    "class", "type", "mount", "url", "uri", "endpoint", "host", "audience", "issuer", "scope", "scopes",
    "policy", "mode", "format", "header", "prefix", "version", "location", "enabled", "ttl", "seconds",
    "expiration", "length",
})
# Whole field names that are references although their last token looks like a credential.
REFERENCE_FIELDS = frozenset({
    "existingSecret", "existing_secret", "useExistingSecret", "secretProviderClass",
})
# Values that cannot be a credential (flags written as strings).
NON_CREDENTIAL_VALUES = frozenset({"true", "false", "yes", "no", "none", "null", "enabled", "disabled"})
# What a credential looks like wherever it hides, whatever the field is called.
CREDENTIAL_VALUE_PATTERNS: Mapping[str, re.Pattern[str]] = {
    "an AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "a PEM private key": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"),
    "a URL with an embedded user:password": re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"),
    "an Azure storage account key": re.compile(r"(?i)\bAccountKey=[^;\s]+"),
    "an Azure shared access signature": re.compile(
        r"(?i)\bSharedAccessSignature=[^;\s]+|[?&]sig=[^&\s]{16,}"),
    "a Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "a GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "a bearer token": re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*"),
}
# The only inline credential fields allowed: the OVMS operator's CR cannot reference a Secret for S3
# or Azure, so the program passes them as Pulumi secrets and registers additionalSecretOutputs=["spec"].
MODEL_SERVER_INLINE_CREDENTIALS = (
    ("spec", "models_repository", "aws_access_key_id"),
    ("spec", "models_repository", "aws_secret_access_key"),
    ("spec", "models_repository", "azure_storage_connection_string"),
)
# Paths whose values are meant to hold credentials (a Kubernetes Secret's payload).
SECRET_PAYLOAD_FIELDS = (("data",), ("stringData",))
# Keys never scanned: a dynamic provider's serialized code is not an input value.
UNSCANNED_KEYS = frozenset({"__provider"})

_TOKEN_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def name_tokens(key: str) -> list[str]:
    """Lower-case words of a field name: "gcp_creds_secret_name" / "secretKeyRef" / "AWS_SECRET_KEY"."""
    return [t.lower() for t in _TOKEN_RE.findall(key)]


def is_credential_name(key: str, extra_reference_fields: frozenset[str] = frozenset()) -> bool:
    """True when a field / variable name says it carries a credential (and is not a reference to one)."""
    if key in REFERENCE_FIELDS or key in extra_reference_fields:
        return False
    tokens = name_tokens(key)
    if not tokens or tokens[-1] in REFERENCE_SUFFIXES:
        return False
    if any(t in CREDENTIAL_WORDS for t in tokens):
        return True
    return any(pair in CREDENTIAL_WORD_PAIRS for pair in itertools.pairwise(tokens))


def _plain_credential(value: Any) -> bool:
    """True when a value is literal text that could be a credential (not empty, a flag, unknown or secret)."""
    if not isinstance(value, str):
        return False
    text = value.strip()
    return bool(text) and text.lower() not in NON_CREDENTIAL_VALUES


def _path_text(path: Sequence[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _walk_credentials(label: str, value: Any, path: tuple[str | int, ...], exempt: set[tuple[str, ...]],
                      extra_refs: frozenset[str]) -> Iterator[str]:
    """Yield one violation per leaf holding a plain-text credential, skipping exempt subtrees.

    Exempt paths list field names only (list indexes are ignored), e.g. ("data",) for a Secret.
    """
    if isinstance(value, Mapping):
        skip = set(UNSCANNED_KEYS)
        env_name = value.get("name")
        if isinstance(env_name, str) and "value" in value and _plain_credential(value.get("value")) \
                and is_credential_name(env_name, extra_refs):
            # A {name, value} pair (container env, headers) named like a credential.
            skip.add("value")
            yield (f"{label} sets {_path_text(path) or 'an entry'} {env_name}={_redact(value['value'])} in "
                   f"plain text; credential variables must use valueFrom.secretKeyRef (a Kubernetes Secret).")
        for key, item in value.items():
            if key in skip:
                continue
            child = (*path, key)
            if tuple(p for p in child if isinstance(p, str)) in exempt:
                continue
            if isinstance(item, str) and _plain_credential(item) and is_credential_name(key, extra_refs):
                yield (f"{label} sets {_path_text(child)} to a literal credential {_redact(item)}; store it "
                       f"in a Kubernetes Secret / Pulumi secret and reference it (secretKeyRef, "
                       f"*_secret_name).")
                continue
            yield from _walk_credentials(label, item, child, exempt, extra_refs)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk_credentials(label, item, (*path, index), exempt, extra_refs)
    elif isinstance(value, str):
        for what, pattern in CREDENTIAL_VALUE_PATTERNS.items():
            match = pattern.search(value)
            if match:
                yield (f"{label} has {what} in plain text at {_path_text(path)} ({_redact(match.group(0))}); "
                       f"credentials belong in a Kubernetes Secret or a Pulumi secret, never in inputs.")
                break


def _covers(secret_outputs: Sequence[str], path: tuple[str, ...]) -> bool:
    """True when additionalSecretOutputs names the path's top-level property (how the engine marks it)."""
    return any(output == ".".join(path[: len(output.split("."))]) for output in secret_outputs)


def check_no_plaintext_credentials(resource_type: str, props: Mapping[str, Any],
                                   config: Mapping[str, Any] | None, *, name: str = "",
                                   secret_outputs: Sequence[str] = ()) -> list[str]:
    """No resource input holds a credential in plain text.

    Why: resource inputs land unencrypted in Pulumi state, previews, logs and `kubectl get -o yaml`;
    credentials must live in Kubernetes Secrets (referenced) or Pulumi secrets.  The one exception is the
    ModelServer's inline S3/Azure fields, allowed only when additionalSecretOutputs covers `spec`.
    """
    if resource_type.startswith("pulumi:providers:"):
        # Provider configuration (kubeconfig, credentials) is where cluster access belongs and the
        # providers mark those inputs secret themselves.
        return []
    label = _label(resource_type, props, name)
    extra_refs = frozenset(_str_list(_setting(config, "extra_reference_fields")))
    exempt: set[tuple[str, ...]] = set()
    violations: list[str] = []
    if resource_type == K8S_SECRET:
        exempt.update(SECRET_PAYLOAD_FIELDS)
    if _is_model_server(resource_type):
        exempt.update(MODEL_SERVER_INLINE_CREDENTIALS)
        for path in MODEL_SERVER_INLINE_CREDENTIALS:
            value = _get(props, *path)
            if _plain_credential(value) and not _covers(secret_outputs, path):
                violations.append(
                    f"{label} sets {'.'.join(path)} ({_redact(value)}) without additionalSecretOutputs "
                    f"covering 'spec' (got {list(secret_outputs)}); pass it as a Pulumi secret and register "
                    f"the CR with additionalSecretOutputs=['spec'].")
    violations.extend(_walk_credentials(label, props, (), exempt, extra_refs))
    return violations


# ---------------------------------------------------------------------------------------------------------
# Rule 5: images are pinned.
# ---------------------------------------------------------------------------------------------------------
CONTAINER_LIST_KEYS = frozenset({"containers", "initContainers", "ephemeralContainers"})
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def image_problem(image: Any, floating_tags: Sequence[str] = ("latest",),
                  require_digest: bool = False) -> str | None:
    """Why an image reference is not pinned, or None when it is (a digest, or a non-floating tag)."""
    if not _known(image):
        return None
    if not isinstance(image, str) or not image.strip():
        return "is empty"
    ref = image.strip()
    if "@" in ref:
        digest = ref.split("@", 1)[1]
        if _DIGEST_RE.match(digest):
            return None
        return f"has a malformed digest {digest!r} (want sha256:<64 hex>)"
    if require_digest:
        return "has no @sha256 digest (require_digest is on)"
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag, so it floats with :latest"
    tag = last.rsplit(":", 1)[1]
    floating = {t.lower() for t in floating_tags}
    if tag.lower() in floating or tag.lower().startswith("latest"):
        return f"uses the floating tag {tag!r}"
    return None


def _container_images(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[str, Any]]:
    """Yield (path, image) for every container in any pod template inside the props."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in CONTAINER_LIST_KEYS and isinstance(item, list | tuple):
                for index, container in enumerate(item):
                    if isinstance(container, Mapping):
                        yield _path_text((*path, key, index, "image")), container.get("image")
            else:
                yield from _container_images(item, (*path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _container_images(item, (*path, index))


def check_images_pinned(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any] | None,
                        *, name: str = "", secret_outputs: Sequence[str] = ()) -> list[str]:
    """ModelServer spec.image_name and every container image carry a fixed tag or digest.

    Why: a floating tag makes `pulumi up` non-reproducible and lets a node restart pull a different
    OVMS build than the one that was reviewed and benchmarked.
    """
    label = _label(resource_type, props, name)
    floating = _str_list(_setting(config, "floating_tags"))
    require_digest = bool(_setting(config, "require_digest"))
    images: list[tuple[str, Any]] = []
    if _is_model_server(resource_type):
        images.append(("spec.image_name", _get(props, "spec", "image_name")))
    images.extend(_container_images(props, ()))
    violations = []
    for path, image in images:
        problem = image_problem(image, floating, require_digest)
        if problem:
            violations.append(f"{label} image {image!r} at {path} {problem}; pin a release tag "
                              f"(e.g. openvino/model_server:2024.5) or an @sha256 digest.")
    return violations


# ---------------------------------------------------------------------------------------------------------
# Rule 6: explicit, deterministic application names.
# ---------------------------------------------------------------------------------------------------------
_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_VOWELS = frozenset("aeiouy")
# The old OVMS step fell back to `head /dev/urandom | tr -dc a-z0-9 | head -c 6` for org and project.
_OLD_STEP_RANDOM_LENGTH = 6


def random_looking_segment(segment: str) -> bool:
    """True when a name segment looks generated rather than chosen.

    Heuristics, each matching a known generator: >=7 hex chars mixing digits and letters (Pulumi
    auto-name suffix, hashes, UUID parts); >=5 letters without a vowel; >=3 letter/digit alternations
    with >=2 digits; the old step's 6-char [a-z0-9] fallback with >=2 digits not all trailing.
    Real names such as "resnet50", "yolov5s", "k8s", "bert4rec" or "mnist2" pass.
    """
    s = segment.lower()
    has_digit, has_alpha = any(c.isdigit() for c in s), any(c.isalpha() for c in s)
    if len(s) >= 7 and re.fullmatch(r"[0-9a-f]+", s) and has_digit and has_alpha:
        return True
    if len(s) >= 5 and s.isalpha() and not (set(s) & _VOWELS):
        return True
    digits = sum(c.isdigit() for c in s)
    alternations = sum(1 for a, b in itertools.pairwise(s) if a.isdigit() != b.isdigit())
    if digits >= 2 and alternations >= 3:
        return True
    if len(s) == _OLD_STEP_RANDOM_LENGTH and s.isalnum() and has_alpha and digits >= 2:
        return bool(re.search(r"\d[a-z]", s))
    return False


def app_name_problem(app_name: Any, allowed_names: Sequence[str] = ()) -> str | None:
    """Why an application name is not explicit and deterministic, or None when it is fine."""
    if not _known(app_name):
        return None
    if not isinstance(app_name, str) or not app_name:
        return "is missing"
    if len(app_name) > 63 or not _DNS_LABEL_RE.match(app_name):
        return "is not a DNS label (lower-case letters, digits, '-'; 1-63 chars; alphanumeric at both ends)"
    if app_name in allowed_names:
        return None
    random_parts = [part for part in app_name.split("-") if random_looking_segment(part)]
    if random_parts:
        return (f"has random-looking part(s) {', '.join(random_parts)} (a generated suffix changes on "
                f"every run and orphans the previous app; list deliberate names in allowed_names)")
    return None


def check_app_names(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any] | None,
                    *, name: str = "", secret_outputs: Sequence[str] = ()) -> list[str]:
    """FuseML Application `name` and ModelServer `fuseml/app-name` are explicit, valid and deterministic.

    Why: the app name keys the FuseML registry, the `ovms-<app>` Service and the Istio host; a missing or
    generated name creates a new app on every run and leaves the old one orphaned.
    """
    label = _label(resource_type, props, name)
    allowed = _str_list(_setting(config, "allowed_names"))
    violations: list[str] = []
    if _is_fuseml_application(resource_type):
        app = props.get("name")
        problem = app_name_problem(app, allowed)
        if problem:
            violations.append(f"{label} application name {app!r} {problem}; names must be explicit DNS "
                              f"labels.")
    elif _is_model_server(resource_type):
        app = _get(props, "metadata", "labels", APP_NAME_LABEL)
        problem = app_name_problem(app, allowed)
        if problem:
            violations.append(f"{label} label {APP_NAME_LABEL}={app!r} {problem}; names must be explicit DNS "
                              f"labels.")
        server_name = _get(props, "metadata", "name")
        if isinstance(app, str) and app and isinstance(server_name, str) \
                and server_name != f"{MODEL_SERVER_NAME_PREFIX}{app}":
            violations.append(f"{label} metadata.name {server_name!r} does not match its app name; "
                              f"expected {MODEL_SERVER_NAME_PREFIX + app!r} so routes and the FuseML app "
                              f"stay in step.")
        if isinstance(server_name, str) and len(server_name) > 63:
            violations.append(f"{label} metadata.name {server_name!r} has {len(server_name)} characters; the "
                              f"operator's Service name must be at most 63.")
    return violations


# ---------------------------------------------------------------------------------------------------------
# Rule 9: production model servers are replicated.
# ---------------------------------------------------------------------------------------------------------
def check_prod_replicas(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any] | None,
                        *, name: str = "", secret_outputs: Sequence[str] = ()) -> list[str]:
    """A ModelServer labelled as production runs at least `min_replicas` replicas.

    Why: one replica means every node upgrade, repair or eviction is an outage of the prediction URL.
    """
    if not _is_model_server(resource_type):
        return []
    environment = _get(props, "metadata", "labels", ENVIRONMENT_LABEL)
    prod = {e.lower() for e in _str_list(_setting(config, "prod_environments"))}
    if not isinstance(environment, str) or environment.lower() not in prod:
        return []
    minimum = _as_int(_setting(config, "min_replicas")) or SETTING_DEFAULTS["min_replicas"]
    raw = _get(props, "spec", "deployment_parameters", "replicas")
    if not _known(raw):
        return []
    replicas = 1 if raw is None else _as_int(raw)  # the operator runs one replica when none is set
    if replicas is None or replicas < minimum:
        shown = "unset (1)" if raw is None else repr(raw)
        return [f"{_label(resource_type, props, name)} is {ENVIRONMENT_LABEL}={environment} but "
                f"spec.deployment_parameters.replicas is {shown}; production needs at least {minimum}."]
    return []


# ---------------------------------------------------------------------------------------------------------
# Rule 8: GKE hardening.
# ---------------------------------------------------------------------------------------------------------
def check_gke_hardening(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any] | None,
                        *, name: str = "", secret_outputs: Sequence[str] = ()) -> list[str]:
    """Clusters enable workload identity and shielded nodes; node pools auto-repair and use GKE_METADATA.

    Why: workload identity keeps node credentials away from OVMS pods pulling models, shielded nodes
    resist boot tampering, and auto-repair replaces broken serving nodes without a human.
    """
    label = _label(resource_type, props, name)
    violations: list[str] = []
    if resource_type == GKE_CLUSTER:
        pool = _get(props, "workloadIdentityConfig", "workloadPool")
        if _known(pool) and not (isinstance(pool, str) and pool.endswith(".svc.id.goog")):
            violations.append(f"{label} workloadIdentityConfig.workloadPool is {pool!r}; set it to "
                              f"'<project>.svc.id.goog' to enable workload identity.")
        shielded = props.get("enableShieldedNodes")
        if _known(shielded) and shielded is not True:
            violations.append(f"{label} enableShieldedNodes is {shielded!r}; it must be true.")
    elif resource_type == GKE_NODE_POOL:
        repair = _get(props, "management", "autoRepair")
        if _known(repair) and repair is not True:
            violations.append(f"{label} management.autoRepair is {repair!r}; it must be true.")
        mode = _get(props, "nodeConfig", "workloadMetadataConfig", "mode")
        if _known(mode) and mode != "GKE_METADATA":
            violations.append(f"{label} nodeConfig.workloadMetadataConfig.mode is {mode!r}; it must be "
                              f"'GKE_METADATA' or pods see the node's service account.")
    return violations


# ---------------------------------------------------------------------------------------------------------
# Stack rules: uniqueness, hosts in the gateway domain, routes to existing servers.
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


def check_unique_app_names(resources: Sequence[StackResource], config: Mapping[str, Any] | None) \
        -> StackViolations:
    """Application names are unique across the stack (FuseML apps and ModelServer app-name labels).

    Why: a second server or FuseML app with the same name overwrites the first one's registration and
    `ovms-<app>` Service, silently serving the wrong model.
    """
    apps = [(r.props["name"], r) for r in resources
            if _is_fuseml_application(r.resource_type) and isinstance(r.props.get("name"), str)]
    servers = [(app, r) for r in resources if _is_model_server(r.resource_type)
               for app in [_get(r.props, "metadata", "labels", APP_NAME_LABEL)] if isinstance(app, str)]
    return _duplicates(apps, "FuseML application name") + _duplicates(servers, f"label {APP_NAME_LABEL}")


def _vs_hosts(resource: StackResource) -> list[str]:
    return [h for h in _items(_get(resource.props, "spec", "hosts")) if isinstance(h, str)]


def check_unique_hosts(resources: Sequence[StackResource], config: Mapping[str, Any] | None) \
        -> StackViolations:
    """Every VirtualService host appears once in the stack.

    Why: Istio merges or picks arbitrarily between VirtualServices claiming one host on a gateway, so a
    duplicate sends one app's predictions to another app's model.
    """
    entries: list[tuple[str, StackResource]] = []
    violations: StackViolations = []
    for resource in resources:
        if not _is_istio(resource.resource_type, "VirtualService"):
            continue
        hosts = [h.lower() for h in _vs_hosts(resource)]
        repeated = sorted({h for h in hosts if hosts.count(h) > 1})
        if repeated:
            violations.append((resource.ref, f"{resource.label} lists host(s) {', '.join(repeated)} more "
                                             f"than once in spec.hosts."))
        entries.extend((h, resource) for h in sorted(set(hosts)))
    return violations + _duplicates(entries, "host")


def _gateway_host_patterns(gateway: StackResource) -> list[str]:
    """A Gateway's server hosts without their optional "namespace/" prefix."""
    patterns = []
    for server in _items(_get(gateway.props, "spec", "servers")):
        for host in _items(_get(server, "hosts")):
            if isinstance(host, str):
                patterns.append(host.split("/", 1)[-1].lower())
    return patterns


def host_matches(host: str, pattern: str) -> bool:
    """Istio host matching: "*" matches all, "*.suffix" any name under suffix, else exact."""
    host, pattern = host.lower(), pattern.lower()
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def _is_fqdn(host: str) -> bool:
    labels = host.lower().split(".")
    return len(labels) >= 2 and all(len(label) <= 63 and _DNS_LABEL_RE.match(label) for label in labels)


def _referenced_gateways(vs: StackResource, gateways: Sequence[StackResource]) -> list[StackResource]:
    """Gateways in the stack that a VirtualService's spec.gateways names ("ns/name" or "name")."""
    found = []
    for ref in _items(_get(vs.props, "spec", "gateways")):
        if not isinstance(ref, str) or ref == "mesh":
            continue
        ns, _, gw_name = ref.rpartition("/")
        ns = ns or vs.namespace
        for gateway in gateways:
            same_ns = ns is None or gateway.namespace is None or gateway.namespace == ns
            if _get(gateway.props, "metadata", "name") == gw_name and same_ns:
                found.append(gateway)
    return found


def check_hosts_in_domain(resources: Sequence[StackResource], config: Mapping[str, Any] | None) \
        -> StackViolations:
    """VirtualService hosts fall under the gateway domain.

    The domain is the `domain` setting when given; a host must also match the server hosts of any
    Gateway in the stack that the VirtualService references.  When neither is known the rule can only
    demand a concrete fully-qualified, non-wildcard host.  Why: a host outside the gateway's domain is
    silently unreachable, and a wildcard or foreign host hijacks other apps' traffic on a shared gateway.
    """
    domain = str(_setting(config, "domain") or "").strip().lower().removeprefix("*.").strip(".")
    gateways = [r for r in resources if _is_istio(r.resource_type, "Gateway")]
    violations: StackViolations = []
    if domain:
        for gateway in gateways:
            for pattern in _gateway_host_patterns(gateway):
                if pattern != "*" and not (pattern.endswith("." + domain) or pattern == domain):
                    violations.append((gateway.ref, f"{gateway.label} serves host {pattern!r}, outside the "
                                                    f"configured domain {domain!r}."))
    for vs in resources:
        if not _is_istio(vs.resource_type, "VirtualService"):
            continue
        referenced = _referenced_gateways(vs, gateways)
        patterns = [p for gateway in referenced for p in _gateway_host_patterns(gateway)]
        for host in _vs_hosts(vs):
            if "*" in host:
                violations.append((vs.ref, f"{vs.label} claims wildcard host {host!r}; each app needs its "
                                           f"own concrete host such as <app>.<prefix>.<domain>."))
                continue
            if domain and not host.lower().endswith("." + domain):
                violations.append((vs.ref, f"{vs.label} host {host!r} is not under the configured domain "
                                           f"{domain!r}; use <app>.<prefix>.{domain}."))
            if patterns and not any(host_matches(host, p) for p in patterns):
                names = ", ".join(g.label for g in referenced)
                violations.append((vs.ref, f"{vs.label} host {host!r} matches none of the hosts "
                                           f"{', '.join(patterns)} served by {names}, so it is unreachable."))
            if not domain and not patterns and not _is_fqdn(host):
                violations.append((vs.ref, f"{vs.label} host {host!r} is not a fully-qualified DNS name and "
                                           f"no domain is known (set the policy's domain or manage the "
                                           f"Gateway in this stack)."))
    return violations


def _server_index(resources: Sequence[StackResource]) -> dict[tuple[str | None, str], tuple[str, set[int]]]:
    """(namespace, service name) -> (label, ports) for ModelServers and Services in the stack."""
    index: dict[tuple[str | None, str], tuple[str, set[int]]] = {}
    for resource in resources:
        name = _get(resource.props, "metadata", "name")
        if not isinstance(name, str):
            continue
        if _is_model_server(resource.resource_type):
            params = _get(resource.props, "spec", "service_parameters")
            ports = {p for key in ("rest_port", "grpc_port") for p in [_as_int(_get(params, key))] if p}
        elif resource.resource_type == K8S_SERVICE:
            ports = {p for port in _items(_get(resource.props, "spec", "ports"))
                     for p in [_as_int(_get(port, "port"))] if p}
        else:
            continue
        index[(resource.namespace, name)] = (resource.label, ports)
    return index


def split_service_host(host: str, default_namespace: str | None) -> tuple[str | None, str]:
    """(namespace, name) of a mesh host: "svc", "svc.ns", "svc.ns.svc[.cluster.local]"."""
    parts = host.lower().split(".")
    if len(parts) == 1:
        return default_namespace, parts[0]
    if len(parts) == 2 or parts[2] == "svc":
        return parts[1], parts[0]
    return "<external>", host.lower()


def check_routes_to_server(resources: Sequence[StackResource], config: Mapping[str, Any] | None) \
        -> StackViolations:
    """Every VirtualService route targets a ModelServer (or Service) of this stack on one of its ports.

    Why: a route to a misspelled or absent server answers 503 at the published prediction URL while the
    deployment looks green.
    """
    servers = _server_index(resources)
    violations: StackViolations = []
    for vs in resources:
        if not _is_istio(vs.resource_type, "VirtualService"):
            continue
        spec = _get(vs.props, "spec")
        if not _known(spec):
            continue
        destinations = [_get(route, "destination")
                        for section in ("http", "tls", "tcp") for rule in _items(_get(spec, section))
                        for route in _items(_get(rule, "route"))]
        if not destinations:
            violations.append((vs.ref, f"{vs.label} has no spec.http[].route[].destination; it must route to "
                                       f"the app's ModelServer."))
        for destination in destinations:
            host = _get(destination, "host")
            if not _known(host):
                continue
            if not isinstance(host, str) or not host:
                violations.append((vs.ref, f"{vs.label} has a route without destination.host."))
                continue
            ns, service = split_service_host(host, vs.namespace)
            matches = [(key, value) for key, value in servers.items()
                       if key[1] == service and (ns is None or key[0] is None or key[0] == ns)]
            if not matches:
                known = ", ".join(sorted(f"{svc}.{ns}" if ns else svc for ns, svc in servers)) or "none"
                violations.append((vs.ref, f"{vs.label} routes to {host!r}, which is no ModelServer or "
                                           f"Service in this stack; known servers: {known}."))
                continue
            port = _as_int(_get(destination, "port", "number"))
            label, ports = matches[0][1]
            if port is not None and ports and port not in ports:
                violations.append((vs.ref, f"{vs.label} routes to {host!r} port {port}, but {label} "
                                           f"listens on {', '.join(str(p) for p in sorted(ports))}."))
    return violations


# ---------------------------------------------------------------------------------------------------------
# Policy catalogue: names, levels, config schemas, wrappers.
# ---------------------------------------------------------------------------------------------------------
ResourceCheck = Callable[..., list[str]]
StackCheck = Callable[[Sequence[StackResource], Mapping[str, Any] | None], StackViolations]

_STRINGS = {"type": "array", "items": {"type": "string"}}


@dataclass(frozen=True)
class RuleSpec:
    """One policy: its name, why-description, default level, check and config schema properties."""

    name: str
    description: str
    level: EnforcementLevel
    check: ResourceCheck | StackCheck
    stack: bool = False
    settings: Mapping[str, Mapping[str, Any]] | None = None


RULES: tuple[RuleSpec, ...] = (
    RuleSpec(
        "serving-node-pools-intel",
        "Mandatory: GKE node pools serving OVMS use Intel machine families with a pinned minimum CPU "
        "platform, because OpenVINO is tuned and benchmarked for Intel Xeon ISA (AVX-512/VNNI/AMX).",
        EnforcementLevel.MANDATORY, check_intel_node_pool,
        settings={
            "allowed_machine_families": {**_STRINGS, "default": sorted(INTEL_CPU_FAMILIES),
                                         "description": "Intel families allowed (a2/a3/g2 may be added)."},
            "exempt_node_pools": {**_STRINGS, "default": [],
                                  "description": "Node pool names (props or resource) that do not serve."},
        }),
    RuleSpec(
        "model-server-resources",
        "Advisory: every ModelServer sets cpu and memory requests and limits (requests <= limits), because "
        "unbounded OVMS pods starve neighbours and size their thread pools from the node's CPUs.",
        EnforcementLevel.ADVISORY, check_model_server_resources),
    RuleSpec(
        "model-server-nireq-bounded",
        "Advisory: nireq stays within 1..ceil(cpu cores) x nireq_per_core, because extra infer requests only "
        "queue and cost memory while zero makes OVMS refuse the model.",
        EnforcementLevel.ADVISORY, check_nireq_bounds,
        settings={"nireq_per_core": {"type": "integer", "minimum": 1, "default": 4,
                                     "description": "Infer requests allowed per CPU core."}}),
    RuleSpec(
        "model-server-plugin-config",
        "Advisory: plugin_config is a JSON object of known OpenVINO properties with valid values, because "
        "OVMS fails to load a model with an unknown or malformed plugin property.",
        EnforcementLevel.ADVISORY, check_plugin_config,
        settings={"extra_plugin_config_keys": {**_STRINGS, "default": [],
                                               "description": "Extra OpenVINO property names to accept."}}),
    RuleSpec(
        "no-plaintext-credentials",
        "Mandatory: no resource input holds a credential in plain text (only Secret data and the "
        "ModelServer's inline S3/Azure fields under additionalSecretOutputs=['spec']), because inputs land "
        "in state, previews and logs.",
        EnforcementLevel.MANDATORY, check_no_plaintext_credentials,
        settings={"extra_reference_fields": {**_STRINGS, "default": [],
                                             "description": "Field names that reference secrets."}}),
    RuleSpec(
        "images-pinned",
        "Mandatory: the OVMS image and every container image use a fixed tag or digest, because floating "
        "tags make deployments irreproducible and swap unreviewed builds in on restart.",
        EnforcementLevel.MANDATORY, check_images_pinned,
        settings={
            "floating_tags": {**_STRINGS, "default": ["latest", "main", "master", "nightly", "edge", "dev"],
                              "description": "Tags treated as floating (any tag starting with 'latest' is)."},
            "require_digest": {"type": "boolean", "default": False,
                               "description": "Demand @sha256 digests instead of tags."},
        }),
    RuleSpec(
        "app-names-deterministic",
        "Advisory: FuseML application names and ModelServer fuseml/app-name labels are explicit DNS labels "
        "without random-looking parts, because a generated name creates a new app every run.",
        EnforcementLevel.ADVISORY, check_app_names,
        settings={"allowed_names": {**_STRINGS, "default": [],
                                    "description": "Names exempt from the random-suffix heuristic."}}),
    RuleSpec(
        "app-names-unique",
        "Mandatory: application names are unique across the stack, because duplicates overwrite each other's "
        "FuseML registration and ovms-<app> Service.",
        EnforcementLevel.MANDATORY, check_unique_app_names, stack=True),
    RuleSpec(
        "virtualservice-hosts-unique",
        "Mandatory: each VirtualService host appears once in the stack, because Istio picks arbitrarily "
        "between VirtualServices claiming the same host.",
        EnforcementLevel.MANDATORY, check_unique_hosts, stack=True),
    RuleSpec(
        "virtualservice-hosts-in-domain",
        "Mandatory: VirtualService hosts are concrete names under the gateway domain (the domain setting, or "
        "the referenced Gateway's hosts), because other hosts are unreachable or hijack other apps' traffic.",
        EnforcementLevel.MANDATORY, check_hosts_in_domain, stack=True,
        settings={"domain": {"type": "string", "default": "",
                             "description": "Suffix hosts must fall under, e.g. 'serving.example.com'."}}),
    RuleSpec(
        "virtualservice-routes-to-server",
        "Mandatory: every VirtualService route targets a ModelServer (or Service) in the stack on one of its "
        "ports, because a dangling route serves 503s at the published prediction URL.",
        EnforcementLevel.MANDATORY, check_routes_to_server, stack=True),
    RuleSpec(
        "gke-hardened",
        "Advisory: GKE clusters enable workload identity and shielded nodes, and node pools auto-repair with "
        "GKE_METADATA, because serving pods must not see node credentials and broken nodes must heal.",
        EnforcementLevel.ADVISORY, check_gke_hardening),
    RuleSpec(
        "prod-model-server-replicas",
        "Advisory: ModelServers labelled fuseml-serving/environment=prod run at least min_replicas replicas, "
        "because a single replica turns every node upgrade or eviction into an outage.",
        EnforcementLevel.ADVISORY, check_prod_replicas,
        settings={
            "min_replicas": {"type": "integer", "minimum": 1, "default": 2,
                             "description": "Minimum replicas for production model servers."},
            "prod_environments": {**_STRINGS, "default": ["prod", "production"],
                                  "description": "Environment label values treated as production."},
        }),
)

RULES_BY_NAME: Mapping[str, RuleSpec] = {rule.name: rule for rule in RULES}
POLICY_LEVELS: Mapping[str, str] = {rule.name: rule.level.value for rule in RULES}
SETTING_DEFAULTS: dict[str, Any] = {key: schema["default"] for rule in RULES
                                    for key, schema in (rule.settings or {}).items()}
_LEVELS = frozenset(level.value for level in EnforcementLevel)


def policy_settings(policy_name: str, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One policy's settings: its schema defaults overlaid with `config` (enforcementLevel dropped)."""
    rule = RULES_BY_NAME[policy_name]
    settings = {key: schema["default"] for key, schema in (rule.settings or {}).items()}
    settings.update({k: v for k, v in (config or {}).items() if k != "enforcementLevel" and v is not None})
    return settings


def _resource_validator(rule: RuleSpec) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        secret_outputs = tuple(getattr(args.opts, "additional_secret_outputs", None) or ())
        props = to_plain(args.props)
        messages = rule.check(args.resource_type, props if isinstance(props, Mapping) else {},
                              policy_settings(rule.name, args.get_config()), name=args.name,
                              secret_outputs=secret_outputs)
        for message in messages:
            report_violation(message, None)
    return validate


def _stack_resource(resource: Any) -> StackResource:
    """A StackResource from an SDK PolicyResource."""
    props = to_plain(resource.props)
    secret_outputs = tuple(getattr(resource.opts, "additional_secret_outputs", None) or ())
    return StackResource(resource.resource_type, props if isinstance(props, Mapping) else {}, resource.urn,
                         resource.name, secret_outputs)


def _stack_validator(rule: RuleSpec) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [_stack_resource(r) for r in args.resources]
        for ref, message in rule.check(resources, policy_settings(rule.name, args.get_config())):
            report_violation(message, ref if ref.startswith("urn:") else None)
    return validate


def _config_schema(rule: RuleSpec) -> PolicyConfigSchema | None:
    if not rule.settings:
        return None
    return PolicyConfigSchema(properties={key: dict(schema) for key, schema in rule.settings.items()})


def build_policy(rule: RuleSpec) -> ResourceValidationPolicy | StackValidationPolicy:
    """The Pulumi policy object for one rule."""
    if rule.stack:
        return StackValidationPolicy(name=rule.name, description=rule.description,
                                     enforcement_level=rule.level, config_schema=_config_schema(rule),
                                     validate=_stack_validator(rule))
    return ResourceValidationPolicy(name=rule.name, description=rule.description,
                                    enforcement_level=rule.level, config_schema=_config_schema(rule),
                                    validate=_resource_validator(rule))


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [build_policy(rule) for rule in RULES]


# ---------------------------------------------------------------------------------------------------------
# Policy config files and the offline (no gRPC) evaluation helpers.
# ---------------------------------------------------------------------------------------------------------
_JSON_TYPES: Mapping[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "array": (list,),
}


def _check_setting(policy: str, key: str, value: Any, schema: Mapping[str, Any]) -> None:
    """Raise ValueError when a setting does not fit its (small) JSON schema."""
    expected = _JSON_TYPES[schema["type"]]
    if isinstance(value, float) and value.is_integer() and schema["type"] == "integer":
        value = int(value)
    bad_bool = isinstance(value, bool) and schema["type"] != "boolean"
    if bad_bool or not isinstance(value, expected):
        raise ValueError(f"policy config {policy}.{key}={value!r} must be of type {schema['type']}")
    if "minimum" in schema and value < schema["minimum"]:
        raise ValueError(f"policy config {policy}.{key}={value!r} must be >= {schema['minimum']}")
    if schema["type"] == "array" and not all(isinstance(item, str) for item in value):
        raise ValueError(f"policy config {policy}.{key} must be a list of strings, got {value!r}")


def _parse_level(policy: str, level: Any) -> str:
    if not isinstance(level, str) or level not in _LEVELS:
        raise ValueError(f"policy config {policy}: enforcement level {level!r} is not one of "
                         f"{sorted(_LEVELS)}")
    return level


def load_policy_config(source: str | Path | Mapping[str, Any] | None) -> dict[str, Any]:
    """A policy config as a dict: from a JSON file path, a mapping, or None (empty)."""
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return dict(source)
    data = json.loads(Path(source).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"policy config {source} must hold a JSON object, got {type(data).__name__}")
    return data


def merge_policy_config(source: str | Path | Mapping[str, Any] | None) \
        -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Merge a Pulumi policy config (file or mapping) into (levels, settings) for every policy.

    Accepts Pulumi's format: ``{"all": "advisory", "policy": "disabled", "other": {"enforcementLevel":
    "mandatory", "setting": value}}``; "all" applies first, named entries override it.  Unknown policies,
    settings, levels or badly typed settings raise ValueError, because a typo would silently weaken a rule.
    """
    raw = load_policy_config(source)
    levels = dict(POLICY_LEVELS)
    settings = {rule.name: policy_settings(rule.name) for rule in RULES}
    unknown = sorted(set(raw) - set(RULES_BY_NAME) - {"all"})
    if unknown:
        raise ValueError(f"policy config names unknown policies {unknown}; known: {sorted(RULES_BY_NAME)}")
    if "all" in raw:
        entry = raw["all"]
        level = _parse_level("all", entry.get("enforcementLevel") if isinstance(entry, Mapping) else entry)
        levels = dict.fromkeys(levels, level)
    for policy, entry in raw.items():
        if policy == "all":
            continue
        if not isinstance(entry, Mapping):
            levels[policy] = _parse_level(policy, entry)
            continue
        if "enforcementLevel" in entry:
            levels[policy] = _parse_level(policy, entry["enforcementLevel"])
        schema = RULES_BY_NAME[policy].settings or {}
        for key, value in entry.items():
            if key == "enforcementLevel":
                continue
            if key not in schema:
                raise ValueError(f"policy config {policy} has unknown setting {key!r}; known: "
                                 f"{sorted(schema)}")
            _check_setting(policy, key, value, schema[key])
            settings[policy][key] = value
    return levels, settings


def evaluate_resource(policy_name: str, resource_type: str, props: Mapping[str, Any],
                      opts_additional_secret_outputs: Sequence[str] = (),
                      config: Mapping[str, Any] | None = None, name: str = "") -> list[str]:
    """Run one resource policy on one resource without the gRPC server; returns violation messages.

    `config` is that policy's settings (schema defaults fill the rest).
    """
    rule = RULES_BY_NAME[policy_name]
    if rule.stack:
        raise ValueError(f"{policy_name} is a stack policy; use evaluate_stack")
    plain = to_plain(props)
    return rule.check(resource_type, plain if isinstance(plain, Mapping) else {},
                      policy_settings(policy_name, config), name=name,
                      secret_outputs=tuple(opts_additional_secret_outputs))


def stack_resource_from_dict(entry: Mapping[str, Any] | StackResource) -> StackResource:
    """A StackResource from a dict as found in `pulumi stack export` / preview JSON or built by hand.

    Keys: type|resource_type, props|inputs|outputs, urn, name (else taken from the URN),
    additionalSecretOutputs|additional_secret_outputs|secret_outputs.
    """
    if isinstance(entry, StackResource):
        return entry
    urn = str(entry.get("urn") or "")
    # URN: urn:pulumi:<stack>::<project>::<parent$...$type>::<name>
    urn_type = urn.split("::")[2].rsplit("$", 1)[-1] if urn.count("::") >= 3 else ""
    resource_type = entry.get("resource_type") or entry.get("type") or urn_type
    props = next((entry[k] for k in ("props", "inputs", "outputs") if isinstance(entry.get(k), Mapping)), {})
    secret_outputs = next((entry[k] for k in ("additionalSecretOutputs", "additional_secret_outputs",
                                              "secret_outputs") if entry.get(k)), ())
    name = str(entry.get("name") or (urn.rsplit("::", 1)[-1] if urn else ""))
    plain = to_plain(props)
    return StackResource(str(resource_type), plain if isinstance(plain, Mapping) else {}, urn, name,
                         tuple(secret_outputs))


def evaluate_stack(resources: Sequence[Mapping[str, Any] | StackResource],
                   config: str | Path | Mapping[str, Any] | None = None) -> dict[str, list[tuple[str, str]]]:
    """Run every enabled policy (resource and stack) over a stack without the gRPC server.

    `config` is a Pulumi policy config (file path or mapping).  Returns policy name ->
    [(urn or name, message)] for each enabled policy (an empty list when it passed); combine with the
    levels from merge_policy_config to decide what blocks.
    """
    levels, settings = merge_policy_config(config)
    stack = [stack_resource_from_dict(r) for r in resources]
    results: dict[str, list[tuple[str, str]]] = {}
    for rule in RULES:
        if levels[rule.name] == EnforcementLevel.DISABLED.value:
            continue
        if rule.stack:
            results[rule.name] = list(rule.check(stack, settings[rule.name]))
            continue
        results[rule.name] = [(r.ref, message) for r in stack
                              for message in rule.check(r.resource_type, r.props, settings[rule.name],
                                                        name=r.name, secret_outputs=r.secret_outputs)]
    return results
