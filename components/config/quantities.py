"""Requests and limits: resource names and quantities the way Kubernetes and the serving objects hold
them, and how a model or server entry's `resources`/`resources_limits` resolve into both.

Why its own module: every backend sizes its pods from these, and each resolution rule (a limit without a
request sets the request, one device at most, a device's request equals its limit) is Kubernetes' own.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from components.config.base import Settings
from components.config.errors import Refusal, raise_refusals
from components.config.readers import _mapping
from kernel.quantities import parse_quantity

#: Resource names the ModelServer CRD can carry; any other name is an extended device resource.
CORE_RESOURCES = ("cpu", "memory")
#: Kubernetes' other built-in resource names (k8s.io/api core/v1 ResourceName): valid on a Pod, but the
#: ModelServer CRD (operator 1.2.0) holds only cpu, memory and one device, so they cannot be passed on.
_UNHOLDABLE = re.compile(r"^(ephemeral-storage|storage|hugepages-\S+|pods)$")
#: An extended resource is fully qualified, `<domain>/<name>`, outside the kubernetes.io domain
#: (k8s.io/kubernetes pkg/apis/core/helper IsExtendedResourceName).
_EXTENDED = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
#: The least memory that is not a slip: a bare number is bytes and `m` thousandths of one.
_MIN_MEMORY = 2**20


def _resource_name(name: Any) -> str:
    allowed = "cpu, memory, or a device resource <vendor domain>/<name> like gpu.intel.com/i915"
    if not isinstance(name, str):
        raise Refusal(name, allowed)
    if name in CORE_RESOURCES:
        return name
    if name.lower() in CORE_RESOURCES:
        raise Refusal(name, f"{allowed} (resource names are lowercase: {name.lower()})")
    if _UNHOLDABLE.fullmatch(name):
        raise Refusal(name, f"{allowed}: {name} is a Kubernetes resource the ModelServer CRD cannot hold")
    domain = name.split("/", 1)[0]
    if not _EXTENDED.fullmatch(name) or domain == "kubernetes.io" or domain.endswith(".kubernetes.io"):
        raise Refusal(name, allowed)
    return name


def _written(text: str, integer: bool) -> bool:
    """Whether text is an amount a user may write: a whole number for a device, else an unsigned
    Kubernetes quantity (a negative amount is never meant)."""
    if integer:
        return text.isascii() and text.isdigit()
    return not text.startswith(("+", "-")) and parse_quantity(text) is not None


def _quantity(value: Any, name: str) -> str:
    """A Kubernetes quantity that can be meant: memory in bytes or millibytes, or no CPU at all, is a slip."""
    integer = name not in CORE_RESOURCES
    text = value
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value) if abs(value) < 10**18 else None
    elif isinstance(value, float):
        text = repr(value) if math.isfinite(value) else None
    if not isinstance(text, str) or not _written(text.strip(), integer):
        raise Refusal(
            value,
            "a whole number (extended resources)" if integer else "a Kubernetes quantity like 500m, 2, 1Gi",
        )
    quantity = text.strip()
    amount = parse_quantity(quantity)
    assert amount is not None
    if name == "memory" and (quantity.endswith("m") or amount < _MIN_MEMORY):
        allowed = "a memory size of at least 1Mi, like 512Mi or 2Gi (a bare number is bytes, m thousandths)"
        raise Refusal(quantity, allowed)
    if name == "cpu" and amount < 1e-3:
        raise Refusal(quantity, "a CPU amount of at least 1m (a thousandth of a core)")
    if integer and amount < 1:
        raise Refusal(quantity, "a whole number of devices, at least 1")
    return quantity


#: How a user writes resource quantities: `{cpu: 2, memory: 4Gi}`.
_QUANTITIES = dict[str, str | int | float]


def _resource_map(value: Any) -> dict[str, str]:
    mapping = _mapping(value, "a map of resource names to Kubernetes quantities")
    result, refused = {}, []
    for name, quantity in mapping.items():
        try:
            checked = _resource_name(name)
            result[checked] = _quantity(quantity, checked)
        except Refusal as refusal:
            refused.append(Refusal(refusal.value, refusal.allowed, str(name)))
    raise_refusals(refused)
    if len([n for n in result if n not in CORE_RESOURCES]) > 1:
        raise Refusal(mapping, "at most one extended device resource (the CRD has one xpu_device)")
    return result


class Resources(Settings):
    """Requests and limits of a model server, as Kubernetes quantities."""

    requests: Annotated[
        dict[str, str], BeforeValidator(_resource_map, json_schema_input_type=_QUANTITIES)
    ] = Field(default_factory=dict)
    """Resource requests."""
    limits: Annotated[dict[str, str], BeforeValidator(_resource_map, json_schema_input_type=_QUANTITIES)] = (
        Field(default_factory=dict)
    )
    """Resource limits; each defaults to its request."""


#: What a model server asks for when an entry names no resources.
DEFAULT_RESOURCES = Resources(requests={"cpu": "1", "memory": "1Gi"})


ExtraLimits = Annotated[
    dict[str, str] | None, BeforeValidator(_resource_map, json_schema_input_type=_QUANTITIES)
]


def _amount(quantity: str) -> float:
    amount = parse_quantity(quantity)
    assert amount is not None, quantity  # every quantity here was read by _quantity
    return amount


def resolved_resources(entry: Any) -> Resources:
    """Requests and limits, as Kubernetes reads them: a limit without a request makes the request equal.

    With neither key, the defaults apply, and limits default to the requests (Guaranteed QoS keeps OVMS
    latency steady). An error names the key the user wrote, `resources.limits` or `resources_limits`.
    """
    given = {"resources", "resources_limits"} & entry.model_fields_set
    defaults = DEFAULT_RESOURCES.requests
    limits, limits_from = {}, {}
    sources = [(("resources", "limits"), entry.resources.limits)]
    sources.append((("resources_limits",), entry.resources_limits or {}))
    for source, values in sources:
        for name, quantity in values.items():
            limits[name], limits_from[name] = quantity, source
    if "resources" in entry.model_fields_set:
        requests = dict(entry.resources.requests)
    else:
        requests = {} if given else dict(defaults)
    for name in CORE_RESOURCES:
        requests.setdefault(name, limits.get(name, defaults[name]))
    for name, quantity in requests.items():
        if name not in limits:
            limits[name], limits_from[name] = quantity, ("resources", "requests")
    devices = [n for n in limits if n not in CORE_RESOURCES]
    if len(devices) > 1:
        raise Refusal(
            limits[devices[1]],
            f"no second device beside {devices[0]}: the ModelServer CRD holds one xpu_device",
            *limits_from[devices[1]],
            devices[1],
        )
    refused = []
    for name in devices:
        # Kubernetes refuses a Pod whose extended-resource request differs from its limit.
        if name in requests and requests[name] != limits[name]:
            equal = (
                f"the device request ({requests[name]}): Kubernetes wants a device's request and limit equal"
            )
            refused.append(Refusal(limits[name], equal, *limits_from[name], name))
    for name in CORE_RESOURCES:
        if _amount(requests[name]) > _amount(limits[name]):
            at_least = f"at least the request ({requests[name]})"
            refused.append(Refusal(limits[name], at_least, *limits_from[name], name))
    raise_refusals(refused)
    return Resources.model_construct(requests=requests, limits=limits)
