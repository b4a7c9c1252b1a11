"""Posts as the templates show them: plain values made from the API's ``Post`` messages (the same
hydration as ``GET /v1/feed``), so a template never reaches into a proto.

A photo is a ``<picture>``: one ``<source>`` per modern format the renditions have (AVIF, WebP),
each a ``srcset`` of its sizes, and an ``<img>`` of the JPEGs (or whatever format there is) with
``width``/``height`` from the rendition it names, so the browser reserves the space before the
bytes arrive. The alt text is the caption (or says whose photo it is when there is none). A photo
carries its BlurHash, which ``static/photos.js`` paints into a canvas behind the image until the
image has loaded.

A post's items are its **slides**, in the post's order, each what it is: a :class:`Photo`, or a
:class:`VideoSlide` (its poster, a ``Photo`` sized the same way, and a :class:`Video`: the HLS
master playlist and the storyboard track the player, ``static/player.js``, reads). Each slide
names the template that shows it, so a post of one item and a carousel of photos and videos
alike are one loop. The URLs are the hydration's, so a private account's are signed in the path
and the relative URIs inside keep it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from darkroom._proto.darkroom.social.v1.social_pb2 import Media, Post, Rendition
from darkroom.media.blurhash import BASE83
from darkroom.web.pages.captions import CaptionPart, caption_parts, profile_path

__all__ = [
    "FEED_SIZES",
    "Photo",
    "PostView",
    "Slide",
    "Source",
    "Video",
    "VideoSlide",
    "ago",
    "blurhash_of",
    "clock",
    "photo_of",
    "post_view",
    "slide_of",
    "video_of",
]

# the feed's column is at most 600 CSS pixels wide, the whole screen below 640 (app.css)
FEED_SIZES = "(max-width: 640px) 100vw, 600px"
_FALLBACK_TYPES = ("image/jpeg", "image/png", "image/webp", "image/avif")
_MODERN_TYPES = ("image/avif", "image/webp")
_PREFERRED_WIDTH = 1080  # the <img>'s own src: sharp on a phone at 2-3x, before srcset is read


@dataclass(frozen=True, slots=True)
class Source:
    """A ``<source>`` of a ``<picture>``: one format's sizes."""

    type: str
    srcset: str


@dataclass(frozen=True, slots=True)
class Photo:
    """What ``<picture>`` needs: the sources, the ``<img>``'s URL, its size and alt text."""

    src: str
    srcset: str
    width: int
    height: int
    alt: str
    sources: tuple[Source, ...] = ()
    is_video: bool = False
    blurhash: str = ""  # empty: no placeholder (a video's poster, or none was made)
    kind: ClassVar[str] = "photo"  # a video's poster without a player yet shows as a photo
    template: ClassVar[str] = "_media.html"


@dataclass(frozen=True, slots=True)
class Video:
    """What the player needs besides the poster: the HLS master playlist, the storyboard's WebVTT
    track (None when the video has none) and the length the seek bar spans before the playlist
    is read."""

    hls: str
    storyboard: str | None
    duration_s: float

    @property
    def length(self) -> str:
        """The length as a player shows it: ``0:03``, ``12:05``, ``1:02:03``."""
        return clock(self.duration_s)


@dataclass(frozen=True, slots=True)
class VideoSlide:
    """A video item with its player: the poster (the box it starts in) and the HLS sources."""

    poster: Photo
    video: Video
    kind: ClassVar[str] = "video"
    template: ClassVar[str] = "_video.html"


Slide = Photo | VideoSlide


@dataclass(frozen=True, slots=True)
class PostView:
    """One post of a page."""

    id: str
    author_id: str
    author_handle: str
    author_name: str
    author_href: str
    caption: tuple[CaptionPart, ...]
    created_iso: str
    created_ago: str
    like_count: int
    liked: bool
    comment_count: int
    photo: Photo | None  # the first item's: the Open Graph image
    media_count: int
    slides: tuple[Slide, ...] = ()  # every item that has a picture yet, in the post's order

    @property
    def noun(self) -> str:
        """What the carousel holds, for its labels: ``photos``, ``videos`` or ``items``."""
        kinds = {isinstance(slide, VideoSlide) for slide in self.slides}
        return "items" if len(kinds) > 1 else "videos" if True in kinds else "photos"


def _srcset(renditions: Sequence[Rendition]) -> str:
    return ", ".join(f"{r.url} {r.width}w" for r in sorted(renditions, key=lambda r: r.width))


