"""Photos: open safely, orient, convert to sRGB, and render web renditions plus a blurhash.

``open_photo`` refuses absurd declared dimensions *before* any pixel is decoded (Pillow opens
lazily, so the header alone gives the size), turns decoder failures into typed
:class:`InvalidMedia` codes, applies EXIF orientation and converts to sRGB RGB/RGBA with all
metadata dropped. ``render_photo`` decodes once and writes deterministic file names
(``1080w.jpg``, ``thumb150.webp``…) atomically, so running it twice yields the same files.
See docs/media.md (Images) for the policy behind the numbers.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from darkroom.media import blurhash
from darkroom.media.colour import to_srgb
from darkroom.media.errors import InvalidMedia

__all__ = ["DEFAULT", "DEFAULT_MAX_PIXELS", "Photo", "PhotoRenditions", "PhotoSpec", "Rendition"]
__all__ += ["open_photo", "render_photo"]

# 120 MP covers 108 MP phone sensors and 100 MP medium format; decoded RGB that size is ~360 MB.
# Pillow's own hard stop (2 x Image.MAX_IMAGE_PIXELS ≈ 179 MP) still applies above this.
DEFAULT_MAX_PIXELS = 120_000_000

Format = Literal["jpeg", "webp", "avif"]
# The one place a format's file extension is decided: renditions are written, reported and fetched
# under Rendition.file_name, never rebuilt from the format's name (jpeg is written .jpg).
_EXT = {"jpeg": "jpg", "webp": "webp", "avif": "avif"}
_ORIENTATION, _GPS_IFD = 0x0112, 0x8825
_LANCZOS = Image.Resampling.LANCZOS


@dataclass(frozen=True)
class PhotoSpec:
    """What to render. Widths are never upscaled; quality numbers are each codec's own scale."""

    widths: tuple[int, ...] = (1080, 640, 320)
    thumb_size: int = 150
    thumb_crop: Literal["entropy", "center"] = "entropy"
    formats: tuple[Format, ...] = ("jpeg", "webp", "avif")
    jpeg_quality: int = 82
    webp_quality: int = 80
    avif_quality: int = 60
    avif_speed: int = 8  # 0 slowest … 10 fastest; 8 keeps a 1080 px AVIF well under a second on 2 cores
    blurhash_components: tuple[int, int] = (4, 3)  # x, y for landscape; swapped for portrait
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        if not self.widths or min(self.widths) < 1 or self.thumb_size < 1:
            raise ValueError(f"widths and thumb_size must be positive, got {self.widths}, {self.thumb_size}")
        unknown = set(self.formats) - set(_EXT)
        if unknown or not self.formats:
            raise ValueError(f"formats must be a non-empty subset of {sorted(_EXT)}, got {self.formats}")


DEFAULT = PhotoSpec()


@dataclass(frozen=True)
class Photo:
    """A decoded photo: ``image`` is upright sRGB ``RGB`` or ``RGBA`` with empty ``info``.

    ``width``/``height`` are the source's upright dimensions; ``image`` may be smaller when a JPEG
    was decoded at reduced scale (``min_size``).
    """

    image: Image.Image
    format: str
    width: int
    height: int
    orientation: int  # EXIF orientation of the source, 1 = already upright
    had_gps: bool


@dataclass(frozen=True)
class Rendition:
    name: str  # "1080w", "thumb150"
    path: Path
    format: Format
    width: int
    height: int
    size_bytes: int

    @property
    def file_name(self) -> str:
        """The file's name as written (``1080w.jpg``): reports and downloads use this, not the format."""
        return self.path.name


