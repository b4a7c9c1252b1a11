"""BlurHash encoder (https://blurha.sh): a tiny DCT of an image, base83-encoded, for placeholders.

The standard algorithm of the reference C/Swift encoders, vectorised with NumPy: pixels go to
linear light through a 256-entry table, the cosine basis is separable, so all components come from
two matrix products instead of a loop per pixel and component. Feed it a small image (e.g. 64 px
on the long side): the hash only keeps a handful of frequencies, so more pixels buy nothing.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["BASE83", "encode", "encode_base83"]

BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"

_V = np.arange(256, dtype=np.float64) / 255.0
# sRGB byte → linear light, exactly the reference piecewise curve.
_SRGB_TO_LINEAR: NDArray[np.float64] = np.where(_V <= 0.04045, _V / 12.92, ((_V + 0.055) / 1.055) ** 2.4)


def encode_base83(value: int, length: int) -> str:
    """``value`` as ``length`` base83 digits, most significant first."""
    digits = []
    for _ in range(length):
        value, digit = divmod(value, 83)
        digits.append(BASE83[digit])
    return "".join(reversed(digits))


def encode(rgb: NDArray[np.uint8], x_components: int = 4, y_components: int = 3) -> str:
    """BlurHash of an ``(height, width, 3)`` uint8 sRGB array with the given component counts (1 to 9)."""
    if not (1 <= x_components <= 9 and 1 <= y_components <= 9):
        raise ValueError(f"blurhash components must be 1..9, got {x_components}x{y_components}")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"blurhash needs an (height, width, 3) uint8 array, got {rgb.shape} {rgb.dtype}")
    height, width = rgb.shape[:2]
    if width == 0 or height == 0:
        raise ValueError("blurhash needs a non-empty image")
    linear = _SRGB_TO_LINEAR[rgb]  # (h, w, 3)
    # Basis cos(pi * i * x / width): the reference samples at x, not x + 0.5; keep it for equal hashes.
    cos_x = np.cos(np.pi * np.outer(np.arange(x_components), np.arange(width)) / width)  # (cx, w)
    cos_y = np.cos(np.pi * np.outer(np.arange(y_components), np.arange(height)) / height)  # (cy, h)
    rows = (cos_y @ linear.reshape(height, width * 3)).reshape(y_components, width, 3)
    factors = np.einsum("ix,jxc->jic", cos_x, rows) / (width * height)  # (cy, cx, 3)
    factors[1:] *= 2.0  # every component but DC carries normalisation 2
    factors[0, 1:] *= 2.0
    flat = factors.reshape(-1, 3)
    dc, ac = flat[0], flat[1:]

    parts = [encode_base83((x_components - 1) + (y_components - 1) * 9, 1)]
    if len(ac):
        quantised_max = int(np.clip(np.floor(np.abs(ac).max() * 166 - 0.5), 0, 82))
        maximum = (quantised_max + 1) / 166
    else:
        quantised_max, maximum = 0, 1.0
    parts.append(encode_base83(quantised_max, 1))
    r, g, b = (_linear_to_srgb(float(c)) for c in dc)
    parts.append(encode_base83((r << 16) + (g << 8) + b, 4))
    if len(ac):
        scaled = ac / maximum
        quant = np.clip(np.floor(np.sign(scaled) * np.sqrt(np.abs(scaled)) * 9 + 9.5), 0, 18).astype(np.int64)
        for qr, qg, qb in quant.tolist():
            parts.append(encode_base83(qr * 361 + qg * 19 + qb, 2))
    return "".join(parts)


def _linear_to_srgb(value: float) -> int:
    v = min(1.0, max(0.0, value))
    srgb = v * 12.92 if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055
    return int(srgb * 255 + 0.5)
