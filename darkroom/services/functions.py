"""The media functions as runtime functions: thin adapters over :mod:`darkroom.media`.

Each takes local paths (blob references in the task's arguments arrive as :class:`~pathlib.Path`),
calls one media function with outputs under the task's scratch directory, and returns JSON whose
:class:`~pathlib.Path` values the runtime uploads (content-addressed) and replaces by blob
references. A folder of outputs (a package, a storyboard) is returned as a list of
``{"path": relative name, "file": Path}`` entries, so every file travels and the folder can be
rebuilt from the names.

ffmpeg-heavy functions run with ``isolation="process"`` (a timeout or a cancel kills the child and
its ffmpeg); :class:`~darkroom.media.errors.InvalidMedia` is a permanent error (a retry cannot fix
the input). A rejected inspection raises :class:`RejectedMedia` (permanent) whose message starts
with ``inspection rejected`` and lists the issue codes, so the run fails with that reason.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from darkroom.media.encode import encode_audio, encode_ladder
from darkroom.media.errors import InvalidMedia
from darkroom.media.image import PhotoSpec, render_photo
from darkroom.media.inspection import TitleProfile, inspect
from darkroom.media.package import package
from darkroom.media.probe import probe
from darkroom.media.recipe import DEFAULT_AUDIO, DEFAULT_LADDER, AudioRecipe, Recipe, fit_ladder
from darkroom.media.storyboard import poster, storyboard
from darkroom.runtime.context import TaskContext
from darkroom.runtime.errors import PermanentError
from darkroom.runtime.functions import Registry

__all__ = [
    "QUEUE_IMAGES",
    "QUEUE_MEDIA",
    "RejectedMedia",
    "MAX_LISTED_FILES",
    "folder_archive",
    "folder_entries",
    "photo_spec",
    "registry",
    "title_profile",
]

QUEUE_MEDIA = "media"
QUEUE_IMAGES = "images"

registry = Registry()

_PERMANENT = (InvalidMedia,)
# A task's result is at most 64 KiB and a listed file costs about 130 bytes: past this many files a
# package is returned as its archive only (``files`` is null).
MAX_LISTED_FILES = 400
# Media budgets stay under the function's timeout so the media layer's own (typed) timeout fires
# first and its ffmpeg is cleaned up; the runtime's kill is the backstop.
_INSPECT_S = 600.0
_ENCODE_S = 3600.0
_PACKAGE_S = 900.0
_IMAGE_S = 300.0


class RejectedMedia(PermanentError):
    """The inspection rejected the source: later steps cannot help. ``codes`` lists the error issues."""

    def __init__(self, message: str, codes: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.codes = list(codes)

    def __reduce__(self) -> tuple[Any, ...]:  # crosses the process boundary intact
        return (type(self), (str(self), self.codes))


def _reporter(ctx: TaskContext, message: str, start: float = 0.0, span: float = 1.0) -> Callable[[float], None]:
    """A media ``progress(fraction)`` callback forwarded to ``ctx.progress``, mapped to a sub-range."""

    def report(fraction: float) -> None:
        ctx.progress(min(1.0, max(0.0, start + span * min(1.0, max(0.0, fraction)))), message)

    return report


def _overrides(cls: type, given: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    known = {f.name for f in fields(cls)}
    values = dict(given or {})
    unknown = sorted(set(values) - known)
    if unknown:
        raise PermanentError(f"{what}: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def title_profile(overrides: Mapping[str, Any] | None) -> TitleProfile:
    """A :class:`TitleProfile` from JSON overrides (lists become tuples / frozensets)."""
    values = _overrides(TitleProfile, overrides, "profile")
    if "video_codecs" in values:
        values["video_codecs"] = frozenset(values["video_codecs"])
    try:
        return TitleProfile(**values)
    except (TypeError, ValueError) as exc:
        raise PermanentError(f"profile: {exc}") from exc


def photo_spec(overrides: Mapping[str, Any] | None) -> PhotoSpec:
    """A :class:`PhotoSpec` from JSON overrides."""
    try:
        return PhotoSpec(**_overrides(PhotoSpec, overrides, "photo spec"))
    except (TypeError, ValueError) as exc:
        raise PermanentError(f"photo spec: {exc}") from exc


def folder_archive(root: Path, out: Path) -> Path:
    """A reproducible tar of every file under ``root`` (sorted, zero times and owners): same bytes,
    same blob key, for the same folder."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for entry in folder_entries(root):
            path: Path = entry["file"]
            info = tarfile.TarInfo(entry["path"])
            info.size, info.mode, info.mtime = path.stat().st_size, 0o644, 0
            with path.open("rb") as f:
                tar.addfile(info, f)
    return out


