"""Stack configuration: read once, validated whole, before any resource is registered.

Every setting of the `fuseml-serving` namespace is parsed here into frozen dataclasses, and every default
is stated once, in DEFAULTS and MODEL_DEFAULTS. `parse` is pure (no Pulumi runtime needed), so the FuseML
workflow step and the offline review validate with exactly the same rules and messages as `pulumi up`.
Model entries accept the raw strings a FuseML step receives (`nireq: "4"`,
`resources: '{"requests": {"cpu": 1}}'`, `""` for unset) as well as native YAML values.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

NAMESPACE = "fuseml-serving"

#: Top-level secret keys, read with `get_secret` and never stored in plain text.
SECRET_KEYS = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "gcs_credentials",
    "azure_storage_connection_string",
)

#: Defaults of the stack-level settings, each stated once.
DEFAULTS: dict[str, Any] = {
    "namespace": "fuseml-workloads",
    "environment": "dev",
    "cluster": {
        "mode": "existing",
        "name": "fuseml",
        "location": None,
        "project": None,
        "deletion_protection": True,
        "node_pool": {
            "name": "ovms-n2",
            "machine_type": "n2-standard-4",
            "min_cpu_platform": "Intel Cascade Lake",
            "node_count": None,
            "min_nodes": None,
            "max_nodes": None,
            "disk_size_gb": 100,
            "labels": {},
            "taints": [{"key": "fuseml-serving/dedicated", "value": "ovms", "effect": "PREFER_NO_SCHEDULE"}],
        },
    },
    "operator": {"install": True, "version": "1.2.0", "namespace": "ovms-operator-system", "manifests": None},
    "istio": {"gateway": "ovms", "create_gateway": False, "domain": None, "host_prefix": "ovms"},
    "storage": {"s3_endpoint": None, "aws_region": None, "models_volume_claim": None},
    "fuseml": {"url": None, "workflow": None, "register": True, "timeout_s": 10},
}

#: Node count of a fixed-size pool when neither node_count nor min/max_nodes is given (the tutorial's 2).
DEFAULT_NODE_COUNT = 2

#: Defaults of a model entry; the names are the OVMS predictor step's own input names.
MODEL_DEFAULTS: dict[str, Any] = {
    "model_name": "default",
    "ovms_image_tag": "2024.0",
    "loglevel": "INFO",
    "nireq": None,
    "plugin_config": None,
    "batch_size": None,
    "shape": None,
    "target_device": "CPU",
    "layout": None,
    "model_version_policy": None,
    "replicas": 1,
    "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
    "resources_limits": None,
    "prediction_type": "predict",
    "adopt": False,
}
MODEL_REQUIRED = ("app_name", "model")

ENVIRONMENTS = ("dev", "test", "staging", "prod")
CLUSTER_MODES = ("create", "existing")
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARNING", "ERROR")
PREDICTION_TYPES = ("predict", "classify", "regress")
#: OpenVINO 2023+ devices: MYRIAD and HDDL were removed in 2023.0, NPU added; GPU.<n> picks one GPU.
BASE_DEVICES = ("CPU", "GPU", "NPU")
#: Virtual devices taking a priority list: AUTO:GPU,CPU, MULTI:GPU,CPU, HETERO:GPU,CPU.
DEVICE_LISTS = ("AUTO", "MULTI", "HETERO")
REMOVED_DEVICES = ("MYRIAD", "HDDL")
#: The image variant with the GPU runtime (openvino/model_server:<release>-gpu).
GPU_IMAGE_SUFFIX = "-gpu"
#: The newest OVMS release the operator can run: 2026.3 removed the TensorFlow Serving API and a flag the
#: operator 1.2.0 always passes to the server.
OPERATOR_MAX_OVMS = (2026, 2)
#: Taint effects a model server can live with: the ModelServer CR (operator 1.2) has no tolerations
#: field, so a hard NoSchedule/NoExecute taint would leave every model server unschedulable.
TAINT_EFFECTS = ("PREFER_NO_SCHEDULE",)
#: Model URL schemes and the operator's storage_type for each.
#: OVMS reads az:// (Blob) and azfs:// (Files) for Azure, not azure:// (model_server src/filesystem.cpp).
STORAGE_TYPES = {"s3": "S3", "gs": "google", "az": "azure", "azfs": "azure", "": "cluster"}
#: The label the program puts on the Intel pool it creates, and the servers' node affinity selects.
POOL_LABEL = "fuseml-serving/pool"
#: Where the operator mounts storage.models_volume_claim in the server's pod.
MODELS_MOUNT = "/models"

#: Kubernetes object names built from an app name: `ovms-<app_name>`. The operator installs each
#: ModelServer as a Helm release named after the CR, and Helm refuses release names over 53 characters
#: (helm pkg/chartutil validateReleaseName); past it `pulumi up` succeeds and the route serves 503s.
RESOURCE_PREFIX = "ovms-"
HELM_RELEASE_NAME_MAX = 53
MAX_APP_NAME = HELM_RELEASE_NAME_MAX - len(RESOURCE_PREFIX)

#: RFC 1123 label, as Kubernetes checks names and hosts check each dot-separated part: at most 63 chars.
_DNS_LABEL = re.compile(r"^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
#: GKE cluster and node-pool names: a letter first, at most 40 chars (the GKE API's name rule).
_GKE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
_GKE_NAME_ALLOWED = "a GKE name: a lowercase letter, then letters, digits or '-', at most 40 chars"
#: Integers the ModelServer CRD and the GKE API hold as int32.
INT32_MAX = 2**31 - 1
#: A host name's limit (RFC 1123), for `<app_name>.<host_prefix>.<domain>`.
MAX_HOST = 253
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUANTITY = re.compile(r"^(\d+(\.\d*)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+)?$", re.ASCII)
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIM = r"(-1|\d+|\d+:\d+)"
_SHAPE_TUPLE = re.compile(rf"^\(\s*{_DIM}(\s*,\s*{_DIM})*\s*\)$")
_LAYOUT_PART = r"(\.\.\.|[NCHWD?])+"
_LAYOUT = re.compile(rf"^{_LAYOUT_PART}(:{_LAYOUT_PART})?$")
_MACHINE_TYPE = re.compile(r"^[a-z][a-z0-9]*-[a-z0-9-]+$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
#: A Kubernetes label value: at most 63 chars, alphanumeric at both ends.
LABEL_VALUE, LABEL_VALUE_MAX = _LABEL_VALUE, 63
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def printable(text: str) -> str:
    """Text with its unprintable characters escaped: a key the user wrote may hold a line separator
    (\x1c, \u2028, ...), and each mistake must stay one line of the report."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ConfigError(ValueError):
    """A stack setting is missing or invalid; the message names the setting, the value and what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str, *, context: str = "") -> None:
        self.key = key
        self.value = value
        self.allowed = allowed
        where = f"{NAMESPACE}:{printable(key)}" + (f" ({printable(context)})" if context else "")
        shown = (
            "nothing"
            if value is None
            else repr(value)
            if len(repr(value)) <= 120
            else repr(value)[:117] + "..."
        )
        super().__init__(f"{where}: got {shown}; allowed: {printable(allowed)}")

    @property
    def errors(self) -> list[ConfigError]:
        """The mistakes this error reports: itself (ConfigErrors holds several)."""
        return [self]


class ConfigErrors(ConfigError):
    """Every mistake of a stack at once: one line per mistake, each in ConfigError's shape.

    `key`, `value` and `allowed` are the first mistake's, so a caller that reads one error still can.
    """

    def __init__(self, errors: list[ConfigError]) -> None:
        self._errors = list(errors)
        first = self._errors[0]
        self.key, self.value, self.allowed = first.key, first.value, first.allowed
        ValueError.__init__(self, "\n".join(str(error) for error in self._errors))

    @property
    def errors(self) -> list[ConfigError]:
        return list(self._errors)


class _Mistakes:
    """Collects the ConfigErrors of independent checks, so one run reports all of them."""

    def __init__(self) -> None:
        self.found: list[ConfigError] = []

    def check(self, convert: Callable[..., Any], *args: Any) -> Any:
        """convert(*args), or None after recording why it failed."""
        try:
            return convert(*args)
        except ConfigError as error:
            self.found.extend(error.errors)
        return None

    def raise_any(self) -> None:
        if len(self.found) == 1:
            raise self.found[0]
        if self.found:
            raise ConfigErrors(self.found)


@dataclass(frozen=True)
class Taint:
    """A node pool taint in GKE's enum form (PREFER_NO_SCHEDULE)."""

    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class NodePoolConfig:
    """The Intel N2 node pool that runs the model servers."""

    name: str
    machine_type: str
    min_cpu_platform: str
    node_count: int | None
    min_nodes: int | None
    max_nodes: int | None
    disk_size_gb: int
    labels: dict[str, str]
    taints: tuple[Taint, ...]

    @property
    def autoscaling(self) -> bool:
        """Whether the pool autoscales between min_nodes and max_nodes."""
        return self.max_nodes is not None


