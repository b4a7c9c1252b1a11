"""Recipes: what one rendition is encoded into, validated once and carried as JSON in task payloads.

A :class:`Recipe` is codec + profile + size + rate control + speed + GOP + pixel format (+ audio).
Defaults that depend on other fields (profile, preset, VBV sizes) are resolved at construction so
the JSON form is explicit. Rules and the default ladder are explained in ``docs/media.md``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from darkroom.media.errors import InvalidMedia, UnsupportedMedia

__all__ = ["AUDIO_CODECS", "CODECS", "DEFAULT_AUDIO", "DEFAULT_LADDER", "AudioRecipe", "Recipe", "fit_ladder"]

CODECS = ("h264", "hevc", "vp9", "av1")
AUDIO_CODECS = ("aac", "opus")
_PIX_FMTS = ("yuv420p", "yuv420p10le")
_X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
# codec -> (allowed presets, default preset, CRF range, 8-bit profiles, 10-bit profiles)
_RULES: dict[str, tuple[tuple[str, ...], str, int, tuple[str, ...], tuple[str, ...]]] = {
    "h264": (_X26X_PRESETS, "medium", 51, ("high", "main", "baseline"), ("high10",)),
    "hevc": (_X26X_PRESETS, "medium", 51, ("main",), ("main10",)),
    "vp9": (tuple(str(i) for i in range(9)), "4", 63, ("0",), ("2",)),  # libvpx cpu-used; VP9 profile 0/2
    "av1": (tuple(str(i) for i in range(14)), "8", 63, ("main",), ("main",)),  # SVT-AV1 preset
}
_VBV_INIT = 0.9  # x264/x265 default initial VBV fullness: what an encode may spend beyond the cap
_NAME = re.compile(r"^[A-Za-z0-9_.-]{0,32}$")
_MAX_SIDE = 8192


def _bad(field: str, value: object, why: str) -> InvalidMedia:
    return InvalidMedia(f"recipe {field}={value!r}: {why}", code="bad_recipe")


def _int(field: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(field, value, "must be an integer")
    if not low <= value <= high:
        raise _bad(field, value, f"must be in [{low}, {high}]")
    return value


@dataclass(frozen=True)
class AudioRecipe:
    """Audio of a rendition (or the separate audio rendition): codec, bitrate, channels; 48 kHz."""

    codec: str = "aac"
    bitrate_kbps: int = 128
    channels: int = 2

    def __post_init__(self) -> None:
        if self.codec not in AUDIO_CODECS:
            raise UnsupportedMedia(
                f"recipe audio.codec={self.codec!r}: must be one of {', '.join(AUDIO_CODECS)}", code="bad_recipe"
            )
        _int("audio.bitrate_kbps", self.bitrate_kbps, 16, 1024)
        if self.channels not in (1, 2, 6):
            raise _bad("audio.channels", self.channels, "must be 1, 2 or 6")


@dataclass(frozen=True)
class Recipe:
    """One rendition. Exactly one of ``crf`` (optionally capped by ``maxrate_kbps``/``bufsize_kbps``)
    or ``bitrate_kbps`` (single-pass ABR, VBV defaults to 1.5x maxrate and a 2x maxrate buffer).

    ``gop_s`` must divide ``segment_s`` so every segment starts on a keyframe; ``profile`` and
    ``preset`` default per codec (``None``); ``pix_fmt`` must match the profile's bit depth.
    """

    codec: str
    width: int
    height: int
    crf: int | None = None
    bitrate_kbps: int | None = None
    maxrate_kbps: int | None = None
    bufsize_kbps: int | None = None
    profile: str | None = None
    preset: str | None = None
    gop_s: float = 2.0
    segment_s: float = 4.0
    pix_fmt: str = "yuv420p"
    audio: AudioRecipe | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.codec not in _RULES:
            raise UnsupportedMedia(
                f"recipe codec={self.codec!r}: must be one of {', '.join(CODECS)}", code="bad_recipe"
            )
        presets, default_preset, max_crf, profiles8, profiles10 = _RULES[self.codec]
        for side in ("width", "height"):
            value = _int(side, getattr(self, side), 16, _MAX_SIDE)
            if value % 2:
                raise _bad(side, value, "must be even (4:2:0 chroma)")
        if self.pix_fmt not in _PIX_FMTS:
            raise _bad("pix_fmt", self.pix_fmt, f"must be one of {', '.join(_PIX_FMTS)}")
        ten_bit = self.pix_fmt == "yuv420p10le"
        allowed = profiles10 if ten_bit else profiles8
        profile = self.profile if self.profile is not None else allowed[0]
        if profile not in allowed:
            raise _bad("profile", profile, f"{self.codec} with {self.pix_fmt} takes {', '.join(allowed)}")
        preset = self.preset if self.preset is not None else default_preset
        if preset not in presets:
            raise _bad("preset", preset, f"{self.codec} takes {', '.join(presets)}")
        self._resolve_rate(max_crf)
        for field, seconds in (("gop_s", self.gop_s), ("segment_s", self.segment_s)):
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0.1 <= seconds <= 60:
                raise _bad(field, seconds, "must be seconds in [0.1, 60]")
        ratio = self.segment_s / self.gop_s
        if abs(ratio - round(ratio)) > 1e-6 or round(ratio) < 1:
            raise _bad("gop_s", self.gop_s, f"must divide segment_s={self.segment_s:g} so segments start on keyframes")
        if self.audio is not None and not isinstance(self.audio, AudioRecipe):
            raise _bad("audio", self.audio, "must be an AudioRecipe or None")
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise _bad("name", self.name, "must be up to 32 of A-Z a-z 0-9 _ . -")
        object.__setattr__(self, "profile", profile)
        object.__setattr__(self, "preset", preset)

    def _resolve_rate(self, max_crf: int) -> None:
        if (self.crf is None) == (self.bitrate_kbps is None):
            raise _bad("crf", self.crf, "give exactly one of crf or bitrate_kbps")
        maxrate = self.maxrate_kbps
        if self.crf is not None:
            _int("crf", self.crf, 0, max_crf)
        else:
            bitrate = _int("bitrate_kbps", self.bitrate_kbps, 16, 200_000)
            maxrate = maxrate if maxrate is not None else math.ceil(bitrate * 1.5)
            if _int("maxrate_kbps", maxrate, 16, 300_000) < bitrate:
                raise _bad("maxrate_kbps", maxrate, f"must be >= bitrate_kbps={bitrate}")
        if maxrate is None:
            if self.bufsize_kbps is not None:
                raise _bad("bufsize_kbps", self.bufsize_kbps, "needs maxrate_kbps")
            return
        _int("maxrate_kbps", maxrate, 16, 300_000)
        bufsize = self.bufsize_kbps if self.bufsize_kbps is not None else 2 * maxrate
        _int("bufsize_kbps", bufsize, 16, 1_200_000)
        object.__setattr__(self, "maxrate_kbps", maxrate)
        object.__setattr__(self, "bufsize_kbps", bufsize)

    def keyint(self, fps: float) -> int:
        """Frames per GOP at ``fps`` (a whole number of GOPs makes one segment)."""
        if not fps > 0:
            raise InvalidMedia(f"frame rate {fps!r} must be positive to place keyframes", code="bad_fps")
        return max(1, round(self.gop_s * fps))

    def for_duration(self, duration_s: float | None) -> Recipe:
        """This recipe as the encoder should get it for ``duration_s`` of video: a capped CRF
        recipe's VBV is scaled so the encode's *average* stays within ``maxrate_kbps``.

        An encoder's VBV starts ~90 % full (x264/x265 ``vbv-init``), so over ``D`` seconds it may
        spend ``maxrate x D + 0.9 x bufsize``: a 7.6 s title capped at 800 kb/s with a 1600 kbit
        buffer averaged 868 kb/s. Scaling maxrate and bufsize by ``D / (D + 0.9 x bufsize /
        maxrate)`` bounds the average by the cap; the factor tends to 1 for long titles. ABR
        recipes (their target sets the average), uncapped ones and unknown lengths are unchanged."""
        if self.crf is None or self.maxrate_kbps is None or self.bufsize_kbps is None:
            return self
        if duration_s is None or not duration_s > 0:
            return self
        scale = duration_s / (duration_s + _VBV_INIT * self.bufsize_kbps / self.maxrate_kbps)
        return replace(self, maxrate_kbps=max(16, math.floor(self.maxrate_kbps * scale)),
                       bufsize_kbps=max(16, math.floor(self.bufsize_kbps * scale)))  # fmt: skip

    @property
    def ten_bit(self) -> bool:
        return self.pix_fmt == "yuv420p10le"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        """Inverse of :meth:`to_dict`; unknown keys are refused (they are likely typos)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise _bad(unknown[0], data[unknown[0]], "is not a recipe field")
        values = dict(data)
        audio = values.get("audio")
        if isinstance(audio, Mapping):
            extra = sorted(set(audio) - {f.name for f in fields(AudioRecipe)})
            if extra:
                raise _bad(f"audio.{extra[0]}", audio[extra[0]], "is not an audio recipe field")
            values["audio"] = AudioRecipe(**audio)
        for required in ("codec", "width", "height"):
            if required not in values:
                raise _bad(required, None, "is required")
        return cls(**values)


