"""One OpenVINO Model Server: the operator's ModelServer resource, its route and its FuseML registration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.config import CORE_RESOURCES, STORAGE_TYPES, ModelConfig, StorageConfig
from components.route import virtual_service

API_VERSION = "intel.com/v1alpha1"
KIND = "ModelServer"
IMAGE = "openvino/model_server"
GRPC_PORT = 8080
REST_PORT = 8081
#: The operator mounts the GCS key from a Secret of this fixed name (key `gcp-creds.json`), whatever the
#: CR's gcp_creds_secret_name says, so the program creates it under exactly this name.
GCS_SECRET_NAME = "gcpcreds"
GCS_SECRET_KEY = "gcp-creds.json"


class RegistrationArgs(TypedDict):
    """How the server is registered as a FuseML Application."""

    server_url: str
    """FuseML server URL."""
    workflow: str
    """Workflow recorded as the application's owner."""
    owner: str
    """The managing stack, `<project>/<stack>`, recorded in the application's description."""
    timeout_s: float
    """Timeout of each FuseML call."""


class ModelServerArgs(TypedDict):
    """Inputs of a ModelServer."""

    namespace: str
    """Namespace of the server, its Service (named like the CR) and its VirtualService."""
    model: ModelConfig
    """The validated model entry."""
    storage: StorageConfig
    """Non-secret storage settings (S3 endpoint, region, volume claim)."""
    credentials: Mapping[str, pulumi.Input[str]]
    """Secret outputs keyed by config name; only the ones this model's storage needs are used."""
    labels: dict[str, str]
    """Labels of the CR and the VirtualService (fuseml/app-name and friends)."""
    node_affinity: dict[str, Any] | None
    """Required node affinity that keeps the server on the Intel pool."""
    host: str
    """Public host of the prediction route."""
    gateway: str
    """Istio Gateway of the route, `<namespace>/<name>`."""
    prediction_url: str
    """The URL clients post predictions to (registered with FuseML)."""
    registration: RegistrationArgs | None
    """FuseML registration, or None to serve without registering."""


class ModelServer(pulumi.ComponentResource):
    """One model served: the ModelServer CR, its prediction route, and its FuseML Application.

    The operator can take S3 and Azure credentials only inline in the CR; they arrive here as Pulumi
    secrets and the whole spec is an additional secret output, so neither the state nor the outputs hold
    them in plain text (the operator itself moves them into a Secret of its own). The Application waits
    for the server and the route, so FuseML only ever lists a URL that has something behind it.
    """

    name: pulumi.Output[str]
    url: pulumi.Output[str]

    def __init__(self, name: str, args: ModelServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fuseml-serving:ovms:ModelServer", name, None, opts)
        model, namespace = args["model"], args["namespace"]
        server = k8s.apiextensions.CustomResource(
            f"{name}-server",
            api_version=API_VERSION,
            kind=KIND,
            metadata={"name": model.resource_name, "namespace": namespace, "labels": args["labels"]},
            spec=spec(model, args["storage"], args["credentials"], args["node_affinity"]),
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["spec"]),
        )
        route = virtual_service(
            f"{name}-route",
            {
                "name": model.resource_name,
                "namespace": namespace,
                "host": args["host"],
                "gateway": args["gateway"],
                "destination": f"{model.resource_name}.{namespace}.svc.cluster.local",
                "port": REST_PORT,
                "labels": args["labels"],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[server]),
        )
        registration = args["registration"]
        if registration is not None:
            _register(name, model, namespace, args["prediction_url"], registration, [server, route], self)
        self.name = server.metadata["name"]
        self.url = pulumi.Output.from_input(args["prediction_url"])
        self.register_outputs({"name": self.name, "url": self.url})


