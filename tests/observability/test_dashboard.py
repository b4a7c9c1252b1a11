"""The Grafana dashboard: the committed JSON is the generated one and importable (a datasource
variable, a schema version), and a real Prometheus (Debian's) scraping a live Darkroom over a
private redis-server (the queue service, an engine and a worker that ran a workflow, the HTTP app
after a request, each on its own /metrics) answers every panel's expression with series."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

import darkroom.queue as dq
from darkroom.config import Settings
from darkroom.local.queue_service import QueueService, ServiceThread
from darkroom.observability import serve_metrics
from darkroom.observability.dashboard import DASHBOARD_PATH, dashboard_json, expressions
from darkroom.runtime.metrics import EngineMetrics, WorkerMetrics
from darkroom.social import keys as social_keys
from darkroom.storage.db import open_database
from tests.observability.conftest import Health, free_port
from tests.runtime import funcs
from tests.runtime.conftest import Platform
from tests.web.social_app import open_app

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 20.0


def _prometheus() -> str:
    found = shutil.which("prometheus")
    if found is None:
        reason = "prometheus is not installed (make setup installs Debian's prometheus as root)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (required in CI)")
        pytest.skip(reason)
    return found


def _get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


def test_the_committed_dashboard_is_the_generated_one_and_importable() -> None:
    text = (ROOT / DASHBOARD_PATH).read_text()
    assert text == dashboard_json(), "run `python -m darkroom.observability.dashboard`"
    board = json.loads(text)
    assert board["schemaVersion"] >= 36 and board["uid"] == "darkroom"
    (variable,) = board["templating"]["list"]
    assert variable == {**variable, "type": "datasource", "query": "prometheus", "name": "datasource"}
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert {p["datasource"]["uid"] for p in panels} == {"${datasource}"}
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    assert [r["title"] for r in board["panels"] if r["type"] == "row"] == ["Redis", "Platform"]


class _Prometheus:
    def __init__(self, binary: str, targets: list[str], root: Path) -> None:
        root.mkdir()
        config = root / "prometheus.yml"
        listed = ", ".join(f"'{t}'" for t in targets)
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"scrape_configs:\n  - job_name: darkroom\n    static_configs: [{{targets: [{listed}]}}]\n"
        )
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = (root / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={root / 'data'}",
             f"--web.listen-address={self.url.removeprefix('http://')}", "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
        )  # fmt: skip

    def query(self, expr: str) -> list[object]:
        found = _get(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        assert found["status"] == "success", found
        return found["data"]["result"]  # type: ignore[index,no-any-return]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture
def prometheus_over_darkroom(health: Health, tmp_path: Path) -> Iterator[_Prometheus]:
    """Prometheus scraping what `darkroom up` serves, each on a /metrics port of its own: the queue
    service, an engine and a worker that ran a workflow, and the HTTP app after a request."""
    binary = _prometheus()
    queue = dq.RedisQueue(health.client())
    queue.create_queue("encode")
    queue.enqueue("encode", b"late", deadline=time.time() - 30)  # late already: lateness has a value
    health.admin.xadd(social_keys.EVENTS, {"n": 1})
    health.admin.xgroup_create(social_keys.EVENTS, "fanout", id="0")
    db = open_database(f"sqlite:///{tmp_path / 'meta.db'}")
    runtime = CollectorRegistry()
    platform = Platform(queue, db, funcs.registry, tmp_path / "scratch")
    platform.start_engine(metrics=EngineMetrics(runtime))
    platform.start_worker(metrics=WorkerMetrics(runtime))
    service = QueueService(Settings(redis_url=health.url), grpc=False, metrics_port=0)
    try:
        assert platform.wait(platform.workflows.start("squares", {"n": 2}).id).state == "succeeded"
        with ServiceThread(service), open_app(db, health.client(), tmp_path) as app, serve_metrics(runtime) as ran:
            assert app.client.get("/v1/accounts/nobody").status_code == 404  # one request, counted
            http = app.client.app.state.deps.registry  # type: ignore[attr-defined]
            with serve_metrics(http) as edge:
                assert service.metrics is not None
                targets = [f"127.0.0.1:{m.port}" for m in (service.metrics, ran, edge)]
                prom = _Prometheus(binary, targets, tmp_path / "prometheus")
                try:
                    yield prom
                finally:
                    prom.close()
    finally:
        platform.stop()
        queue.close()
        db.dispose()


def test_every_panel_expression_returns_series_from_a_live_darkroom(prometheus_over_darkroom: _Prometheus) -> None:
    prom = prometheus_over_darkroom
    wanted = list(expressions())
    answered: set[str] = set()
    give_up = time.monotonic() + DEADLINE_S
    # Prometheus starts, scrapes every second; a rate() needs two scrapes: poll until every
    # expression answers or the deadline passes (then the ones left are the gaps)
    while time.monotonic() < give_up and len(answered) < len(wanted):
        try:
            for expr in wanted:
                if expr not in answered and prom.query(expr):
                    answered.add(expr)
        except OSError:
            assert prom.proc.poll() is None, "prometheus exited"  # still starting: ask again
        time.sleep(0.2)  # the poll's pace while waiting for the next scrape, not a synchronisation
    gaps = [e for e in wanted if e not in answered]
    assert not gaps, f"panels with no series from a live Darkroom: {gaps}"
