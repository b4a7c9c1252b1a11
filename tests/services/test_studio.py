"""studio.video through the real runtime: engine + worker over Redis and SQLite, blobs in/out."""

from __future__ import annotations

from pathlib import Path

import pytest

from darkroom.runtime.files import read_tree
from darkroom.services import STUDIO_VIDEO, StudioRequest, submit
from darkroom.services.chunking import fitted_recipes
from darkroom.storage.blobs import open_blobs
from tests.media.conftest import real_clip
from tests.runtime.conftest import Platform
from tests.services.conftest import scratch_files

CORPUS = Path(__file__).parents[1] / "media" / "corpus"
# Two small H.264 rungs keep the run fast; the 2 s GOP divides the 2 s segment.
RECIPES = [
    {"codec": "h264", "width": 320, "height": 180, "crf": 30, "preset": "ultrafast", "name": "180p",
     "gop_s": 1.0, "segment_s": 2.0},
    {"codec": "h264", "width": 160, "height": 90, "crf": 30, "preset": "ultrafast", "name": "90p",
     "gop_s": 1.0, "segment_s": 2.0},
]  # fmt: skip
PROFILE = {"min_height": 90}


@pytest.mark.slow
def test_studio_video_packages_a_two_rung_ladder(services: Platform, source_clip: Path, tmp_path: Path) -> None:
    blobs = open_blobs(str(tmp_path / "blobs"))
    key = blobs.put_file("uploads/clip.mp4", source_clip).key
    services.start_engine()
    services.start_worker(blobs=blobs, concurrency=2)
    run = submit(services.workflows, StudioRequest.parse({"source": key, "recipes": RECIPES, "profile": PROFILE}))
    assert run.name == STUDIO_VIDEO and run.priority == "preview"
    done = services.wait(run.id, timeout_s=120)
    assert done.state == "succeeded", done.error
    out = done.outputs
    assert out["verdict"] == "accepted"
    master = blobs.get_bytes(out["master"]["$blob"]).decode()
    streams = [line for line in master.splitlines() if line.startswith("#EXT-X-STREAM-INF")]
    assert len(streams) == 2 and any("RESOLUTION=320x180" in s for s in streams)
    assert any("RESOLUTION=160x90" in s for s in streams)
    files = {e.path: e.key for e in read_tree(blobs, out["package"]["$tree"])}  # the folder, file by file
    assert "hls/master.m3u8" in files and "dash/manifest.mpd" in files
    assert blobs.get_bytes(files["hls/master.m3u8"]).decode() == master
    assert "<MPD" in blobs.get_bytes(out["mpd"]["$blob"]).decode()
    for key in files.values():
        assert blobs.get_bytes(key)  # every packaged file is stored
    assert [r["name"] for r in out["packaged"]] == ["180p", "90p"]
    assert blobs.get_bytes(out["poster"]["file"]["$blob"])[:2] == b"\xff\xd8"
    assert blobs.get_bytes(out["storyboard"]["vtt"]["$blob"]).startswith(b"WEBVTT")
    assert done.steps["inspect"].message == "accepted"  # progress travels from the child process
    assert not scratch_files(tmp_path)


@pytest.mark.slow
def test_studio_renditions_of_real_footage_stay_within_their_maxrate(services: Platform, tmp_path: Path) -> None:
    # The default ladder on the 7.6 s city clip: the 360p rung (cap 800 kb/s, 1600 kbit buffer)
    # averaged 867.8 kb/s when the encoder's VBV started 90 % full with the recipe's own sizes.
    blobs = open_blobs(str(tmp_path / "blobs"))
    key = blobs.put_file("uploads/city.mpg", real_clip()).key
    services.start_engine()
    services.start_worker(blobs=blobs, concurrency=2)
    done = services.wait(submit(services.workflows, StudioRequest.parse({"source": key})).id, timeout_s=300)
    assert done.state == "succeeded", done.error
    renditions = done.outputs["renditions"]
    assert [(r["recipe"]["height"], r["recipe"]["maxrate_kbps"]) for r in renditions] == [(360, 800), (240, 300)]
    for r in renditions:
        assert 0 < r["video_bitrate"] / 1000 <= r["recipe"]["maxrate_kbps"], r["name"]


HOSTILE = {
    "empty.mp4": "empty",
    "truncated.mp4": "truncated",
    "audio_only.m4a": "no_video",
    "corrupt_packets.ts": "decode_errors",
    "unsupported_codec.mp4": "unsupported_codec",
    "zero_fps.mp4": "zero_fps",
    "truncated_no_index.mp4": "unreadable",
    "photo_named.mp4": "wrong_kind",
}


@pytest.mark.parametrize(("name", "code"), HOSTILE.items())
def test_a_hostile_source_fails_the_run_with_its_issue_code(
    services: Platform, tmp_path: Path, name: str, code: str
) -> None:
    blobs = open_blobs(str(tmp_path / "blobs"))
    key = blobs.put_file(f"uploads/{name}", CORPUS / name).key
    services.start_engine()
    services.start_worker(blobs=blobs)
    run = services.workflows.start(STUDIO_VIDEO, {"source": {"$blob": key}, "recipes": RECIPES, "profile": PROFILE})
    done = services.wait(run.id, timeout_s=60)
    assert done.state == "failed"
    assert (done.error or "").startswith(f"step inspect: RejectedMedia: inspection rejected [{code}")
    assert done.steps["inspect"].attempts == 1  # permanent: no retry
    assert all(done.steps[s].state == "skipped" for s in ("encode", "audio", "package", "poster", "storyboard"))
    assert not scratch_files(tmp_path)


def test_without_recipes_the_default_ladder_is_fitted_to_the_source_without_audio() -> None:
    small = fitted_recipes(None, 320, 180)
    assert [(r.codec, r.width, r.height, r.audio) for r in small] == [("h264", 320, 180, None)]
    hd = fitted_recipes(None, 1280, 720)
    assert [(r.width, r.height) for r in hd] == [(1280, 720), (854, 480), (640, 360), (426, 240)]
