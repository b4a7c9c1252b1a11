"""Running the ffmpeg binary that imageio-ffmpeg ships: the one place commands are executed.

Arguments are always a list (never a shell string). :func:`run` adds the common flags, reports
progress from ``-progress pipe:1`` as a fraction of a known duration, enforces a timeout, honours a
cancel event, and turns failures into typed errors. Commands are *built* by the modules that know
what they want (encode, quality, package…); this module only runs them, and makes every output
carry none of the source's metadata (:func:`private_outputs`): a phone's GPS position, device and
capture time must never reach a published file, and no command can forget to drop them.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import av

from darkroom.media.errors import FfmpegFailed, InvalidMedia, MediaTimeout

__all__ = ["STRIP_METADATA", "FfmpegResult", "audio_language", "ffmpeg_exe", "private_outputs", "run"]


# Put before every output: no global, stream or chapter metadata is copied from any input (location
# and its loci/©xyz atoms, make/model, creation_time, handler names, user data), and bitexact keeps
# the muxers from adding a creation time or an encoder tag of their own.
STRIP_METADATA = ("-map_metadata", "-1", "-map_metadata:s", "-1", "-map_chapters", "-1", "-fflags", "+bitexact")
# The one tag carried over: the audio's language (ISO 639-2, three letters). It says nothing about
# who filmed what where, and players need it to choose an audio track. Anything else is dropped.
_LANGUAGE = re.compile(r"[a-z]{3}")
_UNDETERMINED = "und"
# Inputs whose format says they are not a media file of their own (a list, a filter, a playlist).
_NOT_SOURCES = frozenset({"concat", "lavfi", "hls", "dash"})
# ffmpeg options that take no value; every other ``-name`` takes the argument after it.
_NO_VALUE = frozenset({
    "-y", "-n", "-an", "-vn", "-sn", "-dn", "-nostdin", "-stdin", "-hide_banner", "-nostats", "-stats", "-shortest",
    "-copyts", "-start_at_zero", "-accurate_seek", "-noaccurate_seek", "-re", "-xerror", "-autorotate",
    "-noautorotate", "-ignore_unknown", "-copy_unknown", "-benchmark", "-benchmark_all", "-dump", "-hex",
})  # fmt: skip


def private_outputs(args: Sequence[str], *, audio_language: str | None = None) -> list[str]:
    """``args`` with :data:`STRIP_METADATA` right before each output file (the arguments that are
    neither options, option values nor ``-i`` inputs), so it applies to that output and wins over
    any earlier metadata option for it; with ``audio_language``, that output's audio streams are
    tagged with it (an output without audio ignores the tag)."""
    strip = list(STRIP_METADATA)
    if audio_language is not None:
        if not _LANGUAGE.fullmatch(audio_language):
            raise InvalidMedia(f"audio language {audio_language!r} is not three lowercase letters (ISO 639-2)")
        strip += ["-metadata:s:a", f"language={audio_language}"]
    out: list[str] = []
    expect_value = False
    for arg in args:
        if expect_value:
            out.append(arg)
            expect_value = False
        elif arg.startswith("-") and len(arg) > 1:
            out.append(arg)
            expect_value = arg not in _NO_VALUE
        else:
            out += [*strip, arg]
    return out


def audio_language(args: Sequence[str]) -> str | None:
    """The language tag of the first audio stream of the input files in ``args`` (``-i`` values
    that are files, not lists, filters or playlists), or None when it has none or ``und``."""
    for path in _input_files(args):
        try:
            with av.open(str(path), metadata_errors="ignore") as container:
                if not container.streams.audio:
                    continue
                language = str(container.streams.audio[0].metadata.get("language", "")).strip().lower()
        except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError):
            continue  # ffmpeg itself will say what is wrong with it
        return language if _LANGUAGE.fullmatch(language) and language != _UNDETERMINED else None
    return None


def _input_files(args: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    fmt: str | None = None
    for flag, value in itertools.pairwise(args):
        if flag == "-f":
            fmt = value
        elif flag == "-i":
            if fmt not in _NOT_SOURCES and Path(value).is_file():
                files.append(Path(value))
            fmt = None
    return files


@cache
def ffmpeg_exe() -> str:
    """``DARKROOM_FFMPEG`` if set, else the static ffmpeg of imageio-ffmpeg (libvmaf, svt-av1…)."""
    override = os.environ.get("DARKROOM_FFMPEG")
    if override:
        return override
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


@dataclass(frozen=True)
class FfmpegResult:
    returncode: int
    stderr: str  # everything ffmpeg logged (analysis filters such as blackdetect log here)
    elapsed_s: float


def run(
    args: Sequence[str],
    *,
    timeout_s: float,
    duration_s: float | None = None,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
    loglevel: str = "error",
    what: str = "ffmpeg",
) -> FfmpegResult:
    """Run ``ffmpeg <common flags> <args>``; raise :class:`FfmpegFailed` or :class:`MediaTimeout`.

    Every output drops the inputs' metadata (:func:`private_outputs`) but the audio's language
    (:func:`audio_language`).
    ``progress(fraction)`` is called as output time advances (needs ``duration_s``). ``loglevel``
    ``info`` keeps the analysis filters' lines in ``stderr``. ``cancel`` kills the process.
    """
    argv = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", loglevel, "-nostats"]
    if progress is not None:
        argv += ["-progress", "pipe:1"]
    argv += private_outputs(args, audio_language=audio_language(args))
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err_lines: deque[str] = deque(maxlen=20_000)
    reader = threading.Thread(target=_drain, args=(proc.stderr, err_lines), daemon=True)
    reader.start()
    watchdog = threading.Thread(
        target=_watch, args=(proc, started + timeout_s, cancel), name="ffmpeg-watchdog", daemon=True
    )
    watchdog.start()
    assert proc.stdout is not None
    for raw in proc.stdout:
        if progress is None or not duration_s:
            continue
        key, _, value = raw.decode(errors="replace").strip().partition("=")
        if key == "out_time_us" and value.isdigit():
            progress(min(1.0, int(value) / 1e6 / duration_s))
    code = proc.wait()
    reader.join(timeout=5)
    elapsed = time.monotonic() - started
    stderr = "\n".join(err_lines)
    if cancel is not None and cancel.is_set():
        raise FfmpegFailed(f"{what} was canceled", returncode=code, stderr_tail=stderr[-2000:])
    if elapsed >= timeout_s:
        # killed by the watchdog, or done but late: either way the budget was not kept, and a
        # caller must not get a result one run and a timeout the next depending on scheduling
        raise MediaTimeout(f"{what} ran past its timeout of {timeout_s:g}s")
    if code != 0:
        raise FfmpegFailed(f"{what} failed", returncode=code, stderr_tail=stderr[-2000:])
    if progress is not None:
        progress(1.0)
    return FfmpegResult(code, stderr, elapsed)


def _drain(stream: object, sink: deque[str]) -> None:
    for raw in stream:  # type: ignore[attr-defined]
        sink.append(raw.decode(errors="replace").rstrip())


def _watch(proc: subprocess.Popen[bytes], give_up: float, cancel: threading.Event | None) -> None:
    while proc.poll() is None:
        if time.monotonic() >= give_up or (cancel is not None and cancel.is_set()):
            proc.kill()
            return
        time.sleep(0.05)
