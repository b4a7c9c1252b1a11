"""The local platform (``darkroom up``) and the runtime CLI against it."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from rich.console import Console
from typer.testing import CliRunner

from darkroom._proto.darkroom.social.v1 import social_pb2, social_pb2_grpc
from darkroom.analytics import catalog_location, open_catalog
from darkroom.analytics.jobs import EVENTS_CLEAN
from darkroom.analytics.jobs.filters import equal
from darkroom.analytics.state import job_state
from darkroom.analytics.tables import EVENTS
from darkroom.api.errors import Unauthenticated
from darkroom.cli import app
from darkroom.cli.demos.workflow_demo import APP, run_workflow_demo
from darkroom.config import Settings
from darkroom.local.platform import LocalPlatform, PlatformConfig
from darkroom.platform.wiring import Wiring
from darkroom.runtime.operations_server import OperationsClient
from darkroom.social import tokens
from tests.social.people import signup


def _until(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Poll ``condition`` until it holds (a condition with a deadline, not a sleep)."""
    give_up = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < give_up, "condition not reached in time"
        time.sleep(0.05)


def test_the_demo_runs_the_sample_workflow_through_the_platform(tmp_path: Path) -> None:
    out = Console(file=open(os.devnull, "w"), width=120)  # noqa: SIM115
    result = run_workflow_demo(tmp_path / "home", n=12, workers=1, console=out)
    assert result.ok, result
    assert result.outputs == result.expected
    assert result.operation_state == "succeeded"
    assert sum(result.tasks_per_worker.values()) == 14


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[tuple[LocalPlatform, Wiring, dict[str, str]]]:
    settings = replace(Settings.from_env({}), home=tmp_path / "home", grpc_addr="127.0.0.1:0")
    p = LocalPlatform(settings, PlatformConfig(engines=1, workers=1, app=APP, metrics=False, grace_s=5))
    wiring = p.start()
    env = {
        "DARKROOM_HOME": str(settings.home),
        "DARKROOM_REDIS_URL": wiring.redis_url,
        "DARKROOM_DATABASE_URL": wiring.settings.database_url,
        "DARKROOM_APP": APP,
    }
    yield p, wiring, env
    p.stop()


def test_workflow_commands_start_watch_list_and_cancel(platform: tuple[LocalPlatform, Wiring, dict[str, str]]) -> None:
    p, wiring, env = platform
    runner = CliRunner()
    started = runner.invoke(
        app, ["workflow", "start", "sample.scores", "-i", "n=5", "-i", "salt=x", "--watch", "--json"], env=env
    )
    assert started.exit_code == 0, started.output
    run = json.loads(started.output[started.output.index("{") :])
    assert run["state"] == "succeeded"
    assert run["outputs"]["summary"]["count"] == 5
    listed = runner.invoke(app, ["workflow", "list", "--json"], env=env)
    assert [r["id"] for r in json.loads(listed.output)] == [run["id"]]
    shown = runner.invoke(app, ["workflow", "status", run["id"]], env=env)
    assert "score" in shown.output and "succeeded" in shown.output
    with wiring.db.connect() as conn:  # no relay runs without the social product: no run events
        assert conn.exec_driver_sql("SELECT count(*) FROM outbox").scalar_one() == 0
    bad = runner.invoke(app, ["workflow", "start", "sample.scores", "-i", "n=5"], env=env)
    assert bad.exit_code == 1 and bad.stderr.startswith("error: ") and "salt" in bad.stderr  # one line
    # a big run, canceled through the Operations service
    big = wiring.workflows.start("sample.scores", {"n": 2000, "salt": "y"})
    assert p.grpc_url is not None
    with OperationsClient(p.grpc_url) as stranger, pytest.raises(Unauthenticated):
        stranger.cancel(big.id)  # the Operations service shares the queue service's key
    with OperationsClient(p.grpc_url, api_key=p.api_key) as ops:
        ops.cancel(big.id)
        assert ops.wait(big.id, timeout_s=30).state == "canceled"
    _until(lambda: wiring.workflows.get(big.id).done)
    assert wiring.workflows.get(big.id).state == "canceled"


