"""A deployed stack's models as targets: the one module of bench that reads the Pulumi program's code.

The stack outputs (components/program.py build) give each app's `prediction_urls` and `serving` backend;
what the cost needs and the outputs do not carry (replicas, resource requests, the node pool's machine
type) is read from the stack's own config file, Pulumi.<stack>.yaml, through the program's parser.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from bench.targets import Target, TargetError
from components.config import NAMESPACE, parse


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


def stack_targets(stack: str, root: Path, names: list[str]) -> tuple[list[Target], list[str]]:
    """The stack's models as targets (only `names` if given), and one line per name it does not have."""
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


__all__ = ["StackError", "Target", "TargetError", "stack_targets"]
