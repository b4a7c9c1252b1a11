"""``darkroom process``: content sniffing, request checks, folder rebuilding and output checks
(fast), then photo, studio and streaming jobs end to end on one real local platform (slow)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image
from rich.console import Console
from typer.testing import CliRunner

from darkroom.cli import app
from darkroom.cli.demos.checks import check_result, hls_missing, mpd_missing
from darkroom.cli.demos.samples import make_clip, make_photo
from darkroom.config import Settings
from darkroom.local.errors import InvalidOptions, NotMedia, PlatformDown, UnknownProfile, UnusableOutputFolder
from darkroom.local.outputs import fetch_folder
from darkroom.local.platform import LocalPlatform, PlatformConfig
from darkroom.local.process import (
    APP,
    Job,
    JobResult,
    Sniffed,
    platform_problem,
    prepare_out,
    process,
    request_for,
    run_job,
    sniff,
    workflow_for,
)
from darkroom.local.redis_server import RedisServer
from darkroom.media.ffmpeg import ffmpeg_exe
from darkroom.runtime.files import put_tree
from darkroom.storage.blobs import LocalBlobs
from darkroom.storage.errors import InvalidBlobKey

CORPUS = Path(__file__).parents[1] / "media" / "corpus"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s, 320x180, 25 fps H.264 + AAC with a scene cut at 1 s."""
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", duration_s=2.0, width=320, height=180)


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_photo(tmp_path_factory.mktemp("photos") / "photo.jpg", width=600, height=400)


def test_the_kind_and_type_come_from_the_content_not_the_name(clip: Path, photo: Path, tmp_path: Path) -> None:
    assert sniff(clip) == Sniffed("video", "video/mp4") and sniff(photo) == Sniffed("photo", "image/jpeg")
    assert sniff(CORPUS / "video_named.jpg") == Sniffed("video", "video/mp4")
    assert sniff(CORPUS / "photo_named.mp4") == Sniffed("photo", "image/jpeg")
    assert sniff(CORPUS / "corrupt_packets.ts") == Sniffed("video", "video/mp2t")
    disguised = tmp_path / "holiday.jpg"
    shutil.copy(clip, disguised)
    assert sniff(disguised) == Sniffed("video", "video/mp4")
    pillow_heif.register_heif_opener()
    heic = tmp_path / "IMG_0001.bin"  # an iPhone photo under a meaningless name
    Image.new("RGB", (64, 48), (10, 120, 200)).save(heic, format="HEIF")
    assert sniff(heic) == Sniffed("photo", "image/heif")


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [("notes.mp4", b"just some text, not media at all\n" * 50, "unreadable"), ("empty.jpg", b"", "empty")],
)
def test_garbage_is_a_typed_error_naming_the_file(tmp_path: Path, name: str, data: bytes, code: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(NotMedia, match=name) as caught:
        sniff(path)
    assert caught.value.code == code and isinstance(caught.value, ValueError)


def test_audio_only_is_not_a_photo_or_a_video() -> None:
    with pytest.raises(NotMedia, match=r"audio_only\.m4a: audio only") as caught:
        sniff(CORPUS / "audio_only.m4a")
    assert caught.value.code == "audio_only"


def test_profiles_and_options_are_checked_before_anything_runs() -> None:
    assert workflow_for("video", "streaming") == "streaming.video"
    assert workflow_for("photo", "streaming") == "photo.renditions"
    with pytest.raises(UnknownProfile, match="'cinema'"):
        workflow_for("video", "cinema")
    with pytest.raises(InvalidOptions, match=r"ladder_options\.crfs"):
        request_for("streaming.video", "uploads/x.mp4", {"ladder_options": {"crfs": [99]}})
    with pytest.raises(InvalidOptions, match="colour"):
        request_for("studio.video", "uploads/x.mp4", {"colour": "red"})


def test_the_cli_refuses_garbage_without_starting_anything(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mov"
    junk.write_bytes(b"\x00\x01garbage" * 100)
    result = CliRunner().invoke(
        app, ["process", str(junk), "--out", str(tmp_path / "out"), "--home", str(tmp_path / "home")]
    )
    assert result.exit_code == 1
    assert "junk.mov" in result.output and "not a photo or a video" in result.output
    assert not (tmp_path / "home").exists()


def test_an_mpeg_clip_named_jpg_is_a_video(tmp_path: Path) -> None:
    """ffmpeg's demuxers trust a .jpg name (an image sequence); the kind comes from the bytes."""
    disguised = tmp_path / "IMG_0001.jpg"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-t", "1",
         "-c:v", "mpeg1video", "-f", "mpeg", str(disguised)],
        check=True, timeout=60,
    )  # fmt: skip
    assert sniff(disguised) == Sniffed("video", "video/mpeg")


