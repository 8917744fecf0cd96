"""The whole stack, built from a validated StackConfig.

`pulumi up` (through __main__.py), the FuseML workflow step (Automation API) and the offline review all
call `build`, so they plan exactly the same resources.
"""

from __future__ import annotations

import gc
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.backends import kserve, modelmesh, registry
from components.backends.ovms import GCS_SECRET_KEY, GCS_SECRET_NAME
from components.cluster import GkeCluster
from components.config import (
    LABEL_VALUE,
    LABEL_VALUE_MAX,
    POOL_LABEL,
    ConfigError,
    ModelConfig,
    ServerConfig,
    StackConfig,
)
from components.config import gateway_ref as config_gateway_ref
from components.operator import OvmsOperator
from components.ovms_server import OvmsServer
from components.route import API_VERSION as ISTIO_API_VERSION
from components.serving import BackendArgs, Detect, Plan, RegistrationArgs, notices, plans
from components.serving import store_detector as serving_store_detector

MANAGED_BY = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "fuseml-serving"}


#: Collect the young generation every 50,000 allocations instead of 700: the SDK allocates many short-lived
#: futures and tasks per resource, and with thousands of resources the default thresholds spend more time
#: rescanning live objects than registering (1000 models planned: 24 s with the defaults, 15 s with these).
GC_THRESHOLDS = (50_000, 50, 100)


def tune_gc() -> None:
    """Apply GC_THRESHOLDS; called by each entry point that runs the program, never on import."""
    gc.set_threshold(*GC_THRESHOLDS)


def run() -> None:
    """The program itself: read the stack config, build every resource, export the outputs.

    `pulumi up` runs it through __main__.py and the FuseML step as its inline Automation API program.
    """
    from components.config import load

    tune_gc()
    try:
        cfg = load()
        for warning in cfg.warnings:
            pulumi.log.warn(warning)
        # build() checks what needs the project and stack names before it registers anything.
        outputs = build(cfg)
    except ConfigError as err:
        # The message names every mistake; a traceback into the validator would only bury it.
        raise pulumi.RunError(f"invalid stack config:\n{err}") from None
    for name, value in outputs.items():
        pulumi.export(name, value)


