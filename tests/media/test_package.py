from __future__ import annotations

import io
import re
import shutil
from fractions import Fraction
from pathlib import Path
from xml.etree import ElementTree

import av
import pytest

from darkroom.media.encode import encode_audio, encode_ladder
from darkroom.media.errors import FfmpegFailed, InvalidMedia, MediaError
from darkroom.media.package import Package, codec_string, package, play_through
from darkroom.media.recipe import AudioRecipe, Recipe
from tests.media.conftest import ClipFactory

_RUNGS = (
    Recipe("h264", 320, 180, crf=30, maxrate_kbps=600, profile="high", preset="veryfast", gop_s=1, segment_s=1,
           name="180p"),
    Recipe("h264", 160, 90, crf=30, maxrate_kbps=300, profile="main", preset="veryfast", gop_s=1, segment_s=1,
           name="90p"),
)  # fmt: skip


@pytest.fixture(scope="module")
def encoded(clip: ClipFactory, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[tuple[Path, Recipe]], Path]:
    root = tmp_path_factory.mktemp("ladder")
    source = clip(seconds=2)
    outs = [(root / f"{r.name}.mp4", r) for r in _RUNGS]
    encode_ladder(source, outs, timeout_s=60)
    audio = encode_audio(source, root / "audio.m4a", AudioRecipe("aac", 64, 2), timeout_s=60)
    return outs, audio


@pytest.fixture(scope="module")
def packaged(encoded: tuple[list[tuple[Path, Recipe]], Path], tmp_path_factory: pytest.TempPathFactory) -> Package:
    outs, audio = encoded
    seen: list[float] = []
    result = package(outs, audio, tmp_path_factory.mktemp("pkg"), segment_s=1, timeout_s=60, progress=seen.append)
    assert seen[-1] == 1.0
    return result


def test_master_playlist_lists_renditions_with_codecs(packaged: Package) -> None:
    assert packaged.master is not None
    text = packaged.master.read_text()
    variants = re.findall(r"#EXT-X-STREAM-INF:(.*)\n(.*)", text)
    assert len(variants) == 2
    by_res = {re.search(r"RESOLUTION=(\d+x\d+)", attrs)[1]: (attrs, uri) for attrs, uri in variants}  # type: ignore[index]
    assert set(by_res) == {"320x180", "160x90"}
    assert 'CODECS="avc1.64' in by_res["320x180"][0]  # High profile
    assert 'CODECS="avc1.4d' in by_res["160x90"][0]  # Main profile
    for attrs, uri in variants:
        assert "mp4a.40.2" in attrs and 'AUDIO="audio"' in attrs and "FRAME-RATE=25.000" in attrs
        assert re.search(r"AVERAGE-BANDWIDTH=\d+", attrs) and re.search(r"(^|,)BANDWIDTH=\d+", attrs)
        assert (packaged.master.parent / uri).exists()
    assert re.search(r'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio".*CHANNELS="2".*URI="audio/index.m3u8"', text)
    # highest bandwidth first
    bandwidths = [int(re.search(r"(?:^|,)BANDWIDTH=(\d+)", a)[1]) for a, _ in variants]  # type: ignore[index]
    assert bandwidths == sorted(bandwidths, reverse=True)


def test_segments_exist_and_start_on_keyframes(packaged: Package) -> None:
    assert packaged.audio is not None and packaged.audio.segments >= 2
    for rendition in packaged.renditions:
        assert rendition.segments == 2 and rendition.bandwidth >= rendition.average_bandwidth > 0
        assert rendition.playlist is not None
        lines = rendition.playlist.read_text().splitlines()
        segments = [rendition.playlist.parent / line for line in lines if line.endswith(".m4s")]
        assert len(segments) == 2
        init = (rendition.playlist.parent / "init.mp4").read_bytes()
        for segment in segments:
            with av.open(io.BytesIO(init + segment.read_bytes()), "r") as container:
                packets = [p for p in container.demux(container.streams.video[0]) if p.size]
            assert packets[0].is_keyframe
            assert len(packets) == 25  # 1 s at 25 fps: uniform segments
    assert not (packaged.out_dir / ".package.partial").exists()


