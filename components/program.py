"""The whole stack: raw config prepared once into a validated plan, then every resource registered.

`pulumi up` (through __main__.py) calls `run`; the FuseML workflow step prepares its inputs with the same
`prepare` and hands the result to its inline program (`run_prepared`); the offline review runs `build`
under mocks. So all three plan exactly the same resources from exactly the same checks.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.backends import registry
from components.cluster import GkeCluster
from components.config import (
    LABEL_VALUE,
    LABEL_VALUE_MAX,
    POOL_LABEL,
    ConfigError,
    ModelConfig,
    gateway_ref,
    parse,
    raw_from_pulumi,
)
from components.config.errors import raise_all
from components.planning import Detect, notices, plans
from components.planning import store_detector as serving_store_detector
from components.route import API_VERSION as ISTIO_API_VERSION
from components.serving import MANAGED_BY, BackendArgs, Plan, RegistrationArgs, Site, Watched, all_of

__all__ = ["MANAGED_BY", "Prepared", "build", "prepare", "run", "run_prepared"]

#: Collect the young generation every 50,000 allocations instead of 700: the SDK allocates many short-lived
#: futures and tasks per resource, and with thousands of resources the default thresholds spend more time
#: rescanning live objects than registering (1000 models planned: 24 s with the defaults, 15 s with these).
GC_THRESHOLDS = (50_000, 50, 100)


def tune_gc() -> None:
    """Apply GC_THRESHOLDS; called by each entry point that runs the program, never on import."""
    gc.set_threshold(*GC_THRESHOLDS)


@dataclass(frozen=True)
class Prepared:
    """A stack ready to register: validated config, every model's plan, the workflow label, and what to
    warn about. Made once per run, by `prepare`."""

    cfg: Any
    """The validated StackConfig; its credentials are the run's plain secret values (never resource
    inputs: `build` passes them on as secret Outputs)."""
    plans: dict[str, Plan]
    workflow: str
    owner: str
    """The managing stack, `<project>/<stack>`."""
    warnings: tuple[str, ...]

    def with_model_url(self, app_name: str, url: str, fmt: str | None = None) -> Prepared:
        """This stack with one model read from another URL (the step's layout copy in the same store), and
        the format its plan read recorded (the copy may hold no MLmodel file to read it from again)."""
        change = {"model": url, **({"format": fmt} if fmt else {})}
        models = [m.updated(change) if m.app_name == app_name else m for m in self.cfg.models]
        cfg = self.cfg.model_copy(update={"models": models})
        return replace(self, cfg=cfg.with_credentials(self.cfg.credentials))


def prepare(
    raw: Mapping[str, Any],
    secrets: Mapping[str, Any] | None = None,
    gcp: Mapping[str, str | None] | None = None,
    *,
    project: str,
    stack: str,
    detect: Detect | None = None,
) -> Prepared:
    """Validate raw settings and plan every model, or raise one ConfigError listing every mistake.

    `secrets` are the plain values of the secret keys (a model's store is read with them for `format:
    auto`, through `detect`, default modelstore); what cannot be planned is reported with the config's own
    mistakes and the workflow label's, in one run.
    """
    mistakes: list[ConfigError] = []
    cfg = None
    try:
        cfg = parse(raw, secrets, gcp)
    except ConfigError as err:
        mistakes += err.errors
    workflow = ""
    try:
        workflow = workflow_label(raw, project, stack)
    except ConfigError as err:
        mistakes += err.errors
    planned: dict[str, Plan] = {}
    if cfg is not None:
        try:
            planned = plans(cfg, registry(), detect or store_detector(cfg))
        except ConfigError as err:
            mistakes += err.errors
    else:
        # The entries that are valid on their own are planned all the same, so a backend or detection
        # mistake is reported in the same run as the config's own.
        mistakes += _entry_plans(raw, secrets, detect, {e.key.split(".", 1)[0] for e in mistakes})
    raise_all(mistakes)
    assert cfg is not None
    lines = (*cfg.warnings, *notices(cfg, planned, registry()))
    return Prepared(cfg, planned, workflow, f"{project}/{stack}", lines)


def _entry_plans(
    raw: Mapping[str, Any], secrets: Mapping[str, Any] | None, detect: Detect | None, refused: set[str]
) -> list[ConfigError]:
    """The planning mistakes of the model entries that are valid on their own and were refused for
    nothing else (`refused`: the first segments of the keys already named, such as `models[2]`)."""
    from components.config import SCHEMA
    from components.config.stack import valid_entries
    from components.planning import needs_detection, plan_entry

    storage, entries = valid_entries(SCHEMA.stack, raw, secrets)
    plain = {k: v for k, v in (secrets or {}).items() if isinstance(v, str)}
    if detect is None and storage is not None:
        detect = serving_store_detector(storage, plain)
    found: list[ConfigError] = []
    for i, model in entries:
        # With the storage settings themselves refused, a model whose format must be read is not read:
        # that it cannot be is the storage mistake already reported, not one of its own.
        if f"models[{i}]" in refused or (detect is None and needs_detection(model, registry())):
            continue
        try:
            plan_entry(i, model, registry(), detect)  # type: ignore[arg-type]
        except ConfigError as err:
            found += err.errors
    return found


def run() -> None:
    """The program of `pulumi up` (__main__.py): prepare the stack config, build, export."""
    tune_gc()
    try:
        prepared = prepare(*raw_from_pulumi(), project=pulumi.get_project(), stack=pulumi.get_stack())
    except ConfigError as err:
        # The message names every mistake; a traceback into the validator would only bury it.
        raise pulumi.RunError(f"invalid stack config:\n{err}") from None
    run_prepared(prepared)


def run_prepared(prepared: Prepared) -> None:
    """Register a prepared stack and export its outputs (the step's inline program)."""
    tune_gc()
    for line in prepared.warnings:
        pulumi.log.warn(line)
    for name, value in build(prepared).items():
        pulumi.export(name, value)


def build(prepared: Prepared | Any, detect: Detect | None = None) -> dict[str, Any]:
    """Register every resource of a prepared stack and return its outputs (the caller exports them).

    A bare StackConfig is prepared here first (plans and workflow label), for callers that hold one.
    """
    if not isinstance(prepared, Prepared):
        cfg = prepared
        planned = plans(cfg, registry(), detect or store_detector(cfg))
        project, stack = pulumi.get_project(), pulumi.get_stack()
        prepared = Prepared(cfg, planned, workflow_label(cfg, project, stack), f"{project}/{stack}", ())
        for line in notices(cfg, planned, registry()):
            pulumi.log.warn(line)
    backends = registry()
    # Secret values reach resources only as secret Outputs, whatever form the run read them in.
    credentials = {k: pulumi.Output.secret(v) for k, v in prepared.cfg.credentials.items() if v is not None}
    cfg = prepared.cfg.with_credentials(credentials)
    planned, workflow = prepared.plans, prepared.workflow
    outputs: dict[str, Any] = {}
    kubeconfig = None
    if cfg.cluster.create:
        cluster = _cluster(cfg)
        provider = cluster.provider
        kubeconfig = cluster.kubeconfig
        outputs.update(cluster_name=cluster.cluster_name, kubeconfig=cluster.kubeconfig)
    else:
        # No kubeconfig: the provider uses the ambient KUBECONFIG/current context, or in-cluster credentials.
        provider = k8s.Provider("kubernetes")
    host = _gate_host(cfg, planned)
    after: list[Any] = []
    if cfg.cluster.create:
        # A fresh cluster has no namespace for the servers; an existing one (FuseML installed) already does.
        after.append(
            k8s.core.v1.Namespace(
                "namespace",
                metadata={"name": cfg.namespace, "labels": dict(MANAGED_BY)},
                opts=pulumi.ResourceOptions(provider=provider),
            )
        )
    prerequisites = list(after)
    for backend in backends.values():
        site = Site(cfg, planned, dict(MANAGED_BY), provider, list(prerequisites))
        prerequisites += backend.prerequisites(site)
    ready = all_of(prerequisites)
    gateway = _gateway(cfg, provider, ready)
    if gateway is not None:
        ready = all_of([ready, gateway])
    gw_namespace, gw_name = gateway_ref(cfg.istio.gateway, cfg.namespace)
    watched: dict[str, Watched] = {}
    # What every model's server shares, computed once rather than once per model.
    shared = {
        "namespace": cfg.namespace,
        "stack": cfg,
        "storage": cfg.storage,
        "credentials": cfg.credentials,
        "node_affinity": node_affinity(cfg),
        "gateway": f"{gw_namespace}/{gw_name}",
        "registration": _registration(cfg, workflow, prepared.owner),
        # The readiness waits reach the cluster as the provider does: this kubeconfig, else the ambient one.
        "kubeconfig": kubeconfig,
        "watched": watched,
    }
    urls: dict[str, str] = {}
    inference_urls: dict[str, str] = {}
    grpc: dict[str, str] = {}
    served: dict[str, list[BackendArgs]] = {name: [] for name in backends}
    for model in cfg.models:
        plan = planned[model.app_name]
        where = backends[plan.backend].urls(cfg, model, plan)
        urls[model.app_name] = where.prediction
        if where.inference:
            inference_urls[model.app_name] = where.inference
        if where.grpc:
            grpc[model.app_name] = where.grpc
        served[plan.backend].append(
            {**shared, "model": model, "plan": plan, "urls": where, "labels": labels(cfg, model, workflow)}  # type: ignore[typeddict-item]
        )
    opts = pulumi.ResourceOptions(providers=[provider], depends_on=ready)
    for name, models in served.items():
        if models:
            backends[name].serve(cfg, models, workflow, opts)
    ready = _readiness(watched, kubeconfig, host)
    outputs["prediction_urls"] = urls
    outputs["inference_urls"] = inference_urls
    timeouts = {model.app_name: model.ready_timeout_s for model in cfg.models}
    outputs["serving"] = {
        app: _described(plan, timeouts[app], ready.get(app)) for app, plan in planned.items()
    }
    if grpc:
        outputs["grpc_endpoints"] = grpc
    if len(urls) == 1:
        outputs["prediction_url"] = next(iter(urls.values()))
    return outputs


def _gate_host(cfg: Any, planned: dict[str, Plan]) -> pulumi.ProviderResource | None:
    """The provider of the stack's readiness gate, when the stack will have one (registration off, a model
    waited for), registered first thing.

    Why not the default provider: the engine starts a default provider's plugin when the first resource
    using it registers, and the gate registers after every model's objects, so the dynamic-provider host's
    start-up (a Python process importing pulumi and grpc) came after everything else in a no-op `up` (of
    100 models: +14% instead of +2%). Registered now, the host starts while the models are diffed.
    """
    if cfg.fuseml.register:
        return None
    from components.readiness.verdicts import waited_for

    if not any(waited_for(planned[model.app_name].backend, model.ready_timeout_s) for model in cfg.models):
        return None
    from components.readiness import host_provider

    return host_provider()


def _readiness(
    watched: dict[str, Watched], kubeconfig: Any, host: pulumi.ProviderResource | None
) -> dict[str, tuple[Any, Any]]:
    """Each gated model's `ready_at` and `ready_after_s`: its Application's (it waited before it
    registered), or the stack's gate's, registered here for the models no Application waits for."""
    found = {app: (w.by.ready_at, w.by.ready_after_s) for app, w in watched.items() if w.by is not None}
    alone = {app: w for app, w in watched.items() if w.by is None}
    if alone:
        from components.readiness import stack_gate

        after = list({id(r): r for w in alone.values() for r in w.after}.values())
        gate = stack_gate(
            {app: w.spec for app, w in alone.items()}, kubeconfig=kubeconfig, depends_on=after, provider=host
        )
        for app in alone:
            found[app] = (
                gate.ready.apply(lambda ready, app=app: _ready_of(ready, app, "ready_at")),
                gate.ready.apply(lambda ready, app=app: _ready_of(ready, app, "ready_after_s")),
            )
    return found


def _ready_of(ready: Any, app: str, key: str) -> Any:
    return ((ready or {}).get(app) or {}).get(key)


def _described(plan: Plan, ready_timeout_s: int, ready: tuple[Any, Any] | None) -> dict[str, Any]:
    """A model's entry of the `serving` output: the plan, and whether (and when) readiness was checked:
    `ready_timeout_s` 0 means not checked; else `ready_at` and `ready_after_s` of the last wait."""
    found: dict[str, Any] = {
        "backend": plan.backend,
        "format": plan.format,
        "runtime": plan.runtime,
        "why": plan.why,
        "ready_timeout_s": ready_timeout_s,
        "readiness": "checked"
        if ready is not None
        else "not checked" + (" (ready_timeout_s 0)" if not ready_timeout_s else ": no readiness rule"),
    }
    if ready is not None:
        found.update(ready_at=ready[0], ready_after_s=ready[1])
    return found


def store_detector(cfg: Any) -> Detect:
    """Read a model's format from its store with the stack's storage settings and the run's plain secret
    values (never a resource input)."""
    credentials = {k: v for k, v in cfg.credentials.items() if isinstance(v, str)}
    return serving_store_detector(cfg.storage, credentials)


def _cluster(cfg: Any) -> GkeCluster:
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


def pool_labels(cfg: Any) -> dict[str, str]:
    """Labels of the serving nodes; in existing mode, the labels the user says their Intel nodes carry."""
    found = dict(cfg.cluster.node_pool.labels)
    if cfg.cluster.create:
        found[POOL_LABEL] = cfg.cluster.node_pool.name
    return found


def node_affinity(cfg: Any) -> dict[str, Any] | None:
    """Required affinity to the serving pool; the CR has no tolerations, so affinity is what pins servers."""
    found = pool_labels(cfg)
    if not found:
        return None
    expressions = [{"key": k, "operator": "In", "values": [v]} for k, v in sorted(found.items())]
    return {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": expressions}]
        }
    }


def _gateway(cfg: Any, provider: k8s.Provider, ready: pulumi.Output[Any]) -> pulumi.Resource | None:
    if not cfg.istio.create_gateway:
        return None
    namespace, name = gateway_ref(cfg.istio.gateway, cfg.namespace)
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


def workflow_label(cfg: Any, project: str, stack: str) -> str:
    """The `fuseml/workflow` label and FuseML owner: fuseml.workflow, else `<project>-<stack>`.

    Checked before anything is registered: a label value holds at most 63 chars, and a long stack name
    would otherwise fail only at the API server, after the provider and the prerequisites exist. `cfg` is
    a StackConfig or the raw settings (so the label is checked even when other settings are wrong).
    """
    if isinstance(cfg, Mapping):
        section = cfg.get("fuseml")
        given = section.get("workflow") if isinstance(section, Mapping) else None
        if isinstance(given, str) and given.strip():
            return given
    elif cfg.fuseml.workflow:
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


def labels(cfg: Any, model: ModelConfig, workflow: str) -> dict[str, str]:
    """Labels of a model's objects: the original step's fuseml/* labels plus ownership and environment."""
    return {
        "fuseml/app-name": model.app_name,
        "fuseml/workflow": workflow,
        "fuseml-serving/environment": cfg.environment,
        **MANAGED_BY,
    }


def _registration(cfg: Any, workflow: str, owner: str) -> RegistrationArgs | None:
    """How servers are registered with FuseML, or None when registration is off."""
    if not cfg.fuseml.register:
        return None
    return {
        "server_url": cfg.fuseml.url or "",
        "workflow": workflow,
        "owner": owner,
        "timeout_s": cfg.fuseml.timeout_s,
    }
