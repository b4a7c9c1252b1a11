"""What a function uses besides its arguments (the blob store, the settings, a service's store),
put on every :class:`~darkroom.runtime.context.TaskContext` by the worker.

A :class:`ResourceKey` names one resource and its type; a service declares its own keys (with how
to build the resource from others), so the runtime knows none of them. The platform gives the
worker one :class:`Resources`; a function reads ``ctx.resources[KEY]`` and never the environment.

Child processes (a process-pool child, an ``isolation="process"`` call) get the resources by
pickle: *given* values cross as they are (settings: small, picklable), *built* ones do not (a
blob store may hold a client with sockets); a child builds its own on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from darkroom.runtime.errors import MissingResource

if TYPE_CHECKING:
    from darkroom.config import Settings
    from darkroom.storage.blobs.base import BlobStore

__all__ = ["BLOBS", "SETTINGS", "Builder", "ResourceKey", "Resources"]

T = TypeVar("T")

Builder = Callable[["Resources"], T]
"""How a process makes a resource from the others; a module-level function (it crosses to child
processes by reference)."""


@dataclass(frozen=True)
class ResourceKey(Generic[T]):
    """The name of a resource of type ``T`` and, optionally, how it is built (keys compare by name)."""

    name: str
    build: Builder[T] | None = field(default=None, compare=False, repr=False)


SETTINGS: ResourceKey[Settings] = ResourceKey("settings")
BLOBS: ResourceKey[BlobStore] = ResourceKey("blobs")  # the platform says how a child builds it


class Resources:
    """A typed mapping of resources: given values, builders, and what this process built.

    ``resources[key]`` answers the given value, else the one built in this process, else builds it
    (the builder set here, else the key's own) once, whichever thread asks first.
    """

    def __init__(self) -> None:
        self._given: dict[str, object] = {}
        self._builders: dict[str, Builder[Any]] = {}
        self._built: dict[str, object] = {}
        self._lock = threading.RLock()  # a builder reads other resources: re-entrant

    def give(self, key: ResourceKey[T], value: T) -> Resources:
        """Use ``value`` for ``key`` here and in child processes (so it must pickle); returns self."""
        self._given[key.name] = value
        return self

    def build_with(self, key: ResourceKey[T], build: Builder[T]) -> Resources:
        """Build ``key`` with ``build`` (instead of the key's own builder); returns self."""
        self._builders[key.name] = build
        return self

    def use(self, key: ResourceKey[T], value: T) -> Resources:
        """Use ``value`` for ``key`` in this process only (one already made, e.g. the worker's own
        blob store); a child process builds its own, so ``key`` must have a builder. Returns self."""
        if self._builder(key) is None:
            raise MissingResource(f"resource {key.name!r} has no builder: a child process could not make its own")
        with self._lock:
            self._built[key.name] = value
        return self

    def __getitem__(self, key: ResourceKey[T]) -> T:
        if key.name in self._given:
            return self._given[key.name]  # type: ignore[return-value]
        with self._lock:
            if key.name not in self._built:
                build = self._builder(key)
                if build is None:
                    raise MissingResource(f"no resource {key.name!r}: the worker was not given one")
                self._built[key.name] = build(self)
            return self._built[key.name]  # type: ignore[return-value]

    def __contains__(self, key: ResourceKey[T]) -> bool:
        return key.name in self._given or key.name in self._built or self._builder(key) is not None

    def _builder(self, key: ResourceKey[T]) -> Builder[T] | None:
        return self._builders.get(key.name, key.build)

    def __getstate__(self) -> dict[str, object]:
        # what a child process gets: given values and builders; it builds the rest itself
        return {"given": self._given, "builders": self._builders}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._given = state["given"]
        self._builders = state["builders"]
        self._built = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"Resources(given={sorted(self._given)}, built={sorted(self._built)})"
