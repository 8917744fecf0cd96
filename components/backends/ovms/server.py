"""A shared OpenVINO Model Server: several models served from one config.json (OVMS multi-model mode).

Why: one server per model costs a pod (and its memory) per model; models that belong together (one
workflow's versions, the stages of a pipeline) can share a server. The operator's ModelServer CR runs it
with `single_model_mode: false` and `config_configmap_name`: the operator mounts that ConfigMap at
/config and passes `--config_path /config/config.json` (operator v1.2.0
helm-charts/ovms/templates/deployment.yaml), so the ConfigMap's key is `config.json`.
"""

from __future__ import annotations

import json
from typing import Any, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.backends.ovms.settings import ServerConfig
from components.backends.ovms.spec import (
    API_VERSION,
    KIND,
    REST_PORT,
    deployment,
    repository,
    service_parameters,
)
from components.route import virtual_service
from components.serving import BackendArgs, finish

CONFIG_KEY = "config.json"


class OvmsServerArgs(TypedDict):
    """Inputs of a shared server."""

    server: ServerConfig
    """The validated `servers` entry."""
    models: list[BackendArgs]
    """The models it serves, each with what a model of its own would get (urls, labels, plan, ...)."""
    labels: dict[str, str]
    """Labels of the server's own objects."""


class OvmsServer(pulumi.ComponentResource):
    """One OVMS for several models: its config.json ConfigMap, the ModelServer CR, one route, and one
    FuseML Application per model."""

    name: pulumi.Output[str]

    def __init__(self, name: str, args: OvmsServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fuseml-serving:ovms_server:OvmsServer", name, None, opts)
        server, models = args["server"], args["models"]
        first = models[0]
        namespace = first["namespace"]
        config = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata={"name": server.resource_name, "namespace": namespace, "labels": args["labels"]},
            data={CONFIG_KEY: json.dumps(config_json([m["model"] for m in models]), indent=2)},
            opts=pulumi.ResourceOptions(parent=self),
        )
        cr = k8s.apiextensions.CustomResource(
            f"{name}-server",
            api_version=API_VERSION,
            kind=KIND,
            metadata={"name": server.resource_name, "namespace": namespace, "labels": args["labels"]},
            spec=spec(server, first, server.resource_name),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[config], additional_secret_outputs=["spec", "status"]
            ),
        )
        route = virtual_service(
            f"{name}-route",
            {
                "name": server.resource_name,
                "namespace": namespace,
                "host": first["urls"].host,
                "gateway": first["gateway"],
                "destination": f"{server.resource_name}.{namespace}.svc.cluster.local",
                "port": REST_PORT,
                "labels": args["labels"],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cr]),
        )
        listed = [
            {"name": server.resource_name, "kind": KIND},
            {"name": server.resource_name, "kind": "VirtualService"},
        ]
        for model in models:
            # Every model on the server waits for the server's Deployment, each bounded by its own setting.
            made = [config, cr, route]
            finish(model["model"].app_name, model, "ovms", server.resource_name, cr, made, listed, self)
        self.name = pulumi.Output.from_input(server.resource_name)
        self.register_outputs({"name": self.name})


def config_json(models: list[Any]) -> dict[str, Any]:
    """OVMS's config.json for these models (model_server docs/multiple_models_mode.md): per model its name,
    base path and the settings it sets, in the types the config schema wants (objects, not JSON text)."""
    entries = []
    for model in models:
        config: dict[str, Any] = {"name": model.model_name, "base_path": model.model}
        for key in ("batch_size", "target_device", "nireq"):
            if key in model.model_fields_set:
                config[key] = getattr(model, key)
        for key in ("plugin_config", "model_version_policy", "shape", "layout"):
            value = getattr(model, key)
            if value is not None:
                # Stored as compact JSON for the CR; config.json holds the object (or the plain string).
                config[key] = json.loads(value) if value.startswith("{") else value
        entries.append({"config": config})
    return {"model_config_list": entries}


def spec(server: ServerConfig, first: BackendArgs, config_map: str) -> dict[str, Any]:
    """The ModelServer spec of a shared server: the deployment of the `servers` entry, models from the
    ConfigMap, storage credentials of its models (they share one storage, checked by the plan)."""
    return {
        "image_name": f"openvino/model_server:{server.ovms_image_tag}",
        "deployment_parameters": deployment(server, first["node_affinity"]),
        "service_parameters": service_parameters(),
        "models_settings": {"single_model_mode": False, "config_configmap_name": config_map},
        "server_settings": {"log_level": server.loglevel, "file_system_poll_wait_seconds": 1},
        "models_repository": repository(first["model"], first["storage"], first["credentials"]),
    }
