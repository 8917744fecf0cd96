"""Settings only OpenVINO Model Server reads: the model entry's OVMS keys, shared `servers`, and the
`operator` section, with their readers, defaults and docs.

Why with the backend: these keys mean something only to OVMS; another backend given one refuses it,
naming this one (components/serving.py), and the stack model takes them from here
(components/config/stack.py composes every backend's settings).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from components.config.base import Required, Settings, section
from components.config.entries import Served
from components.config.errors import Refusal
from components.config.quantities import DEFAULT_RESOURCES, ExtraLimits, Resources, resolved_resources
from components.config.readers import (
    NO_USERINFO,
    VERSION,
    _app_name,
    _bool,
    _integer,
    _integral,
    _json_text,
    _list_of,
    _matching,
    _one_of,
    _pinned_tag,
    _text,
)
from kernel.backends import OVMS_NEWEST_RUNNABLE, OVMS_RELEASE
from kernel.credentials import has_userinfo
from kernel.names import DNS_LABEL, RESOURCE_PREFIX

LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARNING", "ERROR")
#: OpenVINO 2023+ devices: MYRIAD and HDDL were removed in 2023.0 ("support has been cancelled for all VPU
#: accelerators based on Intel Movidius", openvino docs/OV_Runtime_UG/supported_plugins/Supported_Devices.md),
#: NPU added; GPU.<n> picks one GPU ("GPU is an alias for GPU.0", .../supported_plugins/GPU.md).
BASE_DEVICES = ("CPU", "GPU", "NPU")
#: Virtual devices taking a priority list: AUTO:GPU,CPU, MULTI:GPU,CPU, HETERO:GPU,CPU.
DEVICE_LISTS = ("AUTO", "MULTI", "HETERO")
REMOVED_DEVICES = ("MYRIAD", "HDDL")
#: The image variant with the GPU runtime (openvino/model_server:<release>-gpu).
GPU_IMAGE_SUFFIX = "-gpu"
_DIM = r"(-1|[0-9]+|[0-9]+:[0-9]+)"
_SHAPE_TUPLE = re.compile(rf"^\(\s*{_DIM}(\s*,\s*{_DIM})*\s*\)$")
_LAYOUT_PART = r"(\.\.\.|[NCHWD?])+"
_LAYOUT = re.compile(rf"^{_LAYOUT_PART}(:{_LAYOUT_PART})?$")
#: pulumi-kubernetes hands a non-local kustomize directory to the SDK's git helper, which takes the ref
#: from a `/tree/<ref>/` path segment (sdk/go/common/util/gitutil/git.go,
#: GetGitReferenceNameOrHashAndSubDirectory); a `?ref=` query is not read at all.
_GIT_TREE_URL = re.compile(r"https://[^/\s]+/[^/\s]+/[^/\s]+/tree/[^/\s]+(/[^\s]+)?")


def _manifests(value: Any) -> str:
    """A kustomize folder: a local directory that exists, or a git URL in the form pulumi-kubernetes reads."""
    source = _text(value)
    if "://" in source:
        if has_userinfo(source):
            raise Refusal(value, f"a git URL of the operator's manifests with {NO_USERINFO}")
        if not _GIT_TREE_URL.fullmatch(source):
            raise Refusal(
                source,
                "a local folder or a git URL https://<host>/<owner>/<repo>/tree/<tag or commit>/<folder>",
            )
        return source
    try:
        found = (Path(source) / "kustomization.yaml").is_file()
    except OSError:
        # is_file answers False only for missing paths: a name too long for the filesystem
        # (ENAMETOOLONG) or an unreadable folder raises.
        found = False
    if not found:
        raise Refusal(source, "a local folder holding a kustomization.yaml")
    return str(Path(source).resolve())


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
_BATCH = re.compile(r"^\s*(-1|[1-9][0-9]*|[1-9][0-9]*:[1-9][0-9]*)\s*$")


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
    return name in BASE_DEVICES or bool(re.fullmatch(r"GPU\.[0-9]+", name))


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


def _image_tag(tag: Any) -> str:
    """A pinned release tag the operator can run (the -gpu variant is checked against the device)."""
    _pinned_tag(tag)
    release = re.match(r"([0-9]{4})\.([0-9]+)", tag)
    if release and (int(release[1]), int(release[2])) > OVMS_NEWEST_RUNNABLE:
        newest = ".".join(map(str, OVMS_NEWEST_RUNNABLE))
        raise Refusal(
            tag,
            f"a release up to {newest}: OVMS 2026.3 removed the TensorFlow Serving API and a flag the "
            "OpenVINO operator 1.2.0 always passes",
        )
    return tag


#: The default plugin_config, as the CR holds it (compact JSON text).
LATENCY_HINT = '{"PERFORMANCE_HINT":"LATENCY"}'

#: Settings of a server's deployment, shared by a model entry (its own server) and a `servers` entry.
ImageTag = Annotated[str, BeforeValidator(_image_tag)]
LogLevel = Annotated[Literal["TRACE", "DEBUG", "INFO", "WARNING", "ERROR"], _one_of(LOG_LEVELS, str.upper)]
Replicas = Annotated[int, _integer(1)]


class OperatorConfig(Settings):
    """The OpenVINO operator: installed at a pinned version, or relied upon."""

    install: Annotated[bool, BeforeValidator(_bool)] = True
    """Install the operator, or rely on one already installed."""
    version: Annotated[str, _matching(VERSION, "a pinned release like 1.2.0")] = "1.2.0"
    """Operator release (its ModelServer CRD is the one the program writes)."""
    namespace: Annotated[str, _matching(DNS_LABEL, "a namespace name")] = "ovms-operator-system"
    """Namespace of the operator."""
    manifests: Annotated[str | None, BeforeValidator(_manifests)] = None
    """The kustomize folder to install from: a local folder, or a git URL
    https://<host>/<owner>/<repo>/tree/<tag or commit>/<folder>; default the release's config/default."""


