"""Local files in, local files out: moving blob references to and from a task's scratch space.

Arguments may hold ``{"$blob": key}`` references anywhere in their JSON; before the call each is
downloaded into the scratch directory and replaced by its local path. After the call every
:class:`~pathlib.Path` in the result is uploaded under a content-addressed key and replaced by a
reference, so running a function twice on the same inputs yields the same keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from darkroom.runtime.errors import PermanentError

__all__ = ["BLOB", "blob_ref", "fetch_inputs", "is_blob_ref", "store_outputs"]

BLOB = "$blob"


def blob_ref(key: str) -> dict[str, str]:
    return {BLOB: key}


def is_blob_ref(value: object) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(BLOB), str)


def fetch_inputs(value: Any, blobs: Any, inbox_dir: Path) -> Any:
    """``value`` with every blob reference replaced by a downloaded local path."""
    if is_blob_ref(value):
        key = value[BLOB]
        return blobs.get_file(key, inbox_dir / key)
    if isinstance(value, dict):
        return {k: fetch_inputs(v, blobs, inbox_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [fetch_inputs(v, blobs, inbox_dir) for v in value]
    return value


def store_outputs(value: Any, blobs: Any, scratch: Path) -> Any:
    """``value`` with every local path uploaded and replaced by a blob reference."""
    if isinstance(value, Path):
        path = value if value.is_absolute() else scratch / value
        if not path.is_file():
            raise PermanentError(f"the function returned {value}, which is not a file")
        return blob_ref(blobs.put_content(path, suffix="".join(path.suffixes[-1:])).key)
    if isinstance(value, dict):
        return {str(k): store_outputs(v, blobs, scratch) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [store_outputs(v, blobs, scratch) for v in value]
    return value