@dataclass(frozen=True)
class ClusterConfig:
    """Where the model servers run: a GKE cluster this stack creates, or the ambient one."""

    mode: str
    name: str
    location: str | None
    project: str | None
    deletion_protection: bool
    node_pool: NodePoolConfig

    @property
    def create(self) -> bool:
        """Whether this stack creates (and owns) the GKE cluster."""
        return self.mode == "create"


@dataclass(frozen=True)
class OperatorConfig:
    """The OpenVINO operator: installed at a pinned version, or relied upon."""

    install: bool
    version: str
    namespace: str
    manifests: str | None
    """The kustomize folder to install from (a local folder or a git URL); None: the upstream release."""


@dataclass(frozen=True)
class IstioConfig:
    """How prediction routes are exposed: the Istio gateway and the hosts' domain."""

    gateway: str
    create_gateway: bool
    domain: str
    host_prefix: str

    def host(self, app_name: str) -> str:
        """The public host of an application: `<app_name>.<host_prefix>.<domain>`."""
        return f"{app_name}.{self.host_prefix}.{self.domain}"


@dataclass(frozen=True)
class StorageConfig:
    """Non-secret model storage settings."""

    s3_endpoint: str | None
    aws_region: str | None
    models_volume_claim: str | None


@dataclass(frozen=True)
class FusemlConfig:
    """Where and how model servers are registered as FuseML Applications."""

    url: str | None
    workflow: str | None
    register: bool
    timeout_s: float


@dataclass(frozen=True)
class ModelConfig:
    """One served model, with values already in the types the ModelServer CRD wants."""

    app_name: str
    model: str
    model_name: str
    ovms_image_tag: str
    loglevel: str
    nireq: int | None
    plugin_config: str | None
    batch_size: str | None
    shape: str | None
    target_device: str
    layout: str | None
    model_version_policy: str | None
    replicas: int
    requests: dict[str, str]
    limits: dict[str, str]
    prediction_type: str
    adopt: bool

    @property
    def storage_scheme(self) -> str:
        """The URL scheme of the model (empty for a local path)."""
        return self.model.split("://", 1)[0] if "://" in self.model else ""

    @property
    def resource_name(self) -> str:
        """The name of the ModelServer, its Service and its VirtualService."""
        return RESOURCE_PREFIX + self.app_name


@dataclass(frozen=True)
class StackConfig:
    """The whole validated stack configuration."""

    cluster: ClusterConfig
    namespace: str
    environment: str
    operator: OperatorConfig
    istio: IstioConfig
    storage: StorageConfig
    fuseml: FusemlConfig
    models: tuple[ModelConfig, ...]
    credentials: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    """Accepted but discouraged settings; the program logs each one."""

    def host(self, model: ModelConfig) -> str:
        """The public host of a model's prediction route."""
        return self.istio.host(model.app_name)

    def inference_url(self, model: ModelConfig) -> str:
        """The KServe v2 (open inference protocol) URL the same server answers: OVMS serves both APIs."""
        return f"http://{self.host(model)}/v2/models/{model.model_name}/infer"

    def prediction_url(self, model: ModelConfig) -> str:
        """The TensorFlow-Serving style URL a client posts prediction requests to."""
        return f"http://{self.host(model)}/v1/models/{model.model_name}:{model.prediction_type}"


# --- small typed readers -------------------------------------------------------------------------------


