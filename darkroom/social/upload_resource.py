"""An upload as the API shows it: the ``Upload`` message of ``social.proto`` (one definition for HTTP,
as its proto3 JSON, and gRPC), built from :class:`~darkroom.social.uploads.UploadView`.

Only the owner ever reads an upload, and its renditions are not public until a post shows them, so
every rendition URL comes from ``urls`` with ``private=True`` (the HTTP layer signs them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

from google.protobuf import json_format

from darkroom._proto.darkroom.social.v1 import social_pb2 as pb
from darkroom.api.fieldmask import Mask
from darkroom.api.timestamps import timestamp_from_s
from darkroom.social.uploads import UploadState, UploadView

__all__ = ["MediaUrls", "media_message", "upload_dict", "upload_message"]


class MediaUrls(Protocol):
    """Where a rendition is fetched from; ``private`` media needs a signed, expiring URL."""

    def url(self, key: str, *, private: bool) -> str: ...


# an upload's state -> its Media's (``receiving`` has no Media yet; gone uploads are never shown)
_MEDIA_STATES = {UploadState.PROCESSING: "processing", UploadState.READY: "ready", UploadState.FAILED: "failed"}


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) and math.isfinite(value) else 0


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else 0.0


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def media_message(
    upload_id: str, kind: str, state: str, info: Mapping[str, Any], urls: MediaUrls, *, private: bool
) -> pb.Media:
    """A ``Media`` from an upload's ``info`` (docs/social.md: its renditions, sizes, duration); a
    missing or odd value reads as the default. Rendition URLs from ``urls``."""
    media = pb.Media(
        id=upload_id,
        kind=kind,
        state=state,
        width=_int(info.get("width")),
        height=_int(info.get("height")),
        duration_s=_float(info.get("duration_s")),
    )
    renditions = info.get("renditions")
    for r in renditions if isinstance(renditions, list) else []:
        if not isinstance(r, Mapping) or not _str(r.get("key")):
            continue
        media.renditions.add(
            url=urls.url(r["key"], private=private),
            content_type=_str(r.get("content_type")),
            width=_int(r.get("width")),
            height=_int(r.get("height")),
            role=_str(r.get("role")),
        )
    return media


def upload_message(view: UploadView, urls: MediaUrls) -> pb.Upload:
    """The ``Upload`` its owner reads: state, sizes, progress, the error of a failed one, and its
    ``media`` once the content is known (signed rendition URLs once ready)."""
    row = view.upload
    message = pb.Upload(
        id=row.id,
        state=str(row.state),
        kind=str(row.kind) if row.kind is not None else "",
        filename=row.filename,
        length_bytes=row.length_bytes or 0,
        received_bytes=row.received_bytes,
        progress=view.progress,
        error=row.error or "",
        created_at=timestamp_from_s(row.created_at, "created_at"),
    )
    media_state = _MEDIA_STATES.get(row.state)
    if media_state is not None and row.kind is not None:
        message.media.CopyFrom(media_message(row.id, str(row.kind), media_state, row.info, urls, private=True))
    return message


def upload_dict(view: UploadView, urls: MediaUrls, mask: Mask | None = None) -> dict[str, Any]:
    """:func:`upload_message` as its proto3 JSON object (field names as in the proto; every field
    without presence printed, defaults included), only the ``mask``-ed fields."""
    printed = json_format.MessageToDict(
        upload_message(view, urls), preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    if mask is None or mask.selects_all:
        return printed
    tree: dict[str, Any] = {}
    for path in mask.paths:  # canonical: no path lies under another
        node = tree
        for name in path[:-1]:
            node = node.setdefault(name, {})
        node[path[-1]] = None
    return _pruned(printed, tree)


def _pruned(value: dict[str, Any], tree: dict[str, Any]) -> dict[str, Any]:
    """``value`` with only the names in ``tree`` (None: all below; a repeated field ends its path)."""
    out: dict[str, Any] = {}
    for name, below in tree.items():
        if name not in value:
            continue  # an unset message field
        item = value[name]
        out[name] = item if below is None else _pruned(item, below)
    return out
