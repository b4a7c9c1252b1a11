"""Rendition URLs: ``/v1/media/{key}`` for public media, and signed, expiring URLs for the rest
(private accounts' media, uploads not yet in a visible post), so a private key that leaks without
its signature, or after it expired, fetches nothing.

- A file served alone: ``/v1/media/{key}?exp=…&sig=…``, the signature over the key.
- A file of a package (``pkg/{digest}/{path}``, see :mod:`darkroom.social.media`):
  ``/v1/media/signed/{exp}/{sig}/pkg/{digest}/{path}``, the signature over the package's prefix
  ``pkg/{digest}/`` and carried in the path, so the relative URIs inside a playlist (``seg_1.m4s``,
  ``720p/index.m3u8``) resolve to URLs that carry it too; a query string would be dropped by them.

A signature is HMAC-SHA256 over what it covers and the expiry, under a key derived from the app's
secret, one per form (so neither can be confused with the other, a CSRF token or a cursor), cut to
128 bits. Expiry times are rounded up to the next multiple of ``ttl_s``: a URL is valid between
``ttl_s`` and ``2 * ttl_s`` seconds, and everyone signing the same key within one window gets the
same URL, so browsers cache the media and an upload's ETag holds for the window.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from darkroom.social.errors import Forbidden
from darkroom.social.media import PackageFile, parse_package_ref

__all__ = ["MEDIA_PATH", "SIGNED", "SignedMediaUrls", "media_path"]

MEDIA_PATH = "/v1/media/"
SIGNED = "signed"  # /v1/media/signed/{exp}/{sig}/pkg/…: a package's files, signed in the path
_SIG_BYTES = 16


@functools.lru_cache(maxsize=65_536)
def media_path(key: str) -> str:
    """The route's path of media reference ``key`` (``/`` kept, everything else percent-encoded).
    Kept for the most recent keys: a feed page quotes about a hundred (every rendition of 20
    posts), the same ones again and again, and quoting was 2 % of the page's CPU."""
    return MEDIA_PATH + quote(key, safe="/")


@dataclass(frozen=True)
class SignedMediaUrls:
    """The ``MediaUrls`` of the HTTP app (``url(key, *, private)``) and the check of what it signed."""

    secret: bytes = field(repr=False)
    ttl_s: int = 3600
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        if len(self.secret) < 16:
            raise ValueError("the media URL secret needs at least 16 bytes")
        if isinstance(self.ttl_s, bool) or not isinstance(self.ttl_s, int) or self.ttl_s < 1:
            raise ValueError(f"ttl_s must be a whole number of seconds >= 1, not {self.ttl_s!r}")

    @functools.cached_property
    def _key(self) -> bytes:
        return hmac.new(self.secret, b"darkroom media url v1", hashlib.sha256).digest()

    @functools.cached_property
    def _package_key(self) -> bytes:
        return hmac.new(self.secret, b"darkroom media package url v1", hashlib.sha256).digest()

    def signature(self, key: str, expires_at: int) -> str:
        """The signature of blob ``key`` valid until ``expires_at`` (epoch seconds)."""
        return _sign(self._key, key, expires_at)

    def package_signature(self, package: PackageFile, expires_at: int) -> str:
        """The signature of every file of ``package``'s folder, valid until ``expires_at``."""
        return _sign(self._package_key, package.prefix, expires_at)

    def expiry(self, now: float | None = None) -> int:
        """When a URL signed at ``now`` expires: the window's end, ``ttl_s`` to ``2 * ttl_s`` away."""
        now = self.clock() if now is None else now
        return (math.floor(now / self.ttl_s) + 2) * self.ttl_s

    def url(self, key: str, *, private: bool) -> str:
        """Where to fetch media reference ``key``: plain when public, signed and expiring when ``private``."""
        if not private:
            return media_path(key)
        exp = self.expiry()
        package = parse_package_ref(key)
        if package is not None:
            return f"{MEDIA_PATH}{SIGNED}/{exp}/{self.package_signature(package, exp)}/{quote(str(package), safe='/')}"
        return f"{media_path(key)}?exp={exp}&sig={self.signature(key, exp)}"

    def check(self, key: str, exp: str | None, sig: str | None) -> int:
        """The expiry of a signed request for ``key``; :class:`Forbidden` naming what is wrong
        when the signature is missing a part, does not match, or has expired."""
        return self._check(lambda expires_at: self.signature(key, expires_at), exp, sig)

    def check_package(self, package: PackageFile, exp: str, sig: str) -> int:
        """The expiry of a request signed in the path for a file of ``package``; :class:`Forbidden`
        as :meth:`check` (another package's signature does not match)."""
        return self._check(lambda expires_at: self.package_signature(package, expires_at), exp, sig)

    def _check(self, expected: Callable[[int], str], exp: str | None, sig: str | None) -> int:
        if not exp or not sig:
            missing = "exp" if not exp else "sig"
            raise Forbidden(f"a signed media URL needs both exp and sig; {missing} is missing", field=missing)
        if not exp.isascii() or not exp.isdigit() or len(exp) > 12:
            raise Forbidden(f"exp={exp[:40]!r} is not a time in epoch seconds", field="exp")
        expires_at = int(exp)
        if not hmac.compare_digest(sig.encode("utf-8", "surrogateescape"), expected(expires_at).encode()):
            raise Forbidden("the media URL's signature does not match (altered or not from this server)", field="sig")
        now = self.clock()
        if expires_at <= now:
            raise Forbidden(
                f"the media URL expired at {expires_at} ({int(now - expires_at)} s ago); read the post again "
                "for a fresh one",
                field="exp",
            )
        return expires_at


def _sign(key: bytes, covered: str, expires_at: int) -> str:
    message = covered.encode("utf-8") + b"\x00" + str(expires_at).encode("ascii")
    digest = hmac.new(key, message, hashlib.sha256).digest()[:_SIG_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
