"""The bounded health history in Redis, Darkroom's own alerting (a status held for its rule's
``for``), and the one-line summary ``darkroom up`` prints at start and on every change."""

from __future__ import annotations

import threading

from darkroom.observability.checks import Check, Status
from darkroom.observability.history import HealthHistory, Point, firing
from darkroom.observability.monitor import HealthMonitor, summary_line, watch
from darkroom.runtime.directory import WorkerDirectory
from tests.observability.conftest import Health, wait_until


def _check(name: str, status: Status, value: float = 1.0) -> Check:
    return Check(name, status, value, None, "")


def test_the_history_keeps_one_point_per_slot_and_at_most_its_bound(health: Health) -> None:
    client = health.client()
    first, second = HealthHistory(client, "h1", max_points=5), HealthHistory(client, "h1", max_points=5)
    assert first.record(100.0, [_check("memory", Status.OK)])
    assert not second.record(105.0, [_check("memory", Status.WARN)])  # another process, the same 10 s slot
    for i in range(1, 10):
        assert second.record(100.0 + 10 * i, [_check("memory", Status.OK, float(i))])
    points = first.points()
    assert [p.at_s for p in points] == [150.0, 160.0, 170.0, 180.0, 190.0]  # oldest first, bounded
    assert client.llen("h1:health:history") == 5


def test_a_status_alerts_once_held_for_its_rules_duration() -> None:
    def points(*statuses: Status) -> list[Point]:
        return [Point(60.0 * i, {"latency": (s, 1.0)}) for i, s in enumerate(statuses)]

    w, c, ok = Status.WARN, Status.CRITICAL, Status.OK
    assert firing(points(ok, w, w, w, w), "latency") is ok  # 3 min of 5
    assert firing(points(ok, w, w, c, c, c, c, c), "latency") is w  # warn or worse for 6 min, critical 4
    assert firing(points(w, c, c, c, c, c, c, c), "latency") is c
    assert firing(points(c, c, c, c, c, c, ok), "latency") is ok
    assert firing(points(ok, c), "evictions") is ok  # no such check in these points
    assert firing([Point(0.0, {"evictions": (c, 3.0)})], "evictions") is c  # its rules have no `for`


def test_the_summary_names_what_is_not_ok_worst_first() -> None:
    from darkroom.observability.checks import HealthReport

    assert summary_line(HealthReport((_check("cpu", Status.OK),))) == "health ok"
    mixed = HealthReport((_check("memory", Status.WARN), _check("cpu", Status.OK), _check("latency", Status.CRITICAL)))
    assert summary_line(mixed) == "health critical: latency (critical), memory (warn)"


def test_up_prints_the_summary_at_start_and_when_it_changes(health: Health) -> None:
    client = health.client()
    monitor = HealthMonitor(health.sampler(), WorkerDirectory(client), HealthHistory(client))
    lines: list[str] = []
    stop = threading.Event()
    thread = threading.Thread(target=watch, args=(monitor, stop, lines.append), kwargs={"every_s": 0.05})
    thread.start()
    try:
        wait_until(lambda: lines, "the first summary")
        assert lines[0].startswith("health warn: ") and "workers (warn)" in lines[0]  # none announced
        used = int(health.info("memory")["used_memory"])
        health.admin.config_set("maxmemory", used + 2048)  # near full: memory is critical
        wait_until(lambda: len(lines) >= 2, "a changed summary")
        assert lines[1].startswith("health critical: memory (critical)")
        seen = len(lines)
        wait_until(lambda: len(client.lrange("dr:health:history", 0, -1)) >= 1, "a recorded point")
        assert len(lines) == seen or lines[-1] != lines[-2]  # nothing printed twice in a row
    finally:
        stop.set()
        thread.join(timeout=10)
        health.admin.config_set("maxmemory", 0)
