"""Video stills: a poster frame and a storyboard (sprite sheets + a WebVTT thumbnails track).

Each is one ffmpeg pass through the shared runner (timeout, cancel, progress). The poster is the
most representative non-black frame of the first seconds (``thumbnail`` filter over frames whose
mean luma is above black); the storyboard selects one frame per interval, scales it to a tile and
packs tiles into JPEG sheets with ``tile``, and the VTT maps each time range to its tile with the
``#xywh=`` media fragment players use for seek previews. Outputs are written atomically under
fixed names, so a rerun replaces them. Duration comes from the container header via PyAV.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
from PIL import Image

from darkroom.media.errors import FfmpegFailed, InvalidMedia
from darkroom.media.ffmpeg import run

__all__ = ["MAX_TILES", "VTT_NAME", "Poster", "Storyboard", "poster", "storyboard", "vtt_timestamp"]

VTT_NAME = "storyboard.vtt"  # beside the sheets its cues name relatively
MAX_TILES = 2000  # per storyboard; past that a seek preview is no finer to the eye, only heavier

_PTS_TIME = re.compile(r"\bn:\s*\d+\s+pts:\s*-?\d+\s+pts_time:\s*(-?[\d.]+)")
# Square pixels first (anamorphic sources), then the size we want; ffmpeg auto-rotates before this.
_SQUARE = "scale='trunc(iw*sar/2)*2':ih,setsar=1"
_JPEG = ["-fflags", "+bitexact", "-flags:v", "+bitexact"]  # no encoder tag, reproducible bytes
_POSTER_FPS = 4  # frames per second considered for the poster
_BLACK_YAVG = 32  # mean 8-bit luma at or below this is "black" (limited-range black is 16)


@dataclass(frozen=True)
class Poster:
    path: Path
    width: int
    height: int
    at_s: float  # time of the chosen frame
    size_bytes: int


@dataclass(frozen=True)
class Storyboard:
    vtt: Path
    sheets: tuple[Path, ...]
    tiles: int
    interval_s: float
    tile_width: int
    tile_height: int
    columns: int
    rows: int
    duration_s: float

    def to_vtt(self) -> str:
        """The WebVTT thumbnails track: one cue per tile, contiguous from 0 to the duration."""
        lines = ["WEBVTT", ""]
        per_sheet = self.columns * self.rows
        w, h = self.tile_width, self.tile_height
        for i in range(self.tiles):
            start = i * self.interval_s
            last = i == self.tiles - 1
            end = self.duration_s if last and self.duration_s > start else (i + 1) * self.interval_s
            sheet, k = divmod(i, per_sheet)
            x, y = (k % self.columns) * w, (k // self.columns) * h
            lines += [
                f"{vtt_timestamp(start)} --> {vtt_timestamp(end)}",
                f"{self.sheets[sheet].name}#xywh={x},{y},{w},{h}",
            ]
            lines.append("")
        return "\n".join(lines)


def poster(
    video: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    at_s: float | None = None,
    scan_s: float = 10.0,
    max_width: int = 1280,
    timeout_s: float | None = None,
    cancel: threading.Event | None = None,
) -> Poster:
    """Write a JPEG poster to ``out``: the frame at ``at_s``, or the most representative
    non-black frame of the first ``scan_s`` seconds. Never wider than ``max_width`` (no upscaling)."""
    video, out = Path(video), Path(out)
    duration = _duration_s(video)
    if at_s is not None and (at_s < 0 or (duration and at_s >= duration)):
        raise ValueError(f"poster time {at_s}s is outside {video.name} (0..{duration:.3f}s)")
    size = f"scale='min({max_width},iw)':-2:out_range=full"
    timeout = timeout_s or 60.0 + min(duration, scan_s)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.jpg")
    out.parent.mkdir(parents=True, exist_ok=True)

    def attempt(pick: str, seek: list[str]) -> float:
        vf = f"setpts=PTS-STARTPTS,{pick},{_SQUARE},{size},showinfo"
        args = [*seek, "-i", str(video), "-map", "0:v:0", "-an", "-sn", "-dn", "-vf", vf]
        args += ["-frames:v", "1", "-update", "1", "-q:v", "3", *_JPEG, str(tmp)]
        result = run(args, timeout_s=timeout, cancel=cancel, loglevel="info", what=f"poster of {video.name}")
        times = [float(t) for t in _PTS_TIME.findall(result.stderr)]
        if not tmp.exists() or not times:
            raise FfmpegFailed(f"no poster frame from {video.name}", returncode=0, stderr_tail=result.stderr[-2000:])
        return (at_s or 0.0) + times[0]

    n = math.ceil(min(duration or scan_s, scan_s) * _POSTER_FPS) + 1  # one batch covers the window
    # 8-bit first so the luma threshold means the same for 10-bit sources.
    not_black = f"format=yuv420p,signalstats,metadata=select:lavfi.signalstats.YAVG:{_BLACK_YAVG}:greater"
    try:
        if at_s is not None:
            chosen = attempt("null", ["-ss", f"{at_s:.3f}"])
        else:
            window = ["-t", f"{scan_s:g}"]
            try:
                chosen = attempt(f"fps={_POSTER_FPS},{not_black},thumbnail=n={n}", window)
            except FfmpegFailed:
                if cancel is not None and cancel.is_set():
                    raise
                # Every frame in the window was black (the encoder never saw one): take the
                # representative frame regardless. A broken input fails here again, for real.
                chosen = attempt(f"fps={_POSTER_FPS},thumbnail=n={n}", window)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    with Image.open(out) as im:
        width, height = im.size
    return Poster(out, width, height, round(chosen, 3), out.stat().st_size)


def storyboard(
    video: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    interval_s: float | None = None,
    tile_width: int = 160,
    columns: int = 10,
    rows: int = 10,
    timeout_s: float | None = None,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> Storyboard:
    """Write ``storyboard-NNN.jpg`` sheets (``columns`` x ``rows`` tiles ``tile_width`` wide) and
    ``storyboard.vtt`` into ``out_dir``: one tile per ``interval_s`` (default: about 100 tiles,
    at least 1 s apart), all from one decode pass."""
    video, out = Path(video), Path(out_dir)
    if tile_width < 2 or columns < 1 or rows < 1 or (interval_s is not None and interval_s <= 0):
        raise ValueError(f"bad storyboard layout: tile_width={tile_width} {columns}x{rows} interval={interval_s}")
    duration = _duration_s(video)
    interval = float(interval_s or max(1, math.ceil(duration / 100)))
    expected = max(1, math.ceil(duration / interval))
    if expected > MAX_TILES:  # also keeps the per-tile log lines we count well inside the runner's buffer
        raise ValueError(f"interval_s={interval:g} gives {expected} tiles for {duration:.0f}s; at most {MAX_TILES}")
    # Short clips get a sheet only as big as they need; long ones fill sheets of columns x rows.
    columns = min(columns, expected)
    rows = min(rows, math.ceil(expected / columns))
    out.mkdir(parents=True, exist_ok=True)
    scratch = out / f".storyboard.{os.getpid()}.tmp"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        # select: the first frame at or after each multiple of the interval (exact, unlike fps=,
        # whose rounding can add or drop a tile at the ends); showinfo reports each pick.
        vf = (
            rf"setpts=PTS-STARTPTS,select='gte(t\,selected_n*{interval:g})',showinfo,{_SQUARE},"
            f"scale={tile_width}:-2:flags=area:out_range=full,tile={columns}x{rows}"
        )
        args = ["-i", str(video), "-map", "0:v:0", "-an", "-sn", "-dn", "-vf", vf, "-fps_mode", "passthrough"]
        args += ["-q:v", "5", *_JPEG, str(scratch / "storyboard-%03d.jpg")]
        result = run(
            args, timeout_s=timeout_s or 60.0 + duration, duration_s=duration, progress=progress,
            cancel=cancel, loglevel="info", what=f"storyboard of {video.name}",
        )  # fmt: skip
        tiles = len(_PTS_TIME.findall(result.stderr))
        made = sorted(scratch.glob("storyboard-*.jpg"))
        if not made or not (len(made) - 1) * columns * rows < tiles <= len(made) * columns * rows:
            detail = f"{tiles} frames picked but {len(made)} sheets of {columns}x{rows} written"
            raise FfmpegFailed(f"storyboard of {video.name}: {detail}", returncode=0, stderr_tail=result.stderr)
        with Image.open(made[0]) as im:
            tile_w, tile_h = im.width // columns, im.height // rows
        sheets = tuple(out / p.name for p in made)
        for src, dst in zip(made, sheets, strict=True):
            os.replace(src, dst)
        for stale in set(out.glob("storyboard-*.jpg")) - set(sheets):  # left by an earlier, longer run
            stale.unlink()
        board = Storyboard(out / VTT_NAME, sheets, tiles, interval, tile_w, tile_h, columns, rows, duration)
        tmp_vtt = scratch / VTT_NAME
        tmp_vtt.write_text(board.to_vtt(), encoding="utf-8")
        os.replace(tmp_vtt, board.vtt)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return board


def vtt_timestamp(seconds: float) -> str:
    """``HH:MM:SS.mmm`` as WebVTT wants it."""
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _duration_s(video: Path) -> float:
    """Duration from the container header (0.0 if unknown); rejects files without video."""
    if video.stat().st_size == 0:
        raise InvalidMedia(f"{video.name} is empty (0 bytes)", code="empty")
    try:
        with av.open(str(video)) as container:
            if not container.streams.video:
                raise InvalidMedia(f"{video.name} has no video stream", code="no_video")
            if container.duration:
                return float(container.duration / av.time_base)
            stream = container.streams.video[0]
            if stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
            return 0.0
    except av.FFmpegError as exc:
        raise InvalidMedia(f"{video.name} is not a readable media file: {exc}", code="unreadable") from exc
