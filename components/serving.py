"""What every serving backend shares: the plan of a model (which backend, which format, and why), its URLs,
and the Istio route and FuseML registration around the objects the backend makes.

Why one shape: OVMS, KServe, Seldon Core and ModelMesh differ only in the objects they need and where the
model then answers; ownership, exposure and registration must follow the same rules for all of them, so a
backend is a subclass that says those two things (`components/backends/`, one file each).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.config import (
    _DNS_LABEL,
    FORMATS,
    NAMESPACE,
    OVMS_SETTINGS,
    RESOURCE_PREFIX,
    ConfigError,
    ConfigErrors,
    ModelConfig,
    StackConfig,
    StorageConfig,
)
from components.route import virtual_service

#: Model settings that belong to some backends only; each backend lists the ones it reads in SETTINGS.
SPECIFIC_SETTINGS = (*OVMS_SETTINGS, "loglevel", "server", "runtime", "runtime_version", "protocol_version")
#: Where `backend: auto` looks first: OpenVINO Model Server for what it serves (IR and ONNX run fastest on
#: Intel CPUs there), then KServe for everything else; Seldon and ModelMesh only when asked for by name.
AUTO_ORDER = ("ovms", "kserve")


class RegistrationArgs(TypedDict):
    """How a served model is registered as a FuseML Application."""

    server_url: str
    """FuseML server URL."""
    workflow: str
    """Workflow recorded as the application's owner."""
    owner: str
    """The managing stack, `<project>/<stack>`, recorded in the application's description."""
    timeout_s: float
    """Timeout of each FuseML call."""


@dataclass(frozen=True)
class Plan:
    """How one model is served: the backend, the model's format, and why (the stack's `serving` output)."""

    backend: str
    format: str
    why: str
    runtime: str
    """What the backend runs the model with (a ServingRuntime, a Seldon server, or OVMS itself)."""


@dataclass(frozen=True)
class Urls:
    """Where a served model answers."""

    host: str
    prediction: str
    """The URL clients post predictions to, and FuseML lists."""
    inference: str
    """The KServe v2 (open inference protocol) URL, where the backend serves it."""
    grpc: str = ""
    """The in-cluster gRPC endpoint, for backends whose clients speak gRPC (ModelMesh)."""


class BackendArgs(TypedDict):
    """Inputs of one served model, whatever its backend."""

    namespace: str
    """Namespace of the model's objects."""
    stack: StackConfig
    """The whole validated stack (a backend reads its own section there)."""
    model: ModelConfig
    """The validated model entry."""
    plan: Plan
    """The backend, format and runtime `plan` chose."""
    urls: Urls
    """Where the model answers."""
    storage: StorageConfig
    """Non-secret storage settings (S3 endpoint, region, volume claim)."""
    credentials: Mapping[str, pulumi.Input[str]]
    """Secret values keyed by config name; only the ones this model's storage needs are used."""
    labels: dict[str, str]
    """Labels of every object (fuseml/app-name and friends)."""
    node_affinity: dict[str, Any] | None
    """Required node affinity that keeps servers on the Intel pool."""
    gateway: str
    """The Istio Gateway of routes this program makes, `<namespace>/<name>`."""
    registration: RegistrationArgs | None
    """FuseML registration, or None to serve without registering."""


