"""Plan a stack in-process with Pulumi's mocks, recording every resource the program registers.

This is the one fake of the Pulumi engine, used by the tests, the benchmark and the offline review: no
CLI, no cloud, no cluster. It records what the engine would receive (type, name, parent, dependencies,
additional secret outputs, inputs) and where secrets sit in those inputs, so a review can evaluate policies
and write the planned objects without ever holding a decrypted secret.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import run_pulumi_func

from offline.stackfile import StackConfig, project_settings, read

PROJECT = "fuseml-serving"
ROOT = Path(__file__).resolve().parents[1]

# Signatures of the engine's special values in a serialized property struct.
_SIG = "4dabf18193072939515e22adb298388d"
_SECRET = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_REF = "5cf8f73096256a8f31e491e813e4eb8e"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

#: Outputs a real provider computes, so that code reading them sees plausible values under mocks.
_COMPUTED: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
    "gcp:container/cluster:Cluster": lambda name, inputs: {
        "endpoint": "203.0.113.10",
        "masterAuth": {"clusterCaCertificate": "Q0EtQ0VSVElGSUNBVEU="},
        "name": inputs.get("name", name),
    },
}


@dataclass
class PlannedResource:
    """One registration as the engine would see it; `inputs` use the engine's camelCase names."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    inputs: dict[str, Any]
    secret_paths: list[tuple[Any, ...]]
    dependencies: list[str]
    additional_secret_outputs: list[str]
    provider: str

    def masked_inputs(self, placeholder: str = "[secret]") -> dict[str, Any]:
        """The inputs with every secret value replaced, safe to print or write."""
        masked = _copy(self.inputs)
        for path in sorted(self.secret_paths, key=len):
            _set_path(masked, path, placeholder)
        return masked

    @property
    def kubernetes_object(self) -> bool:
        """Whether this registers an object in a Kubernetes cluster."""
        return self.custom and self.type.startswith("kubernetes:") and "apiVersion" in self.inputs


@dataclass
class Plan:
    """Everything one program run registered, and its resolved stack outputs."""

    resources: list[PlannedResource]
    outputs: dict[str, Any]
    secret_outputs: set[str] = field(default_factory=set)

    def of_type(self, type_: str) -> list[PlannedResource]:
        """Resources of one engine type token."""
        return [r for r in self.resources if r.type == type_]

    def by_urn(self) -> dict[str, PlannedResource]:
        """Index by URN."""
        return {r.urn: r for r in self.resources}

    def longest_chain(self) -> int:
        """Resources on the longest path of must-exist-before edges (dependencies and parents).

        This bounds how many create waves a deploy needs: it must not grow with the number of models.
        """
        index = self.by_urn()
        depth: dict[str, int] = {}
        for resource in self.resources:  # registration order is a topological order of this graph
            before = [u for u in (*resource.dependencies, resource.parent) if u in index]
            depth[resource.urn] = 1 + max((depth.get(u, 0) for u in before), default=0)
        return max(depth.values(), default=0)


class RecordingMocks(pulumi.runtime.Mocks):
    """Echo inputs back as outputs (plus computed ones), and answer invokes from a table."""

    def __init__(self, invokes: Mapping[str, Any] | None = None) -> None:
        self.invokes = dict(invokes or {})

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        computed = _COMPUTED.get(args.typ)
        if computed:
            state.update(computed(args.name, args.inputs))
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        # Offline, kustomize cannot fetch the operator's release manifests: it expands to nothing. A
        # callable answer gets the invoke's arguments (a test reading what was asked for).
        answer = self.invokes.get(args.token, {"result": []})
        return answer(dict(args.args)) if callable(answer) else answer


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that keeps each registration request, secrets and dependencies included."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.planned: list[PlannedResource] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            secret_paths: list[tuple[Any, ...]] = []
            raw = json_format.MessageToDict(request.object)
            self.planned.append(
                PlannedResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    custom=request.custom,
                    parent=request.parent,
                    inputs=_decode(raw, (), secret_paths),
                    secret_paths=secret_paths,
                    dependencies=list(request.dependencies),
                    additional_secret_outputs=list(request.additionalSecretOutputs),
                    provider=request.provider,
                )
            )
        return response


