"""Resumable uploads: the tus 1.0 protocol (core, creation, termination, expiration) at ``/v1/uploads/tus``,
so tus-js-client, Uppy and tuspy work unchanged (https://tus.io/protocols/resumable-upload).

==========================================  =====================================================
``OPTIONS /v1/uploads/tus``                 204: ``Tus-Version``, ``Tus-Extension``, ``Tus-Max-Size``
``POST /v1/uploads/tus``                    creation: ``Upload-Length`` (at most ``Tus-Max-Size``:
                                            else 413), ``Upload-Metadata`` (``filename`` or
                                            ``name``, base64) -> 201, ``Location``,
                                            ``Upload-Expires``
``HEAD /v1/uploads/tus/{id}``               ``Upload-Offset``, ``Upload-Length``,
                                            ``Upload-Expires``, ``no-store``
``PATCH /v1/uploads/tus/{id}``              ``Content-Type: application/offset+octet-stream``
                                            (else 415), ``Upload-Offset`` (another than the
                                            upload's: 409) -> 204, the new ``Upload-Offset``,
                                            ``Upload-Expires`` until the upload is complete
``DELETE /v1/uploads/tus/{id}``             termination -> 204; the upload is gone (404)
==========================================  =====================================================

expiration: an upload that got no chunk for ``DARKROOM_RESUMABLE_LIFETIME_S`` (24 h) answers
``HEAD`` and ``PATCH`` with 410 ``upload_expired``, then 404 once the sweep deleted it
(:mod:`darkroom.social.expiry`). ``Upload-Expires`` is an HTTP date; each chunk moves it on.

Every request but ``OPTIONS`` carries ``Tus-Resumable: 1.0.0`` (another version, or none: 412 with
``Tus-Version``), and every answer but ``OPTIONS`` does too, errors included (problem+json).
``X-HTTP-Method-Override`` on a ``POST`` to an upload stands for ``PATCH`` or ``DELETE`` (for
clients behind proxies that drop them). The upload's id is the one ``GET /v1/uploads/{id}`` reads;
the chunk that completes the file starts its processing. Bookkeeping: :mod:`darkroom.social.resumable`.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Header, Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from darkroom.api.problems import problem_for
from darkroom.errors import DarkroomError
from darkroom.social.errors import InvalidInput, PreconditionFailed, UnsupportedMedia
from darkroom.social.expiry import check_unexpired, expires_at
from darkroom.social.resumable import append_chunk, create_resumable, terminate
from darkroom.social.uploads import get_upload
from darkroom.social.viewer import require_write
from darkroom.storage.db import read_only
from darkroom.web.api.uploads import starts_of
from darkroom.web.auth import CurrentViewer, current_viewer
from darkroom.web.body_stream import BlockingBody
from darkroom.web.deps import Deps, WebDeps, upload_threads
from darkroom.web.problems import HTTP_STATUSES
from darkroom.web.responses import problem_response

__all__ = ["CHUNK_CONTENT_TYPE", "TUS_EXTENSIONS", "TUS_VERSION", "parse_metadata", "router"]

router = APIRouter(prefix="/v1/uploads/tus", tags=["uploads"])

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination,expiration"
CHUNK_CONTENT_TYPE = "application/offset+octet-stream"
_RESUMABLE = {"Tus-Resumable": TUS_VERSION}
_MAX_METADATA_CHARS = 4096
_FILENAME_KEYS = ("filename", "name")  # tus-js-client and tuspy send filename, Uppy also name

_TUS_HEADER = Annotated[
    str | None, Header(alias="Tus-Resumable", description="must be 1.0.0", json_schema_extra={"enum": [TUS_VERSION]})
]
# PATCH and DELETE read their headers themselves (the body streams): documented here
_TUS_PARAMETER = {"name": "Tus-Resumable", "in": "header", "required": True, "schema": {"enum": [TUS_VERSION]}}
_CHUNK_REQUEST: dict[str, object] = {
    "parameters": [
        _TUS_PARAMETER,
        {"name": "Upload-Offset", "in": "header", "required": True, "schema": {"type": "integer", "minimum": 0}},
    ],
    "requestBody": {
        "required": True,
        "content": {CHUNK_CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    },
}


def _location(upload_id: str) -> str:
    return f"{router.prefix}/{upload_id}"


def _expires(moment: float | None) -> dict[str, str]:
    """``Upload-Expires`` (an HTTP date) for an upload that expires at ``moment``; none if it never does."""
    return {} if moment is None else {"Upload-Expires": formatdate(moment, usegmt=True)}


def _answer(request: Request, work: Callable[[], Response]) -> Response:
    """``work()`` with ``Tus-Resumable`` on its answer, and a problem+json answer (with it too)
    for the errors it raises."""
    try:
        response = work()
    except DarkroomError as exc:
        problem = problem_for(exc, HTTP_STATUSES, instance=request.url.path)
        extra = {"Tus-Version": TUS_VERSION} if problem.status == 412 else {}
        return problem_response(problem, {**_RESUMABLE, **extra})
    response.headers.update(_RESUMABLE)
    return response


def _check_version(version: str | None) -> None:
    if version != TUS_VERSION:
        raise PreconditionFailed(
            f"Tus-Resumable {version!r} is not supported: this server speaks tus {TUS_VERSION}", field="Tus-Resumable"
        )


def _whole_number(value: str | None, header: str) -> int:
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 19:
        raise InvalidInput(f"{header} {value!r} must be a whole number of bytes", field=header)
    return int(value)


def parse_metadata(header: str | None) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64(value)`` pairs (a key alone: empty value);
    :class:`InvalidInput` naming a malformed pair."""
    if not header:
        return {}
    if len(header) > _MAX_METADATA_CHARS:
        raise InvalidInput(f"Upload-Metadata is over {_MAX_METADATA_CHARS} characters", field="Upload-Metadata")
    out: dict[str, str] = {}
    for pair in header.split(","):
        key, _, encoded = pair.strip().partition(" ")
        if not key or not key.isascii() or not key.isprintable() or " " in encoded.strip():
            raise InvalidInput(
                f"Upload-Metadata pair {pair.strip()[:80]!r} is not 'key base64value'", field="Upload-Metadata"
            )
        try:
            out[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            raise InvalidInput(f"Upload-Metadata value of {key!r} is not base64", field="Upload-Metadata") from None
    return out


def _filename(metadata: dict[str, str]) -> str:
    return next((metadata[k] for k in _FILENAME_KEYS if metadata.get(k)), "")


@router.options("", status_code=204, responses={204: {"description": "what this tus server supports"}})
def discover(deps: Deps) -> Response:
    """tus discovery: the versions, extensions and the largest upload this server takes."""
    return Response(
        status_code=204,
        headers={
            "Tus-Resumable": TUS_VERSION,
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Max-Size": str(deps.upload_limits.largest),
        },
    )


@router.post(
    "",
    status_code=201,
    response_class=Response,
    responses={201: {"description": "created: `Location` names the upload"}},
)
def create(
    request: Request,
    deps: Deps,
    tus_resumable: _TUS_HEADER = None,
    upload_length: Annotated[
        str | None, Header(alias="Upload-Length", description="bytes", json_schema_extra={"pattern": "^[0-9]+$"})
    ] = None,
    upload_metadata: Annotated[str | None, Header(alias="Upload-Metadata")] = None,
) -> Response:
    """tus creation: a new upload of ``Upload-Length`` bytes, its chunks to come by ``PATCH``."""

    def work() -> Response:
        _check_version(tus_resumable)
        if request.headers.get("upload-defer-length") is not None:
            raise InvalidInput("Upload-Defer-Length is not supported: send Upload-Length", field="Upload-Defer-Length")
        length = _whole_number(upload_length, "Upload-Length")
        filename = _filename(parse_metadata(upload_metadata))
        viewer = current_viewer(request)
        with deps.engine.begin() as conn:
            row = create_resumable(conn, viewer, length_bytes=length, filename=filename, limits=deps.upload_limits)
        expiry = _expires(expires_at(row, deps.upload_limits.resumable_lifetime_s))
        return Response(status_code=201, headers={"Location": _location(row.id), "Upload-Offset": "0", **expiry})

    return _answer(request, work)


@router.head(
    "/{upload_id}",
    response_class=Response,
    responses={
        200: {"description": "`Upload-Offset`, `Upload-Length` and `Upload-Expires`"},
        410: {"description": "the upload expired (no chunk for its lifetime): start a new one"},
    },
)
def offset(
    request: Request, upload_id: str, viewer: CurrentViewer, deps: Deps, tus_resumable: _TUS_HEADER = None
) -> Response:
    """Where the upload stands: the bytes received (``Upload-Offset``) of ``Upload-Length``."""

    def work() -> Response:
        _check_version(tus_resumable)
        with read_only(deps.engine).begin() as conn:
            row = get_upload(conn, viewer, upload_id).upload
        lifetime_s = deps.upload_limits.resumable_lifetime_s
        check_unexpired(row, lifetime_s, time.time())
        headers = {"Upload-Offset": str(row.received_bytes), "Cache-Control": "no-store"}
        headers.update(_expires(expires_at(row, lifetime_s)))
        if row.length_bytes is not None:
            headers["Upload-Length"] = str(row.length_bytes)
        if row.filename:
            headers["Upload-Metadata"] = "filename " + base64.b64encode(row.filename.encode()).decode("ascii")
        return Response(status_code=200, headers=headers)

    return _answer(request, work)


async def _append(request: Request, deps: WebDeps, upload_id: str) -> Response:
    def work() -> Response:
        _check_version(request.headers.get("tus-resumable"))
        content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if content_type != CHUNK_CONTENT_TYPE:
            raise UnsupportedMedia(
                f"a chunk's Content-Type is {CHUNK_CONTENT_TYPE}, not {content_type or 'none'!r}", field="Content-Type"
            )
        at = _whole_number(request.headers.get("upload-offset"), "Upload-Offset")
        who = require_write(current_viewer(request))
        starts = starts_of(deps)
        body = BlockingBody(request.stream()).reader()
        with deps.engine.begin() as conn:
            appended = append_chunk(
                conn, who, upload_id, at, body,
                blobs=deps.blobs, limits=deps.upload_limits, spool_dir=deps.spool_dir, start=starts,
            )  # fmt: skip
        starts.flush()
        return Response(
            status_code=204, headers={"Upload-Offset": str(appended.offset), **_expires(appended.expires_at)}
        )

    try:
        return await anyio.to_thread.run_sync(_answer, request, work, limiter=upload_threads(request))
    except ClientDisconnect:
        return Response(status_code=400)  # nobody is listening; the part received stays for a resume


def _terminate(request: Request, deps: WebDeps, upload_id: str) -> Response:
    def work() -> Response:
        _check_version(request.headers.get("tus-resumable"))
        with deps.engine.begin() as conn:
            terminate(conn, current_viewer(request), upload_id, spool_dir=deps.spool_dir)
        return Response(status_code=204)

    return _answer(request, work)


_CHUNK_RESPONSES: dict[int | str, dict[str, object]] = {
    204: {"description": "the chunk is stored: `Upload-Offset` is the new offset"},
    409: {"description": "`Upload-Offset` is not where the upload stands: HEAD it and resume from there"},
    410: {"description": "the upload expired (no chunk for its lifetime): start a new one"},
    415: {"description": f"Content-Type is not {CHUNK_CONTENT_TYPE}, or the content is no photo or video"},
}


@router.patch("/{upload_id}", status_code=204, responses=_CHUNK_RESPONSES, openapi_extra=_CHUNK_REQUEST)
async def append(request: Request, upload_id: str, deps: Deps) -> Response:
    """tus core: the next chunk at ``Upload-Offset`` (``application/offset+octet-stream``)."""
    return await _append(request, deps, upload_id)


@router.delete(
    "/{upload_id}",
    status_code=204,
    responses={204: {"description": "terminated"}},
    openapi_extra={"parameters": [_TUS_PARAMETER]},
)
def remove(request: Request, upload_id: str, deps: Deps) -> Response:
    """tus termination: give the upload up (an upload already in a post stays: delete the post)."""
    return _terminate(request, deps, upload_id)


@router.post("/{upload_id}", status_code=204, responses=_CHUNK_RESPONSES)
async def overridden(
    request: Request,
    upload_id: str,
    deps: Deps,
    method: Annotated[str | None, Header(alias="X-HTTP-Method-Override")] = None,
) -> Response:
    """``PATCH`` or ``DELETE`` sent as ``POST`` with ``X-HTTP-Method-Override``."""
    verb = (method or "").upper()
    if verb == "PATCH":
        return await _append(request, deps, upload_id)
    if verb == "DELETE":
        return await anyio.to_thread.run_sync(_terminate, request, deps, upload_id)

    def refuse() -> Response:
        raise InvalidInput(
            f"POST to an upload needs X-HTTP-Method-Override PATCH or DELETE, not {method!r}",
            field="X-HTTP-Method-Override",
        )

    return _answer(request, refuse)
