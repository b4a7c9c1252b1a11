"""Recipes (validation, JSON, ladder fitting), encoder flags, and real encodes on tiny clips."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from darkroom.media import encode as encode_module
from darkroom.media.assemble import assemble
from darkroom.media.encode import audio_args, encode, encode_audio, encode_ladder, video_args
from darkroom.media.errors import FfmpegFailed, InvalidMedia, UnsupportedMedia
from darkroom.media.ffmpeg import run
from darkroom.media.header import Seek, video_header
from darkroom.media.quality import measure
from darkroom.media.recipe import DEFAULT_AUDIO, DEFAULT_LADDER, AudioRecipe, Recipe, fit_ladder
from darkroom.media.seek import LEAD_S, entry
from tests.media.conftest import ClipFactory, real_clip

# --- recipes ---------------------------------------------------------------------------------------

BASE: dict[str, Any] = {"codec": "h264", "width": 640, "height": 360, "crf": 23}


@pytest.mark.parametrize(
    ("changes", "field", "value"),
    [
        ({"codec": "prores"}, "codec", "'prores'"),
        ({"width": 641}, "width", "641"),
        ({"height": 8}, "height", "8"),
        ({"width": "640"}, "width", "'640'"),
        ({"crf": 52}, "crf", "52"),
        ({"crf": None}, "crf", "None"),
        ({"bitrate_kbps": 1000}, "crf", "23"),
        ({"pix_fmt": "yuv444p"}, "pix_fmt", "'yuv444p'"),
        ({"profile": "main10"}, "profile", "'main10'"),
        ({"preset": "7"}, "preset", "'7'"),
        ({"gop_s": 3.0}, "gop_s", "3.0"),
        ({"segment_s": 0}, "segment_s", "0"),
        ({"bufsize_kbps": 500}, "bufsize_kbps", "500"),
        ({"crf": None, "bitrate_kbps": 1000, "maxrate_kbps": 800}, "maxrate_kbps", "800"),
        ({"audio": AudioRecipe("aac", 128, 2), "name": "no spaces"}, "name", "'no spaces'"),
    ],
)
def test_bad_recipes_are_refused_naming_the_field(changes: dict[str, Any], field: str, value: str) -> None:
    with pytest.raises(InvalidMedia) as info:
        Recipe(**{**BASE, **changes})
    assert info.value.code == "bad_recipe"
    assert f"recipe {field}={value}" in str(info.value)


def test_unknown_codecs_are_unsupported_and_bad_audio_is_refused() -> None:
    with pytest.raises(UnsupportedMedia):
        Recipe(**{**BASE, "codec": "mpeg2"})
    with pytest.raises(InvalidMedia, match=r"audio\.channels=3"):
        AudioRecipe("aac", 128, 3)
    with pytest.raises(UnsupportedMedia, match=r"audio\.codec='mp3'"):
        AudioRecipe("mp3", 128, 2)


def test_defaults_resolve_per_codec_and_bit_depth() -> None:
    abr = Recipe("h264", 640, 360, bitrate_kbps=1000)
    assert (abr.profile, abr.preset, abr.maxrate_kbps, abr.bufsize_kbps) == ("high", "medium", 1500, 3000)
    capped = Recipe("h264", 640, 360, crf=23, maxrate_kbps=800)
    assert capped.bufsize_kbps == 1600
    assert Recipe("hevc", 640, 360, crf=28, pix_fmt="yuv420p10le").profile == "main10"
    assert Recipe("vp9", 640, 360, crf=33, pix_fmt="yuv420p10le").profile == "2"
    assert Recipe("av1", 640, 360, crf=35).preset == "8"
    assert Recipe("h264", 640, 360, crf=23).keyint(29.97) == 60


def test_recipes_round_trip_through_json() -> None:
    recipes = [*DEFAULT_LADDER, Recipe("vp9", 320, 180, bitrate_kbps=400, audio=AudioRecipe("opus", 96, 2))]
    for recipe in recipes:
        assert Recipe.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe
    with pytest.raises(InvalidMedia, match="colour"):
        Recipe.from_dict({**BASE, "colour": "bt709"})
    with pytest.raises(InvalidMedia, match=r"audio\.rate"):
        Recipe.from_dict({**BASE, "audio": {"codec": "aac", "rate": 1}})


def test_default_ladder_rungs() -> None:
    assert [(r.name, r.width, r.height, r.maxrate_kbps) for r in DEFAULT_LADDER] == [
        ("1080p", 1920, 1080, 5000),
        ("720p", 1280, 720, 3000),
        ("480p", 854, 480, 1500),
        ("360p", 640, 360, 800),
        ("240p", 426, 240, 300),
    ]
    assert all(r.codec == "h264" and r.crf is not None and r.audio is None for r in DEFAULT_LADDER)
    assert AudioRecipe("aac", 128, 2) == DEFAULT_AUDIO


@pytest.mark.parametrize(
    ("source", "sizes"),
    [
        ((1280, 720), [(1280, 720), (854, 480), (640, 360), (426, 240)]),
        ((720, 1280), [(720, 1280), (480, 854), (360, 640), (240, 426)]),  # portrait: boxes turn
        ((1920, 800), [(1920, 800), (1280, 534), (854, 356), (640, 266), (426, 178)]),  # scope: fit width
        ((100, 60), [(100, 60)]),  # smaller than every rung: one rung at its own size
    ],
)
def test_fit_ladder_keeps_aspect_and_never_upscales(source: tuple[int, int], sizes: list[tuple[int, int]]) -> None:
    fitted = fit_ladder(DEFAULT_LADDER, *source)
    assert [(r.width, r.height) for r in fitted] == sizes
    assert fitted[-1].maxrate_kbps == 300


# --- encoder flags -----------------------------------------------------------------------------------


def _after(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_video_args_place_closed_gops_without_scene_cuts() -> None:
    h264 = video_args(Recipe("h264", 640, 360, crf=23, maxrate_kbps=800, preset="veryfast"), 25)
    assert h264[:2] == ["-c:v", "libx264"]
    assert _after(h264, "-x264-params") == "keyint=50:scenecut=0:open-gop=0"
    assert h264[-6:] == ["-crf", "23", "-maxrate", "800k", "-bufsize", "1600k"]
    assert [_after(h264, flag) for flag in ("-profile:v", "-preset", "-pix_fmt")] == ["high", "veryfast", "yuv420p"]

    hevc = video_args(Recipe("hevc", 640, 360, bitrate_kbps=1000, pix_fmt="yuv420p10le", gop_s=1), 30)
    assert _after(hevc, "-x265-params") == "keyint=30:min-keyint=30:scenecut=0:open-gop=0:log-level=error"
    assert (_after(hevc, "-profile:v"), _after(hevc, "-pix_fmt")) == ("main10", "yuv420p10le")
    assert hevc[-6:] == ["-b:v", "1000k", "-maxrate", "1500k", "-bufsize", "3000k"]

    vp9 = video_args(Recipe("vp9", 640, 360, crf=33, preset="5"), 24)
    assert (_after(vp9, "-g"), _after(vp9, "-keyint_min"), _after(vp9, "-auto-alt-ref")) == ("48", "48", "1")
    assert (_after(vp9, "-cpu-used"), vp9[-4:]) == ("5", ["-crf", "33", "-b:v", "0"])
    capped = video_args(Recipe("vp9", 640, 360, crf=33, maxrate_kbps=900), 24)
    assert capped[-8:] == ["-crf", "33", "-b:v", "900k", "-maxrate", "900k", "-bufsize", "1800k"]

    av1 = video_args(Recipe("av1", 640, 360, crf=35, maxrate_kbps=700, gop_s=2, segment_s=6), 30000 / 1001)
    assert _after(av1, "-c:v") == "libsvtav1"
    assert _after(av1, "-svtav1-params") == "keyint=60:scd=0:irefresh-type=2"
    assert av1[-6:] == ["-crf", "35", "-maxrate", "700k", "-bufsize", "1400k"]

    assert audio_args(None) == ["-an"]
    assert audio_args(AudioRecipe("opus", 96, 2)) == ["-c:a", "libopus", "-b:a", "96k", "-ac", "2", "-ar", "48000"]


# --- real encodes --------------------------------------------------------------------------------------


def _keyframes(path: Path) -> tuple[list[int], Any]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        audio = len(container.streams.audio)
        facts = (stream.codec_context.name, stream.width, stream.height, stream.format.name, audio)
        return [i for i, p in enumerate(packets) if p.is_keyframe], (len(packets), *facts)


@pytest.mark.parametrize(
    ("recipe", "suffix", "decoders"),
    [
        (Recipe("h264", 128, 72, crf=30, preset="ultrafast", audio=AudioRecipe("aac", 64, 2)), ".mp4", {"h264"}),
        (Recipe("hevc", 128, 72, crf=30, preset="ultrafast", pix_fmt="yuv420p10le"), ".mp4", {"hevc"}),
        (Recipe("vp9", 128, 72, crf=40, preset="8", audio=AudioRecipe("opus", 64, 2)), ".webm", {"vp9", "libvpx-vp9"}),
        (Recipe("av1", 128, 72, crf=45, preset="12"), ".mkv", {"av1", "libdav1d", "libaom-av1"}),
    ],
    ids=["h264", "hevc", "vp9", "av1"],
)
def test_encode_one_rendition_per_codec(
    clip: ClipFactory, tmp_path: Path, recipe: Recipe, suffix: str, decoders: set[str]
) -> None:
    source = clip(seconds=1, size="160x90")
    recipe = Recipe.from_dict({**recipe.to_dict(), "gop_s": 0.4, "segment_s": 0.8})  # keyint 10 at 25 fps
    out = tmp_path / f"out{suffix}"
    result = encode(source, out, recipe, timeout_s=60)
    keyframes, (frames, decoder, width, height, pix_fmt, audio_streams) = _keyframes(out)
    assert (frames, result.frames, width, height) == (25, 25, 128, 72)
    assert decoder in decoders
    assert pix_fmt == recipe.pix_fmt
    assert audio_streams == (1 if recipe.audio else 0)
    assert keyframes == [0, 10, 20]
    assert result.bytes == out.stat().st_size and result.video_bitrate > 0
    assert result.duration_s == pytest.approx(1.0, abs=0.05)
    assert list(tmp_path.iterdir()) == [out]


def test_ladder_from_one_decode_with_rising_progress(clip: ClipFactory, tmp_path: Path) -> None:
    source = clip(seconds=2, size="320x180", vf="noise=alls=8:allf=t+u")
    sizes = [(320, 180), (192, 108), (160, 90)]
    rungs = [Recipe("h264", w, h, crf=23, preset="fast", gop_s=1, segment_s=2) for w, h in sizes]
    outs = [(tmp_path / f"{r.height}p.mp4", r) for r in rungs]
    seen: list[float] = []
    results = encode_ladder(source, outs, progress=seen.append, timeout_s=60)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    for (out, recipe), result in zip(outs, results, strict=True):
        keyframes, (frames, _, width, height, _, audio_streams) = _keyframes(out)
        assert (result.path, frames, width, height, audio_streams) == (out, 50, recipe.width, recipe.height, 0)
        assert keyframes == [0, 25]
    assert results[0].bytes > results[2].bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(o.name for o, _ in outs)


def _luma(path: Path) -> list[np.ndarray[Any, Any]]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="gray").astype(np.float64) for f in container.decode(video=0)]


def test_chunk_seeking_is_frame_accurate(clip: ClipFactory, tmp_path: Path) -> None:
    source = clip(seconds=2, size="320x180")
    out = tmp_path / "chunk.mp4"
    recipe = Recipe("h264", 320, 180, crf=12, preset="ultrafast", gop_s=0.4, segment_s=0.4, audio=DEFAULT_AUDIO)
    result = encode(source, out, recipe, start_s=13 / 25, duration_s=10 / 25, timeout_s=60)
    original, chunk = _luma(source), _luma(out)
    assert result.frames == len(chunk) == 10
    for i in (0, 9):
        errors = [float(np.abs(frame - chunk[i]).mean()) for frame in original]
        assert int(np.argmin(errors)) == 13 + i
    with av.open(str(out)) as container:
        assert container.streams.audio and float(container.duration or 0) / 1e6 == pytest.approx(0.4, abs=0.05)


def _nearest(made: Path, whole: list[np.ndarray[Any, Any]], first: int) -> list[int]:
    """For each frame of ``made`` (frames ``first``... of a title), the frame of ``whole`` it shows
    (the nearest picture among the 25 around where it should be)."""
    found = []
    for i, frame in enumerate(_luma(made)):
        lo, hi = max(0, first + i - 12), min(len(whole), first + i + 13)
        found.append(lo + int(np.argmin([np.mean((frame - w) ** 2) for w in whole[lo:hi]])))
    return found


def test_chunks_of_the_real_mpeg_ps_clip_hold_the_frames_of_the_whole(tmp_path: Path) -> None:
    """MPEG-PS has no index: ``-ss 4.0`` lands on the keyframe at 4.32 s (8 frames late), which
    shifted every chunk. Seeked earlier and cut on decoded timestamps, every chunk frame is the
    whole title's frame at the same grid index, and quality scores each chunk against its own
    frames of the source."""
    source = real_clip()
    head = video_header(source)
    assert head.seek is Seek.SEARCH and head.output_fps == 25
    at = entry(source, head, 100, timeout_s=60)
    assert at.seek_s is not None and at.seek_s == (100 - at.skip_frames) / 25 and at.skip_frames >= LEAD_S * 25
    recipe = Recipe("h264", 360, 202, crf=10, preset="ultrafast", gop_s=0.4, segment_s=0.4)
    whole = encode(source, tmp_path / "whole.mp4", recipe, timeout_s=120)
    assert whole.frames == 190
    bounds = [0, 40, 100, 150, 190]  # alone, 40, 100 and 150 landed on frames 48, 108 and 152
    parts = []
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        out = tmp_path / f"c{i}.mp4"
        encode(source, out, recipe, start_s=a / 25 or None, duration_s=(b - a) / 25, timeout_s=120)
        parts.append(out)
    counts = [b - a for a, b in itertools.pairwise(bounds)]
    joined = assemble(parts, tmp_path / "joined.mp4", expected_frames=190, chunk_frames=counts, timeout_s=120)
    assert joined.frames == 190
    assert _nearest(joined.path, _luma(whole.path), 0) == list(range(190))
    # quality's reference is seeked the same way: a chunk scores as its frames do inside the whole
    chunk = measure(source, parts[2], metrics=["psnr"], start_s=100 / 25, duration_s=50 / 25, timeout_s=120)
    title = measure(source, whole.path, metrics=["psnr"], timeout_s=120).metrics["psnr"].values[100:150]
    assert chunk.frame_count == 50
    assert max(abs(c - t) for c, t in zip(chunk.metrics["psnr"].values, title, strict=True)) < 1.0


def _long_gop_ts(path: Path) -> Path:
    """24 s of 160x90 at 25 fps in MPEG-TS with 10 s GOPs (x264's default keyint of 250)."""
    gop = ["-g", "250", "-keyint_min", "250", "-sc_threshold", "0"]
    run(["-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=24", "-c:v", "libx264", "-preset", "ultrafast",
         *gop, "-pix_fmt", "yuv420p", str(path)], timeout_s=60)  # fmt: skip
    return path


def _raw_h264(path: Path) -> Path:
    """4 s of 160x90 at 25 fps as a raw H.264 stream: no container, no timestamps to seek by."""
    run(["-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=4", "-c:v", "libx264", "-preset", "ultrafast",
         "-g", "25", "-pix_fmt", "yuv420p", "-f", "h264", str(path)], timeout_s=60)  # fmt: skip
    return path


@pytest.mark.parametrize(
    ("make", "seek", "first", "min_skip"),
    [
        (_long_gop_ts, Seek.SEARCH, 400, 4 * LEAD_S * 25),  # the first step back lands after frame 400
        (_raw_h264, Seek.NONE, 70, 70),  # decoded from the start
    ],
    ids=["long-gop-ts", "raw-h264"],
)
def test_sources_that_cannot_seek_exactly_give_exact_chunks(
    make: Any, seek: Seek, first: int, min_skip: float, clip: ClipFactory, tmp_path: Path
) -> None:
    source = make(tmp_path / ("src.ts" if seek is Seek.SEARCH else "src.h264"))
    head = video_header(source)
    assert head.seek is seek
    at = entry(source, head, first, timeout_s=60)
    assert at.skip_frames >= min_skip and (at.seek_s is None) == (seek is Seek.NONE)
    recipe = Recipe("h264", 160, 90, crf=10, preset="ultrafast", gop_s=0.4, segment_s=0.4)
    whole = encode(source, tmp_path / "whole.mp4", recipe, timeout_s=120)
    chunk = encode(source, tmp_path / "chunk.mp4", recipe, start_s=first / 25, duration_s=20 / 25, timeout_s=120)
    assert chunk.frames == 20
    assert _nearest(chunk.path, _luma(whole.path), first) == list(range(first, first + 20))
    # the fast path: an MP4 is seeked straight to the frame, nothing decoded before it is cut
    mp4 = clip(seconds=2, size="160x90")
    assert entry(mp4, video_header(mp4), 30, timeout_s=60) == type(at)(30, 30 / 25, 0)
    with pytest.raises(InvalidMedia, match="first_frame=-1"):
        entry(mp4, video_header(mp4), -1, timeout_s=60)


def test_audio_rendition(clip: ClipFactory, tmp_path: Path) -> None:
    out = encode_audio(clip(seconds=1, size="160x90"), tmp_path / "audio.m4a", DEFAULT_AUDIO, timeout_s=60)
    with av.open(str(out)) as container:
        assert not container.streams.video
        assert (container.streams.audio[0].codec_context.name, container.streams.audio[0].channels) == ("aac", 2)


def test_encode_errors_are_typed_and_leave_no_partial_files(
    clip: ClipFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = clip(seconds=1, size="160x90")
    recipe = Recipe("h264", 160, 90, crf=30, preset="ultrafast")
    with pytest.raises(UnsupportedMedia, match="cannot carry h264"):
        encode(source, tmp_path / "x.webm", recipe, timeout_s=60)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 100)
    with pytest.raises(InvalidMedia) as info:
        encode(garbage, tmp_path / "y.mp4", recipe, timeout_s=60)
    assert info.value.code == "unreadable"
    garbage.unlink()
    monkeypatch.setattr(encode_module, "video_args", lambda r, fps: ["-c:v", "libx264", "-profile:v", "nosuch"])
    with pytest.raises(FfmpegFailed, match="encoding"):
        encode(source, tmp_path / "z.mp4", recipe, timeout_s=60)
    monkeypatch.setattr(encode_module, "video_args", lambda r, fps: ["-c:v", "libnosuchcodec"])
    with pytest.raises(UnsupportedMedia) as unsupported:
        encode(source, tmp_path / "z.mp4", recipe, timeout_s=60)
    assert unsupported.value.code == "unsupported_codec"
    assert list(tmp_path.iterdir()) == []
