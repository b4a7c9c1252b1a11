"""probe() and detect_kind() on generated clips: streams, timing, rotation, VFR, colour, kinds, errors."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import pytest
from PIL import Image

from darkroom.media.errors import InvalidMedia
from darkroom.media.ffmpeg import run
from darkroom.media.probe import Detected, detect, detect_kind, probe

ClipFactory = Callable[..., Path]
SRC = "testsrc2=size=320x180:rate=25:duration=1"


def _ffmpeg(out: Path, *args: str) -> Path:
    run([*args, str(out)], timeout_s=60, what=f"making {out.name}")
    return out


def test_basic_clip(clip: ClipFactory) -> None:
    info = probe(clip(seconds=2, size="320x180", fps=25))
    assert info.kind == "video"
    assert "mp4" in info.container
    assert info.duration_s == pytest.approx(2.0, abs=0.05)
    assert info.size_bytes > 0 and info.bit_rate
    video = info.primary_video
    assert video is not None
    assert (video.codec, video.width, video.height) == ("h264", 320, 180)
    assert video.avg_frame_rate == pytest.approx(25) and video.r_frame_rate == pytest.approx(25)
    assert not video.vfr
    assert video.frame_count == 50
    assert (video.pix_fmt, video.bit_depth, video.field_order) == ("yuv420p", 8, "progressive")
    assert video.sample_aspect == Fraction(1) and video.display_aspect == Fraction(16, 9)
    assert video.rotation == 0 and not video.hdr
    audio = info.primary_audio
    assert audio is not None
    assert (audio.codec, audio.channels, audio.layout, audio.sample_rate) == ("aac", 2, "stereo", 48000)
    assert audio.bit_rate


def test_surround_and_mono_layouts(clip: ClipFactory) -> None:
    surround = probe(clip(channels=6)).primary_audio
    mono = probe(clip(channels=1)).primary_audio
    assert surround is not None and (surround.channels, surround.layout) == (6, "5.1")
    assert mono is not None and (mono.channels, mono.layout) == (1, "mono")


@pytest.mark.parametrize("degrees", [90, -90, 180])
def test_rotation_matches_the_decoded_display_matrix(clip: ClipFactory, tmp_path: Path, degrees: int) -> None:
    rotated = _ffmpeg(tmp_path / "rotated.mp4", "-display_rotation", str(degrees), "-i", str(clip()), "-c", "copy")
    video = probe(rotated).primary_video
    with av.open(str(rotated)) as container:  # the oracle: PyAV reads the matrix off a decoded frame
        frame = next(container.decode(video=0))
    assert video is not None
    assert video.rotation % 360 == frame.rotation % 360 == degrees % 360
    assert video.display_size == ((180, 320) if degrees % 180 else (320, 180))


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_variable_frame_rate(tmp_path: Path, container: str) -> None:
    # 5 frames kept, 5 dropped: frame durations alternate between 40 ms and 240 ms
    vfr = _ffmpeg(tmp_path / f"vfr.{container}", "-f", "lavfi", "-i", SRC, "-vf", r"select=lt(mod(n\,10)\,5)",
                  "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast")  # fmt: skip
    video = probe(vfr).primary_video
    assert video is not None and video.vfr


def test_ntsc_rate_is_constant(tmp_path: Path) -> None:
    # 29.97 fps in Matroska's 1 ms time base alternates 33/34 ms steps: rounding, not VFR
    ntsc = _ffmpeg(tmp_path / "ntsc.mkv", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=30000/1001:duration=1",
                   "-c:v", "libx264", "-preset", "ultrafast")  # fmt: skip
    video = probe(ntsc).primary_video
    assert video is not None and not video.vfr
    assert video.frame_rate == pytest.approx(29.97, abs=0.01)


@pytest.mark.parametrize(("transfer", "pix_fmt"), [("smpte2084", "yuv420p10le"), ("arib-std-b67", "yuv420p")])
def test_hdr_tags(tmp_path: Path, transfer: str, pix_fmt: str) -> None:
    tags = f"setparams=color_primaries=bt2020:color_trc={transfer}:colorspace=bt2020nc:range=tv"
    hdr = _ffmpeg(tmp_path / "hdr.mp4", "-f", "lavfi", "-i", SRC, "-vf", tags, "-c:v", "libx264", "-preset",
                  "ultrafast", "-pix_fmt", pix_fmt)  # fmt: skip
    video = probe(hdr).primary_video
    assert video is not None and video.hdr
    assert (video.color_primaries, video.color_transfer, video.color_matrix) == ("bt2020", transfer, "bt2020nc")
    assert video.color_range == "tv"
    assert video.bit_depth == (10 if "10" in pix_fmt else 8)


def test_bt709_is_not_hdr(clip: ClipFactory) -> None:
    video = probe(clip(vf="setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709")).primary_video
    assert video is not None and not video.hdr and video.color_transfer == "bt709"


def test_coded_field_order(tmp_path: Path) -> None:
    fields = _ffmpeg(tmp_path / "tff.mp4", "-f", "lavfi", "-i", "testsrc2=size=160x96:rate=50:duration=1", "-vf",
                     "tinterlace=mode=interleave_top,setfield=tff", "-c:v", "libx264", "-preset", "ultrafast",
                     "-flags", "+ilme+ildct")  # fmt: skip
    video = probe(fields).primary_video
    assert video is not None and video.field_order == "tt" and video.frame_rate == pytest.approx(25)


def test_kinds_by_content(clip: ClipFactory, tmp_path: Path) -> None:
    video = clip(seconds=1)
    disguised = tmp_path / "holiday.jpg"
    disguised.write_bytes(video.read_bytes())
    photo = tmp_path / "clip.mp4"
    Image.new("RGB", (64, 48), "teal").save(photo, format="JPEG")
    png = tmp_path / "shot.png"
    Image.new("RGB", (64, 48), "teal").save(png)
    audio = _ffmpeg(tmp_path / "a.m4a", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac")
    assert detect_kind(video) == detect_kind(disguised) == "video"
    assert detect_kind(photo) == detect_kind(png) == "photo"
    assert detect_kind(audio) == "audio"
    info = probe(photo)
    assert (info.kind, info.container, info.primary_video and info.primary_video.width) == ("photo", "jpeg", 64)


@pytest.mark.parametrize(
    ("fmt", "codec", "mime"),
    [("mp4", "mpeg4", "video/mp4"), ("mov", "mpeg4", "video/quicktime"), ("matroska", "mpeg4", "video/x-matroska"),
     ("mpegts", "mpeg2video", "video/mp2t"), ("avi", "mpeg4", "video/x-msvideo")],
)  # fmt: skip
def test_the_media_type_comes_from_the_content(tmp_path: Path, fmt: str, codec: str, mime: str) -> None:
    out = tmp_path / "clip.bin"  # the name says nothing
    _ffmpeg(out, "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=5:duration=0.4", "-c:v", codec, "-f", fmt)
    assert detect(out) == Detected("video", mime)


def test_the_media_type_of_photos_and_sound(tmp_path: Path) -> None:
    photo = tmp_path / "a.mp4"
    Image.new("RGB", (64, 48), "teal").save(photo, format="PNG")
    audio = _ffmpeg(tmp_path / "a.jpg", "-f", "lavfi", "-i", "sine=duration=0.2", "-c:a", "aac", "-f", "mp4")
    assert (detect(photo), detect(audio)) == (Detected("photo", "image/png"), Detected("audio", "audio/mp4"))


def test_single_image_in_a_container_is_a_photo(tmp_path: Path) -> None:
    still = _ffmpeg(tmp_path / "still.mov", "-f", "lavfi", "-i", SRC, "-frames:v", "1", "-c:v", "png")
    assert detect_kind(still) == "photo"


def test_avif_and_heic_are_photos(tmp_path: Path) -> None:
    import pillow_heif

    avif = tmp_path / "x.avif"
    Image.new("RGB", (64, 48), "teal").save(avif)
    heic = tmp_path / "x.heic"
    pillow_heif.from_pillow(Image.new("RGB", (64, 48), "teal")).save(heic)
    assert detect_kind(avif) == detect_kind(heic) == "photo"


def test_cover_art_does_not_make_audio_a_video(tmp_path: Path) -> None:
    art = tmp_path / "art.jpg"
    Image.new("RGB", (64, 64), "red").save(art)
    song = _ffmpeg(tmp_path / "song.mp3", "-f", "lavfi", "-i", "sine=duration=1", "-i", str(art), "-map", "0",
                   "-map", "1", "-c:a", "libmp3lame", "-c:v", "mjpeg", "-disposition:v", "attached_pic")  # fmt: skip
    info = probe(song)
    assert info.kind == "audio" and info.video == () and len(info.audio) == 1


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"", "empty"), (b"just some text, not media\n" * 40, "unreadable"), (None, "not_found")],
)
def test_errors_are_typed(tmp_path: Path, content: bytes | None, code: str) -> None:
    path = tmp_path / "input.mp4"
    if content is not None:
        path.write_bytes(content)
    for call in (probe, detect_kind):
        with pytest.raises(InvalidMedia) as caught:
            call(path)
        assert caught.value.code == code and "input.mp4" in str(caught.value)


def test_a_directory_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(InvalidMedia) as caught:
        probe(tmp_path)
    assert caught.value.code == "unreadable"


def test_pixel_limit_applies_to_video_and_photos(clip: ClipFactory, tmp_path: Path) -> None:
    png = tmp_path / "big.png"
    Image.new("L", (400, 300)).save(png)
    for path in (clip(), png):
        with pytest.raises(InvalidMedia) as caught:
            probe(path, max_pixels=50_000)
        assert caught.value.code == "decompression_bomb"


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_non_square_sample_aspect(clip: ClipFactory, container: str) -> None:
    # 120x90 stored, 4:3 pixels: shown 160x90, a 16:9 picture from a 4:3 frame
    anamorphic = clip(seconds=1, size="120x90", audio=False, vf="setsar=4/3", container=container)
    video = probe(anamorphic).primary_video
    assert video is not None
    assert (video.width, video.height) == (120, 90)
    assert video.sample_aspect == Fraction(4, 3)
    assert video.display_aspect == Fraction(16, 9)
    assert video.display_size == (160, 90)


def test_sample_aspect_is_applied_before_rotation(clip: ClipFactory, tmp_path: Path) -> None:
    anamorphic = clip(seconds=1, size="120x90", audio=False, vf="setsar=4/3")
    rotated = _ffmpeg(tmp_path / "rotated.mp4", "-display_rotation", "90", "-i", str(anamorphic), "-c", "copy")
    video = probe(rotated).primary_video
    assert video is not None and video.sample_aspect == Fraction(4, 3) and video.rotation == 90
    assert video.display_size == (90, 160)  # 160x90 as shown upright, then a quarter turn
