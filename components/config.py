"""Stack configuration: one pydantic model of the `fuseml-serving` namespace, validated whole before any
resource is registered.

Why one model: `pulumi up`, the FuseML workflow step and the offline review must accept and refuse the
same values with the same messages, and Pulumi.yaml, the README's reference and the JSON Schema
(`python -m components.reference`) are generated from it, so a default is stated once, here, on its field.
Model entries accept the raw strings a FuseML step receives (`nireq: "4"`,
`resources: '{"requests": {"cpu": 1}}'`, `""` for unset) as well as native YAML values: each field's
reader turns them into the type the ModelServer CRD wants, and refuses with what is allowed.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import math
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from modelstore.detect import FORMATS as STORE_FORMATS

NAMESPACE = "fuseml-serving"

#: Top-level secret keys, read with `get_secret` and never stored in plain text, with what each is for.
SECRET_KEYS: dict[str, str] = {
    "aws_access_key_id": "S3 access key id; required with `aws_secret_access_key` for `s3://` models",
    "aws_secret_access_key": "S3 secret access key",
    "gcs_credentials": "GCS service-account key JSON; without it OVMS reads `gs://` buckets anonymously, so "
    "only public buckets work (the operator's pods get no workload-identity service account)",
    "azure_storage_connection_string": "Azure Blob Storage connection string",
}

#: Node count of a fixed-size pool when neither node_count nor min/max_nodes is given (the tutorial's 2).
DEFAULT_NODE_COUNT = 2

ENVIRONMENTS = ("dev", "test", "staging", "prod")
CLUSTER_MODES = ("create", "existing")
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARNING", "ERROR")
PREDICTION_TYPES = ("predict", "classify", "regress")
#: OpenVINO 2023+ devices: MYRIAD and HDDL were removed in 2023.0 ("support has been cancelled for all VPU
#: accelerators based on Intel Movidius", openvino docs/OV_Runtime_UG/supported_plugins/Supported_Devices.md),
#: NPU added; GPU.<n> picks one GPU ("GPU is an alias for GPU.0", .../supported_plugins/GPU.md).
BASE_DEVICES = ("CPU", "GPU", "NPU")
#: Virtual devices taking a priority list: AUTO:GPU,CPU, MULTI:GPU,CPU, HETERO:GPU,CPU.
DEVICE_LISTS = ("AUTO", "MULTI", "HETERO")
REMOVED_DEVICES = ("MYRIAD", "HDDL")
#: The image variant with the GPU runtime (openvino/model_server:<release>-gpu).
GPU_IMAGE_SUFFIX = "-gpu"
#: The newest OVMS release the operator can run: 2026.3 removed the TensorFlow Serving API (model_server
#: commit 10369c696, "Remove TensorFlow Serving (TFS) gRPC/REST frontend") and, with stateful models
#: (ddaeb173e), --sequence_cleaner_poll_wait_minutes, which the operator 1.2.0's chart always passes
#: (operator helm-charts/ovms/templates/deployment.yaml); the 2026.3 CLI parser refuses unmatched options.
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
#: GKE cluster names: "up to 40 characters ... lowercase letters, numbers, and hyphens only ... start with a
#: letter ... end with a number or a letter" (googleapis google/container/v1/cluster_service.proto). The API
#: states no rule for node pools; the same rule is applied to them, as the stricter safe choice.
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
#: pulumi-kubernetes hands a non-local kustomize directory to the SDK's git helper, which takes the ref
#: from a `/tree/<ref>/` path segment (sdk/go/common/util/gitutil/git.go,
#: GetGitReferenceNameOrHashAndSubDirectory); a `?ref=` query is not read at all.
_GIT_TREE_URL = re.compile(r"https://[^/\s]+/[^/\s]+/[^/\s]+/tree/[^/\s]+(/[^\s]+)?")


# --- errors --------------------------------------------------------------------------------------------


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


class Refusal(ValueError):
    """What a field's reader refuses: the value, what is allowed, and where below the field it sits.

    Readers raise it inside pydantic validation; `parse` turns it, with pydantic's location of the field,
    into a ConfigError naming the whole key path.
    """

    def __init__(self, value: Any, allowed: str, *at: str | int) -> None:
        super().__init__(allowed)
        self.value, self.allowed, self.at = value, allowed, at

    @property
    def refusals(self) -> list[Refusal]:
        return [self]


class Refusals(Refusal):
    """Several independent refusals of one check (a cross-field validator that finds more than one)."""

    def __init__(self, refusals: list[Refusal]) -> None:
        super().__init__(refusals[0].value, refusals[0].allowed, *refusals[0].at)
        self._refusals = refusals

    @property
    def refusals(self) -> list[Refusal]:
        return list(self._refusals)


def _raise_all(refusals: list[Refusal]) -> None:
    if refusals:
        raise refusals[0] if len(refusals) == 1 else Refusals(refusals)


# --- readers: raw input (YAML values or FuseML's strings) to the types the CRDs want --------------------


def _unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


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


def _decoded(value: Any, allowed: str) -> Any:
    try:
        return decode_text(value)
    except yaml.YAMLError:
        raise Refusal(value, allowed) from None


def _mapping(value: Any, allowed: str) -> dict[Any, Any]:
    """A mapping, or JSON/YAML flow text of one (FuseML passes step inputs as strings)."""
    decoded = _decoded(value, allowed)
    if not isinstance(decoded, Mapping):
        raise Refusal(value, allowed)
    return dict(decoded)


#: The words every boolean input accepts, stack config and step inputs alike (YAML 1.1's own, and 1/0).
TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = value.strip().lower() if isinstance(value, str) else None
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise Refusal(value, "true or false")


def _integral(value: Any) -> bool:
    """An integral float (numbers can travel as doubles) or a string of digits (FuseML step inputs)."""
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, str) and bool(re.fullmatch(r"\s*\d+\s*", value))


def _integer(minimum: int) -> BeforeValidator:
    """An integer >= minimum and within int32; integral floats pass because numbers can travel as doubles."""
    allowed = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"

    def read(value: Any) -> int:
        number = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif _integral(value):
            number = int(value)
        if number is None or number < minimum:
            raise Refusal(value, allowed)
        if number > INT32_MAX:
            raise Refusal(value, f"{allowed} up to {INT32_MAX} (stored as a 32-bit integer)")
        return number

    return BeforeValidator(read)


def _matching(pattern: re.Pattern[str], allowed: str) -> BeforeValidator:
    def read(value: Any) -> str:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise Refusal(value, allowed)
        return value

    return BeforeValidator(read)


def _one_of(choices: tuple[str, ...], fold: Callable[[str], str] = str) -> BeforeValidator:
    def read(value: Any) -> str:
        # Surrounding whitespace is read as every other input reads it: not part of the word.
        folded = fold(value.strip()) if isinstance(value, str) else value
        if folded not in choices:
            raise Refusal(value, "one of " + ", ".join(choices))
        return folded

    return BeforeValidator(read)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise Refusal(value, "a string")
    return value.strip()


def _label_key_ok(name: str) -> bool:
    prefix, _, base = name.rpartition("/")
    return (not prefix or (len(prefix) <= 253 and bool(_DNS_SUBDOMAIN.fullmatch(prefix)))) and (
        len(base) <= 63 and bool(_LABEL_NAME.fullmatch(base))
    )


def _labels(value: Any) -> dict[str, str]:
    labels = _mapping(value, "a map of Kubernetes label names to values") if value else {}
    refused = []
    for name, label in labels.items():
        if not isinstance(name, str) or not _label_key_ok(name):
            refused.append(Refusal(name, "a Kubernetes label name ([prefix/]name, 63 chars)", str(name)))
        elif not isinstance(label, str) or len(label) > 63 or not _LABEL_VALUE.fullmatch(label):
            refused.append(Refusal(label, "a Kubernetes label value (63 chars, alphanumeric ends)", name))
    _raise_all(refused)
    return labels


def _label_name(value: Any) -> str:
    if not isinstance(value, str) or not _label_key_ok(value):
        raise Refusal(value, "a Kubernetes label name")
    return value


def _list_of(allowed: str, *, empty: bool = True) -> Callable[[Any], list[Any]]:
    """A reader of a list, or of its JSON/YAML text; with empty=False an empty list is refused too."""

    def read(value: Any) -> list[Any]:
        decoded = _decoded(value, allowed)
        if not isinstance(decoded, list) or not (empty or decoded):
            raise Refusal(value, allowed)
        return decoded

    return read


def _domain(value: Any) -> str:
    if (
        not isinstance(value, str)
        or not _DNS_SUBDOMAIN.fullmatch(value)
        or not all(_DNS_LABEL.fullmatch(part) for part in value.split("."))
    ):
        raise Refusal(value, "the DNS domain of the Istio ingress, e.g. 34.118.93.249.nip.io")
    return value


def _gateway(value: Any) -> str:
    if not isinstance(value, str) or not all(_DNS_LABEL.fullmatch(p) for p in value.split("/", 1)):
        raise Refusal(value, "a Gateway name, or <namespace>/<name>")
    return value


def _url(value: Any) -> str:
    text = _text(value)
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", text):
        raise Refusal(value, "the FuseML server URL (http[s]://...)")
    return text


def _timeout(value: Any) -> float:
    timeout = value
    if isinstance(timeout, str) and re.fullmatch(r"\s*\d+(\.\d*)?\s*", timeout):
        timeout = float(timeout)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        raise Refusal(value, "a number of seconds in (0, 300]")
    return float(timeout)


def _manifests(value: Any) -> str:
    """A kustomize folder: a local directory that exists, or a git URL in the form pulumi-kubernetes reads."""
    source = _text(value)
    if "://" in source:
        if not _GIT_TREE_URL.fullmatch(source):
            raise Refusal(
                source,
                "a local folder or a git URL https://<host>/<owner>/<repo>/tree/<tag or commit>/<folder>",
            )
        return source
    if not (Path(source) / "kustomization.yaml").is_file():
        raise Refusal(source, "a local folder holding a kustomization.yaml")
    return str(Path(source).resolve())


def _json_text(allowed: str, check: Callable[[Any], bool]) -> BeforeValidator:
    """An object (or its JSON/YAML text), normalised to compact JSON text: the form the CRD wants."""

    def read(value: Any) -> str:
        parsed = _decoded(value, allowed)
        if not check(parsed):
            raise Refusal(value, allowed)
        return json.dumps(parsed, separators=(",", ":"))

    return BeforeValidator(read, json_schema_input_type=str | dict[str, Any])


def _plugin_config_ok(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str | int | float | bool) for k, v in value.items()
    )


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


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


#: What OVMS reads as batch_size: a fixed size, -1 for any, or a range min:max; `auto` still works but is
#: deprecated upstream in favour of those (it reloads the model on every change of batch). OVMS 2026.3
#: src/modelconfig.cpp extractBatchingParams: "Batch size auto is deprecated. Use model dynamic shapes
#: instead"; anything else goes through Dimension::fromString (src/shape.cpp), which reads -1 and min:max.
_BATCH = re.compile(r"^\s*(-1|[1-9]\d*|[1-9]\d*:[1-9]\d*)\s*$")
BATCH_AUTO_WARNING = (
    "'auto' is deprecated in OpenVINO Model Server (it reloads the model whenever the batch changes): "
    "use -1 (any batch) or a range such as 1:8"
)


def _batch_size(value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if _integral(text) and not isinstance(text, str):
        text = str(int(text))
    match = _BATCH.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise Refusal(value, "a positive integer, -1 (any batch), a range like 1:8, or 'auto'")
    low, _, high = match[1].partition(":")
    if high and int(low) > int(high):
        raise Refusal(value, f"a range min:max with min <= max (got {low} > {high})")
    return match[1]


def _per_input(allowed: str, one: Callable[[str], bool]) -> BeforeValidator:
    """Shape and layout: a single value, or a map of input name to value (JSON text for the CRD)."""

    def read(value: Any) -> str:
        if isinstance(value, str) and one(value.strip()):
            return value.strip().replace(" ", "")
        if isinstance(value, str) and value.strip().startswith("{"):
            value = _map_text(value.strip(), allowed)
        if (
            isinstance(value, Mapping)
            and value
            and all(
                isinstance(k, str) and k and isinstance(v, str) and one(v.strip()) for k, v in value.items()
            )
        ):
            return json.dumps(
                {k: v.strip().replace(" ", "") for k, v in value.items()}, separators=(",", ":")
            )
        raise Refusal(value, allowed)

    return BeforeValidator(read, json_schema_input_type=str | dict[str, str])


def _map_text(text: str, allowed: str) -> Any:
    """Parse `{"in": "(1,3)"}` JSON, or OVMS's unquoted CLI form `{in1:(1,3,224,224),in2:(1,3,50,50)}`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    body = text[1:-1] if text.endswith("}") else None
    pairs = re.findall(r"\s*([^:,{}()\s]+)\s*:\s*(\([^)]*\)|[^,]+)\s*(?:,|$)", body or "")
    if not pairs:
        raise Refusal(text, allowed)
    return {name: val for name, val in pairs}