@dataclass(frozen=True)
class PhotoRenditions:
    source_width: int
    source_height: int
    source_format: str
    orientation: int
    had_gps: bool
    blurhash: str
    renditions: tuple[Rendition, ...] = field(default_factory=tuple)

    @property
    def had_orientation(self) -> bool:
        return self.orientation != 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (paths as strings) for messages and reports."""
        out = asdict(self)
        out["renditions"] = [{**asdict(r), "path": str(r.path)} for r in self.renditions]
        return out


@cache
def _register_heif() -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()


def open_photo(
    path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS, min_size: tuple[int, int] | None = None
) -> Photo:
    """Open, check, decode, orient and convert ``path``; raise :class:`InvalidMedia` if unusable.

    ``min_size`` = (width, short side) the caller still needs; JPEGs may then decode at 1/2, 1/4
    or 1/8 scale in the DCT (much faster for big photos) while staying 1.5x above it.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise InvalidMedia(f"{path.name} is empty (0 bytes)", code="empty")
    _register_heif()
    try:
        with warnings.catch_warnings():
            # Our own limit below is the one that counts; Pillow's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError as exc:  # past Pillow's own hard limit, raised while opening
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(pixels[1]) / 1e6:.0f} MP" if pixels else "a size"
        raise InvalidMedia(
            f"{path.name} declares {size}, over Pillow's hard limit; refused before decoding", code="decompression_bomb"
        ) from exc
    except UnidentifiedImageError as exc:
        raise InvalidMedia(f"{path.name} is not an image format we can read", code="unreadable") from exc
    except Exception as exc:  # plugins raise a zoo of types on hostile headers
        raise InvalidMedia(f"{path.name} has an unreadable header: {exc}", code="unreadable") from exc
    with im:
        stored_w, stored_h = im.size
        if stored_w < 1 or stored_h < 1:
            raise InvalidMedia(f"{path.name} declares an empty size {stored_w}x{stored_h}", code="unreadable")
        if stored_w * stored_h > max_pixels:
            raise InvalidMedia(
                f"{path.name} declares {stored_w}x{stored_h} = {stored_w * stored_h / 1e6:.0f} MP, over the"
                f" limit of {max_pixels / 1e6:g} MP; refused before decoding",
                code="decompression_bomb",
            )
        fmt = im.format or "unknown"
        if min_size is not None and fmt == "JPEG":
            _draft(im, min_size)
        try:
            im.load()
            tag, had_gps = _read_exif(im)  # after load(): a PNG's eXIf chunk may follow the pixels
            image = to_srgb(ImageOps.exif_transpose(im) if tag != 1 else im)
            if image is im:  # closing the file below would invalidate it
                image = im.copy()
        except Image.DecompressionBombError as exc:
            raise InvalidMedia(f"{path.name}: {exc}", code="decompression_bomb") from exc
        except MemoryError:
            raise
        except Exception as exc:  # decoders raise many types on corrupt data; all mean the same here
            code = "truncated" if "truncated" in str(exc).lower() else "corrupt"
            raise InvalidMedia(f"{path.name} could not be decoded ({code}): {exc}", code=code) from exc
        # pillow-heif applies the transform itself, resets the tag to 1 and keeps the original aside.
        orientation = _valid_orientation(im.info.get("original_orientation")) if fmt == "HEIF" else tag
    width, height = (stored_h, stored_w) if tag in (5, 6, 7, 8) else (stored_w, stored_h)
    image.info = {}  # encoders fall back to info for EXIF/ICC/XMP: outputs must carry none
    return Photo(image, fmt, width, height, orientation, had_gps)


def _valid_orientation(value: object) -> int:
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _read_exif(im: Image.Image) -> tuple[int, bool]:
    """(EXIF orientation, had GPS). Malformed metadata is not fatal: it is dropped anyway."""
    xmp = im.info.get("xmp") or b""
    had_gps = b"GPSLatitude" in (xmp.encode() if isinstance(xmp, str) else xmp)
    try:
        exif = im.getexif()
        return _valid_orientation(exif.get(_ORIENTATION)), had_gps or bool(exif.get_ifd(_GPS_IFD))
    except Exception:
        return 1, had_gps


def _draft(im: Image.Image, min_size: tuple[int, int]) -> None:
    w, h = im.size
    swapped = _read_exif(im)[0] in (5, 6, 7, 8)
    display_w = h if swapped else w
    scale = max(1.5 * min_size[0] / display_w, 1.5 * min_size[1] / min(w, h))
    if scale < 0.5:  # the smallest DCT reduction is 1/2
        im.draft(None, (math.ceil(w * scale), math.ceil(h * scale)))


