"""Packaging: encoded renditions + one audio rendition -> HLS (fMP4/CMAF) and DASH, streams copied.

Each rendition is remuxed (``-c copy``, nothing is decoded) into its own HLS media playlist; the
master playlist is written here, because ffmpeg's own only knows the renditions of one run and
leaves CODECS out for copied streams. DASH is one ffmpeg run over every rendition and the audio.
Afterwards every video segment is demuxed to check it starts on a keyframe and that durations are
uniform except the last. Output is built in a staging folder and moved into place when complete.
"""

from __future__ import annotations

import io
import re
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from xml.etree import ElementTree

import av

from darkroom.media.codec_strings import codec_string
from darkroom.media.errors import FfmpegFailed, InvalidMedia
from darkroom.media.ffmpeg import audio_language, run
from darkroom.media.probe import probe
from darkroom.media.progress import Progress
from darkroom.media.recipe import Recipe

__all__ = [
    "FORMATS",
    "MASTER_PATH",
    "MPD_PATH",
    "Package",
    "PackagedRendition",
    "codec_string",
    "package",
    "play_through",
]

FORMATS = ("hls", "dash")
_MASTER = "master.m3u8"
_MPD = "manifest.mpd"
# Where the two manifests sit in the output folder; every other file is named relative to them.
MASTER_PATH = f"hls/{_MASTER}"
MPD_PATH = f"dash/{_MPD}"
_AUDIO_GROUP = "audio"


@dataclass(frozen=True)
class PackagedRendition:
    """One rendition as packaged. Bandwidths are bits/s: peak segment and whole-stream average."""

    name: str
    codecs: str  # RFC 6381 codec string, e.g. "avc1.64001f"
    bandwidth: int
    average_bandwidth: int
    segments: int
    playlist: Path | None  # HLS media playlist (None when HLS was not asked for)
    width: int = 0
    height: int = 0
    frame_rate: float = 0.0
    channels: int = 0
    language: str | None = None  # the audio's ISO 639-2 tag, when the source had one


@dataclass(frozen=True)
class Package:
    out_dir: Path
    master: Path | None  # HLS master playlist
    mpd: Path | None  # DASH manifest
    renditions: tuple[PackagedRendition, ...]
    audio: PackagedRendition | None


