"""The stack-wide sections every backend shares: the cluster and its Intel pool, Istio exposure, model
storage and FuseML registration.
"""

from __future__ import annotations

import re
import warnings
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, model_validator

from components.config.base import Required, Settings, section
from components.config.errors import Refusal, raise_refusals
from components.config.readers import (
    _bool,
    _domain,
    _gateway,
    _integer,
    _label_name,
    _labels,
    _list_of,
    _matching,
    _one_of,
    _region,
    _text,
    _timeout,
    _url,
)
from kernel.names import DNS_LABEL, LABEL_VALUE
from modelstore.stores import DEFAULT_READ_TIMEOUT_S, endpoint_problem, masked_endpoint

#: Node count of a fixed-size pool when neither node_count nor min/max_nodes is given (the tutorial's 2).
DEFAULT_NODE_COUNT = 2
ENVIRONMENTS = ("dev", "test", "staging", "prod")
CLUSTER_MODES = ("create", "existing")
#: Taint effects a model server can live with: the ModelServer CR (operator 1.2) has no tolerations
#: field, so a hard NoSchedule/NoExecute taint would leave every model server unschedulable.
TAINT_EFFECTS = ("PREFER_NO_SCHEDULE",)
#: The label the program puts on the Intel pool it creates, and the servers' node affinity selects.
POOL_LABEL = "fuseml-serving/pool"
#: Where the operator mounts storage.models_volume_claim in the server's pod.
MODELS_MOUNT = "/models"
#: GKE cluster names: "up to 40 characters ... lowercase letters, numbers, and hyphens only ... start with a
#: letter ... end with a number or a letter" (googleapis google/container/v1/cluster_service.proto). The API
#: states no rule for node pools; the same rule is applied to them, as the stricter safe choice.
_GKE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
_GKE_NAME_ALLOWED = "a GKE name: a lowercase letter, then letters, digits or '-', at most 40 chars"
_MACHINE_TYPE = re.compile(r"^[a-z][a-z0-9]*-[a-z0-9-]+$")
#: Shapes of the free-text GCP names: wide enough for every zone, region, project ID (legacy
#: `domain:project` too) and CPU platform name, narrow enough that a URL, a path or a password pasted into
#: one is refused here instead of landing in the GKE resources' inputs.
_GCP_LOCATION = re.compile(r"[a-z][a-z0-9-]{0,62}")
_GCP_PROJECT = re.compile(r"[a-z0-9][a-z0-9.:-]{0,99}")
_CPU_PLATFORM = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._()-]{0,63}")


class Taint(Settings):
    """A node pool taint in GKE's enum form (PREFER_NO_SCHEDULE)."""

    key: Annotated[str, BeforeValidator(_label_name), Required("a Kubernetes label name")]
    """Taint key, a Kubernetes label name."""
    value: Annotated[str, _matching(LABEL_VALUE, "a Kubernetes label value")] = ""
    """Taint value, a Kubernetes label value."""
    effect: Annotated[
        Literal["PREFER_NO_SCHEDULE"],
        _one_of(TAINT_EFFECTS, fold=lambda s: s.upper().replace("NOSCHEDULE", "NO_SCHEDULE")),
    ] = "PREFER_NO_SCHEDULE"
    """PREFER_NO_SCHEDULE only: the ModelServer CR has no tolerations, so a hard taint strands servers."""


def _optional(pattern: re.Pattern[str], allowed: str) -> BeforeValidator:
    """Text of this shape, or nothing (empty text is unset)."""

    def read(value: Any) -> str:
        text = _text(value)
        if text and not pattern.fullmatch(text):
            raise Refusal(value, allowed)
        return text

    return BeforeValidator(read)


class NodePoolConfig(Settings):
    """The Intel N2 node pool that runs the model servers (create mode)."""

    name: Annotated[str, _matching(_GKE_NAME, _GKE_NAME_ALLOWED)] = "ovms-n2"
    """Node pool name (a GKE name, at most 40 chars)."""
    machine_type: Annotated[str, _matching(_MACHINE_TYPE, "a GCE machine type")] = "n2-standard-4"
    """GCE machine type of the pool's nodes; the policy pack wants an Intel family."""
    min_cpu_platform: Annotated[
        str, _matching(_CPU_PLATFORM, "a CPU platform name such as Intel Cascade Lake")
    ] = "Intel Cascade Lake"
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
    location: Annotated[
        str | None, _optional(_GCP_LOCATION, "a GCP zone or region such as europe-central2-a")
    ] = None
    """GCP zone or region; default the provider's gcp:zone or gcp:region; required in create mode."""
    project: Annotated[str | None, _optional(_GCP_PROJECT, "a GCP project ID such as fuseml")] = None
    """GCP project; default the provider's gcp:project; required in create mode."""
    deletion_protection: Annotated[bool, BeforeValidator(_bool)] = True
    """GKE's deletion protection of the cluster."""
    node_pool: NodePoolConfig = section()
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
        raise_refusals(refused)
        return self.updated({"location": location, "project": project})


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
    host_prefix: Annotated[str, _matching(DNS_LABEL, "a DNS label")] = "ovms"
    """A model's host is <app_name>.<host_prefix>.<domain>."""

    def host(self, app_name: str) -> str:
        """The public host of an application: `<app_name>.<host_prefix>.<domain>`."""
        return f"{app_name}.{self.host_prefix}.{self.domain}"


def _s3_endpoint(value: object) -> str:
    """An S3 endpoint, http[s]://host[:port] (modelstore's rule, which the step and the converter apply to
    S3_ENDPOINT too); a user and password in it are refused, and never echoed."""
    text = _text(value)
    problem = endpoint_problem(text)
    if problem:
        raise Refusal(masked_endpoint(text), problem)
    return text.rstrip("/")


class StorageConfig(Settings):
    """Non-secret model storage settings."""

    s3_endpoint: Annotated[str | None, BeforeValidator(_s3_endpoint)] = None
    """S3-compatible endpoint, http[s]://host[:port], e.g. http://mlflow-minio.mlflow:9000 (its keys are
    the secrets aws_access_key_id and aws_secret_access_key, never a user and password in the URL)."""
    read_timeout_s: Annotated[float, BeforeValidator(_timeout)] = DEFAULT_READ_TIMEOUT_S
    """Total seconds reading one store may take for `format: auto`; past it every model still unread there
    is refused in one line naming the store (set `format` to skip the read)."""
    aws_region: Annotated[str | None, BeforeValidator(_region)] = None
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
    workflow: Annotated[str | None, _matching(DNS_LABEL, "a workflow name (a DNS label)")] = None
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
