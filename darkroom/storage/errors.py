"""Errors of the storage layer (blobs and the metadata database)."""

from __future__ import annotations

from darkroom.errors import DarkroomError

__all__ = ["BlobNotFound", "DatabaseError", "InvalidBlobKey", "InvalidByteRange", "InvalidStorageUrl", "StorageError"]


class StorageError(DarkroomError):
    """Base of the storage errors."""


class InvalidBlobKey(StorageError, ValueError):
    """A blob key that is empty, absolute, has ``..`` or other forbidden parts (names the key)."""


class InvalidByteRange(StorageError, ValueError):
    """A ranged read with a negative start or length (names both)."""


class BlobNotFound(StorageError, LookupError):
    """No blob under that key."""


class InvalidStorageUrl(StorageError, ValueError):
    """A blobs or database URL that cannot be used (names the URL, without secrets)."""


class DatabaseError(StorageError):
    """The metadata database refused or failed an operation."""