def _device_ok(name: str) -> bool:
    return name in BASE_DEVICES or bool(re.fullmatch(r"GPU\.\d+", name))


def _target_device(value: Any) -> str:
    allowed = (
        f"one of {', '.join(BASE_DEVICES)} or GPU.<n>, or {', '.join(DEVICE_LISTS)} alone or followed by ':' "
        "and a comma list of them (AUTO:GPU,CPU)"
    )
    if not isinstance(value, str):
        raise Refusal(value, allowed)
    text = value.strip().upper()
    removed = [d for d in REMOVED_DEVICES if d in re.split(r"[:,]", text)]
    if removed:
        raise Refusal(value, f"{allowed}; {removed[0]} was removed in OpenVINO 2023.0")
    if _device_ok(text) or text == "AUTO":
        return text
    kind, _, devices = text.partition(":")
    names = devices.split(",") if devices else []
    if kind in DEVICE_LISTS and names and all(_device_ok(d) for d in names):
        return text
    raise Refusal(value, allowed)


def _pinned_tag(tag: Any) -> str:
    """A tag that names one release: not latest, nor latest-<variant>."""
    if not isinstance(tag, str) or not _IMAGE_TAG.fullmatch(tag) or tag.lower().startswith("latest"):
        raise Refusal(tag, "a pinned image tag such as 2024.0 (not latest)")
    return tag


def _image_tag(tag: Any) -> str:
    """A pinned release tag the operator can run (the -gpu variant is checked against the device)."""
    _pinned_tag(tag)
    release = re.match(r"(\d{4})\.(\d+)", tag)
    if release and (int(release[1]), int(release[2])) > OPERATOR_MAX_OVMS:
        newest = ".".join(map(str, OPERATOR_MAX_OVMS))
        raise Refusal(
            tag,
            f"a release up to {newest}: OVMS 2026.3 removed the TensorFlow Serving API and a flag the "
            "OpenVINO operator 1.2.0 always passes",
        )
    return tag


