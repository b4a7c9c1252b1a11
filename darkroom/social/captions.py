"""Captions: at most 2,200 characters, stored as given (escaping is every renderer's job), with the
hashtags and @mentions they hold.

- A hashtag is ``#`` then Unicode letters (with their combining marks), digits and underscores, not
  inside a word or a URL (``a#b``, ``/#anchor`` are not tags); NFC, lower-cased, at most 100
  characters (a longer one is refused, naming it), each once, in order of appearance.
- A mention is ``@`` then a handle (``[a-z0-9_]{1,30}``, case-folded), not inside a word or an
  address (``bob@example.com`` mentions nobody); a longer run names no account and is ignored.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from darkroom.social.errors import InvalidInput

__all__ = ["MAX_CAPTION_CHARS", "MAX_TAG_CHARS", "Caption", "parse_caption"]

MAX_CAPTION_CHARS = 2200
MAX_TAG_CHARS = 100

_MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9_]+)(?![\w@])")
_HANDLE_CHARS = 30
_NOT_AFTER = "&/#"  # "&#38;" is an entity, "/#x" a URL's fragment, "##" not a tag


@dataclass(frozen=True, slots=True)
class Caption:
    """What a caption refers to: its tags (without ``#``) and mentioned handles (without ``@``)."""

    tags: tuple[str, ...]
    mentions: tuple[str, ...]


def parse_caption(text: str) -> Caption:
    """The tags and mentions of ``text``; :class:`InvalidInput` when it is too long or holds a
    hashtag over 100 characters."""
    if not isinstance(text, str):
        raise InvalidInput(f"caption {text!r} is not text", field="caption")
    if len(text) > MAX_CAPTION_CHARS:
        raise InvalidInput(f"caption is {len(text)} characters long; at most {MAX_CAPTION_CHARS}", field="caption")
    tags: dict[str, None] = {}
    for found in _hashtags(text):
        tag = unicodedata.normalize("NFC", found).lower()
        if len(tag) > MAX_TAG_CHARS:
            raise InvalidInput(
                f"hashtag #{tag[:20]}… is {len(tag)} characters long; at most {MAX_TAG_CHARS}", field="caption"
            )
        tags.setdefault(tag)
    mentions: dict[str, None] = {}
    for match in _MENTION.finditer(text):
        handle = match.group(1).lower()
        if len(handle) <= _HANDLE_CHARS:
            mentions.setdefault(handle)
    return Caption(tuple(tags), tuple(mentions))


def _tag_char(c: str) -> bool:
    # letters, their combining marks (Devanagari and Thai vowel signs), digits, underscore
    return c == "_" or unicodedata.category(c)[0] in "LMN"


def _hashtags(text: str) -> list[str]:
    out: list[str] = []
    at = text.find("#")
    while at >= 0:
        end = at + 1
        while end < len(text) and _tag_char(text[end]):
            end += 1
        before = text[at - 1] if at else " "
        if end > at + 1 and not _tag_char(before) and before not in _NOT_AFTER:
            out.append(text[at + 1 : end])
        at = text.find("#", end if end > at + 1 else at + 1)
    return out
