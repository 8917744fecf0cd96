"""A deployed stack's models as targets: the one module of bench that reads the Pulumi program's code.

The stack outputs (components/program.py build) give each app's `prediction_urls` and `serving` backend;
what the cost needs and the outputs do not carry (replicas, resource requests, the node pool's machine
type) is read from the stack's own config file, Pulumi.<stack>.yaml, through the program's parser.
With `--in-cluster`, each model's cluster-internal URL is derived from what the program creates for it
(`internal_url`): the outputs carry only the external ones, through the Istio ingress.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from bench.targets import Target, TargetError
from components.backends import registry
from components.config import NAMESPACE, parse
from components.serving import Plan

#: Seldon Core 1 serves a SeldonDeployment's predictor on the Service `<deployment>-<predictor>` (seldon-core
#: v1.18.2 operator/apis/machinelearning.seldon.io/v1/seldondeployment_types.go GetPredictorKey; a name
#: over 63 characters becomes a hash), at its executor's HTTP port 8000 (operator/controllers/
#: seldondeployment_controller.go DEFAULT_ENGINE_CONTAINER_PORT), and its Istio route strips the
#: `/seldon/<namespace>/<deployment>` prefix before it (the same file, the VirtualService's Rewrite "/").
#: The program names the one predictor `default` (components/backends/seldon.py spec).
SELDON_PREDICTOR = "default"
SELDON_HTTP_PORT = 8000
DNS_LABEL_MAX = 63


class StackError(Exception):
    """The stack cannot be read: one line naming the stack and why."""


def outputs(stack: str, root: Path) -> dict[str, Any]:
    """`pulumi stack output --json` of the stack, run in the project folder."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise StackError(f"--stack {stack}: reading its outputs needs the Pulumi CLI on PATH")
    done = subprocess.run(
        [pulumi, "stack", "output", "--json", "--stack", stack],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise StackError(f"--stack {stack}: pulumi stack output failed: {last}")
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise StackError(f"--stack {stack}: pulumi stack output printed no JSON") from None


def config(stack: str, root: Path) -> Any:
    """The stack's settings, parsed by the program's own parser (secret values stand in as hidden)."""
    path = root / f"Pulumi.{stack}.yaml"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError:
        raise StackError(f"--stack {stack}: no {path.name} in {root}") from None
    raw: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    gcp: dict[str, Any] = {}
    for key, value in (document.get("config") or {}).items():
        namespace, _, name = str(key).partition(":")
        if namespace == "gcp":
            gcp[name] = value
        if namespace != NAMESPACE:
            continue
        if isinstance(value, dict) and set(value) == {"secure"}:
            secrets[name] = "<hidden>"
        else:
            raw[name] = value
    try:
        return parse(raw, secrets, gcp)
    except ValueError as err:
        raise StackError(f"--stack {stack}: {path.name}: {str(err).splitlines()[0]}") from None


def internal_url(cfg: Any, model: Any, plan: Plan, external: str) -> tuple[str | None, str]:
    """A model's URL inside the cluster, from what the program creates for it; else None and why.

    A backend with a program-made route (OVMS, ModelMesh: `route()`) is reached at the Service that route
    sends its host to, on the same port and path. KServe answers at its InferenceService's address,
    `<name>.<namespace>.svc.cluster.local` on port 80, the Service it points at the cluster-local gateway
    (kserve pkg/controller/v1beta1/inferenceservice/reconcilers/ingress/ingress_reconciler.go: Reconcile
    sets status.address to it, reconcileExternalService creates it). Seldon at its predictor's Service
    (SELDON_PREDICTOR above), the external path less its gateway prefix.
    """
    backends = registry()
    backend = backends.get(plan.backend)
    if backend is None:
        return None, f"backend {plan.backend} unknown to this program"
    namespace = cfg.namespace
    path = urlsplit(external).path
    route = backend.route(plan)
    if route is not None:
        template, port = route
        # A model on a shared OVMS server is routed to the server's Service (components/backends/ovms/
        # server.py), any other to the one its backend names after it (components/serving.py).
        owner = next((srv for srv in cfg.servers if srv.name == model.server), None) if model.server else None
        service = owner.resource_name if owner is not None else template.format(name=backend.name_of(model))
        return f"http://{service}.{namespace}.svc.cluster.local:{port}{path}", ""
    name = backend.name_of(model)
    if plan.backend == "kserve":
        return f"http://{name}.{namespace}.svc.cluster.local{path}", ""
    if plan.backend == "seldon":
        service = f"{name}-{SELDON_PREDICTOR}"
        if len(service) > DNS_LABEL_MAX:
            return None, f"its Seldon Service name is a hash of {service} (over {DNS_LABEL_MAX} characters)"
        inner = path.removeprefix(f"/seldon/{namespace}/{name}")
        return f"http://{service}.{namespace}.svc.cluster.local:{SELDON_HTTP_PORT}{inner}", ""
    return None, f"its {plan.backend} runtime {plan.runtime} has no REST endpoint to load"


def stack_targets(
    stack: str, root: Path, names: list[str], in_cluster: bool = False
) -> tuple[list[Target], list[str]]:
    """The stack's models as targets (only `names` if given), and one line per name it does not have.

    `in_cluster`: each target at its cluster-internal URL (`internal_url`); a model without one is a line.
    """
    found = outputs(stack, root)
    urls = found.get("prediction_urls") or {}
    serving = found.get("serving") or {}
    if not urls:
        raise StackError(f"--stack {stack}: its outputs have no prediction_urls (is it deployed?)")
    # Sizes only price a target: a config the parser refuses here (its store keys unset where bench runs,
    # say) leaves the targets measured, priced as whole nodes, with the reason in their notes.
    try:
        cfg = config(stack, root)
    except StackError as err:
        cfg, unsized = None, f"sizes not read ({err}): priced as a whole node"
    models = {model.app_name: model for model in cfg.models} if cfg else {}
    servers = {server.name: server for server in cfg.servers} if cfg else {}
    missing = [
        f"--model {name}: not in stack {stack} (it has {', '.join(sorted(urls))})"
        for name in names
        if name not in urls
    ]
    targets = []
    for app, url in urls.items():
        if names and app not in names:
            continue
        target = Target(name=app, url=url, backend=(serving.get(app) or {}).get("backend"))
        if in_cluster:
            inner, why = _internal(cfg, models.get(app), serving.get(app), url)
            if inner is None:
                missing.append(
                    f"{app}: no cluster-internal URL for --in-cluster ({why}); give --target {app}=URL"
                )
                continue
            target.url = inner
            target.notes.append(f"in-cluster URL derived from the stack (external: {url})")
        if cfg is None:
            target.notes.append(unsized)
            targets.append(target)
            continue
        model = models.get(app)
        if model is not None:
            owner = servers.get(model.server) if model.server is not None else model
            target.replicas = owner.replicas
            target.requests = dict(owner.resources.requests)
        machine = cfg.cluster.node_pool.machine_type
        target.machine_type = machine
        if cfg.cluster.mode != "create":
            target.notes.append(
                f"existing cluster: its machine type is not in the stack; priced as node_pool.machine_type "
                f"{machine} (--machine-type to change)"
            )
        targets.append(target)
    return targets, missing


def _internal(cfg: Any, model: Any, described: dict | None, url: str) -> tuple[str | None, str]:
    if cfg is None:
        return None, "Pulumi config not read, so neither the model's names nor namespace are known"
    if model is None or not described:
        return None, "not in the stack's config and outputs together"
    plan = Plan(**{f.name: described.get(f.name, "") for f in fields(Plan)})
    return internal_url(cfg, model, plan, url)


__all__ = ["StackError", "Target", "TargetError", "internal_url", "stack_targets"]
