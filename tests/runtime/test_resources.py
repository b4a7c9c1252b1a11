"""Typed resources on every task's context: given, built once per process, rebuilt (not pickled)
in child processes; and a worker's functions use an injected store wherever they run."""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import darkroom.queue as dq
from darkroom.config import Settings
from darkroom.platform.resources import task_resources
from darkroom.runtime.errors import MissingResource
from darkroom.runtime.resources import SETTINGS, ResourceKey, Resources
from darkroom.runtime.task import TaskSpec
from darkroom.storage.blobs import open_blobs
from tests.runtime import resource_funcs
from tests.runtime.conftest import Platform

COUNTER: ResourceKey[list[int]] = ResourceKey("test.counter")


def _built(resources: Resources) -> list[int]:
    return [len(resources[COUNTER])]


BUILT: ResourceKey[list[int]] = ResourceKey("test.built", _built)


def test_given_values_and_built_ones_are_typed_and_built_once() -> None:
    resources = Resources().give(COUNTER, [1, 2, 3])
    first = resources[BUILT]
    assert first == [3] and resources[BUILT] is first  # built once, on first use
    assert COUNTER in resources and BUILT in resources and SETTINGS not in resources


def test_a_missing_resource_is_named() -> None:
    with pytest.raises(MissingResource, match="'settings'"):
        Resources()[SETTINGS]
    with pytest.raises(MissingResource, match=r"'test\.counter'"):
        Resources().use(COUNTER, [1])  # a child could not make its own


def test_a_pickled_copy_keeps_what_was_given_and_builds_the_rest_again() -> None:
    resources = Resources().give(COUNTER, [1, 2])
    built = resources[BUILT]
    copy = pickle.loads(pickle.dumps(resources))  # what a child process gets
    assert copy[COUNTER] == [1, 2] and copy[BUILT] == [2] and copy[BUILT] is not built


@pytest.fixture
def resource_platform(rq: dq.RedisQueue, sqlite_engine: sa.Engine, tmp_path: Path) -> Iterator[Platform]:
    p = Platform(rq, sqlite_engine, resource_funcs.registry, tmp_path / "scratch")
    yield p
    p.stop()


def test_a_function_uses_an_injected_store_in_a_thread_a_pool_child_and_its_own_process(
    resource_platform: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store is built from the platform's settings, never from the environment (which names
    another store here): in the worker, in a warm pool child and in an isolated child."""
    monkeypatch.setenv("DARKROOM_BLOBS_URL", str(tmp_path / "elsewhere"))
    p = resource_platform
    settings = Settings(home=tmp_path / "home", blobs_url=str(tmp_path / "blobs"))
    blobs = open_blobs(settings.blobs_url)
    p.start_worker(blobs=blobs, resources=task_resources(settings, blobs), processes=1)
    names = {"note_in_thread": "thread", "note_in_pool": "pool", "note_isolated": "isolated"}
    ids = {fn: p.rq.enqueue(resource_funcs.QUEUE, TaskSpec(fn, {"name": name}).encode()) for fn, name in names.items()}
    outs = {}
    for fn, mid in ids.items():
        p.until(lambda mid=mid: (p.rq.get(resource_funcs.QUEUE, mid).state or dq.State.PENDING).terminal)
        msg = p.rq.get(resource_funcs.QUEUE, mid)
        assert msg.state == dq.State.COMPLETED, msg.last_error
        outs[names[fn]] = json.loads(msg.result or b"{}")
    pids = {name: out["pid"] for name, out in outs.items()}
    assert pids["thread"] == os.getpid()
    assert len({os.getpid(), pids["pool"], pids["isolated"]}) == 3  # two child processes of their own
    for name, pid in pids.items():
        assert blobs.get_bytes(f"notes/{name}") == str(pid).encode()
    assert not (tmp_path / "elsewhere").exists()
