"""What every page answers with to keep a browser safe, and the same-origin rule for form posts.

- **Content-Security-Policy**: scripts, styles, images, media and requests from this origin only;
  no inline script or event handler and no ``eval`` (``script-src 'self'``), no inline style
  (``style-src 'self'``: htmx's own indicator style is turned off in ``base.html``), no plugins, no
  ``<base>``, forms post here only, and no framing (``frame-ancestors 'none'``). ``data:`` images
  are allowed for small inline images; the photos' BlurHash placeholders are canvases painted by a
  script (``static/photos.js``) and need none. The video player needs nothing more: hls.js
  (imported from this origin) plays through Media Source Extensions, whose ``blob:`` URL is a
  media source (``media-src blob:``, also compose's previews), fetches playlists and segments here
  (``connect-src 'self'``), and runs without a worker (``static/player.js``), so no ``worker-src``.
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin`` (private media URLs are
  signed: they should not leak to other sites), ``X-Frame-Options: DENY`` for browsers older than
  ``frame-ancestors``, ``Cross-Origin-Opener-Policy: same-origin``.
- **Form posts** must come from a page of this site: the session cookie's CSRF token covers the
  signed-in forms (``web/auth.py``), and :func:`check_same_origin` covers the ones without a
  session (sign up, log in), so another site cannot sign a visitor into its own account.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.requests import Request

from darkroom.api.errors import CsrfRejected

__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "check_same_origin"]

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        # blob:: compose's previews (object URLs) and hls.js's MediaSource attached to a <video>
        "media-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else None


def check_same_origin(request: Request) -> None:
    """Refuse (:class:`CsrfRejected`, 403) a form post whose ``Origin`` (else ``Referer``) names
    another site (or ``null``). Browsers send ``Origin`` on every form post; a request with neither
    header is no browser's cross-site post (a script or a test), so it passes."""
    claimed = request.headers.get("origin")
    if claimed is None:
        referer = request.headers.get("referer")
        claimed = _origin_of(referer) if referer else None
    if claimed is None:
        return
    own = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}".lower()
    if claimed.lower() != own:  # "null" too: a sandboxed frame or a redirect chain hides who posted
        raise CsrfRejected(f"a form posted from {claimed!r} to {own!r}: forms are posted from this site only")
