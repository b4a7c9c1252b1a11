"""Loading the registry of functions and workflows a worker or engine serves (``module:attr``)."""

from __future__ import annotations

import importlib

from darkroom.runtime.errors import FunctionNotFound
from darkroom.runtime.functions import Registry

__all__ = ["load_app"]


def load_app(spec: str) -> Registry:
    """Import ``package.module:attribute`` (a :class:`Registry`); several specs join with commas.

    A workflow that calls an unregistered function is refused here (:meth:`Registry.check`)."""
    merged = Registry()
    for part in filter(None, (p.strip() for p in spec.split(","))):
        module_name, _, attr = part.partition(":")
        try:
            registry = getattr(importlib.import_module(module_name), attr or "registry")
        except (ImportError, AttributeError) as exc:
            raise FunctionNotFound(f"cannot load the app {part!r}: {exc}") from None
        if not isinstance(registry, Registry):
            raise FunctionNotFound(f"{part!r} is a {type(registry).__name__}, not a darkroom Registry")
        if len(spec.split(",")) == 1:
            registry.check()
            return registry
        merged.update(registry)
    merged.check()
    return merged
