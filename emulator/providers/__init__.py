"""One module (or package) per provider, wire format only.

REGISTRY maps a provider's name to its class; it is discovered from the modules of this
package, so adding a provider is adding its module (plus schemas/<name>/ and tests).
"""
from __future__ import annotations

import importlib
import pkgutil

from .base import Provider


def _discover() -> dict[str, type[Provider]]:
    found: dict[str, type[Provider]] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Provider) and value is not Provider and getattr(value, "name", None):
                found[value.name] = value
    return dict(sorted(found.items()))


REGISTRY = _discover()
