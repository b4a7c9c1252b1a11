"""Checks on what ``darkroom process`` wrote: playlists and manifests that reference existing files,
a package ffmpeg can play, validation results, photo renditions without GPS data.

Each check returns :class:`Check` values (name, ok, detail) so a demo can print and count them.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from darkroom.media.errors import MediaError
from darkroom.media.package import play_through

__all__ = ["Check", "check_result", "hls_missing", "mpd_missing", "photo_gps", "plays"]

_URI_ATTR = re.compile(r'URI="([^"]+)"')
_NUMBER = re.compile(r"\$Number(%0(\d+)d)?\$")
_GPS_IFD = 0x8825


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


def _playlist_refs(playlist: Path) -> list[Path]:
    refs = []
    for raw in playlist.read_text().splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            refs += [playlist.parent / uri for uri in _URI_ATTR.findall(line)]
        else:
            refs.append(playlist.parent / line)
    return refs


def hls_missing(master: Path) -> tuple[int, list[str]]:
    """Files the master playlist and its media playlists reference: (count, the missing ones)."""
    seen: set[Path] = set()
    missing: list[str] = []
    todo = [master]
    while todo:
        playlist = todo.pop()
        for ref in _playlist_refs(playlist):
            if ref in seen:
                continue
            seen.add(ref)
            if not ref.is_file():
                missing.append(str(ref.relative_to(master.parent)))
            elif ref.suffix == ".m3u8":
                todo.append(ref)
    return len(seen), missing


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def mpd_missing(mpd: Path) -> tuple[int, list[str]]:
    """Init and media segments the MPD's SegmentTemplates name: (count, the missing ones).

    Handles ``$RepresentationID$``, ``$Bandwidth$``, ``$Number$`` (with ``%0Nd``) and ``$Time$``
    over a SegmentTimeline, or ``duration`` with the presentation duration.
    """
    root = ET.parse(mpd).getroot()
    names: list[str] = []
    for adaptation in (e for e in root.iter() if _local(e.tag) == "AdaptationSet"):
        shared = next((c for c in adaptation if _local(c.tag) == "SegmentTemplate"), None)
        for rep in (c for c in adaptation if _local(c.tag) == "Representation"):
            template = next((c for c in rep if _local(c.tag) == "SegmentTemplate"), shared)
            if template is None:
                names += [b.text.strip() for b in rep if _local(b.tag) == "BaseURL" and b.text]
                continue
            names += _template_names(template, rep.get("id", ""), rep.get("bandwidth", ""))
    missing = [n for n in names if not (mpd.parent / n).is_file()]
    return len(names), missing


def _template_names(template: ET.Element, rep_id: str, bandwidth: str) -> list[str]:
    def fill(pattern: str, number: int | None = None, time: int | None = None) -> str:
        out = pattern.replace("$RepresentationID$", rep_id).replace("$Bandwidth$", bandwidth)
        if number is not None:
            out = _NUMBER.sub(lambda m: str(number).zfill(int(m.group(2) or 0)), out)
        if time is not None:
            out = out.replace("$Time$", str(time))
        return out

    names = []
    if template.get("initialization"):
        names.append(fill(template.get("initialization", "")))
    media = template.get("media")
    if not media:
        return names
    start = int(template.get("startNumber", "1"))
    timeline = next((c for c in template if _local(c.tag) == "SegmentTimeline"), None)
    times: list[int] = []
    if timeline is not None:
        t = 0
        for s in timeline:
            t = int(s.get("t", t))
            for _ in range(int(s.get("r", "0")) + 1):
                times.append(t)
                t += int(s.get("d", "0"))
    names += [fill(media, start + i, t) for i, t in enumerate(times)]
    return names


def plays(manifest: Path, *, timeout_s: float = 120.0) -> Check:
    """ffmpeg reads an HLS master playlist or a DASH MPD (every variant and the audio) to the end
    (:func:`darkroom.media.package.play_through`)."""
    what = "DASH" if manifest.suffix == ".mpd" else "HLS"
    try:
        play_through(manifest, timeout_s=timeout_s)
    except MediaError as exc:
        return Check(f"{what} plays (ffmpeg)", False, str(exc)[:300])
    return Check(f"{what} plays (ffmpeg)", True, "decoded every stream to the end")


def photo_gps(path: Path) -> bool | None:
    """Whether the image carries a GPS IFD; None when Pillow cannot open it here."""
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            return _GPS_IFD in exif or bool(exif.get_ifd(_GPS_IFD))
    except (OSError, ValueError):
        return None


def _video_checks(out: Path, report: dict[str, Any], files: dict[str, Any]) -> list[Check]:
    checks = []
    for label, finder in (("master", hls_missing), ("mpd", mpd_missing)):
        rel = files.get(label)
        if not rel or not (out / rel).is_file():
            checks.append(Check(f"{label} exists", False, f"no {label} in {out / 'package'}"))
            continue
        count, missing = finder(out / rel)
        detail = f"{count} files referenced" + (f"; missing: {', '.join(missing[:5])}" if missing else ", all present")
        checks.append(Check(f"{label} references existing files", count > 0 and not missing, detail))
    for label in ("master", "mpd"):
        if files.get(label) and (out / files[label]).is_file():
            checks.append(plays(out / files[label]))
    if "validation" in report:
        bad = [v["name"] for v in report["validation"]["renditions"] if not v.get("ok")]
        checks.append(Check("validation ok", not bad, f"failed: {', '.join(bad)}" if bad else "every rendition"))
    checks.append(Check("poster", bool(files.get("poster")), str(files.get("poster") or "missing")))
    vtt = files.get("storyboard_vtt")
    checks.append(Check("storyboard (sheets + WebVTT)", bool(vtt and files.get("storyboard_sheets")), str(vtt)))
    return checks


def _photo_checks(out: Path, report: dict[str, Any]) -> list[Check]:
    renditions = report.get("photo", {}).get("renditions") or []
    present = [r for r in renditions if r.get("file") and (out / r["file"]).is_file()]
    checks = [Check("photo renditions present", bool(present) and len(present) == len(renditions),
                    f"{len(present)} of {len(renditions)} files")]  # fmt: skip
    read = {r["file"]: photo_gps(out / r["file"]) for r in present}
    with_gps = [f for f, gps in read.items() if gps]
    opened = [f for f, gps in read.items() if gps is not None]
    detail = f"{len(opened)} renditions read" + (f"; GPS in {', '.join(with_gps)}" if with_gps else "")
    checks.append(Check("GPS absent from renditions", bool(opened) and not with_gps, detail))
    src = report.get("photo", {}).get("source") or {}
    if src.get("orientation", 1) != 1:
        upright = all(
            (r["width"] < r["height"]) == (src["width"] < src["height"]) for r in present if r["name"] != "thumb150"
        )
        checks.append(Check("EXIF orientation applied", upright, f"source orientation {src.get('orientation')}"))
    return checks


def check_result(out: Path, report: dict[str, Any], files: dict[str, Any], *, state: str | None) -> list[Check]:
    """Every check for one processed job (its folder ``out``, its report and written files)."""
    checks = [Check("run succeeded", state == "succeeded", state or "not started")]
    if state != "succeeded":
        return checks
    if report.get("kind") == "photo":
        return checks + _photo_checks(out, report)
    return checks + _video_checks(out, report, files)