def _model_url(value: Any) -> str:
    allowed = "an s3://, gs://, az:// or azfs:// URL with a bucket, or an absolute local path"
    if not isinstance(value, str):
        raise Refusal(value, allowed)
    text = value.strip()
    if text.startswith("/") and "://" not in text:
        return text
    scheme, sep, rest = text.partition("://")
    if scheme.lower() == "azure":
        raise Refusal(value, f"{allowed}: OVMS reads Azure Blob Storage as az:// (write az://{rest})")
    if (
        not sep
        or not scheme
        or scheme.lower() not in STORAGE_TYPES
        or not re.fullmatch(r"[^/\s]+(/\S*)?", rest)
    ):
        raise Refusal(value, allowed)
    return f"{scheme.lower()}://{rest}"


def _app_name(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_APP_NAME or not _DNS_LABEL.fullmatch(value):
        raise Refusal(
            value,
            f"lowercase letters, digits and '-', starting and ending alphanumeric, at most {MAX_APP_NAME} "
            f"chars (it names the Kubernetes objects {RESOURCE_PREFIX}<app_name>, and the operator's Helm "
            f"release of that name must fit Helm's {HELM_RELEASE_NAME_MAX})",
        )
    return value


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


def _resource_name(name: Any) -> str:
    allowed = "cpu, memory, or a device resource <vendor domain>/<name> like gpu.intel.com/i915"
    if not isinstance(name, str):
        raise Refusal(name, allowed)
    if name in CORE_RESOURCES:
        return name
    if name.lower() in CORE_RESOURCES:
        raise Refusal(name, f"{allowed} (resource names are lowercase: {name.lower()})")
    if _UNHOLDABLE.fullmatch(name):
        raise Refusal(name, f"{allowed}: {name} is a Kubernetes resource the ModelServer CRD cannot hold")
    domain = name.split("/", 1)[0]
    if not _EXTENDED.fullmatch(name) or domain == "kubernetes.io" or domain.endswith(".kubernetes.io"):
        raise Refusal(name, allowed)
    return name


def _quantity(value: Any, name: str) -> str:
    """A Kubernetes quantity that can be meant: memory in bytes or millibytes, or no CPU at all, is a slip."""
    integer = name not in CORE_RESOURCES
    text = value
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value) if abs(value) < 10**18 else None
    elif isinstance(value, float):
        text = repr(value) if math.isfinite(value) else None
    pattern = re.compile(r"^\d+$", re.ASCII) if integer else _QUANTITY
    if not isinstance(text, str) or not pattern.fullmatch(text.strip()):
        raise Refusal(
            value,
            "a whole number (extended resources)" if integer else "a Kubernetes quantity like 500m, 2, 1Gi",
        )
    quantity = text.strip()
    amount = _quantity_value(quantity)
    if name == "memory" and (quantity.endswith("m") or amount < _MIN_MEMORY):
        allowed = "a memory size of at least 1Mi, like 512Mi or 2Gi (a bare number is bytes, m thousandths)"
        raise Refusal(quantity, allowed)
    if name == "cpu" and amount < 1e-3:
        raise Refusal(quantity, "a CPU amount of at least 1m (a thousandth of a core)")
    if integer and amount < 1:
        raise Refusal(quantity, "a whole number of devices, at least 1")
    return quantity


#: How a user writes resource quantities: `{cpu: 2, memory: 4Gi}`.
_QUANTITIES = dict[str, str | int | float]


def _resource_map(value: Any) -> dict[str, str]:
    mapping = _mapping(value, "a map of resource names to Kubernetes quantities")
    result, refused = {}, []
    for name, quantity in mapping.items():
        try:
            checked = _resource_name(name)
            result[checked] = _quantity(quantity, checked)
        except Refusal as refusal:
            refused.append(Refusal(refusal.value, refusal.allowed, str(name)))
    _raise_all(refused)
    if len([n for n in result if n not in CORE_RESOURCES]) > 1:
        raise Refusal(mapping, "at most one extended device resource (the CRD has one xpu_device)")
    return result


# --- the model -----------------------------------------------------------------------------------------


class Required:
    """Marks a required field with what a user must give for it (shown when it is missing)."""

    def __init__(self, allowed: str) -> None:
        self.allowed = allowed


class Settings(BaseModel):
    """A config object: unknown keys refused, and a blank the user wrote never replaced by a default.

    Leaving a key out (or null) is how to take a default; `""` for a key with a default is a mistake,
    except where BLANK_IS_UNSET (FuseML passes every step input, `""` when the workflow leaves it out).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)
    BLANK_IS_UNSET: ClassVar[bool] = False

    @model_validator(mode="before")
    @classmethod
    def _object(cls, value: Any) -> dict[str, Any]:
        mapping = {} if _unset(value) else _mapping(value, "an object {" + ", ".join(cls.model_fields) + "}")
        kept = {}
        for name, given in mapping.items():
            field = cls.model_fields.get(name) if isinstance(name, str) else None
            if (
                field is not None
                and _unset(given)
                and (given is None or cls.BLANK_IS_UNSET or field.is_required() or field.default is None)
            ):
                continue
            kept[name] = given
        return kept

    def updated(self, changes: dict[str, Any]) -> Any:
        """A copy with these values resolved (a default applied, a fallback read), that still tells which
        keys the user wrote: `model_fields_set` is what later checks ask."""
        copy = self.model_copy(update=changes)
        object.__setattr__(copy, "__pydantic_fields_set__", set(self.model_fields_set))
        return copy

    @field_validator("*", mode="before")
    @classmethod
    def _no_blank(cls, value: Any, info: ValidationInfo) -> Any:
        default = cls.model_fields[info.field_name].default
        if isinstance(value, str) and not value.strip() and default != "":
            shown = default.model_dump() if isinstance(default, BaseModel) else default
            raise Refusal(value, f"a value, or no {info.field_name} key at all for the default {shown!r}")
        return value


def _section() -> Any:
    """A section's field on its parent: left out means all of its defaults, still validated (so a required
    key inside it is reported as missing)."""
    return Field(default_factory=dict, validate_default=True)


class Taint(Settings):
    """A node pool taint in GKE's enum form (PREFER_NO_SCHEDULE)."""

    key: Annotated[str, BeforeValidator(_label_name), Required("a Kubernetes label name")]
    """Taint key, a Kubernetes label name."""
    value: Annotated[str, _matching(_LABEL_VALUE, "a Kubernetes label value")] = ""
    """Taint value, a Kubernetes label value."""
    effect: Annotated[
        Literal["PREFER_NO_SCHEDULE"],
        _one_of(TAINT_EFFECTS, fold=lambda s: s.upper().replace("NOSCHEDULE", "NO_SCHEDULE")),
    ] = "PREFER_NO_SCHEDULE"
    """PREFER_NO_SCHEDULE only: the ModelServer CR has no tolerations, so a hard taint strands servers."""


