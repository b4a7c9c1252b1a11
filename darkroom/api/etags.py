"""Entity tags and conditional requests (RFC 9110 sections 8.8.3 and 13).

- :meth:`ETag.for_version` makes a strong tag from what a representation depends on (the
  resource's id and version, and anything else that changes the bytes: the read mask, the viewer
  when viewer fields are in it); :meth:`ETag.for_content` from the bytes themselves. Both hash, so
  tags reveal nothing and are always valid ``etagc`` characters.
- :func:`parse` reads ``If-Match`` / ``If-None-Match``: ``*`` or a comma-separated list of
  entity tags (empty list elements are allowed, as in every ``#rule`` list); anything else is
  :class:`~darkroom.api.errors.InvalidPrecondition` naming the header.
- :func:`evaluate` applies them in RFC 9110 section 13.2.2's order: ``If-Match`` (strong
  comparison; ``*`` matches any current representation) fails with 412; then ``If-None-Match``
  (weak comparison; ``*`` likewise) answers 304 to GET and HEAD, 412 to other methods.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from enum import Enum

from darkroom.api.errors import InvalidPrecondition

__all__ = ["ETag", "ETagList", "Precondition", "evaluate", "parse"]

# entity-tag = [ W/ ] DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text (latin-1 on the wire)
_ELEMENT = re.compile(r'[ \t]*(?:(W/)?"([\x21\x23-\x7e\x80-\xff]*)")?[ \t]*(?:,|$)')


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.blake2b(data, digest_size=16).digest()).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class ETag:
    """One entity tag: ``opaque`` without its quotes; ``weak`` for ``W/"…"``."""

    opaque: str
    weak: bool = False

    @classmethod
    def for_version(cls, *parts: object) -> ETag:
        """A strong tag of everything the representation depends on (``post.id, post.version, mask``)."""
        return cls(_digest("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass")))

    @classmethod
    def for_content(cls, content: bytes) -> ETag:
        """A strong tag of the representation's bytes."""
        return cls(_digest(content))

    def __str__(self) -> str:
        return f'{"W/" if self.weak else ""}"{self.opaque}"'

    def matches_weakly(self, other: ETag) -> bool:
        """Weak comparison: the same opaque tag, either or both weak."""
        return self.opaque == other.opaque

    def matches_strongly(self, other: ETag) -> bool:
        """Strong comparison: the same opaque tag, neither weak."""
        return not self.weak and not other.weak and self.opaque == other.opaque


@dataclass(frozen=True, slots=True)
class ETagList:
    """A parsed ``If-Match`` / ``If-None-Match``: ``any`` for ``*``, else the listed tags."""

    tags: tuple[ETag, ...] = ()
    any: bool = False

    def matches(self, current: ETag | None, *, strong: bool) -> bool:
        """True when the header's condition names ``current`` (None: no current representation)."""
        if current is None:
            return False
        if self.any:
            return True
        if strong:
            return any(tag.matches_strongly(current) for tag in self.tags)
        return any(tag.matches_weakly(current) for tag in self.tags)


def parse(value: str, *, header: str = "If-None-Match") -> ETagList:
    """The tags of a conditional header's ``value``; :class:`InvalidPrecondition` when malformed."""
    if value.strip() == "*":
        return ETagList(any=True)
    tags: list[ETag] = []
    pos = 0
    while pos < len(value):
        match = _ELEMENT.match(value, pos)
        if match is None or match.end() == pos:
            shown = value if len(value) <= 80 else value[:77] + "..."
            raise InvalidPrecondition(
                f'{header} {shown!r} is not \'*\' or a list of entity tags like "abc" or W/"abc"', field=header
            )
        if match.group(2) is not None:
            tags.append(ETag(match.group(2), weak=bool(match.group(1))))
        pos = match.end()
    return ETagList(tuple(tags))


class Precondition(Enum):
    """What a conditional request gets: the method runs, 304, or 412."""

    PROCEED = "proceed"
    NOT_MODIFIED = "not_modified"
    FAILED = "failed"


def evaluate(method: str, current: ETag | None, *, if_match: str | None, if_none_match: str | None) -> Precondition:
    """RFC 9110 section 13.2.2 for a resource whose current representation has tag ``current``
    (None when it has none)."""
    if if_match is not None and not parse(if_match, header="If-Match").matches(current, strong=True):
        return Precondition.FAILED
    if if_none_match is not None and parse(if_none_match, header="If-None-Match").matches(current, strong=False):
        return Precondition.NOT_MODIFIED if method.upper() in ("GET", "HEAD") else Precondition.FAILED
    return Precondition.PROCEED
