"""``/v1/uploads``: send a photo or video (``POST``, multipart, field ``file``), read its state and
progress (``GET /v1/uploads/{id}``) or follow it as server-sent events (``GET …/events``).

The body streams from the socket through the form parser into the domain's spool file
(:mod:`darkroom.web.multipart`, :mod:`darkroom.web.body_stream`): never whole in memory, and the kind's
size limit stops the reading, so a file one byte over is refused (413) without being stored. The
kind is judged by content; anything else is 415 naming the person's file name. Only the owner
reads an upload (anyone else: 404); rendition URLs in it are signed (they are not public until a
post shows them). docs/social.md, "Upload and media routes".
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Annotated, Any

import anyio
import anyio.to_thread
import orjson
from fastapi import APIRouter, Depends, Header, Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse

from darkroom._proto.darkroom.social.v1.social_pb2 import Upload
from darkroom.api.errors import ServiceUnavailable
from darkroom.api.etags import ETag
from darkroom.api.fieldmask import Mask
from darkroom.api.problems import problem_for
from darkroom.social.errors import InvalidInput, NotFound, TooLarge
from darkroom.social.upload_resource import upload_dict
from darkroom.social.uploads import UploadState, UploadView, get_upload, receive_upload
from darkroom.social.viewer import Viewer, require_write
from darkroom.storage.db import read_only
from darkroom.web.auth import CSRF_FIELD, CurrentViewer, current_viewer, streams_its_form, verify_csrf
from darkroom.web.body_stream import BlockingBody
from darkroom.web.caching import CONDITIONAL_RESPONSES, PRIVATE_REVALIDATE, json_response, not_modified
from darkroom.web.deps import Deps, WebDeps, WorkStarts, upload_threads
from darkroom.web.fields import read_mask
from darkroom.web.multipart import StreamedForm
from darkroom.web.openapi import message_ref, problem, resource
from darkroom.web.problems import HTTP_STATUSES
from darkroom.web.responses import problem_response

__all__ = ["EVENT_STREAM", "FORM_OVERHEAD_BYTES", "TERMINAL", "router", "starts_of"]

router = APIRouter(prefix="/v1/uploads", tags=["uploads"])
_log = logging.getLogger(__name__)

EVENT_STREAM = "text/event-stream"
TERMINAL = (UploadState.READY, UploadState.FAILED)
# what a form adds around the file (boundaries, part headers, a csrf_token field) at most
FORM_OVERHEAD_BYTES = 64 << 10
# an answer refused before its body was read closes the connection: the rest is not read either
_CLOSE = {"Connection": "close"}

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "a photo or a video"},
                        CSRF_FIELD: {"type": "string", "description": "with a session cookie and no X-CSRF-Token"},
                    },
                }
            }
        },
    }
}


# one event of the stream (Open API before 3.2: ``schema`` of an event stream describes each event)
_UPLOAD_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"const": "upload"},
        "id": {"type": "string"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": message_ref(Upload.DESCRIPTOR),
        },
    },
}


def starts_of(deps: WebDeps) -> WorkStarts:
    """A fresh per-request starter, or 503 when this server takes no uploads."""
    if deps.starts is None:
        raise ServiceUnavailable("this server takes no uploads: it has no media processing configured")
    return deps.starts()


def _read(deps: WebDeps, viewer: Viewer | None, upload_id: str) -> UploadView:
    with read_only(deps.engine).begin() as conn:  # SQLite: no write lock for a read (nor a poll)
        return get_upload(conn, viewer, upload_id)


def _refused(request: Request, exc: InvalidInput) -> Response:
    """The problem for ``exc`` with ``Connection: close``: the body was not read to its end."""
    return problem_response(problem_for(exc, HTTP_STATUSES, instance=request.url.path), _CLOSE)


@router.post(
    "",
    status_code=202,
    responses={
        202: resource(Upload.DESCRIPTOR, "Accepted: the upload, processing (`Location` names it)"),
        413: problem("the file is over its kind's size limit"),
        415: problem("not a photo or a video, by content (naming the file)"),
    },
    openapi_extra=_UPLOAD_BODY,
)
@streams_its_form
async def create_upload(request: Request, deps: Deps) -> Response:
    """Send a photo or a video as the form field ``file``; it is judged by its content (never its
    name) and processed in the background: poll ``GET /v1/uploads/{id}`` or its ``/events``."""
    who = require_write(current_viewer(request))
    starts = starts_of(deps)
    limits, spool_dir = deps.upload_limits, deps.spool_dir
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.largest + FORM_OVERHEAD_BYTES:
        over = TooLarge(
            f"the body is {declared} bytes, over the largest upload ({limits.largest} bytes)",
            max_bytes=limits.largest,
            field="file",
        )
        return _refused(request, over)

    def take() -> UploadView:
        form = StreamedForm(BlockingBody(request.stream()), request.headers.get("content-type", ""))
        part = form.open_file()
        verify_csrf(request, part.fields.get(CSRF_FIELD))
        with deps.engine.begin() as conn:
            row = receive_upload(
                conn, deps.blobs, who, form.reader(),
                filename=part.filename, limits=limits, spool_dir=spool_dir, start=starts,
            )  # fmt: skip
            view = get_upload(conn, who, row.id)
        starts.flush()
        form.finish()
        return view

    try:
        view = await anyio.to_thread.run_sync(take, limiter=upload_threads(request))
    except InvalidInput as exc:
        return _refused(request, exc)
    except ClientDisconnect:
        return Response(status_code=400)  # nobody is listening; nothing was stored
    body = upload_dict(view, deps.media_urls)
    return json_response(body, status=202, headers={"Location": f"/v1/uploads/{view.upload.id}"})


@router.get("/{upload_id}", responses={200: resource(Upload.DESCRIPTOR), **CONDITIONAL_RESPONSES})
def read_upload(
    request: Request,
    upload_id: str,
    viewer: CurrentViewer,
    deps: Deps,
    mask: Annotated[Mask, Depends(read_mask(Upload.DESCRIPTOR))],
) -> Response:
    """The upload's state, sizes and progress (0-1), and its media once known: its owner only."""
    body = upload_dict(_read(deps, viewer, upload_id), deps.media_urls, mask)
    # the bytes are the version: state, progress and the signed URLs' window all change them
    tag = ETag.for_content(orjson.dumps(body))
    return not_modified(request, tag, cache=PRIVATE_REVALIDATE) or json_response(
        body, etag=tag, cache=PRIVATE_REVALIDATE
    )