def test_an_output_that_is_a_file_is_refused_before_anything_starts(clip: Path, tmp_path: Path) -> None:
    taken = tmp_path / "out.txt"
    taken.write_text("the user's own file")
    result = CliRunner().invoke(
        app, ["process", str(clip), "--out", str(taken), "--home", str(tmp_path / "home")], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.strip() == f"error: --out {taken}: exists and is not a folder"
    assert taken.read_text() == "the user's own file" and not (tmp_path / "home").exists()


def test_an_output_folder_that_cannot_be_written_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    for out in (tmp_path / "file" / "sub", Path("/proc/darkroom-out")):
        with pytest.raises(UnusableOutputFolder, match=re.escape(f"--out {out}: cannot write there")):
            prepare_out(out)
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o500)
    if os.geteuid() != 0:  # root writes anyway: the probe file would rightly succeed
        with pytest.raises(UnusableOutputFolder, match="cannot write there"):
            prepare_out(read_only)
    prepare_out(tmp_path / "new" / "deep")
    assert (tmp_path / "new" / "deep").is_dir() and not list((tmp_path / "new" / "deep").iterdir())


def test_folders_are_rebuilt_from_trees_and_never_escape(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path / "blobs")
    folder = tmp_path / "made"
    (folder / "hls" / "180p").mkdir(parents=True)
    (folder / "hls" / "180p" / "seg_00000.m4s").write_bytes(b"seg")
    (folder / "dash").mkdir()
    (folder / "dash" / "manifest.mpd").write_bytes(b"<MPD>")
    tree = {"$tree": put_tree(blobs, folder)}
    assert fetch_folder(blobs, tree, tmp_path / "one") == tmp_path / "one"
    assert (tmp_path / "one" / "hls" / "180p" / "seg_00000.m4s").read_bytes() == b"seg"
    assert (tmp_path / "one" / "dash" / "manifest.mpd").read_bytes() == b"<MPD>"
    assert fetch_folder(blobs, None, tmp_path / "two") is None
    a = blobs.put_bytes("cas/a", b"#EXTM3U\n").key
    evil = json.dumps({"files": [{"path": "../evil", "key": a, "bytes": 8}]}).encode()
    blobs.put_bytes("cas/evil.tree.json", evil)
    with pytest.raises(InvalidBlobKey, match=r"'\.\./evil'"):
        fetch_folder(blobs, {"$tree": "cas/evil.tree.json"}, tmp_path / "four")
    assert not (tmp_path / "evil").exists()


MPD = """<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011"><Period><AdaptationSet>
<Representation id="0" bandwidth="1000"><SegmentTemplate initialization="init-$RepresentationID$.m4s"
 media="chunk-$RepresentationID$-$Number%05d$.m4s" startNumber="1"><SegmentTimeline><S t="0" d="10" r="1"/>
</SegmentTimeline></SegmentTemplate></Representation></AdaptationSet></Period></MPD>"""


def test_playlist_and_manifest_checks_find_missing_files(tmp_path: Path) -> None:
    (tmp_path / "v").mkdir()
    (tmp_path / "master.m3u8").write_text(
        '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",URI="audio.m3u8"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/index.m3u8\n'
    )
    (tmp_path / "v" / "index.m3u8").write_text('#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\nseg0.m4s\nseg1.m4s\n')
    for name in ("v/init.mp4", "v/seg0.m4s"):
        (tmp_path / name).write_bytes(b"x")
    assert hls_missing(tmp_path / "master.m3u8") == (5, ["audio.m3u8", "v/seg1.m4s"])
    (tmp_path / "manifest.mpd").write_text(MPD)
    for name in ("init-0.m4s", "chunk-0-00001.m4s"):
        (tmp_path / name).write_bytes(b"x")
    assert mpd_missing(tmp_path / "manifest.mpd") == (3, ["chunk-0-00002.m4s"])


# -- end to end on the real local platform --------------------------------------------------------

STUDIO = {
    "recipes": [
        {"codec": "h264", "width": 320, "height": 180, "crf": 30, "preset": "ultrafast", "name": "180p",
         "gop_s": 1.0, "segment_s": 1.0},
        {"codec": "h264", "width": 160, "height": 90, "crf": 30, "preset": "ultrafast", "name": "90p",
         "gop_s": 1.0, "segment_s": 1.0},
    ],
    "profile": {"min_height": 90},
}  # fmt: skip
STREAMING = {
    "profile": {"min_height": 90},
    "ladder_options": {"heights": [180, 90], "crfs": [30, 38], "samples": 1, "sample_s": 1.0, "rungs": 2,
                       "gop_s": 1.0, "segment_s": 1.0, "trial_preset": "ultrafast", "preset": "ultrafast"},
    "chunk": "never",
    "quality": {"metrics": ["vmaf"], "subsample": 2},
}  # fmt: skip