def _unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _section(raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A top-level config object merged over its defaults; blank values fall back to the default."""
    return _merged(raw.get(key), DEFAULTS[key], key, unset=_unset)


def _merged(
    value: Any, defaults: Mapping[str, Any], key: str, *, unset: Callable[[Any], bool]
) -> dict[str, Any]:
    """Merge a config object over its defaults, refusing unknown keys (a typo must not pass silently)."""
    if _unset(value):
        return dict(defaults)
    value = _decode_object(value, key, "an object")
    unknown = sorted(set(value) - set(defaults), key=str)
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", value[unknown[0]], f"one of the keys {', '.join(defaults)}")
    for name, given in value.items():
        # A blank the user wrote is not quietly replaced by the default: leaving the key out is how.
        if isinstance(given, str) and not given.strip() and defaults[name] is not None:
            raise ConfigError(
                f"{key}.{name}", given, f"a value, or no {name} key at all for the default {defaults[name]!r}"
            )
    return {**defaults, **{k: v for k, v in value.items() if not unset(v)}}


def decode_text(value: Any) -> Any:
    """The value a string stands for: JSON or YAML flow text, also when quoted once more by a shell.

    Every structured input (sections, resources, plugin_config, policies) is read this way, so
    `{PERFORMANCE_HINT: LATENCY}`, `{"PERFORMANCE_HINT": "LATENCY"}` and `'{"PERFORMANCE_HINT": "LATENCY"}'`
    mean the same everywhere. Raises yaml.YAMLError for text that is neither.
    """
    if not isinstance(value, str):
        return value
    try:
        # JSON first: YAML reads some valid JSON differently (tabs, exponents like 1e2 as strings).
        decoded = json.loads(value)
    except ValueError:
        decoded = yaml.safe_load(value)
    if isinstance(decoded, str) and decoded.strip()[:1] in ("{", "[") and decoded != value:
        decoded = yaml.safe_load(decoded)
    return decoded


def _decode_object(value: Any, key: str, allowed: str, context: str = "") -> Any:
    """Accept a mapping, or JSON/YAML flow text of one (FuseML passes step inputs as strings)."""
    try:
        decoded = decode_text(value)
    except yaml.YAMLError:
        raise ConfigError(key, value, allowed, context=context) from None
    if not isinstance(decoded, Mapping):
        raise ConfigError(key, value, allowed, context=context)
    return dict(decoded)


#: The words every boolean input accepts, stack config and step inputs alike (YAML 1.1's own, and 1/0).
TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")


def _bool(value: Any, key: str, context: str = "") -> bool:
    if isinstance(value, bool):
        return value
    word = value.strip().lower() if isinstance(value, str) else None
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise ConfigError(key, value, "true or false", context=context)


def _int(value: Any, key: str, minimum: int, context: str = "", allowed: str | None = None) -> int:
    """An integer >= minimum; integral floats pass because numbers can travel as doubles."""
    allowed = allowed or ("a positive integer" if minimum == 1 else f"an integer >= {minimum}")
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif _integral(value):
        number = int(value)
    if number is None or number < minimum:
        raise ConfigError(key, value, allowed, context=context)
    if number > INT32_MAX:
        bounded = f"{allowed} up to {INT32_MAX} (stored as a 32-bit integer)"
        raise ConfigError(key, value, bounded, context=context)
    return number


def _integral(value: Any) -> bool:
    """An integral float (numbers can travel as doubles) or a string of digits (FuseML step inputs)."""
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, str) and bool(re.fullmatch(r"\s*\d+\s*", value))


def _str(value: Any, key: str, pattern: re.Pattern[str], allowed: str, context: str = "") -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ConfigError(key, value, allowed, context=context)
    return value


def _choice(value: Any, key: str, choices: tuple[str, ...], context: str = "", fold: Callable = str) -> str:
    folded = fold(value) if isinstance(value, str) else value
    if folded not in choices:
        raise ConfigError(key, value, "one of " + ", ".join(choices), context=context)
    return folded


def _optional_str(value: Any, key: str) -> str | None:
    if _unset(value):
        return None
    if not isinstance(value, str):
        raise ConfigError(key, value, "a string")
    return value.strip()


# --- sections -------------------------------------------------------------------------------------------


def _labels(value: Any, key: str) -> dict[str, str]:
    labels = _decode_object(value, key, "a map of Kubernetes label names to values") if value else {}
    for name, label in labels.items():
        if not isinstance(name, str) or not _label_key_ok(name):
            raise ConfigError(f"{key}.{name}", name, "a Kubernetes label name ([prefix/]name, 63 chars)")
        if not isinstance(label, str) or len(label) > 63 or not _LABEL_VALUE.fullmatch(label):
            raise ConfigError(
                f"{key}.{name}", label, "a Kubernetes label value (63 chars, alphanumeric ends)"
            )
    return {str(k): str(v) for k, v in labels.items()}


def _label_key_ok(name: str) -> bool:
    prefix, _, base = name.rpartition("/")
    return (not prefix or (len(prefix) <= 253 and bool(_DNS_SUBDOMAIN.fullmatch(prefix)))) and (
        len(base) <= 63 and bool(_LABEL_NAME.fullmatch(base))
    )


def _taints(value: Any, key: str) -> tuple[Taint, ...]:
    if not isinstance(value, list):
        raise ConfigError(key, value, "a list of {key, value, effect}")
    taints = []
    for i, taint in enumerate(value):
        item = f"{key}[{i}]"
        taint = _decode_object(taint, item, "an object {key, value, effect}")
        if not isinstance(taint.get("key"), str) or not _label_key_ok(taint["key"]):
            raise ConfigError(f"{item}.key", taint.get("key"), "a Kubernetes label name")
        tvalue = taint.get("value", "")
        if not isinstance(tvalue, str) or not _LABEL_VALUE.fullmatch(tvalue):
            raise ConfigError(f"{item}.value", tvalue, "a Kubernetes label value")
        effect = taint.get("effect", TAINT_EFFECTS[0])
        effect = _choice(
            effect,
            f"{item}.effect",
            TAINT_EFFECTS,
            fold=lambda s: s.upper().replace("NOSCHEDULE", "NO_SCHEDULE"),
        )
        taints.append(Taint(taint["key"], tvalue, effect))
    return tuple(taints)


def _node_pool(raw: Any) -> NodePoolConfig:
    # Only None falls back here: a blank machine type or platform is an error, not the default.
    merged = _merged(raw, DEFAULTS["cluster"]["node_pool"], "cluster.node_pool", unset=lambda v: v is None)
    key = "cluster.node_pool"
    node_count = None if merged["node_count"] is None else _int(merged["node_count"], f"{key}.node_count", 1)
    min_nodes = None if merged["min_nodes"] is None else _int(merged["min_nodes"], f"{key}.min_nodes", 0)
    max_nodes = None if merged["max_nodes"] is None else _int(merged["max_nodes"], f"{key}.max_nodes", 1)
    if node_count is not None and (min_nodes is not None or max_nodes is not None):
        raise ConfigError(
            key, raw, "either node_count (fixed size) or min_nodes/max_nodes (autoscaling), not both"
        )
    if (min_nodes is None) != (max_nodes is None):
        raise ConfigError(key, raw, "min_nodes and max_nodes together")
    if min_nodes is not None and max_nodes is not None and min_nodes > max_nodes:
        raise ConfigError(f"{key}.min_nodes", min_nodes, f"at most max_nodes ({max_nodes})")
    if node_count is None and max_nodes is None:
        node_count = DEFAULT_NODE_COUNT
    return NodePoolConfig(
        name=_str(merged["name"], f"{key}.name", _GKE_NAME, _GKE_NAME_ALLOWED),
        machine_type=_str(merged["machine_type"], f"{key}.machine_type", _MACHINE_TYPE, "a GCE machine type"),
        min_cpu_platform=_str(
            merged["min_cpu_platform"], f"{key}.min_cpu_platform", re.compile(r".+"), "a CPU platform name"
        ),
        node_count=node_count,
        min_nodes=min_nodes,
        max_nodes=max_nodes,
        disk_size_gb=_int(merged["disk_size_gb"], f"{key}.disk_size_gb", 10),
        labels=_labels(merged["labels"], f"{key}.labels"),
        taints=_taints(merged["taints"], f"{key}.taints"),
    )


def _pool_of_mode(pool: NodePoolConfig, mode: str) -> NodePoolConfig:
    """In create mode the program sets POOL_LABEL itself: a user's value for it would be overwritten."""
    if mode == "create" and POOL_LABEL in pool.labels:
        raise ConfigError(
            f"cluster.node_pool.labels.{POOL_LABEL}",
            pool.labels[POOL_LABEL],
            f"a label key of your own: the program sets {POOL_LABEL} to the pool's name ({pool.name}) "
            "and pins the servers to it",
        )
    return pool


def _cluster(raw: Mapping[str, Any], gcp: Mapping[str, str | None]) -> ClusterConfig:
    """The cluster section; project and location fall back to the GCP provider's own config."""
    section = _section(raw, "cluster")
    mode = _choice(section["mode"], "cluster.mode", CLUSTER_MODES)
    location = _optional_str(section["location"], "cluster.location") or gcp.get("zone") or gcp.get("region")
    if mode == "create" and not location:
        raise ConfigError(
            "cluster.location",
            None,
            "a GCP zone or region (e.g. europe-central2-a) in create mode, here or as the provider's "
            "gcp:zone or gcp:region",
        )
    project = _optional_str(section["project"], "cluster.project") or gcp.get("project")
    if mode == "create" and not project:
        raise ConfigError(
            "cluster.project",
            None,
            "the GCP project that owns the cluster, in create mode, here or as the provider's gcp:project",
        )
    return ClusterConfig(
        mode=mode,
        name=_str(section["name"], "cluster.name", _GKE_NAME, _GKE_NAME_ALLOWED),
        location=location,
        project=project,
        deletion_protection=_bool(section["deletion_protection"], "cluster.deletion_protection"),
        node_pool=_pool_of_mode(_node_pool(section["node_pool"]), mode),
    )


def _istio(raw: Mapping[str, Any]) -> IstioConfig:
    section = _section(raw, "istio")
    domain = section["domain"]
    if (
        _unset(domain)
        or not isinstance(domain, str)
        or not _DNS_SUBDOMAIN.fullmatch(domain)
        or not all(_DNS_LABEL.fullmatch(part) for part in domain.split("."))
    ):
        raise ConfigError(
            "istio.domain", domain, "the DNS domain of the Istio ingress, e.g. 34.118.93.249.nip.io"
        )
    gateway = section["gateway"]
    if not isinstance(gateway, str) or not all(_DNS_LABEL.fullmatch(p) for p in gateway.split("/", 1)):
        raise ConfigError("istio.gateway", gateway, "a Gateway name, or <namespace>/<name>")
    return IstioConfig(
        gateway=gateway,
        create_gateway=_bool(section["create_gateway"], "istio.create_gateway"),
        domain=domain,
        host_prefix=_str(section["host_prefix"], "istio.host_prefix", _DNS_LABEL, "a DNS label"),
    )


def _fuseml(raw: Mapping[str, Any]) -> FusemlConfig:
    section = _section(raw, "fuseml")
    register = _bool(section["register"], "fuseml.register")
    url = _optional_str(section["url"], "fuseml.url")
    if register and not (url and re.fullmatch(r"https?://[^\s/]+(/\S*)?", url)):
        raise ConfigError(
            "fuseml.url", url, "the FuseML server URL (http[s]://...) when fuseml.register is true"
        )
    timeout = section["timeout_s"]
    if isinstance(timeout, str) and re.fullmatch(r"\s*\d+(\.\d*)?\s*", timeout):
        timeout = float(timeout)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        raise ConfigError("fuseml.timeout_s", section["timeout_s"], "a number of seconds in (0, 300]")
    workflow = _optional_str(section["workflow"], "fuseml.workflow")
    if workflow is not None and not _DNS_LABEL.fullmatch(workflow):
        raise ConfigError("fuseml.workflow", workflow, "a workflow name (a DNS label)")
    return FusemlConfig(url=url, workflow=workflow, register=register, timeout_s=float(timeout))


# --- model entries --------------------------------------------------------------------------------------


def _json_text(value: Any, key: str, allowed: str, context: str, check: Callable[[Any], bool]) -> str:
    """Normalise an object (or its JSON text) to compact JSON text, the form the CRD wants."""
    try:
        parsed = decode_text(value)
    except yaml.YAMLError:
        raise ConfigError(key, value, allowed, context=context) from None
    if not check(parsed):
        raise ConfigError(key, value, allowed, context=context)
    return json.dumps(parsed, separators=(",", ":"))


def _plugin_config_ok(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str | int | float | bool) for k, v in value.items()
    )


