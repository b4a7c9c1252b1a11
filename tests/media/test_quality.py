"""Quality metrics: pooling and chunk concatenation (pure), libvmaf scores, failure isolation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from darkroom.media.encode import encode
from darkroom.media.errors import InvalidMedia, MediaError
from darkroom.media.quality import MetricResult, QualityReport, concat_frames, measure, pool
from darkroom.media.recipe import Recipe
from tests.media.conftest import ClipFactory

# --- pure --------------------------------------------------------------------------------------------


def test_pool_mean_harmonic_p5_min() -> None:
    values = [float(v) for v in range(0, 101)]
    pooled = pool(values)
    assert pooled.mean == pytest.approx(50.0)
    assert pooled.harmonic_mean == pytest.approx(101 / sum(1 / (1 + v) for v in values) - 1)
    assert pooled.p5 == pytest.approx(5.0)
    assert pooled.min == 0.0
    assert pool([80.0, 80.0]).harmonic_mean == pytest.approx(80.0)
    with pytest.raises(ValueError):
        pool([])


def _report(frame_count: int, metrics: dict[str, MetricResult], distorted: str) -> QualityReport:
    return QualityReport("ref.mp4", distorted, 320, 180, frame_count, 1, metrics, elapsed_s=1.0, passes=1)


def test_concat_frames_offsets_chunks_and_pools_over_the_whole() -> None:
    first = _report(
        10,
        {
            "vmaf": MetricResult("vmaf", (0, 4, 8), (90.0, 80.0, 70.0)),
            "psnr": MetricResult("psnr", (0, 4, 8), (40.0, 41.0, 42.0)),
        },
        "c0.mp4",
    )
    second = _report(
        8,
        {
            "vmaf": MetricResult("vmaf", (0, 4), (60.0, 100.0)),
            "psnr": MetricResult("psnr", error="psnr broke"),
        },
        "c1.mp4",
    )
    whole = concat_frames([first, second])
    assert whole.metrics["vmaf"].frames == (0, 4, 8, 10, 14)
    assert whole.metrics["vmaf"].values == (90.0, 80.0, 70.0, 60.0, 100.0)
    assert whole.pooled("vmaf") == pool([90.0, 80.0, 70.0, 60.0, 100.0])
    assert whole.errors == {"psnr": "chunk 1: psnr broke"}
    with pytest.raises(MediaError, match="psnr was not measured"):
        whole.pooled("psnr")
    assert (whole.frame_count, whole.passes, whole.elapsed_s) == (18, 2, 2.0)
    assert (whole.reference, whole.distorted) == ("ref.mp4", "c0.mp4 + c1.mp4")
    assert QualityReport.from_dict(json.loads(json.dumps(whole.to_dict()))) == whole
    assert whole.to_dict()["metrics"]["vmaf"]["pooled"]["min"] == 60.0


# --- measured ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pair(clip: ClipFactory, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 1 s 320x180 reference and a heavily compressed, downscaled version of it."""
    reference = clip(seconds=1, size="320x180", audio=False)
    worse = tmp_path_factory.mktemp("quality") / "worse.mp4"
    encode(reference, worse, Recipe("h264", 160, 90, crf=45, preset="ultrafast", gop_s=1, segment_s=2), timeout_s=60)
    return reference, worse


def test_a_file_against_itself_scores_near_perfect(pair: tuple[Path, Path]) -> None:
    reference, _ = pair
    seen: list[float] = []
    report = measure(reference, reference, progress=seen.append, timeout_s=60)
    assert report.errors == {} and report.passes == 1
    assert (report.frame_count, len(report.metrics["vmaf"].values)) == (25, 25)
    assert report.pooled("vmaf").mean >= 97
    assert report.pooled("psnr").min >= 50
    assert report.pooled("ssim").mean == pytest.approx(1.0, abs=1e-3)
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_heavy_compression_scores_clearly_lower(pair: tuple[Path, Path]) -> None:
    reference, worse = pair
    report = measure(reference, worse, timeout_s=60)
    assert (report.width, report.height) == (320, 180)  # compared at the reference's size
    assert report.pooled("vmaf").mean < 80
    assert report.pooled("psnr").mean < 35
    assert report.pooled("ssim").mean < 0.95
    assert report.pooled("vmaf").p5 <= report.pooled("vmaf").mean
    assert QualityReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report


def test_one_failing_metric_does_not_block_the_others(pair: tuple[Path, Path]) -> None:
    reference, worse = pair
    report = measure(reference, worse, metrics=("vmaf", "psnr", "no_such_feature"), timeout_s=60)
    assert set(report.errors) == {"no_such_feature"}
    assert "no_such_feature" in report.errors["no_such_feature"]
    assert report.passes == 4  # the combined pass, then one per metric
    assert report.pooled("vmaf").mean < 80 and report.pooled("psnr").mean > 10

    broken_model = measure(reference, worse, metrics=("vmaf", "ssim"), vmaf_model="vmaf_v9_missing", timeout_s=60)
    assert set(broken_model.errors) == {"vmaf"}
    assert broken_model.pooled("ssim").mean > 0.5


def test_bad_requests_are_refused(pair: tuple[Path, Path], tmp_path: Path) -> None:
    reference, worse = pair
    with pytest.raises(InvalidMedia) as info:
        measure(reference, worse, metrics=("psnr;drop",), timeout_s=60)
    assert info.value.code == "bad_metric"
    missing = tmp_path / "missing.mp4"
    with pytest.raises(InvalidMedia, match=r"missing\.mp4"):
        measure(reference, missing, timeout_s=60)


def test_chunked_scoring_concatenates_to_the_whole(pair: tuple[Path, Path]) -> None:
    reference, worse = pair
    whole = measure(reference, worse, metrics=("psnr", "ssim"), timeout_s=60)
    chunks = [
        measure(reference, worse, metrics=("psnr", "ssim"), duration_s=0.4, timeout_s=60),
        measure(reference, worse, metrics=("psnr", "ssim"), start_s=0.4, distorted_start_s=0.4, timeout_s=60),
    ]
    assert [c.frame_count for c in chunks] == [10, 15]
    joined = concat_frames(chunks)
    assert joined.metrics["psnr"].frames == tuple(range(25))
    for metric in ("psnr", "ssim"):
        np.testing.assert_allclose(joined.metrics[metric].values, whole.metrics[metric].values, rtol=1e-6)
