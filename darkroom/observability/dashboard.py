"""The Grafana dashboard for Redis and the platform, generated from :data:`PANELS` (``python -m
darkroom.observability.dashboard`` writes ``deploy/grafana/darkroom.json``; a test checks the
committed file is the same, and that every expression returns series from a live Darkroom).

Importable as it is: a ``datasource`` variable of type Prometheus, so the importer picks theirs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DASHBOARD_PATH", "PANELS", "Panel", "dashboard", "dashboard_json", "expressions"]

DASHBOARD_PATH = Path("deploy/grafana/darkroom.json")
_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_DATASOURCE_VARIABLE = {
    "name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
    "current": {}, "hide": 0, "refresh": 1, "options": [],
}  # fmt: skip
_WIDTH = 8  # three panels a row of Grafana's 24 columns
_HEIGHT = 8


@dataclass(frozen=True, slots=True)
class Panel:
    row: str
    title: str
    targets: tuple[tuple[str, str], ...]  # (PromQL, legend)
    unit: str = "short"
    description: str = ""


PANELS: tuple[Panel, ...] = (
    Panel("Redis", "Up and checks", (
        ("redis_up", "up {{instance}}"), ("darkroom_redis_check_status", "{{check}} (0 ok, 1 warn, 2 critical)"),
    ), description="Each check's status; docs/observability.md has the runbooks"),
    Panel("Redis", "Round trip", (("darkroom_redis_round_trip_seconds", "p{{quantile}}"),), "s"),
    Panel("Redis", "Commands per second", (
        ("rate(redis_commands_processed_total[1m])", "all"),
        ("topk(5, rate(redis_commands_total[1m]))", "{{cmd}}"),
    ), "ops"),
    Panel("Redis", "CPU (cores)", (
        ("rate(redis_cpu_sys_seconds_total[1m]) + rate(redis_cpu_user_seconds_total[1m])", "sys + user"),
    )),
    Panel("Redis", "Memory", (
        ("redis_memory_used_bytes", "used"), ("redis_memory_used_rss_bytes", "rss"),
        ("redis_memory_max_bytes", "maxmemory"),
    ), "bytes"),
    Panel("Redis", "Fragmentation ratio", (("redis_mem_fragmentation_ratio", "rss / used"),)),
    Panel("Redis", "Hit ratio", (("darkroom_redis_hit_ratio", "hits / lookups"),), "percentunit"),
    Panel("Redis", "Evictions and expiries", (
        ("rate(redis_evicted_keys_total[5m])", "evicted/s"), ("rate(redis_expired_keys_total[5m])", "expired/s"),
    )),
    Panel("Redis", "Clients", (
        ("redis_connected_clients", "connected"), ("redis_blocked_clients", "blocked"),
        ("darkroom_redis_blocked_clients_own", "blocked: Darkroom's long polls"),
        ("redis_config_maxclients", "maxclients"),
        ("increase(redis_rejected_connections_total[5m])", "refused in 5 min"),
    )),
    Panel("Redis", "Slow log", (
        ("redis_slowlog_length", "entries"), ("darkroom_redis_slowlog_recent_p95_seconds", "p95 of recent (s)"),
    )),
    Panel("Redis", "Replication", (
        ("redis_connected_slaves", "replicas"), (
        # no replica: 0 (a series, not "no data"), with one: each replica's lag
        "redis_connected_slave_lag_seconds or on (instance) (redis_connected_slaves == 0)", "lag {{slave_addr}}",
    ),
    ), "s"),
    Panel("Redis", "Persistence", (
        ("redis_rdb_last_bgsave_status", "last BGSAVE ok"), ("redis_aof_last_write_status", "last AOF write ok"),
        ("redis_latest_fork_seconds", "latest fork (s)"),
    )),
    Panel("Platform", "Queue depth", (("sum by (queue, state) (darkroom_queue_messages)", "{{queue}} {{state}}"),)),
    Panel("Platform", "Deadline lateness", (
        ("darkroom_queue_oldest_pending_lateness_seconds", "{{queue}}: most urgent ready message"),
    ), "s"),
    Panel("Platform", "Queue events per second", (
        ("sum by (queue, event) (rate(darkroom_queue_events_total[5m]))", "{{queue}} {{event}}"),
    ), "ops"),
    Panel("Platform", "Workers", (
        ("darkroom_workers_live", "live"), ("sum(darkroom_tasks_in_flight)", "tasks in flight"),
        ("sum(increase(darkroom_heartbeat_failures_total[10m]))", "heartbeat failures (10 min)"),
    )),
    Panel("Platform", "Tasks per second by outcome", (
        ("sum by (outcome) (rate(darkroom_tasks_total[5m]))", "{{outcome}}"),
    ), "ops"),
    Panel("Platform", "Workflows finished (15 min)", (
        ("sum by (workflow, state) (increase(darkroom_workflows_finished_total[15m]))", "{{workflow}} {{state}}"),
    )),
    Panel("Platform", "Workflow duration and step lateness p95", (
        ("histogram_quantile(0.95, sum by (le, workflow) (rate(darkroom_workflow_duration_seconds_bucket[15m])))",
         "{{workflow}} duration"),
        ("histogram_quantile(0.95, sum by (le, function) (rate(darkroom_step_lateness_seconds_bucket[15m])))",
         "{{function}} lateness"),
    ), "s", "A step's lateness is how long after its run's deadline it ended (0: on time)"),
    Panel("Platform", "Events stream", (
        ("darkroom_redis_stream_length", "{{stream}} length"),
        ("darkroom_redis_stream_group_lag", "{{group}} lag"),
        ("darkroom_redis_stream_group_pending", "{{group}} pending"),
    )),
    Panel("Platform", "HTTP requests per second", (
        ("sum by (status) (rate(darkroom_http_requests_total[5m]))", "{{status}}"),
    ), "reqps"),
    Panel("Platform", "HTTP latency p99", (
        ("histogram_quantile(0.99, sum by (le, route) (rate(darkroom_http_request_duration_seconds_bucket[5m])))",
         "{{route}}"),
    ), "s"),
)  # fmt: skip


def expressions() -> list[str]:
    """Every panel's PromQL, in order."""
    return [expr for p in PANELS for expr, _ in p.targets]


