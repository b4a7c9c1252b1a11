"""Single-service workflows through the real runtime, and how service errors are retried."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from darkroom.media.assemble import ChunkInvalid
from darkroom.media.errors import InvalidMedia
from darkroom.observability import new_registry
from darkroom.runtime.context import TaskContext
from darkroom.runtime.metrics import WorkerMetrics
from darkroom.runtime.queues import ensure_queues
from darkroom.runtime.resources import BLOBS, Resources
from darkroom.runtime.worker import Worker
from darkroom.services import (
    ChunkFailed,
    InvalidRendition,
    LadderRequest,
    QualityRequest,
    RejectedMedia,
    ValidateRequest,
    parse,
    registry,
    submit,
)  # fmt: skip
from darkroom.services.common import QUEUE_MEDIA
from darkroom.services.encoding import encode_chunk_fn
from darkroom.storage.blobs import BlobStore
from tests.runtime.conftest import Platform
from tests.services.conftest import scratch_files


def test_a_bad_chunk_is_retried_while_bad_input_and_bad_renditions_fail_at_once() -> None:
    """A chunk that comes out wrong is worth another attempt (that one map item is redone); bad
    media, a rejected source or an invalid rendition is not."""
    encode_chunk = registry.get("media.encode_chunk")
    assert not encode_chunk.is_permanent(ChunkFailed("chunk 3 has 49 frames, expected 50"))
    assert encode_chunk.is_permanent(ChunkInvalid("chunk 3 is missing", path=Path("c3.mp4"), index=3))
    assert encode_chunk.is_permanent(InvalidMedia("unreadable", code="unreadable"))
    assert registry.get("media.validate").is_permanent(InvalidRendition("rendition x failed validation [codec]"))
    assert registry.get("media.inspect").is_permanent(RejectedMedia("inspection rejected [empty]", ["empty"]))


def test_a_chunk_that_comes_out_short_fails_its_verification(source_clip: Path, tmp_path: Path) -> None:
    """The check right after a chunk's encode: a plan promising frames the source does not have
    (the 2 s clip ends 25 frames after the chunk's start) is a ChunkFailed naming rung and code."""
    recipe = {"codec": "h264", "width": 160, "height": 90, "crf": 30, "gop_s": 1.0, "segment_s": 2.0,
              "preset": "ultrafast", "name": "90p"}  # fmt: skip
    chunk = {"index": 1, "start_s": 1.0, "duration_s": 1.0, "start_frame": 25, "frames": 25}
    ctx = TaskContext("chunk", 1, tmp_path / "ok")
    out = encode_chunk_fn(ctx, source_clip, chunk, [recipe], 25.0)
    assert out["frames"] == 25 and [r["name"] for r in out["renditions"]] == ["90p"]
    with pytest.raises(ChunkFailed, match=r"90p: .*has 25 frames, expected 40 \[frames\]"):
        encode_chunk_fn(
            TaskContext("chunk", 1, tmp_path / "short"), source_clip, {**chunk, "frames": 40}, [recipe], 25.0
        )


@pytest.mark.slow
def test_validation_fails_for_good_listing_every_error(
    services: Platform, blobs: BlobStore, source_clip: Path, tmp_path: Path
) -> None:
    key = blobs.put_file("uploads/clip.mp4", source_clip).key
    services.start_engine()
    services.start_worker(blobs=blobs)
    # The clip is 320x180: a recipe asking 160x90 makes a resolution error.
    recipe = {"codec": "h264", "width": 160, "height": 90, "crf": 30, "gop_s": 1.0, "segment_s": 2.0}
    request = ValidateRequest.parse(
        {"source": key, "rendition": {"name": "small", "file": {"$blob": key}, "recipe": recipe}}
    )
    done = services.wait(submit(services.workflows, request).id, timeout_s=60)
    assert done.state == "failed"
    assert "InvalidRendition: rendition small failed validation [resolution]" in (done.error or "")
    assert "is 320x180, not 160x90" in (done.error or "")
    assert done.steps["validate"].attempts == 1
    assert not scratch_files(tmp_path)


@pytest.mark.slow
def test_quality_in_pieces_joins_the_per_frame_scores(services: Platform, blobs: BlobStore, source_clip: Path) -> None:
    key = blobs.put_file("uploads/clip.mp4", source_clip).key
    services.start_engine()
    services.start_worker(blobs=blobs)
    request = QualityRequest.parse({
        "source": key, "distorted": key, "name": "same", "piece_s": 1.0,
        "options": {"metrics": ["psnr", "ssim"]},
    })  # fmt: skip
    done = services.wait(submit(services.workflows, request).id, timeout_s=60)
    assert done.state == "succeeded", done.error
    entry = done.outputs["quality"]
    assert entry["name"] == "same" and entry["errors"] == {}
    frames = json.loads(blobs.get_bytes(entry["frames"]["$blob"]))
    assert {m: len(v) for m, v in frames.items()} == {"psnr": 50, "ssim": 50}  # two 1 s pieces, 25 fps
    assert entry["pooled"]["psnr"]["min"] == pytest.approx(60.0)  # identical frames: libvmaf's cap
    assert entry["pooled"]["ssim"]["mean"] == pytest.approx(1.0)


@pytest.mark.slow
def test_a_fixed_ladder_is_the_default_ladder_fitted(services: Platform, blobs: BlobStore, source_clip: Path) -> None:
    key = blobs.put_file("uploads/clip.mp4", source_clip).key
    services.start_engine()
    services.start_worker(blobs=blobs)
    request = LadderRequest.parse({"source": key, "options": {"mode": "fixed", "preset": "veryfast", "gop_s": 1.0}})
    assert parse("ladder", request.model_dump(by_alias=True)) == request  # a request round-trips as JSON
    done = services.wait(submit(services.workflows, request).id, timeout_s=60)
    assert done.state == "succeeded", done.error
    ladder = done.outputs["ladder"]
    assert ladder["mode"] == "fixed" and ladder["points"] == [] and ladder["bd_rate_percent"] is None
    # a 320x180 source is smaller than every box: one rung at its own size, with the 240p rung's cap
    assert [(r["name"], r["width"], r["height"], r["maxrate_kbps"]) for r in ladder["recipes"]] == [
        ("240p", 320, 180, 300)
    ]
    assert ladder["recipes"][0]["preset"] == "veryfast" and ladder["recipes"][0]["gop_s"] == 1.0


@pytest.mark.slow
def test_encoding_then_packaging_and_video_images_compose_through_their_contracts(
    services: Platform, blobs: BlobStore, source_clip: Path, tmp_path: Path
) -> None:
    key = blobs.put_file("uploads/clip.mp4", source_clip).key
    services.start_engine()
    metrics = new_registry(runtime=False)
    services.start_worker(blobs=blobs, concurrency=2, metrics=WorkerMetrics(metrics))
    recipe = {"codec": "vp9", "width": 160, "height": 90, "crf": 40, "preset": "0", "name": "90p",
              "gop_s": 1.0, "segment_s": 2.0}  # fmt: skip
    encode = parse("encode", {"source": key, "recipes": [recipe], "policy": {"chunk": "never"}})
    images = parse("video_images", {"source": key, "interval_s": 1.0, "tile_width": 64})
    encoded = services.wait(submit(services.workflows, encode).id, timeout_s=60)
    pictures = services.wait(submit(services.workflows, images).id, timeout_s=60)
    assert encoded.state == "succeeded", encoded.error
    assert (
        encoded.outputs["chunks"]["chunked"] is False and encoded.outputs["chunks"]["reason"] == "chunk=never requested"
    )
    [rendition] = encoded.outputs["renditions"]
    assert (rendition["name"], rendition["frames"]) == ("90p", 50)
    # counted by the worker from the encode's child process: frames/s per codec is a rate of these
    assert metrics.get_sample_value("darkroom_media_frames_total", {"codec": "vp9"}) == 50
    assert metrics.get_sample_value("darkroom_media_encode_seconds_total", {"codec": "vp9"}) is not None
    # the encoding service's renditions are what the packaging service takes
    wire = {k: rendition[k] for k in ("name", "file", "recipe")}
    packaged = services.wait(submit(services.workflows, parse("package", {"renditions": [wire]})).id, timeout_s=60)
    assert packaged.state == "succeeded", packaged.error
    assert packaged.outputs["renditions"][0]["name"] == "90p"
    assert "#EXT-X-STREAM-INF" in blobs.get_bytes(packaged.outputs["master"]["$blob"]).decode()
    assert pictures.state == "succeeded", pictures.error
    assert pictures.outputs["storyboard"]["tiles"] == 2 and pictures.outputs["poster"]["width"] == 320
    assert not scratch_files(tmp_path)


@pytest.mark.slow
def test_a_worker_leaving_mid_chunk_costs_that_chunk_only(
    services: Platform, blobs: BlobStore, cut_clip: Path, tmp_path: Path
) -> None:
    """A worker that goes away while it encodes a chunk hands that task back; another worker redoes
    that one chunk (attempt 2) and the others run once."""
    key = blobs.put_file("uploads/cut.mp4", cut_clip).key
    services.start_engine()
    leaving = Worker(services.rq, registry, blobs=blobs, resources=Resources().give(BLOBS, blobs), concurrency=1,
                     scratch_root=tmp_path / "scratch", wait_s=0.2, grace_s=0.0)  # fmt: skip
    ensure_queues(services.rq, registry)
    gone = threading.Event()
    thread = threading.Thread(target=leaving.run, args=(gone,), daemon=True)
    thread.start()
    # VP9 at its slowest speed at the source's size: a 1 s chunk takes about 0.65 s on a fast core,
    # several times what the worker needs to notice that it must leave.
    recipe = {"codec": "vp9", "width": 320, "height": 180, "crf": 40, "preset": "0", "name": "180p",
              "gop_s": 1.0, "segment_s": 2.0}  # fmt: skip
    request = parse("encode", {"source": key, "recipes": [recipe],
                               "policy": {"chunk": "always", "target_s": 1.0, "min_s": 1.0}})  # fmt: skip
    run = submit(services.workflows, request)

    def running() -> list[int]:
        # Leased in the queue: true from the dequeue on, before any work starts. (The run's own
        # record says "running" only once a task has run a while, and a tiny chunk may be done by then.)
        leased = services.rq.query(QUEUE_MEDIA, state="running").messages
        return [int(m.id.rsplit(":", 1)[1]) for m in leased if m.id.startswith(f"{run.id}:encode:")]

    services.until(lambda: bool(running()), timeout_s=60)
    first = running()
    gone.set()  # the worker leaves: its running chunk is handed back (no grace), the queue retries it
    thread.join(timeout=30)
    services.start_worker(blobs=blobs, concurrency=2)
    done = services.wait(run.id, timeout_s=60)
    assert done.state == "succeeded", done.error
    attempts = {t.idx: t.attempts for t in services.workflows.tasks(run.id, step="encode")}
    assert len(attempts) == 3  # 4 s in chunks of 1, 1 and 2 s
    assert {i for i, n in attempts.items() if n > 1} == set(first)  # exactly the chunk that was running
    assert done.outputs["renditions"][0]["frames"] == 100
