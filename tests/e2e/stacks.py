"""Stack settings and cluster reads shared by the end-to-end tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from components.backends.ovms import API_VERSION as MODELSERVER_API
from components.route import API_VERSION as ISTIO_API
from offline.plan import Plan, engine_config, plan
from testbed.cluster import Cluster
from testbed.engine import Engine

DOMAIN = "e2e.test"


def settings(
    namespace: str, models: list[dict[str, Any]], *, fuseml_url: str | None = None, **extra: Any
) -> dict:
    """Config of a test stack: the ambient (test-bed) cluster, routes through a gateway the stack creates."""
    config: dict[str, Any] = {
        "cluster": {"mode": "existing"},
        "namespace": namespace,
        "operator": {"install": False},
        "istio": {"gateway": "ovms", "create_gateway": True, "domain": DOMAIN},
        "fuseml": {"register": fuseml_url is not None, **({"url": fuseml_url} if fuseml_url else {})},
        "models": models,
    }
    config.update(copy.deepcopy(extra))
    return config


def write_stack(engine: Engine, stack: str, config: dict[str, Any]) -> None:
    """Write Pulumi.<stack>.yaml in the engine's project folder, keeping what the CLI added (the salt)."""
    path = engine.project / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    document = document or {}
    kept = {k: v for k, v in (document.get("config") or {}).items() if isinstance(v, dict) and "secure" in v}
    document["config"] = {**{f"fuseml-serving:{k}": v for k, v in config.items()}, **kept}
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def new_stack(engine: Engine, stack: str, config: dict[str, Any]) -> None:
    engine.run("stack", "init", stack, "--secrets-provider", "passphrase")
    write_stack(engine, stack, config)


def up(engine: Engine, stack: str, *extra: str) -> str:
    return engine.run("up", "--stack", stack, "--yes", "--skip-preview", *extra, timeout=900).stdout


def planned(config: dict[str, Any], stack: str, secrets: dict[str, str] | None = None) -> Plan:
    """The offline plan of the same settings, with the same stack name (labels carry it)."""
    secrets = secrets or {}
    keys = [f"fuseml-serving:{key}" for key in secrets]
    return plan(engine_config({**config, **secrets}), stack=stack, secret_keys=keys)


def items(cluster: Cluster, api_version: str, plural: str, namespace: str) -> dict[str, dict]:
    """Objects of one kind in a namespace, by name."""
    group_path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    listed = cluster.get(f"{group_path}/namespaces/{namespace}/{plural}") or {"items": []}
    return {item["metadata"]["name"]: item for item in listed["items"]}


def model_servers(cluster: Cluster, namespace: str) -> dict[str, dict]:
    return items(cluster, MODELSERVER_API, "modelservers", namespace)


def virtual_services(cluster: Cluster, namespace: str) -> dict[str, dict]:
    return items(cluster, ISTIO_API, "virtualservices", namespace)


def missing(held: Any, planned: Any, path: str = "") -> list[str]:
    """Where `held` (an object the API server returns) differs from `planned`; fields the API server added
    (the CRD's defaults) are not differences, anything planned must be there unchanged."""
    if isinstance(planned, dict):
        if not isinstance(held, dict):
            return [f"{path}: {held!r} is not an object"]
        return [d for k, v in planned.items() for d in missing(held.get(k, _ABSENT), v, f"{path}.{k}")]
    if isinstance(planned, list):
        if not isinstance(held, list) or len(held) != len(planned):
            return [f"{path}: {held!r} != {planned!r}"]
        return [
            d
            for i, (h, p) in enumerate(zip(held, planned, strict=True))
            for d in missing(h, p, f"{path}[{i}]")
        ]
    return [] if held == planned else [f"{path}: {held!r} != {planned!r}"]


_ABSENT = object()


def outputs(engine: Engine, stack: str) -> dict[str, Any]:
    return json.loads(engine.run("stack", "output", "--stack", stack, "--json").stdout)


def events(path: Path) -> list[dict[str, Any]]:
    """The engine events of an `--event-log` file, in order."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
