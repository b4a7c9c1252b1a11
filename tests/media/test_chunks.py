"""Chunk planning (properties), the chunking rule, and a chunked encode end to end."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from darkroom.media.assemble import AssemblyFailed, ChunkInvalid, assemble, verify_chunk
from darkroom.media.chunks import Chunk, plan_chunks, should_chunk
from darkroom.media.encode import encode
from darkroom.media.errors import InvalidMedia
from darkroom.media.recipe import Recipe
from tests.media.conftest import ClipFactory

# --- planning --------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    duration_s=st.floats(0.05, 4000),
    fps=st.sampled_from([23.976, 24.0, 25.0, 29.97, 30.0, 50.0, 60.0]),
    gop_s=st.sampled_from([0.5, 1.0, 2.0, 4.0]),
    cuts=st.lists(st.floats(-5, 4100, allow_nan=False), max_size=40),
    target_s=st.floats(4, 120),
    min_ratio=st.floats(0.05, 1.0),
)
def test_plan_covers_every_frame_once_on_the_keyint_grid(
    duration_s: float, fps: float, gop_s: float, cuts: list[float], target_s: float, min_ratio: float
) -> None:
    keyint = max(1, round(gop_s * fps))
    min_s = target_s * min_ratio
    total = round(duration_s * fps)
    if total < 1:
        with pytest.raises(InvalidMedia):
            plan_chunks(duration_s, fps, keyint, cuts, target_s=target_s, min_s=min_s)
        return
    chunks = plan_chunks(duration_s, fps, keyint, cuts, target_s=target_s, min_s=min_s)
    assert sum(c.frames for c in chunks) == total
    assert chunks[0].start_frame == 0
    for i, (a, b) in enumerate(itertools.pairwise(chunks)):
        assert a.index == i and b.start_frame == a.start_frame + a.frames
    for c in chunks:
        assert c.start_frame % keyint == 0
        assert c.frames > 0
        assert c.start_s == pytest.approx(c.start_frame / fps)
        assert round(c.duration_s * fps) == c.frames  # what encode() turns back into -frames:v
    min_frames = min_s * fps
    for c in chunks[:-1]:
        assert c.frames >= min_frames - 1e-6
    if len(chunks) > 1:
        assert chunks[-1].frames >= min_frames - 1e-6  # only a title shorter than min_s is short


def test_plan_prefers_scene_cuts_near_the_target() -> None:
    # 100 s at 25 fps, GOP 2 s: the cut at 28 s is on the grid, 61 s snaps to the GOP at 60 s, and
    # 5 s would make a chunk shorter than min_s.
    chunks = plan_chunks(100, 25, 50, [5.0, 28.0, 61.0], target_s=30, min_s=10)
    assert [c.start_s for c in chunks] == [0.0, 28.0, 60.0]


def test_plan_without_cuts_uses_the_grid() -> None:
    chunks = plan_chunks(100, 25, 50, [], target_s=30, min_s=10)
    assert [c.start_s for c in chunks] == [0.0, 30.0, 60.0]
    assert chunks[-1].duration_s == pytest.approx(40.0)  # a 10 s tail is kept whole with the last chunk


def test_short_title_is_one_chunk() -> None:
    assert plan_chunks(3, 25, 25, [1.0], target_s=30, min_s=10) == [Chunk(0, 0.0, 3.0, 0, 75)]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((10, 0, 25, []), {}),
        ((10, 25, 0, []), {}),
        ((10, 25, 25, []), {"min_s": 40, "target_s": 30}),
        ((0, 25, 25, []), {}),
    ],
)
def test_plan_refuses_bad_arguments(args: tuple[float, float, int, list[float]], kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidMedia):
        plan_chunks(*args, **kwargs)


def test_should_chunk_rule() -> None:
    # one host: never, however slow (x264 already uses every core)
    assert not should_chunk(3600, 1, 60, 10, 25)
    # several workers and one pass too slow for the latency target: chunk
    assert should_chunk(120, 4, 30, 50, 25)  # 3000 frames / 50 fps = 60 s > 30 s
    # several workers but one pass is fast enough and the title short: one pass
    assert not should_chunk(120, 4, 300, 50, 25)
    # long titles are chunked for retry granularity even when fast enough
    assert should_chunk(3600, 4, 10_000, 500, 25)
    # too short to make two chunks
    assert not should_chunk(15, 8, 1, 1, 25)


# --- chunked encode end to end ---------------------------------------------------------------------

RECIPE = Recipe("h264", 320, 180, crf=30, preset="ultrafast", gop_s=0.4, segment_s=0.8)


@pytest.fixture(scope="module")
def chunked(clip: ClipFactory, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Chunk], list[Path]]:
    source = clip(seconds=3.0, audio=True)
    fps = 25.0
    keyint = RECIPE.keyint(fps)  # 10 frames
    chunks = plan_chunks(3.0, fps, keyint, [1.0, 2.0], target_s=1.0, min_s=0.8)
    assert len(chunks) == 3
    root = tmp_path_factory.mktemp("chunks")
    paths = []
    for c in chunks:
        out = root / f"chunk{c.index:03d}.mp4"
        encode(source, out, RECIPE, start_s=c.start_s, duration_s=c.duration_s, timeout_s=60)
        verify_chunk(out, c.frames, keyint, index=c.index)
        paths.append(out)
    return source, chunks, paths


def test_chunked_encode_assembles_to_the_whole_title(
    chunked: tuple[Path, list[Chunk], list[Path]], tmp_path: Path
) -> None:
    _, chunks, paths = chunked
    out = tmp_path / "title.mp4"
    result = assemble(paths, out, expected_frames=75, timeout_s=60, chunk_frames=[c.frames for c in chunks])
    assert result.frames == 75 == sum(c.frames for c in chunks)
    assert result.keyframes == list(range(0, 75, 10))  # the single-pass GOP grid survives the seams
    assert result.duration_s == pytest.approx(3.0, abs=0.05)
    assert out.is_file() and not list(tmp_path.glob(".*partial"))


def test_missing_chunk_is_named(chunked: tuple[Path, list[Chunk], list[Path]], tmp_path: Path) -> None:
    _, _, paths = chunked
    gone = tmp_path / "chunk001.mp4"
    with pytest.raises(ChunkInvalid, match=r"chunk 1 \(chunk001.mp4\)") as info:
        assemble([paths[0], gone, paths[2]], tmp_path / "t.mp4", expected_frames=75, timeout_s=60)
    assert info.value.index == 1 and info.value.code == "missing_chunk"
    assert not (tmp_path / "t.mp4").exists()


def test_short_chunk_is_named(chunked: tuple[Path, list[Chunk], list[Path]], tmp_path: Path) -> None:
    source, chunks, paths = chunked
    short = tmp_path / "short.mp4"
    encode(source, short, RECIPE, start_s=chunks[1].start_s, duration_s=chunks[1].duration_s / 2, timeout_s=60)
    frames = [c.frames for c in chunks]
    half = round(chunks[1].frames / 2)
    with pytest.raises(ChunkInvalid, match=f"chunk 1 \\(short.mp4\\) has {half} frames, expected {frames[1]}") as info:
        assemble([paths[0], short, paths[2]], tmp_path / "t.mp4", expected_frames=75, timeout_s=60, chunk_frames=frames)
    assert info.value.code == "frames"
    with pytest.raises(AssemblyFailed, match=f"{75 - frames[1] + half} frames, expected 75"):
        assemble([paths[0], short, paths[2]], tmp_path / "t.mp4", expected_frames=75, timeout_s=60)
    assert not (tmp_path / "t.mp4").exists()
    with pytest.raises(ChunkInvalid, match=f"has {half} frames, expected {frames[1]}"):
        verify_chunk(short, frames[1], 10, index=1)


def test_verify_chunk_rejects_garbage(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(ChunkInvalid) as info:
        verify_chunk(junk, 10, 10)
    assert info.value.code == "undecodable"
    with pytest.raises(ChunkInvalid, match="missing"):
        verify_chunk(tmp_path / "nope.mp4", 10, 10)


@pytest.mark.parametrize(("codec", "preset", "suffix"), [("hevc", "ultrafast", ".mp4"), ("vp9", "8", ".webm")])
def test_other_codecs_keep_the_grid_across_seams(
    clip: ClipFactory, tmp_path: Path, codec: str, preset: str, suffix: str
) -> None:
    source = clip(seconds=2.0, audio=False)
    recipe = Recipe(codec, 320, 180, crf=40, preset=preset, gop_s=0.4, segment_s=0.8)
    keyint = recipe.keyint(25)
    chunks = plan_chunks(2.0, 25, keyint, [], target_s=0.8, min_s=0.8)
    paths = []
    for c in chunks:
        out = tmp_path / f"c{c.index}{suffix}"
        encode(source, out, recipe, start_s=c.start_s, duration_s=c.duration_s, timeout_s=60)
        verify_chunk(out, c.frames, keyint, index=c.index)
        paths.append(out)
    result = assemble(paths, tmp_path / f"title{suffix}", expected_frames=50, timeout_s=60)
    assert result.frames == 50 and result.keyframes == list(range(0, 50, keyint))