class NodePoolConfig(Settings):
    """The Intel N2 node pool that runs the model servers (create mode)."""

    name: Annotated[str, _matching(_GKE_NAME, _GKE_NAME_ALLOWED)] = "ovms-n2"
    """Node pool name (a GKE name, at most 40 chars)."""
    machine_type: Annotated[str, _matching(_MACHINE_TYPE, "a GCE machine type")] = "n2-standard-4"
    """GCE machine type of the pool's nodes; the policy pack wants an Intel family."""
    min_cpu_platform: Annotated[str, _matching(re.compile(r".+"), "a CPU platform name")] = (
        "Intel Cascade Lake"
    )
    """Minimum CPU platform, which pins the Intel generation (AVX-512/VNNI)."""
    node_count: Annotated[int | None, _integer(1)] = None
    """Fixed pool size; 2 when neither it nor min_nodes/max_nodes is given."""
    min_nodes: Annotated[int | None, _integer(0)] = None
    """Autoscaling lower bound, with max_nodes."""
    max_nodes: Annotated[int | None, _integer(1)] = None
    """Autoscaling upper bound, with min_nodes."""
    disk_size_gb: Annotated[int, _integer(10)] = 100
    """Boot disk size of each node, in GB."""
    labels: Annotated[dict[str, str], BeforeValidator(_labels)] = Field(default_factory=dict)
    """Kubernetes labels of the pool's nodes."""
    taints: Annotated[tuple[Taint, ...], BeforeValidator(_list_of("a list of {key, value, effect}"))] = (
        Taint(key="fuseml-serving/dedicated", value="ovms"),
    )
    """Taints of the pool's nodes, {key, value, effect}."""

    @property
    def autoscaling(self) -> bool:
        """Whether the pool autoscales between min_nodes and max_nodes."""
        return self.max_nodes is not None

    @model_validator(mode="after")
    def _size(self) -> NodePoolConfig:
        bounds = {"min_nodes": self.min_nodes, "max_nodes": self.max_nodes}
        if self.node_count is not None and (self.min_nodes is not None or self.max_nodes is not None):
            raise Refusal(
                {"node_count": self.node_count, **bounds},
                "either node_count (fixed size) or min_nodes/max_nodes (autoscaling), not both",
            )
        if (self.min_nodes is None) != (self.max_nodes is None):
            raise Refusal(bounds, "min_nodes and max_nodes together")
        if self.min_nodes is not None and self.max_nodes is not None and self.min_nodes > self.max_nodes:
            raise Refusal(self.min_nodes, f"at most max_nodes ({self.max_nodes})", "min_nodes")
        if self.node_count is None and self.max_nodes is None:
            return self.updated({"node_count": DEFAULT_NODE_COUNT})
        return self


class ClusterConfig(Settings):
    """Where the model servers run: a GKE cluster this stack creates, or the ambient one."""

    mode: Annotated[Literal["create", "existing"], _one_of(CLUSTER_MODES)] = "existing"
    """`create` makes a GKE cluster and its Intel pool; `existing` creates no GCP resource and uses the
    ambient kubeconfig or in-cluster credentials."""
    name: Annotated[str, _matching(_GKE_NAME, _GKE_NAME_ALLOWED)] = "fuseml"
    """GKE cluster name (create mode)."""
    location: Annotated[str | None, BeforeValidator(_text)] = None
    """GCP zone or region; default the provider's gcp:zone or gcp:region; required in create mode."""
    project: Annotated[str | None, BeforeValidator(_text)] = None
    """GCP project; default the provider's gcp:project; required in create mode."""
    deletion_protection: Annotated[bool, BeforeValidator(_bool)] = True
    """GKE's deletion protection of the cluster."""
    node_pool: NodePoolConfig = _section()
    """The Intel node pool (create mode)."""

    @property
    def create(self) -> bool:
        """Whether this stack creates (and owns) the GKE cluster."""
        return self.mode == "create"

    @model_validator(mode="after")
    def _of_mode(self, info: ValidationInfo) -> ClusterConfig:
        """Project and location fall back to the GCP provider's own config; create mode needs both."""
        gcp = (info.context or {}).get("gcp") or {}
        location = self.location or gcp.get("zone") or gcp.get("region")
        project = self.project or gcp.get("project")
        refused = []
        if self.create and not location:
            refused.append(
                Refusal(
                    None,
                    "a GCP zone or region (e.g. europe-central2-a) in create mode, here or as the provider's "
                    "gcp:zone or gcp:region",
                    "location",
                )
            )
        if self.create and not project:
            refused.append(
                Refusal(
                    None,
                    "the GCP project that owns the cluster, in create mode, here or as the provider's "
                    "gcp:project",
                    "project",
                )
            )
        # In create mode the program sets POOL_LABEL itself: a user's value for it would be overwritten.
        if self.create and POOL_LABEL in self.node_pool.labels:
            refused.append(
                Refusal(
                    self.node_pool.labels[POOL_LABEL],
                    f"a label key of your own: the program sets {POOL_LABEL} to the pool's name "
                    f"({self.node_pool.name}) and pins the servers to it",
                    "node_pool",
                    "labels",
                    POOL_LABEL,
                )
            )
        _raise_all(refused)
        return self.updated({"location": location, "project": project})


class OperatorConfig(Settings):
    """The OpenVINO operator: installed at a pinned version, or relied upon."""

    install: Annotated[bool, BeforeValidator(_bool)] = True
    """Install the operator, or rely on one already installed."""
    version: Annotated[str, _matching(_VERSION, "a pinned release like 1.2.0")] = "1.2.0"
    """Operator release (its ModelServer CRD is the one the program writes)."""
    namespace: Annotated[str, _matching(_DNS_LABEL, "a namespace name")] = "ovms-operator-system"
    """Namespace of the operator."""
    manifests: Annotated[str | None, BeforeValidator(_manifests)] = None
    """The kustomize folder to install from: a local folder, or a git URL
    https://<host>/<owner>/<repo>/tree/<tag or commit>/<folder>; default the release's config/default."""


class IstioConfig(Settings):
    """How prediction routes are exposed: the Istio gateway and the hosts' domain."""

    gateway: Annotated[str, BeforeValidator(_gateway)] = "ovms"
    """The Istio Gateway of the routes: a bare name lives in the servers' namespace, or <namespace>/<name>."""
    create_gateway: Annotated[bool, BeforeValidator(_bool)] = False
    """Create that Gateway (for *.<host_prefix>.<domain>) instead of using an existing one."""
    domain: Annotated[
        str,
        BeforeValidator(_domain),
        Required("the DNS domain of the Istio ingress, e.g. 34.118.93.249.nip.io"),
    ]
    """The DNS domain of the Istio ingress, e.g. 34.118.93.249.nip.io."""
    host_prefix: Annotated[str, _matching(_DNS_LABEL, "a DNS label")] = "ovms"
    """A model's host is <app_name>.<host_prefix>.<domain>."""

    def host(self, app_name: str) -> str:
        """The public host of an application: `<app_name>.<host_prefix>.<domain>`."""
        return f"{app_name}.{self.host_prefix}.{self.domain}"


class StorageConfig(Settings):
    """Non-secret model storage settings."""

    s3_endpoint: Annotated[str | None, BeforeValidator(_text)] = None
    """S3-compatible endpoint, e.g. http://mlflow-minio.mlflow:9000."""
    aws_region: Annotated[str | None, BeforeValidator(_text)] = None
    """Region of the S3 bucket."""
    models_volume_claim: Annotated[str | None, BeforeValidator(_text)] = None
    """A PVC mounted at /models, for absolute local model paths."""


# pydantic warns that a field named `register` hides ABCMeta.register on the class; the setting keeps
# the name users write, and nothing here registers virtual subclasses.
warnings.filterwarnings("ignore", 'Field name "register" in "FusemlConfig"', UserWarning)


