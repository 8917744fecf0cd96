"""What every serving backend shares: the plan of a model (which backend, which format, and why), its URLs,
and the Istio route and FuseML registration around the objects the backend makes.

Why one shape: OVMS, KServe, Seldon Core and ModelMesh differ only in the objects they need and where the
model then answers; ownership, exposure and registration must follow the same rules for all of them, so a
backend is a subclass that says those two things (`components/backends/`, one file each).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.config.base import Settings
from components.config.entries import ModelCheck, ModelWarning, StackCheck
from components.config.sections import StorageConfig
from components.route import virtual_service
from kernel.backends import Upstream
from kernel.names import DNS_SUBDOMAIN, MAX_HOST

if TYPE_CHECKING:
    from components.config import ModelConfig, StackConfig


#: Labels of every object the program makes.
MANAGED_BY = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "fuseml-serving"}


def all_of(prerequisites: list[Any]) -> pulumi.Output[list[pulumi.Resource]]:
    """One dependency list from resources and outputs of resource lists (the operator's install)."""
    return pulumi.Output.all(*prerequisites).apply(
        lambda items: [r for item in items for r in (item if isinstance(item, list) else [item])]
    )


@dataclass(frozen=True)
class Site:
    """Where a backend's once-per-stack objects go (Backend.prerequisites)."""

    cfg: Any
    """The validated StackConfig, its credentials secret Outputs."""
    planned: Mapping[str, Plan]
    """Every model's plan."""
    labels: dict[str, str]
    """Labels of the stack-wide objects."""
    provider: pulumi.ProviderResource
    """The Kubernetes provider."""
    after: list[Any]
    """What they are registered after: the namespace, when the stack creates it, and the prerequisites of
    the backends before this one."""


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
    kubeconfig: pulumi.Input[str] | None
    """The cluster's kubeconfig (a secret) in create mode, for the readiness waits; None: the ambient one."""
    watched: dict[str, Watched]
    """Each gated model's readiness, by app name (one dict for the whole stack): for the stack's gate
    (registration off) and the stack output `serving`."""


@dataclass
class Watched:
    """A model that `pulumi up` waits for: its readiness spec, what the wait comes after, and the FuseML
    Application that waits for it (None: the stack's gate does, as the stack does not register)."""

    spec: Any
    after: list[pulumi.Resource]
    by: Any = None


class Backend(pulumi.ComponentResource):
    """One model served by one backend: its objects, its route when the backend has none, its Application.

    A subclass sets the class attributes and implements `objects`; this class names the component
    `fuseml-serving:<NAME>:<class name>`, routes `<host>` to ROUTE (when set) through the stack's gateway,
    and registers the model with FuseML once its objects and route exist.
    """

    NAME: ClassVar[str]
    """The word of the `backend` setting."""
    UPSTREAM: ClassVar[Upstream]
    """Where the backend stands upstream, said to the user in the plan, the README and the policy pack."""
    FORMATS: ClassVar[dict[str, str]]
    """Each format served, with what runs it (a ServingRuntime, a Seldon server, or OVMS itself)."""
    MODEL_SETTINGS: ClassVar[tuple[type[Settings], ...]] = ()
    """The model entry keys only some backends read, declared where they are read: this backend's own
    settings classes (a key several backends read is one shared class, listed by each)."""
    STACK_SETTINGS: ClassVar[type[Settings] | None] = None
    """The stack-level keys this backend owns (a section such as `kserve`), or None."""
    MODEL_CHECKS: ClassVar[tuple[ModelCheck, ...]] = ()
    """Checks of each model entry that only this backend's settings make (run whatever the backend)."""
    STACK_CHECKS: ClassVar[tuple[StackCheck, ...]] = ()
    """Checks across the stack that only this backend's settings make."""
    MODEL_WARNINGS: ClassVar[tuple[ModelWarning, ...]] = ()
    """Warnings about accepted but discouraged values of its settings."""
    AUTO_RANK: ClassVar[int | None] = None
    """Where `backend: auto` looks for a format's backend (lowest first); None: only when named."""
    AUTO_KEYS: ClassVar[tuple[str, ...]] = ()
    """Model keys whose presence under `backend: auto` means this backend (it alone reads them)."""
    KIND: ClassVar[str]
    """The kind of its main object, listed on the FuseML Application."""
    PRODUCT: ClassVar[str] = ""
    """The serving system's name in sentences (OpenVINO Model Server, KServe, ...)."""
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
    def settings(cls) -> tuple[str, ...]:
        """The backend-specific model keys it reads."""
        return tuple(key for mixin in cls.MODEL_SETTINGS for key in mixin.model_fields)

    @classmethod
    def prerequisites(cls, site: Site) -> list[Any]:
        """What it installs once per stack before any model (resources, or Outputs of resource lists);
        nothing by default."""
        return []

    @classmethod
    def serve(
        cls, cfg: StackConfig, models: list[BackendArgs], workflow: str, opts: pulumi.ResourceOptions
    ) -> None:
        """Register the stack's models planned on this backend: one component each, by default."""
        for args in models:
            cls(args["model"].app_name, args, opts=opts)

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
        runtime = getattr(model, "runtime", None)
        # A ServingRuntime is named like most Kubernetes objects: a DNS subdomain (ModelMesh's built-in
        # runtimes are ovms-1.x, triton-2.x, mlserver-1.x).
        if runtime is not None and not (len(runtime) <= MAX_HOST and DNS_SUBDOMAIN.fullmatch(runtime)):
            subdomain = "a ServingRuntime name (a lowercase DNS subdomain, e.g. triton-2.x)"
            found.append(("runtime", runtime, subdomain))
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
        self.server_object = k8s.apiextensions.CustomResource(
            f"{name}-server",
            api_version=api_version,
            kind=self.KIND,
            metadata=metadata,
            spec=spec,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=depends_on or [],
                # The status too: the operator's Helm status holds the rendered release (deployedRelease.
                # manifest, operator-sdk helm), whose Deployment carries the inline S3 key id.
                additional_secret_outputs=["spec", "status"] if secret_spec else None,
            ),
        )
        return self.server_object

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
        server = getattr(self, "server_object", None)
        finish(name, args, self.NAME, self.object_name(args), server, made, listed, self)
        self.name = pulumi.Output.from_input(self.object_name(args))
        self.url = pulumi.Output.from_input(args["urls"].prediction)
        self.register_outputs({"name": self.name, "url": self.url})


