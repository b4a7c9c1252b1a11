"""``report.html``: one self-contained page (inline CSS, inline SVG plots, images as data URIs).

Built from the ``report.json`` dict (:func:`darkroom.reports.build.build_report`) plus what the JSON
only points at: per-frame quality scores and small images. Sections whose data is absent are left
out. Every value is HTML-escaped; the page loads nothing from anywhere.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from darkroom.reports import plots
from darkroom.reports.build import RunDict
from darkroom.reports.errors import InvalidReportData
from darkroom.reports.placeholder import blurhash_png

__all__ = ["render_html"]

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;padding:0 1em;color:#222}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}td,th{border:1px solid #ddd;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#17702e;font-weight:600}.bad{color:#b00020;font-weight:600}.warn{color:#a05a00}.dim{color:#777}
figure{margin:.6em 0}svg{max-width:100%;height:auto}img.poster{max-width:32em;border:1px solid #ddd}
code{background:#f4f4f4;padding:0 .25em}
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: object, digits: int = 1) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _e(value)
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def _table(head: Sequence[str], rows: Iterable[Sequence[object]], numeric: Iterable[int] = ()) -> str:
    nums = set(numeric)
    out = ["<table><tr>", *(f"<th>{_e(h)}</th>" for h in head), "</tr>"]
    for row in rows:
        out.append("<tr>")
        for i, cell in enumerate(row):
            text = cell if isinstance(cell, _Raw) else _num(cell, 2) if i in nums else _e(cell)
            out.append(f'<td class="n">{text}</td>' if i in nums else f"<td>{text}</td>")
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


class _Raw(str):
    """Already-escaped HTML for a table cell."""


def _verdict(ok: object) -> _Raw:
    if ok is None:
        return _Raw('<span class="dim">n/a</span>')
    return _Raw('<span class="ok">ok</span>' if ok else '<span class="bad">failed</span>')


def _kv(pairs: Iterable[tuple[str, object]]) -> str:
    """A two-column table of labels (as headers) and values, skipping empty values."""
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in pairs if v is not None and v != "")
    return f"<table>{rows}</table>"


def _figure(svg: str | None) -> str:
    return f"<figure>{svg}</figure>" if svg else ""


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _header(report: Mapping[str, Any]) -> str:
    source = report.get("source") or {}
    run = report.get("run") or {}
    verdict = report.get("verdict")
    bits = [f"<h1>{_e(source.get('name'))}</h1>"]
    facts = [
        ("kind", report.get("kind")),
        ("profile", report.get("profile")),
        ("workflow", f"{run.get('workflow')} {run.get('run_id')}" if run else None),
        ("state", run.get("state") if run else None),
        ("took", f"{run['took_s']:.1f} s" if run and isinstance(run.get("took_s"), int | float) else None),
        ("verdict", verdict),
        ("source size", f"{source['bytes']:,} bytes" if isinstance(source.get("bytes"), int) else None),
    ]
    bits.append(_kv(facts))
    if run and run.get("error"):
        bits.append(f'<p class="bad">{_e(run["error"])}</p>')
    return "".join(bits)


def _inspection(insp: Mapping[str, Any]) -> str:
    v = insp.get("video") or {}
    a = insp.get("audio") or {}
    pairs: list[tuple[str, object]] = [
        ("verdict", insp.get("verdict")),
        ("container", insp.get("container")),
        ("duration", f"{insp['duration_s']:.2f} s" if isinstance(insp.get("duration_s"), int | float) else None),
        ("size", f"{insp['size_bytes']:,} bytes" if isinstance(insp.get("size_bytes"), int) else None),
        ("overall bitrate", f"{insp['bit_rate_kbps']:,.0f} kbit/s" if insp.get("bit_rate_kbps") else None),
    ]
    if v:
        pairs += [
            ("video", f"{v.get('codec')} {v.get('profile') or ''} {v.get('width')}x{v.get('height')} "
                      f"({v.get('display_aspect')}), {v.get('pix_fmt')}, {v.get('bit_depth')}-bit"),
            ("frame rate", f"{v.get('frame_rate')} fps" + (" (variable)" if v.get("vfr") else "")),
            ("delivered at", f"{v['output_fps']} fps: {v.get('output_fps_reason')}" if v.get("output_fps") else None),
            ("frames", v.get("frame_count")),
            ("HDR / field order / rotation", f"{v.get('hdr')} / {v.get('field_order')} / {v.get('rotation')}°"),
        ]  # fmt: skip
    if a:
        pairs.append(("audio", f"{a.get('codec')} {a.get('layout')} {a.get('sample_rate')} Hz"))
    pairs += [
        ("loudness", f"{insp['loudness_lufs']} LUFS" if insp.get("loudness_lufs") is not None else None),
        ("true peak", f"{insp['true_peak_db']} dBTP" if insp.get("true_peak_db") is not None else None),
        ("decode errors", insp.get("decode_errors")),
        ("interlaced", insp.get("interlaced")),
    ]
    out = ["<h2>Inspection</h2>", _kv(pairs)]
    issues = insp.get("issues") or []
    if issues:
        rows = [
            (i.get("code"), _Raw(f'<span class="{"bad" if i.get("severity") == "error" else "warn"}">'
                                 f"{_e(i.get('severity'))}</span>"), i.get("message"))
            for i in issues
        ]  # fmt: skip
        out.append(_table(["issue", "severity", "message"], rows))
    else:
        out.append('<p class="ok">No issues.</p>')
    return "".join(out)


def _complexity(c: Mapping[str, Any]) -> str:
    scenes = c.get("scenes") or []
    rows = [(i, s.get("start_s"), s.get("end_s"), s.get("bits_per_pixel"), s.get("bitrate_kbps"))
            for i, s in enumerate(scenes)]  # fmt: skip
    return "".join([
        "<h2>Complexity</h2>",
        _figure(plots.complexity_svg(c)),
        _table(["scene", "start (s)", "end (s)", "bits/pixel", "pre-encode kbit/s"], rows, numeric=(1, 2, 3, 4)),
    ])  # fmt: skip


def _ladder(ladder: Mapping[str, Any], renditions: Sequence[Mapping[str, Any]]) -> str:
    bd = ladder.get("bd_rate_percent")
    out = ["<h2>Ladder</h2>", _figure(plots.rate_quality_svg(ladder, renditions))]
    if isinstance(bd, int | float):
        better = "fewer" if bd < 0 else "more"
        out.append(f"<p>BD-rate of the per-title hull against the fixed ladder: <b>{bd:+.1f} %</b> "
                   f"({better} bits for the same VMAF).</p>")  # fmt: skip
    else:
        out.append('<p class="dim">No BD-rate (the fixed ladder fitted fewer than two rungs).</p>')
    delivered_bd = ladder.get("bd_rate_delivered_percent")
    if isinstance(delivered_bd, int | float):
        better = "fewer" if delivered_bd < 0 else "more"
        out.append(f"<p>BD-rate of the delivered renditions against the fixed ladder encoded over the whole title: "
                   f"<b>{delivered_bd:+.1f} %</b> ({better} bits for the same VMAF).</p>")  # fmt: skip
    rows = [(f"{p.get('resolution_height', p.get('height'))}p", p.get("crf"), p.get("bitrate_kbps"), p.get("vmaf"))
            for p in ladder.get("rungs") or []]  # fmt: skip
    if rows:
        out.append(_table(["rung", "CRF", "kbit/s", "VMAF"], rows, numeric=(1, 2, 3)))
    out.append(_delivered(ladder.get("delivered") or {}))
    out.append(f'<p class="dim">{len(ladder.get("points") or [])} trial points on samples, '
               f'{len(ladder.get("hull") or [])} on the hull; stars: the renditions measured over the whole '
               "title.</p>")  # fmt: skip
    return "".join(out)


def _delivered(delivered: Mapping[str, Any]) -> str:
    """Each whole-title rendition against the hull point it was chosen at, and what became of it."""
    rungs = delivered.get("rungs") or []
    if not rungs:
        return ""
    tol = delivered.get("tolerance") or {}
    rows = []
    for r in rungs:
        planned, measured = r.get("planned") or {}, r.get("measured") or {}
        fate = "kept" if r.get("kept") else f"dropped ({r.get('drop')})"
        miss = {True: "yes", False: "no", None: "-"}[r.get("within_tolerance")]
        rows.append((r.get("planned_name"), r.get("name"), planned.get("bitrate_kbps"), measured.get("bitrate_kbps"),
                     r.get("bitrate_error_percent"), planned.get("vmaf"), measured.get("vmaf"), measured.get("vmaf_p5"),
                     r.get("vmaf_error"), miss, fate))  # fmt: skip
    head = ["planned", "delivered as", "hull kbit/s", "kbit/s", "Δ %", "hull VMAF", "VMAF", "VMAF p5", "Δ VMAF",
            "within", "rung"]  # fmt: skip
    return "".join([
        f"<h3>As delivered</h3><p>Whole-title renditions against their hull points (tolerance ±"
        f"{float(tol.get('bitrate_ratio', 0.15)) * 100:.0f} % bitrate, ±{float(tol.get('vmaf', 3.0)):g} VMAF; "
        f"VMAF floor {delivered.get('floor_vmaf')}). The ladder is corrected from this before packaging.</p>",
        _table(head, rows, numeric=(2, 3, 4, 5, 6, 7, 8)),
    ])  # fmt: skip


def _renditions(rows: Sequence[Mapping[str, Any]]) -> str:
    metrics = sorted({m for r in rows for m in (r.get("quality") or {})})
    head = ["rendition", "codec", "size", "CRF", "bytes", "kbit/s", "video kbit/s"]
    for m in metrics:
        head += [f"{m} mean", f"{m} p5"]
    head.append("valid")
    table_rows = []
    for r in rows:
        cells: list[object] = [r.get("name"), r.get("codec"), f"{r.get('width')}x{r.get('height')}",
                               r.get("crf") if r.get("crf") is not None else r.get("target_kbps"),
                               r.get("bytes"), r.get("bitrate_kbps"), r.get("video_bitrate_kbps")]  # fmt: skip
        for m in metrics:
            pooled = (r.get("quality") or {}).get(m) or {}
            cells += [pooled.get("mean"), pooled.get("p5")]
        cells.append(_verdict(r.get("valid")))
        table_rows.append(cells)
    numeric = range(4, 7 + 2 * len(metrics))
    out = ["<h2>Renditions</h2>", _table(head, table_rows, numeric=numeric)]
    errors = [(r.get("name"), m, msg) for r in rows for m, msg in (r.get("quality_errors") or {}).items()]
    if errors:
        out.append(_table(["rendition", "metric", "not measured because"], errors))
    return "".join(out)


def _validation(validation: Mapping[str, Any]) -> str:
    rows: list[Sequence[object]] = []
    for v in validation.get("renditions") or []:
        found = v.get("discrepancies") or []
        text = "; ".join(f"{d.get('code')}: {d.get('message')}" if isinstance(d, Mapping) else str(d) for d in found)
        rows.append((v.get("name"), _verdict(v.get("ok")), text))
    return "".join(["<h2>Validation</h2>", _table(["rendition", "result", "discrepancies"], rows)])


def _chunks(chunks: Mapping[str, Any]) -> str:
    plan = chunks.get("plan") or []
    head = f"<p>{'Chunked' if chunks.get('chunked') else 'Not chunked'}: {_e(chunks.get('reason'))}</p>"
    rows = [(c.get("index"), c.get("start_s"), c.get("duration_s"), c.get("start_frame"), c.get("frames"))
            for c in plan]  # fmt: skip
    table = _table(["chunk", "start (s)", "duration (s)", "first frame", "frames"], rows, numeric=(1, 2, 3, 4))
    return "<h2>Chunk plan</h2>" + head + (table if rows else "")


def _steps(run: RunDict) -> str:
    steps = run.get("steps") or []
    rows = [(s.get("name"), s.get("kind"), s.get("state"), s.get("attempts"), s.get("items"), s.get("took_s"),
             s.get("worker"), s.get("error")) for s in steps]  # fmt: skip
    return "".join([
        "<h2>Steps</h2>",
        _figure(plots.step_timeline_svg(steps)),
        _table(["step", "kind", "state", "attempts", "items", "took (s)", "worker", "error"], rows, numeric=(3, 5)),
    ])  # fmt: skip


def _files(files: Mapping[str, Any]) -> str:
    links = []
    for label in ("master", "mpd", "poster", "storyboard_vtt"):
        path = files.get(label)
        if isinstance(path, str):
            links.append(f'<li>{_e(label)}: <a href="{_e(path)}"><code>{_e(path)}</code></a></li>')
    return "<h2>Files</h2><ul>" + "".join(links) + "</ul>" if links else ""


def _placeholder(blurhash: object, source: Mapping[str, Any]) -> str | None:
    """The blurhash as a data-URI PNG in the photo's aspect (None when there is none or it is malformed)."""
    if not isinstance(blurhash, str):
        return None
    w, h = source.get("width"), source.get("height")
    height = max(8, min(256, round(128 * h / w))) if isinstance(w, int) and isinstance(h, int) and w > 0 else 96
    try:
        return _data_uri("image/png", blurhash_png(blurhash, width=128, height=height))
    except InvalidReportData:
        return None