def blurhash_of(media: Media) -> str:
    """The media's BlurHash when it is well formed (its length is the one its first digit promises,
    every digit base83), else "": the script never gets a value it would refuse."""
    value = media.blurhash
    if len(value) < 6 or any(char not in BASE83 for char in value):
        return ""
    size = BASE83.index(value[0])
    return value if len(value) == 4 + 2 * (size % 9 + 1) * (size // 9 + 1) else ""


def photo_of(media: Media, alt: str) -> Photo | None:
    """The ``<picture>`` of a media item: a photo's images, or a video's poster frame; None when
    it has neither yet."""
    images = [r for r in media.renditions if r.role == "image" and r.width > 0 and r.height > 0]
    is_video = not images
    if is_video:
        images = [r for r in media.renditions if r.role == "poster" and r.width > 0 and r.height > 0]
    if not images:
        return None
    by_type: dict[str, list[Rendition]] = {}
    for rendition in images:
        by_type.setdefault(rendition.content_type, []).append(rendition)
    fallback_type = next((t for t in _FALLBACK_TYPES if t in by_type), next(iter(by_type)))
    fallback = sorted(by_type[fallback_type], key=lambda r: r.width)
    # the smallest at least _PREFERRED_WIDTH wide, else the largest
    img = next((r for r in fallback if r.width >= _PREFERRED_WIDTH), fallback[-1])
    sources = tuple(Source(t, _srcset(by_type[t])) for t in _MODERN_TYPES if t in by_type and t != fallback_type)
    placeholder = "" if is_video else blurhash_of(media)
    return Photo(img.url, _srcset(fallback), img.width, img.height, alt, sources, is_video, placeholder)


def video_of(media: Media) -> Video | None:
    """The player's sources of a media item: None unless it has an HLS master playlist."""
    by_role = {r.role: r for r in media.renditions}
    hls = by_role.get("hls")
    if hls is None or not hls.url:
        return None
    board = by_role.get("storyboard")
    return Video(hls.url, board.url if board is not None and board.url else None, max(0.0, media.duration_s))


def slide_of(media: Media, alt: str) -> Slide | None:
    """The slide of a media item: a video with an HLS package and a poster is a player, anything
    else with a picture a photo (a video's poster alone, badged); None when it has no picture yet."""
    picture = photo_of(media, alt)
    if picture is None:
        return None
    video = video_of(media) if picture.is_video else None
    return VideoSlide(picture, video) if video is not None else picture


def clock(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour), whole seconds rounded down."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def ago(seconds: float, *, now: float | None = None) -> str:
    """A short relative time: ``now``, ``5m``, ``3h``, ``2d``, then the date (``7 Dec 2026``)."""
    elapsed = (time.time() if now is None else now) - seconds
    if elapsed < 60:
        return "now"
    if elapsed < 3600:
        return f"{int(elapsed // 60)}m"
    if elapsed < 86400:
        return f"{int(elapsed // 3600)}h"
    if elapsed < 7 * 86400:
        return f"{int(elapsed // 86400)}d"
    moment = datetime.fromtimestamp(seconds, UTC)
    return f"{moment.day} {moment:%b %Y}"


def post_view(post: Post, *, now: float | None = None) -> PostView:
    """The template's values of ``post`` (read with the author, media, counts and viewer fields)."""
    author = post.author
    created = post.created_at.seconds + post.created_at.nanos / 1e9
    first_is_video = bool(post.media) and (post.media[0].kind == "video" or video_of(post.media[0]) is not None)
    alt = post.caption.strip() or f"A {'video' if first_is_video else 'photo'} by @{author.handle}"
    # each slide says its position ("2 of 3"); the alt text is the caption's, the post's words
    slides = tuple(slide for media in post.media if (slide := slide_of(media, alt)) is not None)
    photo = photo_of(post.media[0], alt) if post.media else None
    return PostView(
        id=post.id,
        author_id=author.id,
        author_handle=author.handle,
        author_name=author.display_name or author.handle,
        author_href=profile_path(author.handle),
        caption=tuple(caption_parts(post.caption.strip(), post.tags, post.mentions)),
        created_iso=datetime.fromtimestamp(created, UTC).isoformat(timespec="seconds"),
        created_ago=ago(created, now=now),
        like_count=post.like_count,
        liked=post.liked_by_me,
        comment_count=post.comment_count,
        photo=photo,
        media_count=len(post.media),
        slides=slides,
    )
