"""ModelServer rules: requests and limits, bounded nireq, valid plugin_config, replicated production servers.

Why one module: all four read what a model server must declare (the OVMS operator's ModelServer spec, in
the CRD's snake_case fields; requests and limits also of KServe and Seldon servers), and how its CPU is
counted, stands in one place.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import EnforcementLevel

from kernel.quantities import SUFFIXES, parse_quantity

from .common import (
    ENVIRONMENT_LABEL,
    RuleSpec,
    _as_int,
    _get,
    _is_inference_service,
    _is_model_server,
    _is_modelmesh,
    _is_seldon_deployment,
    _items,
    _known,
    _label,
    _present,
    _str_list,
    _string_list,
)

#: Kubernetes quantities (cpu and memory amounts) are read with the kernel's one grammar; the suffix table
#: keeps its name here for the pack's readers.
QUANTITY_SUFFIXES: Mapping[str, float] = SUFFIXES


# ---------------------------------------------------------------------------------------------------------
# model-server-resources: model servers declare CPU and memory requests and limits.
# ---------------------------------------------------------------------------------------------------------
_RESOURCES_PATH = "spec.deployment_parameters.resources"
_ONE_MIB = float(2**20)
#: KServe's older per-framework predictor keys (predictor.<framework>.resources), still accepted by v1beta1.
KSERVE_FRAMEWORK_KEYS = (
    "tensorflow", "sklearn", "xgboost", "lightgbm", "onnx", "pytorch", "triton", "pmml", "paddle",
    "huggingface",
)


def _model_server_resources(props: Mapping[str, Any]) -> Any:
    return _get(props, "spec", "deployment_parameters", "resources")


def _resource_problems(label: str, resources: Any, where: str) -> list[str]:
    """What is missing or wrong in one server's `resources` (requests and limits of cpu and memory)."""
    if not _known(resources):
        return []
    violations: list[str] = []
    parsed: dict[tuple[str, str], float] = {}
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            value = _get(resources, kind, resource)
            path = f"{where}.{kind}.{resource}"
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


def _containers(value: Any, where: str) -> list[tuple[str, Any]]:
    """(path, resources) of every container in a list of containers."""
    return [(f"{where}[{index}].resources", _get(container, "resources"))
            for index, container in enumerate(_items(value)) if isinstance(container, Mapping)]


