"""Target 4: what the platform (queue, workflow engine, blobs, worker, child process) adds to a job.

The local platform is started as ``darkroom up`` starts it (:class:`LocalPlatform`: private
redis-server, gRPC queue + operations service, 1 engine and 2 worker processes x 4 slots) with
:mod:`bench.media.platform_app` as its app. A job = upload the source as a blob, start the
one-step workflow, wait until the run is recorded as finished. The same ladder encode is also
called directly in this process; the two alternate so that load on the machine falls on both.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.media.platform_app import APP, WORKFLOW
from darkroom.config import Settings
from darkroom.local.platform import LocalPlatform, PlatformConfig
from darkroom.media.encode import encode_ladder
from darkroom.media.recipe import DEFAULT_LADDER, Recipe, fit_ladder
from darkroom.platform.wiring import Wiring

__all__ = ["Job", "Overhead", "SEGMENTS", "measure_overhead"]

REPO = Path(__file__).resolve().parents[2]
RUNGS = ("480p", "360p", "240p")
POLL_S = 0.01
# Where a platform job's wall time goes, from the timestamps the runtime records (wall clock).
SEGMENTS = (
    ("upload", "source upload to the blob store"),
    ("to_call", "workflow start → function body starts (engine plans, queue, dequeue, blob download, child process)"),
    ("to_task", "  of which: workflow start → a worker starts the task (engine, queue, dequeue)"),
    ("task_to_call", "  of which: task start → function body starts (blob download, child process)"),
    ("call", "the function body (the media work, in the child process)"),
    ("to_end", "function returns → task recorded done (result back from the child, output uploads, complete)"),
    ("to_run_end", "task done → run recorded finished (engine)"),
    ("seen", "run finished → seen by the harness (10 ms polling)"),
)


@dataclass
class Job:
    platform_s: float
    direct_s: float
    segments: dict[str, float] = field(default_factory=dict)

    @property
    def overhead_s(self) -> float:
        return self.platform_s - self.direct_s


@dataclass
class Overhead:
    clip: str
    recipes: str
    config: str
    cold: Job | None = None  # the first job: starts the fork server, imports in fresh processes
    jobs: list[Job] = field(default_factory=list)
    error: str | None = None

    @property
    def median_overhead_s(self) -> float:
        return statistics.median(j.overhead_s for j in self.jobs)

    def median(self, attr: str) -> float:
        return float(statistics.median(float(getattr(j, attr)) for j in self.jobs))

    @property
    def median_outside_s(self) -> float:
        """Median over the jobs of the platform's own time: every segment but the function body."""
        parts = [n for n, _ in SEGMENTS if n not in ("call", "to_task", "task_to_call")]
        return float(statistics.median(sum(j.segments[n] for n in parts) for j in self.jobs))

    def median_segment(self, name: str) -> float | None:
        values = [j.segments[name] for j in self.jobs if name in j.segments]
        return statistics.median(values) if values else None

    def to_json(self) -> dict[str, Any]:
        def job(j: Job) -> dict[str, Any]:
            return {"platform_s": j.platform_s, "direct_s": j.direct_s, "segments": j.segments}

        return {
            "clip": self.clip,
            "recipes": self.recipes,
            "config": self.config,
            "cold": job(self.cold) if self.cold else None,
            "jobs": [job(j) for j in self.jobs],
            "median_overhead_s": self.median_overhead_s if self.jobs else None,
            "error": self.error,
        }


def _recipes(width: int, height: int) -> list[Recipe]:
    fitted = fit_ladder([r for r in DEFAULT_LADDER if r.name in RUNGS], width, height)
    return [replace(r, audio=None) for r in fitted]


def _platform_job(wiring: Wiring, source: Path, width: int, height: int, direct_s: float) -> Job:
    wf = wiring.workflows
    began = time.time()
    key = wiring.blobs.put_file(f"uploads/bench-media/{source.name}", source).key
    inputs = {"source": {"$blob": key}, "width": width, "height": height, "recipes": None}
    inputs["recipes"] = [r.to_dict() for r in _recipes(width, height)]
    run = wf.start(WORKFLOW, inputs)
    while not (run := wf.get(run.id)).done:
        time.sleep(POLL_S)
    seen = time.time()
    if run.state != "succeeded":
        raise RuntimeError(f"the platform job ended {run.state}: {run.error}")
    task = wf.tasks(run.id, "encode")[0]
    call_start, call_end = run.outputs["t"]
    if task.ended_at is None or run.ended_at is None:
        raise RuntimeError(f"the platform job {run.id} finished without task or run timestamps")
    segments = {
        "upload": run.created_at - began,
        "to_call": call_start - run.created_at,
        "call": call_end - call_start,
        "to_end": task.ended_at - call_end,
        "to_run_end": run.ended_at - task.ended_at,
        "seen": seen - run.ended_at,
    }
    # a task row's recorded start can come out later than the function's own start; the split
    # between engine/queue and worker is then left out for that job
    if task.started_at is not None and run.created_at <= task.started_at <= call_start:
        segments["to_task"] = task.started_at - run.created_at
        segments["task_to_call"] = call_start - task.started_at
    return Job(seen - began, direct_s, segments)


def _direct(source: Path, work: Path, width: int, height: int) -> float:
    outs = [(work / f"direct-{r.name}.mp4", r) for r in _recipes(width, height)]
    started = time.perf_counter()
    encode_ladder(source, outs, timeout_s=900)
    return time.perf_counter() - started


def measure_overhead(
    source: Path, width: int, height: int, *, jobs: int, step: Callable[[], None], log: Callable[[str], None]
) -> Overhead:
    """One cold job, then ``jobs`` pairs of (direct call, platform job), alternating which goes first."""
    config = PlatformConfig(engines=1, workers=2, concurrency=4, app=APP, metrics=False)
    result = Overhead(
        source.name,
        ", ".join(f"{r.name} ({r.width}x{r.height}, x264 {r.preset})" for r in _recipes(width, height)),
        f"LocalPlatform: private redis-server, gRPC queue + operations, {config.engines} engine, "
        f"{config.workers} workers x {config.concurrency} slots, SQLite metadata, local blob store",
    )
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="darkroom-bench-media-") as tmp:
        home, work = Path(tmp) / "home", Path(tmp) / "direct"
        work.mkdir()
        settings = replace(Settings.from_env(), home=home, grpc_addr="127.0.0.1:0", redis_url="", database_url="",
                           blobs_url="")  # fmt: skip
        platform = LocalPlatform(settings, config)
        try:
            wiring = platform.start()
            result.cold = _platform_job(wiring, source, width, height, _direct(source, work, width, height))
            log(f"cold job: platform {result.cold.platform_s:.2f} s, direct {result.cold.direct_s:.2f} s")
            step()
            for i in range(jobs):
                if i % 2 == 0:
                    direct = _direct(source, work, width, height)
                    job = _platform_job(wiring, source, width, height, direct)
                else:
                    job = _platform_job(wiring, source, width, height, 0.0)
                    job.direct_s = _direct(source, work, width, height)
                result.jobs.append(job)
                log(f"job {i + 1}: platform {job.platform_s:.2f} s, direct {job.direct_s:.2f} s")
                step()
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}"
        finally:
            platform.stop()
    return result