def package(
    renditions: Sequence[tuple[Path, Recipe]],
    audio: Path | None,
    out_dir: Path,
    *,
    segment_s: float = 4.0,
    formats: Sequence[str] = FORMATS,
    timeout_s: float,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Package:
    """Package ``renditions`` (+ ``audio``) into ``out_dir/hls`` and ``out_dir/dash``.

    Raises :class:`InvalidMedia` with code ``bad_package`` (bad arguments, GOP not dividing
    ``segment_s``) or ``misaligned_segments`` (a segment not starting on a keyframe, uneven segments).
    """
    names = _check(renditions, formats, segment_s)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = out_dir / ".package.partial"
    shutil.rmtree(staging, ignore_errors=True)
    hls = "hls" in formats
    steps = (len(renditions) + (audio is not None) if hls else 0) + ("dash" in formats)
    done = [0]

    def segment(source: Path, folder: str, maps: list[str]) -> Path | None:
        if not hls:
            return None
        playlist = _hls(source, staging / "hls" / folder, maps, segment_s, timeout_s=timeout_s, cancel=cancel)
        done[0] += 1
        if progress is not None:
            progress(min(1.0, done[0] / steps))
        return playlist

    try:
        videos = [Path(p) for p, _ in renditions]
        packaged = []
        for name, path in zip(names, videos, strict=True):
            # Apple players need the hvc1 sample entry (parameter sets in the init segment) for HEVC.
            tag = ["-tag:v", "hvc1"] if codec_string(path).startswith("hvc1") else []
            packaged.append(_describe_video(name, path, segment(path, name, ["-map", "0:v:0", *tag]), segment_s))
        audio_out = None
        if audio is not None:
            playlist = segment(Path(audio), "audio", ["-map", "0:a:0"])
            audio_out = _describe_audio(Path(audio), playlist, segment_s)
        if hls:
            _write_master(staging / "hls" / _MASTER, packaged, audio_out)
        if "dash" in formats:
            _dash(videos, audio, staging / "dash", segment_s, timeout_s=timeout_s, cancel=cancel)
            if progress is not None:
                progress(1.0)
        for kind in dict.fromkeys(formats):  # replace earlier output only once the new one is complete
            shutil.rmtree(out_dir / kind, ignore_errors=True)
            (staging / kind).replace(out_dir / kind)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    def moved(r: PackagedRendition) -> PackagedRendition:
        return replace(r, playlist=out_dir / r.playlist.relative_to(staging) if r.playlist else None)

    return Package(
        out_dir=out_dir,
        master=out_dir / MASTER_PATH if hls else None,
        mpd=out_dir / MPD_PATH if "dash" in formats else None,
        renditions=tuple(moved(r) for r in packaged),
        audio=moved(audio_out) if audio_out is not None else None,
    )


_SKIPPED_SEGMENT = re.compile(r"Failed to open segment|failed too many times, skipping")


def play_through(manifest: Path | str, *, timeout_s: float) -> None:
    """Read an HLS master playlist or a DASH MPD with ffmpeg, decoding every stream (all variants and
    the audio) to the end; raise :class:`~darkroom.media.errors.MediaError` when it does not play.

    ``manifest`` is a file or an ``http(s)://`` URL (ffmpeg then fetches every playlist and segment
    as a player does, each relative URI resolved against the URL it was read from). A path is made
    absolute: ffmpeg's DASH demuxer cannot open a relative manifest path. ffmpeg's HLS demuxer skips
    a segment it cannot open with a warning and exits 0, so its warnings are read: a skipped segment
    is a failure too."""
    if isinstance(manifest, str):
        if not manifest.startswith(("http://", "https://")):
            raise InvalidMedia(f"manifest {manifest[:200]!r} is neither a path nor an http(s) URL", code="bad_package")
        source, name = manifest, manifest.partition("?")[0].rsplit("/", 1)[-1]
    else:
        source, name = str(manifest.resolve()), manifest.name
    args = ["-i", source, "-map", "0", "-f", "null", "-"]
    result = run(args, timeout_s=timeout_s, loglevel="warning", what=f"playing {name}")
    skipped = [line for line in result.stderr.splitlines() if _SKIPPED_SEGMENT.search(line)]
    if skipped:
        raise FfmpegFailed(f"playing {name} skipped segments", returncode=0, stderr_tail="\n".join(skipped))


def _check(renditions: Sequence[tuple[Path, Recipe]], formats: Sequence[str], segment_s: float) -> list[str]:
    """Refuse bad arguments before any work; return the rendition names (folder names)."""
    if not renditions:
        raise InvalidMedia("packaging needs at least one rendition", code="bad_package")
    if not formats or set(formats) - set(FORMATS):
        raise InvalidMedia(f"formats={list(formats)!r}: must be a non-empty subset of {FORMATS}", code="bad_package")
    if not 0.1 <= segment_s <= 60:
        raise InvalidMedia(f"segment_s={segment_s!r} must be seconds in [0.1, 60]", code="bad_package")
    for path, recipe in renditions:
        ratio = segment_s / recipe.gop_s
        if abs(ratio - round(ratio)) > 1e-6 or round(ratio) < 1:
            raise InvalidMedia(
                f"{Path(path).name}: gop_s={recipe.gop_s:g} does not divide segment_s={segment_s:g}",
                code="bad_package",
            )
    names = [r.name or f"v{i}" for i, (_, r) in enumerate(renditions)]
    if len(set(names)) != len(names) or "audio" in names:
        raise InvalidMedia(f"rendition names must be unique and not 'audio': {names}", code="bad_package")
    return names


def _hls(
    source: Path, folder: Path, maps: list[str], segment_s: float, *, timeout_s: float, cancel: threading.Event | None
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    playlist = folder / "index.m3u8"
    args = [
        "-i", str(source), *maps, "-c", "copy", "-f", "hls", "-hls_segment_type", "fmp4",
        "-hls_time", f"{segment_s:g}", "-hls_playlist_type", "vod", "-hls_fmp4_init_filename", "init.mp4",
        "-hls_segment_filename", str(folder / "seg_%05d.m4s"), str(playlist),
    ]  # fmt: skip
    run(args, timeout_s=timeout_s, cancel=cancel, what=f"packaging {source.name} as HLS")
    return playlist


def _dash(
    videos: list[Path], audio: Path | None, folder: Path, segment_s: float, *, timeout_s: float,
    cancel: threading.Event | None,
) -> None:  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    inputs = [*videos, *([audio] if audio is not None else [])]
    args: list[str] = []
    for path in inputs:
        args += ["-i", str(path)]
    for i in range(len(videos)):
        args += ["-map", f"{i}:v:0"]
    if audio is not None:
        args += ["-map", f"{len(videos)}:a:0"]
    sets = "id=0,streams=v" + (" id=1,streams=a" if audio is not None else "")
    args += [
        "-c", "copy", "-f", "dash", "-seg_duration", f"{segment_s:g}", "-use_template", "1", "-use_timeline", "1",
        "-adaptation_sets", sets, str(folder / _MPD),
    ]  # fmt: skip
    run(args, timeout_s=timeout_s, cancel=cancel, what="packaging as DASH")
    ElementTree.parse(folder / _MPD)  # a manifest that does not parse is a packaging failure


def _segments(playlist: Path) -> tuple[Path, list[tuple[Path, float]]]:
    """(init segment, [(segment, duration_s)]) of an fMP4 media playlist."""
    init = playlist.parent / "init.mp4"
    found: list[tuple[Path, float]] = []
    duration = 0.0
    for line in playlist.read_text().splitlines():
        if line.startswith("#EXT-X-MAP:URI="):
            init = playlist.parent / line.split("=", 1)[1].strip('"')
        elif line.startswith("#EXTINF:"):
            duration = float(line[8:].split(",", 1)[0])
        elif line and not line.startswith("#"):
            found.append((playlist.parent / line, duration))
    return init, found


def _bandwidths(playlist: Path, segment_s: float) -> tuple[int, int, int]:
    """(peak, average, segments): peak is the densest segment, as HLS's BANDWIDTH asks."""
    _, segments = _segments(playlist)
    sizes = [(seg.stat().st_size, dur) for seg, dur in segments]
    total_s = sum(d for _, d in sizes)
    # A short tail (AAC priming spills a few ms into one more segment) is mostly moof header;
    # counting it would overstate the peak several times over.
    full = [(b, d) for b, d in sizes if d >= segment_s / 2] or sizes
    peak = max((8 * b / d for b, d in full if d > 0), default=0.0)
    average = 8 * sum(b for b, _ in sizes) / total_s if total_s else 0.0
    return round(peak), round(average), len(segments)


def _check_alignment(playlist: Path, segment_s: float, frame_s: float) -> None:
    """Every segment must open on a keyframe; all but the last must last ``segment_s``."""
    init, segments = _segments(playlist)
    head = init.read_bytes()
    for i, (seg, dur) in enumerate(segments):
        if i < len(segments) - 1 and abs(dur - segment_s) > frame_s / 2 + 1e-3:
            raise InvalidMedia(
                f"{playlist.parent.name}/{seg.name} lasts {dur:.3f}s, not {segment_s:g}s: GOPs are not aligned",
                code="misaligned_segments",
            )
        with av.open(io.BytesIO(head + seg.read_bytes()), "r") as container:
            first = next((p for p in container.demux(container.streams.video[0]) if p.size), None)
        if first is None or not first.is_keyframe:
            raise InvalidMedia(
                f"{playlist.parent.name}/{seg.name} does not start on a keyframe", code="misaligned_segments"
            )


def _describe_video(name: str, path: Path, playlist: Path | None, segment_s: float) -> PackagedRendition:
    info = probe(path)
    video = info.primary_video
    if video is None:
        raise InvalidMedia(f"{path.name} has no video stream to package", code="no_video")
    fps = video.frame_rate
    if playlist is not None:
        _check_alignment(playlist, segment_s, 1 / fps if fps else 0.04)
        peak, average, count = _bandwidths(playlist, segment_s)
    else:
        bits = video.bit_rate or info.bit_rate or 0
        peak, average, count = bits, bits, _count(info.duration_s, segment_s)
    return PackagedRendition(
        name=name, codecs=codec_string(path), bandwidth=peak, average_bandwidth=average, segments=count,
        playlist=playlist, width=video.width, height=video.height, frame_rate=fps,
    )  # fmt: skip


def _describe_audio(path: Path, playlist: Path | None, segment_s: float) -> PackagedRendition:
    info = probe(path)
    audio = info.primary_audio
    if audio is None:
        raise InvalidMedia(f"{path.name} has no audio stream to package", code="no_audio")
    if playlist is not None:
        peak, average, count = _bandwidths(playlist, segment_s)
    else:
        bits = audio.bit_rate or info.bit_rate or 0
        peak, average, count = bits, bits, _count(info.duration_s, segment_s)
    return PackagedRendition(
        name="audio", codecs=codec_string(path, audio=True), bandwidth=peak, average_bandwidth=average,
        segments=count, playlist=playlist, channels=audio.channels, language=audio_language(["-i", str(path)]),
    )  # fmt: skip


def _count(duration_s: float | None, segment_s: float) -> int:
    return max(1, -int(-(duration_s or 0.0) // segment_s)) if duration_s else 0


def _write_master(path: Path, videos: list[PackagedRendition], audio: PackagedRendition | None) -> None:
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if audio is not None and audio.playlist is not None:
        language = f'LANGUAGE="{audio.language}",' if audio.language else ""  # what players choose tracks by
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{_AUDIO_GROUP}",NAME="audio",{language}DEFAULT=YES,AUTOSELECT=YES,'
            f'CHANNELS="{audio.channels}",URI="{audio.playlist.relative_to(path.parent).as_posix()}"'
        )
    # Highest first: players that ignore BANDWIDTH start with the first variant.
    for r in sorted(videos, key=lambda r: r.bandwidth, reverse=True):
        assert r.playlist is not None
        # BANDWIDTH covers everything a player downloads for the variant, audio included.
        extra = (audio.bandwidth, audio.average_bandwidth) if audio is not None else (0, 0)
        codecs = r.codecs + (f",{audio.codecs}" if audio is not None else "")
        attrs = (
            f"BANDWIDTH={r.bandwidth + extra[0]},AVERAGE-BANDWIDTH={r.average_bandwidth + extra[1]},"
            f'RESOLUTION={r.width}x{r.height},CODECS="{codecs}",FRAME-RATE={r.frame_rate:.3f}'
        )
        if audio is not None:
            attrs += f',AUDIO="{_AUDIO_GROUP}"'
        lines += [f"#EXT-X-STREAM-INF:{attrs}", r.playlist.relative_to(path.parent).as_posix()]
    path.write_text("\n".join(lines) + "\n")