def test_up_serves_the_social_service_to_people_and_operations_to_api_keys(tmp_path: Path) -> None:
    settings = replace(Settings.from_env({}), home=tmp_path / "home", grpc_addr="127.0.0.1:0", http_addr="127.0.0.1:0")
    p = LocalPlatform(settings, PlatformConfig(engines=0, workers=0, metrics=False, grace_s=5, social=True))
    wiring = p.start()
    try:
        person = signup(wiring.db, "alice")
        with wiring.db.begin() as conn:
            token = tokens.create_token(conn, person.viewer, name="cli", scopes=["read"]).secret
        assert p.grpc_url is not None
        with grpc.insecure_channel(p.grpc_url.removeprefix("grpc://")) as channel:
            stub = social_pb2_grpc.SocialServiceStub(channel)
            me = stub.GetAccount(
                social_pb2.GetAccountRequest(handle="alice"), metadata=[("authorization", f"Bearer {token}")]
            )
            assert me.handle == "alice"
            stub.ListFeed(social_pb2.ListFeedRequest(), metadata=[("authorization", f"Bearer {token}")])
        registry = p._service.service.registry if p._service is not None else None
        assert registry is not None  # the queue service's: the mounted SocialService times its feed reads there
        assert registry.get_sample_value("darkroom_feed_read_seconds_count", {"design": settings.feed_design}) == 1
        with OperationsClient(p.grpc_url, api_key=token) as ops, pytest.raises(Unauthenticated):
            ops.get("op_unknown")  # a person's token is no API key
    finally:
        p.stop()


def test_up_ingests_the_relayed_events_and_triggers_the_jobs(tmp_path: Path) -> None:
    settings = replace(Settings.from_env({}), home=tmp_path / "home", grpc_addr="127.0.0.1:0", http_addr="127.0.0.1:0")
    config = PlatformConfig(engines=1, workers=1, app=APP, metrics=False, grace_s=5, social=True, analytics=True)
    p = LocalPlatform(settings, config)
    wiring = p.start()
    catalog = open_catalog(catalog_location(settings))
    try:
        names = ["engine-1", "worker-1", "social-1", "http-1", "ingest-1", "analytics-1", "analytics-scheduler-1"]
        assert [c.name for c in p.children] == names
        person = signup(wiring.db, "alice")  # its account.created goes outbox → relay → stream → ingest
        # the engine's and the worker's passes write the run's events to the same outbox
        run = wiring.workflows.start("sample.scores", {"n": 1, "salt": "x"})

        def landed() -> bool:
            if not catalog.table_exists(EVENTS):  # the ingest creates it when it starts
                return False
            rows = catalog.load_table(EVENTS).scan(row_filter=equal("type", "account.created")).to_arrow()
            return person.account.id in rows.column("account_id").to_pylist()

        def run_landed() -> bool:
            if not catalog.table_exists(EVENTS):
                return False
            rows = catalog.load_table(EVENTS).scan(row_filter=equal("type", "workflow.finished")).to_arrow()
            return any(json.loads(props)["workflow_id"] == run.id for props in rows.column("properties").to_pylist())

        _until(landed)
        _until(run_landed)
        # the trigger loop sees darkroom.events' new snapshot; the engine and analytics-1 run the job
        _until(lambda: catalog.table_exists(EVENTS_CLEAN) and job_state(catalog.load_table(EVENTS_CLEAN)) is not None)
    finally:
        catalog.engine.dispose()
        p.stop()


def test_a_dead_worker_is_restarted(platform: tuple[LocalPlatform, Wiring, dict[str, str]]) -> None:
    p, wiring, _ = platform
    worker = next(c for c in p.children if c.name == "worker-1")
    assert worker.proc is not None
    # the machine's cores go to the pool children of its workers (here: one worker takes them all)
    assert worker.argv[worker.argv.index("--processes") + 1] == str(os.cpu_count())
    first_pid = worker.proc.pid
    worker.proc.kill()
    worker.proc.wait()
    stop = threading.Event()
    t = threading.Thread(target=p.supervise, args=(stop,), kwargs={"poll_s": 0.05}, daemon=True)
    t.start()
    try:
        run = wiring.workflows.start("sample.scores", {"n": 3, "salt": "z"})
        _until(lambda: wiring.workflows.get(run.id).done)
        assert wiring.workflows.get(run.id).state == "succeeded"
        assert worker.proc is not None and worker.proc.pid != first_pid and worker.restarts == 1
    finally:
        stop.set()
        t.join()
