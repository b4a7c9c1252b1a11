"""No source metadata reaches an output: every ffmpeg output drops it (``ffmpeg.private_outputs``)."""

from __future__ import annotations

from darkroom.media.ffmpeg import STRIP_METADATA, private_outputs


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
