"""streaming.video end to end through the real runtime, and the complexity analysis reused by content."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

import darkroom.queue as dq
from darkroom.media.encode import encode
from darkroom.media.recipe import Recipe
from darkroom.runtime.blob_cache import BlobCache
from darkroom.runtime.task import TaskSpec
from darkroom.services import COMPLEXITY, STREAMING_VIDEO, ComplexityRequest, ComplexityStore, StreamingRequest, submit
from darkroom.services.common import QUEUE_MEDIA
from darkroom.services.complexity import ComplexityOptions
from darkroom.storage.blobs import BlobStore
from tests.media.conftest import real_clip
from tests.runtime.conftest import Platform
from tests.services.conftest import scratch_files

# Cheap trials (2 heights x 2 CRFs on one 1 s sample), 1 s GOPs so a 4 s clip can be cut in two
# 2 s chunks at its scene cut, fast presets.
LADDER = {
    "heights": [180, 90], "crfs": [28, 40], "samples": 1, "sample_s": 1.0, "rungs": 2, "min_step_ratio": 1.2,
    "trial_preset": "ultrafast", "preset": "ultrafast", "gop_s": 1.0, "segment_s": 2.0,
}  # fmt: skip
FRAMES = 100  # 4 s at 25 fps


def _request(key: str, **extra: object) -> StreamingRequest:
    return StreamingRequest.parse({
        "source": {"$blob": key}, "profile": {"min_height": 90}, "ladder_options": LADDER, "chunk": "always",
        "chunk_target_s": 1.0, "chunk_min_s": 1.0, **extra,
    })  # fmt: skip


@pytest.mark.slow
def test_streaming_video_chunked_end_to_end(
    services: Platform, blobs: BlobStore, cut_clip: Path, tmp_path: Path
) -> None:
    key = blobs.put_file("uploads/cut.mp4", cut_clip).key
    services.start_engine()
    services.start_worker(blobs=blobs, concurrency=2)
    run = submit(services.workflows, _request(key))
    assert run.name == STREAMING_VIDEO and run.priority == "standard"
    done = services.wait(run.id, timeout_s=110)
    assert done.state == "succeeded", done.error
    out = done.outputs
    assert out["verdict"] == "accepted"

    # complexity: the cut at 2 s splits the title into two scenes; the analysis travels as a file
    analysis = json.loads(blobs.get_bytes(out["complexity"]["$blob"]))
    assert [round(s["start_s"], 2) for s in analysis["scenes"]] == [0.0, 2.0]
    # ladder: every trial point scored, recipes on the requested GOP grid
    ladder = out["ladder"]
    assert ladder["mode"] == "per_title" and len(ladder["points"]) == 4 and ladder["hull"]
    assert ladder["recipes"] and all(r["gop_s"] == 1.0 and r["audio"] is None for r in ladder["recipes"])
    assert "bd_rate_percent" in ladder and ladder["fixed"]
    # chunks: two, split at the scene cut, covering every frame once
    chunks = out["chunks"]
    assert chunks["chunked"] is True and chunks["reason"].startswith("chunk=always")
    assert [(c["start_frame"], c["frames"]) for c in chunks["plan"]] == [(0, 50), (50, 50)]
    encode_tasks = services.workflows.tasks(run.id, step="encode")
    assert [t.attempts for t in encode_tasks] == [1, 1]  # one task per chunk, each ran once

    # the ladder as delivered: every rendition measured over the whole title against its hull point;
    # the kept ones are named after the video bitrate they deliver, none under the VMAF floor
    delivered = ladder["delivered"]
    assert [r["planned_name"] for r in delivered["rungs"]] == [r["name"] for r in ladder["recipes"]]
    assert delivered["floor_vmaf"] == 60.0 and delivered["tolerance"] == {"bitrate_ratio": 0.15, "vmaf": 3.0}
    kept = [r for r in delivered["rungs"] if r["kept"]]
    assert kept and all(r["within_tolerance"] in (True, False) for r in delivered["rungs"])
    for r in kept:
        assert r["name"] == f"{r['measured']['resolution_height']}p-{round(r['measured']['bitrate_kbps'])}k"
        assert r["measured"]["vmaf"] >= 60.0 or len(kept) == 1
    for r in delivered["rungs"]:
        if not r["kept"]:
            assert r["drop"] in ("floor", "dominated", "step")
    assert ladder["anchor"] == [] and ladder["bd_rate_delivered_percent"] is None  # 320x180: one fixed rung
    # renditions: assembled to the full length, one per kept rung, top first
    names = [r["name"] for r in kept]
    assert [r["name"] for r in out["renditions"]] == names
    assert all(r["recipe"]["name"] == r["name"] for r in out["renditions"])
    for r, d in zip(out["renditions"], kept, strict=True):
        assert r["video_bitrate"] / 1000 == pytest.approx(d["measured"]["bitrate_kbps"])
    assert all(r["frames"] == FRAMES and r["bytes"] > 0 and r["video_bitrate"] > 0 for r in out["renditions"])
    # quality: per-frame arrays joined across chunks to the full length, pooled separately
    assert [q["name"] for q in out["quality"]] == names
    for entry in out["quality"]:
        assert entry["errors"] == {}
        frames = json.loads(blobs.get_bytes(entry["frames"]["$blob"]))
        assert sorted(frames) == ["psnr", "ssim", "vmaf"]
        assert all(len(values) == FRAMES for values in frames.values())
        assert set(entry["pooled"]["vmaf"]) >= {"mean", "harmonic_mean", "p5"}
        assert 0 < entry["pooled"]["vmaf"]["p5"] <= entry["pooled"]["vmaf"]["mean"] <= 100
    # validation: every rendition, no error-level discrepancy
    assert [v["name"] for v in out["validation"]] == names and all(v["ok"] for v in out["validation"])
    # package: a master playlist naming every rendition, and the DASH manifest
    master = blobs.get_bytes(out["master"]["$blob"]).decode()
    assert master.count("#EXT-X-STREAM-INF") == len(names)
    assert "<MPD" in blobs.get_bytes(out["mpd"]["$blob"]).decode()
    assert blobs.get_bytes(out["poster"]["file"]["$blob"])[:2] == b"\xff\xd8"
    assert blobs.get_bytes(out["storyboard"]["vtt"]["$blob"]).startswith(b"WEBVTT")
    assert len(json.dumps(out["quality"])) < 4096  # per-frame arrays never travel inline
    assert not scratch_files(tmp_path)

    # The analysis was stored by content: the same bytes under another name reuse it.
    assert done.steps["complexity"].message != "reused the stored analysis"
    again_key = blobs.put_file("uploads/renamed.mp4", cut_clip).key
    again = services.wait(submit(services.workflows, ComplexityRequest.parse({"source": again_key})).id, timeout_s=60)
    assert again.state == "succeeded", again.error
    assert again.name == COMPLEXITY
    # the same bytes as the first run's file: the stored analysis, not a new one
    assert again.outputs["reused"] is True and again.outputs["complexity"] == out["complexity"]
    assert again.steps["complexity"].message == "reused the stored analysis"
    stored = ComplexityStore(blobs).get(again.outputs["key"], ComplexityOptions())
    assert stored is not None and stored.to_dict() == analysis


def test_ladder_check_moves_no_media(services: Platform, blobs: BlobStore, source_clip: Path, tmp_path: Path) -> None:
    """The step reads each rendition's numbers (video bitrate from the encode, VMAF from quality):
    the files stay in the store, and the kept renditions leave with the same references. The
    worker's blob cache sees every download a task makes; the control (a probe of a file) shows it."""
    uses: list[tuple[str, int]] = []
    cache = BlobCache(tmp_path / "cache", 1 << 30, on_use=lambda result, size: uses.append((result, size)))
    services.start_worker(blobs=blobs, blob_cache=cache, concurrency=1)
    recipes = [
        Recipe("h264", w, h, crf=28, preset="ultrafast", name=f"{h}p").to_dict() for w, h in [(320, 180), (160, 90)]
    ]
    files = [{"$blob": blobs.put_file(f"renditions/{r['name']}.mp4", source_clip).key} for r in recipes]
    renditions = [
        {"name": r["name"], "recipe": r, "file": f, "bytes": source_clip.stat().st_size, "video_bitrate": rate,
         "frames": 50, "duration_s": 2.0}
        for r, f, rate in zip(recipes, files, [600_000, 200_000], strict=True)
    ]  # fmt: skip
    quality = [
        {"name": r["name"], "pooled": {"vmaf": {"mean": v, "p5": v - 5}}}
        for r, v in zip(recipes, [95, 80], strict=True)
    ]
    args = {"ladder": {"mode": "fixed", "recipes": recipes}, "renditions": renditions, "quality": quality}

    def finished(message: str) -> dq.Message:
        services.until(lambda: services.rq.get(QUEUE_MEDIA, message).state.terminal)
        return services.rq.get(QUEUE_MEDIA, message)

    done = finished(services.rq.enqueue(QUEUE_MEDIA, TaskSpec("media.ladder_check", args).encode()))
    assert done.state == dq.State.COMPLETED, done.last_error
    result = json.loads(done.result or "{}")
    assert [r["file"] for r in result["renditions"]] == files  # kept, and passed on by reference
    assert [r["measured"]["bitrate_kbps"] for r in result["ladder"]["delivered"]["rungs"]] == [600, 200]
    assert uses == []  # nothing fetched
    probed = finished(services.rq.enqueue(QUEUE_MEDIA, TaskSpec("media.probe", {"source": files[0]}).encode()))
    assert probed.state == dq.State.COMPLETED, probed.last_error
    assert uses == [("miss", source_clip.stat().st_size)]  # a step that takes the file downloads it