class FusemlConfig(Settings):
    """Where and how model servers are registered as FuseML Applications."""

    url: Annotated[str | None, BeforeValidator(_url)] = None
    """FuseML server URL, required when register is true. A token, if needed, comes from FUSEML_TOKEN."""
    workflow: Annotated[str | None, _matching(_DNS_LABEL, "a workflow name (a DNS label)")] = None
    """The workflow the applications are registered under; default <project>-<stack>."""
    register: Annotated[bool, BeforeValidator(_bool)] = True
    """Register each model server as a FuseML Application."""
    timeout_s: Annotated[float, BeforeValidator(_timeout)] = 10.0
    """Timeout of each call to FuseML, in seconds."""

    @model_validator(mode="after")
    def _url_to_register(self) -> FusemlConfig:
        if self.register and not self.url:
            raise Refusal(None, "the FuseML server URL (http[s]://...) when fuseml.register is true", "url")
        return self


def _unreachable(
    model: ModelConfig, storage: StorageConfig | None, secrets: Mapping[str, Any]
) -> Iterator[Refusal]:
    """Why a model's storage cannot be reached with what is configured (nothing when it can)."""
    if model.storage_scheme == "s3" and not all(
        secrets.get(k) is not None for k in ("aws_access_key_id", "aws_secret_access_key")
    ):
        yield Refusal(
            model.model,
            "an s3:// URL only with S3 credentials: pulumi config set --secret "
            f"{NAMESPACE}:aws_access_key_id ... and {NAMESPACE}:aws_secret_access_key ...",
            "model",
        )
    if model.storage_scheme != "" or storage is None:
        return
    claim = storage.models_volume_claim
    if not claim:
        yield Refusal(
            model.model,
            f"a local path only with storage.models_volume_claim (the PVC mounted at {MODELS_MOUNT})",
            "model",
        )
    elif not model.model.startswith(MODELS_MOUNT + "/"):
        yield Refusal(
            model.model,
            f"a local path under {MODELS_MOUNT}/, where the operator mounts storage.models_volume_claim "
            f"{claim!r}",
            "model",
        )


class Resources(Settings):
    """Requests and limits of a model server, as Kubernetes quantities."""

    requests: Annotated[
        dict[str, str], BeforeValidator(_resource_map, json_schema_input_type=_QUANTITIES)
    ] = Field(default_factory=dict)
    """Resource requests."""
    limits: Annotated[dict[str, str], BeforeValidator(_resource_map, json_schema_input_type=_QUANTITIES)] = (
        Field(default_factory=dict)
    )
    """Resource limits; each defaults to its request."""


#: What a model server asks for when an entry names no resources.
_DEFAULT_RESOURCES = Resources(requests={"cpu": "1", "memory": "1Gi"})


#: The default plugin_config, as the CR holds it (compact JSON text).
LATENCY_HINT = '{"PERFORMANCE_HINT":"LATENCY"}'

#: Settings of a server's deployment, shared by a model entry (its own server) and a `servers` entry.
ImageTag = Annotated[str, BeforeValidator(_image_tag)]
LogLevel = Annotated[Literal["TRACE", "DEBUG", "INFO", "WARNING", "ERROR"], _one_of(LOG_LEVELS, str.upper)]
Replicas = Annotated[int, _integer(1)]
ExtraLimits = Annotated[
    dict[str, str] | None, BeforeValidator(_resource_map, json_schema_input_type=_QUANTITIES)
]

BACKENDS = ("auto", "ovms", "kserve", "seldon", "modelmesh")
#: The format vocabulary: modelstore's, which detects them; `auto` reads the model's MLmodel file.
FORMATS = ("auto", *STORE_FORMATS)
#: Model settings only OpenVINO Model Server reads; another backend refuses them, naming both.
OVMS_SETTINGS = (
    "ovms_image_tag",
    "nireq",
    "plugin_config",
    "batch_size",
    "shape",
    "target_device",
    "layout",
    "model_version_policy",
)
#: What a model on a shared server (`server:`) takes from that server instead.
SERVER_SETTINGS = ("ovms_image_tag", "loglevel", "replicas", "resources", "resources_limits")


def _resolved_resources(entry: ModelConfig | ServerConfig) -> Resources:
    """Requests and limits, as Kubernetes reads them: a limit without a request makes the request equal.

    With neither key, the defaults apply, and limits default to the requests (Guaranteed QoS keeps OVMS
    latency steady). An error names the key the user wrote, `resources.limits` or `resources_limits`.
    """
    given = {"resources", "resources_limits"} & entry.model_fields_set
    defaults = _DEFAULT_RESOURCES.requests
    limits, limits_from = {}, {}
    sources = [(("resources", "limits"), entry.resources.limits)]
    sources.append((("resources_limits",), entry.resources_limits or {}))
    for source, values in sources:
        for name, quantity in values.items():
            limits[name], limits_from[name] = quantity, source
    if "resources" in entry.model_fields_set:
        requests = dict(entry.resources.requests)
    else:
        requests = {} if given else dict(defaults)
    for name in CORE_RESOURCES:
        requests.setdefault(name, limits.get(name, defaults[name]))
    for name, quantity in requests.items():
        if name not in limits:
            limits[name], limits_from[name] = quantity, ("resources", "requests")
    devices = [n for n in limits if n not in CORE_RESOURCES]
    if len(devices) > 1:
        raise Refusal(
            limits[devices[1]],
            f"no second device beside {devices[0]}: the ModelServer CRD holds one xpu_device",
            *limits_from[devices[1]],
            devices[1],
        )
    refused = []
    for name in devices:
        # Kubernetes refuses a Pod whose extended-resource request differs from its limit.
        if name in requests and requests[name] != limits[name]:
            equal = (
                f"the device request ({requests[name]}): Kubernetes wants a device's request and limit equal"
            )
            refused.append(Refusal(limits[name], equal, *limits_from[name], name))
    for name in CORE_RESOURCES:
        if _quantity_value(requests[name]) > _quantity_value(limits[name]):
            at_least = f"at least the request ({requests[name]})"
            refused.append(Refusal(limits[name], at_least, *limits_from[name], name))
    _raise_all(refused)
    return Resources.model_construct(requests=requests, limits=limits)


class _Served(Settings):
    """What a model entry and a `servers` entry share: resolved requests and limits (each declares its
    own `resources` field, so that it keeps its place in the entry's key order)."""

    @property
    def requests(self) -> dict[str, str]:
        return self.resources.requests  # type: ignore[attr-defined]

    @property
    def limits(self) -> dict[str, str]:
        return self.resources.limits  # type: ignore[attr-defined]


class ServerConfig(_Served):
    """An OpenVINO Model Server shared by several models (OVMS multi-model mode, one config.json)."""

    name: Annotated[str, BeforeValidator(_app_name), Required("a DNS label naming the server (required)")]
    """DNS label of at most 48 chars; names the `ovms-<name>` objects and the server's host
    `<name>.<host_prefix>.<domain>`; models choose it with `server: <name>`."""
    ovms_image_tag: ImageTag = "2024.0"
    """As a model's `ovms_image_tag`."""
    loglevel: LogLevel = "INFO"
    """OVMS log level."""
    replicas: Replicas = 1
    """Server replicas."""
    resources: Resources = Field(default_factory=lambda: _DEFAULT_RESOURCES)
    """As a model's `resources`."""
    resources_limits: ExtraLimits = None
    """As a model's `resources_limits`."""

    @property
    def resource_name(self) -> str:
        """The name of the server's ModelServer, ConfigMap, Service and VirtualService."""
        return RESOURCE_PREFIX + self.name

    @model_validator(mode="after")
    def _as_served(self) -> ServerConfig:
        return self.updated({"resources": _resolved_resources(self)})


