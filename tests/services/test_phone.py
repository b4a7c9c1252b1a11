"""Real phone footage through both video profiles: a variable frame rate is delivered at one
constant rate that validation checks, and nothing published carries the phone's location, capture
time or device strings (every rendition, package file, poster and storyboard is scanned)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from darkroom.media.probe import probe
from darkroom.runtime.files import get_tree
from darkroom.services import StreamingRequest, StudioRequest, submit
from darkroom.storage.blobs import BlobStore
from tests.media.conftest import PHONE_METADATA
from tests.media.privacy import leaks
from tests.runtime.conftest import Platform

FRAMES = 46  # 1.517 s of video at the chosen 30 fps (41 source frames at 27.02 fps on average)
RECIPES = [
    {"codec": "h264", "width": 320, "height": 180, "crf": 30, "preset": "ultrafast", "name": "180p",
     "gop_s": 0.5, "segment_s": 1.0},
    {"codec": "h264", "width": 160, "height": 90, "crf": 30, "preset": "ultrafast", "name": "90p",
     "gop_s": 0.5, "segment_s": 1.0},
]  # fmt: skip
LADDER = {
    "heights": [180, 90], "crfs": [28, 40], "samples": 1, "sample_s": 1.0, "rungs": 2, "min_step_ratio": 1.2,
    "trial_preset": "ultrafast", "preset": "ultrafast", "gop_s": 0.5, "segment_s": 1.0,
    # VMAF at the source's 1080p is most of this test's time: the default ladder is not scored, and
    # trials score every tenth frame (scoring the default ladder took 55 of the test's 80 s)
    "compare_fixed": False, "subsample": 10,
}  # fmt: skip


def _refs(value: Any) -> Iterator[tuple[str, str]]:
    """("$blob" | "$tree", key) of every file reference in a run's outputs."""
    if isinstance(value, dict):
        for kind in ("$blob", "$tree"):
            if isinstance(value.get(kind), str):
                yield kind, value[kind]
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def _published(outputs: dict[str, Any], blobs: BlobStore, dest: Path) -> list[Path]:
    files: list[Path] = []
    for i, (kind, key) in enumerate(dict.fromkeys(_refs(outputs))):
        target = dest / f"{i:03d}"
        if kind == "$tree":
            files += [p for p in get_tree(blobs, key, target).rglob("*") if p.is_file()]
        else:
            suffix = Path(key).suffix
            path = target.with_suffix(suffix or ".bin")
            blobs.get_file(key, path)
            files.append(path)
    return files


def _no_leaks(files: list[Path]) -> None:
    kinds = {p.suffix for p in files}
    assert {".mp4", ".m4s", ".m3u8", ".mpd", ".jpg", ".vtt"} <= kinds, kinds
    assert [leak for path in files for leak in leaks(path, PHONE_METADATA)] == []


def _constant_30(path: Path) -> None:
    video = probe(path).primary_video
    assert video is not None and not video.vfr and video.avg_frame_rate == 30.0


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_studio_delivers_the_phone_clip_at_30_fps_without_its_metadata(
    services: Platform, blobs: BlobStore, phone_clip: Path, tmp_path: Path
) -> None:
    key = blobs.put_file("uploads/phone.mp4", phone_clip).key
    services.start_engine()
    services.start_worker(blobs=blobs, concurrency=2)
    run = submit(services.workflows, StudioRequest.parse({"source": key, "recipes": RECIPES}))
    done = services.wait(run.id, timeout_s=180)
    assert done.state == "succeeded", done.error
    out = done.outputs
    video = out["inspection"]["info"]["video"][0]
    assert video["vfr"] is True and video["output_fps"] == 30.0 and "constant 30.000 fps" in video["output_fps_reason"]
    assert "variable_frame_rate" in [issue["code"] for issue in out["inspection"]["issues"]]  # a warning
    assert [r["frames"] for r in out["renditions"]] == [FRAMES, FRAMES]
    assert {r["frame_rate"] for r in out["packaged"]} == {30.0}
    files = _published(out, blobs, tmp_path / "published")
    for path in files:
        if path.suffix == ".mp4" and "init" not in path.name:
            _constant_30(path)
    _no_leaks(files)


@pytest.mark.slow
@pytest.mark.timeout(300)  # a 1080p source: trials, chunks and scores
def test_streaming_validates_the_phone_clip_at_its_chosen_rate_and_publishes_no_metadata(
    services: Platform, blobs: BlobStore, phone_clip: Path, tmp_path: Path
) -> None:
    key = blobs.put_file("uploads/phone.mp4", phone_clip).key
    services.start_engine()
    services.start_worker(blobs=blobs, concurrency=2)
    request = StreamingRequest.parse({
        "source": {"$blob": key}, "ladder_options": LADDER, "chunk": "always", "chunk_target_s": 0.5,
        "chunk_min_s": 0.5, "validation": {"decode": True}, "quality": {"metrics": ["psnr"]},
    })  # fmt: skip
    done = services.wait(submit(services.workflows, request).id, timeout_s=300)
    assert done.state == "succeeded", done.error
    out = done.outputs
    plan = out["chunks"]["plan"]
    assert out["chunks"]["chunked"] and [(c["start_frame"], c["frames"]) for c in plan] == [(0, 15), (15, 15), (30, 16)]
    assert [r["frames"] for r in out["renditions"]] == [FRAMES] * len(out["renditions"])
    assert all(v["ok"] for v in out["validation"]), out["validation"]
    assert not [d for v in out["validation"] for d in v["discrepancies"] if d["code"] == "frame_rate"]
    for entry in out["quality"]:  # the source on the same 30 fps grid: one score per rendition frame
        frames = json.loads(blobs.get_bytes(entry["frames"]["$blob"]))
        assert {len(v) for v in frames.values()} == {FRAMES}
        assert entry["pooled"]["psnr"]["mean"] > 20  # frame n is compared with the frame it was made from
    assert {r["frame_rate"] for r in out["packaged"]} == {30.0}
    _no_leaks(_published(out, blobs, tmp_path / "published"))