def build(cfg: StackConfig, detect: Detect | None = None) -> dict[str, Any]:
    """Register every resource of the stack and return its outputs (the caller exports them).

    `detect` reads a model's format from its store (default: modelstore with the stack's credentials);
    every model's backend is decided, and refused if it cannot serve the model, before anything exists.
    """
    project, stack = pulumi.get_project(), pulumi.get_stack()
    workflow = workflow_label(cfg, project, stack)
    backends = registry()
    planned = plans(cfg, backends, detect or store_detector(cfg))
    for line in notices(cfg, planned, backends):
        pulumi.log.warn(line)
    outputs: dict[str, Any] = {}
    if cfg.cluster.create:
        cluster = _cluster(cfg)
        provider = cluster.provider
        outputs.update(cluster_name=cluster.cluster_name, kubeconfig=cluster.kubeconfig)
    else:
        # No kubeconfig: the provider uses the ambient KUBECONFIG/current context, or in-cluster credentials.
        provider = k8s.Provider("kubernetes")
    k8s_opts = pulumi.ResourceOptions(provider=provider)
    prerequisites: list[Any] = []
    if cfg.cluster.create:
        # A fresh cluster has no namespace for the servers; an existing one (FuseML installed) already does.
        prerequisites.append(
            k8s.core.v1.Namespace(
                "namespace", metadata={"name": cfg.namespace, "labels": dict(MANAGED_BY)}, opts=k8s_opts
            )
        )
    if cfg.operator.install:
        operator = OvmsOperator(
            "ovms-operator",
            {
                "version": cfg.operator.version,
                "namespace": cfg.operator.namespace,
                "manifests": cfg.operator.manifests,
            },
            opts=pulumi.ResourceOptions(providers=[provider]),
        )
        prerequisites.append(operator.ready)
    if cfg.credentials.get("gcs_credentials") is not None and any(
        m.storage_scheme == "gs" for m in cfg.models
    ):
        prerequisites.append(
            k8s.core.v1.Secret(
                "gcs-credentials",
                metadata={"name": GCS_SECRET_NAME, "namespace": cfg.namespace, "labels": dict(MANAGED_BY)},
                string_data={GCS_SECRET_KEY: cfg.credentials["gcs_credentials"]},
                opts=pulumi.ResourceOptions(provider=provider, depends_on=_all(prerequisites)),
            )
        )
    used = {plan.backend for plan in planned.values()}
    if cfg.kserve.openvino_runtime:
        prerequisites.append(
            kserve.openvino_runtime(
                cfg.kserve.openvino_image_tag, dict(MANAGED_BY), pulumi.ResourceOptions(provider=provider)
            )
        )
    if "modelmesh" in used:
        mesh_models = [m for m in cfg.models if planned[m.app_name].backend == "modelmesh"]
        prerequisites.append(
            modelmesh.storage_config(
                cfg, mesh_models, cfg.credentials, dict(MANAGED_BY), pulumi.ResourceOptions(provider=provider)
            )
        )
    ready = _all(prerequisites)
    gateway = _gateway(cfg, provider, ready)
    if gateway is not None:
        ready = _all([ready, gateway])
    gw_namespace, gw_name = gateway_ref(cfg)
    # What every model's server shares, computed once rather than once per model.
    shared = {
        "namespace": cfg.namespace,
        "stack": cfg,
        "storage": cfg.storage,
        "credentials": cfg.credentials,
        "node_affinity": node_affinity(cfg),
        "gateway": f"{gw_namespace}/{gw_name}",
        "registration": _registration(cfg, workflow, f"{project}/{stack}"),
    }
    urls: dict[str, str] = {}
    inference_urls: dict[str, str] = {}
    grpc: dict[str, str] = {}
    on_servers: dict[str, list[BackendArgs]] = {}
    for model in cfg.models:
        plan = planned[model.app_name]
        backend = backends[plan.backend]
        where = backend.urls(cfg, model, plan)
        urls[model.app_name] = where.prediction
        if where.inference:
            inference_urls[model.app_name] = where.inference
        if where.grpc:
            grpc[model.app_name] = where.grpc
        args: BackendArgs = {
            **shared,
            "model": model,
            "plan": plan,
            "urls": where,
            "labels": labels(cfg, model, workflow),
        }
        if model.server is not None:
            on_servers.setdefault(model.server, []).append(args)
            continue
        backend(model.app_name, args, opts=pulumi.ResourceOptions(providers=[provider], depends_on=ready))
    for server in cfg.servers:
        if server.name in on_servers:
            OvmsServer(
                server.name,
                {
                    "server": server,
                    "models": on_servers[server.name],
                    "labels": server_labels(cfg, server, workflow),
                },
                opts=pulumi.ResourceOptions(providers=[provider], depends_on=ready),
            )
    outputs["prediction_urls"] = urls
    outputs["inference_urls"] = inference_urls
    outputs["serving"] = {app: _described(plan) for app, plan in planned.items()}
    if grpc:
        outputs["grpc_endpoints"] = grpc
    if len(urls) == 1:
        outputs["prediction_url"] = next(iter(urls.values()))
    return outputs


def _described(plan: Plan) -> dict[str, str]:
    return {"backend": plan.backend, "format": plan.format, "runtime": plan.runtime, "why": plan.why}


def store_detector(cfg: StackConfig) -> Detect:
    """Read a model's format from its store with the stack's storage settings and plain credentials.

    The credentials are the decrypted config values of this run (never a resource input): the Outputs
    in cfg.credentials cannot be read while the program registers resources.
    """
    from pulumi.runtime.config import get_config

    from components.config import NAMESPACE, SECRET_KEYS

    credentials = {key: get_config(f"{NAMESPACE}:{key}") for key in SECRET_KEYS}
    return serving_store_detector(cfg.storage, {k: v for k, v in credentials.items() if v is not None})


def _cluster(cfg: StackConfig) -> GkeCluster:
    pool = cfg.cluster.node_pool
    return GkeCluster(
        "gke",
        {
            "name": cfg.cluster.name,
            "project": cfg.cluster.project,
            "location": cfg.cluster.location,
            "deletion_protection": cfg.cluster.deletion_protection,
            "pool_name": pool.name,
            "machine_type": pool.machine_type,
            "min_cpu_platform": pool.min_cpu_platform,
            "node_count": pool.node_count,
            "min_nodes": pool.min_nodes,
            "max_nodes": pool.max_nodes,
            "disk_size_gb": pool.disk_size_gb,
            "labels": pool_labels(cfg),
            "taints": [{"key": t.key, "value": t.value, "effect": t.effect} for t in pool.taints],
        },
    )


