"""Video stills: poster frames and storyboard sprite sheets with their WebVTT track."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from darkroom.media.errors import InvalidMedia
from darkroom.media.ffmpeg import run
from darkroom.media.storyboard import poster, storyboard, vtt_timestamp

ClipFactory = Callable[..., Path]

_CUE = re.compile(
    r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})\n(\S+)#xywh=(\d+),(\d+),(\d+),(\d+)$"
)


def _cues(text: str) -> list[tuple[float, float, str, int, int, int, int]]:
    assert text.startswith("WEBVTT\n\n")
    cues = []
    for block in text.strip().split("\n\n")[1:]:
        m = _CUE.match(block)
        assert m, block
        g = m.groups()
        start = int(g[0]) * 3600 + int(g[1]) * 60 + int(g[2]) + int(g[3]) / 1000
        end = int(g[4]) * 3600 + int(g[5]) * 60 + int(g[6]) + int(g[7]) / 1000
        cues.append((start, end, g[8], int(g[9]), int(g[10]), int(g[11]), int(g[12])))
    return cues


def _luma(path: Path) -> float:
    with Image.open(path) as im:
        return float(np.asarray(im.convert("L")).mean())


def test_storyboard_cues_cover_the_clip_and_point_inside_the_sheets(clip: ClipFactory, tmp_path: Path) -> None:
    video = clip(seconds=5, audio=False)
    board = storyboard(video, tmp_path, interval_s=1, columns=4, rows=1)
    assert board.tiles == 5 and (board.columns, board.rows) == (4, 1)
    assert [p.name for p in board.sheets] == ["storyboard-001.jpg", "storyboard-002.jpg"]  # 4 + 1 tiles
    assert (board.tile_width, board.tile_height) == (160, 90)
    cues = _cues(board.vtt.read_text())
    assert len(cues) == board.tiles
    assert cues[0][0] == 0.0
    for (_, end, *_), (start, *_) in itertools.pairwise(cues):
        assert end == start  # no gaps, no overlaps
    assert cues[-1][1] == pytest.approx(board.duration_s, abs=0.001)
    assert board.duration_s == pytest.approx(5.0, abs=0.1)
    for _, _, name, x, y, w, h in cues:
        with Image.open(tmp_path / name) as sheet:
            assert x + w <= sheet.width and y + h <= sheet.height
            assert (w, h) == (160, 90)
    assert [c[3:5] for c in cues[:5]] == [(0, 0), (160, 0), (320, 0), (480, 0), (0, 0)]


def test_storyboard_defaults_and_rerun(clip: ClipFactory, tmp_path: Path) -> None:
    video = clip(seconds=2, audio=False)
    long_run = storyboard(video, tmp_path, interval_s=0.5, columns=1, rows=1)  # 4 sheets of one tile
    assert len(long_run.sheets) == 4
    board = storyboard(video, tmp_path)  # default interval: 1 s for short clips
    assert board.interval_s == 1.0 and board.tiles == 2 and (board.columns, board.rows) == (2, 1)
    with Image.open(board.sheets[0]) as sheet:
        assert sheet.size == (320, 90)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(before) == ["storyboard-001.jpg", "storyboard.vtt"]  # stale sheets and scratch gone
    assert storyboard(video, tmp_path) == board
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_poster_skips_a_black_start(clip: ClipFactory, tmp_path: Path) -> None:
    video = clip(seconds=3, audio=False, vf="fade=t=in:st=2:d=0.1")  # black for the first 2 s
    first = tmp_path / "first.jpg"
    run(["-i", str(video), "-frames:v", "1", str(first)], timeout_s=30)
    assert _luma(first) < 20
    result = poster(video, tmp_path / "poster.jpg")
    assert result.at_s >= 2.0
    assert _luma(result.path) > 60
    assert (result.width, result.height) == (320, 180)
    assert result.size_bytes == result.path.stat().st_size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.jpg", "poster.jpg"]


def test_poster_at_a_time_and_limits(clip: ClipFactory, tmp_path: Path) -> None:
    video = clip(seconds=2, audio=False, size="640x360")
    result = poster(video, tmp_path / "p.jpg", at_s=1.2, max_width=320)
    assert result.at_s == pytest.approx(1.2, abs=0.05)
    assert (result.width, result.height) == (320, 180)
    with pytest.raises(ValueError, match="outside"):
        poster(video, tmp_path / "late.jpg", at_s=9.0)
    anamorphic = clip(seconds=1, audio=False, size="160x180", vf="setsar=2")  # displays as 320x180
    assert (poster(anamorphic, tmp_path / "a.jpg").width, 180) == (320, 180)


def test_poster_of_an_all_black_clip_still_succeeds(clip: ClipFactory, tmp_path: Path) -> None:
    video = clip(seconds=1, audio=False, pattern="color")  # lavfi color defaults to black
    result = poster(video, tmp_path / "p.jpg")
    assert _luma(result.path) < 20 and result.width == 320


def test_bad_inputs_are_typed(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "text.mp4"
    text.write_bytes(b"not a video" * 100)
    audio = tmp_path / "audio.m4a"
    run(["-f", "lavfi", "-i", "sine=duration=0.5", "-c:a", "aac", str(audio)], timeout_s=30)
    for path, code in [(empty, "empty"), (text, "unreadable"), (audio, "no_video")]:
        for call in (lambda p: poster(p, tmp_path / "x.jpg"), lambda p: storyboard(p, tmp_path / "sb")):
            with pytest.raises(InvalidMedia) as caught:
                call(path)
            assert caught.value.code == code and path.name in str(caught.value)
    assert not (tmp_path / "x.jpg").exists() and not (tmp_path / "sb").exists()


def test_vtt_timestamp() -> None:
    assert vtt_timestamp(0) == "00:00:00.000"
    assert vtt_timestamp(3723.4567) == "01:02:03.457"


def test_storyboard_refuses_absurd_layouts(clip: ClipFactory, tmp_path: Path) -> None:
    video = clip(seconds=2, audio=False)
    with pytest.raises(ValueError, match="at most"):
        storyboard(video, tmp_path, interval_s=0.0005)
    with pytest.raises(ValueError, match="layout"):
        storyboard(video, tmp_path, columns=0)