def render_photo(
    path: str | os.PathLike[str], out_dir: str | os.PathLike[str], spec: PhotoSpec = DEFAULT
) -> PhotoRenditions:
    """Write every rendition of ``spec`` for the photo at ``path`` into ``out_dir``."""
    photo = open_photo(path, max_pixels=spec.max_pixels, min_size=(max(spec.widths), spec.thumb_size))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)  # only once the input is known good: no empty dirs left
    made: list[Image.Image] = [photo.image]  # largest first; smaller targets resample from these
    rendered: list[Rendition] = []
    for width in sorted({min(w, photo.width) for w in spec.widths}, reverse=True):
        height = max(1, round(photo.height * width / photo.width))
        im = _resized(made, (width, height))
        made.append(im)
        rendered += [_save(im, out, f"{width}w", fmt, spec) for fmt in spec.formats]
    side = min(spec.thumb_size, photo.width, photo.height)
    source = _pick_source(made, 2 * side, short_side=True)
    thumb = source.resize((side, side), _LANCZOS, box=_square_box(source, spec.thumb_crop), reducing_gap=3.0)
    rendered += [_save(thumb, out, f"thumb{spec.thumb_size}", fmt, spec) for fmt in spec.formats]
    hash_ = _blurhash(made[-1], spec.blurhash_components)
    return PhotoRenditions(
        photo.width, photo.height, photo.format, photo.orientation, photo.had_gps, hash_, tuple(rendered)
    )


def _pick_source(made: list[Image.Image], at_least: int, *, short_side: bool = False) -> Image.Image:
    # The smallest image ≥ 2x the target: Lanczos from there is indistinguishable from the original
    # and much cheaper. ``made`` is ordered largest first, made[0] being the decoded photo.
    for im in reversed(made):
        if (min(im.size) if short_side else im.width) >= at_least:
            return im
    return made[0]


def _resized(made: list[Image.Image], size: tuple[int, int]) -> Image.Image:
    source = _pick_source(made, 2 * size[0])
    if source.size == size:
        return source
    return source.resize(size, _LANCZOS, reducing_gap=3.0)


def _square_box(im: Image.Image, how: str) -> tuple[int, int, int, int]:
    """The square to crop: centred, or the window along the long axis with the most detail."""
    w, h = im.size
    side, long = min(w, h), max(w, h)
    offset = (long - side) // 2
    if how == "entropy" and long > side:
        # Score windows on a 32-px-high grey copy: 32-bin histograms per column, summed per window
        # with a cumulative sum, Shannon entropy each, a slight pull towards the centre for ties.
        scale = 32 / side
        small = im.convert("L").resize((max(32, round(w * scale)), 32) if w > h else (32, max(32, round(h * scale))))
        arr = np.asarray(small) >> 3
        cols = arr if w > h else arr.T  # (32, n): columns along the long axis
        onehot = (cols[:, :, None] == np.arange(32)).sum(axis=0)  # (n, 32)
        csum = np.vstack([np.zeros((1, 32)), np.cumsum(onehot, axis=0)])
        hist = csum[32:] - csum[:-32]  # (windows, 32)
        p = hist / hist.sum(axis=1, keepdims=True)
        entropy = -(p * np.log2(np.where(p > 0, p, 1))).sum(axis=1)
        centre = (len(entropy) - 1) / 2
        score = entropy - 0.25 * np.abs(np.arange(len(entropy)) - centre) / max(centre, 1)
        offset = min(long - side, round(int(score.argmax()) * (long - side) / max(len(entropy) - 1, 1)))
    return (offset, 0, offset + side, side) if w > h else (0, offset, side, offset + side)


def _flatten(im: Image.Image) -> Image.Image:
    if im.mode != "RGBA":
        return im
    white = Image.new("RGBA", im.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, im).convert("RGB")


def _save(im: Image.Image, out: Path, name: str, fmt: Format, spec: PhotoSpec) -> Rendition:
    path = out / f"{name}.{_EXT[fmt]}"
    tmp = out / f".{path.name}.{os.getpid()}.tmp"  # atomic replace: readers never see half a file
    opts: dict[str, Any]
    if fmt == "jpeg":
        im = _flatten(im)
        opts = {"quality": spec.jpeg_quality, "optimize": True, "progressive": True, "subsampling": 2}
    elif fmt == "webp":
        opts = {"quality": spec.webp_quality, "method": 4}
    else:
        opts = {"quality": spec.avif_quality, "speed": spec.avif_speed}
    try:
        im.save(tmp, format=fmt.upper(), **opts)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return Rendition(name, path, fmt, im.width, im.height, path.stat().st_size)


def _blurhash(im: Image.Image, components: tuple[int, int]) -> str:
    small = _flatten(im.copy())
    small.thumbnail((64, 64), Image.Resampling.BOX)  # the hash keeps ~4 frequencies: 64 px is plenty
    cx, cy = components if small.width >= small.height else components[::-1]
    return blurhash.encode(np.asarray(small, dtype=np.uint8), cx, cy)