DEFAULT_AUDIO = AudioRecipe("aac", 128, 2)


def _rung(name: str, width: int, height: int, maxrate_kbps: int) -> Recipe:
    return Recipe("h264", width, height, crf=23, maxrate_kbps=maxrate_kbps, profile="high", name=name)


# Fixed H.264 ladder, 16:9 boxes: CRF 23 keeps easy content cheap, the VBV cap bounds hard content
# for players' bandwidth estimates. Audio is a separate rendition (DEFAULT_AUDIO).
DEFAULT_LADDER: tuple[Recipe, ...] = (
    _rung("1080p", 1920, 1080, 5000),
    _rung("720p", 1280, 720, 3000),
    _rung("480p", 854, 480, 1500),
    _rung("360p", 640, 360, 800),
    _rung("240p", 426, 240, 300),
)


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))


def fit_ladder(ladder: Sequence[Recipe], source_width: int, source_height: int) -> list[Recipe]:
    """Fit each rung's box to the source's display size: keep aspect, never upscale.

    Rungs whose box would upscale are dropped (a box is swapped for portrait sources), sizes that
    repeat are dropped, and a source smaller than every box gets the lowest rung at its own size.
    """
    if source_width <= 0 or source_height <= 0:
        raise InvalidMedia(f"source size {source_width}x{source_height} is not a picture", code="bad_size")
    portrait = source_height > source_width
    fitted: list[Recipe] = []
    seen: set[tuple[int, int]] = set()
    for rung in ladder:
        box_w, box_h = (rung.height, rung.width) if portrait else (rung.width, rung.height)
        scale = min(box_w / source_width, box_h / source_height)
        if scale > 1.0 + 1e-9:
            continue
        size = (_even(source_width * scale), _even(source_height * scale))
        if size in seen:
            continue
        seen.add(size)
        fitted.append(replace(rung, width=max(16, size[0]), height=max(16, size[1])))
    if not fitted and ladder:
        lowest = min(ladder, key=lambda r: r.width * r.height)
        size = (max(16, _even(source_width)), max(16, _even(source_height)))
        fitted.append(replace(lowest, width=min(size[0], _MAX_SIDE), height=min(size[1], _MAX_SIDE)))
    return fitted
