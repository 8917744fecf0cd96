"""The serving backends, one module each: every Backend subclass defined in a module of this package.

Why discovered rather than listed: a fifth backend is one new file here, and nothing else changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from components.serving import Backend


@cache
def registry() -> dict[str, type[Backend]]:
    """Each backend's `backend` word -> its class, in module order (ovms first, as `auto` prefers)."""
    from components.serving import Backend

    found: dict[str, type[Backend]] = {}
    for module in pkgutil.iter_modules(__path__):
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        for value in vars(loaded).values():
            # A backend is defined in its module, or (a package such as ovms/) in one of its modules.
            defined_here = value.__module__ if isinstance(value, type) else ""
            if (
                isinstance(value, type)
                and issubclass(value, Backend)
                and value is not Backend
                and (defined_here == loaded.__name__ or defined_here.startswith(loaded.__name__ + "."))
            ):
                found[value.NAME] = value
    return dict(sorted(found.items(), key=lambda item: item[0] != "ovms"))
