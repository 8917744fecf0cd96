"""The serving backends, one module each: every Backend subclass defined in a module of this package.

Why discovered rather than listed: a fifth backend is one new file here, and nothing else changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from components.serving import Backend


@cache
def registry() -> dict[str, type[Backend]]:
    """Each backend's `backend` word -> its class, in module order (ovms first, as `auto` prefers)."""
    found: dict[str, type[Backend]] = {}
    for module in pkgutil.iter_modules(__path__):
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        for value in vars(loaded).values():
            if isinstance(value, type) and issubclass(value, Backend) and value.__module__ == loaded.__name__:
                found[value.NAME] = value
    return dict(sorted(found.items(), key=lambda item: item[0] != "ovms"))
