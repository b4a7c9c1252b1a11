"""An upload's renditions, read from what its workflow returned, in the shape ``uploads.info`` keeps
(the API's ``Media`` messages are built from it)::

    {"width": int, "height": int, "duration_s": float (videos), "blurhash": str (photos),
     "renditions": [{"key": blob key, "content_type": str, "width": int, "height": int,
                     "role": "image" | "thumbnail" | "poster" | "hls" | "dash" | "storyboard",
                     "tree": manifest key, "path": str (hls, dash, storyboard)}]}

Photos (``photo.renditions``): every size and format is an ``image``, the square crops
(``thumb150``) a ``thumbnail``; the size is the upright source's. Videos (the streaming profile):
the ``poster`` frame, the HLS master playlist and the DASH manifest (sized as the largest rung),
and the ``storyboard`` WebVTT track (sized as one tile). A playlist names its variants and segments,
and the storyboard its sprite sheets, by paths relative to itself, so these carry the folder they
sit in as a tree (``darkroom.runtime.files.read_tree``) and their ``path`` inside it: the media
route serves the tree's files under one URL prefix (``social.media.package_ref``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from darkroom.media.package import MASTER_PATH, MPD_PATH
from darkroom.media.storyboard import VTT_NAME
from darkroom.runtime.files import BLOB, TREE

__all__ = ["DASH_TYPE", "HLS_TYPE", "VTT_TYPE", "Role", "photo_info", "video_info"]


class Role(StrEnum):
    IMAGE = "image"
    THUMBNAIL = "thumbnail"
    POSTER = "poster"
    HLS = "hls"
    DASH = "dash"
    STORYBOARD = "storyboard"


_IMAGE_TYPES = {"jpeg": "image/jpeg", "webp": "image/webp", "avif": "image/avif", "png": "image/png"}
HLS_TYPE = "application/vnd.apple.mpegurl"
DASH_TYPE = "application/dash+xml"
VTT_TYPE = "text/vtt"


def _key(ref: object, tag: str = BLOB) -> str | None:
    if isinstance(ref, Mapping) and isinstance(ref.get(tag), str):
        return str(ref[tag])
    return None


def _rendition(key: str, content_type: str, width: Any, height: Any, role: Role) -> dict[str, Any]:
    return {"key": key, "content_type": content_type, "width": int(width or 0), "height": int(height or 0),
            "role": str(role)}  # fmt: skip


def photo_info(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """``uploads.info`` of a photo from the outputs of ``photo.renditions``."""
    source = outputs.get("source") or {}
    renditions: list[dict[str, Any]] = []
    for r in outputs.get("renditions") or []:
        key = _key(r.get("file"))
        if key is None:
            continue
        role = Role.THUMBNAIL if str(r.get("name", "")).startswith("thumb") else Role.IMAGE
        content_type = _IMAGE_TYPES.get(str(r.get("format")), "application/octet-stream")
        renditions.append(_rendition(key, content_type, r.get("width"), r.get("height"), role))
    info: dict[str, Any] = {
        "width": int(source.get("width") or 0),
        "height": int(source.get("height") or 0),
        "renditions": renditions,
    }
    if isinstance(outputs.get("blurhash"), str):
        info["blurhash"] = outputs["blurhash"]
    return info


def video_info(outputs: Mapping[str, Any], facts: Mapping[str, Any]) -> dict[str, Any]:
    """``uploads.info`` of a video from the outputs of ``streaming.video``; ``facts`` is what the
    probe found when it arrived (display size, duration), kept when the outputs lack them."""
    packaged: Sequence[Mapping[str, Any]] = outputs.get("packaged") or []
    top = max(packaged, key=lambda r: int(r.get("width") or 0) * int(r.get("height") or 0), default={})
    renditions: list[dict[str, Any]] = []
    poster = outputs.get("poster") or {}
    if (key := _key(poster.get("file"))) is not None:
        renditions.append(_rendition(key, "image/jpeg", poster.get("width"), poster.get("height"), Role.POSTER))
    tree = _key(outputs.get("package"), TREE)
    manifests = (("master", MASTER_PATH, HLS_TYPE, Role.HLS), ("mpd", MPD_PATH, DASH_TYPE, Role.DASH))
    for name, path, content_type, role in manifests:
        if (key := _key(outputs.get(name))) is not None:
            entry = _rendition(key, content_type, top.get("width"), top.get("height"), role)
            if tree is not None:
                entry.update(tree=tree, path=path)
            renditions.append(entry)
    board = outputs.get("storyboard") or {}
    key, tree = _key(board.get("vtt")), _key(board.get("files"), TREE)
    if key is not None and tree is not None:
        entry = _rendition(key, VTT_TYPE, board.get("tile_width"), board.get("tile_height"), Role.STORYBOARD)
        renditions.append({**entry, "tree": tree, "path": VTT_NAME})
    return {
        "width": int(facts.get("width") or top.get("width") or 0),
        "height": int(facts.get("height") or top.get("height") or 0),
        "duration_s": float(facts.get("duration_s") or 0.0),
        "renditions": renditions,
    }
