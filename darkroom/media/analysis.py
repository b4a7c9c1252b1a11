"""One decode pass that measures a source: interlacing, black and frozen spans, loudness, decode errors.

:func:`analyze` decodes the file exactly once with ffmpeg: the first video stream goes through
``idet`` (interlacing), ``blackdetect`` and ``freezedetect``, the first audio stream through
``ebur128`` (loudness, range, true peak), both in one ``-filter_complex`` into the null muxer, and
decode errors are counted from ffmpeg's log.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from darkroom.media.ffmpeg import run
from darkroom.media.probe import MediaInfo
from darkroom.media.profile import TitleProfile

__all__ = ["Analysis", "IdetCounts", "analyze"]

# idet's default interlace threshold (1.04) calls fast synthetic progressive motion "TFF"; 1.2
# still classified every interlaced test source correctly and no progressive one as interlaced.
_IDET_THRESHOLD = 1.2


@dataclass(frozen=True)
class IdetCounts:
    """idet's multi-frame classification of the decoded frames."""

    tff: int = 0
    bff: int = 0
    progressive: int = 0
    undetermined: int = 0


@dataclass(frozen=True)
class Analysis:
    interlaced: bool = False
    field_order: str = "progressive"  # tff | bff | progressive | unknown
    idet: IdetCounts = field(default_factory=IdetCounts)
    black_segments: tuple[tuple[float, float], ...] = ()  # (start_s, end_s)
    frozen_segments: tuple[tuple[float, float], ...] = ()
    loudness_lufs: float | None = None  # integrated (EBU R128); -70 is silence
    loudness_range_lu: float | None = None
    true_peak_db: float | None = None  # dBTP
    decode_errors: int = 0  # decoder errors + frames flagged corrupt + corrupt packets
    decoded_s: float | None = None  # how far the longest stream decoded
    elapsed_s: float = 0.0


def analyze(
    path: str | Path,
    info: MediaInfo,
    *,
    profile: TitleProfile | None = None,
    timeout_s: float | None = None,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> Analysis:
    """Decode ``path`` once and measure it. ``timeout_s`` defaults to 120 s + the duration."""
    profile = profile or TitleProfile()
    video, audio = info.primary_video, info.primary_audio
    chains, maps = [], []
    if video is not None and video.decodable and info.kind == "video" and profile.kind != "audio":
        chains.append(
            f"[0:V:0]idet=intl_thres={_IDET_THRESHOLD},blackdetect=d={profile.black_min_s}:pix_th=0.10,"
            f"freezedetect=n=-60dB:d={profile.freeze_min_s}[v]"
        )
        maps += ["-map", "[v]"]
    if audio is not None and audio.decodable:
        chains.append("[0:a:0]ebur128=peak=true:framelog=quiet[a]")  # quiet: no per-100 ms lines
        maps += ["-map", "[a]"]
    if not chains:
        return Analysis()
    source = "file:" + str(Path(path).resolve())  # "file:" so a name can't select another protocol
    args = ["-i", source, "-filter_complex", ";".join(chains), *maps, "-f", "null", "-"]
    budget = timeout_s if timeout_s is not None else 120.0 + (info.duration_s or 0.0)
    result = run(
        args, timeout_s=budget, duration_s=info.duration_s, progress=progress, cancel=cancel,
        loglevel="verbose", what=f"analysing {info.name}",
    )  # fmt: skip
    # verbose, not info: ffmpeg's end-of-run stream statistics (frames decoded, decode errors) are
    # logged at that level; framelog=quiet keeps the log small enough to keep whole.
    return _parse(result.stderr, info, video.field_order if video else "unknown", result.elapsed_s)


_IDET = re.compile(r"Multi frame detection: TFF:\s*(\d+) BFF:\s*(\d+) Progressive:\s*(\d+) Undetermined:\s*(\d+)")
_BLACK = re.compile(r"black_start:\s*(-?[\d.]+) black_end:\s*(-?[\d.]+)")
_FREEZE = re.compile(r"freeze_(start|end): (-?[\d.]+)")
_INPUT = re.compile(
    r"Input stream #\d+:\d+ \((video|audio)\): \d+ packets read \(\d+ bytes\); (\d+) frames decoded; "
    r"(\d+) decode errors(?: \((\d+) samples\))?"
)
_SUMMARY = {
    "lufs": re.compile(r"^\s*I:\s+(-?[\d.]+|-inf) LUFS", re.M),
    "lra": re.compile(r"^\s*LRA:\s+(-?[\d.]+) LU", re.M),
    "peak": re.compile(r"^\s*Peak:\s+(-?[\d.]+|-inf) dBFS", re.M),
}
_CODED_ORDER = {"tt": "tff", "bt": "tff", "bb": "bff", "tb": "bff"}  # by display order


def _parse(log: str, info: MediaInfo, coded_order: str, elapsed_s: float) -> Analysis:
    idet_runs = _IDET.findall(log)  # the graph is configured twice; the last summary is the real one
    idet = IdetCounts(*map(int, idet_runs[-1])) if idet_runs else IdetCounts()
    determined = idet.tff + idet.bff + idet.progressive
    if determined >= 5:
        interlaced = idet.tff + idet.bff > idet.progressive
        order = ("tff" if idet.tff >= idet.bff else "bff") if interlaced else "progressive"
    else:  # static or flat pictures give idet nothing to judge: trust the coded field order
        order = _CODED_ORDER.get(coded_order, "progressive" if coded_order == "progressive" else "unknown")
        interlaced = order in ("tff", "bff")
    decoded = [0.0]
    errors = log.count("corrupt decoded frame") + log.count("corrupt input packet in stream")
    video, audio = info.primary_video, info.primary_audio
    for kind, frames, errs, samples in _INPUT.findall(log):
        errors += int(errs)
        if kind == "video" and video and video.frame_rate:
            decoded.append(int(frames) / video.frame_rate)
        elif kind == "audio" and samples and audio and audio.sample_rate:
            decoded.append(int(samples) / audio.sample_rate)
    end = max(decoded) or info.duration_s or 0.0
    summary = log[log.rfind("Summary:") :] if "Summary:" in log else ""
    loudness = {key: _number(rx.search(summary)) for key, rx in _SUMMARY.items()}
    return Analysis(
        interlaced=interlaced, field_order=order, idet=idet,
        black_segments=tuple((float(s), float(e)) for s, e in _BLACK.findall(log)),
        frozen_segments=_freeze_spans(_FREEZE.findall(log), end), loudness_lufs=loudness["lufs"],
        loudness_range_lu=loudness["lra"], true_peak_db=loudness["peak"], decode_errors=errors,
        decoded_s=max(decoded) if len(decoded) > 1 else None, elapsed_s=elapsed_s,
    )  # fmt: skip


def _number(match: re.Match[str] | None) -> float | None:
    return None if match is None else float(match.group(1))  # float("-inf") is fine


def _freeze_spans(events: list[tuple[str, str]], end: float) -> tuple[tuple[float, float], ...]:
    spans, start = [], None
    for kind, value in events:
        if kind == "start":
            start = float(value)
        elif start is not None:
            spans.append((start, float(value)))
            start = None
    if start is not None:  # frozen until the end: freezedetect logs no end
        spans.append((start, end))
    return tuple(spans)
