"""Handles and emails: what an account may be called, in one canonical form.

A handle is NFKC-normalised and lower-cased, then must be ``[a-z0-9_]{1,30}``: fullwidth "ALICE"
(U+FF21…) becomes ``alice``, but a character NFKC does not fold to ASCII (Cyrillic a, U+0430; Greek
omicron, U+03BF; a zero-width space, U+200B) is refused, because it would let a look-alike pose as
``alice``. Stored handles are canonical, so the unique index makes them unique case-insensitively.
"""

from __future__ import annotations

import re
import unicodedata

from darkroom.social.errors import InvalidInput

__all__ = [
    "EMAIL_MAX_CHARS",
    "HANDLE_MAX_CHARS",
    "RESERVED_HANDLES",
    "lookup_handle",
    "normalize_email",
    "normalize_handle",
]

HANDLE_MAX_CHARS = 30
EMAIL_MAX_CHARS = 254  # RFC 5321's path limit

# Words the web app and API use as path segments or that would impersonate the service. Short on
# purpose: every entry is a name nobody can have (docs/social.md lists them).
RESERVED_HANDLES = frozenset(
    {
        "about", "accounts", "admin", "api", "darkroom", "explore", "feed", "help", "login", "logout",
        "me", "media", "posts", "root", "search", "settings", "signup", "static", "support", "tags",
        "uploads", "v1",
    }
)  # fmt: skip

_HANDLE = re.compile(r"[a-z0-9_]+")
_ALLOWED = "handles are 1-30 of a-z, 0-9 and _"


def _canonical(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw).strip().lower()


def _describe(ch: str) -> str:
    return f"{ch!r} (U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed character')})"


def normalize_handle(raw: object, *, field: str = "handle") -> str:
    """The canonical form of ``raw``, or :class:`InvalidInput` saying what is wrong with it."""
    if not isinstance(raw, str):
        raise InvalidInput(f"{field} must be a string, not {type(raw).__name__}", field=field)
    handle = _canonical(raw)
    if not handle:
        raise InvalidInput(f"{field} {raw!r} is empty: {_ALLOWED}", field=field)
    for ch in handle:
        if not ch.isascii():
            raise InvalidInput(
                f"{field} {raw!r} contains {_describe(ch)}, which looks like another character: {_ALLOWED}",
                field=field,
            )
    bad = next((ch for ch in handle if not _HANDLE.fullmatch(ch)), None)
    if bad is not None:
        raise InvalidInput(f"{field} {raw!r} contains {bad!r}: {_ALLOWED}", field=field)
    if len(handle) > HANDLE_MAX_CHARS:
        raise InvalidInput(f"{field} {raw!r} is {len(handle)} characters long: at most {HANDLE_MAX_CHARS}", field=field)
    if handle in RESERVED_HANDLES:
        raise InvalidInput(f"{field} {raw!r} is reserved; choose another", field=field)
    return handle


def lookup_handle(raw: object) -> str | None:
    """The canonical form of ``raw`` to look an account up by, or ``None`` when no account can have
    it (lookups answer "not found" rather than explain the naming rules)."""
    if not isinstance(raw, str):
        return None
    handle = _canonical(raw)
    if len(handle) > HANDLE_MAX_CHARS or not handle.isascii() or not _HANDLE.fullmatch(handle):
        return None
    return handle


def normalize_email(raw: object, *, field: str = "email") -> str:
    """``raw`` trimmed and lower-cased, if it looks like an address: one ``@``, a dot inside the
    domain, no spaces, at most 254 characters. Whether it receives mail is not checked."""
    if not isinstance(raw, str):
        raise InvalidInput(f"{field} must be a string, not {type(raw).__name__}", field=field)
    email = unicodedata.normalize("NFKC", raw).strip().lower()
    if len(email) > EMAIL_MAX_CHARS:
        raise InvalidInput(f"{field} {raw!r} is {len(email)} characters long: at most {EMAIL_MAX_CHARS}", field=field)
    local, at, domain = email.partition("@")
    if not at or not local or "@" in domain:
        raise InvalidInput(f"{field} {raw!r} is not an email address: it needs exactly one '@'", field=field)
    labels = domain.split(".")
    if len(labels) < 2 or not all(labels):
        raise InvalidInput(
            f"{field} {raw!r} is not an email address: its domain needs a dot between names", field=field
        )
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in email):
        raise InvalidInput(f"{field} {raw!r} is not an email address: it contains a space or control", field=field)
    return email
