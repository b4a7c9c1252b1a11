"""Media messages from uploads, and where their renditions are fetched from.

An upload's ``info`` (written by renditions.py from its workflow's outputs) has the shape
``{"width", "height", "duration_s", "renditions": [{"key", "content_type", "width", "height",
"role"}]}``; parts may be missing while it is processed, and a missing or odd value reads as the
default. A rendition's URL
comes from a :class:`MediaUrls` the caller passes in: the HTTP layer signs private accounts' URLs
(they expire, so they are made per read and never cached).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Protocol, cast
from urllib.parse import quote

import orjson

from darkroom._proto.darkroom.social.v1 import social_pb2 as pb

__all__ = ["PLAIN_URLS", "MediaUrls", "PlainMediaUrls", "from_upload", "json_list", "json_object", "sign"]


class MediaUrls(Protocol):
    """Where a rendition is fetched from; ``private`` media needs a signed, expiring URL."""

    def url(self, key: str, *, private: bool) -> str: ...


class PlainMediaUrls:
    """``/v1/media/{key}`` for every rendition (tests, gRPC clients that fetch with a token)."""

    def url(self, key: str, *, private: bool) -> str:
        return "/v1/media/" + quote(key, safe="/")


PLAIN_URLS = PlainMediaUrls()


def from_upload(upload_id: str, kind: str | None, state: str, info: object) -> pb.Media:
    """A Media from an upload row. Each rendition's ``url`` holds its blob key until :func:`sign`."""
    facts = json_object(info)
    out = pb.Media(
        id=upload_id,
        kind=kind or "",
        state=state,
        width=_int(facts.get("width")),
        height=_int(facts.get("height")),
        duration_s=_float(facts.get("duration_s")),
    )
    for item in json_list(facts.get("renditions")):
        r = json_object(item)
        out.renditions.add(
            url=_str(r.get("key")),
            content_type=_str(r.get("content_type")),
            width=_int(r.get("width")),
            height=_int(r.get("height")),
            role=_str(r.get("role")),
        )
    return out


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) and math.isfinite(value) else 0


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else 0.0


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def json_object(value: object) -> Mapping[str, object]:
    """A JSON object (parsed when it comes as text, as SQLite returns JSON), or {} for anything else."""
    if isinstance(value, str | bytes):
        value = orjson.loads(value)
    return cast(Mapping[str, object], value) if isinstance(value, Mapping) else {}


def json_list(value: object) -> list[object]:
    """A JSON array (parsed when it comes as text), or [] for anything else (SQL's NULL included)."""
    if isinstance(value, str | bytes):
        value = orjson.loads(value)
    return list(value) if isinstance(value, list) else []


def sign(medias: Iterable[pb.Media], urls: MediaUrls, *, private: bool) -> None:
    """Turn the blob keys in ``medias``' renditions into URLs (in place)."""
    for media in medias:
        for rendition in media.renditions:
            rendition.url = urls.url(rendition.url, private=private)
