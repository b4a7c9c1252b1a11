"""Generated sample media for ``make demo`` and tests: a short clip with audio and a scene cut, and a
photo carrying an EXIF orientation and GPS tags (which the photo pipeline must strip).

The clip is :func:`darkroom.media.synthetic.make_clip` (its ffmpeg command is built in
``darkroom/media``, like every other), re-exported here; the photo is made by Pillow.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from darkroom.media.synthetic import make_clip

__all__ = ["make_clip", "make_photo"]

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