def _panel(panel: Panel, pid: int, x: int, y: int) -> dict[str, object]:
    return {
        "id": pid,
        "type": "timeseries",
        "title": panel.title,
        "description": panel.description,
        "datasource": _DATASOURCE,
        "gridPos": {"h": _HEIGHT, "w": _WIDTH, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": _DATASOURCE, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(panel.targets)
        ],
    }


def dashboard() -> dict[str, object]:
    panels: list[dict[str, object]] = []
    y, pid = 0, 1
    for row in dict.fromkeys(p.row for p in PANELS):
        panels.append({"id": pid, "type": "row", "title": row, "collapsed": False, "panels": [],
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})  # fmt: skip
        pid, y = pid + 1, y + 1
        for i, panel in enumerate(p for p in PANELS if p.row == row):
            x = (i % (24 // _WIDTH)) * _WIDTH
            if i and x == 0:
                y += _HEIGHT
            panels.append(_panel(panel, pid, x, y))
            pid += 1
        y += _HEIGHT
    return {
        "title": "Darkroom",
        "uid": "darkroom",
        "description": "Redis and the platform (generated by darkroom/observability/dashboard.py)",
        "tags": ["darkroom", "redis"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "timezone": "",
        "annotations": {"list": []},
        "templating": {"list": [_DATASOURCE_VARIABLE]},
        "panels": panels,
    }


def dashboard_json() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    DASHBOARD_PATH.parent.mkdir(parents=True, exist_ok=True)
    DASHBOARD_PATH.write_text(dashboard_json())
    print(f"wrote {DASHBOARD_PATH}")
