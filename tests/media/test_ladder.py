"""Per-title ladders: hull, rung picking, BD-rate and recipes on synthetic points; one tiny real trial."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import pytest

from darkroom.media.delivered import Drop, Measured, Tolerance, check_delivered, rung_name
from darkroom.media.encode import encode, encode_ladder
from darkroom.media.errors import InvalidMedia
from darkroom.media.hull import FLOOR_VMAF, Point, bd_rate, pick_rungs, to_recipes, upper_convex_hull
from darkroom.media.ladder import Ladder, per_title_ladder, spread_samples, title_bitrate
from darkroom.media.quality import measure
from darkroom.media.recipe import Recipe
from tests.media.conftest import ClipFactory, real_clip


def _p(rate: float, vmaf: float, height: int = 360, crf: int = 23) -> Point:
    return Point(height, crf, rate, vmaf)


def _concave(hull: list[Point]) -> bool:
    slopes = [(b.vmaf - a.vmaf) / (b.bitrate_kbps - a.bitrate_kbps) for a, b in itertools.pairwise(hull)]
    return all(s > 0 for s in slopes) and all(s2 < s1 for s1, s2 in itertools.pairwise(slopes))


def test_hull_drops_points_under_the_frontier_across_resolutions() -> None:
    frontier = [_p(100, 50, 180), _p(300, 75, 360), _p(800, 88, 720), _p(2000, 94, 1080)]
    under = [_p(300, 60, 180), _p(800, 80, 360), _p(500, 70, 720), _p(2000, 90, 720)]
    past_best = [_p(3000, 93, 1080)]  # more bits, less quality
    hull = upper_convex_hull(under + frontier + past_best)
    assert hull == frontier
    assert _concave(hull)


def test_hull_drops_non_concave_and_collinear_points() -> None:
    # (200, 55) sits under the chord (100,50)->(300,75); (550, 81.5) is on the chord (300,75)->(800,88).
    pts = [_p(100, 50), _p(200, 55), _p(300, 75), _p(550, 81.5), _p(800, 88)]
    assert upper_convex_hull(pts) == [_p(100, 50), _p(300, 75), _p(800, 88)]


def test_hull_ties_keep_best_quality_then_smaller_picture() -> None:
    pts = [_p(100, 40, 360), _p(100, 50, 720), _p(100, 50, 180), _p(400, 80, 720), _p(400, 80, 360)]
    hull = upper_convex_hull(pts)
    assert hull == [_p(100, 50, 180), _p(400, 80, 360)]
    assert upper_convex_hull([]) == []
    assert upper_convex_hull([_p(0, 50), _p(100, math.nan)]) == []


def test_hull_is_monotone_and_concave_on_random_points() -> None:
    import random

    rng = random.Random(4)
    for _ in range(50):
        pts = [_p(rng.uniform(50, 5000), rng.uniform(20, 99), rng.choice([180, 360, 720])) for _ in range(30)]
        hull = upper_convex_hull(pts)
        assert _concave(hull)
        for p in pts:  # nothing lies above the hull's piecewise-linear curve within its span
            for a, b in itertools.pairwise(hull):
                if a.bitrate_kbps <= p.bitrate_kbps <= b.bitrate_kbps:
                    t = (p.bitrate_kbps - a.bitrate_kbps) / (b.bitrate_kbps - a.bitrate_kbps)
                    assert p.vmaf <= a.vmaf + t * (b.vmaf - a.vmaf) + 1e-9


def _log_hull(n: int = 12) -> list[Point]:
    # VMAF concave in bitrate: 100 kbit/s .. ~6.4 Mbit/s, VMAF 30 .. ~99.
    return [_p(100 * 1.46**i, 30 + 6.3 * i, 180 + 60 * i) for i in range(n)]


def test_pick_rungs_bounds_and_log_spacing() -> None:
    hull = _log_hull()
    rungs = pick_rungs(hull, n=4, min_vmaf=40, max_vmaf=95, min_step_ratio=1.5)
    assert rungs[0].vmaf >= 40 and rungs[0] == next(p for p in hull if p.vmaf >= 40)
    assert rungs[-1] == next(p for p in hull if p.vmaf >= 95)
    assert len(rungs) == 4
    ratios = [b.bitrate_kbps / a.bitrate_kbps for a, b in itertools.pairwise(rungs)]
    assert all(r >= 1.5 for r in ratios)
    assert max(ratios) / min(ratios) < 1.6  # roughly even in log bitrate


def test_pick_rungs_step_ratio_cap_and_degenerate_cases() -> None:
    hull = _log_hull()
    few = pick_rungs(hull, n=8, min_step_ratio=3.0)
    assert all(b.bitrate_kbps >= 3 * a.bitrate_kbps for a, b in itertools.pairwise(few))
    capped = pick_rungs(hull, n=3, max_bitrate_kbps=1000)
    assert capped[-1].bitrate_kbps <= 1000 and capped[-1] == max(
        (p for p in hull if p.bitrate_kbps <= 1000), key=lambda p: p.bitrate_kbps
    )
    assert pick_rungs(hull, n=1) == [next(p for p in hull if p.vmaf >= 95)]
    assert pick_rungs([], n=3) == []
    assert pick_rungs(hull, max_bitrate_kbps=10) == []
    with pytest.raises(InvalidMedia):
        pick_rungs(hull, n=0)


def test_bd_rate_known_answers() -> None:
    a = [(r, 20 * math.log10(r) - 10) for r in (200, 400, 800, 1600, 3200)]
    b = [(r * 0.8, q) for r, q in a]
    assert bd_rate(a, b) == pytest.approx(-20.0, abs=1e-6)
    assert bd_rate(b, a) == pytest.approx(25.0, abs=1e-6)
    assert bd_rate(a, a) == pytest.approx(0.0, abs=1e-9)
    # Points work too, and curves only partly overlapping are compared on the shared VMAF range.
    pa = [_p(r, q) for r, q in a]
    pb = [_p(r * 0.5, q) for r, q in a[1:]]
    assert bd_rate(pa, pb) == pytest.approx(-50.0, abs=1e-6)


def test_bd_rate_methods_agree_on_smooth_curves_and_pchip_does_not_overshoot() -> None:
    a = [(r, 20 * math.log10(r) - 10) for r in (200, 400, 800, 1600, 3200)]
    b = [(r * 0.8, q) for r, q in a]
    assert bd_rate(a, b, method="cubic") == pytest.approx(-20.0, abs=1e-6)
    # A saturating hull (VMAF ~99) against two fixed rungs both under it: B is better, so the
    # answer must be negative. One cubic through the hull overshoots and says +43 %.
    hull = [(104, 75.5), (289, 93.2), (618, 99.0), (804, 99.4)]
    fixed = [(262, 86.1), (618, 99.0)]
    assert bd_rate(fixed, hull) < -20
    assert bd_rate(fixed, hull, method="cubic") > 0
    # Duplicate VMAFs keep the cheapest point; order does not matter.
    assert bd_rate(a, [*reversed(b), (5000, b[-1][1])]) == pytest.approx(-20.0, abs=1e-6)


def test_bd_rate_refuses_unusable_curves() -> None:
    with pytest.raises(InvalidMedia):
        bd_rate([(100, 50)], [(100, 50), (200, 60)])
    with pytest.raises(InvalidMedia):
        bd_rate([(100, 50), (200, 60)], [(300, 70), (400, 80)])  # no shared VMAF range
    with pytest.raises(InvalidMedia):
        bd_rate([(100, 50), (200, 60)], [(0, 50), (200, 60)])
    with pytest.raises(InvalidMedia):
        bd_rate([(100, 50), (200, 60)], [(100, 50), (200, 60)], method="spline")


def test_to_recipes_crf_vbv_and_sizes() -> None:
    rungs = [_p(300, 70, 360, 28), _p(1200, 90, 720, 23)]
    recipes = to_recipes(rungs, "h264", source_width=1920, source_height=1080, preset="slow")
    assert [(r.width, r.height, r.crf) for r in recipes] == [(1280, 720, 23), (640, 360, 28)]
    assert [r.maxrate_kbps for r in recipes] == [1800, 450]
    assert [r.bufsize_kbps for r in recipes] == [3600, 900]
    assert recipes[0].preset == "slow" and recipes[0].name == "720p-1200k"
    assert len({r.name for r in recipes}) == 2
    assert json.loads(json.dumps([r.to_dict() for r in recipes]))[1]["crf"] == 28
    with pytest.raises(InvalidMedia):
        to_recipes(rungs, source_width=0, source_height=1080)


def test_spread_samples() -> None:
    assert spread_samples(30, count=3, length_s=2) == [(4.0, 2), (14.0, 2), (24.0, 2)]
    assert spread_samples(3, count=3, length_s=2) == [(0.0, 3)]
    with pytest.raises(InvalidMedia):
        spread_samples(0)


def test_tiny_real_trial_and_ladder(clip: ClipFactory, tmp_path: Path) -> None:
    source = clip(seconds=1.0, size="160x90", audio=False)
    seen: list[float] = []
    ladder = per_title_ladder(
        source, [(0.0, 1.0)], heights=(90, 48, 720), crfs=(20, 38), n=3, min_vmaf=0, workdir=tmp_path / "w",
        timeout_s=60, progress=seen.append,
    )  # fmt: skip
    points = {(p.resolution_height, p.crf): p for p in ladder.points}
    assert set(points) == {(90, 20), (90, 38), (48, 20), (48, 38)}  # 720 > source: never upscaled
    for h in (90, 48):
        assert points[h, 20].bitrate_kbps > points[h, 38].bitrate_kbps > 0
        assert points[h, 20].vmaf > points[h, 38].vmaf
    assert ladder.hull and all(p in ladder.points for p in ladder.hull)
    assert ladder.rungs and ladder.recipes[0].height in (48, 90) and ladder.recipes[0].crf in (20, 38)
    assert ladder.recipes[0].maxrate_kbps is not None
    assert len(ladder.fixed) == 1 and ladder.bd_rate_percent is None  # one fitted rung: no curve
    assert ladder.encodes == 5
    assert seen and seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    assert not list((tmp_path / "w").iterdir())  # trial files cleaned up
    assert Ladder.from_dict(json.loads(json.dumps(ladder.to_dict()))) == ladder


def test_bd_rate_against_a_fixed_ladder(clip: ClipFactory, tmp_path: Path) -> None:
    # 320x180 fits one rung of DEFAULT_LADDER, so compare with a two-rung ladder the trials contain.
    source = clip(seconds=1.0, size="320x180", audio=False, vf="noise=alls=6:allf=t+u")
    fixed = [Recipe("h264", 320, 180, crf=23, name="180p"), Recipe("h264", 160, 90, crf=23, name="90p")]
    ladder = per_title_ladder(
        source, [(0.0, 1.0)], heights=(180, 90), crfs=(18, 23, 33), min_vmaf=0, fixed_ladder=fixed,
        workdir=tmp_path, timeout_s=60, subsample=2,
    )  # fmt: skip
    assert [p.resolution_height for p in ladder.fixed] == [180, 90]
    assert ladder.bd_rate_percent is not None
    # The fixed rungs are trials too (same preset, CRF 23), so they lie on or under the hull.
    assert ladder.bd_rate_percent < 1
    assert all(p.bitrate_kbps > 0 and 0 < p.vmaf <= 100 for p in ladder.points)


# --- The ladder as delivered -----------------------------------------------------------------


def _m(name: str, rate: float, vmaf: float | None, height: int = 360) -> Measured:
    return Measured(name, height, rate, vmaf, None if vmaf is None else vmaf - 5)


def test_delivered_renditions_are_checked_against_their_hull_points_and_renamed() -> None:
    planned = [_p(2000, 94, 720, 23), _p(800, 85, 540, 28), _p(300, 70, 360, 33)]
    measured = [_m("720p-2000k", 2250, 95.0, 720), _m("540p-800k", 610, 80.9, 540), _m("360p-300k", 290, 69.0)]
    checked = check_delivered(measured, planned, floor_vmaf=60, min_step_ratio=1.5)
    by_plan = {r.planned_name: r for r in checked.rungs}
    top, mid, low = by_plan["720p-2000k"], by_plan["540p-800k"], by_plan["360p-300k"]
    assert top.bitrate_error_percent == 12.5 and top.vmaf_error == 1.0 and top.within_tolerance is True
    assert mid.bitrate_error_percent == pytest.approx(-23.75) and mid.within_tolerance is False  # 15 % is the limit
    assert low.vmaf_error == -1.0 and low.within_tolerance is True
    # every kept rendition is named after what it delivers, top first
    assert [r.name for r in checked.kept] == ["720p-2250k", "540p-610k", "360p-290k"]
    assert checked.to_dict()["within_tolerance"] is False
    assert rung_name(405, 574.9) == "405p-575k"
    # exactly at the tolerance is within it; a VMAF miss alone is a miss
    edge = check_delivered([_m("a", 115, 83.0), _m("b", 100, 86.9)], [_p(100, 80), _p(100, 90)], floor_vmaf=None)
    assert [r.within_tolerance for r in sorted(edge.rungs, key=lambda r: r.planned_name)] == [True, False]


def test_delivered_rungs_under_the_floor_dominated_or_too_close_are_dropped() -> None:
    measured = [
        _m("top", 3000, 96.0, 720),
        _m("worse", 2500, 95.0, 720),  # more bits than 'next' for less VMAF
        _m("next", 1500, 95.5, 540),
        _m("close", 1200, 93.0, 540),  # 1.25x under 'next': too close
        _m("low", 500, 75.0),
        _m("floor", 150, 52.0, 240),  # under the 60 floor
    ]
    checked = check_delivered(measured, [None] * len(measured), floor_vmaf=60, min_step_ratio=1.5)
    fate = {r.planned_name: r.drop for r in checked.rungs}
    assert fate == {"top": None, "worse": Drop.DOMINATED, "next": None, "close": Drop.STEP, "low": None,
                    "floor": Drop.FLOOR}  # fmt: skip
    assert all(r.within_tolerance is None for r in checked.rungs)  # nothing planned: nothing to miss
    # the best rendition stays even under the floor (a title needs one); no VMAF: the top one stays
    alone = check_delivered([_m("a", 100, 40.0), _m("b", 50, 30.0)], [None, None], floor_vmaf=60)
    assert [r.planned_name for r in alone.kept] == ["a"]
    blind = check_delivered([_m("a", 100, None), _m("b", 30, None)], [None, None], floor_vmaf=60)
    assert [r.planned_name for r in blind.kept] == ["a", "b"]
    kept_all = check_delivered(measured, [None] * len(measured), floor_vmaf=60, correct=False)
    assert len(kept_all.kept) == len(measured) and kept_all.rungs[0].name == "top"
    with pytest.raises(InvalidMedia, match="2 renditions measured for 1 planned"):
        check_delivered([_m("a", 1, 1.0), _m("b", 1, 1.0)], [None], floor_vmaf=None)
    with pytest.raises(InvalidMedia, match=r"bitrate_ratio=1\.5"):
        Tolerance(bitrate_ratio=1.5)


def test_the_delivered_bd_rate_compares_kept_renditions_with_the_anchor() -> None:
    anchor = [_p(1000, 80), _p(2000, 90), _p(4000, 95)]
    measured = [_m("a", 3200, 95.0), _m("b", 1600, 90.0), _m("c", 800, 80.0)]  # the anchor x 0.8
    checked = check_delivered(measured, [None] * 3, floor_vmaf=60, anchor=anchor)
    assert checked.bd_rate_percent == pytest.approx(-20.0, abs=0.01)
    assert check_delivered(measured[:1], [None], floor_vmaf=60, anchor=anchor).bd_rate_percent is None


def test_the_floor_keeps_rungs_off_the_bottom_of_the_hull() -> None:
    hull = _log_hull()  # VMAF 30 .. ~99
    rungs = pick_rungs(hull, n=5, min_vmaf=40, floor_vmaf=60)
    assert rungs and min(r.vmaf for r in rungs) >= 60
    assert pick_rungs(hull[:3], n=3, floor_vmaf=60) == [hull[2]]  # nothing reaches it: the best point alone
    assert FLOOR_VMAF == 60.0


def test_sample_bitrates_are_amortised_to_the_titles_gop(clip: ClipFactory, tmp_path: Path) -> None:
    source = clip(seconds=2.0, size="160x90", audio=False, vf="noise=alls=10:allf=t+u")
    out = tmp_path / "short-gops.mp4"
    encode(source, out, Recipe("h264", 160, 90, crf=30, preset="veryfast", gop_s=0.2, segment_s=0.2), timeout_s=60)
    raw, as_title = title_bitrate(out), title_bitrate(out, 50)  # 10 keyframes in 50 frames vs 1 in 50
    assert raw > 0 and as_title < raw * 0.8
    assert title_bitrate(out, 5) == pytest.approx(raw, rel=0.02)  # its own GOP: as encoded
    # a window of the encode: its first GOP alone (keyframe + 4), as the trials count a sample
    first_gop = title_bitrate(out, frames=5)
    assert first_gop > 0 and first_gop != raw and title_bitrate(out, frames=5, first_frame=5) != first_gop


def test_a_capped_encode_averages_within_its_maxrate(clip: ClipFactory, tmp_path: Path) -> None:
    # Hard content, a short title, a 2 s buffer: the VBV's initial fill let it average 8.5 % over.
    source = clip(seconds=3.0, size="320x180", audio=False, vf="noise=alls=30:allf=t+u")
    recipe = Recipe("h264", 320, 180, crf=18, maxrate_kbps=300, preset="veryfast")
    made = encode(source, tmp_path / "capped.mp4", recipe, timeout_s=60)
    assert made.video_bitrate / 1000 <= 300
    scaled = recipe.for_duration(3.0)
    assert scaled.maxrate_kbps == 187 and scaled.bufsize_kbps == 375  # 3 / (3 + 0.9 x 2) of 300 / 600
    assert recipe.for_duration(None) is recipe and Recipe("h264", 64, 64, crf=23).for_duration(3.0).maxrate_kbps is None
    assert recipe.for_duration(36000).maxrate_kbps == 299  # a long title keeps almost all of its cap


def _delivered_vs_hull(source: Path, samples: list[tuple[float, float]], tmp_path: Path, **kwargs: Any) -> list[str]:
    """Per-title ladder on ``samples``, then every rung encoded over the whole title as delivered and
    scored: the misses (beyond ±15 % bitrate or ±3 VMAF) as readable lines."""
    ladder = per_title_ladder(source, samples, compare_fixed=False, workdir=tmp_path / "w", timeout_s=600,
                              subsample=2, **kwargs)  # fmt: skip
    rungs = sorted(ladder.rungs, key=lambda p: -p.bitrate_kbps)
    outs = [(tmp_path / f"{r.name}.mp4", r) for r in ladder.recipes]
    made = encode_ladder(source, outs, timeout_s=600)
    measured = []
    for (out, recipe), result in zip(outs, made, strict=True):
        vmaf = measure(source, out, metrics=("vmaf",), subsample=2, timeout_s=600).pooled("vmaf").mean
        measured.append(Measured(recipe.name, recipe.height, result.video_bitrate / 1000, vmaf))
    checked = check_delivered(measured, list(rungs), floor_vmaf=None, correct=False)
    return [
        f"{r.planned_name}: {r.measured.bitrate_kbps:.0f}k VMAF {r.measured.vmaf:.1f} "
        f"({r.bitrate_error_percent:+.1f} %, {r.vmaf_error:+.1f})"
        for r in checked.rungs
        if not r.within_tolerance
    ]


@pytest.mark.slow
def test_a_generated_clips_renditions_deliver_their_hull_points(clip: ClipFactory, tmp_path: Path) -> None:
    source = clip(seconds=4.0, size="320x180", audio=False, pattern="testsrc2", vf="noise=alls=8:allf=t+u")
    samples = spread_samples(4.0, count=2, length_s=1.0)  # half the title, keyframes amortised to 2 s GOPs
    misses = _delivered_vs_hull(source, samples, tmp_path, heights=(180, 120), crfs=(23, 33), n=3)
    assert not misses, misses


@pytest.mark.slow
def test_real_footage_renditions_deliver_their_hull_points(tmp_path: Path) -> None:
    source = real_clip()
    samples = spread_samples(7.6, count=3, length_s=2.0)
    misses = _delivered_vs_hull(source, samples, tmp_path, heights=(240,), crfs=(26, 32), n=2, min_step_ratio=1.2)
    assert not misses, misses
