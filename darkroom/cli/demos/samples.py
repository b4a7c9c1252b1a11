"""Generated sample media for ``make demo``, ``darkroom seed`` and tests: a short clip with audio and
a scene cut, a photo carrying an EXIF orientation and GPS tags (which the photo pipeline must
strip), and colourful pictures with a title (the social sample's posts).

The clip is :func:`darkroom.media.synthetic.make_clip` (its ffmpeg command is built in
``darkroom/media``, like every other), re-exported here; the photos are made by Pillow.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from darkroom.media.synthetic import make_clip

__all__ = ["Picture", "make_clip", "make_photo", "make_picture"]

RGB = tuple[int, int, int]

# EXIF tag numbers (TIFF/EXIF 2.3): the orientation of the main image and the GPS IFD pointer.
ORIENTATION_TAG = 0x0112
GPS_IFD_TAG = 0x8825


def make_photo(out: Path, *, width: int = 1200, height: int = 800, orientation: int = 6) -> Path:
    """A JPEG stored sideways with EXIF ``Orientation=orientation`` (6: rotate 90° clockwise to view)
    and a GPS position, the two things a photo pipeline must honour and strip."""
    im = Image.new("RGB", (width, height), (32, 64, 128))
    draw = ImageDraw.Draw(im)
    for i in range(0, width, 40):
        draw.rectangle([i, 0, i + 20, height // 2], fill=(200, (i * 3) % 256, 80))
    draw.ellipse([width // 4, height // 3, width // 2, height - 40], fill=(250, 220, 40))
    draw.text((20, height - 60), "darkroom sample", fill=(255, 255, 255))
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    # GPS IFD: latitude/longitude refs and values (degrees, minutes, seconds as rationals).
    exif[GPS_IFD_TAG] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    out.parent.mkdir(parents=True, exist_ok=True)
    im.save(out, format="JPEG", quality=90, exif=exif)
    return out


@dataclass(frozen=True, slots=True)
class Picture:
    """What :func:`make_picture` draws: a diagonal gradient between two colours, ``shapes`` translucent
    circles and polygons placed by ``seed`` (the same picture every time), and ``title`` below."""

    title: str
    width: int
    height: int
    start: RGB
    end: RGB
    shapes: int = 7
    seed: int = 0


def make_picture(out: Path, picture: Picture) -> Path:
    """Write ``picture`` as a JPEG at ``out``."""
    w, h = picture.width, picture.height
    # the mean of a vertical and a horizontal ramp is a diagonal one, corner to corner
    vertical = Image.linear_gradient("L")
    ramp = Image.blend(vertical.resize((w, h)), vertical.rotate(90).resize((w, h)), 0.5)
    im = Image.composite(Image.new("RGB", (w, h), picture.end), Image.new("RGB", (w, h), picture.start), ramp)
    overlay = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    rng = random.Random(picture.seed)
    short = min(w, h)
    for n in range(picture.shapes):
        x, y, r = rng.randrange(w), rng.randrange(h), rng.randrange(short // 12, short // 4)
        fill = (rng.randrange(256), rng.randrange(256), rng.randrange(256), rng.randrange(90, 200))
        if n % 2:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)
        else:
            corners = rng.randrange(3, 7)
            draw.regular_polygon((x, y, r), corners, rotation=rng.randrange(360), fill=fill)
    im = Image.alpha_composite(im.convert("RGBA"), overlay).convert("RGB")
    font = ImageFont.load_default(size=max(12, short // 14))
    text = ImageDraw.Draw(im)
    left, bottom = short // 20, h - short // 20
    text.text((left + 2, bottom + 2), picture.title, font=font, fill=(0, 0, 0), anchor="ls")  # a shadow
    text.text((left, bottom), picture.title, font=font, fill=(255, 255, 255), anchor="ls")
    out.parent.mkdir(parents=True, exist_ok=True)
    im.save(out, format="JPEG", quality=88)
    return out
