"""Report builders from synthetic workflow outputs following the services' output contracts (no
platform, no media): sections present or omitted per profile, and one self-contained HTML page."""

from __future__ import annotations

import io
import json
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pytest
from PIL import Image

from darkroom.media.blurhash import encode
from darkroom.media.delivered import Measured, check_delivered
from darkroom.media.hull import Point
from darkroom.reports import InvalidReportData, RunSummary, StepTiming, build_report, render_html
from darkroom.reports.placeholder import blurhash_png


def _point(height: int, crf: int, kbps: float, vmaf: float) -> dict[str, Any]:
    return {"resolution_height": height, "crf": crf, "bitrate_kbps": kbps, "vmaf": vmaf}


INSPECTION = {
    "info": {"name": "clip.mp4", "kind": "video", "container": "mov,mp4", "size_bytes": 600_000, "duration_s": 4.0,
             "bit_rate": 1_200_000,
             "video": [{"codec": "h264", "profile": "High", "width": 640, "height": 360, "display_aspect": "16:9",
                        "avg_frame_rate": 25.0, "r_frame_rate": 25.0, "pix_fmt": "yuv420p", "bit_depth": 8,
                        "hdr": False, "vfr": False, "frame_count": 100, "field_order": "progressive", "rotation": 0}],
             "audio": [{"codec": "aac", "layout": "stereo", "channels": 2, "sample_rate": 48000}]},
    "analysis": {"loudness_lufs": -21.8, "true_peak_db": -20.8, "decode_errors": 0, "interlaced": False},
    "verdict": "accepted",
    "issues": [{"code": "silent_audio", "severity": "warning", "message": "the audio track is <silent>"}],
}  # fmt: skip


def _rendition(name: str, w: int, h: int, crf: int, bps: float) -> dict[str, Any]:
    recipe = {"codec": "h264", "width": w, "height": h, "crf": crf, "bitrate_kbps": None, "maxrate_kbps": 1480}
    return {"name": name, "recipe": recipe, "file": {"$blob": f"cas/{name}.mp4"}, "bytes": int(bps * 4 / 8),
            "bitrate": bps, "video_bitrate": bps * 0.9, "frames": 100, "duration_s": 4.0}  # fmt: skip


def streaming_outputs() -> dict[str, Any]:
    points = [_point(360, 24, 1540, 98.6), _point(360, 30, 986, 96.7), _point(180, 24, 497, 87.1),
              _point(180, 30, 266, 83.8), _point(180, 36, 133, 77.2)]  # fmt: skip
    hull = [points[4], points[3], points[1], points[0]]
    pooled = {"vmaf": {"mean": 96.0, "harmonic_mean": 95.9, "p5": 91.0, "min": 88.0}}
    return {
        "verdict": "accepted",
        "inspection": INSPECTION,
        "complexity": {
            "scenes": [
                {"start_s": 0.0, "end_s": 2.0, "bits_per_pixel": 0.06, "bitrate_kbps": 54.3},
                {"start_s": 2.0, "end_s": 4.0, "bits_per_pixel": 0.03, "bitrate_kbps": 26.6},
            ],
            "duration_s": 4.0,
            "fps": 25.0,
            "mean_bpp": 0.044,
        },
        "ladder": {
            "points": points,
            "hull": hull,
            "rungs": [points[4], points[1]],
            "recipes": [],
            "fixed": [_point(360, 23, 1383, 98.2), _point(240, 23, 557, 88.9)],
            "bd_rate_percent": -23.0,
            "encodes": 8,
            "elapsed_s": 6.0,
            "mode": "per_title",
            "anchor": [_point(360, 23, 1300, 97.0), _point(240, 23, 520, 86.0)],
            "bd_rate_delivered_percent": -12.5,
            "delivered": check_delivered(
                [Measured("360p-986k", 360, 288.0, 96.0, 91.0), Measured("180p-133k", 180, 50.0, 49.0, 31.0)],
                [Point.from_dict(points[4]), Point.from_dict(points[1])],
                floor_vmaf=60.0,
            ).to_dict(),
        },
        "chunks": {
            "chunked": True,
            "reason": "chunk=always requested",
            "plan": [
                {"index": 0, "start_s": 0.0, "duration_s": 2.0, "start_frame": 0, "frames": 50},
                {"index": 1, "start_s": 2.0, "duration_s": 2.0, "start_frame": 50, "frames": 50},
            ],
        },
        "renditions": [_rendition("360p-986k", 640, 360, 30, 320_000), _rendition("180p-133k", 320, 180, 36, 90_000)],
        "quality": [
            {"name": "360p-986k", "pooled": pooled, "errors": {}, "frames": {"$blob": "cas/q1.json"}},
            {
                "name": "180p-133k",
                "pooled": {},
                "errors": {"vmaf": "libvmaf failed"},
                "frames": {"$blob": "cas/q2.json"},
            },
        ],
        "validation": [
            {"name": "360p-986k", "ok": True, "discrepancies": []},
            {
                "name": "180p-133k",
                "ok": False,
                "discrepancies": [
                    {
                        "code": "bitrate_off_target",
                        "field": "bitrate_kbps",
                        "expected": "133",
                        "actual": "90",
                        "message": "bitrate 90 kbit/s is off the 133 kbit/s target",
                        "severity": "error",
                    }
                ],
            },
        ],
        "package": {"$tree": "cas/sha256/aa/p.tree.json"},
        "master": {"$blob": "cas/m.m3u8"},
        "mpd": {"$blob": "cas/m.mpd"},
        "packaged": [{"name": "360p-986k", "codecs": "avc1.64001e", "bandwidth": 340_800}],
        "poster": {"file": {"$blob": "cas/poster.jpg"}, "width": 640, "height": 360, "at_s": 0.5},
        "storyboard": {"files": {"$tree": "cas/sha256/bb/s.tree.json"}, "vtt": {"$blob": "cas/s.vtt"}, "tiles": 4},
    }


