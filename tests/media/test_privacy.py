"""No source metadata reaches an output: every ffmpeg output drops it (``ffmpeg.private_outputs``)."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from darkroom.media.encode import encode_audio, encode_ladder
from darkroom.media.errors import InvalidMedia
from darkroom.media.ffmpeg import STRIP_METADATA, audio_language, private_outputs, run
from darkroom.media.package import package
from darkroom.media.recipe import AudioRecipe, Recipe
from darkroom.media.storyboard import poster, storyboard
from tests.media.conftest import PHONE_METADATA, TAGGED_AUDIO_LANGUAGE, TAGGED_METADATA
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


def _audio_languages(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [str(s.metadata.get("language", "")) for s in container.streams.audio]


def test_a_tagged_clip_leaves_no_metadata_in_any_output(tagged_clip: Path, tmp_path: Path) -> None:
    with av.open(str(tagged_clip)) as container:
        tags = dict(container.metadata)
    assert tags["com.apple.quicktime.model"] == "iPhone 12 Pro" and "location" in tags and "creation_time" in tags
    assert _audio_languages(tagged_clip) == [TAGGED_AUDIO_LANGUAGE]
    files = _publish(tagged_clip, tmp_path)
    _check(files, tagged_clip, TAGGED_METADATA)
    # the audio's language is the one tag kept: players choose audio tracks by it
    for name in ("180p.mp4", "audio.m4a"):
        assert _audio_languages(tmp_path / name) == [TAGGED_AUDIO_LANGUAGE], name
    assert _audio_languages(tmp_path / "90p.mp4") == []
    with_audio = [p for p in files if p.suffix in (".mp4", ".m4a") and "init" in p.name and _audio_languages(p)]
    assert with_audio and all(_audio_languages(p) == [TAGGED_AUDIO_LANGUAGE] for p in with_audio)
    mpd = next(p for p in files if p.suffix == ".mpd").read_text()
    assert f'lang="{TAGGED_AUDIO_LANGUAGE}"' in mpd
    master = (tmp_path / "package" / "hls" / "master.m3u8").read_text()
    assert f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",LANGUAGE="{TAGGED_AUDIO_LANGUAGE}",' in master


def test_the_language_is_three_letters_and_und_is_none(tmp_path: Path) -> None:
    assert private_outputs(["-i", "in.mp4", "out.mp4"], audio_language="fra")[-3:] == [
        "-metadata:s:a", "language=fra", "out.mp4",
    ]  # fmt: skip
    with pytest.raises(InvalidMedia, match="'fr; x'"):
        private_outputs(["out.mp4"], audio_language="fr; x")
    und = tmp_path / "und.m4a"
    run(["-f", "lavfi", "-i", "sine=duration=0.2", "-c:a", "aac", str(und)], timeout_s=30)
    assert audio_language(["-f", "lavfi", "-i", "sine", "-i", str(und)]) is None
    assert audio_language(["-i", str(tmp_path / "missing.mp4")]) is None


def test_the_real_phone_clip_leaves_no_location_in_any_output(phone_clip: Path, tmp_path: Path) -> None:
    with av.open(str(phone_clip)) as container:
        assert container.metadata["location"] == PHONE_METADATA.location
    _check(_publish(phone_clip, tmp_path), phone_clip, PHONE_METADATA)
