"""Variable-rate sources: one constant output rate, the same grid for a whole encode and its chunks,
validation against that rate. Generated clips for speed, plus the real phone clip."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from darkroom.media.assemble import assemble
from darkroom.media.encode import encode, encode_ladder
from darkroom.media.framerate import choose_rate
from darkroom.media.header import video_header
from darkroom.media.probe import probe
from darkroom.media.quality import measure
from darkroom.media.recipe import Recipe
from darkroom.media.validate import validate
from tests.media.conftest import ClipFactory

TB = Fraction(1, 90000)


@pytest.mark.parametrize(
    ("avg", "base", "steps", "expected"),
    [
        # constant: the source's own rate, exactly
        (Fraction(30000, 1001), Fraction(30000, 1001), [3003] * 100, Fraction(30000, 1001)),
        (Fraction(25), Fraction(25), [3600] * 100, Fraction(25)),
        (Fraction(10), Fraction(10), [9000] * 100, Fraction(10)),  # odd but constant: kept
        # the real phone clip's shape: one 184 ms first frame, then 30.01 fps (2999 ticks)
        (Fraction(369000, 13657), Fraction(90000, 2999), [16610] + [2999] * 39, Fraction(30)),
        # low light: mostly 24-ish intervals with jitter
        (Fraction(23), Fraction(30), [3700, 3800, 3750, 3900, 3000] * 20, Fraction(24)),
        # 240 fps slow motion is delivered at 60
        (Fraction(200), Fraction(240), [375] * 50 + [1000] * 10, Fraction(60)),
        # a variable-rate slide show keeps its median rate
        (Fraction(1), Fraction(2), [90000] * 10 + [45000] * 5, Fraction(1)),
    ],
)
def test_the_output_rate_is_chosen_from_the_source(
    avg: Fraction, base: Fraction, steps: list[int], expected: Fraction
) -> None:
    rate = choose_rate(avg, base, steps, TB)
    assert rate.fps == expected
    assert rate.variable == (avg != base)
    assert rate.reason.startswith("variable" if rate.variable else "constant")
    assert f"{float(expected):.3f}" in rate.reason


def _gray(path: Path) -> list[tuple[float, np.ndarray]]:
    with av.open(str(path)) as container:
        return [(float(f.time or 0), f.to_ndarray(format="gray").astype(float)) for f in container.decode(video=0)]


def _source_indices(path: Path, source: list[tuple[float, np.ndarray]]) -> list[int]:
    """Which source frame each frame of ``path`` shows (the nearest picture)."""
    return [int(np.argmin([np.mean((g - s) ** 2) for _, s in source])) for _, g in _gray(path)]


def _grid(source: list[tuple[float, np.ndarray]], fps: Fraction, frames: int) -> list[int]:
    """The fps filter's choice: each frame goes to its nearest tick (halves up); a tick shows the
    last frame placed at or before it."""
    ticks = [math.floor(t * fps + Fraction(1, 2)) for t, _ in source]
    return [max((i for i, t in enumerate(ticks) if t <= k), default=0) for k in range(frames)]


def test_a_vfr_source_is_encoded_at_one_constant_rate_and_chunks_keep_its_grid(vfr_clip: Path, tmp_path: Path) -> None:
    info = probe(vfr_clip).primary_video
    assert info is not None and info.vfr and round(info.avg_frame_rate, 2) == 23.48
    assert info.output_rate == 30 and "constant 30.000 fps" in info.output_fps_reason
    head = video_header(vfr_clip)
    total = head.rate.frames(head.video_duration_s)
    assert total == 115  # 3.83 s at 30 fps, from 90 source frames
    # 5-frame GOPs: chunk boundaries fall inside the slow start, where source frames last 3.75 ticks
    recipe = Recipe("h264", 160, 90, crf=10, preset="ultrafast", gop_s=1 / 6, segment_s=1 / 6)
    keyint = recipe.keyint(30.0)
    whole = encode(vfr_clip, tmp_path / "whole.mp4", recipe, duration_s=total / 30, timeout_s=60)
    assert whole.frames == total
    bounds = [*range(0, total, 4 * keyint), total]
    parts = []
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        out = tmp_path / f"c{i}.mp4"
        encode(vfr_clip, out, recipe, start_s=a / 30 or None, duration_s=(b - a) / 30, timeout_s=60)
        parts.append(out)
    counts = [b - a for a, b in itertools.pairwise(bounds)]
    joined = assemble(parts, tmp_path / "joined.mp4", expected_frames=total, chunk_frames=counts, timeout_s=60)
    assert joined.frames == total
    source = _gray(vfr_clip)
    expected = _grid(source, Fraction(30), total)
    assert expected[:9] == [0, 0, 0, 0, 1, 1, 1, 1, 2]  # frames repeated across the slow start
    assert _source_indices(tmp_path / "whole.mp4", source) == expected
    assert _source_indices(tmp_path / "joined.mp4", source) == expected  # no drift at any seam
    out = probe(tmp_path / "joined.mp4").primary_video
    assert out is not None and not out.vfr and out.avg_frame_rate == 30.0
    # quality puts the reference on the same grid: every frame is scored against its own source frame
    whole_q = measure(vfr_clip, whole.path, metrics=["psnr"], timeout_s=60)
    assert whole_q.frame_count == total and min(whole_q.metrics["psnr"].values) > 30
    a, b = bounds[1], bounds[2]  # one chunk, scored against its range of the source
    chunk_q = measure(vfr_clip, parts[1], metrics=["psnr"], start_s=a / 30, duration_s=(b - a) / 30, timeout_s=60)
    assert chunk_q.frame_count == b - a and min(chunk_q.metrics["psnr"].values) > 30


def test_validation_compares_with_the_output_rate(vfr_clip: Path, clip: ClipFactory, tmp_path: Path) -> None:
    recipe = Recipe("h264", 160, 90, crf=30, preset="ultrafast", gop_s=1, segment_s=2)
    source = probe(vfr_clip)
    [made] = encode_ladder(vfr_clip, [(tmp_path / "r.mp4", recipe)], timeout_s=60)
    assert made.frames == 115
    assert validate(made.path, recipe, source, timeout_s=60) == []
    # an encode at the source's average rate is not the title's rate
    other = probe(clip(seconds=3.8, size="160x90", fps=24, audio=False))
    found = validate(made.path, recipe, other, timeout_s=60)
    assert "frame_rate" in {d.code for d in found}
    [wrong] = [d for d in found if d.code == "frame_rate"]
    assert wrong.expected == "24.000" and wrong.actual == "30.000"


def test_the_real_phone_clip_is_encoded_at_30_fps_in_chunks_without_drift(phone_clip: Path, tmp_path: Path) -> None:
    info = probe(phone_clip)
    video = info.primary_video
    assert video is not None and video.vfr and round(video.avg_frame_rate, 3) == 27.019
    assert video.output_rate == 30
    total = round((video.duration_s or 0) * 30)
    assert total == 46
    # near-lossless at 640x360: neighbouring frames of real footage differ little, and the test
    # tells them apart by picture
    recipe = Recipe("h264", 640, 360, crf=8, preset="ultrafast", gop_s=0.2, segment_s=0.4)
    whole = encode(phone_clip, tmp_path / "whole.mp4", recipe, duration_s=total / 30, timeout_s=60)
    bounds = [0, 6, 24, total]  # the first boundary inside the 184 ms first frame's repeats
    parts = []
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        out = tmp_path / f"c{i}.mp4"
        encode(phone_clip, out, recipe, start_s=a / 30 or None, duration_s=(b - a) / 30, timeout_s=60)
        parts.append(out)
    counts = [b - a for a, b in itertools.pairwise(bounds)]
    assemble(parts, tmp_path / "joined.mp4", expected_frames=total, chunk_frames=counts, timeout_s=60)
    source = [(t, _scaled(g)) for t, g in _gray(phone_clip)]
    expected = _grid(source, Fraction(30), total)
    assert expected[:7] == [0, 0, 0, 0, 0, 0, 1]
    for made in (whole.path, tmp_path / "joined.mp4"):
        assert [int(np.argmin([np.mean((g - s) ** 2) for _, s in source])) for _, g in _gray(made)] == expected
        assert validate(made, recipe, info, timeout_s=60) == []


def _scaled(gray: np.ndarray) -> np.ndarray:
    """A 1080p picture averaged down to the renditions' 640x360 (3x3 blocks)."""
    h, w = gray.shape
    return gray[: h - h % 3, : w - w % 3].reshape(h // 3, 3, w // 3, 3).mean(axis=(1, 3))
