"""Readiness gates: `pulumi up` completes, and FuseML registers a model, only once the model serves.

Each model with `ready_timeout_s` > 0 gets a `Readiness` resource after its objects (and route); its
FuseML Application depends on it. What ready means per backend, and how a failure is explained, is in
`verdicts.py`; the wait itself in `provider.py`.
"""

from __future__ import annotations

import functools
from typing import Any, TypedDict

import pulumi
import pulumi.dynamic
from pulumi.dynamic.dynamic import PROVIDER_KEY

from components.readiness.provider import INPUT_KEYS, ReadinessProvider

__all__ = ["Readiness", "ReadinessArgs", "child_urn", "gate"]


class ReadinessArgs(TypedDict, total=False):
    """Inputs of a `Readiness` gate (see provider.py)."""

    app: pulumi.Input[str]
    backend: pulumi.Input[str]
    namespace: pulumi.Input[str]
    name: pulumi.Input[str]
    revision: pulumi.Input[str]
    timeout_s: pulumi.Input[int]
    kubeconfig: pulumi.Input[str]
    status_urn: pulumi.Input[str]


class Readiness(pulumi.dynamic.Resource, module="readiness", name="Readiness"):
    """A model's readiness gate; type token `pulumi-python:dynamic/readiness:Readiness`."""

    ready_at: pulumi.Output[str]
    ready_after_s: pulumi.Output[float]

    def __init__(self, resource_name: str, args: ReadinessArgs, opts: pulumi.ResourceOptions | None = None):
        props: dict[str, Any] = {key: None for key in INPUT_KEYS}
        props.update({k: v for k, v in dict(args).items() if v is not None})
        props.update(ready_at=None, ready_after_s=None, seen=None)
        # As fuseml/provider.py Application: the provider serialized once per process, not per gate.
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
    depending on the parent would depend on all its children, this gate included (a cycle)."""
    stack, project = pulumi.get_stack(), pulumi.get_project()
    return f"urn:pulumi:{stack}::{project}::{parent.pulumi_resource_type}${type_}::{name}"


def revision(obj: pulumi.CustomResource) -> pulumi.Output[str]:
    """`<uid>/<generation>` of a Kubernetes object: changes with each new spec (or a re-creation)."""
    metadata = getattr(obj, "metadata", None)
    if metadata is None:
        return pulumi.Output.from_input("")
    return pulumi.Output.from_input(metadata).apply(_revision_of)


def _revision_of(meta: Any) -> str:
    meta = meta or {}
    get = meta.get if isinstance(meta, dict) else lambda key: getattr(meta, key, None)
    uid, generation = get("uid"), get("generation")
    if isinstance(generation, float) and generation.is_integer():
        generation = int(generation)
    return f"{uid or ''}/{generation if generation is not None else ''}"


def gate(
    name: str,
    *,
    app: str,
    backend: str,
    namespace: str,
    object_name: str,
    timeout_s: int,
    server: pulumi.CustomResource,
    kubeconfig: pulumi.Input[str] | None,
    parent: pulumi.Resource,
    depends_on: list[pulumi.Resource],
) -> Readiness:
    """The gate `<name>-ready` of one model, after everything it serves through."""
    gate_name = f"{name}-ready"
    return Readiness(
        gate_name,
        {
            "app": app,
            "backend": backend,
            "namespace": namespace,
            "name": object_name,
            "revision": revision(server),
            "timeout_s": timeout_s,
            "kubeconfig": pulumi.Output.secret(kubeconfig) if kubeconfig is not None else None,
            "status_urn": child_urn(parent, TYPE, gate_name),
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
    )
