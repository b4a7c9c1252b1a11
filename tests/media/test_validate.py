from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from darkroom.media.encode import audio_args, encode, encode_ladder, video_args
from darkroom.media.ffmpeg import run
from darkroom.media.probe import MediaInfo, probe
from darkroom.media.recipe import AudioRecipe, Recipe
from darkroom.media.validate import CODES, Discrepancy, validate
from tests.media.conftest import ClipFactory

_GOOD = Recipe(
    "h264", 320, 180, crf=28, maxrate_kbps=800, profile="high", preset="veryfast", gop_s=1, segment_s=1,
    audio=AudioRecipe("aac", 64, 2), name="good",
)  # fmt: skip


@pytest.fixture(scope="module")
def files(clip: ClipFactory, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, MediaInfo]:
    """A good encode and one with 0.2 s GOPs, from one decode of a 2 s clip."""
    root = tmp_path_factory.mktemp("validate")
    source = clip(seconds=2)
    good, short_gop = root / "good.mp4", root / "gop.mp4"
    encode_ladder(source, [(good, _GOOD), (short_gop, replace(_GOOD, gop_s=0.2))], timeout_s=60)
    return good, short_gop, probe(source)


def _codes(found: list[Discrepancy]) -> set[str]:
    assert all(d.code in CODES and d.message for d in found)
    return {d.code for d in found}


def test_good_encode_is_valid(files: tuple[Path, Path, MediaInfo]) -> None:
    good, _, source = files
    assert validate(good, _GOOD, source, timeout_s=30) == []


def test_wrong_resolution(files: tuple[Path, Path, MediaInfo]) -> None:
    good, _, source = files
    found = validate(good, replace(_GOOD, width=160, height=90), source, decode=False, timeout_s=30)
    assert _codes(found) == {"resolution"}
    assert (found[0].expected, found[0].actual) == ("160x90", "320x180")


def test_bitrate_way_off(files: tuple[Path, Path, MediaInfo]) -> None:
    good, _, source = files
    abr = replace(_GOOD, crf=None, bitrate_kbps=20_000, maxrate_kbps=None, bufsize_kbps=None)
    assert _codes(validate(good, abr, source, decode=False, timeout_s=30)) == {"bitrate_off_target"}
    capped = replace(_GOOD, maxrate_kbps=20, bufsize_kbps=40)
    assert _codes(validate(good, capped, source, decode=False, timeout_s=30)) == {"bitrate_over_cap"}


def test_wrong_keyint(files: tuple[Path, Path, MediaInfo]) -> None:
    good, short_gop, source = files
    found = validate(short_gop, _GOOD, source, decode=False, timeout_s=30)
    assert _codes(found) == {"keyframe_extra"}
    # a recipe with shorter GOPs than the file: the keyframes it expects are missing
    assert _codes(validate(good, replace(_GOOD, gop_s=0.2), source, decode=False, timeout_s=30)) == {"keyframe_missing"}


def test_truncated_file(files: tuple[Path, Path, MediaInfo], tmp_path: Path) -> None:
    good, _, source = files
    cut = tmp_path / "cut.mp4"
    data = good.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])  # moov is in front (faststart): the index survives
    codes = _codes(validate(cut, _GOOD, source, timeout_s=30))
    assert {"not_decodable", "frame_count"} <= codes


def test_wrong_codec_and_wrong_audio_channels(files: tuple[Path, Path, MediaInfo]) -> None:
    good, _, source = files
    hevc = replace(_GOOD, codec="hevc", profile=None, preset="fast")
    assert "codec" in _codes(validate(good, hevc, source, decode=False, timeout_s=30))
    stereo6 = replace(_GOOD, audio=AudioRecipe("aac", 64, 6))
    assert _codes(validate(good, stereo6, source, decode=False, timeout_s=30)) == {"audio_channels"}


def test_unreadable(tmp_path: Path, files: tuple[Path, Path, MediaInfo]) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert _codes(validate(empty, _GOOD, files[2], timeout_s=30)) == {"unreadable"}


def test_audio_out_of_sync(files: tuple[Path, Path, MediaInfo], tmp_path: Path) -> None:
    good, _, source = files
    shifted = tmp_path / "shifted.mp4"
    args = ["-i", str(good), "-itsoffset", "0.3", "-i", str(good), "-map", "0:v", "-map", "1:a", "-c", "copy"]
    run([*args, str(shifted)], timeout_s=30)
    found = validate(shifted, _GOOD, source, decode=False, timeout_s=30)
    assert _codes(found) == {"av_sync"}
    assert "start_s" in {d.field for d in found}


