"""Request types: each rejects bad input with an InvalidRequest naming the field and value, and
``submit`` starts nothing for a bad request; the pure parts of the services (sample picking, the
chunk decision and the plan's size cap). Fast: no media, no workers."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, get_args

import pytest

from darkroom.media.complexity import Complexity, Scene
from darkroom.media.hull import FLOOR_VMAF
from darkroom.queue.limits import Limits
from darkroom.runtime.context import TaskContext
from darkroom.runtime.directory import WorkerDirectory, WorkerInfo
from darkroom.runtime.task import dumps
from darkroom.runtime.workflow.dag import PRIORITIES
from darkroom.services import REQUESTS, InvalidRequest, StreamingRequest, parse, registry, submit
from darkroom.services.chunking import MAX_CHUNKS, ChunkPolicy, chunk_reason, plan_fn
from darkroom.services.common import QUEUE_MEDIA, Priority
from darkroom.services.ladder import LadderOptions, LadderRequest, pick_samples
from tests.runtime.conftest import Platform

SRC = {"$blob": "uploads/clip.mp4"}
RECIPE = {"codec": "h264", "width": 320, "height": 180, "crf": 30}
RENDITION = {"name": "180p", "file": {"$blob": "cas/x.mp4"}, "recipe": RECIPE}
VALID: dict[str, dict[str, Any]] = {
    "inspect": {"source": SRC},
    "complexity": {"source": SRC},
    "ladder": {"source": SRC},
    "encode": {"source": SRC},
    "quality": {"source": SRC, "distorted": {"$blob": "cas/x.mp4"}},
    "validate": {"source": SRC, "rendition": RENDITION},
    "package": {"renditions": [RENDITION]},
    "photo": {"source": SRC},
    "video_images": {"source": SRC},
    "streaming": {"source": SRC},
    "studio": {"source": SRC},
}
# kind -> (changes to the valid request, text the message must contain: the field and the value)
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("inspect", {"source": "/etc/passwd"}, "source='/etc/passwd'"),
    ("inspect", {"profile": {"min_height": "tall"}}, "min_height='tall'"),
    ("inspect", {"colour": "red"}, "colour='red': is not a field"),
    ("complexity", {"options": {"crf": 99}}, "options.crf=99"),
    ("complexity", {"options": {"threshold": "10"}}, "options.threshold='10'"),
    ("ladder", {"options": {"mode": "magic"}}, "options.mode='magic'"),
    ("ladder", {"options": {"heights": [4]}}, "heights: 4"),
    ("ladder", {"options": {"crfs": [70]}}, "crf=70"),
    ("ladder", {"options": {"min_vmaf": 90, "max_vmaf": 80}}, "min_vmaf=90"),
    ("ladder", {"options": {"preset": "warp"}}, "preset='warp'"),
    ("ladder", {"options": {"gop_s": 3.0}}, "gop_s=3.0"),
    ("ladder", {"options": {"floor_vmaf": 100.5}}, "options.floor_vmaf=100.5"),
    ("ladder", {"options": {"bitrate_tolerance": 1.0}}, "options.bitrate_tolerance=1.0"),
    ("ladder", {"options": {"vmaf_tolerance": 0}}, "options.vmaf_tolerance=0"),
    ("encode", {"recipes": [{**RECIPE, "width": 321}]}, "width=321"),
    ("encode", {"policy": {"chunk": "sometimes"}}, "policy.chunk='sometimes'"),
    ("encode", {"policy": {"min_s": 40, "target_s": 20}}, "min_s=40"),
    ("encode", {"recipes": [{**RECIPE, "name": "a"}, {**RECIPE, "name": "a"}]}, "'a'"),
    ("quality", {"options": {"metrics": ["vmaf", "bogus"]}}, "options.metrics.1='bogus'"),
    ("quality", {"options": {"subsample": 0}}, "options.subsample=0"),
    ("quality", {"name": "../up"}, "name='../up'"),
    ("validate", {"rendition": {**RENDITION, "recipe": {**RECIPE, "crf": 60}}}, "crf=60"),
    ("validate", {"options": {"bitrate_tolerance": -1}}, "options.bitrate_tolerance=-1"),
    ("package", {"renditions": []}, "renditions=[]"),
    ("package", {"formats": ["smooth"]}, "formats.0='smooth'"),
    ("package", {"segment_s": 3.0, "renditions": [{**RENDITION, "recipe": {**RECIPE, "gop_s": 2.0}}]}, "gop_s=2.0"),
    ("package", {"renditions": [RENDITION, RENDITION]}, "'180p'"),
    ("photo", {"spec": {"widths": "wide"}}, "widths='wide'"),
    ("photo", {"spec": {"sparkle": True}}, "'sparkle'"),
    ("video_images", {"tile_width": 5000}, "tile_width=5000"),
    ("streaming", {"chunk": "sometimes"}, "chunk='sometimes'"),
    ("streaming", {"workers_available": 0}, "workers_available=0"),
    ("streaming", {"latency_target_s": -5}, "latency_target_s=-5"),
    ("streaming", {"ladder": "fancy"}, "ladder='fancy'"),
    ("streaming", {"ladder_options": {"samples": 50}}, "ladder_options.samples=50"),
    ("streaming", {"chunk_min_s": 40, "chunk_target_s": 20}, "chunk_min_s=40"),
    ("streaming", {"priority": "urgent"}, "priority='urgent'"),
    ("streaming", {"deadline_s": 0}, "deadline_s=0"),
    ("streaming", {"quality": {"metrics": []}}, "quality.metrics=[]"),
    ("studio", {"recipes": [{**RECIPE, "codec": "mpeg1"}]}, "codec='mpeg1'"),
    ("studio", {"source": 42}, "source=42"),
]


def test_every_request_type_has_a_valid_example_and_a_workflow() -> None:
    kinds = {t.kind for t in REQUESTS.values()}
    assert kinds == set(VALID)
    for kind, data in VALID.items():
        request = parse(kind, data)
        definition = registry.workflow(request.workflow)
        definition.check_inputs(request.inputs())  # the inputs are exactly the workflow's
    assert {kind for kind, _, _ in BAD} == set(VALID)


@pytest.mark.parametrize(("kind", "change", "named"), BAD, ids=[f"{k}-{n}" for k, _, n in BAD])
def test_bad_input_is_refused_naming_the_value(kind: str, change: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(kind, {**VALID[kind], **change})
    assert named in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert caught.value.field  # the first offending field, for callers that map it


def test_an_unknown_kind_or_a_non_object_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="'transcode'"):
        parse("transcode", {})
    with pytest.raises(InvalidRequest, match=r"\['source'\] is not an object"):
        parse("streaming", ["source"])  # type: ignore[arg-type]


def test_constructing_a_request_validates_it_too() -> None:
    with pytest.raises(InvalidRequest, match="chunk='sometimes'"):
        StreamingRequest(source="uploads/clip.mp4", chunk="sometimes")  # type: ignore[arg-type]


def test_submit_starts_nothing_for_a_bad_request_and_applies_overrides(services: Platform) -> None:
    sneaky = StreamingRequest.model_construct(
        source=StreamingRequest.parse(VALID["streaming"]).source, chunk="sometimes"
    )
    with pytest.raises(InvalidRequest, match="chunk='sometimes'"):
        submit(services.workflows, sneaky)
    assert services.workflows.runs() == []
    run = submit(services.workflows, parse("streaming.video", {**VALID["streaming"], "priority": "batch"}))
    assert run.priority == "batch" and run.deadline >= run.created_at + PRIORITIES["batch"] - 1
    run = submit(services.workflows, parse("streaming", {**VALID["streaming"], "deadline_s": 120}))
    assert run.priority == "standard" and run.deadline == pytest.approx(run.created_at + 120, abs=1)


def test_submit_asks_the_worker_directory_for_hosts_only_when_the_request_leaves_it_open(services: Platform) -> None:
    directory = WorkerDirectory.of(services.rq)
    for name, host, queues in (("a:1", "a", (QUEUE_MEDIA,)), ("a:2", "a", (QUEUE_MEDIA,)), ("b:1", "b", (QUEUE_MEDIA,)),
                               ("c:1", "c", ("images",))):  # fmt: skip
        directory.announce(WorkerInfo(name, host, queues))  # as workers on three other hosts do

    def policy(kind: str, **fields: Any) -> dict[str, Any]:
        inputs = submit(services.workflows, parse(kind, {**VALID[kind], **fields})).inputs
        return dict(inputs["policy"])

    assert policy("streaming")["workers_available"] == 2  # hosts serving media; c serves images only
    assert policy("encode")["workers_available"] == 2
    assert policy("streaming", workers_available=5)["workers_available"] == 5  # the request decides
    assert policy("streaming", chunk="never")["workers_available"] is None  # nothing to decide
    assert policy("encode", policy={"workers_available": 1})["workers_available"] == 1
    for name in ("a:1", "a:2", "b:1"):
        directory.leave(name)
    assert policy("streaming")["workers_available"] == 1  # nobody listed: one host, this one


def test_the_delivered_ladder_limits_are_accepted_at_their_maximum() -> None:
    top = {"floor_vmaf": 100.0, "bitrate_tolerance": 0.99, "vmaf_tolerance": 100.0, "correct": False,
           "compare_delivered": False}  # fmt: skip
    request = parse("ladder", {**VALID["ladder"], "options": top})
    assert isinstance(request, LadderRequest)
    assert (request.options.floor_vmaf, request.options.bitrate_tolerance, request.options.vmaf_tolerance) == (
        100.0, 0.99, 100.0)  # fmt: skip
    no_floor = parse("ladder", {**VALID["ladder"], "options": {"floor_vmaf": None}})
    assert isinstance(no_floor, LadderRequest) and no_floor.options.floor_vmaf is None
    assert LadderOptions().floor_vmaf == FLOOR_VMAF == 60.0


def test_the_priority_choices_are_the_runtimes_classes() -> None:
    assert set(get_args(Priority)) == set(PRIORITIES)


def test_samples_come_from_scenes_across_the_complexity_range() -> None:
    scenes = [Scene(0.0, 4.0, 0.30, 900.0), Scene(4.0, 6.0, 0.05, 100.0), Scene(6.0, 12.0, 0.10, 300.0)]
    cx = Complexity(scenes=scenes, duration_s=12.0, fps=25.0, mean_bpp=0.15)
    assert pick_samples(cx, count=1, length_s=2.0) == [(8.0, 2.0)]  # the median scene, centred
    # easy, median and hard scenes, on the frame grid; a short scene gives all it has
    assert pick_samples(cx, count=3, length_s=3.0) == [(0.52, 3.0), (4.0, 2.0), (7.52, 3.0)]


def test_the_chunk_decision_says_why() -> None:
    def decide(**policy: Any) -> tuple[bool, str]:
        return chunk_reason(ChunkPolicy.model_validate(policy), 1200.0, 25.0)

    assert decide(chunk="never") == (False, "chunk=never requested")
    assert decide(workers_available=1)[0] is False and "one worker host" in decide()[1]
    slow = decide(workers_available=4, est_encode_fps=10.0, latency_target_s=600.0)
    assert slow == (True, "one pass would take about 3000 s, over the 600 s target")
    fast = decide(workers_available=4, est_encode_fps=1000.0, latency_target_s=600.0)
    assert fast[0] is True and "long title" in fast[1]  # 20 minutes: a lost worker costs one chunk
    short = chunk_reason(ChunkPolicy.model_validate({"workers_available": 4}), 15.0, 25.0)
    assert short == (False, "15.0 s is shorter than two chunks of 10 s")


def _plan(tmp_path: Path, hours: float, **policy: Any) -> dict[str, Any]:
    video = {"fps": 25.0, "frames": round(hours * 3600 * 25), "width": 1280, "height": 720}
    ctx = TaskContext("plan", 1, tmp_path)
    out: dict[str, Any] = plan_fn(ctx, video, policy={"chunk": "always", **policy})
    return out


def test_a_very_long_title_gets_longer_chunks_and_a_plan_that_fits_a_result(tmp_path: Path) -> None:
    hour = _plan(tmp_path, 1.0)
    assert len(hour["chunks"]["plan"]) == 120 and "instead of" not in hour["chunks"]["reason"]

    day = _plan(tmp_path, 24.0)
    plan = day["chunks"]["plan"]
    assert 0.8 * MAX_CHUNKS <= len(plan) <= MAX_CHUNKS
    assert "24.0 h title within 600 chunks" in day["chunks"]["reason"]
    assert sum(c["frames"] for c in plan) == 24 * 3600 * 25  # every frame in exactly one chunk
    assert all(a["start_frame"] + a["frames"] == b["start_frame"] for a, b in itertools.pairwise(plan))
    assert len(dumps(day)) <= Limits().max_result_bytes
