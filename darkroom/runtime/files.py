"""Local files in, local files out: moving blob references to and from a task's scratch space.

Arguments may hold ``{"$blob": key}`` references anywhere in their JSON; before the call each is
downloaded into the scratch directory and replaced by its local path. After the call every
:class:`~pathlib.Path` in the result is uploaded under a content-addressed key and replaced by a
reference, so running a function twice on the same inputs yields the same keys.

A returned *directory* travels as a **tree**: every file under it is stored content-addressed and a
manifest (``{"files": [{"path", "key", "bytes"}]}``, canonical JSON, itself content-addressed) is
referenced as ``{"$tree": key}``. A tree argument arrives as a local directory with the same
relative paths. Folders of any size (an HLS package of thousands of segments) thus travel file by
file, and an unchanged file is never uploaded twice.

An argument annotated ``Annotated[T, BY_REFERENCE]`` is handed over as it is, references included,
with nothing downloaded: for a step that reads only the numbers beside the media, or passes the
media on (a reference it returns stays the same reference).
"""

from __future__ import annotations

import functools
import hashlib
import json
import typing
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from darkroom.runtime.blob_cache import BlobCache
from darkroom.runtime.errors import PermanentError
from darkroom.storage.blobs.base import BlobStore, content_key, validate_key
from darkroom.storage.errors import InvalidBlobKey

__all__ = [
    "BLOB",
    "BY_REFERENCE",
    "TREE",
    "TreeEntry",
    "blob_ref",
    "by_reference",
    "fetch_arguments",
    "fetch_inputs",
    "get_tree",
    "is_blob_ref",
    "is_tree_ref",
    "put_tree",
    "read_tree",
    "store_outputs",
    "tree_digest",
    "tree_key",
    "tree_ref",
]

BLOB = "$blob"
TREE = "$tree"
_TREE_SUFFIX = ".tree.json"
# Transfers of a tree's files overlap: on S3 each is a round trip; locally the pool costs nothing.
_TRANSFER_THREADS = 8


class _ByReference:
    def __repr__(self) -> str:
        return "BY_REFERENCE"


BY_REFERENCE = _ByReference()  # Annotated[T, BY_REFERENCE]: the argument's blobs are not downloaded


@functools.cache
def by_reference(fn: Callable[..., object]) -> frozenset[str]:
    """The arguments of ``fn`` annotated with :data:`BY_REFERENCE`."""
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except (NameError, TypeError, ValueError):  # unresolvable forward references, builtins
        return frozenset()
    return frozenset(
        name for name, hint in hints.items()
        if typing.get_origin(hint) is typing.Annotated and any(m is BY_REFERENCE for m in hint.__metadata__)
    )  # fmt: skip


@dataclass(frozen=True)
class TreeEntry:
    """One file of a tree: its ``/``-separated path inside the folder and its blob."""

    path: str
    key: str
    bytes: int


def blob_ref(key: str) -> dict[str, str]:
    return {BLOB: key}


def tree_ref(key: str) -> dict[str, str]:
    return {TREE: key}


def _is_ref(value: object, tag: str) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(tag), str)


def is_blob_ref(value: object) -> bool:
    return _is_ref(value, BLOB)


def is_tree_ref(value: object) -> bool:
    return _is_ref(value, TREE)


def _files(root: Path) -> Iterator[Path]:
    # Dot-files are scratch droppings (partial writes, editor files), never outputs.
    for path in sorted(root.rglob("*")):
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts):
            yield path


def tree_key(digest: str) -> str:
    """The key of the tree manifest whose SHA-256 is ``digest`` (:class:`InvalidBlobKey` unless it
    is 64 lowercase hex digits)."""
    return content_key(digest, suffix=_TREE_SUFFIX)


def tree_digest(key: str) -> str:
    """The SHA-256 a tree manifest's key names (the inverse of :func:`tree_key`), so a URL can name
    a tree by 64 characters; :class:`InvalidBlobKey` for a key that is not a manifest's."""
    digest = key.rpartition("/")[2].removesuffix(_TREE_SUFFIX)
    try:
        if tree_key(digest) == key:
            return digest
    except InvalidBlobKey:
        pass
    raise InvalidBlobKey(f"{key[:200]!r} is not the key of a tree manifest")


