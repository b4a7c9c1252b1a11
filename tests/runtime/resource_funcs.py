"""Functions that use a store from their context's resources, in each place a function can run
(module level, so child processes can import them)."""

from __future__ import annotations

import os
from typing import Any

from darkroom.runtime.context import TaskContext
from darkroom.runtime.functions import Registry
from darkroom.runtime.resources import BLOBS, ResourceKey, Resources
from darkroom.storage.blobs.base import BlobStore

QUEUE = "rt-resources"
registry = Registry()


class Notes:
    """A service's store of its own: one blob per note, on the worker's blob store."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    def write(self, name: str, text: str) -> str:
        return self.blobs.put_bytes(f"notes/{name}", text.encode()).key


def _notes(resources: Resources) -> Notes:
    return Notes(resources[BLOBS])


NOTES: ResourceKey[Notes] = ResourceKey("test.notes", _notes)


def _note(ctx: TaskContext, name: str) -> dict[str, Any]:
    return {"key": ctx.resources[NOTES].write(name, str(os.getpid())), "pid": os.getpid()}


@registry.function(queue=QUEUE)
def note_in_thread(ctx: TaskContext, name: str) -> dict[str, Any]:
    return _note(ctx, name)


@registry.function(queue=QUEUE, executor="process")
def note_in_pool(ctx: TaskContext, name: str) -> dict[str, Any]:
    return _note(ctx, name)


@registry.function(queue=QUEUE, isolation="process")
def note_isolated(ctx: TaskContext, name: str) -> dict[str, Any]:
    return _note(ctx, name)
