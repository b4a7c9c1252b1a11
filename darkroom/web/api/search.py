"""``GET /v1/search?q=``: accounts by handle or display-name prefix, and hashtags by prefix.

``q`` starting with ``@`` searches accounts only, with ``#`` hashtags only; anything else both
(hashtags only when ``q`` could be one: a name with a space finds accounts alone). The answer is
``{"accounts": [Account…], "tags": [Tag…]}``, each at most ``limit`` long, best first (handle
matches before display-name matches; the most used tags first); ``fields=`` applies to each
account. Not paged: a search box wants the best few.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from darkroom._proto.darkroom.social.v1.social_pb2 import Account, Tag
from darkroom.social import resources, tags
from darkroom.social.accounts import AccountRow, search_accounts
from darkroom.social.errors import InvalidInput
from darkroom.social.viewer import Viewer
from darkroom.storage.db import read_only
from darkroom.web.api.reads import AccountMask, account_dicts, answer, cache_for
from darkroom.web.auth import CurrentViewer
from darkroom.web.caching import CONDITIONAL_RESPONSES
from darkroom.web.deps import Deps
from darkroom.web.openapi import json_body, message_ref
from darkroom.web.pagination import DEFAULT_LIMIT, MAX_LIMIT

__all__ = ["Found", "find", "router"]

router = APIRouter(tags=["search"])

_Q = Query(min_length=1, description="a prefix: '@ali' accounts only, '#sun' hashtags only, 'sun' both")
_RESULTS = json_body(
    {
        "type": "object",
        "required": ["accounts", "tags"],
        "properties": {
            "accounts": {"type": "array", "items": message_ref(Account.DESCRIPTOR)},
            "tags": {"type": "array", "items": message_ref(Tag.DESCRIPTOR)},
        },
        "additionalProperties": False,
    },
    "accounts and hashtags starting with q, best first",
)
_LIMIT = Query(ge=1, le=MAX_LIMIT, description=f"at most this many accounts and tags each, 1-{MAX_LIMIT}")


@router.get("/v1/search", responses={200: _RESULTS, **CONDITIONAL_RESPONSES})
def search(
    request: Request,
    deps: Deps,
    *,
    viewer: CurrentViewer,
    mask: AccountMask,
    q: Annotated[str, _Q],
    limit: Annotated[int, _LIMIT] = DEFAULT_LIMIT,
) -> Response:
    """Accounts and hashtags starting with ``q``."""
    with read_only(deps.engine).begin() as conn:
        found = find(conn, viewer, q, limit)
        people = account_dicts(conn, [a.id for a in found.accounts], viewer, mask)
    body = {"accounts": people, "tags": [resources.to_dict(resources.tag_message(t)) for t in found.hashtags]}
    return answer(request, body, cache=cache_for(viewer))


@dataclass(frozen=True, slots=True)
class Found:
    """What a search finds, best first: accounts (the viewer may still be refused some: load them
    through ``resources.load_accounts``) and hashtags with their post counts."""

    accounts: list[AccountRow]
    hashtags: list[tags.TagCount]


def find(conn: sa.Connection, viewer: Viewer | None, q: str, limit: int) -> Found:
    """Accounts and hashtags starting with ``q`` (at most ``limit`` of each), by the rules above;
    :class:`InvalidInput` naming ``q`` when it can be neither (``#a b``, an empty ``@``)."""
    text = q.strip()
    people = search_accounts(conn, viewer, text, limit) if not text.startswith("#") else []
    topics: list[tags.TagCount] = []
    if text.startswith("#"):
        topics = tags.search_tags(conn, text, limit)  # a bad tag is a 400 naming q
    elif not text.startswith("@") and _could_be_tag(text):
        topics = tags.search_tags(conn, text, limit)
    return Found(people, topics)


def _could_be_tag(text: str) -> bool:
    try:
        tags.normalize_tag(text, field="q")
    except InvalidInput:
        return False
    return True
