"""``report.json``: one processed source as plain JSON, built from a workflow's outputs.

Pure functions over dicts: the outputs of ``studio.video``, ``streaming.video`` or
``photo.renditions`` (blob references left as they are), the per-frame quality scores already
loaded, the files written next to the report and the run's step timings. A section whose data the
profile does not produce (studio: no ladder or quality; photos: no inspection) is left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from darkroom.reports.errors import InvalidReportData

__all__ = [
    "REPORT_VERSION",
    "RunDict",
    "RunSummary",
    "StepTiming",
    "StepTimingDict",
    "build_report",
    "inspection_summary",
    "point_height",
    "rendition_rows",
]

REPORT_VERSION = 1


class StepTimingDict(TypedDict):
    """A :class:`StepTiming` in ``report.json``."""

    name: str
    kind: str
    state: str
    attempts: int
    items: int | None
    started_at: float | None
    ended_at: float | None
    worker: str | None
    error: str | None
    took_s: float | None


class RunDict(TypedDict):
    """A :class:`RunSummary` in ``report.json``."""

    workflow: str
    run_id: str
    state: str
    error: str | None
    took_s: float | None
    steps: list[StepTimingDict]


@dataclass(frozen=True)
class StepTiming:
    """One workflow step as it ran: state, attempts, items (map steps) and wall times (epoch s)."""

    name: str
    kind: str
    state: str
    attempts: int = 0
    items: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    worker: str | None = None
    error: str | None = None

    @property
    def took_s(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0.0, self.ended_at - self.started_at)

    def to_dict(self) -> StepTimingDict:
        return StepTimingDict(
            name=self.name,
            kind=self.kind,
            state=self.state,
            attempts=self.attempts,
            items=self.items,
            started_at=self.started_at,
            ended_at=self.ended_at,
            worker=self.worker,
            error=self.error,
            took_s=self.took_s,
        )


@dataclass(frozen=True)
class RunSummary:
    """The run behind a report: workflow name, id, final state and its steps."""

    workflow: str
    run_id: str
    state: str
    created_at: float
    ended_at: float | None = None
    error: str | None = None
    steps: Sequence[StepTiming] = field(default_factory=tuple)

    def to_dict(self) -> RunDict:
        took = None if self.ended_at is None else max(0.0, self.ended_at - self.created_at)
        return {
            "workflow": self.workflow,
            "run_id": self.run_id,
            "state": self.state,
            "error": self.error,
            "took_s": took,
            "steps": [s.to_dict() for s in self.steps],
        }


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidReportData(f"{what} must be an object, got {type(value).__name__}: {value!r:.80}")
    return value


def _list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise InvalidReportData(f"{what} must be a list, got {type(value).__name__}: {value!r:.80}")
    return list(value)


def _kbps(bits_per_s: object) -> float | None:
    return round(float(bits_per_s) / 1000.0, 1) if isinstance(bits_per_s, int | float) else None


_VIDEO_KEYS = (
    "codec", "profile", "width", "height", "display_aspect", "rotation", "avg_frame_rate", "r_frame_rate", "vfr",
    "pix_fmt", "bit_depth", "hdr", "frame_count", "field_order", "output_fps", "output_fps_reason",
)  # fmt: skip


def _rate(video: Mapping[str, Any]) -> float | None:
    """Frames per second as probing judged it: the average rate, else the base rate (the JSON of a
    probe carries both, not the ``frame_rate`` property)."""
    for key in ("frame_rate", "avg_frame_rate", "r_frame_rate"):
        rate = video.get(key)
        if isinstance(rate, int | float) and not isinstance(rate, bool) and rate > 0:
            return float(rate)
    return None


def inspection_summary(inspection: Mapping[str, Any]) -> dict[str, Any]:
    """The headline facts of an ``Inspection.to_dict()``: container, timing, streams, loudness, issues."""
    inspection = _mapping(inspection, "inspection")
    info = inspection.get("info") or {}
    analysis = inspection.get("analysis") or {}
    videos = info.get("video") or []
    audios = info.get("audio") or []
    v = videos[0] if videos else {}
    a = audios[0] if audios else {}
    return {
        "verdict": inspection.get("verdict"),
        "name": info.get("name"),
        "container": info.get("container"),
        "size_bytes": info.get("size_bytes"),
        "duration_s": info.get("duration_s"),
        "bit_rate_kbps": _kbps(info.get("bit_rate")),
        "video": None if not v else {**{k: v.get(k) for k in _VIDEO_KEYS}, "frame_rate": _rate(v)},
        "audio": None if not a else {k: a.get(k) for k in ("codec", "layout", "channels", "sample_rate")},
        "loudness_lufs": analysis.get("loudness_lufs"),
        "true_peak_db": analysis.get("true_peak_db"),
        "decode_errors": analysis.get("decode_errors"),
        "interlaced": analysis.get("interlaced"),
        "issues": [dict(i) for i in inspection.get("issues") or []],
        "analysis": dict(analysis),  # the whole decode pass: idet counts, black/frozen spans, loudness range…
    }


def rendition_rows(outputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per encoded rendition: recipe, size, bitrates (kbit/s), pooled quality, validation."""
    quality = {q["name"]: q for q in _list(outputs.get("quality") or [], "quality")}
    validation = {v["name"]: v for v in _list(outputs.get("validation") or [], "validation")}
    packaged = {p["name"]: p for p in _list(outputs.get("packaged") or [], "packaged")}
    rows = []
    for item in _list(outputs.get("renditions") or [], "renditions"):
        r = _mapping(item, "rendition")
        name = str(r.get("name"))
        recipe = r.get("recipe") or {}
        q = quality.get(name) or {}
        v = validation.get(name)
        p = packaged.get(name) or {}
        pooled = q.get("pooled") or {}
        rows.append(
            {
                "name": name,
                "codec": recipe.get("codec"),
                "width": recipe.get("width"),
                "height": recipe.get("height"),
                "crf": recipe.get("crf"),
                "target_kbps": recipe.get("bitrate_kbps"),
                "maxrate_kbps": recipe.get("maxrate_kbps"),
                "bytes": r.get("bytes"),
                "frames": r.get("frames"),
                "duration_s": r.get("duration_s"),
                "bitrate_kbps": _kbps(r.get("bitrate")),
                "video_bitrate_kbps": _kbps(r.get("video_bitrate")),
                "bandwidth_kbps": _kbps(p.get("bandwidth")),
                "codecs": p.get("codecs"),
                "quality": {m: dict(s) for m, s in pooled.items() if isinstance(s, Mapping)},
                "quality_errors": dict(q.get("errors") or {}),
                "valid": None if v is None else bool(v.get("ok")),
                "discrepancies": [] if v is None else list(v.get("discrepancies") or []),
            }
        )
    return rows