@pytest.fixture(scope="module")
def processed(clip: Path, photo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, JobResult]]:
    """The photo, the clip in the studio profile, the clip in the streaming profile and a truncated
    file, on ONE platform start (1 engine, 1 worker x 2 slots)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    root = tmp_path_factory.mktemp("process")
    unnamed = root / "IMG_0001.dat"  # a name that says nothing: the report's type comes from the bytes
    shutil.copy(photo, unnamed)
    jobs = {
        "photo": Job(unnamed, root / "photo"),
        "studio": Job(clip, root / "studio", profile="studio", options=STUDIO),
        "streaming": Job(clip, root / "streaming", profile="streaming", options=STREAMING),
        "truncated": Job(CORPUS / "truncated.mp4", root / "truncated", profile="studio", options=STUDIO),
    }
    (root / "photo" / "renditions").mkdir(parents=True)
    (root / "photo" / "renditions" / "stale.jpg").write_bytes(b"from an earlier run")
    (root / "photo" / "notes.txt").write_text("the user's own file")
    console = Console(file=open(os.devnull, "w"), width=120)  # noqa: SIM115
    results = process(list(jobs.values()), home=root / "home", console=console, keep_going=True)
    yield dict(zip(jobs, results, strict=True))


def _checks(result: JobResult) -> dict[str, bool]:
    assert result.run is not None
    return {c.name: c.ok for c in check_result(result.job.out, result.report, result.files, state=result.run.state)}


def _html_ok(path: Path) -> str:
    text = path.read_text()
    parser = HTMLParser()
    parser.feed(text)
    parser.close()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        'xmlns:xlink="http://www.w3.org/1999/xlink"', ""
    )
    return text


@pytest.mark.slow
def test_a_photo_is_processed_to_renditions_without_gps(processed: dict[str, JobResult]) -> None:
    result = processed["photo"]
    assert result.ok, result.error
    checks = _checks(result)
    assert checks == {"run succeeded": True, "photo renditions present": True, "GPS absent from renditions": True,
                      "EXIF orientation applied": True}  # fmt: skip
    report = json.loads((result.job.out / "report.json").read_text())
    assert report["kind"] == "photo" and report["photo"]["source"]["had_gps"] is True
    assert report["source"] == {"name": "IMG_0001.dat", "bytes": result.job.source.stat().st_size, "kind": "photo",
                                "type": "image/jpeg"}  # fmt: skip
    assert report["photo"]["source"]["orientation"] == 6 and report["photo"]["blurhash"]
    assert report["run"]["steps"][0]["name"] == "render" and report["run"]["steps"][0]["took_s"] > 0
    assert report["photo"]["blurhash"] in _html_ok(result.job.out / "report.html")
    assert not (result.job.out / "renditions" / "stale.jpg").exists()  # an earlier run's output is replaced
    assert (result.job.out / "notes.txt").read_text() == "the user's own file"  # the rest is left alone


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_the_cli_processes_a_photo_with_a_bar_per_step(photo: Path, tmp_path: Path) -> None:
    out, home = tmp_path / "out", tmp_path / "home"
    result = CliRunner().invoke(
        app, ["process", str(photo), "--out", str(out), "--home", str(home)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["kind"] == "photo"
    assert (out / "report.html").is_file()
    renditions = report["files"]["renditions"]
    assert renditions and all((out / path).is_file() for path in renditions.values())
    assert {p.name for p in (out / "renditions").iterdir()} == {Path(path).name for path in renditions.values()}
    assert set(renditions) == {Path(path).name for path in renditions.values()}  # the report names the files
    assert {r["file_name"] for r in report["photo"]["renditions"]} == set(renditions)
    steps = [s["name"] for s in report["run"]["steps"]]
    assert steps == ["render"]
    assert "photo.jpg (photo) → photo.renditions" in result.output
    assert re.search(r"^  run wf_[0-9a-z]+$", result.output, re.MULTILINE)  # the run id on its own line
    bars = [line.split() for line in result.output.splitlines()]
    for step in steps:  # the per-step progress display: the step's bar ended at 100 %, succeeded
        assert any(words[0] == step and "100%" in words and "succeeded" in words for words in bars if words)
    assert "succeeded; wrote" in result.output
    assert not RedisServer(root=home).ping()  # the platform the command started is stopped


@pytest.mark.slow
def test_a_studio_clip_is_packaged_playable_with_poster_and_storyboard(processed: dict[str, JobResult]) -> None:
    result = processed["studio"]
    assert result.ok, result.error
    assert all(_checks(result).values()), _checks(result)
    out = result.job.out
    assert (out / "package" / "hls" / "master.m3u8").is_file() and (out / "package" / "dash" / "manifest.mpd").is_file()
    assert (out / "poster.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert (out / "storyboard" / "storyboard.vtt").read_text().startswith("WEBVTT")
    report = json.loads((out / "report.json").read_text())
    assert [r["name"] for r in report["renditions"]] == ["180p", "90p"]
    assert report["inspection"]["video"]["width"] == 320 and "ladder" not in report and "validation" not in report
    assert next(s["name"] for s in report["run"]["steps"]) == "inspect"
    html = _html_ok(out / "report.html")
    assert "<h2>Renditions</h2>" in html and "<h2>Ladder</h2>" not in html


@pytest.mark.slow
def test_a_streaming_clip_gets_a_per_title_ladder_quality_and_validation(processed: dict[str, JobResult]) -> None:
    result = processed["streaming"]
    assert result.ok, result.error
    checks = _checks(result)
    assert checks["validation ok"] and all(checks.values()), checks
    out = result.job.out
    report = json.loads((out / "report.json").read_text())
    assert len(report["ladder"]["points"]) == 4 and report["ladder"]["rungs"]
    assert report["chunks"]["chunked"] is False
    assert report["complexity"]["scenes"]
    assert json.loads((out / report["files"]["complexity"]).read_text()) == report["complexity"]
    assert report["inspection"]["video"]["frame_rate"] == 25.0
    for row in report["renditions"]:
        assert row["quality"]["vmaf"]["mean"] > 0 and row["valid"] is True
        frames = json.loads((out / report["files"]["quality"][row["name"]]).read_text())
        assert len(frames["vmaf"]) > 0
    html = _html_ok(out / "report.html")
    for heading in ("Inspection", "Complexity", "Ladder", "Renditions", "Quality over time", "Validation"):
        assert f"<h2>{heading}</h2>" in html
    assert html.count("<svg") >= 4


@pytest.mark.slow
def test_a_failed_run_still_gets_its_report_and_names_the_reason(processed: dict[str, JobResult]) -> None:
    result = processed["truncated"]
    assert not result.ok and result.run is not None and result.run.state == "failed"
    assert result.error is not None and str(CORPUS / "truncated.mp4") in result.error  # the user's file…
    assert not re.search(r"[0-9a-f]{64}", result.error)  # …not the content hash it was stored under
    report = json.loads((result.job.out / "report.json").read_text())
    assert "truncated" in report["run"]["error"]
    states = {s["name"]: s["state"] for s in report["run"]["steps"]}
    assert states["inspect"] == "failed" and states["package"] == "skipped"
    assert "truncated" in _html_ok(result.job.out / "report.html")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_the_cli_prints_a_failure_once_naming_the_file(tmp_path: Path) -> None:
    source = tmp_path / "my clip [final].mp4"
    shutil.copy(CORPUS / "truncated.mp4", source)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["process", str(source), "--out", str(out), "--home", str(tmp_path / "home")],
                                env={"COLUMNS": "300"})  # fmt: skip
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {source}: studio.video run wf_") and "ended failed" in line
    reason = line.split("ended failed: ", 1)[1]
    assert result.output.count(reason) == 1  # the progress display says "failed", not the reason again
    assert not re.search(r"[0-9a-f]{40}", result.output)  # the file's name everywhere, never its hash
    assert (out / "report.json").is_file()


@pytest.mark.slow
def test_a_dead_worker_stops_the_job_instead_of_hanging(photo: Path, tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    settings = replace(Settings.from_env({}), home=tmp_path / "home", grpc_addr="127.0.0.1:0")
    platform = LocalPlatform(settings, PlatformConfig(workers=1, concurrency=1, app=APP, metrics=False, grace_s=5))
    wiring = platform.start()
    try:
        worker = next(c for c in platform.children if c.name == "worker-1")
        assert worker.proc is not None
        worker.proc.kill()  # a worker process this test started
        worker.proc.wait()
        console = Console(file=open(os.devnull, "w"), width=120)  # noqa: SIM115
        with pytest.raises(PlatformDown, match="worker-1 exited with -9"):
            run_job(wiring, Job(photo, tmp_path / "out"), console=console, health=lambda: platform_problem(platform))
    finally:
        platform.stop()
