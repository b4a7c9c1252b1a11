from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from darkroom.media.encode import encode_ladder
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


def test_wrong_codec_and_missing_audio(files: tuple[Path, Path, MediaInfo]) -> None:
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