def pool_labels(cfg: StackConfig) -> dict[str, str]:
    """Labels of the serving nodes; in existing mode, the labels the user says their Intel nodes carry."""
    labels = dict(cfg.cluster.node_pool.labels)
    if cfg.cluster.create:
        labels[POOL_LABEL] = cfg.cluster.node_pool.name
    return labels


def node_affinity(cfg: StackConfig) -> dict[str, Any] | None:
    """Required affinity to the serving pool; the CR has no tolerations, so affinity is what pins servers."""
    labels = pool_labels(cfg)
    if not labels:
        return None
    expressions = [{"key": k, "operator": "In", "values": [v]} for k, v in sorted(labels.items())]
    return {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": expressions}]
        }
    }


def gateway_ref(cfg: StackConfig) -> tuple[str, str]:
    """(namespace, name) of the Gateway; a bare name lives in the servers' namespace."""
    return config_gateway_ref(cfg.istio.gateway, cfg.namespace)


def _gateway(cfg: StackConfig, provider: k8s.Provider, ready: pulumi.Output[Any]) -> pulumi.Resource | None:
    if not cfg.istio.create_gateway:
        return None
    namespace, name = gateway_ref(cfg)
    return k8s.apiextensions.CustomResource(
        "istio-gateway",
        api_version=ISTIO_API_VERSION,
        kind="Gateway",
        metadata={"name": name, "namespace": namespace, "labels": dict(MANAGED_BY)},
        spec={
            "selector": {"istio": "ingressgateway"},
            "servers": [
                {
                    "port": {"number": 80, "name": "http", "protocol": "HTTP"},
                    "hosts": [f"*.{cfg.istio.host_prefix}.{cfg.istio.domain}"],
                }
            ],
        },
        opts=pulumi.ResourceOptions(provider=provider, depends_on=ready),
    )


def _all(prerequisites: list[Any]) -> pulumi.Output[list[pulumi.Resource]]:
    """One dependency list from resources and outputs of resource lists (the operator's install)."""
    return pulumi.Output.all(*prerequisites).apply(
        lambda items: [r for item in items for r in (item if isinstance(item, list) else [item])]
    )


def workflow_label(cfg: StackConfig, project: str, stack: str) -> str:
    """The `fuseml/workflow` label and FuseML owner: fuseml.workflow, else `<project>-<stack>`.

    Checked before anything is registered: a label value holds at most 63 chars, and a long stack name
    would otherwise fail only at the API server, after the provider and the prerequisites exist.
    """
    if cfg.fuseml.workflow:
        return cfg.fuseml.workflow
    derived = f"{project}-{stack}"
    if len(derived) > LABEL_VALUE_MAX or not LABEL_VALUE.fullmatch(derived):
        shown = derived if len(derived) <= 50 else derived[:50] + "..."
        raise ConfigError(
            "fuseml.workflow",
            None,
            f"a workflow name (a DNS label), set explicitly: the default <project>-<stack>, {shown!r} "
            f"({len(derived)} chars), is no label value (at most {LABEL_VALUE_MAX} chars, alphanumeric at "
            "both ends)",
        )
    return derived


def labels(cfg: StackConfig, model: ModelConfig, workflow: str) -> dict[str, str]:
    """Labels of a model's objects: the original step's fuseml/* labels plus ownership and environment."""
    return {
        "fuseml/app-name": model.app_name,
        "fuseml/workflow": workflow,
        "fuseml-serving/environment": cfg.environment,
        **MANAGED_BY,
    }


def server_labels(cfg: StackConfig, server: ServerConfig, workflow: str) -> dict[str, str]:
    """Labels of a shared server's objects: ownership and environment, and the server's name."""
    return {
        "fuseml-serving/server": server.name,
        "fuseml/workflow": workflow,
        "fuseml-serving/environment": cfg.environment,
        **MANAGED_BY,
    }


def _registration(cfg: StackConfig, workflow: str, owner: str) -> RegistrationArgs | None:
    """How servers are registered with FuseML, or None when registration is off."""
    if not cfg.fuseml.register:
        return None
    return {
        "server_url": cfg.fuseml.url or "",
        "workflow": workflow,
        "owner": owner,
        "timeout_s": cfg.fuseml.timeout_s,
    }
