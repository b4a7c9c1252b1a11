"""inspect() and analyze(): the one decode pass and the verdict rules, on generated clips."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from darkroom.media.errors import FfmpegFailed, MediaTimeout
from darkroom.media.ffmpeg import run
from darkroom.media.inspection import Inspection, TitleProfile, analyze, inspect
from darkroom.media.probe import probe

ClipFactory = Callable[..., Path]
SMALL = TitleProfile(min_height=90)  # the test clips are tiny; everything else stays the default
QUICK = TitleProfile(min_height=90, black_min_s=0.3, freeze_min_s=0.5)


def _codes(result: Inspection, severity: str) -> list[str]:
    return [i.code for i in result.issues if i.severity == severity]


def _issue(result: Inspection, code: str) -> str:
    return next(i.message for i in result.issues if i.code == code)


def test_a_clean_clip_is_accepted(clip: ClipFactory) -> None:
    result = inspect(clip(), SMALL)
    assert result.verdict == "accepted", result.issues
    assert result.issues == ()
    analysis = result.analysis
    assert analysis is not None
    assert not analysis.interlaced and analysis.field_order == "progressive"
    assert analysis.black_segments == () and analysis.frozen_segments == ()
    assert analysis.decode_errors == 0
    assert analysis.decoded_s == pytest.approx(2.0, abs=0.05)
    assert analysis.loudness_lufs is not None and -30 < analysis.loudness_lufs < -15
    json.dumps(result.to_dict())  # the report can embed it as is


def test_surround_audio_against_a_stereo_profile(clip: ClipFactory) -> None:
    result = inspect(clip(channels=6), SMALL)
    assert result.verdict == "rejected"
    assert _codes(result, "error") == ["audio_layout"]
    assert _issue(result, "audio_layout").startswith("audio is 5.1 but the title profile expects stereo")
    assert inspect(clip(channels=6), TitleProfile(min_height=90, audio_layout="5.1")).verdict == "accepted"


def test_interlaced_video(clip: ClipFactory) -> None:
    path = clip(fps=50, vf="tinterlace=mode=interleave_top,setfield=tff")
    result = inspect(path, SMALL)
    assert result.analysis is not None and result.analysis.interlaced
    assert result.analysis.field_order == "tff" and result.analysis.idet.tff > 40
    assert result.verdict == "rejected" and _codes(result, "error") == ["interlaced"]
    assert _issue(result, "interlaced") == (
        "video is interlaced (tff): deinterlace before upload or enable deinterlacing"
    )
    lenient = inspect(path, TitleProfile(min_height=90, deinterlace=True))
    assert lenient.verdict == "accepted" and _codes(lenient, "warning") == ["interlaced"]


def test_black_and_frozen_segments(clip: ClipFactory) -> None:
    black = inspect(clip(vf="drawbox=t=fill:c=black:enable='between(t,0.6,1.4)'"), QUICK)
    assert black.verdict == "accepted"
    assert black.analysis is not None and len(black.analysis.black_segments) == 1
    start, end = black.analysis.black_segments[0]
    assert start == pytest.approx(0.6, abs=0.05) and end == pytest.approx(1.44, abs=0.06)
    assert "black_segments" in _codes(black, "warning")
    # a black picture is also a still one
    assert black.analysis.frozen_segments and "frozen_segments" in _codes(black, "warning")

    frozen = inspect(clip(vf="trim=end_frame=10,tpad=stop_mode=clone:stop_duration=1.6"), QUICK)
    assert frozen.analysis is not None and frozen.analysis.black_segments == ()
    ((start, end),) = frozen.analysis.frozen_segments
    # the clones start at 0.4 s; x264 keeps refining the picture for a few frames after that
    assert 0.35 <= start <= 0.7 and end == pytest.approx(2.0, abs=0.05)
    assert _codes(frozen, "warning") == ["frozen_segments"] and frozen.verdict == "accepted"


def test_all_black_is_rejected(clip: ClipFactory) -> None:
    result = inspect(clip(pattern="color"), QUICK)  # lavfi "color" defaults to black
    assert "mostly_black" in _codes(result, "error")


def test_loudness_of_a_known_sine(tmp_path: Path) -> None:
    # A 1 kHz sine of amplitude 0.1 in both channels measures -20.0 LUFS and -20.0 dBTP by definition.
    tone = "0.1*sin(2*PI*1000*t)"
    path = tmp_path / "tone.mkv"
    run(["-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=2", "-f", "lavfi", "-i",
         f"aevalsrc={tone}|{tone}:s=48000:d=2", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le",
         str(path)], timeout_s=60)  # fmt: skip
    info = probe(path)
    analysis = analyze(path, info)
    assert analysis.loudness_lufs == pytest.approx(-20.0, abs=0.5)
    assert analysis.true_peak_db == pytest.approx(-20.0, abs=0.5)
    assert analysis.loudness_range_lu == pytest.approx(0.0, abs=1.0)
    quiet = inspect(path, TitleProfile(min_height=90, loudness_lufs=(-16.0, -12.0)))
    assert quiet.verdict == "accepted" and _codes(quiet, "warning") == ["loudness_out_of_range"]
    assert "-20.0 LUFS" in _issue(quiet, "loudness_out_of_range")


def test_silence(tmp_path: Path) -> None:
    path = tmp_path / "silent.mkv"
    run(["-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=1", "-f", "lavfi", "-i",
         "anullsrc=r=48000:cl=stereo", "-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le",
         str(path)], timeout_s=60)  # fmt: skip
    result = inspect(path, SMALL)
    assert _codes(result, "warning") == ["silent_audio"]
    json.dumps(result.to_dict())  # -inf true peak must not leak into JSON


def test_profile_checks_on_the_probe(clip: ClipFactory) -> None:
    path = clip()
    strict = TitleProfile(min_height=720, max_duration_s=1.0, require_audio=True, video_codecs=frozenset({"av1"}))
    result = inspect(path, strict)
    assert _codes(result, "error") == ["unsupported_codec", "resolution_too_low", "duration_too_long"]
    assert result.analysis is None  # the codec is refused: decoding would be wasted work
    assert "320x180" in _issue(result, "resolution_too_low") and "720p" in _issue(result, "resolution_too_low")
    silent = inspect(clip(audio=False), TitleProfile(min_height=90, require_audio=True))
    assert _codes(silent, "error") == ["no_audio"]


def test_hdr_and_vfr_policies(clip: ClipFactory, tmp_path: Path) -> None:
    hdr = clip(vf="setparams=color_primaries=bt2020:color_trc=smpte2084:colorspace=bt2020nc")
    assert _codes(inspect(hdr, SMALL), "error") == ["hdr_not_allowed"]
    assert inspect(hdr, TitleProfile(min_height=90, allow_hdr=True)).verdict == "accepted"
    vfr = tmp_path / "vfr.mp4"
    run(["-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=2", "-vf", r"select=lt(mod(n\,10)\,5)",
         "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast", str(vfr)], timeout_s=60)  # fmt: skip
    assert _codes(inspect(vfr, SMALL), "warning") == ["variable_frame_rate"]
    assert _codes(inspect(vfr, TitleProfile(min_height=90, allow_vfr=False)), "error") == ["variable_frame_rate"]


def test_photos(tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    Image.new("RGB", (64, 48), "teal").save(photo)
    as_video = inspect(photo, SMALL)
    assert _codes(as_video, "error") == ["wrong_kind"] and as_video.analysis is None
    assert as_video.info is not None and as_video.info.kind == "photo"
    assert inspect(photo, TitleProfile(kind="photo")).verdict == "accepted"


def test_progress_reaches_one(clip: ClipFactory) -> None:
    seen: list[float] = []
    inspect(clip(), SMALL, progress=seen.append)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)


def test_timeout_and_cancel_propagate(clip: ClipFactory) -> None:
    path = clip()
    with pytest.raises(MediaTimeout):
        inspect(path, SMALL, timeout_s=0.001)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(FfmpegFailed, match="canceled"):
        inspect(path, SMALL, cancel=cancel)
