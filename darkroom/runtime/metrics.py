"""Prometheus metrics of workers and engines (each process registers them on its own registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["EngineMetrics", "WorkerMetrics"]

_DURATION_BUCKETS = (0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600)
# 0 holds the steps on time: the share on time is the le="0" bucket over the count
_LATENESS_BUCKETS = (0, 1, 5, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        # media throughput (TaskContext.encoded): rate(frames) / rate(seconds) is frames/s per codec
        self.media_frames = Counter(
            "darkroom_media_frames", "Video frames encoded by this worker's functions, by codec", ["codec"],
            registry=registry,
        )  # fmt: skip
        self.media_seconds = Counter(
            "darkroom_media_encode_seconds",
            "Wall time spent encoding those frames, by codec (a ladder's shared time split among its rungs)",
            ["codec"],
            registry=registry,
        )
        self.tasks = Counter(
            "darkroom_tasks",
            "Tasks run by this worker, by function and outcome "
            "(succeeded, failed, retried, canceled, timed_out, handed_back)",
            ["function", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "darkroom_task_duration_seconds",
            "Wall time of function calls",
            ["function"],
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge("darkroom_tasks_in_flight", "Tasks running now", registry=registry)
        self.heartbeat_failures = Counter(
            "darkroom_heartbeat_failures",
            "Lease extensions that failed (lost lease or Redis error)",
            registry=registry,
        )

        self.blob_cache = Counter(
            "darkroom_blob_cache_fetches",
            "Input blobs fetched, by result: hit (linked from the host's cache), miss (downloaded "
            "into it), bypass (downloaded past it: no cache, too large, or replaced mid-download)",
            ["result"],
            registry=registry,
        )
        self.blob_cache_bytes = Counter(
            "darkroom_blob_cache_fetched_bytes",
            "Bytes of input blobs fetched, by result",
            ["result"],
            registry=registry,
        )

    def encoded(self, codec: str, frames: int, seconds: float) -> None:
        """A function encoded ``frames`` video frames in ``codec`` in ``seconds`` of wall time."""
        self.media_frames.labels(codec).inc(frames)
        self.media_seconds.labels(codec).inc(seconds)

    def blob_fetched(self, result: str, size_bytes: int) -> None:
        self.blob_cache.labels(result).inc()
        self.blob_cache_bytes.labels(result).inc(size_bytes)

    def finished(self, function: str, outcome: str, seconds: float) -> None:
        self.tasks.labels(function, outcome).inc()
        self.duration.labels(function).observe(seconds)


class EngineMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.passes = Histogram(
            "darkroom_engine_pass_seconds",
            "Time to advance one workflow by one pass",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
            registry=registry,
        )
        self.pass_failures = Counter("darkroom_engine_pass_failures", "Passes that raised", registry=registry)
        self.scheduled = Counter("darkroom_engine_tasks_scheduled", "Task messages enqueued", registry=registry)
        self.workflows = Counter(
            "darkroom_workflows_finished",
            "Workflow runs finished, by name and state",
            ["workflow", "state"],
            registry=registry,
        )
        self.workflow_seconds = Histogram(
            "darkroom_workflow_duration_seconds",
            "Time from a workflow run's start to its end, by name and final state",
            ["workflow", "state"],
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.step_seconds = Histogram(
            "darkroom_step_duration_seconds",
            "Time from a step's start (its first task planned) to its end (the last task's result), "
            "by the step's function",
            ["function"],
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.step_lateness = Histogram(
            "darkroom_step_lateness_seconds",
            "How long after its run's deadline a step ended (0: on time), by function and priority class",
            ["function", "priority"],
            buckets=_LATENESS_BUCKETS,
            registry=registry,
        )

    def pass_done(self, seconds: float) -> None:
        self.passes.observe(seconds)

    def pass_failed(self, workflow_id: str) -> None:
        self.pass_failures.inc()

    def tasks_started(self, n: int) -> None:
        self.scheduled.inc(n)

    def workflow_finished(self, name: str, state: str, seconds: float | None = None) -> None:
        self.workflows.labels(name, state).inc()
        if seconds is not None:
            self.workflow_seconds.labels(name, state).observe(seconds)

    def step_finished(self, function: str, priority: str, seconds: float, late_s: float) -> None:
        self.step_seconds.labels(function).observe(seconds)
        self.step_lateness.labels(function, priority).observe(max(0.0, late_s))