def _decode(value: Any, path: tuple[Any, ...], secrets: list[tuple[Any, ...]]) -> Any:
    """Plain values from a serialized struct: secrets unwrapped (paths kept), refs as URNs, ints as ints."""
    if isinstance(value, dict):
        sig = value.get(_SIG)
        if sig == _SECRET:
            secrets.append(path)
            return _decode(value.get("value"), path, secrets)
        if sig == _RESOURCE_REF:
            return value.get("urn")
        return {k: _decode(v, (*path, k), secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, (*path, i), secrets) for i, v in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        # The wire carries doubles; the real provider sends integral numbers as JSON integers.
        return int(value)
    if value == _UNKNOWN:
        return None
    return value


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _set_path(target: Any, path: tuple[Any, ...], replacement: Any) -> None:
    if not path:
        return
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = replacement


def stack_file(stack: str, root: Path = ROOT) -> Path:
    """The Pulumi.<stack>.yaml of this project."""
    return root / f"Pulumi.{stack}.yaml"


def read_stack_config(path: Path, project_file: Path | None = None) -> tuple[dict[str, str], list[str]]:
    """Engine-form config of a stack file, read as the Pulumi CLI reads it (offline/stackfile.py); secure
    values become placeholders and are never decrypted.

    `project_file` is the Pulumi.yaml whose name namespaces bare keys and whose declared types and
    defaults apply (default: the one beside the stack file, else this repository's).
    """
    found = read_stack_file(path, project_file)
    return found.config, found.secret_keys


def read_stack_file(path: Path, project_file: Path | None = None, stack: str = "") -> StackConfig:
    """The whole reading of a stack file (config, secret keys, placeholders, warnings); StackFileError when
    the CLI would refuse it or the reader cannot read it as the CLI does."""
    if project_file is None:
        beside = path.parent / "Pulumi.yaml"
        project_file = beside if beside.is_file() else ROOT / "Pulumi.yaml"
    name, declared = project_settings(project_file)
    return read(path, name, declared, stack or path.name[len("Pulumi.") : -len(".yaml")])


def engine_config(raw: Mapping[str, Any], namespace: str = PROJECT) -> dict[str, str]:
    """Engine-form config from plain values (strings kept, everything else JSON), keys namespaced."""
    return {
        (k if ":" in k else f"{namespace}:{k}"): (v if isinstance(v, str) else json.dumps(v))
        for k, v in raw.items()
    }


def plan(
    config: Mapping[str, str],
    *,
    stack: str = "dev",
    project: str = PROJECT,
    secret_keys: list[str] | None = None,
    invokes: Mapping[str, Any] | None = None,
    program: Callable[[], Mapping[str, Any]] | None = None,
    record: list[PlannedResource] | None = None,
) -> Plan:
    """Run the program (default: `build(load())`) under mocks with this engine-form config.

    A fresh event loop per plan keeps runs independent; errors raised by the program (a ConfigError
    before any registration, say) propagate unchanged.
    """
    from components.program import tune_gc

    thresholds = gc.get_threshold()
    tune_gc()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        mocks = RecordingMocks(invokes)
        monitor = RecordingMonitor(mocks)
        if record is not None:
            monitor.planned = record
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
        pulumi.runtime.set_all_config(dict(config), list(secret_keys or []))
        SETTINGS.rpc_manager.clear()
        SETTINGS.outputs.clear()
        resolved: dict[str, Any] = {}
        secret_outputs: set[str] = set()

        async def run() -> None:
            outputs = (program or _default_program)()
            for key, value in outputs.items():
                output = pulumi.Output.from_input(value)
                resolved[key] = await output.future()
                if await output.is_secret():
                    secret_outputs.add(key)

        loop.run_until_complete(run_pulumi_func(run))
        return Plan(resources=list(monitor.planned), outputs=resolved, secret_outputs=secret_outputs)
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        gc.set_threshold(*thresholds)


def _default_program() -> Mapping[str, Any]:
    from components.config import load
    from components.program import build

    return build(load())


def plan_stack_file(stack: str, root: Path = ROOT, **kwargs: Any) -> Plan:
    """Plan one of the project's stack files."""
    config, secret_keys = read_stack_config(stack_file(stack, root))
    return plan(config, stack=stack, secret_keys=secret_keys, **kwargs)


def stacks(root: Path = ROOT) -> Iterator[str]:
    """Names of the stack files in the project."""
    for path in sorted(root.glob("Pulumi.*.yaml")):
        yield path.name[len("Pulumi.") : -len(".yaml")]
