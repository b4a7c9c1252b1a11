"""Assembling a chunked encode: check each chunk as it lands, then concatenate them losslessly.

:func:`verify_chunk` runs right after a chunk's encode (so a bad chunk is retried alone, while its
worker's context is fresh): frame count, a keyframe first, keyframes on the keyint grid, decodable.
:func:`assemble` is the reduce step: ffmpeg's concat demuxer with stream copy (no re-encode, so no
quality loss and seconds of work), ``+faststart``, then the whole result is checked again.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av

from darkroom.media.errors import InvalidMedia, MediaError
from darkroom.media.ffmpeg import run

__all__ = ["AssembleResult", "AssemblyFailed", "ChunkInvalid", "StreamCheck", "assemble", "verify_chunk"]


class ChunkInvalid(InvalidMedia):
    """A chunk is missing or wrong; ``index`` and ``path`` name it so exactly that chunk is redone."""

    def __init__(self, message: str, *, path: Path, index: int | None = None, code: str = "bad_chunk") -> None:
        super().__init__(message, code=code)
        self.path = path
        self.index = index


class AssemblyFailed(MediaError):
    """The concatenated file is not what the chunks promised (frames, timestamps, decoding)."""


@dataclass(frozen=True)
class StreamCheck:
    """What one pass over a file's video packets found; keyframes are presentation-order indices."""

    frames: int
    keyframes: list[int]
    decoded: int
    monotonic: bool


@dataclass(frozen=True)
class AssembleResult:
    path: Path
    frames: int
    bytes: int
    duration_s: float
    keyframes: list[int]


def _check(path: Path, *, decode: bool) -> StreamCheck:
    """Count packets, find keyframes and timestamp order, and (optionally) decode every frame."""
    stamps: list[tuple[int, bool]] = []
    last_dts: int | None = None
    monotonic = True
    decoded = 0
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise InvalidMedia(f"{path.name} has no video stream", code="no_video")
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if decode:
                decoded += len(stream.codec_context.decode(packet))  # the flush packet too
            if not packet.size:
                continue
            if packet.pts is None or packet.dts is None:
                monotonic = False
                continue
            if last_dts is not None and packet.dts <= last_dts:
                monotonic = False
            last_dts = packet.dts
            stamps.append((packet.pts, packet.is_keyframe))
    stamps.sort()
    pts = [p for p, _ in stamps]
    if len(set(pts)) != len(pts):
        monotonic = False  # two frames shown at the same time: a seam where timestamps overlap
    keyframes = [i for i, (_, key) in enumerate(stamps) if key]
    return StreamCheck(frames=len(stamps), keyframes=keyframes, decoded=decoded, monotonic=monotonic)


def verify_chunk(path: Path, expected_frames: int, keyint: int, *, index: int | None = None) -> StreamCheck:
    """Raise :class:`ChunkInvalid` unless the chunk has ``expected_frames`` frames that all decode,
    starts on a keyframe and has keyframes only every ``keyint`` frames (the title's GOP grid)."""
    path = Path(path)
    name = f"chunk {index} ({path.name})" if index is not None else f"chunk {path.name}"
    if not path.is_file() or path.stat().st_size == 0:
        raise ChunkInvalid(f"{name} is missing or empty", path=path, index=index, code="missing_chunk")
    try:
        check = _check(path, decode=True)
    except (av.FFmpegError, OSError, InvalidMedia) as exc:
        raise ChunkInvalid(f"{name} cannot be read: {exc}", path=path, index=index, code="undecodable") from exc
    if check.frames != expected_frames:
        raise ChunkInvalid(
            f"{name} has {check.frames} frames, expected {expected_frames}", path=path, index=index, code="frames"
        )
    if check.decoded != check.frames:
        raise ChunkInvalid(
            f"{name}: only {check.decoded} of {check.frames} frames decode", path=path, index=index, code="undecodable"
        )
    if not check.keyframes or check.keyframes[0] != 0:
        raise ChunkInvalid(f"{name} does not start on a keyframe", path=path, index=index, code="keyframe")
    off_grid = [k for k in check.keyframes if k % keyint]
    if off_grid:
        raise ChunkInvalid(
            f"{name} has keyframes off the {keyint}-frame grid at {off_grid[:5]}", path=path, index=index,
            code="keyframe",
        )  # fmt: skip
    if not check.monotonic:
        raise ChunkInvalid(f"{name} has timestamps out of order", path=path, index=index, code="timestamps")
    return check


def _quote(path: Path) -> str:
    # concat list syntax: single-quoted, a quote inside is closed, escaped and reopened.
    return "'" + str(path.resolve()).replace("'", "'\\''") + "'"


