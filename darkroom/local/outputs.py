"""Fetching a run's outputs from the blob store into the output folder of ``darkroom process``.

Folders (the package, the storyboard) come back as trees (``{"$tree": key}``) and are rebuilt
under the output folder; no name may leave it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from darkroom.local.errors import UnsafeOutputPath
from darkroom.runtime.files import get_tree, is_blob_ref, is_tree_ref
from darkroom.storage.blobs.base import BlobStore

__all__ = ["fetch_folder", "report_images", "safe_path", "write_photo", "write_video"]


def safe_path(root: Path, relative: str) -> Path:
    """``root / relative``, refusing names that would leave ``root`` (:class:`UnsafeOutputPath`)."""
    parts = PurePosixPath(relative).parts
    if not parts or PurePosixPath(relative).is_absolute() or any(p in ("..", "") for p in parts):
        raise UnsafeOutputPath(f"output file name {relative!r} would leave {root}")
    return root.joinpath(*parts)


def fetch_folder(blobs: BlobStore, value: Any, dest: Path) -> Path | None:
    """Rebuild a folder output (``{"$tree": key}``) in ``dest``; None when ``value`` is not one.
    A name that would leave ``dest`` is refused (:class:`~darkroom.storage.errors.InvalidBlobKey`)."""
    return get_tree(blobs, value["$tree"], dest) if is_tree_ref(value) else None


def _rel(out: Path, path: Path | None) -> str | None:
    return None if path is None else path.relative_to(out).as_posix()


def _first(root: Path, pattern: str) -> Path | None:
    found = sorted(root.rglob(pattern)) if root.is_dir() else []
    return found[0] if found else None


def write_video(blobs: BlobStore, out: Path, outputs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The package, poster, storyboard, complexity analysis and per-frame quality files of a video
    run into ``out``: (files written, relative names; per-frame scores by rendition)."""
    files: dict[str, Any] = {}
    frames: dict[str, Any] = {}
    package = fetch_folder(blobs, outputs.get("package"), out / "package")
    if package is not None:
        files["package"] = "package/"
        files["master"] = _rel(out, _first(package, "master.m3u8"))
        files["mpd"] = _rel(out, _first(package, "*.mpd"))
    poster = outputs.get("poster") or {}
    if is_blob_ref(poster.get("file")):
        files["poster"] = _rel(out, blobs.get_file(poster["file"]["$blob"], out / "poster.jpg"))
    board = outputs.get("storyboard") or {}
    if board.get("files") is not None and fetch_folder(blobs, board["files"], out / "storyboard") is not None:
        files["storyboard"] = "storyboard/"
        files["storyboard_vtt"] = _rel(out, _first(out / "storyboard", "*.vtt"))
        files["storyboard_sheets"] = [_rel(out, p) for p in sorted((out / "storyboard").rglob("*.jpg"))]
    if is_blob_ref(outputs.get("complexity")):
        files["complexity"] = _rel(out, blobs.get_file(outputs["complexity"]["$blob"], out / "complexity.json"))
    quality: dict[str, str] = {}
    for q in outputs.get("quality") or []:
        ref = q.get("frames")
        if is_blob_ref(ref):
            path = blobs.get_file(ref["$blob"], safe_path(out / "quality", f"{q['name']}.json"))
            quality[str(q["name"])] = str(_rel(out, path))
            frames[str(q["name"])] = json.loads(path.read_text())
    if quality:
        files["quality"] = quality
    return files, frames


def write_photo(blobs: BlobStore, out: Path, outputs: Mapping[str, Any]) -> dict[str, Any]:
    """The renditions of a photo run into ``out/renditions``: the files written (relative names)."""
    written: dict[str, str] = {}
    for r in outputs.get("renditions") or []:
        ref = r.get("file")
        if is_blob_ref(ref):
            # the name the function wrote (its extension decided once, in darkroom.media.image)
            name = r.get("file_name") or f"{r['name']}{PurePosixPath(ref['$blob']).suffix}"
            path = blobs.get_file(ref["$blob"], safe_path(out / "renditions", str(name)))
            written[str(name)] = str(_rel(out, path))
    return {"renditions": written} if written else {}


def report_images(out: Path, kind: str, files: Mapping[str, Any]) -> dict[str, tuple[str, bytes]]:
    """The small images the HTML report embeds: the poster, or the photo's JPEG thumbnail."""
    images: dict[str, tuple[str, bytes]] = {}
    if kind == "video" and files.get("poster"):
        images["poster"] = ("image/jpeg", (out / files["poster"]).read_bytes())
    if kind == "photo":
        thumbs = [p for n, p in (files.get("renditions") or {}).items() if n.startswith("thumb") and n.endswith(".jpg")]
        if thumbs:
            images["thumbnail"] = ("image/jpeg", (out / thumbs[0]).read_bytes())
    return images