def _register(
    name: str,
    model: ModelConfig,
    namespace: str,
    url: str,
    registration: RegistrationArgs,
    depends_on: list[pulumi.Resource],
    parent: pulumi.Resource,
) -> None:
    # Imported here so a stack that never registers does not load the dynamic provider machinery.
    from fuseml.provider import Application

    Application(
        f"{name}-app",
        {
            "server_url": registration["server_url"],
            "name": model.app_name,
            "type": "predictor",
            "description": f"OVMS service deployed for {model.model}",
            "url": url,
            "workflow": registration["workflow"],
            "owner": registration["owner"],
            "k8s_namespace": namespace,
            # Listed so that `fuseml application delete` cleans up like the original step did; the
            # provider detaches them before its own delete, so a Pulumi replace never removes live objects.
            "k8s_resources": [
                {"name": model.resource_name, "kind": KIND},
                {"name": model.resource_name, "kind": "VirtualService"},
            ],
            "adopt": model.adopt,
            "timeout_s": registration["timeout_s"],
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
    )


def spec(
    model: ModelConfig,
    storage: StorageConfig,
    credentials: Mapping[str, Any],
    node_affinity: dict[str, Any] | None,
) -> dict[str, Any]:
    """The ModelServer spec, in the types the CRD wants (JSON text, strings for batch size and shape)."""
    deployment: dict[str, Any] = {"replicas": model.replicas, "resources": _resources(model)}
    if node_affinity:
        deployment["node_affinity"] = node_affinity
    settings: dict[str, Any] = {
        "single_model_mode": True,
        "model_name": model.model_name,
        "model_path": model.model,
        "target_device": model.target_device,
    }
    optional = {
        "nireq": model.nireq,
        "plugin_config": model.plugin_config,
        "batch_size": model.batch_size,
        "shape": model.shape,
        "layout": model.layout,
        "model_version_policy": model.model_version_policy,
    }
    settings.update({key: value for key, value in optional.items() if value is not None})
    return {
        "image_name": f"{IMAGE}:{model.ovms_image_tag}",
        "deployment_parameters": deployment,
        "service_parameters": {"grpc_port": GRPC_PORT, "rest_port": REST_PORT, "service_type": "ClusterIP"},
        "models_settings": settings,
        # Poll the model path so new versions written by a later workflow run are served without a restart.
        "server_settings": {"log_level": model.loglevel, "file_system_poll_wait_seconds": 1},
        "models_repository": _repository(model, storage, credentials),
    }


def _resources(model: ModelConfig) -> dict[str, Any]:
    """Requests and limits in the CRD's shape: cpu and memory, plus at most one extended device."""

    def shape(quantities: dict[str, str]) -> dict[str, str]:
        result = {name: quantities[name] for name in CORE_RESOURCES if name in quantities}
        for name, quantity in quantities.items():
            if name not in CORE_RESOURCES:
                result.update({"xpu_device": name, "xpu_device_quantity": quantity})
        return result

    return {"requests": shape(model.requests), "limits": shape(model.limits)}


def _repository(model: ModelConfig, storage: StorageConfig, credentials: Mapping[str, Any]) -> dict[str, Any]:
    """Where the operator fetches the model from, with only the credentials that storage needs."""
    storage_type = STORAGE_TYPES[model.storage_scheme]
    repository: dict[str, Any] = {"storage_type": storage_type}
    if storage_type == "S3":
        repository["aws_access_key_id"] = credentials["aws_access_key_id"]
        repository["aws_secret_access_key"] = credentials["aws_secret_access_key"]
        if storage.aws_region:
            repository["aws_region"] = storage.aws_region
        if storage.s3_endpoint:
            repository["s3_compat_api_endpoint"] = storage.s3_endpoint
    elif storage_type == "google" and credentials.get("gcs_credentials") is not None:
        repository["gcp_creds_secret_name"] = GCS_SECRET_NAME
    elif storage_type == "azure" and credentials.get("azure_storage_connection_string") is not None:
        repository["azure_storage_connection_string"] = credentials["azure_storage_connection_string"]
    elif storage_type == "cluster":
        repository["models_volume_claim"] = storage.models_volume_claim
    return repository
