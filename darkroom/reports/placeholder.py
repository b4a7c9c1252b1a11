"""A BlurHash decoded to a small PNG, so the report shows the placeholder a feed would paint.

The reference decoder's arithmetic (https://blurha.sh), vectorised: the DC and AC components are
read from base83, and the picture is their separable cosine sum converted back to sRGB.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from darkroom.media.blurhash import BASE83
from darkroom.reports.errors import InvalidReportData

__all__ = ["blurhash_png"]

_DIGITS = {c: i for i, c in enumerate(BASE83)}


def _base83(text: str, blurhash: str) -> int:
    value = 0
    for char in text:
        if char not in _DIGITS:
            raise InvalidReportData(f"blurhash {blurhash!r}: {char!r} is not a base83 digit")
        value = value * 83 + _DIGITS[char]
    return value


def _linear(byte: int) -> float:
    v = byte / 255.0
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def blurhash_png(blurhash: str, *, width: int = 64, height: int = 48) -> bytes:
    """The PNG (``width`` x ``height``) that ``blurhash`` describes; a malformed hash raises
    :class:`InvalidReportData` naming it."""
    if len(blurhash) < 6:
        raise InvalidReportData(f"blurhash {blurhash!r} is shorter than 6 characters")
    size = _base83(blurhash[0], blurhash)
    nx, ny = size % 9 + 1, size // 9 + 1
    if len(blurhash) != 4 + 2 * nx * ny:
        raise InvalidReportData(f"blurhash {blurhash!r}: {len(blurhash)} characters, expected {4 + 2 * nx * ny}")
    max_ac = (_base83(blurhash[1], blurhash) + 1) / 166.0
    dc = _base83(blurhash[2:6], blurhash)
    colors = np.zeros((ny * nx, 3))
    colors[0] = [_linear(dc >> 16), _linear((dc >> 8) & 255), _linear(dc & 255)]
    for i in range(1, nx * ny):
        value = _base83(blurhash[4 + 2 * i : 6 + 2 * i], blurhash)
        quant = np.array([value // (19 * 19), (value // 19) % 19, value % 19], dtype=np.float64)
        q = (quant - 9.0) / 9.0
        colors[i] = np.sign(q) * q**2 * max_ac
    basis_x = np.cos(math.pi * np.outer(np.arange(width), np.arange(nx)) / width)  # (w, nx)
    basis_y = np.cos(math.pi * np.outer(np.arange(height), np.arange(ny)) / height)  # (h, ny)
    grid = colors.reshape(ny, nx, 3)
    linear = np.einsum("yj,xi,jic->yxc", basis_y, basis_x, grid)
    v = np.clip(linear, 0.0, 1.0)
    srgb = np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)
    pixels = np.clip(np.round(srgb * 255.0), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="PNG", optimize=True)
    return buf.getvalue()
