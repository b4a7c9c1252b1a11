"""The resources a worker puts on every task's context, built from :class:`Settings`.

The settings cross to child processes as they are; the blob store is built from them in each
process that uses it (an S3 store holds a client that does not cross processes).
"""

from __future__ import annotations

from darkroom.config import Settings
from darkroom.runtime.resources import BLOBS, SETTINGS, Resources
from darkroom.storage.blobs.base import BlobStore

__all__ = ["task_resources"]


def _blobs(resources: Resources) -> BlobStore:
    from darkroom.storage.blobs import blobs_from_settings  # S3's client library only when used

    return blobs_from_settings(resources[SETTINGS])


def task_resources(settings: Settings, blobs: BlobStore | None = None) -> Resources:
    """Settings and the blob store (``blobs`` in this process when given: the worker's own)."""
    resources = Resources().give(SETTINGS, settings).build_with(BLOBS, _blobs)
    return resources.use(BLOBS, blobs) if blobs is not None else resources
