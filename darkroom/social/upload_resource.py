"""An upload as the API shows it: the ``Upload`` message of ``social.proto`` (one definition for HTTP,
as its proto3 JSON, and gRPC), built from :class:`~darkroom.social.uploads.UploadView`.

Only the owner ever reads an upload, and its renditions are not public until a post shows them, so
every rendition URL comes from ``urls`` with ``private=True`` (the HTTP layer signs them). The
``media`` is :func:`darkroom.social.media.from_upload`'s, as a post's.
"""

from __future__ import annotations

from darkroom._proto.darkroom.social.v1 import social_pb2 as pb
from darkroom.api import protojson
from darkroom.api.fieldmask import Mask
from darkroom.api.timestamps import timestamp_from_s
from darkroom.social import media
from darkroom.social.media import MediaUrls
from darkroom.social.uploads import UploadState, UploadView

__all__ = ["upload_dict", "upload_message"]

# an upload's state -> its Media's (``receiving`` has no Media yet; gone uploads are never shown)
_MEDIA_STATES = {UploadState.PROCESSING: "processing", UploadState.READY: "ready", UploadState.FAILED: "failed"}


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
        step=view.step,
        error=row.error or "",
        created_at=timestamp_from_s(row.created_at, "created_at"),
    )
    media_state = _MEDIA_STATES.get(row.state)
    if media_state is not None and row.kind is not None:
        message.media.CopyFrom(media.from_upload(row.id, str(row.kind), media_state, row.info))
        media.sign([message.media], urls, private=True)
    return message


def upload_dict(view: UploadView, urls: MediaUrls, mask: Mask | None = None) -> dict[str, object]:
    """:func:`upload_message` as its proto3 JSON object (field names as in the proto, defaults
    printed), only the ``mask``-ed fields."""
    return protojson.to_dict(upload_message(view, urls), mask)