_FORMATS = {".webm": "webm", ".mkv": "matroska"}  # everything else: MP4 (.mp4, .m4v, .mov)


def _container_args(out: Path, first_chunk: Path) -> list[str]:
    fmt = _FORMATS.get(out.suffix.lower(), "mp4")
    if fmt != "mp4":
        return ["-f", fmt]
    args = ["-f", "mp4", "-movflags", "+faststart"]  # moov first: playback starts before the download ends
    with av.open(str(first_chunk)) as container:
        video = container.streams.video
        if video and video[0].codec_context.name == "hevc":
            args += ["-tag:v", "hvc1"]  # stream copy would fall back to hev1, which Apple players refuse
    return args


def assemble(
    chunk_paths: Sequence[Path],
    out: Path,
    *,
    expected_frames: int | None,
    timeout_s: float,
    chunk_frames: Sequence[int] | None = None,
    decode: bool = True,
) -> AssembleResult:
    """Concatenate encoded chunks in order into ``out`` (stream copy; MP4 gets ``+faststart``, a
    ``.webm``/``.mkv`` name gets that container) and check the result.

    ``chunk_frames`` (frames each chunk should have) lets a short chunk be named before
    concatenating; ``expected_frames`` is checked on the result, along with rising timestamps and,
    with ``decode``, that every frame decodes. Raises :class:`ChunkInvalid` naming a missing or
    short chunk, or :class:`AssemblyFailed`. ``out`` appears only when every check passed.
    """
    paths = [Path(p) for p in chunk_paths]
    if not paths:
        raise AssemblyFailed(f"{out.name}: no chunks to assemble")
    if chunk_frames is not None and len(chunk_frames) != len(paths):
        raise AssemblyFailed(f"{out.name}: {len(paths)} chunks but {len(chunk_frames)} frame counts")
    counts: list[int] = []
    for i, path in enumerate(paths):
        if not path.is_file() or path.stat().st_size == 0:
            raise ChunkInvalid(f"chunk {i} ({path.name}) is missing or empty", path=path, index=i, code="missing_chunk")
        if chunk_frames is not None:
            try:
                frames = _check(path, decode=False).frames  # demux only: cheap
            except (av.FFmpegError, OSError) as exc:
                raise ChunkInvalid(f"chunk {i} ({path.name}) cannot be read: {exc}", path=path, index=i) from exc
            if frames != chunk_frames[i]:
                raise ChunkInvalid(
                    f"chunk {i} ({path.name}) has {frames} frames, expected {chunk_frames[i]}", path=path, index=i,
                    code="frames",
                )  # fmt: skip
            counts.append(frames)
    out = Path(out)
    try:
        fmt_args = _container_args(out, paths[0])
    except (av.FFmpegError, OSError) as exc:
        raise ChunkInvalid(f"chunk 0 ({paths[0].name}) cannot be read: {exc}", path=paths[0], index=0) from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    try:
        with tempfile.TemporaryDirectory(prefix="darkroom-concat-", dir=out.parent) as tmp:
            listing = Path(tmp) / "chunks.txt"
            listing.write_text("".join(f"file {_quote(p)}\n" for p in paths), encoding="utf-8")
            args = ["-f", "concat", "-safe", "0", "-i", str(listing), "-map", "0:v", "-c", "copy"]
            run(
                [*args, *fmt_args, str(partial)], timeout_s=timeout_s,
                what=f"assembling {len(paths)} chunks into {out.name}",
            )  # fmt: skip
        try:
            check = _check(partial, decode=decode)
        except (av.FFmpegError, OSError, InvalidMedia) as exc:
            raise AssemblyFailed(f"{out.name}: the concatenated file cannot be read: {exc}") from exc
        problems = []
        if expected_frames is not None and check.frames != expected_frames:
            detail = f" (chunks: {counts})" if counts else ""
            problems.append(f"{check.frames} frames, expected {expected_frames}{detail}")
        if not check.monotonic:
            problems.append("timestamps do not rise steadily across the chunk seams")
        if decode and check.decoded != check.frames:
            problems.append(f"only {check.decoded} of {check.frames} frames decode")
        if problems:
            raise AssemblyFailed(f"{out.name}: " + "; ".join(problems))
        with av.open(str(partial)) as container:
            duration = container.duration / 1e6 if container.duration else 0.0
        partial.replace(out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return AssembleResult(
        path=out, frames=check.frames, bytes=out.stat().st_size, duration_s=duration, keyframes=check.keyframes
    )