def _photo(photo: Mapping[str, Any], images: Mapping[str, tuple[str, bytes]]) -> str:
    src = photo.get("source") or {}
    out = ["<h2>Photo</h2>"]
    if "thumbnail" in images:
        mime, data = images["thumbnail"]
        out.append(f'<img class="poster" alt="thumbnail" src="{_data_uri(mime, data)}">')
    placeholder = _placeholder(photo.get("blurhash"), src)
    if placeholder:
        out.append(f'<img class="poster" alt="blurhash placeholder" src="{placeholder}">')
    out.append(_kv([
        ("source", f"{src.get('format')} {src.get('width')}x{src.get('height')} (upright)"),
        ("EXIF orientation", src.get("orientation")),
        ("GPS in the source (stripped from renditions)", src.get("had_gps")),
        ("blurhash", photo.get("blurhash")),
    ]))  # fmt: skip
    rows = [(r.get("name"), r.get("format"), f"{r.get('width')}x{r.get('height')}", r.get("size_bytes"),
             _Raw(f'<a href="{_e(r["file"])}">{_e(r["file"])}</a>') if r.get("file") else "")
            for r in photo.get("renditions") or []]  # fmt: skip
    out.append(_table(["rendition", "format", "size", "bytes", "file"], rows, numeric=(3,)))
    return "".join(out)


