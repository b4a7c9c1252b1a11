"""Scene cuts and per-scene complexity on clips built from different ffmpeg sources."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from darkroom.media.complexity import Complexity, Scene, analyse, cache_key, scene_cuts
from darkroom.media.errors import FfmpegFailed, InvalidMedia
from darkroom.media.ffmpeg import run

FPS = 25


def _concat(tmp: Path, name: str, sources: list[str], vf: list[str] | None = None) -> Path:
    """One clip of 1 s segments from lavfi ``sources`` (each with an optional filter)."""
    out = tmp / name
    args: list[str] = []
    for source in sources:
        sep = ":" if "=" in source else "="
        args += ["-f", "lavfi", "-i", f"{source}{sep}size=320x180:rate={FPS}:duration=1"]
    filters = vf or ["null"] * len(sources)
    graph = ";".join(f"[{i}:v]{f},format=yuv420p,setsar=1[s{i}]" for i, f in enumerate(filters))
    graph += ";" + "".join(f"[s{i}]" for i in range(len(sources))) + f"concat=n={len(sources)}:v=1:a=0[v]"
    args += ["-filter_complex", graph, "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-g", str(FPS)]
    run([*args, str(out)], timeout_s=60, what="making a test clip")
    return out


@pytest.fixture(scope="module")
def three_scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _concat(tmp_path_factory.mktemp("cx"), "three.mp4", ["testsrc2", "smptebars", "color=c=red"])


@pytest.fixture(scope="module")
def static_then_noise(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _concat(
        tmp_path_factory.mktemp("cx"), "mixed.mp4", ["color=c=navy", "color=c=gray", "testsrc2"],
        vf=["null", "noise=alls=40:allf=t", "null"],
    )  # fmt: skip


def test_scene_cuts_found_at_the_seams(three_scenes: Path) -> None:
    cuts = scene_cuts(three_scenes, timeout_s=60)
    assert len(cuts) == 2
    for found, expected in zip(cuts, [1.0, 2.0], strict=True):
        assert abs(found - expected) <= 1 / FPS + 1e-6


def test_scene_cuts_reports_progress(three_scenes: Path) -> None:
    seen: list[float] = []
    scene_cuts(three_scenes, timeout_s=60, progress=seen.append)
    assert seen and seen[-1] == 1.0


def test_noisy_scene_costs_more_bits_than_a_static_one(static_then_noise: Path) -> None:
    result = analyse(static_then_noise, timeout_s=60)
    assert result.fps == pytest.approx(FPS)
    assert result.duration_s == pytest.approx(3.0, abs=0.05)
    assert len(result.scenes) == 3
    static, noisy, pattern = result.scenes
    assert abs(noisy.start_s - 1.0) <= 1 / FPS + 1e-6
    assert noisy.bits_per_pixel > 5 * static.bits_per_pixel
    assert noisy.bitrate_kbps > static.bitrate_kbps
    assert pattern.end_s == pytest.approx(result.duration_s)
    # scenes tile the title
    assert result.scenes[0].start_s == 0.0
    for a, b in zip(result.scenes, result.scenes[1:], strict=False):
        assert a.end_s == b.start_s
    assert min(s.bits_per_pixel for s in result.scenes) < result.mean_bpp < noisy.bits_per_pixel
    assert result.cuts == [s.start_s for s in result.scenes[1:]]


def test_complexity_json_round_trip(three_scenes: Path) -> None:
    result = analyse(three_scenes, timeout_s=60)
    again = Complexity.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result
    assert all(isinstance(s, Scene) for s in again.scenes)


def test_cache_key_depends_on_content_only(tmp_path: Path, three_scenes: Path) -> None:
    copy = tmp_path / "renamed.bin"
    copy.write_bytes(three_scenes.read_bytes())
    assert cache_key(copy) == cache_key(three_scenes) == cache_key(three_scenes, chunk_bytes=1000)
    copy.write_bytes(three_scenes.read_bytes() + b"x")
    assert cache_key(copy) != cache_key(three_scenes)
    assert cache_key(three_scenes).startswith("sha256:")


def test_not_a_video_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(InvalidMedia):
        scene_cuts(junk, timeout_s=10)
    with pytest.raises(InvalidMedia):
        analyse(junk, timeout_s=10)


def test_a_feature_length_analysis_travels_as_a_file_and_reads_back_the_same(tmp_path: Path) -> None:
    # 3,000 scenes (a feature film's shots): far more than a 64 KiB task result holds
    scenes = [Scene(k * 2.0, k * 2.0 + 2.0, 0.05 + (k % 7) / 100, 500.0 + k) for k in range(3000)]
    analysis = Complexity(scenes=scenes, duration_s=6000.0, fps=24.0, mean_bpp=0.08)
    path = analysis.save(tmp_path / "complexity.json")
    assert path.stat().st_size > 64 * 1024
    assert Complexity.load(path) == analysis
    assert Complexity.load(analysis.to_dict()) == analysis


def test_an_unreadable_analysis_file_is_refused_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "complexity.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidMedia, match=r"complexity\.json"):
        Complexity.load(bad)
    bad.write_text(json.dumps({"scenes": []}))
    with pytest.raises(InvalidMedia, match="not a complexity analysis"):
        Complexity.load(bad)


def test_a_set_cancel_stops_both_analyses(three_scenes: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(FfmpegFailed, match="canceled"):
        analyse(three_scenes, timeout_s=60, cancel=cancel)
    with pytest.raises(FfmpegFailed, match="canceled"):
        scene_cuts(three_scenes, timeout_s=60, cancel=cancel)