def put_tree(blobs: BlobStore, root: Path) -> str:
    """Store every file under ``root`` and its manifest; the manifest's key (same folder, same key)."""

    def put(path: Path) -> TreeEntry:
        info = blobs.put_content(path, suffix="".join(path.suffixes[-1:]))
        return TreeEntry(path.relative_to(root).as_posix(), info.key, info.size_bytes)

    with ThreadPoolExecutor(_TRANSFER_THREADS) as pool:
        entries = list(pool.map(put, _files(root)))
    manifest = json.dumps({"files": [e.__dict__ for e in entries]}, sort_keys=True, separators=(",", ":")).encode()
    key = tree_key(hashlib.sha256(manifest).hexdigest())
    if not blobs.exists(key):
        blobs.put_bytes(key, manifest, content_type="application/json")
    return key


def read_tree(blobs: BlobStore, key: str) -> list[TreeEntry]:
    """The files of the tree whose manifest is at ``key``; a path that could escape the folder is
    refused with :class:`~darkroom.storage.errors.InvalidBlobKey` naming it."""
    try:
        files = json.loads(blobs.get_bytes(key))["files"]
        entries = [TreeEntry(str(f["path"]), str(f["key"]), int(f["bytes"])) for f in files]
    except (ValueError, KeyError, TypeError) as exc:
        raise PermanentError(f"tree manifest {key!r} is malformed: {exc}") from exc
    for entry in entries:
        validate_key(entry.path)  # no absolute paths, no '..', no dot-names
    return entries


def get_tree(blobs: BlobStore, key: str, dest: Path, cache: BlobCache | None = None) -> Path:
    """Download the tree at ``key`` into the directory ``dest`` (created) and return ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    entries = read_tree(blobs, key)
    get = blobs.get_file if cache is None else functools.partial(cache.get_file, blobs)
    with ThreadPoolExecutor(_TRANSFER_THREADS) as pool:
        list(pool.map(lambda e: get(e.key, dest / e.path), entries))
    return dest


def fetch_inputs(value: Any, blobs: BlobStore, inbox_dir: Path, cache: BlobCache | None = None) -> Any:
    """``value`` with every blob reference replaced by a downloaded local path (a tree: a folder);
    with a ``cache``, blobs this host already holds are linked from it instead of downloaded."""
    if is_blob_ref(value):
        key = value[BLOB]
        return blobs.get_file(key, inbox_dir / key) if cache is None else cache.get_file(blobs, key, inbox_dir / key)
    if is_tree_ref(value):
        key = value[TREE]
        return get_tree(blobs, key, inbox_dir / key.removesuffix(_TREE_SUFFIX), cache)
    if isinstance(value, dict):
        return {k: fetch_inputs(v, blobs, inbox_dir, cache) for k, v in value.items()}
    if isinstance(value, list):
        return [fetch_inputs(v, blobs, inbox_dir, cache) for v in value]
    return value


def fetch_arguments(
    fn: Callable[..., object],
    args: Mapping[str, Any],
    blobs: BlobStore,
    inbox_dir: Path,
    cache: BlobCache | None = None,
) -> dict[str, Any]:
    """``args`` for a call of ``fn``: :func:`fetch_inputs` of each, except those it takes
    :data:`BY_REFERENCE`, which stay as they are."""
    kept = by_reference(fn)
    return {k: v if k in kept else fetch_inputs(v, blobs, inbox_dir, cache) for k, v in args.items()}


def store_outputs(value: Any, blobs: BlobStore, scratch: Path) -> Any:
    """``value`` with every local path uploaded and replaced by a blob (or, for a folder, tree) reference."""
    if isinstance(value, Path):
        path = value if value.is_absolute() else scratch / value
        if path.is_dir():
            return tree_ref(put_tree(blobs, path))
        if not path.is_file():
            raise PermanentError(f"the function returned {value}, which is not a file or a folder")
        return blob_ref(blobs.put_content(path, suffix="".join(path.suffixes[-1:])).key)
    if isinstance(value, dict):
        return {str(k): store_outputs(v, blobs, scratch) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [store_outputs(v, blobs, scratch) for v in value]
    return value
