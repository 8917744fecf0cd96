"""Kubernetes resource quantities ("500m", "2", "1.5Gi", "1e3"), read as Kubernetes reads them.

Why here: the config refuses a quantity that cannot be meant and compares requests with limits, and the
policy pack sizes servers from the objects; both read a quantity with this one grammar, that of
k8s.io/apimachinery pkg/api/resource/quantity.go (sign, digits, then a binary-SI, decimal-SI or decimal
exponent suffix).
"""

from __future__ import annotations

import math
import re
from typing import Any

#: Suffix -> multiplier: decimal SI (n u m "" k M G T P E), binary SI (Ki .. Ei).
SUFFIXES: dict[str, float] = {
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}
#: The grammar; ASCII digits only (Go's parser reads no other script's digits).
QUANTITY = re.compile(
    r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE]([+-]?[0-9]+))?$"
)


def parse_quantity(value: Any) -> float | None:
    """The amount a quantity stands for (cores, bytes, devices); None when it is not a quantity.

    Numbers are taken as they are (they can arrive as YAML or JSON numbers); text is read by the grammar.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    match = QUANTITY.fullmatch(value.strip())
    if match is None:
        return None
    number, suffix, exponent = match.groups()
    try:
        amount = float(number) * SUFFIXES[suffix or ""] * (10.0 ** int(exponent) if exponent else 1.0)
    except OverflowError:
        return None
    return amount if math.isfinite(amount) else None


def seconds_problem(value: Any) -> str | None:
    """Why a value is no timeout in seconds (a positive, finite number; numbers arrive as floats from the
    engine), or None: what the dynamic providers check their `timeout_s` input with."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    return None if ok else f"must be a positive number of seconds, got {value!r}"
