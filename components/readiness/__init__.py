"""Readiness gates: `pulumi up` completes, and FuseML registers a model, only once the model serves.

Each model with `ready_timeout_s` > 0 is waited for after its objects (and route): by its FuseML Application
when the stack registers with FuseML (it registers once the wait passed, fuseml/provider.py), else by the
stack's one `Readiness` gate, which waits for every such model at once. Either way one dynamic resource per
model at most: a no-op `up` diffs it and makes no API call. What ready means per backend, and how a
failure is explained, is in `verdicts.py`; the wait itself in `provider.py`.
"""

from __future__ import annotations

import functools
from typing import Any, TypedDict

import pulumi
import pulumi.dynamic
from pulumi.dynamic.dynamic import PROVIDER_KEY

from components.readiness.provider import GATE_KEYS, ReadinessProvider

__all__ = ["Readiness", "ReadinessArgs", "ReadinessSpec", "child_urn", "host_provider", "spec", "stack_gate"]


class ReadinessSpec(TypedDict, total=False):
    """One model's readiness: which object of which backend, at which revision, within which bound."""

    backend: pulumi.Input[str]
    """The serving system (`ovms`, `kserve`, `seldon`, `modelmesh`), whose rule decides ready."""
    namespace: pulumi.Input[str]
    """Where the model's object lives."""
    name: pulumi.Input[str]
    """The model's object: the ModelServer (shared or not), InferenceService or SeldonDeployment."""
    revision: pulumi.Input[str]
    """`<uid>/<generation>` of that object: a new one means a new spec, so the model is waited for again."""
    timeout_s: pulumi.Input[int]
    """The model's `ready_timeout_s`."""


class ReadinessArgs(TypedDict, total=False):
    """Inputs of the stack's `Readiness` gate (see provider.py)."""

    models: pulumi.Input[dict[str, ReadinessSpec]]
    """Every gated model, by app name."""
    kubeconfig: pulumi.Input[str]
    """The cluster's kubeconfig (a secret) in create mode; absent: the ambient one."""
    status_urn: pulumi.Input[str]
    """The gate's own URN, for the engine's status line."""


class Readiness(pulumi.dynamic.Resource, module="readiness", name="Readiness"):
    """The stack's readiness gate; type token `pulumi-python:dynamic/readiness:Readiness`."""

    models: pulumi.Output[dict[str, Any]]
    ready: pulumi.Output[dict[str, Any]]
    """Per app: `ready_at` (UTC), `ready_after_s`, and what the ready look saw."""

    def __init__(self, resource_name: str, args: ReadinessArgs, opts: pulumi.ResourceOptions | None = None):
        props: dict[str, Any] = {key: None for key in GATE_KEYS}
        props.update({k: v for k, v in dict(args).items() if v is not None})
        props["ready"] = None
        # As fuseml/provider.py Application: the provider serialized once per process.
        props[PROVIDER_KEY] = pulumi.Output.secret(_serialized_provider())
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["kubeconfig"])
        )
        pulumi.CustomResource.__init__(
            self, f"pulumi-python:{self._resource_type_name}", resource_name, props, opts
        )


@functools.cache
def _serialized_provider() -> str:
    return pulumi.dynamic.dynamic.serialize_provider(ReadinessProvider())


TYPE = "pulumi-python:dynamic/readiness:Readiness"


def child_urn(parent: pulumi.Resource, type_: str, name: str) -> str:
    """The URN a child of a top-level component gets: `urn:pulumi:<stack>::<project>::<parent type>$<type>::
    <name>` (pulumi sdk/go/common/resource/urn.go NewURN). Computed, not read from `parent.urn`: an input
    depending on the parent would depend on all its children, the waiting Application included (a cycle)."""
    stack, project = pulumi.get_stack(), pulumi.get_project()
    return f"urn:pulumi:{stack}::{project}::{parent.pulumi_resource_type}${type_}::{name}"


def revision(obj: pulumi.CustomResource) -> pulumi.Output[str]:
    """`<uid>/<generation>` of a Kubernetes object: changes with each new spec (or a re-creation)."""
    metadata = getattr(obj, "metadata", None)
    if metadata is None:
        return pulumi.Output.from_input("")
    if isinstance(metadata, pulumi.Output):
        # Not Output.from_input(metadata): that lifts every leaf of the object's metadata (its managed
        # fields too) into an output of its own, which cost a no-op `up` of a hundred models a tenth.
        return metadata.apply(_revision_of)
    return pulumi.Output.from_input(metadata).apply(_revision_of)


def _revision_of(meta: Any) -> str:
    meta = meta or {}
    get = meta.get if isinstance(meta, dict) else lambda key: getattr(meta, key, None)
    uid, generation = get("uid"), get("generation")
    if isinstance(generation, float) and generation.is_integer():
        generation = int(generation)
    return f"{uid or ''}/{generation if generation is not None else ''}"


def spec(
    backend: str, namespace: str, object_name: str, timeout_s: int, server: pulumi.CustomResource
) -> ReadinessSpec:
    """A model's readiness spec: its object, the object's revision, its bound."""
    return {
        "backend": backend,
        "namespace": namespace,
        "name": object_name,
        "revision": revision(server),
        "timeout_s": timeout_s,
    }


def stack_gate(
    specs: dict[str, ReadinessSpec],
    *,
    kubeconfig: pulumi.Input[str] | None,
    depends_on: list[pulumi.Resource],
    provider: pulumi.ProviderResource | None = None,
) -> Readiness:
    """The stack's gate `models-ready`, after every gated model's objects (on `provider`, see
    `host_provider`)."""
    name = "models-ready"
    return Readiness(
        name,
        {
            # A plain map, not an apply's result: the SDK lifts every leaf of an apply's result into an
            # output of its own, while it serializes a plain map's nested outputs as they are.
            "models": specs,
            "kubeconfig": pulumi.Output.secret(kubeconfig) if kubeconfig is not None else None,
            "status_urn": f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{TYPE}::{name}",
        },
        opts=pulumi.ResourceOptions(depends_on=depends_on, provider=provider),
    )


def host_provider() -> pulumi.ProviderResource:
    """An explicit provider of the dynamic-provider host (`pulumi:providers:pulumi-python` `readiness-host`):
    registered early, it starts the host at once (see components/program.py _gate_host)."""
    return pulumi.ProviderResource("pulumi-python", "readiness-host", {})