@pytest.mark.slow
def test_the_real_mpeg_ps_clip_streams_in_exact_chunks(services: Platform, blobs: BlobStore, tmp_path: Path) -> None:
    """MPEG-PS cannot seek exactly (the source's keyframes are every 12 frames and a seek lands on
    the next one): chunked with chunk=always, every chunk passes its checks, every rendition
    validates, every frame of the delivered top rendition is the frame a whole-title encode has
    at the same index, and no frame at a chunk seam scores worse than the title."""
    source = real_clip()
    key = blobs.put_file("uploads/city.mpg", source).key
    services.start_engine()
    services.start_worker(blobs=blobs, concurrency=2)
    ladder = {**LADDER, "gop_s": 1.0, "segment_s": 2.0, "compare_fixed": False}  # chunks are the point here
    request = StreamingRequest.parse({
        "source": {"$blob": key}, "profile": {"min_height": 90}, "ladder_options": ladder, "chunk": "always",
        "chunk_target_s": 2.0, "chunk_min_s": 1.0,
    })  # fmt: skip
    done = services.wait(submit(services.workflows, request).id, timeout_s=300)
    assert done.state == "succeeded", done.error
    out = done.outputs
    plan = out["chunks"]["plan"]
    assert out["chunks"]["chunked"] and len(plan) >= 3
    assert any(c["start_frame"] % 12 for c in plan)  # a seam between the source's keyframes
    assert all(t.attempts == 1 for t in services.workflows.tasks(done.id, step="encode"))  # verified first time
    assert all(r["frames"] == 190 for r in out["renditions"])
    assert out["validation"] and all(v["ok"] for v in out["validation"])
    for entry in out["quality"]:
        psnr = json.loads(blobs.get_bytes(entry["frames"]["$blob"]))["psnr"]
        assert len(psnr) == 190
        median = sorted(psnr)[len(psnr) // 2]
        seams = [psnr[c["start_frame"] + i] for c in plan[1:] for i in range(3)]
        assert min(seams) > median - 3, (entry["name"], median, seams)
    top = out["renditions"][0]
    delivered = blobs.get_file(top["file"]["$blob"], tmp_path / "top.mp4")
    whole = encode(source, tmp_path / "whole.mp4", Recipe.from_dict(top["recipe"]), timeout_s=120)
    assert _nearest(delivered, _luma(whole.path)) == list(range(190))


def _luma(path: Path) -> list[np.ndarray[Any, Any]]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="gray").astype(np.float64) for f in container.decode(video=0)]


def _nearest(made: Path, whole: list[np.ndarray[Any, Any]]) -> list[int]:
    """For each frame of ``made``, the frame of ``whole`` it shows (the nearest picture among the 25
    around its own index)."""
    found = []
    for i, frame in enumerate(_luma(made)):
        lo, hi = max(0, i - 12), min(len(whole), i + 13)
        found.append(lo + int(np.argmin([np.mean((frame - w) ** 2) for w in whole[lo:hi]])))
    return found
