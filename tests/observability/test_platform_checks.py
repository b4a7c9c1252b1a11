"""The five platform checks Darkroom judges itself where no Prometheus runs, each provoked for
real and recovering to ok once its window has passed (the monitor's clock moved, never slept):
a worker whose lease extension fails (its message canceled under it), a workflow whose run
fails, an outbox row no relay publishes, and 503s and request times through the real HTTP app;
and the HTTP window's arithmetic."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

import darkroom.queue as dq
from darkroom.config import Settings
from darkroom.observability import RedisSampler, Status
from darkroom.observability.checks import Check, Limit
from darkroom.observability.http_window import (
    HttpCounts,
    HttpWindow,
    RegistrySource,
    counts_of,
    multiprocess_source,
    quantile,
)
from darkroom.observability.monitor import HealthMonitor
from darkroom.observability.multiprocess import MULTIPROC_ENV
from darkroom.observability.platform_checks import PlatformThresholds
from darkroom.platform.health import key_layout, outbox_age
from darkroom.runtime.directory import MAX_HEARTBEAT_FAILURES, WorkerDirectory
from darkroom.social.outbox import mark_published, read_unpublished
from darkroom.web.telemetry import HttpMetrics
from tests.runtime import funcs
from tests.runtime.conftest import Platform, platform, sqlite_engine  # noqa: F401 (fixtures)
from tests.web.social_app import PostsApp, open_app

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class Clock:
    """The monitor's wall clock (and Redis's, for the windows): real until moved."""

    def __init__(self) -> None:
        self.ahead_s = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead_s


def _monitor(client: redis.Redis, **kw: object) -> HealthMonitor:
    shared = redis.Redis(connection_pool=client.connection_pool)
    sampler = RedisSampler(shared, layout=key_layout(Settings()), where="the test's Redis")
    return HealthMonitor(sampler, WorkerDirectory(client), **kw)  # type: ignore[arg-type]


def _check(monitor: HealthMonitor, name: str) -> Check:
    return next(c for c in monitor.observe().checks if c.name == name)


def test_a_failed_lease_extension_is_a_heartbeat_failure_until_10_minutes_pass(platform: Platform) -> None:  # noqa: F811
    platform.start_engine()
    worker = platform.start_worker()
    clock = Clock()
    monitor = _monitor(platform.rq.redis, clock=clock)
    assert _check(monitor, "heartbeat_failures").status is Status.OK
    run = platform.workflows.start("gated", {"paths": ["/nonexistent/gate"]})
    platform.until(lambda: platform.workflows.get(run.id).steps["wait"].message == "waiting for the gate")
    (running,) = platform.rq.query(funcs.QUEUE, state=dq.State.RUNNING).messages
    mid = running.id
    assert platform.rq.cancel(funcs.QUEUE, mid)  # under the worker: its next extension fails
    platform.until(lambda: _check(monitor, "heartbeat_failures").status is not Status.OK)
    check = _check(monitor, "heartbeat_failures")
    assert check.status is Status.WARN and check.value == 1.0, check
    assert worker.name in check.message
    clock.ahead_s = 601.0  # the failure left the 10 min window
    assert _check(monitor, "heartbeat_failures").status is Status.OK


def test_heartbeat_failures_are_kept_at_most_their_bound(platform: Platform) -> None:  # noqa: F811
    directory = WorkerDirectory(platform.rq.redis)
    for _ in range(3):
        directory.heartbeat_failed("w1")
    assert directory.heartbeat_failures() == {"w1": 3}
    key = platform.rq.redis.keys("*heartbeat_failures")[0]
    platform.rq.redis.zadd(key, {f"w2|x{i}": time.time() for i in range(MAX_HEARTBEAT_FAILURES)})
    directory.heartbeat_failed("w3")  # trims to the bound, oldest first
    assert platform.rq.redis.zcard(key) == MAX_HEARTBEAT_FAILURES
    assert directory.heartbeat_failures()["w3"] == 1


def test_a_failed_workflow_is_judged_from_the_store_until_15_minutes_pass(platform: Platform) -> None:  # noqa: F811
    platform.start_engine()
    platform.start_worker()
    clock = Clock()
    thresholds = PlatformThresholds(workflow_min_runs=1)
    monitor = _monitor(platform.rq.redis, database=platform.db, thresholds=thresholds, clock=clock)
    assert _check(monitor, "workflow_failure").status is Status.OK  # no run ended
    failed = platform.workflows.start("failing", {})
    assert platform.wait(failed.id).state == "failed"
    check = _check(monitor, "workflow_failure")
    assert (check.status, check.value, check.message) == (
        Status.CRITICAL, 1.0, "1 of 1 runs of failing failed in 15 min"
    ), check  # fmt: skip
    clock.ahead_s = 901.0
    assert _check(monitor, "workflow_failure").status is Status.OK


@pytest.fixture
def app(db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path) -> Iterator[PostsApp]:
    with open_app(db_engine, redis_client, tmp_path) as opened:
        yield opened


@SQLITE
def test_5xx_answers_of_the_real_app_are_http_errors_until_5_minutes_pass(app: PostsApp) -> None:
    registry = app.client.app.state.deps.registry  # type: ignore[attr-defined]
    clock = Clock()
    monitor = _monitor(app.redis, http=HttpWindow(RegistrySource(registry)), clock=clock)
    alice = app.member("alice")
    for _ in range(9):
        assert app.client.get("/v1/accounts/me", headers=alice.auth).status_code == 200
    refused = app.client.post("/v1/uploads", files={"file": ("a.jpg", b"x")}, headers=alice.auth)
    assert refused.status_code == 503  # this app has no media processing
    check = _check(monitor, "http_errors")  # the first look: since the app started
    assert (check.status, check.value) == (Status.CRITICAL, 0.1), check
    assert check.message == "1 of 10 HTTP requests answered 5xx since the HTTP server started"
    clock.ahead_s = 301.0
    for _ in range(3):
        app.client.get("/v1/accounts/me", headers=alice.auth)
    check = _check(monitor, "http_errors")  # the window: since the previous look
    assert (check.status, check.value) == (Status.OK, 0.0), check
    assert check.message.startswith("0 of 3 HTTP requests answered 5xx in 30")


@SQLITE
def test_slow_requests_of_the_real_app_are_http_latency_until_none_is_left_in_the_window(app: PostsApp) -> None:
    registry = app.client.app.state.deps.registry  # type: ignore[attr-defined]
    clock = Clock()
    # every real request takes more than a microsecond: the thresholds, not the app, are moved
    thresholds = PlatformThresholds(http_latency_s=Limit(1e-6, 1e-6, "s"))
    monitor = _monitor(app.redis, http=HttpWindow(RegistrySource(registry)), thresholds=thresholds, clock=clock)
    assert _check(monitor, "http_latency").status is Status.OK  # no request yet
    app.client.get("/v1/accounts/me")
    check = _check(monitor, "http_latency")
    assert check.status is Status.CRITICAL and check.value is not None and check.value > 0, check
    clock.ahead_s = 301.0
    check = _check(monitor, "http_latency")
    assert (check.status, check.value) == (Status.OK, None), check


@SQLITE
def test_an_outbox_row_not_relayed_is_a_backlog_until_the_relay_publishes_it(app: PostsApp) -> None:
    clock = Clock()
    monitor = _monitor(app.redis, outbox=outbox_age(app.engine), clock=clock)
    check = _check(monitor, "outbox_backlog")
    assert (check.status, check.value, check.message) == (Status.OK, 0.0, "every outbox row is relayed")
    app.member("alice")  # account.created: an outbox row, and no relay runs here
    clock.ahead_s = 120.0
    check = _check(monitor, "outbox_backlog")
    assert check.status is Status.WARN and check.value is not None and 120 <= check.value < 130, check
    clock.ahead_s = 700.0
    assert _check(monitor, "outbox_backlog").status is Status.CRITICAL
    with app.engine.begin() as conn:
        mark_published(conn, read_unpublished(conn, 1_000), clock())
    assert _check(monitor, "outbox_backlog").status is Status.OK


def test_the_multiprocess_directory_of_darkroom_http_is_read(tmp_path: Path) -> None:
    # what a worker process of `darkroom http --workers N` writes: the edge's series (named as
    # web/telemetry.py names them; importing the web package would cost seconds) in mmap files
    code = (
        "from prometheus_client import CollectorRegistry, Counter, Histogram\n"
        "r = CollectorRegistry()\n"
        "n = Counter('darkroom_http_requests', '', ['route', 'method', 'status'], registry=r)\n"
        "t = Histogram('darkroom_http_request_duration_seconds', '', ['route', 'method'], registry=r,\n"
        "              buckets=(0.01, 0.025, 0.05))\n"
        "for status in ('200', '200', '200', '500'):\n"
        "    n.labels('/v1/posts', 'GET', status).inc()\n"
        "    t.labels('/v1/posts', 'GET').observe(0.02)\n"
    )
    env = {**os.environ, MULTIPROC_ENV: str(tmp_path)}
    for _ in range(2):  # two worker processes, added up
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    rates = HttpWindow(multiprocess_source(tmp_path)).observe(0.0)
    assert (rates.requests, rates.error_ratio) == (8.0, 0.25)
    edge = CollectorRegistry()
    HttpMetrics(edge).observe("/v1/posts", "GET", 500, 0.02)
    assert counts_of(RegistrySource(edge).samples()).errors == 1.0  # the names above are the edge's
    assert rates.p99_s is not None and 0.01 < rates.p99_s <= 0.025


def test_the_window_takes_the_oldest_reading_inside_it_and_the_quantile_interpolates() -> None:
    buckets = ((0.1, 50.0), (0.5, 99.0), (1.0, 100.0), (float("inf"), 100.0))
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.99, buckets) == pytest.approx(0.5)
    assert quantile(0.99, ((0.1, 0.0), (float("inf"), 10.0))) == 0.1  # in +Inf: the highest bound
    assert quantile(0.99, ()) is None

    class Counts:
        where = "a list"

        def __init__(self) -> None:
            self.requests = 0.0

        def samples(self) -> list[object]:
            from prometheus_client.samples import Sample

            return [Sample("darkroom_http_requests_total", {"status": "200"}, self.requests)]

    source = Counts()
    window = HttpWindow(source, window_s=300.0, max_readings=4)  # type: ignore[arg-type]
    for t in range(0, 100, 10):
        source.requests = float(t)
        window.observe(float(t))
    assert len(window._readings) == 4  # bounded
    source.requests = 200.0
    rates = window.observe(100.0)
    assert (rates.seconds, rates.requests) == (40.0, 140.0)  # from the oldest reading kept (t=60)
    assert HttpCounts(5.0).since(HttpCounts(9.0)).requests == 5.0  # a restarted server counts from 0
