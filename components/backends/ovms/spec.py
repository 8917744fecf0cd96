"""The ModelServer spec of OpenVINO Model Server, in the types the operator's CRD wants: shared by a model
of its own (components/backends/ovms/__init__.py) and a shared server (server.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.config.quantities import CORE_RESOURCES
from components.config.readers import STORAGE_TYPES
from components.config.sections import StorageConfig
from kernel.backends import OVMS_IMAGE as IMAGE

API_VERSION = "intel.com/v1alpha1"
KIND = "ModelServer"
GRPC_PORT = 8080
REST_PORT = 8081
#: The operator mounts the GCS key from a Secret of this fixed name (key `gcp-creds.json`), whatever the
#: CR's gcp_creds_secret_name says, so the program creates it under exactly this name.
GCS_SECRET_NAME = "gcpcreds"
GCS_SECRET_KEY = "gcp-creds.json"


def spec(
    model: Any,
    storage: StorageConfig,
    credentials: Mapping[str, Any],
    node_affinity: dict[str, Any] | None,
) -> dict[str, Any]:
    """The ModelServer spec, in the types the CRD wants (JSON text, strings for batch size and shape)."""
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
        "deployment_parameters": deployment(model, node_affinity),
        "service_parameters": service_parameters(),
        "models_settings": settings,
        # Poll the model path so new versions written by a later workflow run are served without a restart.
        "server_settings": {"log_level": model.loglevel, "file_system_poll_wait_seconds": 1},
        "models_repository": repository(model, storage, credentials),
    }


def deployment(entry: Any, node_affinity: dict[str, Any] | None) -> dict[str, Any]:
    """The CR's deployment_parameters: replicas, resources in its shape, and the pool's node affinity."""
    found: dict[str, Any] = {"replicas": entry.replicas, "resources": _resources(entry)}
    if node_affinity:
        found["node_affinity"] = node_affinity
    return found


def service_parameters() -> dict[str, Any]:
    return {"grpc_port": GRPC_PORT, "rest_port": REST_PORT, "service_type": "ClusterIP"}


def _resources(model: Any) -> dict[str, Any]:
    """Requests and limits in the CRD's shape: cpu and memory, plus at most one extended device."""

    def shape(quantities: dict[str, str]) -> dict[str, str]:
        result = {name: quantities[name] for name in CORE_RESOURCES if name in quantities}
        for name, quantity in quantities.items():
            if name not in CORE_RESOURCES:
                result.update({"xpu_device": name, "xpu_device_quantity": quantity})
        return result

    return {"requests": shape(model.requests), "limits": shape(model.limits)}


def repository(model: Any, storage: StorageConfig, credentials: Mapping[str, Any]) -> dict[str, Any]:
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