class Backend(pulumi.ComponentResource):
    """One model served by one backend: its objects, its route when the backend has none, its Application.

    A subclass sets the class attributes and implements `objects`; this class names the component
    `fuseml-serving:<NAME>:<class name>`, routes `<host>` to ROUTE (when set) through the stack's gateway,
    and registers the model with FuseML once its objects and route exist.
    """

    NAME: ClassVar[str]
    """The word of the `backend` setting."""
    STATUS: ClassVar[str]
    """Where the backend stands upstream, said to the user in the plan and the README."""
    FORMATS: ClassVar[dict[str, str]]
    """Each format served, with what runs it (a ServingRuntime, a Seldon server, or OVMS itself)."""
    SETTINGS: ClassVar[tuple[str, ...]]
    """The backend-specific model settings it reads (of SPECIFIC_SETTINGS)."""
    KIND: ClassVar[str]
    """The kind of its main object, listed on the FuseML Application."""
    SCHEMES: ClassVar[tuple[str, ...]] = ("s3", "gs", "az", "azfs", "")
    """The model URL schemes its storage initializer reads ("" for a path on the models claim)."""
    ROUTE: ClassVar[tuple[str, int] | None] = None
    """(Service name template, port) an Istio route sends the model's host to; None when the backend
    exposes the model itself. The template is formatted with the model's resource names."""
    IGNORES: ClassVar[dict[str, str]] = {}
    """Common model settings the backend has no use for, with why: given, they are refused, not dropped."""
    LETTER_FIRST: ClassVar[bool] = False
    """Whether its object names must start with a letter (DNS-1035: KServe's webhook, Services)."""

    name: pulumi.Output[str]
    url: pulumi.Output[str]

    @classmethod
    def urls(cls, cfg: StackConfig, model: ModelConfig, plan: Plan) -> Urls:
        """Where the model answers: its host, the URL FuseML lists, and the v2 one."""
        raise NotImplementedError

    def objects(self, name: str, args: BackendArgs) -> list[pulumi.Resource]:
        """Register the backend's own objects (children of self) and return them."""
        raise NotImplementedError

    @classmethod
    def name_of(cls, model: ModelConfig) -> str:
        """The name of the model's main object (and of its route)."""
        return model.resource_name

    @classmethod
    def route(cls, plan: Plan) -> tuple[str, int] | None:
        """Where an Istio route sends the model's host (ROUTE, unless the runtime has no REST to route to)."""
        return cls.ROUTE

    @classmethod
    def refusals(cls, model: ModelConfig, plan: Plan) -> list[tuple[str, Any, str]]:
        """(key, value, allowed) of what this backend cannot do with the entry; subclasses add theirs."""
        found = [
            (key, getattr(model, key), f"nothing with backend {cls.NAME}: {why}")
            for key, why in cls.IGNORES.items()
            if key in model.model_fields_set
        ]
        if model.runtime is not None and not _DNS_LABEL.fullmatch(model.runtime):
            found.append(("runtime", model.runtime, "a ServingRuntime name (a DNS label)"))
        if cls.LETTER_FIRST and not model.app_name[:1].isalpha():
            found.append((
                "app_name",
                model.app_name,
                f"a name starting with a letter for backend {cls.NAME}: it names the {cls.KIND} and its "
                "Services, which Kubernetes wants DNS-1035 labels",
            ))  # fmt: skip
        return found

    @classmethod
    def stack_notices(cls, cfg: StackConfig, planned: Mapping[str, Plan]) -> list[str]:
        """Warnings about what the stack relies on this backend's cluster to have (none by default)."""
        return []

    def object_name(self, args: BackendArgs) -> str:
        return self.name_of(args["model"])

    def custom_object(
        self,
        name: str,
        args: BackendArgs,
        api_version: str,
        spec: dict[str, Any],
        *,
        annotations: dict[str, str] | None = None,
        depends_on: list[pulumi.Resource] | None = None,
        secret_spec: bool = False,
    ) -> pulumi.Resource:
        """The backend's main object, `<name>-server`: KIND under object_name, the model's labels."""
        metadata: dict[str, Any] = {
            "name": self.object_name(args),
            "namespace": args["namespace"],
            "labels": args["labels"],
        }
        if annotations:
            metadata["annotations"] = annotations
        return k8s.apiextensions.CustomResource(
            f"{name}-server",
            api_version=api_version,
            kind=self.KIND,
            metadata=metadata,
            spec=spec,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=depends_on or [],
                additional_secret_outputs=["spec"] if secret_spec else None,
            ),
        )

    def __init__(self, name: str, args: BackendArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"fuseml-serving:{self.NAME}:{type(self).__name__}", name, None, opts)
        made = self.objects(name, args)
        listed = [{"name": self.object_name(args), "kind": self.KIND}]
        route = self.route(args["plan"])
        if route is not None:
            service, port = route
            made.append(
                virtual_service(
                    f"{name}-route",
                    {
                        "name": self.object_name(args),
                        "namespace": args["namespace"],
                        "host": args["urls"].host,
                        "gateway": args["gateway"],
                        "destination": f"{service.format(name=self.object_name(args))}.{args['namespace']}"
                        ".svc.cluster.local",
                        "port": port,
                        "labels": args["labels"],
                    },
                    opts=pulumi.ResourceOptions(parent=self, depends_on=list(made)),
                )
            )
            listed.append({"name": self.object_name(args), "kind": "VirtualService"})
        if args["registration"] is not None:
            register(name, args, listed, made, self)
        self.name = pulumi.Output.from_input(self.object_name(args))
        self.url = pulumi.Output.from_input(args["urls"].prediction)
        self.register_outputs({"name": self.name, "url": self.url})