def test_dash_manifest_lists_representations_and_audio(packaged: Package) -> None:
    assert packaged.mpd is not None
    ns = {"d": "urn:mpeg:dash:schema:mpd:2011"}
    root = ElementTree.parse(packaged.mpd).getroot()
    sets = root.findall(".//d:AdaptationSet", ns)
    video = [r for s in sets for r in s.findall("d:Representation", ns) if r.get("width")]
    audio = [r for s in sets for r in s.findall("d:Representation", ns) if r.get("audioSamplingRate")]
    assert sorted((r.get("width"), r.get("height")) for r in video) == [("160", "90"), ("320", "180")]
    assert len(audio) == 1
    assert root.findall(".//d:SegmentTimeline", ns)


def test_codec_strings(encoded: tuple[list[tuple[Path, Recipe]], Path]) -> None:
    outs, audio = encoded
    assert re.fullmatch(r"avc1\.6400[0-9a-f]{2}", codec_string(outs[0][0]))  # High, no constraints
    assert codec_string(audio, audio=True) == "mp4a.40.2"


def test_gop_not_dividing_segment_is_refused(encoded: tuple[list[tuple[Path, Recipe]], Path], tmp_path: Path) -> None:
    outs, _ = encoded
    with pytest.raises(InvalidMedia) as info:
        package(outs, None, tmp_path, segment_s=1.5, timeout_s=30)
    assert info.value.code == "bad_package"


def test_runs_twice_into_the_same_folder(encoded: tuple[list[tuple[Path, Recipe]], Path], tmp_path: Path) -> None:
    outs, audio = encoded
    first = package(outs[:1], audio, tmp_path, segment_s=1, formats=("hls",), timeout_s=60)
    again = package(outs[:1], audio, tmp_path, segment_s=1, formats=("hls",), timeout_s=60)
    assert first.master is not None and again.master is not None and again.mpd is None
    assert again.master.read_text() == first.master.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hls"]  # no staging left, no DASH asked


def test_rungs_rounded_to_even_sizes_share_the_source_aspect_so_dash_accepts_them(
    clip: ClipFactory, tmp_path: Path
) -> None:
    # 16:9 at 480 and 240 lines rounds to 854x480 and 426x240, not exactly 16:9 in pixels: the
    # encoder keeps the display aspect in the sample aspect, and DASH needs one aspect per set.
    source = clip(seconds=1, size="640x360", audio=False)
    rungs = [
        Recipe("h264", w, h, crf=35, preset="ultrafast", gop_s=1, segment_s=1, name=f"{h}p")
        for w, h in ((640, 360), (426, 240))
    ]
    outs = [(tmp_path / f"{r.name}.mp4", r) for r in rungs]
    encode_ladder(source, outs, timeout_s=60)
    with av.open(str(outs[1][0])) as c:
        video = c.streams.video[0]
        assert (video.width, video.height) == (426, 240)
        assert video.display_aspect_ratio == Fraction(16, 9)
    done = package(outs, None, tmp_path / "pkg", segment_s=1, timeout_s=60)
    assert done.mpd is not None and done.mpd.exists()


def test_the_package_plays_through_and_a_missing_segment_does_not(packaged: Package, tmp_path: Path) -> None:
    assert packaged.master is not None and packaged.mpd is not None
    play_through(packaged.master, timeout_s=60)
    play_through(packaged.mpd, timeout_s=60)
    broken = tmp_path / "hls"
    shutil.copytree(packaged.master.parent, broken)
    (broken / "180p" / "init.mp4").unlink()
    with pytest.raises(MediaError):
        play_through(broken / packaged.master.name, timeout_s=60)
    # ffmpeg skips a missing media segment with a warning and exits 0: still not playing through
    gap = tmp_path / "gap"
    shutil.copytree(packaged.master.parent, gap)
    sorted((gap / "180p").glob("*.m4s"))[0].unlink()
    with pytest.raises(FfmpegFailed, match="skipped segments"):
        play_through(gap / packaged.master.name, timeout_s=60)
