"""Model-based tests: random operations on the real queue, checked against the reference model,
``darkroom.queue.testing.MemoryQueue`` (the queue's contract in plain Python, no Redis).

A hypothesis state machine drives a real :class:`darkroom.queue.RedisQueue` on the test Redis and
a :class:`MemoryQueue` side by side, with the same calls. After every step the two must agree on
every message (state, attempts, payload, metadata, deadline, result, last error, visibility,
lease), on the counts per state and on the running messages per exclusivity value, and the Redis
keys must agree with the message hashes (``integrity.audit``); every step itself must agree on
what it served and in which order, and on its outcome (the same error type, or the same answer).

``DARKROOM_MODEL_EXAMPLES`` and ``DARKROOM_MODEL_STEPS`` scale a run up for a long soak, e.g.
``DARKROOM_MODEL_EXAMPLES=500 DARKROOM_MODEL_STEPS=60 pytest tests/queue/test_model.py --timeout=0``.

Wall time never decides anything: deadlines are explicit numbers (they only order) or "now"
(later than all of them), delays are either none or a month (made visible again with
``update(delay_s=None)``), ordinary leases last an hour, and a lease is expired on purpose by
shortening it to the minimum and waiting on Redis's own clock until it has run out (the model's
manual clock is moved past its own lease), then touching it in one of the ways that notice expiry.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar, TypeVar

import pytest
import redis
from hypothesis import HealthCheck, event, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import darkroom.queue as dq
from darkroom.queue.testing import ManualClock, MemoryQueue
from tests.queue.helpers import wait_past
from tests.queue.integrity import audit

S = dq.State
T = TypeVar("T")

QUEUE = "model"
IDS = [f"m{i}" for i in range(20)]
GHOST = "ghost"  # never enqueued
LEASE_S = 3600.0  # ordinary leases never run out during a test
SHORT_LEASE_S = 0.001  # leases the test expires on purpose
LONG_DELAY_S = 30 * 86400.0  # delays never fall due during a test
DEADLINES_MS: list[int | None] = [None, 0, 1000, 1000, 2000, 2000, 3000]  # many ties on purpose
EXPLICIT_S = 1e9  # every explicit deadline is under it; "now" is far above it
TENANTS = ["a", "b", "c"]
KINDS = ["x", "y"]
REGIONS = ["n", "s"]
# The test client accepts leases down to 1 ms so that expiring one costs milliseconds, not 50 ms.
LIMITS = dq.Limits(min_lease_s=SHORT_LEASE_S)
MAX_PAYLOAD = 4  # the queue's own cap, far under the client's: the scripts enforce it
BIG = b"x" * (MAX_PAYLOAD + 1)
MAX_ATTEMPTS = 2
# 30 x 40 steps x 5 configurations in the suite (about 45 s); DARKROOM_MODEL_EXAMPLES=500 for a deep run
EXAMPLES = int(os.environ.get("DARKROOM_MODEL_EXAMPLES", "30"))
STEPS = int(os.environ.get("DARKROOM_MODEL_STEPS", "40"))


@dataclass(frozen=True, slots=True)
class Config:
    name: str
    exclusivity_key: str | None = None
    exclusivity_limit: int = 1
    indexed_keys: tuple[str, ...] = ()


CONFIGS = [
    Config("simple"),
    Config("simple-indexed-2", indexed_keys=("kind", "region")),
    Config("exclusive-1", exclusivity_key="tenant"),
    Config("exclusive-2-indexed-1", exclusivity_key="tenant", exclusivity_limit=2, indexed_keys=("kind",)),
    Config("exclusive-1-indexed-2", exclusivity_key="tenant", indexed_keys=("kind", "tenant")),
]


def outcome(call: Callable[[], T]) -> tuple[str, Any]:
    """("ok", value) or ("err", the queue error's type): what both sides are compared on."""
    try:
        return ("ok", call())
    except dq.QueueError as exc:
        return ("err", type(exc))


def said(call: str, result: tuple[str, Any]) -> None:
    """Log a call on the real queue and its outcome: a failing example then reads as the exact
    calls that reproduce it. Also label the outcome as a hypothesis event (what a run exercised)."""
    shown = result[1].__name__ if result[0] == "err" else "ok"
    if result[0] == "ok" and call.startswith(("dequeue", "enqueue_many", "cancel", "complete_many")):
        value = result[1]
        shown = repr([le.message.id for le in value]) if call.startswith("dequeue") else repr(value)
    note(f"rq.{call} -> {shown}")
    event(f"{call.split('(', maxsplit=1)[0]}: {result[1].__name__ if result[0] == 'err' else 'ok'}")


def lease_text(lease: dq.Lease) -> str:
    return f"<lease {lease.message.id}@{lease.token}>"


def same_deadline(real: float, model: float) -> bool:
    """Explicit deadlines match to the millisecond; "now" is each side's own clock."""
    if model < EXPLICIT_S:
        return round(real * 1000) == round(model * 1000)
    return real > EXPLICIT_S


@dataclass(frozen=True, slots=True)
class Pair:
    """One lease granted by both sides for the same message (their tokens differ)."""

    real: dq.Lease
    model: dq.Lease


class QueueMachine(RuleBasedStateMachine):
    """One queue of one configuration per example; the Redis database is flushed per example.

    The test makes a subclass per configuration that sets the three class attributes.
    """

    rq: ClassVar[dq.RedisQueue]
    redis_client: ClassVar[redis.Redis]
    config: ClassVar[Config]

    def __init__(self) -> None:
        super().__init__()
        self.redis_client.flushdb()
        self.clock = ManualClock()
        self.mq = MemoryQueue(limits=LIMITS, clock=self.clock)
        self.sent: dict[str, dq.NewMessage] = {}  # each stored id as first enqueued
        self.leases: list[Pair] = []  # every lease ever granted, stale ones included
        self.current: dict[str, Pair] = {}  # message id -> its latest lease
        self.last_token = 0

    # -- the model's state, for the strategies ---------------------------------------------------------
    @property
    def exclusive(self) -> bool:
        return self.config.exclusivity_key is not None

    def in_state(self, *states: S) -> list[str]:
        return sorted(m.id for st_ in states for m in self.mq.query(QUEUE, state=st_, limit=1000).messages)

    def known(self) -> list[str]:
        return self.in_state(*S)

    # -- strategies ---------------------------------------------------------------------------------
    def metadata(self, data: st.DataObject, *, may_lack_value: bool) -> dict[str, str]:
        meta: dict[str, str] = {}
        tenant = data.draw(st.sampled_from(TENANTS + [""] if may_lack_value else TENANTS))
        if tenant or not self.exclusive:
            meta["tenant"] = tenant or "a"
        for key, values in (("kind", KINDS), ("region", REGIONS)):
            value = data.draw(st.sampled_from([None, *values]))
            if value is not None:
                meta[key] = value
        if not self.exclusive and data.draw(st.booleans()):
            del meta["tenant"]
        return meta

    def where(self, data: st.DataObject) -> dict[str, str]:
        keys = (
            data.draw(st.lists(st.sampled_from(self.config.indexed_keys), unique=True))
            if self.config.indexed_keys
            else []
        )
        pools = {"kind": KINDS, "region": REGIONS, "tenant": TENANTS}
        return {k: data.draw(st.sampled_from(pools[k])) for k in keys}

    def some_id(self, data: st.DataObject, *prefer: S) -> str:
        """Mostly a message in one of the ``prefer`` states, else any stored one, rarely an unknown id."""
        preferred = self.in_state(*prefer)
        if preferred and data.draw(st.integers(0, 2)) > 0:
            return data.draw(st.sampled_from(preferred))
        known = self.known()
        if known and data.draw(st.integers(0, 5)) > 0:
            return data.draw(st.sampled_from(known))
        return data.draw(st.sampled_from([*IDS, GHOST]))

    def some_lease(self, data: st.DataObject) -> Pair:
        """Mostly a lease still held; sometimes any lease ever granted (stale ones included)."""
        held = [self.current[mid] for mid in self.in_state(S.RUNNING)]
        if held and data.draw(st.integers(0, 3)) > 0:
            return data.draw(st.sampled_from(held))
        return data.draw(st.sampled_from(self.leases))

    def new_message(self, data: st.DataObject, batch: list[dq.NewMessage]) -> dq.NewMessage:
        kind = data.draw(st.sampled_from(["fresh"] * 8 + ["resend", "repeat", "clash"]))
        if kind == "resend" and self.sent:
            # an id already stored, with its original content: answered, not added
            first = self.sent[data.draw(st.sampled_from(sorted(self.sent)))]
            delay = LONG_DELAY_S if data.draw(st.booleans()) else 0.0
            return dq.NewMessage(first.payload, first.deadline, first.metadata, first.id, delay, first.max_attempts)
        if kind in ("repeat", "clash") and batch:
            earlier = data.draw(st.sampled_from(batch))
            if kind == "repeat":
                return earlier
            return dq.NewMessage(earlier.payload + b"!", earlier.deadline, earlier.metadata, earlier.id)
        taken = set(self.sent) | {m.id for m in batch}
        unused = [i for i in IDS if i not in taken]
        pool = unused if unused and data.draw(st.integers(0, 7)) > 0 else IDS
        deadline_ms = data.draw(st.sampled_from(DEADLINES_MS))
        return dq.NewMessage(
            id=data.draw(st.sampled_from(pool)),
            payload=BIG if data.draw(st.integers(0, 19)) == 0 else data.draw(st.sampled_from([b"", b"p", b"q"])),
            metadata=self.metadata(data, may_lack_value=data.draw(st.integers(0, 9)) == 0),
            deadline=None if deadline_ms is None else deadline_ms / 1000,
            delay_s=LONG_DELAY_S if data.draw(st.integers(0, 4)) == 0 else 0.0,
            max_attempts=data.draw(st.sampled_from([None, None, 1, 2, 3])),
        )

    # -- setup -------------------------------------------------------------------------------------
    @initialize()
    def create_queue(self) -> None:
        cfg = self.config
        settings_: dict[str, Any] = {
            "lease_s": LEASE_S,
            "max_attempts": MAX_ATTEMPTS,
            "exclusivity_key": cfg.exclusivity_key,
            "exclusivity_limit": cfg.exclusivity_limit,
            "indexed_keys": cfg.indexed_keys,
            "max_payload_bytes": MAX_PAYLOAD,
        }
        real, model = self.rq.create_queue(QUEUE, **settings_), self.mq.create_queue(QUEUE, **settings_)
        assert replace(real, created_at=0.0) == replace(model, created_at=0.0), "the same settings"
        note(
            f"rq = RedisQueue(redis_client, limits=Limits(min_lease_s={SHORT_LEASE_S}))\n"
            f"rq.create_queue({QUEUE!r}, {', '.join(f'{k}={v!r}' for k, v in settings_.items())})"
        )

    # -- the comparison after every step -------------------------------------------------------------
    @invariant()
    def agrees_with_the_model(self) -> None:
        real_stats, model_stats = self.rq.stats(QUEUE), self.mq.stats(QUEUE)
        assert real_stats.counts == model_stats.counts, "counts per state"
        assert real_stats.running_per_value == model_stats.running_per_value, "running messages per value"
        if model_stats.oldest_pending_deadline is None:
            assert real_stats.oldest_pending_deadline is None
        else:
            assert real_stats.oldest_pending_deadline is not None
            assert same_deadline(real_stats.oldest_pending_deadline, model_stats.oldest_pending_deadline)
        page, model_page = self.rq.query(QUEUE, limit=100), self.mq.query(QUEUE, limit=100)
        assert page.next_cursor is None and model_page.next_cursor is None
        real = {m.id: m for m in page.messages}
        model = {m.id: m for m in model_page.messages}
        assert sorted(real) == sorted(model), "the stored ids"
        for mid, want in model.items():
            got = real[mid]
            assert (got.state, got.attempts, got.max_attempts) == (want.state, want.attempts, want.max_attempts), mid
            assert (got.payload, got.metadata) == (want.payload, want.metadata), mid
            assert (got.last_error, got.result) == (want.last_error, want.result), mid
            assert same_deadline(got.deadline, want.deadline), mid
            assert want.state is not None
            if not want.state.terminal:  # a finished message may keep its last times
                assert (got.visible_at is not None) == (want.visible_at is not None), mid
                assert (got.lease_expires_at is not None) == (want.lease_expires_at is not None), mid

    @invariant()
    def keys_agree_with_the_hashes(self) -> None:
        # every set, index, ready set and running count agrees with the message hashes
        assert audit(self.redis_client, QUEUE) == []

    # -- enqueue -----------------------------------------------------------------------------------
    @rule(data=st.data(), n=st.integers(1, 4))
    def enqueue_many(self, data: st.DataObject, n: int) -> None:
        batch: list[dq.NewMessage] = []
        for _ in range(n):
            batch.append(self.new_message(data, batch))
        want = outcome(lambda: self.mq.enqueue_many(QUEUE, batch))
        got = outcome(lambda: self.rq.enqueue_many(QUEUE, batch))
        said(f"enqueue_many({QUEUE!r}, {batch!r})", got)
        assert got == want
        if got[0] == "ok":
            for m in batch:
                self.sent.setdefault(str(m.id), m)

    # -- dequeue and leases -----------------------------------------------------------------------------
    def _dequeue(self, n: int, where: dict[str, str], lease_s: float) -> list[Pair]:
        want = outcome(lambda: self.mq.dequeue(QUEUE, max_messages=n, where=where, lease_s=lease_s))
        got = outcome(lambda: self.rq.dequeue(QUEUE, max_messages=n, where=where, lease_s=lease_s))
        said(f"dequeue({QUEUE!r}, max_messages={n}, where={where!r}, lease_s={lease_s})", got)
        if want[0] == "err":
            assert got == want
            return []
        assert got[0] == "ok", got
        leases: list[dq.Lease] = got[1]
        model_leases: list[dq.Lease] = want[1]
        assert [ls.message.id for ls in leases] == [ls.message.id for ls in model_leases], "served and in order"
        pairs = []
        for lease, model in zip(leases, model_leases, strict=True):
            assert lease.token > self.last_token, "fencing tokens only grow"
            self.last_token = lease.token
            got_m, m = lease.message, model.message
            assert (got_m.state, got_m.attempts, got_m.max_attempts) == (S.RUNNING, m.attempts, m.max_attempts)
            assert (got_m.payload, got_m.metadata, got_m.last_error) == (m.payload, m.metadata, m.last_error)
            assert (got_m.lease_expires_at, got_m.visible_at) == (lease.expires_at, None)
            pair = Pair(lease, model)
            pairs.append(pair)
            self.leases.append(pair)
            self.current[lease.message.id] = pair
        event(f"dequeue: served {len(leases)}{' with where' if where else ''}")
        return pairs

    @precondition(lambda self: self.mq.count(QUEUE, S.PENDING))
    @rule(n=st.integers(1, 3))
    def dequeue(self, n: int) -> None:
        self._dequeue(n, {}, LEASE_S)

    @precondition(lambda self: self.mq.count(QUEUE, S.PENDING))
    @rule(data=st.data(), n=st.integers(1, 3))
    def dequeue_where(self, data: st.DataObject, n: int) -> None:
        where = self.where(data)
        if data.draw(st.integers(0, 9)) == 0:
            where["note"] = "never indexed"  # InvalidCriteria, paused or not
        self._dequeue(n, where, LEASE_S)

    def _both(self, text: str, real: Callable[[], T], model: Callable[[], T], *, answers: bool = True) -> None:
        """Make one call on both sides: the same error type, or (``answers``) the same answer."""
        want, got = outcome(model), outcome(real)
        said(text, got)
        if answers or got[0] == "err":
            assert got == want, (got, want)
        else:
            assert want[0] == "ok", (got, want)

    def _complete(self, pair: Pair, result: bytes) -> None:
        self._both(
            f"complete({lease_text(pair.real)}, {result!r})",
            lambda: self.rq.complete(pair.real, result),
            lambda: self.mq.complete(pair.model, result),
            answers=False,  # the lateness: each side's own clock
        )

    def _fail(self, pair: Pair, error: str, retry: bool, later: bool) -> None:
        delay = LONG_DELAY_S if later else 0.0
        self._both(
            f"fail({lease_text(pair.real)}, {error!r}, retry={retry}, retry_in_s={delay})",
            lambda: self.rq.fail(pair.real, error, retry=retry, retry_in_s=delay),
            lambda: self.mq.fail(pair.model, error, retry=retry, retry_in_s=delay),
        )

    def _extend(self, pair: Pair) -> None:
        self._both(
            f"extend({lease_text(pair.real)})",
            lambda: self.rq.extend(pair.real),
            lambda: self.mq.extend(pair.model),
            answers=False,  # the new expiry: each side's own clock
        )

    @precondition(lambda self: self.leases)
    @rule(data=st.data(), how=st.sampled_from(["complete", "complete", "complete_many", "fail", "fail", "extend"]))
    def settle(self, data: st.DataObject, how: str) -> None:
        """Complete, fail or extend a lease: a held one mostly, a stale one sometimes."""
        if how == "complete":
            self._complete(self.some_lease(data), data.draw(st.sampled_from([b"", b"done"])))
        elif how == "complete_many":
            pairs = [self.some_lease(data) for _ in range(data.draw(st.integers(1, 3)))]
            results = [data.draw(st.sampled_from([b"", b"r"])) for _ in pairs]
            text = f"complete_many([{', '.join(lease_text(p.real) for p in pairs)}], {results!r})"
            self._both(
                text,
                lambda: self.rq.complete_many([p.real for p in pairs], results),
                lambda: self.mq.complete_many([p.model for p in pairs], results),
            )
        elif how == "fail":
            retry, later = data.draw(st.booleans()), data.draw(st.integers(0, 3)) == 0
            self._fail(self.some_lease(data), data.draw(st.sampled_from(["", "boom"])), retry, later)
        else:
            self._extend(self.some_lease(data))

    @precondition(lambda self: self.sent)
    @rule(data=st.data(), how=st.sampled_from(["extend", "dequeue"]))
    def expire_leases(self, data: st.DataObject, how: str) -> None:
        """Run leases out for real (Redis's clock, and the model's), then touch them in a way that notices."""
        if how == "extend":
            running = self.in_state(S.RUNNING)
            if not running:
                return
            pair = self.current[data.draw(st.sampled_from(running))]
            self.rq.extend(pair.real, lease_s=SHORT_LEASE_S)
            self.mq.extend(pair.model, lease_s=SHORT_LEASE_S)
            note(f"rq.extend({lease_text(pair.real)}, lease_s={SHORT_LEASE_S})")
            targets = [pair]
        else:
            targets = self._dequeue(data.draw(st.integers(1, 2)), {}, SHORT_LEASE_S)
            if not targets:
                return
        wait_past(self.redis_client, max(p.real.expires_at for p in targets))
        self.clock.now = max(self.clock.now, max(p.model.expires_at for p in targets) + 0.001)
        touch = data.draw(st.sampled_from(["sweep", "dequeue", "complete", "fail", "extend", "cancel", "update"]))
        event(f"expire: {len(targets)} lease(s) via {how}, noticed by {touch}")
        note(f"wait until Redis TIME passes the lease expiry of {', '.join(lease_text(p.real) for p in targets)}")
        if touch == "sweep":
            swept, model_swept = self.rq.sweep(QUEUE), self.mq.sweep(QUEUE)
            note(f"rq.sweep({QUEUE!r}) -> {swept}")
            assert (swept.moved, swept.purged) == (model_swept.moved, model_swept.purged) == (len(targets), 0)
        elif touch == "dequeue":
            self._dequeue(data.draw(st.integers(1, 3)), {}, LEASE_S)
        else:
            for pair in targets:
                if touch == "complete":
                    self._complete(pair, b"late")
                elif touch == "fail":
                    self._fail(pair, "late", True, False)
                elif touch == "extend":
                    self._extend(pair)
                elif touch == "cancel":
                    self._cancel(pair.real.message.id)
                else:  # a valid update: one the queue refuses may leave the expiry unnoticed
                    self._update(pair.real.message.id, {"deadline": data.draw(st.sampled_from([0, 5000])) / 1000})

    # -- single messages ----------------------------------------------------------------------------
    def _cancel(self, mid: str) -> None:
        self._both(
            f"cancel({QUEUE!r}, {mid!r})", lambda: self.rq.cancel(QUEUE, mid), lambda: self.mq.cancel(QUEUE, mid)
        )

    def _update(self, mid: str, changes: Mapping[str, Any]) -> None:
        self._both(
            f"update({QUEUE!r}, {mid!r}, **{changes!r})",
            lambda: self.rq.update(QUEUE, mid, **changes),
            lambda: self.mq.update(QUEUE, mid, **changes),
        )

    @precondition(lambda self: self.sent)
    @rule(data=st.data(), how=st.sampled_from(["update", "update", "update", "cancel", "redrive", "get"]))
    def act_on_a_message(self, data: st.DataObject, how: str) -> None:
        if how == "update":
            self._update_some(data, self.some_id(data, S.PENDING, S.INVISIBLE))
        elif how == "cancel":
            self._cancel(self.some_id(data, *S))
        elif how == "redrive":
            mid = self.some_id(data, S.ERRORED)
            self._both(
                f"redrive({QUEUE!r}, {mid!r})", lambda: self.rq.redrive(QUEUE, mid), lambda: self.mq.redrive(QUEUE, mid)
            )
        else:
            mid = self.some_id(data, *S)
            self._both(
                f"get({QUEUE!r}, {mid!r}).state",
                lambda: self.rq.get(QUEUE, mid).state,
                lambda: self.mq.get(QUEUE, mid).state,
            )

    def _update_some(self, data: st.DataObject, mid: str) -> None:
        fields = data.draw(st.sets(st.sampled_from(["deadline", "metadata", "payload", "delay"]), min_size=1))
        changes: dict[str, Any] = {}
        if "deadline" in fields:
            changes["deadline"] = data.draw(st.sampled_from([0, 500, 1000, 2000, 3000, 4000])) / 1000
        if "metadata" in fields:
            changes["metadata"] = self.metadata(data, may_lack_value=data.draw(st.integers(0, 5)) == 0)
        if "payload" in fields:
            changes["payload"] = BIG if data.draw(st.integers(0, 9)) == 0 else data.draw(st.sampled_from([b"", b"u"]))
        if "delay" in fields:
            changes["delay_s"] = data.draw(st.sampled_from([None, 0.0, LONG_DELAY_S]))
        self._update(mid, changes)

    # -- the queue ----------------------------------------------------------------------------------
    @rule(pause=st.sampled_from([True, False, False]))
    def pause_or_resume(self, pause: bool) -> None:
        if pause:
            self.rq.pause(QUEUE)
            self.mq.pause(QUEUE)
            note(f"rq.pause({QUEUE!r})")
        else:
            self.rq.resume(QUEUE)
            self.mq.resume(QUEUE)
            note(f"rq.resume({QUEUE!r})")


@pytest.fixture
def model_rq(redis_client: redis.Redis) -> Iterator[dq.RedisQueue]:
    q = dq.RedisQueue(redis_client, limits=LIMITS)
    yield q
    q.close()


@pytest.mark.timeout(1800)  # a pass takes seconds; shrinking a failure to its minimal steps can take minutes
@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
def test_queue_agrees_with_the_model(model_rq: dq.RedisQueue, redis_client: redis.Redis, config: Config) -> None:
    machine = type(
        "QueueMachine_" + config.name.replace("-", "_"),
        (QueueMachine,),
        {"rq": model_rq, "redis_client": redis_client, "config": config},
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


# -- the trickiest orderings, as examples --------------------------------------------------------------
def served(rq: dq.RedisQueue, queue: str, n: int = 10, **kw: Any) -> list[str]:
    return [lease.message.id for lease in rq.dequeue(queue, max_messages=n, lease_s=LEASE_S, **kw)]


def lease_of(rq: dq.RedisQueue, queue: str, **kw: Any) -> dq.Lease:
    (lease,) = rq.dequeue(queue, lease_s=LEASE_S, **kw)
    return lease


def enqueue(rq: dq.RedisQueue, queue: str, mid: str, deadline: float, **meta: str) -> str:
    return rq.enqueue(queue, b"", id=mid, deadline=deadline, metadata=meta)


def test_a_value_at_its_limit_is_skipped_and_served_first_once_free(rq: dq.RedisQueue) -> None:
    rq.create_queue("x", exclusivity_key="tenant")
    for mid, dl, tenant in [("a1", 1, "a"), ("a2", 2, "a"), ("b1", 3, "b"), ("b2", 4, "b")]:
        enqueue(rq, "x", mid, dl, tenant=tenant)
    a1 = lease_of(rq, "x")
    assert a1.message.id == "a1"
    b1 = lease_of(rq, "x")
    assert b1.message.id == "b1", "a is at its limit: b's later deadline runs"
    assert served(rq, "x") == []
    rq.complete(b1)
    rq.complete(a1)
    assert served(rq, "x", 1) == ["a2"], "a is free again: its earlier deadline comes before b's later one"
    assert served(rq, "x") == ["b2"]


def test_freeing_one_value_serves_only_that_value(rq: dq.RedisQueue) -> None:
    rq.create_queue("x", exclusivity_key="tenant")
    for mid, dl, tenant in [("a1", 1, "a"), ("b1", 2, "b"), ("a2", 3, "a"), ("b2", 4, "b"), ("c1", 5, "c")]:
        enqueue(rq, "x", mid, dl, tenant=tenant)
    leases = rq.dequeue("x", max_messages=10, lease_s=LEASE_S)
    assert [lease.message.id for lease in leases] == ["a1", "b1", "c1"]
    rq.fail(leases[0], "again", retry=True)
    assert served(rq, "x") == ["a1"], "a retried message keeps its place: a1 before a2"
    assert rq.get("x", "a1").attempts == 2
    rq.cancel("x", "b1")
    assert served(rq, "x") == ["b2"], "cancel frees b's slot"


def test_exclusivity_limit_two_with_ties(rq: dq.RedisQueue) -> None:
    rq.create_queue("x", exclusivity_key="tenant", exclusivity_limit=2)
    for mid, tenant in [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("a4", "a"), ("b2", "b")]:
        enqueue(rq, "x", mid, 7, tenant=tenant)  # one deadline: enqueue order decides
    assert served(rq, "x", 3) == ["a1", "a2", "b1"]
    assert served(rq, "x") == ["b2"]
    assert rq.stats("x").running_per_value == {"a": 2, "b": 2}
    rq.cancel("x", "a2")
    assert served(rq, "x") == ["a3"]


def test_criteria_and_exclusivity_combined(rq: dq.RedisQueue) -> None:
    rq.create_queue("x", exclusivity_key="tenant", indexed_keys=["kind"])
    enqueue(rq, "x", "a-x", 1, tenant="a", kind="x")
    enqueue(rq, "x", "a-y", 2, tenant="a", kind="y")
    enqueue(rq, "x", "b-y", 3, tenant="b", kind="y")
    enqueue(rq, "x", "b-x", 4, tenant="b", kind="x")
    a_y = lease_of(rq, "x", where={"kind": "y"})
    assert a_y.message.id == "a-y", "EDF among the matching messages only"
    assert served(rq, "x", 1, where={"kind": "x"}) == ["b-x"], "a is at its limit: a-x waits"
    assert served(rq, "x", where={"kind": "y"}) == [], "b is at its limit too"
    rq.complete(a_y)
    assert served(rq, "x", where={"kind": "y"}) == [], "b-y: b is still running b-x"
    assert served(rq, "x", where={"kind": "x"}) == ["a-x"]


def test_criteria_on_a_subset_of_the_indexed_keys(rq: dq.RedisQueue) -> None:
    rq.create_queue("s", indexed_keys=["kind", "region"])
    enqueue(rq, "s", "xn", 4, kind="x", region="n")
    enqueue(rq, "s", "x", 3, kind="x")
    enqueue(rq, "s", "ys", 2, kind="y", region="s")
    enqueue(rq, "s", "xs", 1, kind="x", region="s")
    assert served(rq, "s", 1, where={"kind": "x", "region": "n"}) == ["xn"]
    assert served(rq, "s", where={"kind": "x"}) == ["xs", "x"]
    assert served(rq, "s", where={"region": "s"}) == ["ys"]


def test_update_moves_a_message_between_values_and_criteria(rq: dq.RedisQueue) -> None:
    rq.create_queue("x", exclusivity_key="tenant", indexed_keys=["kind"])
    enqueue(rq, "x", "a1", 1, tenant="a", kind="x")
    enqueue(rq, "x", "a2", 2, tenant="a", kind="x")
    enqueue(rq, "x", "b1", 3, tenant="b", kind="x")
    assert served(rq, "x", 1) == ["a1"]
    rq.update("x", "b1", metadata={"tenant": "a", "kind": "x"}, deadline=0)
    assert served(rq, "x") == [], "b1 now belongs to a, which is at its limit"
    rq.update("x", "a2", metadata={"tenant": "c", "kind": "y"})
    assert served(rq, "x", where={"kind": "x"}) == []
    assert served(rq, "x", where={"kind": "y"}) == ["a2"], "a2 moved to value c and kind y"


def test_update_of_delay_and_deadline_reorders(rq: dq.RedisQueue) -> None:
    rq.create_queue("s")
    enqueue(rq, "s", "early", 1)
    rq.enqueue("s", b"", id="hidden", deadline=0, delay_s=LONG_DELAY_S)
    enqueue(rq, "s", "late", 9)
    rq.update("s", "early", deadline=10)
    assert rq.get("s", "hidden").state is S.INVISIBLE
    rq.update("s", "hidden", delay_s=None)
    assert served(rq, "s") == ["hidden", "late", "early"]


def test_stale_tokens_are_refused_and_change_nothing(rq: dq.RedisQueue, redis_client: redis.Redis) -> None:
    rq.create_queue("s", max_attempts=5)
    enqueue(rq, "s", "m", 1)
    first = rq.dequeue("s", lease_s=0.05)[0]
    wait_past(redis_client, first.expires_at)
    second = lease_of(rq, "s")
    assert second.token > first.token
    for call in (lambda: rq.complete(first), lambda: rq.fail(first, "x"), lambda: rq.extend(first)):
        with pytest.raises(dq.LeaseLost):
            call()
    m = rq.get("s", "m")
    assert (m.state, m.attempts, m.last_error) == (S.RUNNING, 2, "lease expired")
    rq.cancel("s", "m")
    with pytest.raises(dq.LeaseLost):
        rq.complete(second)
    assert rq.get("s", "m").state is S.CANCELED


def test_where_on_an_unindexed_key_is_refused_even_while_paused(rq: dq.RedisQueue) -> None:
    # Found by the state machine on the scripts of c6920fd: a paused queue answered [] before it
    # looked at the criteria (fixed in 3d0ea10, which validates before anything else).
    rq.create_queue("s", indexed_keys=["kind"])
    enqueue(rq, "s", "m", 1, kind="x")
    rq.pause("s")
    with pytest.raises(dq.InvalidCriteria):
        rq.dequeue("s", where={"note": "v"})
    assert served(rq, "s") == []
    rq.resume("s")
    assert served(rq, "s", where={"kind": "x"}) == ["m"]