def render_html(
    report: Mapping[str, Any],
    *,
    frames: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
    images: Mapping[str, tuple[str, bytes]] | None = None,
) -> str:
    """The page for ``report``. ``frames``: per-frame scores by rendition (``{metric: [...]}``);
    ``images``: ``{"poster"|"thumbnail": (mime type, bytes)}`` embedded as data URIs."""
    images = images or {}
    name = (report.get("source") or {}).get("name") or "report"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Darkroom report: {_e(name)}</title><style>{_CSS}</style></head><body>",
        _header(report),
    ]
    if "poster" in images:
        mime, data = images["poster"]
        parts.append(f'<img class="poster" alt="poster" src="{_data_uri(mime, data)}">')
    if report.get("photo"):
        parts.append(_photo(report["photo"], images))
    if report.get("inspection"):
        parts.append(_inspection(report["inspection"]))
    if report.get("complexity"):
        parts.append(_complexity(report["complexity"]))
    if report.get("ladder"):
        parts.append(_ladder(report["ladder"], report.get("renditions") or []))
    if report.get("renditions"):
        parts.append(_renditions(report["renditions"]))
    if frames:
        video = (report.get("inspection") or {}).get("video") or {}
        fps = video.get("output_fps") or video.get("frame_rate")  # the renditions' rate: scores are per frame
        rate = fps if isinstance(fps, int | float) and fps > 0 else None
        metrics = sorted({m for scores in frames.values() for m in scores}, key=lambda m: (m != "vmaf", m))
        svgs = [plots.quality_over_time_svg(frames, fps=rate, metric=m) for m in metrics]
        if any(svgs):
            parts.append("<h2>Quality over time</h2>" + "".join(_figure(svg) for svg in svgs))
    if report.get("validation"):
        parts.append(_validation(report["validation"]))
    if report.get("chunks"):
        parts.append(_chunks(report["chunks"]))
    parts.append(_files(report.get("files") or {}))
    if report.get("run"):
        parts.append(_steps(report["run"]))
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)
