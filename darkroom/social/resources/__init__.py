"""Rows → the proto messages of ``social.proto``: one definition of each resource for HTTP (its
proto3 JSON mapping, :func:`to_json`) and gRPC, with the read mask pushed down to the queries.

A page of posts costs at most two statements whatever the mask: one for the posts, and one for
everything about the viewer (visibility, ``liked_by_me``, the author's viewer fields; none for an
anonymous reader). The mask decides what those statements touch (:mod:`.posts`); ``likes`` is read
only for ``liked_by_me``.

Media URLs come from a :class:`MediaUrls` passed in (the HTTP layer signs private accounts'
URLs); messages are first built with each rendition's blob key in ``url`` (the form the post cache
keeps) and :func:`finish_posts` turns keys into URLs last.

By noun: :mod:`.masks` (read masks), :mod:`.accounts`, :mod:`.posts`, :mod:`.reactions`
(comments, likes, tags). Callers import from here.
"""

from __future__ import annotations

from google.protobuf.message import Message

from darkroom.api import protojson
from darkroom.social.media import PLAIN_URLS, MediaUrls, PlainMediaUrls
from darkroom.social.resources.accounts import load_accounts
from darkroom.social.resources.masks import MaskArg, account_mask, comment_mask, like_mask, post_mask
from darkroom.social.resources.posts import PostRecord, fetch_post_records, finish_posts, load_posts
from darkroom.social.resources.reactions import comment_messages, like_messages, load_comments, tag_message

__all__ = [
    "PLAIN_URLS",
    "MaskArg",
    "MediaUrls",
    "PlainMediaUrls",
    "PostRecord",
    "account_mask",
    "comment_mask",
    "comment_messages",
    "fetch_post_records",
    "finish_posts",
    "like_mask",
    "like_messages",
    "load_accounts",
    "load_comments",
    "load_posts",
    "post_mask",
    "tag_message",
    "to_dict",
    "to_json",
]


def to_dict(message: Message, mask: MaskArg = None) -> dict[str, object]:
    """``message`` as its proto3 JSON mapping (field names as in the proto), only the masked fields."""
    return protojson.to_dict(message, mask)


def to_json(message: Message, mask: MaskArg = None) -> bytes:
    """:func:`to_dict` serialised by orjson: the HTTP body of a resource."""
    return protojson.to_json(message, mask)
