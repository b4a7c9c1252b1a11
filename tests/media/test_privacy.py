"""No source metadata reaches an output: every ffmpeg output drops it (``ffmpeg.private_outputs``)."""

from __future__ import annotations

from pathlib import Path

import av

from darkroom.media.encode import encode_audio, encode_ladder
from darkroom.media.ffmpeg import STRIP_METADATA, private_outputs
from darkroom.media.package import package
from darkroom.media.recipe import AudioRecipe, Recipe
from darkroom.media.storyboard import poster, storyboard
from tests.media.conftest import PHONE_METADATA, TAGGED_METADATA
from tests.media.privacy import SourceMetadata, leaks


def test_every_output_gets_the_strip_flags_and_nothing_else_does() -> None:
    args = [
        "-ss", "1.5", "-noaccurate_seek", "-i", "in.mp4", "-filter_complex", "[0:v]split=2[a][b]",
        "-map", "[a]", "-an", "-crf", "-1", "-f", "mp4", "out1.mp4",
        "-map", "[b]", "-hls_segment_filename", "seg_%05d.m4s", "-f", "hls", "out2.m3u8",
        "-f", "null", "-",
    ]  # fmt: skip
    out = private_outputs(args)
    outputs = [i for i, a in enumerate(out) if a in ("out1.mp4", "out2.m3u8", "-")]
    assert len(outputs) == 3
    for i in outputs:
        assert tuple(out[i - len(STRIP_METADATA) : i]) == STRIP_METADATA
    assert out.count("-map_metadata") == out.count("-map_metadata:s") == 3  # global and per stream, each output
    # inputs, option values (even ones starting with "-") and value-less flags are left as they were
    for i in reversed(outputs):
        del out[i - len(STRIP_METADATA) : i]
    assert out == args


def _publish(source: Path, root: Path) -> list[Path]:
    """Everything the media layer makes of ``source``: a two-rung ladder (one with audio), the
    audio rendition, the HLS/DASH package, the poster and the storyboard."""
    rungs = [
        Recipe("h264", 320, 180, crf=30, preset="ultrafast", gop_s=1, segment_s=1, name="180p", audio=AudioRecipe()),
        Recipe("h264", 160, 90, crf=30, preset="ultrafast", gop_s=1, segment_s=1, name="90p"),
    ]
    outs = [(root / f"{r.name}.mp4", r) for r in rungs]
    encode_ladder(source, outs, timeout_s=120)
    audio = encode_audio(source, root / "audio.m4a", AudioRecipe(), timeout_s=60)
    package(outs, audio, root / "package", segment_s=1, timeout_s=60)
    poster(source, root / "poster.jpg")
    storyboard(source, root / "storyboard")
    return sorted(p for p in root.rglob("*") if p.is_file())


def _check(files: list[Path], source: Path, metadata: SourceMetadata) -> None:
    assert leaks(source, metadata)  # the scan does see the source's metadata…
    kinds = {p.suffix for p in files}
    assert {".mp4", ".m4a", ".m4s", ".m3u8", ".mpd", ".jpg", ".vtt"} <= kinds
    assert any(p.name.startswith("init") for p in files)  # …and the init segments, where loci was found
    found = [leak for path in files for leak in leaks(path, metadata)]
    assert found == []  # …and none of it in anything published


def test_a_tagged_clip_leaves_no_metadata_in_any_output(tagged_clip: Path, tmp_path: Path) -> None:
    with av.open(str(tagged_clip)) as container:
        tags = dict(container.metadata)
    assert tags["com.apple.quicktime.model"] == "iPhone 12 Pro" and "location" in tags and "creation_time" in tags
    _check(_publish(tagged_clip, tmp_path), tagged_clip, TAGGED_METADATA)


def test_the_real_phone_clip_leaves_no_location_in_any_output(phone_clip: Path, tmp_path: Path) -> None:
    with av.open(str(phone_clip)) as container:
        assert container.metadata["location"] == PHONE_METADATA.location
    _check(_publish(phone_clip, tmp_path), phone_clip, PHONE_METADATA)