class ServerConfig(Served):
    """An OpenVINO Model Server shared by several models (OVMS multi-model mode, one config.json)."""

    name: Annotated[str, BeforeValidator(_app_name), Required("a DNS label naming the server (required)")]
    """DNS label of at most 48 chars; names the `ovms-<name>` objects and the server's host
    `<name>.<host_prefix>.<domain>`; models choose it with `server: <name>`."""
    ovms_image_tag: ImageTag = OVMS_RELEASE
    """As a model's `ovms_image_tag`."""
    loglevel: LogLevel = "INFO"
    """OVMS log level."""
    replicas: Replicas = 1
    """Server replicas."""
    resources: Resources = Field(default_factory=lambda: DEFAULT_RESOURCES)
    """As a model's `resources`."""
    resources_limits: ExtraLimits = None
    """As a model's `resources_limits`."""

    @property
    def resource_name(self) -> str:
        """The name of the server's ModelServer, ConfigMap, Service and VirtualService."""
        return RESOURCE_PREFIX + self.name

    @model_validator(mode="after")
    def _as_served(self) -> ServerConfig:
        return self.updated({"resources": resolved_resources(self)})


class OvmsModelSettings(Settings):
    """A model entry's keys that only OpenVINO Model Server reads."""

    server: Annotated[str | None, _matching(DNS_LABEL, "the name of an entry of servers")] = None
    """Serve on this shared OVMS server (an entry of `servers`) instead of a server of its own."""
    ovms_image_tag: ImageTag = OVMS_RELEASE
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
    has no MYRIAD or HDDL); a GPU needs an `ovms_image_tag` ending in `-gpu`, and a cluster this stack does
    not create (GKE offers no Intel GPU)."""
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


#: What a model on a shared server (`server:`) takes from that server instead.
SERVER_SETTINGS = ("ovms_image_tag", "loglevel", "replicas", "resources", "resources_limits")


class OvmsStackSettings(Settings):
    """The stack-level keys of the OVMS wing: the operator, and servers shared by several models."""

    operator: OperatorConfig = section()
    """The OpenVINO operator."""
    servers: Annotated[
        list[ServerConfig], BeforeValidator(_list_of("a list of servers {name, ovms_image_tag, ...}"))
    ] = Field(default_factory=list)
    """Shared OpenVINO Model Servers, each serving several models from one config.json."""


def check_model(model: Any, context: Mapping[str, Any]) -> list[Refusal]:
    """A GPU device needs the image with the GPU runtime (a model on a shared server runs the server's
    image: the stack check looks at that one)."""
    if model.server is None and "GPU" in model.target_device and not model.ovms_image_tag.endswith(
        GPU_IMAGE_SUFFIX
    ):
        return [
            Refusal(
                model.ovms_image_tag,
                f"the {GPU_IMAGE_SUFFIX} image variant (e.g. {OVMS_RELEASE}{GPU_IMAGE_SUFFIX}) for "
                f"target_device {model.target_device}: the plain image has no GPU runtime",
                "ovms_image_tag",
            )
        ]
    return []


def check_stack(stack: Any) -> list[Refusal]:
    """Shared servers: names unique and distinct from the models', each model's server known, of OVMS,
    with a GPU image for a GPU model, one store, unique model names; no GPU on a cluster this stack
    creates."""
    refused: list[Refusal] = []
    servers: dict[str, int] = {}
    for j, server in enumerate(stack.servers):
        if server.name in servers:
            used = f"a name not already used by servers[{servers[server.name]}]"
            refused.append(Refusal(server.name, used, "servers", j, "name"))
        servers.setdefault(server.name, j)
    served: dict[tuple[str, str], int] = {}
    for i, model in enumerate(stack.models):
        if stack.cluster.create and "GPU" in model.target_device:
            refused.append(Refusal(
                model.target_device,
                "a CPU device on a cluster this stack creates (cluster.mode: create): its Intel N2 pool has "
                "no accelerator and GKE offers no Intel GPU, which OpenVINO's GPU plugin needs, so the "
                "server "
                "could never be scheduled; serve GPUs on an existing cluster that has them",
                "models", i, "target_device",
            ))  # fmt: skip
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
        tag = stack.servers[servers[model.server]].ovms_image_tag
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
        first = next(k for k, m in enumerate(stack.models) if m.server == model.server)
        if stack.models[first].storage_scheme != model.storage_scheme:
            one = (
                f"a model in the same storage as models[{first}] ({stack.models[first].model}): "
                f"server {model.server} reads all its models with one set of credentials"
            )
            refused.append(Refusal(model.model, one, "models", i, "model"))
        name = (model.server, model.model_name)
        if name in served:
            unique = f"a model_name not already served by server {model.server} (models[{served[name]}])"
            refused.append(Refusal(model.model_name, unique, "models", i, "model_name"))
        served.setdefault(name, i)
    return refused


def warnings_of(model: Any) -> list[tuple[str, str]]:
    """`batch_size: auto` works, but upstream deprecated it."""
    return [("batch_size", BATCH_AUTO_WARNING)] if model.batch_size == "auto" else []