# One check at a time: each case pairs an encode that breaks exactly that check with one that keeps
# it, both validated (with the full decode) against the same recipe and source.
_BASE = Recipe(
    "h264", 160, 90, crf=30, profile="main", preset="veryfast", gop_s=1, segment_s=1,
    audio=AudioRecipe("aac", 64, 2), name="base",
)  # fmt: skip
_TEN_BIT = replace(_BASE, profile="high10", pix_fmt="yuv420p10le", name="ten")
# frame_rate tolerates 0.01 fps and frame_count one frame, so a drift that only duration catches
# needs more than 100 s: 120 frames at 1 fps keep that cheap.
_SLOW = Recipe("h264", 32, 18, crf=30, profile="main", preset="veryfast", gop_s=60, segment_s=60, name="slow")
# The same in VP9/WebM: Matroska keeps no stream duration, so the packets must tell it.
_SLOW_VP9 = Recipe("vp9", 32, 18, crf=30, preset="8", gop_s=60, segment_s=60, name="slowvp9")


@dataclass(frozen=True)
class _Variants:
    files: dict[str, Path]
    sources: dict[str, MediaInfo]


@pytest.fixture(scope="module")
def variants(clip: ClipFactory, tmp_path_factory: pytest.TempPathFactory) -> _Variants:
    """Encodes of a 2 s 160x90 clip (and of a 120 s 1 fps one) that differ in one respect each."""
    root = tmp_path_factory.mktemp("validate_one")
    source, slow = clip(seconds=2, size="160x90"), clip(seconds=120, size="32x18", fps=1, audio=False)
    files = {name: root / f"{name}.mp4" for name in ("main", "high", "ten", "mute", "ntsc", "slow", "drift")}
    files |= {name: root / f"{name}.webm" for name in ("slow_vp9", "drift_vp9")}
    encode_ladder(
        source,
        [(files["main"], _BASE), (files["high"], replace(_BASE, profile="high")), (files["ten"], _TEN_BIT),
         (files["mute"], replace(_BASE, audio=None))],
        timeout_s=60,
    )  # fmt: skip
    # -r before -i retimes the input: the same 50 frames at 24.975 fps (2.002 s, within one frame)
    run(["-r", "25000/1001", "-i", str(source), *video_args(_BASE, 25.0), *audio_args(_BASE.audio),
         str(files["ntsc"])], timeout_s=60)  # fmt: skip
    encode(slow, files["slow"], _SLOW, timeout_s=60)
    # 1.009 fps is within 0.01 fps of the source, but its 120 frames end 1.07 s early (a frame is 1 s)
    run(["-r", "1009/1000", "-i", str(slow), *video_args(_SLOW, 1.0), "-an", str(files["drift"])], timeout_s=60)
    encode(slow, files["slow_vp9"], _SLOW_VP9, timeout_s=60)
    run(["-r", "1009/1000", "-i", str(slow), *video_args(_SLOW_VP9, 1.0), "-an", str(files["drift_vp9"])],
        timeout_s=60)  # fmt: skip
    return _Variants(files, {"clip": probe(source), "slow": probe(slow)})


@dataclass(frozen=True)
class _Case:
    code: str
    bad: str  # the encode that breaks the check (a key of _Variants.files)
    good: str  # an encode that keeps it
    recipe: Recipe
    source: str  # a key of _Variants.sources
    expected: str
    actual: str
    named: tuple[str, ...]  # what the message must mention


_CASES = (
    _Case("profile", "high", "main", _BASE, "clip", "main", "high", ("profile high", "not main")),
    # 8-bit where 10-bit was asked (a 10-bit file against _BASE would also break the profile: High 10 > main)
    _Case("pix_fmt", "main", "ten", _TEN_BIT, "clip", "yuv420p10le", "yuv420p", ("(8-bit)", "asks yuv420p10le")),
    _Case("frame_rate", "ntsc", "main", _BASE, "clip", "25.000", "24.975", ("24.975 fps", "25.000")),
    _Case("duration", "drift", "slow", _SLOW, "slow", "120.000", "118.930", ("118.930s", "120.000s")),
    _Case("duration", "drift_vp9", "slow_vp9", _SLOW_VP9, "slow", "120.000", "118.930", ("118.930s", "120.000s")),
    _Case("no_audio", "mute", "main", _BASE, "clip", "aac", "none", ("no audio", "asks aac")),
)


@pytest.mark.parametrize("case", _CASES, ids=lambda case: f"{case.code}-{case.bad}")
def test_one_check_broken(variants: _Variants, case: _Case) -> None:
    source = variants.sources[case.source]
    found = validate(variants.files[case.bad], case.recipe, source, timeout_s=30)
    assert _codes(found) == {case.code}
    [broken] = found
    assert (broken.expected, broken.actual) == (case.expected, case.actual)
    assert all(part in broken.message for part in case.named), broken.message
    assert validate(variants.files[case.good], case.recipe, source, timeout_s=30) == []


def test_h264_profile_is_a_ceiling(variants: _Variants) -> None:
    """A Main encode plays wherever High does: not reported against a High recipe (only higher is)."""
    high = replace(_BASE, profile="high")
    assert validate(variants.files["main"], high, variants.sources["clip"], decode=False, timeout_s=30) == []
