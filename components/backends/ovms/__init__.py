"""Backend `ovms`: OpenVINO Model Server through the OpenVINO operator's ModelServer CR, one server per
model or a shared server for several (`servers:`), the operator installed at a pinned release.

The OVMS wing lives together here: its settings (settings.py), the ModelServer spec (spec.py), the
operator's install (operator.py) and the shared server (server.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.backends.ovms import settings
from components.backends.ovms.operator import OvmsOperator
from components.backends.ovms.server import OvmsServer
from components.backends.ovms.spec import (
    API_VERSION,
    GCS_SECRET_KEY,
    GCS_SECRET_NAME,
    GRPC_PORT,
    IMAGE,
    KIND,
    REST_PORT,
    deployment,
    repository,
    service_parameters,
    spec,
)
from components.serving import MANAGED_BY, Backend, BackendArgs, Plan, Site, Urls, all_of
from kernel.backends import OVMS
from kernel.names import NAMESPACE

__all__ = [
    "API_VERSION",
    "GCS_SECRET_KEY",
    "GCS_SECRET_NAME",
    "GRPC_PORT",
    "IMAGE",
    "KIND",
    "REST_PORT",
    "ModelServer",
    "deployment",
    "repository",
    "service_parameters",
    "spec",
]


class ModelServer(Backend):
    """One model on its own OpenVINO Model Server: the operator's ModelServer CR, routed through Istio.

    The operator can take S3 and Azure credentials only inline in the CR; they arrive here as Pulumi
    secrets and the whole spec is an additional secret output, so neither the state nor the outputs hold
    them in plain text (the operator itself moves them into a Secret of its own).
    """

    NAME = "ovms"
    PRODUCT = "OpenVINO Model Server"
    UPSTREAM = OVMS
    #: OVMS loads OpenVINO IR, ONNX and TensorFlow SavedModel folders itself (OVMS docs, "Supported model
    #: formats"); with `format: auto` the folder is handed over as it is.
    FORMATS = {"openvino": "ovms", "onnx": "ovms", "tensorflow": "ovms"}
    MODEL_SETTINGS = (settings.OvmsModelSettings,)
    STACK_SETTINGS = settings.OvmsStackSettings
    MODEL_CHECKS = (settings.check_model,)
    STACK_CHECKS = (settings.check_stack,)
    MODEL_WARNINGS = (settings.warnings_of,)
    AUTO_RANK = 0
    AUTO_KEYS = tuple(key for key in settings.OvmsModelSettings.model_fields if key != "loglevel")
    KIND = KIND
    ROUTE = ("{name}", REST_PORT)

    @classmethod
    def urls(cls, cfg: Any, model: Any, plan: Plan) -> Urls:
        """A model of its own server answers on its app's host; one on a shared server, on the server's."""
        host = cfg.istio.host(model.server or model.app_name)
        return Urls(
            host,
            f"http://{host}/v1/models/{model.model_name}:{model.prediction_type}",
            f"http://{host}/v2/models/{model.model_name}/infer",
        )

    @classmethod
    def prerequisites(cls, site: Site) -> list[Any]:
        """The operator at its pinned release (when installed by this stack), and the GCS key Secret the
        operator mounts by its fixed name when an OVMS model reads gs://."""
        cfg, found = site.cfg, []
        if cfg.operator.install:
            operator = OvmsOperator(
                "ovms-operator",
                {
                    "version": cfg.operator.version,
                    "namespace": cfg.operator.namespace,
                    "manifests": cfg.operator.manifests,
                },
                opts=pulumi.ResourceOptions(providers=[site.provider]),
            )
            found.append(operator.ready)
        if cfg.credentials.get("gcs_credentials") is not None and any(
            m.storage_scheme == "gs" for m in cfg.models
        ):
            found.append(
                k8s.core.v1.Secret(
                    "gcs-credentials",
                    metadata={"name": GCS_SECRET_NAME, "namespace": cfg.namespace, "labels": site.labels},
                    string_data={GCS_SECRET_KEY: cfg.credentials["gcs_credentials"]},
                    opts=pulumi.ResourceOptions(
                        provider=site.provider, depends_on=all_of([*site.after, *found])
                    ),
                )
            )
        return found

    @classmethod
    def stack_notices(cls, cfg: Any, planned: Mapping[str, Plan]) -> list[str]:
        """A `servers` entry no model names in `server` is not deployed: say so, naming it."""
        used = {model.server for model in cfg.models if getattr(model, "server", None) is not None}
        return [
            f"{NAMESPACE}: servers[{j}] ({server.name}) is not deployed: no model sets server: {server.name}"
            for j, server in enumerate(cfg.servers)
            if server.name not in used
        ]

    @classmethod
    def serve(cls, cfg: Any, models: list[BackendArgs], workflow: str, opts: pulumi.ResourceOptions) -> None:
        """A model with a server of its own becomes a ModelServer; the models of a shared server, that
        server (a `servers` entry no model uses is not deployed)."""
        on_servers: dict[str, list[BackendArgs]] = {}
        for args in models:
            if args["model"].server is None:
                cls(args["model"].app_name, args, opts=opts)
            else:
                on_servers.setdefault(args["model"].server, []).append(args)
        for server in cfg.servers:
            if server.name in on_servers:
                OvmsServer(
                    server.name,
                    {
                        "server": server,
                        "models": on_servers[server.name],
                        "labels": server_labels(cfg, server, workflow),
                    },
                    opts=opts,
                )

    def objects(self, name: str, args: BackendArgs) -> list[pulumi.Resource]:
        model = args["model"]
        spec_ = spec(model, args["storage"], args["credentials"], args["node_affinity"])
        return [self.custom_object(name, args, API_VERSION, spec_, secret_spec=True)]


def server_labels(cfg: Any, server: Any, workflow: str) -> dict[str, str]:
    """Labels of a shared server's objects: ownership and environment, and the server's name."""
    return {
        "fuseml-serving/server": server.name,
        "fuseml/workflow": workflow,
        "fuseml-serving/environment": cfg.environment,
        **MANAGED_BY,
    }