def folder_entries(root: Path) -> list[dict[str, Any]]:
    """Every file under ``root`` as ``{"path": posix name relative to root, "file": Path}``, sorted."""
    return [
        {"path": p.relative_to(root).as_posix(), "file": p}
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    ]


# -- video -------------------------------------------------------------------------------------


@registry.function(
    "media.inspect", queue=QUEUE_MEDIA, isolation="process", timeout_s=_INSPECT_S + 60, permanent_errors=_PERMANENT
)
def inspect_source(ctx: TaskContext, source: Path, profile: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Inspect ``source``; a rejected verdict raises :class:`RejectedMedia` naming the issue codes."""
    result = inspect(source, title_profile(profile), timeout_s=_INSPECT_S, progress=_reporter(ctx, "inspecting"))
    if result.verdict == "rejected":
        errors = [i for i in result.issues if i.severity == "error"]
        codes = [i.code for i in errors]
        detail = "; ".join(f"{i.code}: {i.message}" for i in errors)
        raise RejectedMedia(f"inspection rejected [{', '.join(codes)}]: {detail}"[:2000], codes)
    video = result.info.primary_video if result.info else None
    width, height = video.display_size if video else (0, 0)
    ctx.progress(1.0, "accepted")
    return {
        "verdict": result.verdict,
        "codes": result.codes,
        "inspection": result.to_dict(),
        "width": width,
        "height": height,
        "has_audio": bool(result.info and result.info.primary_audio and result.info.primary_audio.decodable),
    }


def _recipes(given: Sequence[Mapping[str, Any]] | None, width: int, height: int) -> list[Recipe]:
    ladder = [Recipe.from_dict(r) for r in given] if given else list(DEFAULT_LADDER)
    fitted = fit_ladder(ladder, width, height)
    # Audio is its own rendition when packaging: video renditions carry none.
    return [Recipe.from_dict({**r.to_dict(), "audio": None}) for r in fitted]


@registry.function(
    "media.encode_ladder", queue=QUEUE_MEDIA, isolation="process", timeout_s=_ENCODE_S + 60,
    permanent_errors=_PERMANENT,
)  # fmt: skip
def encode_ladder_fn(
    ctx: TaskContext, source: Path, width: int, height: int, recipes: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """Encode every recipe (``None``: the default ladder) fitted to the source from ONE decode."""
    ladder = _recipes(recipes, width, height)
    ext = {"h264": "mp4", "hevc": "mp4", "vp9": "webm", "av1": "mp4"}
    outs = [(ctx.scratch / f"{r.name or f'{r.width}x{r.height}'}.{ext[r.codec]}", r) for r in ladder]
    results = encode_ladder(source, outs, progress=_reporter(ctx, "encoding"), timeout_s=_ENCODE_S)
    return {
        "renditions": [
            {
                "name": out.stem,
                "recipe": recipe.to_dict(),
                "file": res.path,
                "bytes": res.bytes,
                "bitrate": res.bitrate,
                "video_bitrate": res.video_bitrate,
                "frames": res.frames,
                "duration_s": res.duration_s,
            }
            for (out, recipe), res in zip(outs, results, strict=True)
        ]
    }


@registry.function(
    "media.encode_audio", queue=QUEUE_MEDIA, isolation="process", timeout_s=_ENCODE_S + 60,
    permanent_errors=_PERMANENT,
)  # fmt: skip
def encode_audio_fn(ctx: TaskContext, source: Path, audio: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The separate audio rendition, or ``{"file": None}`` for a source without audio."""
    if not probe(source).audio:
        return {"file": None, "recipe": None}
    recipe = AudioRecipe(**audio) if audio else DEFAULT_AUDIO
    ext = "webm" if recipe.codec == "opus" else "m4a"
    out = encode_audio(
        source, ctx.scratch / f"audio.{ext}", recipe, progress=_reporter(ctx, "audio"), timeout_s=_ENCODE_S
    )
    return {"file": out, "recipe": {f.name: getattr(recipe, f.name) for f in fields(recipe)}}


@registry.function(
    "media.package", queue=QUEUE_MEDIA, isolation="process", timeout_s=_PACKAGE_S + 60, permanent_errors=_PERMANENT
)
def package_fn(
    ctx: TaskContext,
    renditions: Sequence[Mapping[str, Any]],
    audio: Path | None = None,
    segment_s: float | None = None,
    formats: Sequence[str] = ("hls", "dash"),
) -> dict[str, Any]:
    """HLS + DASH over the encoded renditions (``{"file": Path, "recipe": dict}``) and the audio.

    The folder comes back twice: ``files``, one entry per file (``None`` past
    :data:`MAX_LISTED_FILES`, which would not fit a task result), and ``archive``, a reproducible tar.
    """
    pairs = [(Path(r["file"]), Recipe.from_dict(r["recipe"])) for r in renditions]
    seg = segment_s if segment_s is not None else (pairs[0][1].segment_s if pairs else 4.0)
    out = ctx.scratch / "package"
    done = package(
        pairs, audio, out, segment_s=seg, formats=formats, timeout_s=_PACKAGE_S,
        progress=_reporter(ctx, "packaging"),
    )  # fmt: skip
    files = folder_entries(out)
    return {
        "files": files if len(files) <= MAX_LISTED_FILES else None,
        "file_count": len(files),
        "archive": folder_archive(out, ctx.scratch / "package.tar"),
        "master": done.master,
        "mpd": done.mpd,
        "master_path": done.master.relative_to(out).as_posix() if done.master else None,
        "mpd_path": done.mpd.relative_to(out).as_posix() if done.mpd else None,
        "renditions": [
            {
                "name": r.name,
                "codecs": r.codecs,
                "bandwidth": r.bandwidth,
                "average_bandwidth": r.average_bandwidth,
                "segments": r.segments,
                "width": r.width,
                "height": r.height,
                "frame_rate": r.frame_rate,
            }
            for r in done.renditions
        ],
        "audio": None
        if done.audio is None
        else {"codecs": done.audio.codecs, "bandwidth": done.audio.bandwidth, "channels": done.audio.channels},
    }


@registry.function(
    "media.poster", queue=QUEUE_MEDIA, isolation="process", timeout_s=_IMAGE_S + 60, permanent_errors=_PERMANENT
)
def poster_fn(ctx: TaskContext, source: Path, max_width: int = 1280) -> dict[str, Any]:
    """A representative (non-black) JPEG frame of the opening seconds."""
    made = poster(source, ctx.scratch / "poster.jpg", max_width=max_width, timeout_s=_IMAGE_S)
    ctx.progress(1.0, "poster")
    return {"file": made.path, "width": made.width, "height": made.height, "at_s": made.at_s}


@registry.function(
    "media.storyboard", queue=QUEUE_MEDIA, isolation="process", timeout_s=_IMAGE_S + 60, permanent_errors=_PERMANENT
)
def storyboard_fn(
    ctx: TaskContext, source: Path, interval_s: float | None = None, tile_width: int = 160
) -> dict[str, Any]:
    """Sprite sheets + a WebVTT thumbnails track (cues name the sheets by their ``path``)."""
    out = ctx.scratch / "storyboard"
    board = storyboard(
        source, out, interval_s=interval_s, tile_width=tile_width, timeout_s=_IMAGE_S,
        progress=_reporter(ctx, "storyboard"),
    )  # fmt: skip
    return {
        "files": folder_entries(out),
        "vtt": board.vtt,
        "tiles": board.tiles,
        "interval_s": board.interval_s,
        "tile_width": board.tile_width,
        "tile_height": board.tile_height,
    }


# -- photos ------------------------------------------------------------------------------------


@registry.function(
    "media.photo", queue=QUEUE_IMAGES, isolation="process", timeout_s=_IMAGE_S, permanent_errors=_PERMANENT
)
def photo_fn(ctx: TaskContext, source: Path, spec: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every rendition of ``spec`` (JSON overrides of :class:`PhotoSpec`) plus the blurhash.

    Unusable input (unreadable, a decompression bomb) raises :class:`RejectedMedia` naming its code.
    """
    try:
        made = render_photo(source, ctx.scratch / "renditions", photo_spec(spec))
    except InvalidMedia as exc:
        raise RejectedMedia(f"photo rejected [{exc.code}]: {exc}", [exc.code]) from exc
    ctx.progress(1.0, f"{len(made.renditions)} renditions")
    return {
        "blurhash": made.blurhash,
        "source": {
            "width": made.source_width,
            "height": made.source_height,
            "format": made.source_format,
            "orientation": made.orientation,
            "had_gps": made.had_gps,
        },
        "renditions": [
            {
                "name": r.name,
                "format": r.format,
                "width": r.width,
                "height": r.height,
                "size_bytes": r.size_bytes,
                "file": r.path,
            }
            for r in made.renditions
        ],
    }
