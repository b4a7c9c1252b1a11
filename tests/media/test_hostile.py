"""The hostile corpus (tests/media/corpus, made by make_corpus.py): every file ends in a typed error
or a rejected inspection carrying its specific issue code, quickly, and leaves no files behind."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

import darkroom.media.probe as probe_module
from darkroom.media.errors import InvalidMedia
from darkroom.media.inspection import TitleProfile, inspect
from darkroom.media.probe import detect_kind, probe

CORPUS = Path(__file__).parent / "corpus"
PROFILE = TitleProfile(min_height=90)  # the corpus clips are 160x90
BUDGET_S = 10.0

REJECTED = {
    "empty.mp4": "empty",
    "truncated.mp4": "truncated",
    "truncated_no_index.mp4": "unreadable",
    "photo_named.mp4": "wrong_kind",
    "audio_only.m4a": "no_video",
    "bomb.png": "decompression_bomb",
    "corrupt_packets.ts": "decode_errors",
    "unsupported_codec.mp4": "unsupported_codec",
    "zero_fps.mp4": "zero_fps",
}
PROBE_ERRORS = {"empty.mp4": "empty", "truncated_no_index.mp4": "unreadable", "bomb.png": "decompression_bomb"}


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private temp directory for this process and its ffmpeg children; it must stay empty."""
    private = tmp_path / "scratch"
    private.mkdir()
    monkeypatch.setenv("TMPDIR", str(private))
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    corpus_before = sorted(CORPUS.iterdir())
    yield private
    assert list(private.iterdir()) == []
    assert sorted(CORPUS.iterdir()) == corpus_before


def test_the_corpus_is_complete_and_small() -> None:
    files = {p.name: p.stat().st_size for p in CORPUS.iterdir() if p.suffix != ".py"}
    assert set(files) == {*REJECTED, "video_named.jpg"}
    assert max(files.values()) < 100_000 and sum(files.values()) < 500_000


@pytest.mark.parametrize(("name", "code"), REJECTED.items())
def test_rejected_with_its_reason(scratch: Path, name: str, code: str) -> None:
    started = time.monotonic()
    result = inspect(CORPUS / name, PROFILE, timeout_s=BUDGET_S)
    assert time.monotonic() - started < BUDGET_S
    assert result.verdict == "rejected"
    errors = {i.code: i.message for i in result.issues if i.severity == "error"}
    assert code in errors, result.issues
    assert errors[code]  # every rejection says why


@pytest.mark.parametrize(("name", "code"), PROBE_ERRORS.items())
def test_probe_raises_typed_errors_naming_the_file(name: str, code: str) -> None:
    for call in (probe, detect_kind):
        with pytest.raises(InvalidMedia) as caught:
            call(CORPUS / name)
        assert caught.value.code == code and name in str(caught.value)


def test_the_bomb_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded or demuxed a decompression bomb")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr(probe_module.av, "open", no_decoding)
    with pytest.raises(InvalidMedia) as caught:
        probe(CORPUS / "bomb.png")
    assert caught.value.code == "decompression_bomb"


def test_wrong_extensions_are_detected_by_content(scratch: Path) -> None:
    assert detect_kind(CORPUS / "video_named.jpg") == "video"
    assert detect_kind(CORPUS / "photo_named.mp4") == "photo"
    assert detect_kind(CORPUS / "audio_only.m4a") == "audio"
    assert inspect(CORPUS / "video_named.jpg", PROFILE, timeout_s=BUDGET_S).verdict == "accepted"


def test_truncation_is_measured() -> None:
    result = inspect(CORPUS / "truncated.mp4", PROFILE, timeout_s=BUDGET_S)
    message = next(i.message for i in result.issues if i.code == "truncated")
    assert message.startswith("the file is truncated: 1.2 s of 4.0 s decodable")


def test_unsupported_codec_is_demuxed_but_not_decodable() -> None:
    video = probe(CORPUS / "unsupported_codec.mp4").primary_video
    assert video is not None
    assert (video.codec, video.decodable, video.frame_count) == ("unknown", False, 25)


def test_zero_fps_really_is_zero() -> None:
    video = probe(CORPUS / "zero_fps.mp4").primary_video
    assert video is not None
    assert (video.avg_frame_rate, video.r_frame_rate, video.frame_rate) == (0.0, 0.0, 0.0)


def test_corrupt_packets_are_counted() -> None:
    result = inspect(CORPUS / "corrupt_packets.ts", PROFILE, timeout_s=BUDGET_S)
    assert result.analysis is not None and result.analysis.decode_errors >= 3
    assert "truncated" not in result.codes  # damaged in the middle, complete to the end
