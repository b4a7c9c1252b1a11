"""Colour management for photos: any Pillow mode and ICC profile to 8-bit sRGB RGB or RGBA."""

from __future__ import annotations

import io
from functools import cache

import numpy as np
from PIL import Image, ImageCms

__all__ = ["to_srgb"]


def to_srgb(im: Image.Image) -> Image.Image:
    """RGB or RGBA in sRGB; alpha dropped when fully opaque."""
    if im.mode.startswith("I") or im.mode == "F":  # 16/32-bit grey: Pillow clips these, so scale
        arr = np.asarray(im, dtype=np.float64)
        top = 1.0 if im.mode == "F" and arr.max() <= 1.0 else (65535.0 if arr.max() > 255 else 255.0)
        im = Image.fromarray(np.clip(arr * (255.0 / top) + 0.5, 0, 255).astype(np.uint8))
    elif im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    icc = im.info.get("icc_profile")
    if icc and im.mode in ("RGB", "RGBA", "CMYK"):
        im = _apply_icc(im, icc)
    has_alpha = im.mode in ("RGBA", "LA", "PA", "La", "RGBa")
    target = "RGBA" if has_alpha else "RGB"
    if im.mode != target:
        im = im.convert(target)  # an unconvertible mode (LAB…) raises ValueError: "corrupt" upstream
    if has_alpha and im.getchannel("A").getextrema() == (255, 255):
        im = im.convert("RGB")
    return im


def _apply_icc(im: Image.Image, icc: bytes) -> Image.Image:
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if im.mode != "CMYK" and "srgb" in ImageCms.getProfileDescription(src).lower():
            return im  # already sRGB: skip a costly identity transform
        out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(im, src, _srgb_profile(), outputMode=out_mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return im  # a broken profile: fall back to the numbers as they are (treated as sRGB)
    assert converted is not None
    return converted


@cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