def register(
    name: str,
    args: BackendArgs,
    listed: list[dict[str, str]],
    depends_on: list[pulumi.Resource],
    parent: pulumi.Resource,
) -> None:
    """The model's FuseML Application, registered after what it lists, so FuseML never lists a dead URL."""
    # Imported here so a stack that never registers does not load the dynamic provider machinery.
    from fuseml.provider import Application

    registration, model = args["registration"], args["model"]
    assert registration is not None
    Application(
        f"{name}-app",
        {
            "server_url": registration["server_url"],
            "name": model.app_name,
            "type": "predictor",
            "description": f"{args['plan'].backend} service deployed for {model.model}",
            "url": args["urls"].prediction,
            "workflow": registration["workflow"],
            "owner": registration["owner"],
            "k8s_namespace": args["namespace"],
            # Listed so that `fuseml application delete` cleans up like the original step did; the
            # provider detaches them before its own delete, so a Pulumi replace never removes live objects.
            "k8s_resources": listed,
            "adopt": model.adopt,
            "timeout_s": registration["timeout_s"],
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
    )


#: Reads a model folder's format: url -> (format, evidence); raises modelstore's StoreError.
Detect = Callable[[str], tuple[str, str]]


def store_detector(storage: StorageConfig, credentials: Mapping[str, str]) -> Detect:
    """Read a model's format from its store (modelstore) with these plain credentials and the stack's
    storage settings: the one reading that `pulumi up` and the workflow step share."""
    from modelstore.detect import detect

    def read(url: str) -> tuple[str, str]:
        found = detect(url, credentials, endpoint=storage.s3_endpoint, region=storage.aws_region)
        return found.format, found.evidence

    return read


def plans(cfg: StackConfig, backends: Mapping[str, type[Backend]], detect: Detect) -> dict[str, Plan]:
    """The plan of every model, or one ConfigError listing every model that cannot be served as asked.

    `format: auto` is read from the store (`detect`) only where it decides something: a model on
    OpenVINO Model Server (`backend: ovms`, a shared server, or `auto` with settings only OVMS reads)
    needs none, since OVMS reads the folder itself. Backend-specific settings given for another backend
    are refused, naming both.
    """
    found: dict[str, Plan] = {}
    mistakes: list[ConfigError] = []
    for i, model in enumerate(cfg.models):
        try:
            found[model.app_name] = _plan(i, model, backends, detect)
        except ConfigError as error:
            mistakes += error.errors
    names: dict[str, str] = {
        f"{RESOURCE_PREFIX}{server.name}": f"servers entry {server.name}" for server in cfg.servers
    }
    for i, model in enumerate(cfg.models):
        if model.app_name not in found or model.server is not None:
            continue
        name = backends[found[model.app_name].backend].name_of(model)
        if name in names:
            clash = f"a name whose objects do not clash: {names[name]} already names its objects {name}"
            mistakes.append(
                ConfigError(f"models[{i}].app_name", model.app_name, clash, context=f"app {model.app_name!r}")
            )
        names.setdefault(name, f"models[{i}] ({model.app_name})")
    if mistakes:
        raise mistakes[0] if len(mistakes) == 1 else ConfigErrors(mistakes)
    return found


def _plan(i: int, model: ModelConfig, backends: Mapping[str, type[Backend]], detect: Detect) -> Plan:
    def refuse(key: str, value: Any, allowed: str) -> ConfigError:
        return ConfigError(f"models[{i}].{key}", value, allowed, context=f"app {model.app_name!r}")

    fmt, evidence = model.format, "format set in the stack"
    # OVMS-only settings say which backend is meant, as a shared server does: OVMS reads the folder itself.
    ovms_only = [key for key in (*OVMS_SETTINGS, "server") if key in model.model_fields_set]
    ovms_reads_it = model.backend == "ovms" or (model.backend == "auto" and bool(ovms_only))
    if fmt == "auto" and not ovms_reads_it:
        from modelstore.errors import StoreError

        try:
            fmt, evidence = detect(model.model)
        except StoreError as err:
            raise refuse(
                "format",
                "auto",
                f"a format (one of {', '.join(FORMATS[1:])}): the model's MLmodel could not be read to "
                f"detect it ({err})",
            ) from None
    backend = model.backend if model.backend != "auto" else "ovms" if ovms_reads_it else None
    if model.backend == "auto" and ovms_reads_it:
        why = f"ovms: the entry sets {', '.join(ovms_only)}, which only OpenVINO Model Server reads"
    elif backend is None:
        backend = next((b for b in AUTO_ORDER if fmt in backends[b].FORMATS), None)
        if backend is None:
            raise refuse("format", fmt, f"a format one of {', '.join(AUTO_ORDER)} serves")
        why = f"{fmt} ({evidence}): {backend} is the fastest backend here that serves {fmt} on Intel CPUs"
    else:
        why = f"backend {backend} set in the stack; format {fmt} ({evidence})"
    chosen = backends[backend]
    mistakes = []
    if fmt != "auto" and fmt not in chosen.FORMATS:
        others = [b for b, cls in backends.items() if fmt in cls.FORMATS]
        mistakes.append(
            refuse(
                "format",
                fmt,
                f"a format backend {backend} serves ({', '.join(chosen.FORMATS)}); {fmt} is served by "
                f"{', '.join(others) or 'none of the backends'}",
            )
        )
    if model.storage_scheme not in chosen.SCHEMES:
        schemes = ", ".join(f"{s}://" if s else "a path on the models claim" for s in chosen.SCHEMES)
        mistakes.append(refuse("model", model.model, f"a model URL backend {backend} reads: {schemes}"))
    for key in SPECIFIC_SETTINGS:
        if key in model.model_fields_set and key not in chosen.SETTINGS:
            owners = [b for b, cls in backends.items() if key in cls.SETTINGS]
            mistakes.append(
                refuse(
                    key,
                    getattr(model, key),
                    f"nothing with backend {backend}: {key} is a setting of the {' and '.join(owners)} "
                    "backend" + ("s" if len(owners) > 1 else ""),
                )
            )
    runtime = model.runtime or chosen.FORMATS.get(fmt) or chosen.NAME
    plan = Plan(backend, fmt, why, runtime)
    if not mistakes:
        mistakes += [refuse(key, value, allowed) for key, value, allowed in chosen.refusals(model, plan)]
    if mistakes:
        raise mistakes[0] if len(mistakes) == 1 else ConfigErrors(mistakes)
    return plan


def notices(
    cfg: StackConfig, planned: Mapping[str, Plan], backends: Mapping[str, type[Backend]]
) -> list[str]:
    """One line per backend in use that upstream no longer moves forward, naming its models and saying
    what that means."""
    apps: dict[str, list[str]] = {}
    for model in cfg.models:
        apps.setdefault(planned[model.app_name].backend, []).append(model.app_name)
    lines = [
        f"{NAMESPACE}: backend {backend} ({', '.join(names)}): {backends[backend].STATUS}"
        for backend, names in apps.items()
        if not backends[backend].STATUS.startswith("active")
    ]
    lines += [line for backend in backends.values() for line in backend.stack_notices(cfg, planned)]
    return lines