RUN = RunSummary(
    "streaming.video", "wf_1", "succeeded", created_at=100.0, ended_at=150.0,
    steps=[StepTiming("inspect", "task", "succeeded", 1, None, 100.5, 102.0, "w1"),
           StepTiming("encode", "map", "succeeded", 2, 2, 110.0, 120.0, "w1"),
           StepTiming("package", "task", "waiting")],
)  # fmt: skip
FILES = {"master": "package/hls/master.m3u8", "mpd": "package/dash/manifest.mpd", "poster": "poster.jpg",
         "quality": {"360p-986k": "quality/360p-986k.json"}}  # fmt: skip
SOURCE = {"name": "clip <1>.mp4", "bytes": 600_000, "kind": "video"}


class _Page(HTMLParser):
    """Collects tags, headings, and every attribute that could load something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.headings: list[str] = []
        self.loads: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in_h2 = tag == "h2"
        for name, value in attrs:
            if name in ("src", "href", "xlink:href") and value and not value.startswith(("#", "data:")):
                self.loads.append(f"{tag} {name}={value}")

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self.headings.append(data.strip())
            self._in_h2 = False


def _page(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def test_a_streaming_report_has_every_section_and_is_json() -> None:
    report = build_report(streaming_outputs(), kind="video", profile="streaming", source=SOURCE, files=FILES, run=RUN)
    assert json.loads(json.dumps(report)) == report
    assert report["inspection"]["video"]["width"] == 640 and report["inspection"]["issues"][0]["code"] == "silent_audio"
    assert report["inspection"]["video"]["frame_rate"] == 25.0  # from the probe's average rate
    assert report["inspection"]["analysis"]["loudness_lufs"] == -21.8
    assert report["ladder"]["bd_rate_percent"] == -23.0 and len(report["ladder"]["hull"]) == 4
    assert report["ladder"]["mode"] == "per_title"
    assert report["ladder"]["bd_rate_delivered_percent"] == -12.5 and len(report["ladder"]["anchor"]) == 2
    fates = [(r["planned_name"], r["kept"], r["drop"]) for r in report["ladder"]["delivered"]["rungs"]]
    assert fates == [("360p-986k", True, None), ("180p-133k", False, "floor")]
    assert [c["frames"] for c in report["chunks"]["plan"]] == [50, 50]
    top, low = report["renditions"]
    assert top["bitrate_kbps"] == 320.0 and top["video_bitrate_kbps"] == 288.0 and top["bandwidth_kbps"] == 340.8
    assert top["quality"]["vmaf"]["p5"] == 91.0 and top["valid"] is True
    assert low["quality"] == {} and low["quality_errors"] == {"vmaf": "libvmaf failed"} and low["valid"] is False
    assert report["validation"]["ok"] is False
    assert report["quality"][0]["frames_file"] == "quality/360p-986k.json"
    assert [s["took_s"] for s in report["run"]["steps"]] == [1.5, 10.0, None]
    assert report["run"]["took_s"] == 50.0


def test_the_streaming_page_is_self_contained_with_plots_and_tables() -> None:
    report = build_report(streaming_outputs(), kind="video", profile="streaming", source=SOURCE, files=FILES, run=RUN)
    frames = {"360p-986k": {"vmaf": [90.0 + i % 5 for i in range(100)]}, "180p-133k": {"psnr": [30.0] * 100}}
    html = render_html(report, frames=frames, images={"poster": ("image/jpeg", b"\xff\xd8jpeg")})
    page = _page(html)
    assert page.headings == ["Inspection", "Complexity", "Ladder", "Renditions", "Quality over time", "Validation",
                             "Chunk plan", "Files", "Steps"]  # fmt: skip
    assert page.tags.count("svg") == 5  # complexity, rate-quality, VMAF and PSNR over time, step timeline
    assert page.loads == ["a href=package/hls/master.m3u8", "a href=package/dash/manifest.mpd", "a href=poster.jpg"]
    assert "<link" not in html and "<script" not in html and "@import" not in html
    assert "clip &lt;1&gt;.mp4" in html and "&lt;silent&gt;" in html  # escaped, never raw
    assert "BD-rate of the per-title hull against the fixed ladder: <b>-23.0 %</b>" in html
    assert "encoded over the whole title: <b>-12.5 %</b>" in html and "fixed ladder (whole title)" in html
    assert "<h3>As delivered</h3>" in html and "dropped (floor)" in html and "360p-288k" in html
    assert "convex hull" in html and "chosen rungs" in html and "fixed ladder" in html  # plot legend, as text
    assert "renditions (whole title)" in html and "trials 180p" in html and "trials 360p" in html
    assert "bitrate_off_target" in html and "libvmaf failed" in html
    assert "<th>frame rate</th><td>25.0 fps</td>" in html and "time (s)" in html  # per-frame plots in seconds
    assert 'src="data:image/jpeg;base64,' in html
    assert html == render_html(report, frames=frames, images={"poster": ("image/jpeg", b"\xff\xd8jpeg")})


def test_a_studio_report_omits_what_studio_does_not_make() -> None:
    outputs = streaming_outputs()
    for key in ("complexity", "ladder", "chunks", "quality", "validation"):
        del outputs[key]
    report = build_report(outputs, kind="video", profile="studio", source=SOURCE)
    assert not {"complexity", "ladder", "chunks", "quality", "validation"} & set(report)
    assert report["renditions"][0]["quality"] == {} and report["renditions"][0]["valid"] is None
    page = _page(render_html(report))
    assert page.headings == ["Inspection", "Renditions"]
    assert "svg" not in page.tags


def test_a_photo_report_has_renditions_and_the_blurhash() -> None:
    outputs: dict[str, Any] = {
        "blurhash": "LKO2?U%2Tw=w]~RBVZRi};RPxuwH",
        "source": {"width": 800, "height": 1200, "format": "JPEG", "orientation": 6, "had_gps": True},
        "renditions": [
            {"name": "640w", "format": "jpeg", "width": 640, "height": 960, "size_bytes": 30_000,
             "file_name": "640w.jpg", "file": {"$blob": "cas/a.jpg"}},
            {"name": "thumb150", "format": "webp", "width": 150, "height": 150, "size_bytes": 3_000,
             "file_name": "thumb150.webp", "file": {"$blob": "cas/b.webp"}},
        ],
    }  # fmt: skip
    # the report's names are the files' names (jpeg is written .jpg)
    files = {"renditions": {"640w.jpg": "renditions/640w.jpg", "thumb150.webp": "renditions/thumb150.webp"}}
    report = build_report(outputs, kind="photo", profile="photo", source={"name": "p.jpg"}, files=files)
    assert report["photo"]["blurhash"] == outputs["blurhash"]
    assert [r["file"] for r in report["photo"]["renditions"]] == ["renditions/640w.jpg", "renditions/thumb150.webp"]
    assert [r["file_name"] for r in report["photo"]["renditions"]] == ["640w.jpg", "thumb150.webp"]
    assert "inspection" not in report and "renditions" not in report
    html = render_html(report, images={"thumbnail": ("image/jpeg", b"\xff\xd8")})
    assert _page(html).headings == ["Photo"] and outputs["blurhash"] in html and "renditions/640w.jpg" in html
    assert 'alt="blurhash placeholder" src="data:image/png;base64,' in html
    assert '<a href="renditions/thumb150.webp">' in html


def test_a_blurhash_decodes_to_the_colours_it_was_made_from() -> None:
    left, right = (200, 40, 90), (20, 160, 220)
    pixels = np.zeros((24, 32, 3), np.uint8)
    pixels[:, :16], pixels[:, 16:] = left, right
    png = blurhash_png(encode(pixels, 4, 3), width=32, height=24)
    back = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)
    assert back.shape == (24, 32, 3)
    assert np.abs(back[:, :8].mean(axis=(0, 1)) - left).max() < 30  # the left edge is the left colour
    assert np.abs(back[:, -8:].mean(axis=(0, 1)) - right).max() < 30
    for bad in ("", "LKO2?U", "LKO2?U%2Tw=w]~RBVZRi};RPxuw\u00e9"):
        with pytest.raises(InvalidReportData, match="blurhash"):
            blurhash_png(bad)


@pytest.mark.parametrize(
    ("outputs", "named"),
    [
        ({"ladder": {"points": [{"resolution_height": 360, "crf": 23, "vmaf": 90.0}]}}, "bitrate_kbps"),
        ({"renditions": "360p"}, "'360p'"),
        ({"inspection": ["not", "a", "dict"]}, "['not', 'a', 'dict']"),
    ],
)
def test_outputs_off_the_contract_are_refused_naming_the_value(outputs: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidReportData, match=named.replace("[", r"\[").replace("]", r"\]")):
        build_report(outputs, kind="video", profile="streaming", source=SOURCE)
