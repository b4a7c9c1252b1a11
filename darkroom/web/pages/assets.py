"""The pages' static files (``static/``: our CSS and scripts, and ``static/vendor/``, the pinned
third-party scripts ``make setup`` copies there), served by Darkroom itself at content-addressed
URLs: ``/static/{digest}/{name}``, where ``digest`` is the first 16 hex digits of the file's
SHA-256. A changed file gets a new URL, so every answer may be cached for a year (``immutable``);
an old or made-up digest is a 404, never another version's bytes.

The files are read once, when the app is built: the static set is part of a release, like the code.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from darkroom.web.pages.errors import AssetMissing

__all__ = ["FEED_PAGE", "PREFIX", "REQUIRED", "STATIC_DIR", "Asset", "Assets"]

PREFIX = "/static"
STATIC_DIR = Path(__file__).resolve().parent / "static"
# what the feed's first page loads (the budget of docs/web.md): the layout's, and its photos and bar
FEED_PAGE = ("app.css", "app.js", "vendor/htmx.min.js", "photos.js", "feed.js", "vendor/blurhash.js")
# what every page and the home page link to: a release without them cannot serve the feed
REQUIRED = FEED_PAGE
_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",  # hls.js's ES module build: module scripts need a JS type
}


@dataclass(frozen=True, slots=True)
class Asset:
    """One static file: its name under ``static/``, bytes, content type and digest."""

    name: str
    body: bytes
    content_type: str
    digest: str

    @property
    def url(self) -> str:
        return f"{PREFIX}/{self.digest}/{self.name}"


class Assets:
    """The static files under ``root``, by name; :class:`AssetMissing` names a required one that
    is absent (the vendored scripts: run ``make setup``)."""

    def __init__(self, root: Path = STATIC_DIR, *, required: Iterable[str] = REQUIRED) -> None:
        self.root = root
        self._by_name: dict[str, Asset] = {}
        for path in sorted(root.rglob("*")) if root.is_dir() else ():
            if path.is_file() and not path.name.startswith("."):
                name = path.relative_to(root).as_posix()
                body = path.read_bytes()
                kind = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                self._by_name[name] = Asset(name, body, kind, hashlib.sha256(body).hexdigest()[:16])
        for name in required:
            if name not in self._by_name:
                raise AssetMissing(f"static file {name!r} is missing under {root}: run `make setup`")

    def url(self, name: str) -> str:
        """The content-addressed URL of ``name``; :class:`AssetMissing` for a file that is not there."""
        asset = self._by_name.get(name)
        if asset is None:
            raise AssetMissing(f"static file {name!r} is missing under {self.root}")
        return asset.url

    def find(self, digest: str, name: str) -> Asset | None:
        """The file ``name`` when ``digest`` is its current one, else None."""
        asset = self._by_name.get(name)
        return asset if asset is not None and asset.digest == digest else None

    def total_bytes(self, names: Iterable[str]) -> int:
        """The size of ``names`` together (the pages' script and style budget, docs/web.md)."""
        return sum(len(self._by_name[name].body) for name in names)
