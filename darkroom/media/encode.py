"""Encoding: one rendition, or a whole ladder from ONE decode, with the ffmpeg binary.

:func:`video_args` turns a :class:`~darkroom.media.recipe.Recipe` into encoder flags (one table,
codec by codec); :func:`encode` and :func:`encode_ladder` add input seeking, scaling and muxing and
measure what came out. Files are written beside ``out`` under a temporary name and renamed when
complete, so a failed or repeated run never leaves a half file behind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av

from darkroom.media.errors import FfmpegFailed, InvalidMedia, MediaError, UnsupportedMedia
from darkroom.media.ffmpeg import run
from darkroom.media.header import VideoHeader, video_header
from darkroom.media.progress import Progress, rising
from darkroom.media.recipe import AudioRecipe, Recipe
from darkroom.media.seek import entry

__all__ = ["EncodeResult", "audio_args", "encode", "encode_audio", "encode_ladder", "video_args"]

_SCALER = "lanczos"  # sharper than bicubic when downscaling, which is what ladders do
_MP4 = {".mp4", ".m4v", ".mov", ".m4a"}
_CONTAINER_CODECS = {".webm": {"vp9", "av1", "opus"}, ".mkv": None, **{s: None for s in _MP4}}


# Encoder flags per codec, GOP included: an IDR/key frame every {k} frames exactly, closed GOPs,
# no scene-cut keyframes, so every segment of a whole number of GOPs starts on a keyframe.
_VIDEO: dict[str, list[str]] = {
    # x264 clamps min-keyint itself; scenecut=0 alone leaves keyint as the only keyframe source.
    "h264": ["-c:v", "libx264", "-profile:v", "{profile}", "-preset", "{preset}",
             "-x264-params", "keyint={k}:scenecut=0:open-gop=0"],
    "hevc": ["-c:v", "libx265", "-profile:v", "{profile}", "-preset", "{preset}",
             "-x265-params", "keyint={k}:min-keyint={k}:scenecut=0:open-gop=0:log-level=error"],
    # keyint_min == g fixes libvpx keyframe placement; VP9 keyframes are always closed, and
    # alt-ref frames stay inside a GOP, so they add quality without breaking alignment.
    "vp9": ["-c:v", "libvpx-vp9", "-profile:v", "{profile}", "-deadline", "good", "-cpu-used", "{preset}",
            "-row-mt", "1", "-g", "{k}", "-keyint_min", "{k}", "-auto-alt-ref", "1", "-lag-in-frames", "25"],
    # scd=0: no scene-change keyframes; irefresh-type=2: closed GOP (key frames, not forward refresh).
    "av1": ["-c:v", "libsvtav1", "-profile:v", "{profile}", "-preset", "{preset}",
            "-svtav1-params", "keyint={k}:scd=0:irefresh-type=2"],
}  # fmt: skip


def _rate(r: Recipe) -> list[str]:
    vbv = ["-maxrate", f"{r.maxrate_kbps}k", "-bufsize", f"{r.bufsize_kbps}k"] if r.maxrate_kbps else []
    if r.crf is None:
        return ["-b:v", f"{r.bitrate_kbps}k", *vbv]
    if r.codec == "vp9":  # libvpx: -b:v 0 is pure constant quality; a -b:v cap makes it constrained quality
        return ["-crf", str(r.crf), "-b:v", f"{r.maxrate_kbps}k" if r.maxrate_kbps else "0", *vbv]
    return ["-crf", str(r.crf), *vbv]


def video_args(recipe: Recipe, fps: float) -> list[str]:
    """Encoder, profile, speed, GOP (keyint = ``gop_s`` x ``fps``), pix_fmt and rate control."""
    values = {"profile": recipe.profile, "preset": recipe.preset, "k": recipe.keyint(fps)}
    flags = [arg.format(**values) for arg in _VIDEO[recipe.codec]]
    return [*flags, "-pix_fmt", recipe.pix_fmt, *_rate(recipe)]


def audio_args(audio: AudioRecipe | None) -> list[str]:
    if audio is None:
        return ["-an"]
    encoder = {"aac": "aac", "opus": "libopus"}[audio.codec]
    return ["-c:a", encoder, "-b:a", f"{audio.bitrate_kbps}k", "-ac", str(audio.channels), "-ar", "48000"]


@dataclass(frozen=True)
class EncodeResult:
    """What an encode produced. ``bitrate`` is the whole file, ``video_bitrate`` the video packets."""

    path: Path
    bytes: int
    duration_s: float
    bitrate: float
    frames: int
    elapsed_s: float
    fps_achieved: float
    video_bitrate: float


@dataclass(frozen=True)
class _Range:
    """How one encode selects its frames: input args, the filter heads, the output limit."""

    seek: list[str]
    video: str  # the filters from the decoded source to constant-rate frames of the range
    audio: str
    limit: list[str]
    expected_s: float


def _range(
    source: Path, src: VideoHeader, start_s: float | None, duration_s: float | None, *, timeout_s: float,
    cancel: threading.Event | None,
) -> _Range:  # fmt: skip
    """Frames ``[start_s, start_s + duration_s)`` of the source at its output rate R.

    The ``fps`` filter puts frames on the grid of multiples of 1/R from the start of the file, so
    every range of a title (the whole title, or a chunk) sees the same grid. A range starts at grid
    frame ``a = round(start_s x R)``; :func:`~darkroom.media.seek.entry` says where to seek for it
    (at ``a/R`` in an indexed container, earlier in one that cannot seek exactly) without dropping
    the frames decoded before the seek point (``-noaccurate_seek``), so the frame still shown at
    ``a/R`` (the last one before it, across a variable-rate gap) is decoded, and ``trim`` drops the
    grid frames before it. With ``duration_s``, ``tpad`` repeats the last frame if the source ends
    early and ``-frames:v`` keeps exactly ``round(duration_s x R)`` frames, the count a chunk plan
    promised.
    """
    if start_s is not None and start_s < 0:
        raise InvalidMedia(f"start_s={start_s!r} must be >= 0", code="bad_range")
    if duration_s is not None and duration_s <= 0:
        raise InvalidMedia(f"duration_s={duration_s!r} must be > 0", code="bad_range")
    start = float(start_s or 0.0)
    if src.duration_s and start >= src.duration_s:
        raise InvalidMedia(f"start_s={start_s!r} is past the end ({src.duration_s:.3f}s)", code="bad_range")
    fps = src.output_fps
    video = f"fps={fps}:start_time=0"
    seek: list[str] = []
    audio = "anull"  # the whole title: timestamps are left alone so the source's A/V offset survives
    first = round(start * fps)
    if first > 0:
        at = entry(source, src, first, timeout_s=timeout_s, cancel=cancel)
        seek = at.input_args()
        video += f",{at.video_cut()},setpts=PTS-STARTPTS"
        audio = f"{at.audio_cut(float(fps))},asetpts=PTS-STARTPTS"
    limit: list[str] = []
    expected = max(0.0, src.duration_s - start)
    if duration_s is not None:
        video += ",tpad=stop=-1:stop_mode=clone"
        limit = ["-frames:v", str(max(1, round(duration_s * fps)))]
        expected = min(expected, duration_s) if expected else duration_s
    return _Range(seek, video, audio, limit, expected)


_FORMATS = {".webm": "webm", ".mkv": "matroska", ".mov": "mov"}


def _container_args(out: Path, codecs: Sequence[str]) -> list[str]:
    suffix = out.suffix.lower()
    if suffix not in _CONTAINER_CODECS:
        raise UnsupportedMedia(f"{out.name}: container {suffix or '(none)'} is not one of mp4, mov, webm, mkv")
    allowed = _CONTAINER_CODECS[suffix]
    bad = [c for c in codecs if allowed is not None and c not in allowed]
    if bad:
        raise UnsupportedMedia(f"{out.name}: {suffix} cannot carry {', '.join(bad)}", code="bad_recipe")
    args = ["-f", _FORMATS.get(suffix, "mp4")]
    if suffix in _MP4:
        args += ["-movflags", "+faststart"]  # moov first: progressive playback starts before the end
        if "hevc" in codecs:
            args += ["-tag:v", "hvc1"]  # the tag Apple players require for HEVC in MP4
    return args


def _partial(out: Path) -> Path:
    return out.with_name(f".{out.name}.partial")


def _scale(recipe: Recipe) -> str:
    # No setsar=1: scale sets the sample aspect that keeps the source's display aspect, so a rung
    # rounded to even sizes (854x480 of a 16:9 source) still displays exactly 16:9, and every rung
    # of a ladder shares one aspect ratio, which one DASH adaptation set requires.
    return f"scale={recipe.width}:{recipe.height}:flags={_SCALER},format={recipe.pix_fmt}"


def _output_args(
    out: Path, recipe: Recipe, fps: float, *, video: str, audio: str | None, limit: list[str], duration_s: float
) -> list[str]:
    codecs = [recipe.codec] + ([recipe.audio.codec] if recipe.audio and audio else [])
    args = ["-map", video] + (["-map", audio] if audio else [])
    # The filters made the frames constant-rate already; cfr makes the muxer say so too. A capped CRF
    # encode gets the VBV that keeps its average within maxrate (Recipe.for_duration).
    args += ["-fps_mode", "cfr", *video_args(recipe.for_duration(duration_s), fps)]
    args += audio_args(recipe.audio if audio else None)
    return args + limit + _container_args(out, codecs) + [str(_partial(out))]


def encode(
    source: Path,
    out: Path,
    recipe: Recipe,
    *,
    start_s: float | None = None,
    duration_s: float | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    timeout_s: float,
) -> EncodeResult:
    """Encode ``source`` (or ``duration_s`` from ``start_s``, frame-accurate) into one rendition."""
    return encode_ladder(
        source, [(out, recipe)], start_s=start_s, duration_s=duration_s, progress=progress, cancel=cancel,
        timeout_s=timeout_s,
    )[0]  # fmt: skip


def encode_ladder(
    source: Path,
    outs: Sequence[tuple[Path, Recipe]],
    *,
    start_s: float | None = None,
    duration_s: float | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    timeout_s: float,
) -> list[EncodeResult]:
    """Encode several renditions from ONE decode: ``split`` feeds one scaler + encoder per rung."""
    if not outs:
        raise InvalidMedia("a ladder encode needs at least one rendition", code="bad_recipe")
    deadline = time.monotonic() + timeout_s
    src = video_header(Path(source))
    span = _range(Path(source), src, start_s, duration_s, timeout_s=timeout_s, cancel=cancel)
    n = len(outs)
    graph = f"[0:v:0]{span.video}" + (f",split={n}" if n > 1 else "") + "".join(f"[s{i}]" for i in range(n))
    graph += "".join(f";[s{i}]{_scale(r)}[v{i}]" for i, (_, r) in enumerate(outs))
    # Rungs without audio get none; a source without audio gives renditions without audio.
    with_audio = [i for i, (_, r) in enumerate(outs) if r.audio is not None and src.has_audio]
    if with_audio:
        split = f",asplit={len(with_audio)}" if len(with_audio) > 1 else ""
        graph += f";[0:a:0]{span.audio}{split}" + "".join(f"[a{i}]" for i in with_audio)
    args = [*span.seek, "-i", str(source), "-filter_complex", graph]
    for i, (out, recipe) in enumerate(outs):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        audio = f"[a{i}]" if i in with_audio else None
        args += _output_args(Path(out), recipe, float(src.output_fps), video=f"[v{i}]", audio=audio, limit=span.limit,
                             duration_s=span.expected_s)  # fmt: skip
    try:
        result = run(
            args, timeout_s=max(deadline - time.monotonic(), 0.001), duration_s=span.expected_s or None,
            progress=rising(progress), cancel=cancel,
            what=f"encoding {Path(source).name} into {', '.join(Path(o).name for o, _ in outs)}",
        )  # fmt: skip
    except FfmpegFailed as exc:
        for out, _ in outs:
            _partial(Path(out)).unlink(missing_ok=True)
        if "Unknown encoder" in exc.stderr_tail or "Encoder not found" in exc.stderr_tail:
            raise UnsupportedMedia(f"this ffmpeg cannot encode: {exc}", code="unsupported_codec") from exc
        raise
    except BaseException:
        for out, _ in outs:
            _partial(Path(out)).unlink(missing_ok=True)
        raise
    results = []
    for out, _ in outs:
        _partial(Path(out)).replace(out)
        results.append(_measure(Path(out), result.elapsed_s))
    return results


def encode_audio(
    source: Path, out: Path, audio: AudioRecipe, *, progress: Progress | None = None,
    cancel: threading.Event | None = None, timeout_s: float,
) -> Path:  # fmt: skip
    """The separate audio rendition (for packaging): first audio stream only, no video."""
    fmt = _container_args(out, [audio.codec])[:2]  # no faststart: tiny moov, and it costs a rewrite
    try:
        with av.open(str(source)) as container:
            duration_s = container.duration / 1e6 if container.duration else None
            if not container.streams.audio:
                raise InvalidMedia(f"{source.name} has no audio stream", code="no_audio")
    except (av.FFmpegError, OSError) as exc:
        raise InvalidMedia(f"{source.name} cannot be read: {exc}", code="unreadable") from exc
    args = ["-i", str(source), "-map", "0:a:0", "-vn", *audio_args(audio), *fmt, str(_partial(out))]
    try:
        run(
            args, timeout_s=timeout_s, duration_s=duration_s, progress=rising(progress), cancel=cancel,
            what=f"audio of {source.name}",
        )  # fmt: skip
    except BaseException:
        _partial(out).unlink(missing_ok=True)
        raise
    _partial(out).replace(out)
    return out


def _measure(path: Path, elapsed_s: float) -> EncodeResult:
    """Frames and sizes from packets (demux only, no decode)."""
    size = path.stat().st_size
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise MediaError(f"{path.name} came out without video")
        stream = container.streams.video[0]
        frames = video_bytes = 0
        for packet in container.demux(stream):
            if packet.size:
                frames += 1
                video_bytes += packet.size
        duration = container.duration / 1e6 if container.duration else 0.0
        if not duration and stream.average_rate:
            duration = frames / float(stream.average_rate)
    return EncodeResult(
        path=path, bytes=size, duration_s=duration, bitrate=size * 8 / duration if duration else 0.0, frames=frames,
        elapsed_s=elapsed_s, fps_achieved=frames / elapsed_s if elapsed_s > 0 else 0.0,
        video_bitrate=video_bytes * 8 / duration if duration else 0.0,
    )  # fmt: skip