def _version_policy_ok(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((kind, body),) = value.items()
    if kind == "all":
        return body == {}
    if kind == "latest":
        return isinstance(body, dict) and set(body) == {"num_versions"} and _is_int(body["num_versions"], 1)
    if kind == "specific":
        if not isinstance(body, dict):
            return False
        versions = body.get("versions")
        return (
            set(body) == {"versions"}
            and isinstance(versions, list)
            and bool(versions)
            and all(_is_int(v, 1) for v in versions)
        )
    return False


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


#: What OVMS reads as batch_size: a fixed size, -1 for any, or a range min:max; `auto` still works but is
#: deprecated upstream in favour of those (it reloads the model on every change of batch).
_BATCH = re.compile(r"^\s*(-1|[1-9]\d*|[1-9]\d*:[1-9]\d*)\s*$")
BATCH_AUTO_WARNING = (
    "'auto' is deprecated in OpenVINO Model Server (it reloads the model whenever the batch changes): "
    "use -1 (any batch) or a range such as 1:8"
)


def _batch_size(value: Any, key: str, context: str) -> str:
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if _integral(text) and not isinstance(text, str):
        text = str(int(text))
    match = _BATCH.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        allowed = "a positive integer, -1 (any batch), a range like 1:8, or 'auto'"
        raise ConfigError(key, value, allowed, context=context)
    low, _, high = match[1].partition(":")
    if high and int(low) > int(high):
        allowed = f"a range min:max with min <= max (got {low} > {high})"
        raise ConfigError(key, value, allowed, context=context)
    return match[1]


_SHAPE_ALLOWED = "'auto', a tuple like (1,3,224,224), or a map of input names to tuples"
_LAYOUT_ALLOWED = "a layout like NHWC or NCHW:NHWC, or a map of input names to layouts"


def _per_input(value: Any, key: str, context: str, allowed: str, one: Callable[[str], bool]) -> str:
    """Shape and layout: a single value, or a map of input name to value (JSON text for the CRD)."""
    if isinstance(value, str) and one(value.strip()):
        return value.strip().replace(" ", "")
    if isinstance(value, str) and value.strip().startswith("{"):
        value = _map_text(value.strip(), key, context, allowed)
    if (
        isinstance(value, Mapping)
        and value
        and all(isinstance(k, str) and k and isinstance(v, str) and one(v.strip()) for k, v in value.items())
    ):
        return json.dumps({k: v.strip().replace(" ", "") for k, v in value.items()}, separators=(",", ":"))
    raise ConfigError(key, value, allowed, context=context)


def _map_text(text: str, key: str, context: str, allowed: str) -> Any:
    """Parse `{"in": "(1,3)"}` JSON, or OVMS's unquoted CLI form `{in1:(1,3,224,224),in2:(1,3,50,50)}`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    body = text[1:-1] if text.endswith("}") else None
    pairs = re.findall(r"\s*([^:,{}()\s]+)\s*:\s*(\([^)]*\)|[^,]+)\s*(?:,|$)", body or "")
    if not pairs:
        raise ConfigError(key, text, allowed, context=context)
    return {name: val for name, val in pairs}


def _shape_ok(text: str) -> bool:
    return text == "auto" or bool(_SHAPE_TUPLE.fullmatch(text))


def _device_ok(name: str) -> bool:
    return name in BASE_DEVICES or bool(re.fullmatch(r"GPU\.\d+", name))


def _target_device(value: Any, key: str, context: str) -> str:
    allowed = (
        f"one of {', '.join(BASE_DEVICES)} or GPU.<n>, or {', '.join(DEVICE_LISTS)} alone or followed by ':' "
        "and a comma list of them (AUTO:GPU,CPU)"
    )
    if not isinstance(value, str):
        raise ConfigError(key, value, allowed, context=context)
    text = value.strip().upper()
    removed = [d for d in REMOVED_DEVICES if d in re.split(r"[:,]", text)]
    if removed:
        allowed += f"; {removed[0]} was removed in OpenVINO 2023.0"
        raise ConfigError(key, value, allowed, context=context)
    if _device_ok(text) or text == "AUTO":
        return text
    kind, _, devices = text.partition(":")
    names = devices.split(",") if devices else []
    if kind in DEVICE_LISTS and names and all(_device_ok(d) for d in names):
        return text
    raise ConfigError(key, value, allowed, context=context)


def _image_tag(tag: Any, device: str, key: str, context: str) -> str:
    """A pinned release tag the operator can run, with the -gpu variant for a GPU device."""
    if not isinstance(tag, str) or not _IMAGE_TAG.fullmatch(tag) or tag.lower().startswith("latest"):
        raise ConfigError(key, tag, "a pinned image tag such as 2024.0 (not latest)", context=context)
    release = re.match(r"(\d{4})\.(\d+)", tag)
    if release and (int(release[1]), int(release[2])) > OPERATOR_MAX_OVMS:
        newest = ".".join(map(str, OPERATOR_MAX_OVMS))
        raise ConfigError(
            key,
            tag,
            f"a release up to {newest}: OVMS 2026.3 removed the TensorFlow Serving API and a flag the "
            "OpenVINO operator 1.2.0 always passes",
            context=context,
        )
    if "GPU" in device and not tag.endswith(GPU_IMAGE_SUFFIX):
        allowed = (
            f"the {GPU_IMAGE_SUFFIX} image variant (e.g. 2024.0{GPU_IMAGE_SUFFIX}) for target_device "
            f"{device}: the plain image has no GPU runtime"
        )
        raise ConfigError(key, tag, allowed, context=context)
    return tag


def _quantity(value: Any, key: str, context: str, integer: bool = False) -> str:
    text = value
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value) if abs(value) < 10**18 else None
    elif isinstance(value, float):
        text = repr(value) if math.isfinite(value) else None
    pattern = re.compile(r"^\d+$", re.ASCII) if integer else _QUANTITY
    if not isinstance(text, str) or not pattern.fullmatch(text.strip()):
        allowed = (
            "a whole number (extended resources)" if integer else "a Kubernetes quantity like 500m, 2, 1Gi"
        )
        raise ConfigError(key, value, allowed, context=context)
    return text.strip()


#: Resource names the ModelServer CRD can carry; any other name is an extended device resource.
CORE_RESOURCES = ("cpu", "memory")
#: Kubernetes' other built-in resource names (k8s.io/api core/v1 ResourceName): valid on a Pod, but the
#: ModelServer CRD (operator 1.2.0) holds only cpu, memory and one device, so they cannot be passed on.
_UNHOLDABLE = re.compile(r"^(ephemeral-storage|storage|hugepages-\S+|pods)$")
#: An extended resource is fully qualified, `<domain>/<name>`, outside the kubernetes.io domain
#: (k8s.io/kubernetes pkg/apis/core/helper IsExtendedResourceName).
_EXTENDED = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
#: The least memory that is not a slip: a bare number is bytes and `m` thousandths of one.
_MIN_MEMORY = 2**20


def _resource_name(name: Any, key: str, context: str) -> str:
    allowed = "cpu, memory, or a device resource <vendor domain>/<name> like gpu.intel.com/i915"
    if not isinstance(name, str):
        raise ConfigError(key, name, allowed, context=context)
    if name in CORE_RESOURCES:
        return name
    if name.lower() in CORE_RESOURCES:
        lowercase = f"{allowed} (resource names are lowercase: {name.lower()})"
        raise ConfigError(key, name, lowercase, context=context)
    if _UNHOLDABLE.fullmatch(name):
        unholdable = f"{allowed}: {name} is a Kubernetes resource the ModelServer CRD cannot hold"
        raise ConfigError(key, name, unholdable, context=context)
    domain = name.split("/", 1)[0]
    if not _EXTENDED.fullmatch(name) or domain == "kubernetes.io" or domain.endswith(".kubernetes.io"):
        raise ConfigError(key, name, allowed, context=context)
    return name


def _resource_map(value: Any, key: str, context: str) -> dict[str, str]:
    mapping = _decode_object(value, key, "a map of resource names to Kubernetes quantities", context)
    result = {}
    for name, qty in mapping.items():
        name = _resource_name(name, f"{key}.{name}", context)
        result[name] = _quantity(qty, f"{key}.{name}", context, integer=name not in CORE_RESOURCES)
        _sensible(name, result[name], f"{key}.{name}", context)
    extended = [n for n in result if n not in CORE_RESOURCES]
    if len(extended) > 1:
        raise ConfigError(
            key, mapping, "at most one extended device resource (the CRD has one xpu_device)", context=context
        )
    return result


def _sensible(name: str, quantity: str, key: str, context: str) -> None:
    """Refuse quantities that parse but cannot be meant: memory in bytes or millibytes, no CPU at all."""
    amount = _quantity_value(quantity)
    if name == "memory" and (quantity.endswith("m") or amount < _MIN_MEMORY):
        allowed = "a memory size of at least 1Mi, like 512Mi or 2Gi (a bare number is bytes, m thousandths)"
        raise ConfigError(key, quantity, allowed, context=context)
    if name == "cpu" and amount < 1e-3:
        allowed = "a CPU amount of at least 1m (a thousandth of a core)"
        raise ConfigError(key, quantity, allowed, context=context)
    if name not in CORE_RESOURCES and amount < 1:
        raise ConfigError(key, quantity, "a whole number of devices, at least 1", context=context)


def _resources(entry: Mapping[str, Any], context: str, prefix: str) -> tuple[dict[str, str], dict[str, str]]:
    """Requests and limits, as Kubernetes reads them: a limit without a request makes the request equal.

    With neither, the defaults apply, and limits default to the requests (Guaranteed QoS keeps OVMS
    latency steady). An error names the key the user wrote, `resources.limits` or `resources_limits`.
    """
    key = f"{prefix}.resources"
    given = entry.get("resources")
    shape = "an object {requests: {...}, limits: {...}}"
    resources = {} if _unset(given) else _decode_object(given, key, shape, context)
    unknown = sorted(set(resources) - {"requests", "limits"}, key=str)
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", resources[unknown[0]], "requests or limits", context=context)
    asked = {}
    if not _unset(resources.get("requests")):
        asked = _resource_map(resources["requests"], f"{key}.requests", context)
    limits_from: dict[str, str] = {}
    limits: dict[str, str] = {}
    sources = (
        (f"{key}.limits", resources.get("limits")),
        (f"{prefix}.resources_limits", entry.get("resources_limits")),
    )
    for source, value in sources:
        if not _unset(value):
            for name, quantity in _resource_map(value, source, context).items():
                limits[name], limits_from[name] = quantity, source
    no_resources = _unset(given) and _unset(entry.get("resources_limits"))
    defaults = MODEL_DEFAULTS["resources"]["requests"] if no_resources else {}
    requests = {**defaults, **asked}
    for name in CORE_RESOURCES:
        if name not in requests:
            requests[name] = limits.get(name, MODEL_DEFAULTS["resources"]["requests"][name])
    for name, quantity in requests.items():
        if name not in limits:
            limits[name], limits_from[name] = quantity, f"{key}.requests"
    devices = [n for n in limits if n not in CORE_RESOURCES]
    if len(devices) > 1:
        raise ConfigError(
            f"{limits_from[devices[1]]}.{devices[1]}",
            limits[devices[1]],
            f"no second device beside {devices[0]}: the ModelServer CRD holds one xpu_device",
            context=context,
        )
    for name in devices:
        # Kubernetes refuses a Pod whose extended-resource request differs from its limit.
        if name in requests and requests[name] != limits[name]:
            raise ConfigError(
                f"{limits_from[name]}.{name}",
                limits[name],
                f"the device request ({requests[name]}): Kubernetes wants a device's request and limit equal",
                context=context,
            )
    for name in CORE_RESOURCES:
        if _quantity_value(requests[name]) > _quantity_value(limits[name]):
            raise ConfigError(
                f"{limits_from[name]}.{name}",
                limits[name],
                f"at least the request ({requests[name]})",
                context=context,
            )
    return requests, limits


_SUFFIX = {
    "m": 1e-3,
    "": 1,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def _quantity_value(text: str) -> float:
    """The numeric value of a Kubernetes quantity (validated beforehand)."""
    match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)(.*)", text)
    assert match is not None
    number, suffix = match.groups()
    if suffix in _SUFFIX:
        return float(number) * _SUFFIX[suffix]
    return float(number + suffix)  # a decimal exponent, e.g. 1e3


def _model_url(value: Any, key: str, context: str) -> str:
    allowed = "an s3://, gs://, az:// or azfs:// URL with a bucket, or an absolute local path"
    if not isinstance(value, str):
        raise ConfigError(key, value, allowed, context=context)
    text = value.strip()
    if text.startswith("/") and "://" not in text:
        return text
    scheme, sep, rest = text.partition("://")
    if scheme.lower() == "azure":
        allowed += f": OVMS reads Azure Blob Storage as az:// (write az://{rest})"
        raise ConfigError(key, value, allowed, context=context)
    if (
        not sep
        or scheme.lower() not in STORAGE_TYPES
        or not scheme
        or not re.fullmatch(r"[^/\s]+(/\S*)?", rest)
    ):
        raise ConfigError(key, value, allowed, context=context)
    return f"{scheme.lower()}://{rest}"


def _model(entry: Any, index: int) -> ModelConfig:
    prefix = f"models[{index}]"
    if not isinstance(entry, Mapping):
        raise ConfigError(prefix, entry, "an object with at least app_name and model")
    app_name = entry.get("app_name")
    context = f"app {app_name!r}" if isinstance(app_name, str) and app_name else ""
    allowed_keys = (*MODEL_REQUIRED, *MODEL_DEFAULTS)
    unknown = sorted(set(entry) - set(allowed_keys))
    if unknown:
        raise ConfigError(
            f"{prefix}.{unknown[0]}",
            entry[unknown[0]],
            "one of the keys " + ", ".join(allowed_keys),
            context=context,
        )
    if _unset(app_name):
        raise ConfigError(
            f"{prefix}.app_name", app_name, "a DNS label naming the FuseML application (required)"
        )
    if not isinstance(app_name, str) or len(app_name) > MAX_APP_NAME or not _DNS_LABEL.fullmatch(app_name):
        raise ConfigError(
            f"{prefix}.app_name",
            app_name,
            f"lowercase letters, digits and '-', starting and ending alphanumeric, at most {MAX_APP_NAME} "
            f"chars (it names the Kubernetes objects {RESOURCE_PREFIX}<app_name>, and the operator's Helm "
            f"release of that name must fit Helm's {HELM_RELEASE_NAME_MAX})",
        )
    if _unset(entry.get("model")):
        raise ConfigError(f"{prefix}.model", entry.get("model"), "the model URL (required)", context=context)
    merged = {**MODEL_DEFAULTS, **{k: v for k, v in entry.items() if not _unset(v)}}

    mistakes = _Mistakes()
    check = mistakes.check

    def opt(name: str, convert: Callable[[Any, str, str], Any]) -> Any:
        return None if _unset(merged[name]) else check(convert, merged[name], f"{prefix}.{name}", context)

    device = check(_target_device, merged["target_device"], f"{prefix}.target_device", context)
    tag = check(_image_tag, merged["ovms_image_tag"], device or "CPU", f"{prefix}.ovms_image_tag", context)
    model_name = check(_model_name, merged["model_name"], f"{prefix}.model_name", context)
    # The entry as written: the resources default applies only when neither resources key is given.
    resources = check(_resources, {k: v for k, v in entry.items() if not _unset(v)}, context, prefix)
    fields = {
        "model": check(_model_url, merged["model"], f"{prefix}.model", context),
        "loglevel": check(_choice, merged["loglevel"], f"{prefix}.loglevel", LOG_LEVELS, context, str.upper),
        "nireq": opt("nireq", lambda v, k, c: _int(v, k, 1, c)),
        "plugin_config": opt(
            "plugin_config",
            lambda v, k, c: _json_text(v, k, "a JSON object of plugin keys to values", c, _plugin_config_ok),
        ),
        "batch_size": opt("batch_size", _batch_size),
        "shape": opt("shape", lambda v, k, c: _per_input(v, k, c, _SHAPE_ALLOWED, _shape_ok)),
        "layout": opt(
            "layout",
            lambda v, k, c: _per_input(v, k, c, _LAYOUT_ALLOWED, lambda t: bool(_LAYOUT.fullmatch(t))),
        ),
        "model_version_policy": opt(
            "model_version_policy",
            lambda v, k, c: _json_text(
                v,
                k,
                '{"all": {}}, {"latest": {"num_versions": N}} or {"specific": {"versions": [N, ...]}}',
                c,
                _version_policy_ok,
            ),
        ),
        "replicas": check(_int, merged["replicas"], f"{prefix}.replicas", 1, context),
        "prediction_type": check(
            _choice, merged["prediction_type"], f"{prefix}.prediction_type", PREDICTION_TYPES, context,
            str.lower,
        ),
        "adopt": check(_bool, merged["adopt"], f"{prefix}.adopt", context),
    }
    mistakes.raise_any()
    requests, limits = resources
    return ModelConfig(
        app_name=app_name,
        model_name=model_name,
        ovms_image_tag=tag,
        target_device=device,
        requests=requests,
        limits=limits,
        **fields,
    )


def _model_name(value: Any, key: str, context: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value):
        raise ConfigError(key, value, "letters, digits, '_', '.', '-'", context=context)
    return value


def _check_storage(
    index: int, model: ModelConfig, storage: StorageConfig, secrets: Mapping[str, Any]
) -> None:
    """Refuse a model whose storage cannot be reached with what is configured."""
    context = f"app {model.app_name!r}"
    if model.storage_scheme == "s3" and not all(
        secrets.get(k) is not None for k in ("aws_access_key_id", "aws_secret_access_key")
    ):
        raise ConfigError(
            f"models[{index}].model",
            model.model,
            "an s3:// URL only with S3 credentials: pulumi config set --secret "
            f"{NAMESPACE}:aws_access_key_id ... and {NAMESPACE}:aws_secret_access_key ...",
            context=context,
        )
    if model.storage_scheme == "" and not storage.models_volume_claim:
        raise ConfigError(
            f"models[{index}].model",
            model.model,
            f"a local path only with storage.models_volume_claim (the PVC mounted at {MODELS_MOUNT})",
            context=context,
        )
    if model.storage_scheme == "" and not model.model.startswith(MODELS_MOUNT + "/"):
        raise ConfigError(
            f"models[{index}].model",
            model.model,
            f"a local path under {MODELS_MOUNT}/, where the operator mounts storage.models_volume_claim "
            f"{storage.models_volume_claim!r}",
            context=context,
        )


def gateway_ref(gateway: str, namespace: str) -> tuple[str, str]:
    """(namespace, name) of an istio.gateway value: `<namespace>/<name>`, or a bare name in `namespace`."""
    other, _, name = gateway.rpartition("/")
    return other or namespace, name


def _check_host(index: int, model: ModelConfig, istio: IstioConfig) -> None:
    host = istio.host(model.app_name)
    if len(host) > MAX_HOST:
        raise ConfigError(
            f"models[{index}].app_name",
            model.app_name,
            f"a name short enough for its host {host[:40]}... ({len(host)} chars) to fit {MAX_HOST}",
            context=f"app {model.app_name!r}",
        )


def _top_level_key(key: str, value: Any) -> None:
    known = (*DEFAULTS, "models", *SECRET_KEYS)
    if key not in known:
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(key, value, "one of the keys " + ", ".join(known) + hint)
    if key in SECRET_KEYS:
        raise ConfigError(key, "<hidden>", f"a secret: pulumi config set --secret {NAMESPACE}:{key}")


def _namespace(raw: Mapping[str, Any]) -> str:
    namespace = raw.get("namespace", DEFAULTS["namespace"])
    if not isinstance(namespace, str) or not _DNS_LABEL.fullmatch(namespace):
        raise ConfigError("namespace", namespace, "a Kubernetes namespace name (DNS label)")
    return namespace


def _operator(raw: Mapping[str, Any]) -> OperatorConfig:
    operator = _section(raw, "operator")
    mistakes = _Mistakes()
    found = OperatorConfig(
        install=mistakes.check(_bool, operator["install"], "operator.install"),
        version=mistakes.check(
            _str, operator["version"], "operator.version", _VERSION, "a pinned release like 1.2.0"
        ),
        namespace=mistakes.check(
            _str, operator["namespace"], "operator.namespace", _DNS_LABEL, "a namespace name"
        ),
        manifests=mistakes.check(_manifests, operator["manifests"]),
    )
    mistakes.raise_any()
    return found


def _storage(raw: Mapping[str, Any]) -> StorageConfig:
    section = _section(raw, "storage")
    return StorageConfig(
        s3_endpoint=_optional_str(section["s3_endpoint"], "storage.s3_endpoint"),
        aws_region=_optional_str(section["aws_region"], "storage.aws_region"),
        models_volume_claim=_optional_str(section["models_volume_claim"], "storage.models_volume_claim"),
    )


def _model_entries(raw: Mapping[str, Any]) -> list[Any]:
    models_raw = raw.get("models")
    if isinstance(models_raw, str):
        with contextlib.suppress(yaml.YAMLError):
            models_raw = decode_text(models_raw)
    if not isinstance(models_raw, list) or not models_raw:
        raise ConfigError("models", models_raw, "a non-empty list of model entries (app_name, model, ...)")
    return models_raw


def parse(
    raw: Mapping[str, Any],
    secrets: Mapping[str, Any] | None = None,
    gcp: Mapping[str, str | None] | None = None,
) -> StackConfig:
    """Validate raw stack settings (keys without the namespace) into a StackConfig, or raise ConfigError.

    Every independent setting is checked, so one run reports every mistake of the stack: one mistake is
    a ConfigError, several a ConfigErrors listing them in order. `gcp` is the GCP provider's own config
    (project, region, zone): honoured rather than duplicated.
    """
    secrets = {k: v for k, v in (secrets or {}).items() if v is not None}
    mistakes = _Mistakes()
    check = mistakes.check
    for key, value in raw.items():
        check(_top_level_key, key, value)
    namespace = check(_namespace, raw)
    environment = raw.get("environment", DEFAULTS["environment"])
    environment = check(_choice, environment, "environment", ENVIRONMENTS)
    operator = check(_operator, raw)
    storage = check(_storage, raw)
    istio = check(_istio, raw)
    cluster = check(_cluster, raw, gcp or {})
    fuseml = check(_fuseml, raw)
    entries = check(_model_entries, raw) or []
    indexed = [(i, check(_model, entry, i)) for i, entry in enumerate(entries)]
    models = [(i, model) for i, model in indexed if model is not None]
    seen: dict[str, int] = {}
    for i, model in models:
        if model.app_name in seen:
            mistakes.found.append(
                ConfigError(
                    f"models[{i}].app_name",
                    model.app_name,
                    f"a name not already used by models[{seen[model.app_name]}]",
                )
            )
        seen.setdefault(model.app_name, i)
        if storage is not None:
            check(_check_storage, i, model, storage, secrets)
        if istio is not None:
            check(_check_host, i, model, istio)
    mistakes.raise_any()
    valid = tuple(model for _, model in models)
    return StackConfig(
        cluster=cluster,
        namespace=namespace,
        environment=environment,
        operator=operator,
        istio=istio,
        storage=storage,
        fuseml=fuseml,
        models=valid,
        credentials=secrets,
        warnings=tuple(
            f"{NAMESPACE}:models[{i}].batch_size (app {m.app_name!r}): {BATCH_AUTO_WARNING}"
            for i, m in models
            if m.batch_size == "auto"
        ),
    )


def _manifests(value: Any) -> str | None:
    """A kustomize folder: a local directory that exists, or a git URL in the form pulumi-kubernetes reads."""
    source = _optional_str(value, "operator.manifests")
    if source is None:
        return None
    if "://" in source:
        if not _GIT_TREE_URL.fullmatch(source):
            raise ConfigError(
                "operator.manifests",
                source,
                "a local folder or a git URL https://<host>/<owner>/<repo>/tree/<tag or commit>/<folder>",
            )
        return source
    from pathlib import Path

    if not (Path(source) / "kustomization.yaml").is_file():
        raise ConfigError("operator.manifests", source, "a local folder holding a kustomization.yaml")
    return str(Path(source).resolve())


#: pulumi-kubernetes hands a non-local kustomize directory to the SDK's git helper, which takes the ref
#: from a `/tree/<ref>/` path segment (sdk/go/common/util/gitutil/git.go,
#: GetGitReferenceNameOrHashAndSubDirectory); a `?ref=` query is not read at all.
_GIT_TREE_URL = re.compile(r"https://[^/\s]+/[^/\s]+/[^/\s]+/tree/[^/\s]+(/[^\s]+)?")


#: Keys read with `get_object` (structured values); the rest are plain strings.
OBJECT_KEYS = ("cluster", "operator", "istio", "storage", "fuseml", "models")


def load() -> StackConfig:
    """Read and validate the `fuseml-serving` stack config of the running Pulumi program."""
    import pulumi
    from pulumi.runtime.config import CONFIG, get_config_env, is_config_secret

    config = pulumi.Config(NAMESPACE)
    raw: dict[str, Any] = {}
    for key in (*DEFAULTS, "models"):
        value = config.get_object(key) if key in OBJECT_KEYS else config.get(key)
        if value is not None:
            raw[key] = value
    # Every key the stack sets in this namespace, so that a typo (`namepsace`) is refused, not ignored.
    prefix = f"{NAMESPACE}:"
    given = {name[len(prefix) :] for name in {**get_config_env(), **CONFIG.get()} if name.startswith(prefix)}
    for key in sorted(given - {*DEFAULTS, "models", *SECRET_KEYS}):
        raw[key] = config.get(key)
    # Pulumi.yaml cannot declare the secret keys (the CLI refuses a plain default for one), so the CLI no
    # longer insists they are encrypted: this does, as `raw` would for any other source.
    for key in SECRET_KEYS:
        if config.get(key) is not None and not is_config_secret(f"{NAMESPACE}:{key}"):
            raw[key] = "<hidden>"
    secrets = {key: config.get_secret(key) for key in SECRET_KEYS}
    provider = pulumi.Config("gcp")
    return parse(raw, secrets, {key: provider.get(key) for key in ("project", "region", "zone")})
