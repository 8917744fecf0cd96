"""Cost per million predictions: the price of the node share a model occupies over its capacity.

cost per million = price per hour x node share / (capacity x 3600) x 10^6. The node share is what the
model's servers request against one node's allocatable CPU and memory (the larger of the two, times the
replicas), because the scheduler packs pods by requests; the price is the machine type's on-demand price
from gce_prices.json, or --price-per-hour.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

PRICES = Path(__file__).resolve().parent / "gce_prices.json"
GIB = 1024**3
MIB = 1024**2
_QUANTITY = re.compile(r"^(?P<number>\d+(\.\d*)?|\.\d+)(?P<unit>m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_UNITS = {
    "": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "Pi": 1024**5, "Ei": 1024**6,
}  # fmt: skip


class CostError(ValueError):
    """A price or share that cannot be worked out: the message names the setting."""


def price_table() -> dict:
    return json.loads(PRICES.read_text(encoding="utf-8"))


def quantity(text: str) -> float:
    """A Kubernetes quantity (500m, 2, 1Gi) as a number (cores, bytes)."""
    match = _QUANTITY.match(str(text).strip())
    if match is None:
        raise CostError(f"resource request {text!r}: a Kubernetes quantity like 500m, 2, 1Gi")
    return float(match["number"]) * _UNITS[match["unit"] or ""]


def allocatable(vcpus: int, memory_gb: float) -> tuple[float, float]:
    """A GKE Standard node's allocatable CPU (cores) and memory (bytes) for its machine size.

    GKE reserves CPU (6% of the first core, 1% of the next, 0.5% of the next 2, 0.25% above 4) and memory
    (25% of the first 4 GiB, 20% of the next 4, 10% of the next 8, 6% of the next 112, 2% above 128 GiB)
    and keeps a 100 MiB eviction threshold: cloud.google.com/kubernetes-engine/docs/concepts/
    plan-node-sizes, "Node allocatable resources". System add-on pods are not subtracted (they vary).
    """
    cpu_steps = ((1, 0.06), (1, 0.01), (2, 0.005), (float("inf"), 0.0025))
    memory_steps = ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (float("inf"), 0.02))
    return vcpus - _tiered(vcpus, cpu_steps), (memory_gb - _tiered(memory_gb, memory_steps)) * GIB - 100 * MIB


def _tiered(amount: float, steps: tuple[tuple[float, float], ...]) -> float:
    reserved, left = 0.0, amount
    for size, fraction in steps:
        part = min(left, size)
        reserved += part * fraction
        left -= part
        if left <= 0:
            break
    return reserved


@dataclass(frozen=True)
class Pricing:
    """The price and share used for one target, with how each was found (said in the report)."""

    price_per_hour: float
    node_share: float
    how: str


def pricing(
    machine_type: str,
    requests: dict[str, str],
    replicas: int,
    price_per_hour: float | None = None,
    node_share: float | None = None,
) -> Pricing:
    """The node price and the share of it a model's servers take."""
    table = price_table()["machines"]
    machine = table.get(machine_type)
    if price_per_hour is None:
        if machine is None:
            known = ", ".join(sorted(table))
            raise CostError(
                f"machine type {machine_type!r} is not in bench/gce_prices.json (known: {known}); "
                "give --price-per-hour"
            )
        price_per_hour = machine["price_per_hour"]
        price_how = f"{machine_type} on-demand price ${price_per_hour}/h"
    else:
        price_how = f"--price-per-hour ${price_per_hour}/h"
    if node_share is not None:
        return Pricing(price_per_hour, node_share, f"{price_how}; node share {node_share:g} (--node-share)")
    if machine is None or not requests:
        return Pricing(
            price_per_hour, 1.0, f"{price_how}; node share 1 (no resource requests known: a whole node)"
        )
    cpu, memory = allocatable(machine["vcpus"], machine["memory_gb"])
    shares = {
        "cpu": quantity(requests.get("cpu", "0")) / cpu,
        "memory": quantity(requests.get("memory", "0")) / memory,
    }
    share = max(shares.values()) * replicas
    asked = ", ".join(f"{key} {value}" for key, value in sorted(requests.items()) if key in shares)
    how = (
        f"{price_how}; node share {share:.3f} = {replicas} replica(s) x max({asked} against {machine_type}'s "
        f"allocatable {cpu:.2f} CPU, {memory / GIB:.2f} GiB)"
    )
    return Pricing(price_per_hour, share, how)


def cost_per_million(price: Pricing, capacity_rps: float | None) -> float | None:
    """Dollars per million predictions at the capacity, or None without a capacity."""
    if not capacity_rps:
        return None
    return price.price_per_hour * price.node_share / (capacity_rps * 3600) * 1e6