def _inference_service_servers(props: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(path, resources) of an InferenceService predictor: its model, custom containers or framework."""
    predictor = _get(props, "spec", "predictor")
    if not _known(predictor):
        return []
    if isinstance(_get(predictor, "model"), Mapping) or not _known(_get(predictor, "model")):
        return [("spec.predictor.model.resources", _get(predictor, "model", "resources"))]
    if _items(_get(predictor, "containers")):
        return _containers(_get(predictor, "containers"), "spec.predictor.containers")
    for framework in KSERVE_FRAMEWORK_KEYS:
        if isinstance(_get(predictor, framework), Mapping):
            return [(f"spec.predictor.{framework}.resources", _get(predictor, framework, "resources"))]
    return [("spec.predictor.model.resources", None)]


def _seldon_servers(label: str, props: Mapping[str, Any]) -> tuple[list[tuple[str, Any]], list[str]]:
    """(path, resources) of every SeldonDeployment componentSpecs container, and predictors without any."""
    servers: list[tuple[str, Any]] = []
    bare: list[str] = []
    for index, predictor in enumerate(_items(_get(props, "spec", "predictors"))):
        where = f"spec.predictors[{index}].componentSpecs"
        found = [server for spec_index, component in enumerate(_items(_get(predictor, "componentSpecs")))
                 for server in _containers(_get(component, "spec", "containers"),
                                           f"{where}[{spec_index}].spec.containers")]
        if found or not _known(_get(predictor, "componentSpecs")):
            servers.extend(found)
            continue
        bare.append(f"{label} has no container under {where}[].spec.containers for its graph, so Seldon "
                    f"starts the model server without cpu and memory requests and limits; add one named "
                    f"after the graph node with resources.")
    return servers, bare


def check_model_server_resources(resource_type: str, props: Mapping[str, Any],
                                 config: Mapping[str, Any] | None, *, name: str = "",
                                 secret_outputs: Sequence[str] = ()) -> list[str]:
    """Every model server sets cpu and memory requests and limits, with requests <= limits.

    Covers the OVMS operator's ModelServer, a KServe InferenceService's predictor (model, custom
    containers or a framework key) and every SeldonDeployment componentSpecs container.  A ModelMesh
    InferenceService runs no pod of its own (its ServingRuntime's shared pods do), so it is left out.

    Why: without requests the scheduler packs server pods onto busy nodes, and without limits one model
    can starve its neighbours; OVMS (under any operator) also sizes its thread pools from the CPU it sees.
    """
    label = _label(resource_type, props, name)
    if _is_model_server(resource_type):
        return _resource_problems(label, _model_server_resources(props), _RESOURCES_PATH)
    if _is_inference_service(resource_type) and not _is_modelmesh(resource_type, props):
        servers, violations = _inference_service_servers(props), []
    elif _is_seldon_deployment(resource_type):
        servers, violations = _seldon_servers(label, props)
    else:
        return []
    for where, resources in servers:
        violations.extend(_resource_problems(label, resources, where))
    return violations


MODEL_SERVER_RESOURCES = RuleSpec(
    "model-server-resources",
    "Advisory: every ModelServer, InferenceService predictor and SeldonDeployment container sets cpu and "
    "memory requests and limits (requests <= limits), because unbounded server pods starve neighbours and "
    "OVMS sizes its thread pools from the node's CPUs.",
    EnforcementLevel.ADVISORY, check_model_server_resources)


# ---------------------------------------------------------------------------------------------------------
# model-server-nireq-bounded: nireq within the CPU the server may use.
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
    per_core = _as_int(MODEL_SERVER_NIREQ_BOUNDED.setting(config, "nireq_per_core")) \
        or MODEL_SERVER_NIREQ_BOUNDED.default("nireq_per_core")
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


MODEL_SERVER_NIREQ_BOUNDED = RuleSpec(
    "model-server-nireq-bounded",
    "Advisory: nireq stays within 1..ceil(cpu cores) x nireq_per_core, because extra infer requests only "
    "queue and cost memory while zero makes OVMS refuse the model.",
    EnforcementLevel.ADVISORY, check_nireq_bounds,
    settings={"nireq_per_core": {"type": "integer", "minimum": 1, "default": 4,
                                 "description": "Infer requests allowed per CPU core."}})


# ---------------------------------------------------------------------------------------------------------
# model-server-plugin-config: only known OpenVINO properties with valid values.
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
    extra = set(_str_list(MODEL_SERVER_PLUGIN_CONFIG.setting(config, "extra_plugin_config_keys")))
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


MODEL_SERVER_PLUGIN_CONFIG = RuleSpec(
    "model-server-plugin-config",
    "Advisory: plugin_config is a JSON object of known OpenVINO properties with valid values, because "
    "OVMS fails to load a model with an unknown or malformed plugin property.",
    EnforcementLevel.ADVISORY, check_plugin_config,
    settings={"extra_plugin_config_keys": _string_list([], "Extra OpenVINO property names to accept.")})


# ---------------------------------------------------------------------------------------------------------
# prod-model-server-replicas: production model servers are replicated.
# ---------------------------------------------------------------------------------------------------------
def check_prod_replicas(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any] | None,
                        *, name: str = "", secret_outputs: Sequence[str] = ()) -> list[str]:
    """A ModelServer labelled as production runs at least `min_replicas` replicas.

    Why: one replica means every node upgrade, repair or eviction is an outage of the prediction URL.
    """
    if not _is_model_server(resource_type):
        return []
    environment = _get(props, "metadata", "labels", ENVIRONMENT_LABEL)
    prod = {e.lower() for e in _str_list(PROD_MODEL_SERVER_REPLICAS.setting(config, "prod_environments"))}
    if not isinstance(environment, str) or environment.lower() not in prod:
        return []
    minimum = _as_int(PROD_MODEL_SERVER_REPLICAS.setting(config, "min_replicas")) \
        or PROD_MODEL_SERVER_REPLICAS.default("min_replicas")
    raw = _get(props, "spec", "deployment_parameters", "replicas")
    if not _known(raw):
        return []
    replicas = 1 if raw is None else _as_int(raw)  # the operator runs one replica when none is set
    if replicas is None or replicas < minimum:
        shown = "unset (1)" if raw is None else repr(raw)
        return [f"{_label(resource_type, props, name)} is {ENVIRONMENT_LABEL}={environment} but "
                f"spec.deployment_parameters.replicas is {shown}; production needs at least {minimum}."]
    return []


PROD_MODEL_SERVER_REPLICAS = RuleSpec(
    "prod-model-server-replicas",
    "Advisory: ModelServers labelled fuseml-serving/environment=prod run at least min_replicas replicas, "
    "because a single replica turns every node upgrade or eviction into an outage.",
    EnforcementLevel.ADVISORY, check_prod_replicas,
    settings={
        "min_replicas": {"type": "integer", "minimum": 1, "default": 2,
                         "description": "Minimum replicas for production model servers."},
        "prod_environments": _string_list(["prod", "production"],
                                          "Environment label values treated as production."),
    })


RULES: tuple[RuleSpec, ...] = (
    MODEL_SERVER_RESOURCES, MODEL_SERVER_NIREQ_BOUNDED, MODEL_SERVER_PLUGIN_CONFIG,
    PROD_MODEL_SERVER_REPLICAS,
)