def _event_id(view: UploadView) -> str:
    """What an event stands for: a new id when the state, the bytes, the progress or the step change."""
    row = view.upload
    progress = round(view.progress, 3)
    return ETag.for_version(row.id, row.state, row.received_bytes, progress, view.step, row.updated_at).opaque


def _event(view: UploadView, deps: WebDeps) -> bytes:
    data = orjson.dumps(upload_dict(view, deps.media_urls))
    return b"id: " + _event_id(view).encode() + b"\nevent: upload\ndata: " + data + b"\n\n"


@router.get(
    "/{upload_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "server-sent events: `upload` (the Upload as JSON) at each change, until ready or failed",
            "content": {EVENT_STREAM: {"schema": _UPLOAD_EVENT}},
        },
        204: {"description": "the stream already ended with this state (Last-Event-ID): do not reconnect"},
    },
)
async def upload_events(
    request: Request,
    upload_id: str,
    viewer: CurrentViewer,
    deps: Deps,
    last_event_id: Annotated[str | None, Header(description="the last event seen, when reconnecting")] = None,
) -> Response:
    """The upload as server-sent events: one ``upload`` event at once and at every change of state
    or progress, ending after ``ready`` or ``failed``. An EventSource reconnecting with the last
    event's id of an ended stream gets 204, which tells it to stop."""
    first = await anyio.to_thread.run_sync(_read, deps, viewer, upload_id)
    if first.upload.state in TERMINAL and last_event_id == _event_id(first):
        return Response(status_code=204)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}  # nginx: pass events on at once
    return StreamingResponse(
        _progress(request, deps, viewer, first, last_event_id), media_type=EVENT_STREAM, headers=headers
    )


class _End(StrEnum):
    """Why a progress stream ended (logged at DEBUG)."""

    SETTLED = "settled"
    TIME = "time"
    GONE = "the upload is gone"
    LEFT = "the client left"


async def _progress(
    request: Request, deps: WebDeps, viewer: Viewer | None, view: UploadView, sent: str | None
) -> AsyncIterator[bytes]:
    config = deps.progress
    started = last_write = time.monotonic()
    end = _End.LEFT  # unless it ends on its own: a disconnect cancels this generator mid-await
    try:
        yield b"retry: 2000\n\n"
        while True:
            if _event_id(view) != sent:
                sent = _event_id(view)
                yield _event(view, deps)
                last_write = time.monotonic()
            if view.upload.state in TERMINAL:
                end = _End.SETTLED
                return
            now = time.monotonic()
            if now - started >= config.max_s:
                end = _End.TIME
                return  # the EventSource reconnects with Last-Event-ID and carries on
            if now - last_write >= config.heartbeat_s:
                yield b": still processing\n\n"  # a comment: keeps proxies open, fails on a gone client
                last_write = now
            await anyio.sleep(config.poll_s)
            if await request.is_disconnected():
                return
            try:
                view = await anyio.to_thread.run_sync(_read, deps, viewer, view.upload.id)
            except NotFound:
                end = _End.GONE  # terminated by its owner meanwhile
                return
    finally:
        _log.debug("progress of upload %s: stream ended (%s)", view.upload.id, end)
