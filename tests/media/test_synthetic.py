"""make_clip: the generated demo clip has the streams, size and length it promises, and its scene cut."""

from __future__ import annotations

from pathlib import Path

import pytest

from darkroom.media.complexity import scene_cuts
from darkroom.media.probe import probe
from darkroom.media.synthetic import make_clip


def test_the_clip_is_h264_and_stereo_aac_with_a_cut_at_half_time(tmp_path: Path) -> None:
    out = make_clip(tmp_path / "sub" / "clip.mp4", duration_s=2.0, width=160, height=90, fps=25)
    assert out == tmp_path / "sub" / "clip.mp4"
    info = probe(out)
    video, audio = info.primary_video, info.primary_audio
    assert video is not None and audio is not None
    assert (video.codec, video.width, video.height, video.pix_fmt) == ("h264", 160, 90, "yuv420p")
    assert video.frame_rate == pytest.approx(25) and video.frame_count == 50
    assert (audio.codec, audio.channels, audio.sample_rate) == ("aac", 2, 48000)
    assert info.duration_s == pytest.approx(2.0, abs=0.05)
    assert [round(t, 1) for t in scene_cuts(out, timeout_s=60)] == [1.0]