def finish(
    name: str,
    args: BackendArgs,
    backend: str,
    object_name: str,
    server: pulumi.CustomResource | None,
    made: list[pulumi.Resource],
    listed: list[dict[str, str]],
    parent: pulumi.Resource,
) -> None:
    """The model's readiness and registration, after what it serves through: when the stack registers,
    its FuseML Application waits until the model serves and only then registers it; otherwise the stack's
    gate waits for it (program.build, once every model is served)."""
    model = args["model"]
    spec = readiness_spec(args, backend, object_name, server)
    application = None
    if args["registration"] is not None:
        application = register(name, args, listed, made, parent, spec)
    if spec is not None:
        args["watched"][model.app_name] = Watched(spec, list(made), application)


def readiness_spec(
    args: BackendArgs, backend: str, object_name: str, server: pulumi.CustomResource | None
) -> Any:
    """The model's readiness spec; None when ready_timeout_s is 0, or for a backend whose readiness rule
    components/readiness/verdicts.py does not know."""
    # Imported here, as the Application is: a stack that never waits does not load the dynamic provider.
    from components.readiness import spec
    from components.readiness.verdicts import waited_for

    model = args["model"]
    if server is None or not waited_for(backend, model.ready_timeout_s):
        return None
    return spec(backend, args["namespace"], object_name, model.ready_timeout_s, server)


def register(
    name: str,
    args: BackendArgs,
    listed: list[dict[str, str]],
    depends_on: list[pulumi.Resource],
    parent: pulumi.Resource,
    readiness: Any = None,
) -> pulumi.Resource:
    """The model's FuseML Application, registered after what it lists and, with `readiness`, once the
    model serves, so FuseML never lists a dead URL."""
    # Imported here so a stack that never registers does not load the dynamic provider machinery.
    from fuseml.provider import Application

    registration, model = args["registration"], args["model"]
    assert registration is not None
    waits: dict[str, Any] = {}
    if readiness is not None:
        from components.readiness import child_urn

        kubeconfig = args.get("kubeconfig")
        waits = {
            "readiness": readiness,
            "kubeconfig": kubeconfig,
            "status_urn": child_urn(parent, "pulumi-python:dynamic/fuseml:Application", f"{name}-app"),
        }
    return Application(
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
            **waits,
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
    )