def _ladder(ladder: Mapping[str, Any]) -> dict[str, Any]:
    ladder = _mapping(ladder, "ladder")
    out: dict[str, Any] = {}
    for key in ("points", "hull", "rungs", "fixed", "anchor"):
        pts = _list(ladder.get(key) or [], f"ladder.{key}")
        for p in pts:
            _point(p, f"ladder.{key}")
        out[key] = [dict(p) for p in pts]
    out["recipes"] = [dict(r) for r in ladder.get("recipes") or []]
    for key in ("bd_rate_percent", "bd_rate_delivered_percent"):  # trials' hull / delivered renditions vs fixed
        bd = ladder.get(key)
        out[key] = None if bd is None or not math.isfinite(float(bd)) else float(bd)
    for key, value in ladder.items():  # the rest (encodes, elapsed_s, mode, samples…) as given
        out.setdefault(key, value)
    return out


def point_height(p: Mapping[str, Any]) -> int:
    """A rate-quality point's picture height (``resolution_height``, or ``height``)."""
    return int(p.get("resolution_height", p.get("height", 0)) or 0)


def _point(p: object, what: str) -> None:
    p = _mapping(p, what)
    for key in ("bitrate_kbps", "vmaf"):
        if not isinstance(p.get(key), int | float):
            raise InvalidReportData(f"{what}: point {dict(p)!r:.120} has no numeric {key!r}")


def _photo(outputs: Mapping[str, Any], files: Mapping[str, Any]) -> dict[str, Any]:
    """Renditions are matched with the files written by ``file_name``, the name the function gave
    the file (``1080w.jpg`` for format ``jpeg``): the report never rebuilds a name from the format."""
    written = files.get("renditions") or {}
    return {
        "blurhash": outputs.get("blurhash"),
        "source": dict(outputs.get("source") or {}),
        "renditions": [
            {k: r.get(k) for k in ("name", "format", "file_name", "width", "height", "size_bytes")}
            | {"file": written.get(str(r.get("file_name")))}
            for r in _list(outputs.get("renditions") or [], "renditions")
        ],
    }


def build_report(
    outputs: Mapping[str, Any],
    *,
    kind: str,
    profile: str,
    source: Mapping[str, Any],
    files: Mapping[str, Any] | None = None,
    run: RunSummary | None = None,
) -> dict[str, Any]:
    """The report of one processed source (see ``docs/process.md`` for every field).

    ``files`` names what was written next to the report (relative paths; per-frame quality scores
    are in the files ``files["quality"]`` names, one JSON per rendition).
    """
    outputs = _mapping(outputs, "outputs")
    files = dict(files or {})
    report: dict[str, Any] = {
        "version": REPORT_VERSION,
        "kind": kind,
        "profile": profile,
        "source": dict(source),
        "run": None if run is None else run.to_dict(),
        "files": files,
    }
    if kind == "photo":
        report["photo"] = _photo(outputs, files)
        return report
    if outputs.get("verdict") is not None:
        report["verdict"] = outputs["verdict"]
    if outputs.get("inspection"):
        report["inspection"] = inspection_summary(outputs["inspection"])
    if outputs.get("complexity"):
        report["complexity"] = dict(_mapping(outputs["complexity"], "complexity"))
    if outputs.get("ladder"):
        report["ladder"] = _ladder(outputs["ladder"])
    if outputs.get("chunks"):
        report["chunks"] = dict(_mapping(outputs["chunks"], "chunks"))
    if outputs.get("renditions"):
        report["renditions"] = rendition_rows(outputs)
    if outputs.get("quality"):
        report["quality"] = [
            {"name": q.get("name"), "pooled": q.get("pooled") or {}, "errors": q.get("errors") or {},
             "frames_file": (files.get("quality") or {}).get(q.get("name"))}
            for q in _list(outputs["quality"], "quality")
        ]  # fmt: skip
    if outputs.get("validation") is not None and "validation" in outputs:
        checks = _list(outputs["validation"], "validation")
        report["validation"] = {
            "ok": all(bool(v.get("ok")) for v in checks),
            "renditions": [dict(v) for v in checks],
        }
    return report
