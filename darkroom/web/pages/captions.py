"""A caption as the pages show it: plain text with its hashtags and @mentions as links.

The domain parsed the caption when it was posted (``social/captions.py``) and stored its tags and
mentions; a ``#word`` or ``@word`` of the text becomes a link only when the post names it there,
so the pages never link what the domain did not count. The parts are text: the templates escape
every one (Jinja's autoescape), so a caption of ``<script>`` shows as those characters.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["CaptionPart", "caption_parts", "profile_path", "tag_path"]

_HANDLE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_NOT_BEFORE_TAG = "&/#"  # the domain's rule: an entity, a URL's fragment, "##" are no tags
_NOT_BEFORE_MENTION = "@."  # nor is an address's "@"


def _tag_char(c: str) -> bool:
    return c == "_" or unicodedata.category(c)[0] in "LMN"


@dataclass(frozen=True, slots=True)
class CaptionPart:
    """A run of caption text, and where it links (None: plain text)."""

    text: str
    href: str | None = None


def tag_path(tag: str) -> str:
    """The hashtag page of ``tag`` (normalised, as stored)."""
    return f"/tags/{quote(tag, safe='')}"


def profile_path(handle: str) -> str:
    """The profile page of ``handle``."""
    return f"/@{quote(handle, safe='')}"


def caption_parts(caption: str, tags: Iterable[str], mentions: Iterable[str]) -> list[CaptionPart]:
    """``caption`` split into text and links to the post's ``tags`` and ``mentions``."""
    tag_set, mention_set = set(tags), set(mentions)
    parts: list[CaptionPart] = []
    at = 0  # the end of what is already in parts
    i = 0
    while i < len(caption):
        sign = caption[i]
        word_char = _tag_char if sign == "#" else _HANDLE_CHARS.__contains__
        end = i + 1
        if sign in "#@":
            while end < len(caption) and word_char(caption[end]):
                end += 1
        before = caption[i - 1] if i else " "
        href = None
        if end > i + 1 and not _tag_char(before):
            word = unicodedata.normalize("NFC", caption[i + 1 : end]).lower()
            if sign == "#" and before not in _NOT_BEFORE_TAG and word in tag_set:
                href = tag_path(word)
            elif sign == "@" and before not in _NOT_BEFORE_MENTION and word in mention_set:
                href = profile_path(word)
        if href is not None:
            if i > at:
                parts.append(CaptionPart(caption[at:i]))
            parts.append(CaptionPart(caption[i:end], href))
            at = end
        i = end
    if at < len(caption):
        parts.append(CaptionPart(caption[at:]))
    return parts
