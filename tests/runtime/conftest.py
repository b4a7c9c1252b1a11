"""Runtime fixtures: a queue client, a migrated SQLite database, and a one-machine platform
(engine + worker threads) that tests start and stop explicitly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

import darkroom.queue as dq
from darkroom.runtime.functions import Registry
from darkroom.runtime.queues import ensure_queues
from darkroom.runtime.resources import BLOBS, Resources
from darkroom.runtime.worker import Worker
from darkroom.runtime.workflow import Engine, Workflows
from darkroom.runtime.workflow.store import RunRow
from darkroom.storage.db import open_database
from tests.runtime import funcs


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = open_database(f"sqlite:///{tmp_path / 'meta.db'}")
    yield engine
    engine.dispose()


@dataclass
class Platform:
    """Engine and worker threads over one queue and database, plus the client that starts runs."""

    rq: dq.RedisQueue
    db: sa.Engine
    registry: Registry
    scratch: Path
    workflows: Workflows = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workflows = Workflows(self.rq, self.db, self.registry)

    def start_engine(self, **kw: object) -> Engine:
        engine = Engine(self.rq, self.db, self.registry, **kw)  # type: ignore[arg-type]
        engine.setup()
        self._spawn(lambda: engine.run(self._stop, wait_s=0.2))
        return engine

    def start_worker(self, **kw: object) -> Worker:
        kw.setdefault("scratch_root", self.scratch)
        kw.setdefault("wait_s", 0.2)
        if kw.get("blobs") is not None:  # the store files move through is the functions' store too
            kw.setdefault("resources", Resources().give(BLOBS, kw["blobs"]))  # type: ignore[arg-type]
        worker = Worker(self.rq, self.registry, **kw)  # type: ignore[arg-type]
        ensure_queues(self.rq, self.registry)  # before the test enqueues (the worker does it too)
        self._spawn(lambda: worker.run(self._stop))
        return worker

    def _spawn(self, target: object) -> None:
        t = threading.Thread(target=target, daemon=True)  # type: ignore[arg-type]
        t.start()
        self._threads.append(t)

    def wait(self, workflow_id: str, timeout_s: float = 30.0) -> RunRow:
        """Poll the run until it is finished (a condition with a deadline, not a sleep)."""
        give_up = time.monotonic() + timeout_s
        while True:
            run = self.workflows.get(workflow_id)
            if run.done:
                return run
            assert time.monotonic() < give_up, f"run {workflow_id} still {run.state}: {run.steps}"
            time.sleep(0.02)

    def until(self, condition: object, timeout_s: float = 30.0) -> None:
        """Wait for ``condition()`` to hold, polling (a condition with a deadline, not a sleep)."""
        give_up = time.monotonic() + timeout_s
        while not condition():  # type: ignore[operator]
            assert time.monotonic() < give_up, "condition not reached in time"
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)


@pytest.fixture
def platform(rq: dq.RedisQueue, sqlite_engine: sa.Engine, tmp_path: Path) -> Iterator[Platform]:
    p = Platform(rq, sqlite_engine, funcs.registry, tmp_path / "scratch")
    yield p
    p.stop()