class ModelConfig(_Served):
    """One served model; the keys are the OVMS predictor step's input names, the values already in the
    types the ModelServer CRD wants."""

    BLANK_IS_UNSET: ClassVar[bool] = True

    app_name: Annotated[
        str, BeforeValidator(_app_name), Required("a DNS label naming the FuseML application (required)")
    ]
    """DNS label of at most 48 chars (the operator's Helm release `ovms-<app_name>` must fit Helm's 53);
    names the `ovms-<app_name>` objects, the host and the FuseML app."""
    model: Annotated[str, BeforeValidator(_model_url), Required("the model URL (required)")]
    """`s3://`, `gs://`, `az://` (Blob) or `azfs://` (Files) URL with a bucket (OVMS reads no `azure://`),
    or an absolute local path under `/models` (the mounted `storage.models_volume_claim`)."""
    backend: Annotated[Literal[BACKENDS], _one_of(BACKENDS, str.lower)] = "auto"
    """Which system serves the model: `ovms`, `kserve`, `seldon` or `modelmesh` (see "Backends"); `auto`
    picks the fastest one for its format on Intel CPUs and says which and why."""
    format: Annotated[Literal[FORMATS], _one_of(FORMATS, str.lower)] = "auto"
    """The model's format; `auto` reads the MLmodel file (or the IR/ONNX files) from the store with the
    stack's credentials."""
    server: Annotated[str | None, _matching(_DNS_LABEL, "the name of an entry of servers")] = None
    """Serve on this shared OVMS server (an entry of `servers`) instead of a server of its own."""
    model_name: Annotated[
        str, _matching(re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*"), "letters, digits, '_', '.', '-'")
    ] = "default"
    """The name in the prediction API."""
    ovms_image_tag: ImageTag = "2024.0"
    """A pinned tag of `openvino/model_server` (`latest` refused), at most `2026.2` (2026.3 dropped the
    TensorFlow Serving API and a flag the operator 1.2.0 passes); `-gpu` variant for a GPU device."""
    loglevel: LogLevel = "INFO"
    """OVMS log level."""
    nireq: Annotated[int | None, _integer(1)] = None
    """Parallel inference requests (positive integer); unset, the compiled model's optimum for its hint
    (1 under LATENCY), which the same figures favour up to 2 cores."""
    plugin_config: Annotated[
        str | None, _json_text("a JSON object of plugin keys to values", _plugin_config_ok)
    ] = LATENCY_HINT
    """OpenVINO plugin config, a JSON object. The default, the LATENCY hint, is what the converter's
    benchmark measured best per request on small CPU requests (README, "Converting models": THROUGHPUT or a
    second request added at most 15% throughput on 2 cores and doubled each request's time)."""
    batch_size: Annotated[str | None, BeforeValidator(_batch_size, json_schema_input_type=int | str)] = None
    """Positive integer, `-1` (any batch) or a range `1:8`; `auto` works but is deprecated upstream (a
    warning says so); unset, the model's."""
    shape: Annotated[
        str | None,
        _per_input(
            "'auto', a tuple like (1,3,224,224), or a map of input names to tuples",
            lambda t: t == "auto" or bool(_SHAPE_TUPLE.fullmatch(t)),
        ),
    ] = None
    """`auto`, a tuple `(1,3,224,224)`, or a map of input name to tuple; unset, the model's."""
    target_device: Annotated[str, BeforeValidator(_target_device)] = "CPU"
    """CPU, GPU, GPU.<n>, NPU, AUTO, or `AUTO:`/`MULTI:`/`HETERO:` with a comma list of them (OpenVINO 2023+
    has no MYRIAD or HDDL); a GPU needs an `ovms_image_tag` ending in `-gpu`."""
    layout: Annotated[
        str | None,
        _per_input(
            "a layout like NHWC or NCHW:NHWC, or a map of input names to layouts",
            lambda t: bool(_LAYOUT.fullmatch(t)),
        ),
    ] = None
    """`NHWC`, `NCHW:NHWC`, ..., or a map of input name to layout; unset, the model's."""
    model_version_policy: Annotated[
        str | None,
        _json_text(
            '{"all": {}}, {"latest": {"num_versions": N}} or {"specific": {"versions": [N, ...]}}',
            _version_policy_ok,
        ),
    ] = None
    """`{"all": {}}`, `{"latest": {"num_versions": N}}` or `{"specific": {"versions": [..]}}`; unset, the
    latest version."""
    replicas: Replicas = 1
    """Server replicas (positive integer)."""
    resources: Resources = _DEFAULT_RESOURCES
    """`{requests: {...}, limits: {...}}` of Kubernetes quantities; limits default to the requests (a limit
    without a request sets the request, as in Kubernetes)."""
    resources_limits: ExtraLimits = None
    """Extra limits, e.g. `{gpu.intel.com/i915: 1}` (one extended device at most: the CRD has one)."""
    runtime: Annotated[
        str | None, _matching(re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"), "a runtime name")
    ] = None
    """kserve, modelmesh: the ServingRuntime to use; seldon: the prepackaged server (e.g. TRITON_SERVER);
    unset, the one the backend picks for the format."""
    runtime_version: Annotated[str | None, _matching(_IMAGE_TAG, "an image tag such as 2.6.0")] = None
    """kserve, seldon: the runtime image's tag (FuseML's kserve step input); unset, the runtime's own."""
    protocol_version: Annotated[Literal["v1", "v2"] | None, _one_of(("v1", "v2"), str.lower)] = None
    """kserve: the inference protocol (v1 TensorFlow-Serving style, v2 open inference); unset, the
    runtime's default."""
    prediction_type: Annotated[
        Literal["predict", "classify", "regress"], _one_of(PREDICTION_TYPES, str.lower)
    ] = "predict"
    """The verb of the v1 prediction URL."""
    adopt: Annotated[bool, BeforeValidator(_bool)] = False
    """Take over a FuseML application that another workflow or stack registered."""

    @property
    def storage_scheme(self) -> str:
        """The URL scheme of the model (empty for a local path)."""
        return self.model.split("://", 1)[0] if "://" in self.model else ""

    @property
    def resource_name(self) -> str:
        """The name of the ModelServer, its Service and its VirtualService."""
        return RESOURCE_PREFIX + self.app_name

    @model_validator(mode="after")
    def _as_served(self, info: ValidationInfo) -> ModelConfig:
        """What the entry's fields say together, and with the stack's storage and Istio settings.

        `parse` validates those two sections first and passes them in the context, so an entry's storage
        and host are checked even when another part of the stack is wrong.
        """
        context = info.context or {}
        refused = list(_unreachable(self, context.get("storage"), context.get("secrets") or {}))
        istio = context.get("istio")
        if istio is not None and len(istio.host(self.app_name)) > MAX_HOST:
            host = istio.host(self.app_name)
            fits = f"a name short enough for its host {host[:40]}... ({len(host)} chars) to fit {MAX_HOST}"
            refused.append(Refusal(self.app_name, fits, "app_name"))
        # A model on a shared server runs the server's image: the stack-level check looks at that one.
        if (
            self.server is None
            and "GPU" in self.target_device
            and not self.ovms_image_tag.endswith(GPU_IMAGE_SUFFIX)
        ):
            refused.append(Refusal(
                self.ovms_image_tag,
                f"the {GPU_IMAGE_SUFFIX} image variant (e.g. 2024.0{GPU_IMAGE_SUFFIX}) for target_device "
                f"{self.target_device}: the plain image has no GPU runtime",
                "ovms_image_tag",
            ))  # fmt: skip
        try:
            resources = _resolved_resources(self)
        except Refusal as refusal:
            refused += refusal.refusals
        _raise_all(refused)
        return self.updated({"resources": resources})


class KServeConfig(Settings):
    """KServe: the OpenVINO Model Server runtime this stack can install for it."""

    openvino_runtime: Annotated[bool, BeforeValidator(_bool)] = False
    """Install the `kserve-openvino` ClusterServingRuntime (OVMS under KServe, for OpenVINO IR and ONNX);
    leave false when the cluster's KServe already has it."""
    openvino_image_tag: Annotated[str, BeforeValidator(_pinned_tag)] = "2025.1"
    """The `openvino/model_server` tag of that runtime (no operator in the way, so past 2026.2 too)."""


class SeldonConfig(Settings):
    """Seldon Core: where its Istio gateway exposes deployments."""

    gateway: Annotated[str, BeforeValidator(_gateway)] = "seldon"
    """The Istio Gateway Seldon routes deployments through: a bare name lives in the servers' namespace
    (FuseML's installer creates `seldon` there), or <namespace>/<name>."""
    host_prefix: Annotated[str, _matching(_DNS_LABEL, "a DNS label")] = "seldon"
    """A Seldon model's host is <app_name>.<host_prefix>.<domain> (FuseML's seldon gateway, *.seldon)."""


_entries = _list_of("a non-empty list of model entries (app_name, model, ...)", empty=False)


class StackConfig(Settings):
    """The whole `fuseml-serving` namespace of a stack (secret keys aside: they are read as secrets)."""

    namespace: Annotated[str, _matching(_DNS_LABEL, "a Kubernetes namespace name (DNS label)")] = (
        "fuseml-workloads"
    )
    """Namespace of the model servers (created in create mode, expected to exist otherwise)."""
    environment: Annotated[Literal["dev", "test", "staging", "prod"], _one_of(ENVIRONMENTS)] = "dev"
    """Environment tier labelled on every server (`fuseml-serving/environment`), read by the policy pack."""
    cluster: ClusterConfig = _section()
    """Where the servers run."""
    operator: OperatorConfig = _section()
    """The OpenVINO operator."""
    istio: IstioConfig = _section()
    """How prediction routes are exposed."""
    storage: StorageConfig = _section()
    """Non-secret model storage settings."""
    fuseml: FusemlConfig = _section()
    """FuseML registration."""
    kserve: KServeConfig = _section()
    """KServe settings."""
    seldon: SeldonConfig = _section()
    """Seldon Core settings."""
    servers: Annotated[
        list[ServerConfig], BeforeValidator(_list_of("a list of servers {name, ovms_image_tag, ...}"))
    ] = Field(default_factory=list)
    """Shared OpenVINO Model Servers, each serving several models from one config.json."""
    models: Annotated[list[ModelConfig], BeforeValidator(_entries)] = Field(
        default_factory=list, validate_default=True
    )
    """One entry per model (see the model keys)."""

    _credentials: Mapping[str, Any] = PrivateAttr(default_factory=dict)
    _warnings: tuple[str, ...] = PrivateAttr(default=())

    @property
    def credentials(self) -> Mapping[str, Any]:
        """The secret keys that are set (values may be Pulumi secret Outputs)."""
        return self._credentials

    @property
    def warnings(self) -> tuple[str, ...]:
        """Accepted but discouraged settings; the program logs each one."""
        return self._warnings

    def with_credentials(self, credentials: Mapping[str, Any]) -> StackConfig:
        """This stack with these secret values (a run's decrypted secrets, or Outputs of them)."""
        copy = self.model_copy()
        copy._credentials, copy._warnings = dict(credentials), self._warnings
        return copy

    @model_validator(mode="after")
    def _across(self) -> StackConfig:
        """What only the whole stack can tell: app names unique across its models."""
        refused: list[Refusal] = []
        servers: dict[str, int] = {}
        for j, server in enumerate(self.servers):
            if server.name in servers:
                used = f"a name not already used by servers[{servers[server.name]}]"
                refused.append(Refusal(server.name, used, "servers", j, "name"))
            servers.setdefault(server.name, j)
        seen: dict[str, int] = {}
        served: dict[tuple[str, str], int] = {}
        for i, model in enumerate(self.models):
            if model.app_name in seen:
                used = f"a name not already used by models[{seen[model.app_name]}]"
                refused.append(Refusal(model.app_name, used, "models", i, "app_name"))
            seen.setdefault(model.app_name, i)
            if model.app_name in servers:
                clash = (
                    f"a name no server uses: servers[{servers[model.app_name]}] also names "
                    f"{RESOURCE_PREFIX}{model.app_name}"
                )
                refused.append(Refusal(model.app_name, clash, "models", i, "app_name"))
            if model.server is None:
                continue
            if model.server not in servers:
                known = ", ".join(servers) or "none: add one to servers"
                refused.append(
                    Refusal(model.server, f"the name of an entry of servers ({known})", "models", i, "server")
                )
                continue
            if model.backend not in ("auto", "ovms"):
                only = f"ovms or auto: a shared server (server: {model.server}) is an OpenVINO Model Server"
                refused.append(Refusal(model.backend, only, "models", i, "backend"))
            tag = self.servers[servers[model.server]].ovms_image_tag
            if "GPU" in model.target_device and not tag.endswith(GPU_IMAGE_SUFFIX):
                gpu = (
                    f"a server whose ovms_image_tag is the {GPU_IMAGE_SUFFIX} variant for target_device "
                    f"{model.target_device}: servers[{servers[model.server]}] runs {tag}, which has no GPU "
                    "runtime"
                )
                refused.append(Refusal(model.server, gpu, "models", i, "server"))
            for key in SERVER_SETTINGS:
                if key in model.model_fields_set:
                    there = (
                        f"nothing: a model on server {model.server} takes {key} from "
                        f"servers[{servers[model.server]}]"
                    )
                    refused.append(Refusal(getattr(model, key), there, "models", i, key))
            first = next(k for k, m in enumerate(self.models) if m.server == model.server)
            if self.models[first].storage_scheme != model.storage_scheme:
                one = (
                    f"a model in the same storage as models[{first}] ({self.models[first].model}): "
                    f"server {model.server} reads all its models with one set of credentials"
                )
                refused.append(Refusal(model.model, one, "models", i, "model"))
            name = (model.server, model.model_name)
            if name in served:
                unique = f"a model_name not already served by server {model.server} (models[{served[name]}])"
                refused.append(Refusal(model.model_name, unique, "models", i, "model_name"))
            served.setdefault(name, i)
        _raise_all(refused)
        return self


# --- defaults, stated once on the fields above, in the form a user writes them --------------------------


def defaults(cls: type[Settings]) -> dict[str, Any]:
    """The defaults of a config object as a user would write them (required keys left out)."""
    found = {}
    for name, field in cls.model_fields.items():
        if field.is_required():
            continue
        default = field.get_default(call_default_factory=True)
        section = _settings_in(field.annotation)
        if section is not None and default == {}:
            found[name] = defaults(section)
        else:
            found[name] = json.loads(json.dumps(default, default=lambda m: m.model_dump(mode="json")))
    return found


def _settings_in(annotation: Any) -> type[Settings] | None:
    """The Settings class an annotation holds (directly, or as the items of a list or tuple)."""
    if isinstance(annotation, type) and issubclass(annotation, Settings):
        return annotation
    if get_origin(annotation) in (Annotated, list, tuple, Union) or get_args(annotation):
        for arg in get_args(annotation):
            found = _settings_in(arg)
            if found is not None:
                return found
    return None


#: Defaults of the stack-level settings, as a user would write them (read from the model's fields).
DEFAULTS: dict[str, Any] = {k: v for k, v in defaults(StackConfig).items() if k != "models"}
#: Defaults of a model entry, as a user would write them.
MODEL_DEFAULTS: dict[str, Any] = defaults(ModelConfig)
MODEL_REQUIRED = tuple(name for name, field in ModelConfig.model_fields.items() if field.is_required())


# --- parse: raw settings in, a StackConfig or one error listing every mistake out -----------------------


def gateway_ref(gateway: str, namespace: str) -> tuple[str, str]:
    """(namespace, name) of an istio.gateway value: `<namespace>/<name>`, or a bare name in `namespace`."""
    other, _, name = gateway.rpartition("/")
    return other or namespace, name


def _key(loc: tuple[str | int, ...]) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else str(part)
    return key


def _model_at(loc: tuple[str | int, ...]) -> type[Settings] | None:
    """The Settings class validating the object at a location (None below the model's objects)."""
    cls: type[Settings] | None = StackConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = cls.model_fields.get(part) if cls is not None else None
        cls = _settings_in(field.annotation) if field is not None else None
    return cls


def _context(loc: tuple[str | int, ...], raw: Mapping[str, Any]) -> str:
    """`app '<name>'` for a mistake inside a model entry whose app_name is a non-empty string."""
    if len(loc) < 2 or loc[0] != "models" or not isinstance(loc[1], int):
        return ""
    try:
        entry = _entries(raw.get("models"))[loc[1]]
        app_name = _mapping(entry, "").get("app_name")
    except (Refusal, IndexError):
        return ""
    return f"app {app_name!r}" if isinstance(app_name, str) and app_name else ""


def _known_keys(keys: tuple[str, ...], unknown: str) -> str:
    close = difflib.get_close_matches(unknown, keys, n=1)
    return "one of the keys " + ", ".join(keys) + (f" (did you mean {close[0]}?)" if close else "")


def _config_errors(error: ValidationError, raw: Mapping[str, Any]) -> list[ConfigError]:
    """pydantic's errors, each as a ConfigError naming the key path the user wrote."""
    found = []
    for line in error.errors(include_url=False):
        loc, kind = tuple(line["loc"]), line["type"]
        refusal = (line.get("ctx") or {}).get("error")
        if isinstance(refusal, Refusal):
            mistakes = [(loc + r.at, r.value, r.allowed) for r in refusal.refusals]
        elif kind == "extra_forbidden":
            cls = _model_at(loc[:-1])
            keys = tuple(cls.model_fields) + (tuple(SECRET_KEYS) if cls is StackConfig else ())
            mistakes = [(loc, line["input"], _known_keys(keys, str(loc[-1])))]
        elif kind == "missing":
            cls = _model_at(loc[:-1])
            field = cls.model_fields[str(loc[-1])] if cls is not None else None
            marks = [m for m in (field.metadata if field else ()) if isinstance(m, Required)]
            mistakes = [(loc, None, marks[0].allowed if marks else "a value (required)")]
        else:  # a type the field readers did not cover: pydantic's own words
            mistakes = [(loc, line["input"], line["msg"])]
        found += [
            ConfigError(_key(at), value, allowed, context=_context(at, raw))
            for at, value, allowed in mistakes
        ]
    return found


def parse(
    raw: Mapping[str, Any],
    secrets: Mapping[str, Any] | None = None,
    gcp: Mapping[str, str | None] | None = None,
) -> StackConfig:
    """Validate raw stack settings (keys without the namespace) into a StackConfig, or raise ConfigError.

    Every setting is checked in one pass, so one run reports every mistake of the stack: one mistake is a
    ConfigError, several a ConfigErrors listing them in order: an entry's storage and host are checked
    against the storage and istio sections whenever those are valid, and names are compared across
    entries once every entry is valid. `gcp` is the GCP
    provider's own config (project, region, zone): honoured rather than duplicated.
    """
    secrets = {k: v for k, v in (secrets or {}).items() if v is not None}
    plain = [k for k in raw if k in SECRET_KEYS]
    mistakes = [
        ConfigError(key, "<hidden>", f"a secret: pulumi config set --secret {NAMESPACE}:{key}")
        for key in plain
    ]
    context: dict[str, Any] = {"secrets": secrets, "gcp": gcp or {}}
    for name, section in (("storage", StorageConfig), ("istio", IstioConfig)):
        # What every model entry is checked against; a mistake in it is reported by the whole pass below.
        with contextlib.suppress(ValidationError):
            context[name] = section.model_validate(raw.get(name))
    try:
        stack = StackConfig.model_validate({k: v for k, v in raw.items() if k not in plain}, context=context)
    except ValidationError as error:
        mistakes += _config_errors(error, raw)
    if mistakes:
        raise mistakes[0] if len(mistakes) == 1 else ConfigErrors(mistakes)
    stack._credentials = secrets
    stack._warnings = tuple(
        f"{NAMESPACE}:models[{i}].batch_size (app {m.app_name!r}): {BATCH_AUTO_WARNING}"
        for i, m in enumerate(stack.models)
        if m.batch_size == "auto"
    )
    return stack


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the namespace's plain settings (what an editor or a CI linter can check)."""
    schema = StackConfig.model_json_schema()
    schema["title"] = f"{NAMESPACE} stack settings"
    return schema


#: Keys read with `get_object` (sections and lists of entries); the rest are plain strings.
OBJECT_KEYS = tuple(
    name for name, field in StackConfig.model_fields.items() if _settings_in(field.annotation)
)


def load() -> StackConfig:
    """Read and validate the `fuseml-serving` stack config of the running Pulumi program."""
    import pulumi
    from pulumi.runtime.config import CONFIG, get_config_env, is_config_secret

    config = pulumi.Config(NAMESPACE)
    raw: dict[str, Any] = {}
    for key in StackConfig.model_fields:
        value = config.get_object(key) if key in OBJECT_KEYS else config.get(key)
        if value is not None:
            raw[key] = value
    # Every key the stack sets in this namespace, so that a typo (`namepsace`) is refused, not ignored.
    prefix = f"{NAMESPACE}:"
    given = {name[len(prefix) :] for name in {**get_config_env(), **CONFIG.get()} if name.startswith(prefix)}
    for key in sorted(given - {*StackConfig.model_fields, *SECRET_KEYS}):
        raw[key] = config.get(key)
    # Pulumi.yaml cannot declare the secret keys (the CLI refuses a plain default for one), so the CLI no
    # longer insists they are encrypted: this does, as `raw` would for any other source.
    for key in SECRET_KEYS:
        if config.get(key) is not None and not is_config_secret(f"{NAMESPACE}:{key}"):
            raw[key] = "<hidden>"
    secrets = {key: config.get_secret(key) for key in SECRET_KEYS}
    provider = pulumi.Config("gcp")
    return parse(raw, secrets, {key: provider.get(key) for key in ("project", "region", "zone")})
