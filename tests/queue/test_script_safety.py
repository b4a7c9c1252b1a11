"""Every script is all-or-nothing at the largest batch and limit the API accepts, and carries on
past a missing or garbled message in the middle of a batch.

After each call the sets, indexes and running counts agree with the message hashes (``audit``),
and a full drain serves what was enqueued minus only the damaged message. Each test runs against
every client (``q``: Redis and gRPC). Damage is done straight in Redis, as an evicting Redis or a
delete racing a re-create would leave it.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis

import darkroom.queue as dq
from darkroom.queue.scripts import source as dq_source
from tests.queue.helpers import wait_past
from tests.queue.integrity import audit, drain

pytestmark = pytest.mark.backends("redis", "grpc")  # damage is done to Redis keys

S = dq.State
LIM = dq.DEFAULT_LIMITS
MAX_SWEEP = 100_000  # the largest sweep limit the API accepts
# More members than Lua's unpack takes in one call (about 8,000 values): one set write per
# script call would fail here, after the messages had moved.
BIG = 9_000
# Leases expiring in one sweep: 2 values per message go back into `pending` in one call.
EXPIRING = 5_000
TENANTS = 90  # exclusive queues: 100 running per value lets all of BIG run at once
KINDS = {
    "simple": {"indexed_keys": ["kind"]},
    "exclusive": {"exclusivity_key": "tenant", "exclusivity_limit": 100, "indexed_keys": ["kind"]},
}
# name -> (field, value) written over a message hash; None deletes the hash
DAMAGE: dict[str, tuple[str, str] | None] = {
    "missing": None,
    "attempts-garbled": ("att", "many"),
    "deadline-garbled": ("dl", "soon"),
    "state-garbled": ("st", "lost"),
    "recreated": ("seq", "0000000000000000other"),  # the id was deleted and enqueued again
}


def key(queue: str, mid: str) -> str:
    return f"dr:{{{queue}}}:m:{mid}"


def damage(r: redis.Redis, queue: str, mid: str, how: str) -> frozenset[str]:
    """Damage message ``mid``; answer the ids whose hash the audit must expect in no set."""
    change = DAMAGE[how]
    if change is None:
        r.delete(key(queue, mid))
        return frozenset()
    r.hset(key(queue, mid), change[0], change[1])
    return frozenset({mid})


def fill(q: Any, queue: str, n: int, *, delay_s: float = 0.0) -> list[str]:
    """Enqueue ``n`` messages in full batches, deadlines in enqueue order; their ids."""
    ids: list[str] = []
    for start in range(0, n, LIM.max_batch):
        batch = [
            dq.NewMessage(
                b"p", deadline=1_000 + i, metadata={"kind": "a", "tenant": f"t{i % TENANTS}"}, delay_s=delay_s
            )
            for i in range(start, min(n, start + LIM.max_batch))
        ]
        ids += q.enqueue_many(queue, batch)
    return ids


def now(q: Any, queue: str) -> float:
    return float(q.stats(queue).now)


def counts(q: Any, queue: str) -> dict[str, int]:
    return {s.value: n for s, n in q.stats(queue).counts.items() if n}


# -- sweep at its limit ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_sweep_at_its_limit_promotes_every_due_delay(q: Any, redis_client: redis.Redis, kind: str) -> None:
    q.create_queue("s", **KINDS[kind])
    ids = fill(q, "s", BIG, delay_s=0.001)
    wait_past(redis_client, now(q, "s") + 0.002)
    result = q.sweep("s", limit=MAX_SWEEP, purge=False)
    assert (result.moved, result.purged) == (BIG, 0)
    assert counts(q, "s") == {"pending": BIG}
    assert audit(redis_client, "s") == []
    assert drain(q, "s") == ids


@pytest.mark.parametrize("kind", KINDS)
def test_sweep_at_its_limit_expires_every_lease(q: Any, redis_client: redis.Redis, kind: str) -> None:
    q.create_queue("s", **KINDS[kind])
    ids = fill(q, "s", EXPIRING)
    leases = []
    for _ in range(0, EXPIRING, LIM.max_batch):
        leases += q.dequeue("s", max_messages=LIM.max_batch, lease_s=LIM.max_lease_s, fields=[])
    # shorten every lease only now (a dequeue expires due leases itself, an extend does not), in
    # one pipelined round trip straight to Redis
    direct = dq.RedisQueue(redis_client)
    extended = direct.batch([direct.ops.extend(lease, LIM.min_lease_s) for lease in leases])
    expiry = max(lease.expires_at for lease in extended)
    assert counts(q, "s") == {"running": EXPIRING}
    wait_past(redis_client, expiry)
    result = q.sweep("s", limit=MAX_SWEEP, purge=False)
    assert result.moved == EXPIRING
    assert counts(q, "s") == {"pending": EXPIRING}
    assert audit(redis_client, "s") == []
    assert drain(q, "s") == ids


def test_sweep_at_its_limit_purges_every_finished_message(q: Any, redis_client: redis.Redis) -> None:
    q.create_queue("s", retention_s=0, **KINDS["simple"])
    fill(q, "s", BIG)
    assert len(drain(q, "s")) == BIG
    wait_past(redis_client, now(q, "s"))
    result = q.sweep("s", limit=MAX_SWEEP, purge=True)
    assert (result.moved, result.purged) == (0, BIG)
    assert counts(q, "s") == {}
    assert list(redis_client.scan_iter(match="dr:{s}:m:*")) == []
    assert audit(redis_client, "s") == []


# -- dequeue at its maximum, past a damaged message ------------------------------------------------
@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("where", [None, {"kind": "a"}], ids=["all", "where"])
@pytest.mark.parametrize("kind", KINDS)
def test_dequeue_at_its_maximum_skips_a_damaged_message(
    q: Any, redis_client: redis.Redis, kind: str, where: dict[str, str] | None, how: str
) -> None:
    q.create_queue("d", **KINDS[kind])
    ids = fill(q, "d", LIM.max_batch)
    victim = ids[LIM.max_batch // 2]
    ignore = damage(redis_client, "d", victim, how)
    leases = q.dequeue("d", max_messages=LIM.max_batch, where=where, fields=["state", "attempts"])
    assert [lease.message.id for lease in leases] == [i for i in ids if i != victim]
    assert all(lease.message.state == S.RUNNING and lease.message.attempts == 1 for lease in leases)
    assert counts(q, "d") == {"running": LIM.max_batch - 1}
    # an index entry the message could not name is dropped by the next dequeue that reaches it
    assert q.dequeue("d", where={"kind": "a"}) == []
    assert audit(redis_client, "d", ignore=ignore) == []
    assert all(q.complete_many(leases))
    assert counts(q, "d") == {"completed": LIM.max_batch - 1}
    assert audit(redis_client, "d", ignore=ignore) == []


@pytest.mark.parametrize("how", ["missing", "attempts-garbled", "recreated"])
@pytest.mark.parametrize("kind", KINDS)
def test_sweep_drops_a_damaged_delay_and_lease_and_moves_the_rest(
    q: Any, redis_client: redis.Redis, kind: str, how: str
) -> None:
    q.create_queue("h", **KINDS[kind])
    ready = fill(q, "h", LIM.max_batch)
    leases = q.dequeue("h", max_messages=LIM.max_batch, lease_s=LIM.max_lease_s, fields=[])
    delayed = fill(q, "h", LIM.max_batch, delay_s=0.001)
    direct = dq.RedisQueue(redis_client)
    expiry = max(ls.expires_at for ls in direct.batch([direct.ops.extend(ls, LIM.min_lease_s) for ls in leases]))
    victims = {ready[LIM.max_batch // 2], delayed[LIM.max_batch // 2]}
    ignore = frozenset().union(*(damage(redis_client, "h", v, how) for v in victims))
    wait_past(redis_client, max(expiry, now(q, "h") + 0.002))
    result = q.sweep("h", limit=MAX_SWEEP, purge=False)
    assert result.moved == 2 * LIM.max_batch, "every due member left its set (two were dropped)"
    assert counts(q, "h") == {"pending": 2 * LIM.max_batch - 2}
    assert audit(redis_client, "h", ignore=ignore) == []
    assert sorted(drain(q, "h")) == sorted(set(ready + delayed) - victims)
    assert audit(redis_client, "h", ignore=ignore) == []


# -- query at its maximum, past a damaged message ----------------------------------------------------
@pytest.mark.parametrize("how", [*DAMAGE, "metadata-garbled", "created-garbled"])
@pytest.mark.parametrize("where", [None, {"kind": "a"}], ids=["all", "where"])
def test_query_at_its_maximum_skips_a_damaged_message(
    q: Any, redis_client: redis.Redis, where: dict[str, str] | None, how: str
) -> None:
    q.create_queue("r", **KINDS["simple"])
    ids = fill(q, "r", LIM.max_batch + 10)
    victim = ids[LIM.max_batch // 2]
    if how == "metadata-garbled":
        redis_client.hset(key("r", victim), "meta", "{not json")
    elif how == "created-garbled":
        redis_client.hset(key("r", victim), "ca", "yesterday")
    else:
        damage(redis_client, "r", victim, how)
    # a read skips a member whose message is gone (or another's now) and one whose metadata it
    # cannot match; any other garbled field is shown unset until a dequeue or sweep drops it
    gone = how in ("missing", "recreated") or (how == "metadata-garbled" and where is not None)
    shown = [i for i in ids if i != victim or not gone]
    page = q.query("r", state="pending", where=where, limit=LIM.max_batch)
    rest = q.query("r", state="pending", where=where, limit=LIM.max_batch, cursor=page.next_cursor)
    assert [m.id for m in page.messages + rest.messages] == shown
    assert rest.next_cursor is None
    listed = {m.id: m for m in page.messages}
    if how == "created-garbled":
        assert listed[victim].created_at == 0.0 and listed[victim].state == S.PENDING


# -- forged cursors -----------------------------------------------------------------------------------
def _b64(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


FORGED = {
    "score-not-a-number": _b64(b'["pending", "soon", "00000000000000001x"]'),
    "score-with-spaces": _b64(b'["pending", " 12", "00000000000000001x"]'),
    "wrong-shape-object": _b64(b'{"state": "pending", "score": "1", "member": "m"}'),
    "wrong-shape-short": _b64(b'["pending", "1"]'),
    "wrong-types": _b64(b'["pending", 1, 2]'),
    "unknown-state": _b64(b'["lost", "1", "m"]'),
    "base64-garbage": "!!!not-base64***",
    "json-garbage": _b64(b"\xff\xfe not json"),
}


@pytest.mark.parametrize("forged", FORGED)
def test_a_forged_cursor_is_an_invalid_argument_naming_it(q: Any, redis_client: redis.Redis, forged: str) -> None:
    q.create_queue("c")
    fill(q, "c", 3)
    cursor = FORGED[forged]
    with pytest.raises(dq.InvalidArgument, match="cursor") as err:
        q.query("c", state="pending", limit=1, cursor=cursor)
    assert err.value.field == "cursor"
    assert cursor[:20] in str(err.value)
    assert audit(redis_client, "c") == []


def test_a_cursor_score_redis_cannot_read_is_refused_by_the_script_too(redis_client: redis.Redis) -> None:
    direct = dq.RedisQueue(redis_client)
    direct.create_queue("c")
    script = redis_client.register_script(dq_source("query"))
    with pytest.raises(redis.ResponseError, match="DR_INVALID_ARGUMENT cursor score soon"):
        script(keys=["dr:{c}:"], args=["c", "pending", "soon", "00000000000000001x", 1, 10, 0, 0])


# -- settle at its maximum, past a damaged lease -----------------------------------------------------
@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("kind", KINDS)
def test_settle_at_its_maximum_loses_only_a_damaged_lease(
    q: Any, redis_client: redis.Redis, kind: str, how: str
) -> None:
    q.create_queue("t", max_attempts=5, **KINDS[kind])
    ids = fill(q, "t", LIM.max_batch)
    leases = q.dequeue("t", max_messages=LIM.max_batch, lease_s=LIM.max_lease_s, fields=[])
    victim = ids[LIM.max_batch // 2]
    ignore = damage(redis_client, "t", victim, how)
    # completions, retried failures and final failures, interleaved
    items = [
        dq.Settlement.complete(ls, b"r") if i % 3 == 0 else dq.Settlement.fail(ls, "why", retry=i % 3 == 1)
        for i, ls in enumerate(leases)
    ]
    outcomes = q.settle(items)
    assert [i for i, o in zip(ids, outcomes, strict=True) if o.outcome is dq.Outcome.LOST] == [victim]
    done = {s: sum(1 for i, it in enumerate(items) if ids[i] != victim and i % 3 == s) for s in range(3)}
    assert counts(q, "t") == {"completed": done[0], "pending": done[1], "errored": done[2], "running": 1}
    # the victim's member stays in `running` until its lease runs out; age it, and a sweep drops it
    member = next(m for m in redis_client.zrange("dr:{t}:running", 0, -1) if m.decode().endswith(victim))
    redis_client.zadd("dr:{t}:running", {member: 0})
    assert q.sweep("t", purge=False).moved == 1
    assert counts(q, "t") == {"completed": done[0], "pending": done[1], "errored": done[2]}
    assert audit(redis_client, "t", ignore=ignore) == []
    assert len(drain(q, "t")) == done[1]


# -- by-id calls on a damaged message ----------------------------------------------------------------
def _snapshot(r: redis.Redis) -> dict[bytes, Any]:
    out: dict[bytes, Any] = {}
    for k in r.scan_iter(count=1000):
        kind = r.type(k)
        if kind == b"zset":
            out[k] = r.zrange(k, 0, -1, withscores=True)
        elif kind == b"hash":
            out[k] = r.hgetall(k)
        elif kind == b"set":
            out[k] = r.smembers(k)
        elif kind == b"stream":
            out[k] = r.xlen(k)
        else:
            out[k] = r.get(k)
    return out


@pytest.mark.parametrize("how", [d for d in DAMAGE if d != "missing"])
def test_calls_by_id_refuse_a_damaged_message_and_write_nothing(q: Any, redis_client: redis.Redis, how: str) -> None:
    q.create_queue("b", **KINDS["exclusive"])
    (mid,) = fill(q, "b", 1)
    (lease,) = q.dequeue("b")
    damage(redis_client, "b", mid, how)
    before = _snapshot(redis_client)
    calls = {
        "cancel": lambda: q.cancel("b", mid),
        "redrive": lambda: q.redrive("b", mid),
        "update": lambda: q.update("b", mid, payload=b"new"),
        "extend": lambda: q.extend(lease, lease_s=10),
    }
    for name, call in calls.items():
        with pytest.raises(dq.MessageNotFound, match=mid):
            call()
        assert _snapshot(redis_client) == before, f"{name} of a damaged message wrote something"


# -- enqueue at its maximum ------------------------------------------------------------------------
IKEYS = [f"k{i}".ljust(LIM.max_metadata_key_chars, "x") for i in range(LIM.max_indexed_keys)]


def widest(i: int) -> dict[str, str]:
    """Metadata at every limit: the most entries, the longest keys and values, every key indexed."""
    meta = {f"m{j}".ljust(LIM.max_metadata_key_chars, "x"): "v" * LIM.max_metadata_value_chars for j in range(32)}
    for n, k in enumerate(IKEYS):
        meta.pop(next(iter(meta)))
        meta[k] = f"{i % (n + 2)}".ljust(LIM.max_metadata_value_chars, "v")
    assert len(meta) == LIM.max_metadata_entries
    return meta


@pytest.mark.parametrize("kind", ["simple", "exclusive"])
def test_enqueue_at_its_maximum_batch_and_metadata(q: Any, redis_client: redis.Redis, kind: str) -> None:
    settings: dict[str, Any] = {"indexed_keys": IKEYS}
    if kind == "exclusive":
        settings |= {"exclusivity_key": IKEYS[0], "exclusivity_limit": LIM.max_batch}
    q.create_queue("e", **settings)
    batch = [dq.NewMessage(b"p", deadline=1_000 + i, metadata=widest(i)) for i in range(LIM.max_batch)]
    ids = q.enqueue_many("e", batch)
    assert counts(q, "e") == {"pending": LIM.max_batch}
    assert audit(redis_client, "e") == []
    # a where over every indexed key pops one index: the messages of that combination, in order
    where = {k: v for k, v in widest(0).items() if k in IKEYS}
    leases = q.dequeue("e", max_messages=LIM.max_batch, where=where, fields=["metadata"])
    assert [ls.message.id for ls in leases] == [m for i, m in enumerate(ids) if widest(i) == widest(0)]
    assert all(ls.message.metadata == widest(0) for ls in leases)
    assert audit(redis_client, "e") == []
    assert sorted(drain(q, "e") + [ls.message.id for ls in leases]) == sorted(ids)
    assert audit(redis_client, "e") == []


@pytest.mark.parametrize(
    "broken",
    ["payload-too-large", "too-many-entries", "no-exclusivity-value", "same-id-other-content"],
)
def test_an_enqueue_at_its_maximum_with_one_broken_message_writes_nothing(
    q: Any, redis_client: redis.Redis, broken: str
) -> None:
    q.create_queue("e", exclusivity_key="tenant", indexed_keys=["kind"])
    q.enqueue("e", b"old", id="taken", metadata={"tenant": "t"})
    before = _snapshot(redis_client)
    batch = [dq.NewMessage(b"p", metadata={"tenant": f"t{i}", "kind": "a"}) for i in range(LIM.max_batch)]
    middle = LIM.max_batch // 2
    bad = {
        "payload-too-large": dq.NewMessage(b"x" * (LIM.max_payload_bytes + 1), metadata={"tenant": "t"}),
        "too-many-entries": dq.NewMessage(b"p", metadata={f"k{j}": "v" for j in range(LIM.max_metadata_entries + 1)}),
        "no-exclusivity-value": dq.NewMessage(b"p", metadata={"kind": "a"}),
        "same-id-other-content": dq.NewMessage(b"new", id="taken", metadata={"tenant": "t"}),
    }
    batch[middle] = bad[broken]
    with pytest.raises((dq.InvalidArgument, dq.Conflict)):
        q.enqueue_many("e", batch)
    assert _snapshot(redis_client) == before


def test_enqueue_at_the_largest_payload(q: Any, redis_client: redis.Redis) -> None:
    q.create_queue("e")
    biggest = bytes(range(256)) * (LIM.max_payload_bytes // 256)
    ids = q.enqueue_many("e", [dq.NewMessage(biggest) for _ in range(4)])
    leases = q.dequeue("e", max_messages=LIM.max_batch, fields=["payload"])
    assert [(ls.message.id, ls.message.payload) for ls in leases] == [(i, biggest) for i in ids]
    assert audit(redis_client, "e") == []


def test_enqueue_over_a_damaged_leftover_replaces_it_whole(q: Any, redis_client: redis.Redis) -> None:
    q.create_queue("e", indexed_keys=["kind"], retention_s=0)
    q.enqueue("e", b"old", id="x", metadata={"kind": "a"})
    (lease,) = q.dequeue("e")
    q.complete(lease, b"old result")
    redis_client.hdel(key("e", "x"), "dg")  # its digest is gone: the content cannot be compared
    q.enqueue("e", b"new", id="x")
    m = q.get("e", "x")
    assert (m.state, m.payload, m.metadata, m.result, m.attempts) == (S.PENDING, b"new", {}, None, 0)
    # the old member in `completed` names a message that is not its own any more: purging it
    # leaves the new message alone
    assert q.sweep("e").purged == 1
    assert audit(redis_client, "e") == []
    assert [ls.message.id for ls in q.dequeue("e", max_messages=10)] == ["x"]


# -- damaged queue keys ------------------------------------------------------------------------------
@pytest.mark.parametrize("what", ["fence", "setting"])
def test_a_damaged_queue_key_refuses_a_dequeue_before_it_writes(q: Any, redis_client: redis.Redis, what: str) -> None:
    q.create_queue("f")
    fill(q, "f", 3)
    q.dequeue("f")  # the fence exists
    if what == "fence":
        redis_client.set("dr:{f}:fence", "many")
    else:
        redis_client.hset("dr:{f}:conf", "lease_ms", "long")
    before = _snapshot(redis_client)
    with pytest.raises(dq.QueueDamaged, match="queue f has a damaged"):
        q.dequeue("f", max_messages=LIM.max_batch)
    assert _snapshot(redis_client) == before


def test_damaged_counters_and_events_do_not_fail_a_call_that_wrote(q: Any, redis_client: redis.Redis) -> None:
    q.create_queue("g")
    ids = fill(q, "g", LIM.max_batch)
    redis_client.hset("dr:{g}:counters", "dequeued", "lots")
    redis_client.delete("dr:{g}:events")
    redis_client.set("dr:{g}:events", "not a stream")
    leases = q.dequeue("g", max_messages=LIM.max_batch)
    assert [ls.message.id for ls in leases] == ids
    assert redis_client.hget("dr:{g}:counters", "dequeued") == str(LIM.max_batch).encode()
    assert audit(redis_client, "g") == []


@pytest.mark.parametrize("where", [None, {"kind": "a"}], ids=["all", "where"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_message_whose_combo_list_lost_an_index_is_served_once(
    q: Any, redis_client: redis.Redis, kind: str, where: dict[str, str] | None
) -> None:
    q.create_queue("i", **KINDS[kind])
    ids = fill(q, "i", 10)
    redis_client.hset(key("i", ids[5]), "ix", "")
    leases = q.dequeue("i", max_messages=LIM.max_batch, where=where)
    assert [ls.message.id for ls in leases] == ids
    assert q.dequeue("i", where={"kind": "a"}) == []
    assert audit(redis_client, "i") == []


def test_enqueue_at_the_largest_ids_deadlines_delays_and_attempts(q: Any, redis_client: redis.Redis) -> None:
    q.create_queue("l", indexed_keys=["kind"])
    latest = 99_999_999_999.0  # the largest deadline the API accepts (epoch seconds)
    batch = [
        dq.NewMessage(
            b"p",
            deadline=latest - i,
            metadata={"kind": "a"},
            id=f"{i:04d}".ljust(LIM.max_id_chars, "z"),
            delay_s=LIM.max_delay_s if i % 2 else 0.0,
            max_attempts=LIM.max_attempts,
        )
        for i in range(LIM.max_batch)
    ]
    ids = q.enqueue_many("l", batch)
    assert counts(q, "l") == {"pending": LIM.max_batch // 2, "invisible": LIM.max_batch // 2}
    far = q.get("l", ids[1])
    assert (far.deadline, far.max_attempts) == (latest - 1, LIM.max_attempts)
    assert far.visible_at is not None and far.visible_at - far.created_at == pytest.approx(LIM.max_delay_s)
    leases = q.dequeue("l", max_messages=LIM.max_batch, where={"kind": "a"})
    assert [ls.message.id for ls in leases] == ids[0::2][::-1], "earliest deadline first"
    assert audit(redis_client, "l") == []


def test_update_at_the_largest_payload_and_metadata(q: Any, redis_client: redis.Redis) -> None:
    q.create_queue("u", indexed_keys=IKEYS, exclusivity_key=IKEYS[0])
    ids = [q.enqueue("u", b"p", deadline=1_000 + i, metadata=widest(i)) for i in range(3)]
    biggest = b"b" * LIM.max_payload_bytes
    q.update("u", ids[1], payload=biggest, metadata=widest(0), deadline=1)
    assert audit(redis_client, "u") == []
    where = {k: v for k, v in widest(0).items() if k in IKEYS}
    leases = q.dequeue("u", max_messages=LIM.max_batch, where=where, fields=["payload"])
    assert [(ls.message.id, len(ls.message.payload)) for ls in leases] == [(ids[1], len(biggest))]
    assert audit(redis_client, "u") == []


def test_settle_at_the_largest_batch_of_the_largest_results(q: Any, redis_client: redis.Redis) -> None:
    q.create_queue("r")
    ids = fill(q, "r", LIM.max_batch)
    leases = q.dequeue("r", max_messages=LIM.max_batch, fields=[])
    result = b"r" * LIM.max_result_bytes
    assert all(q.complete_many(leases, [result] * len(leases)))
    assert counts(q, "r") == {"completed": LIM.max_batch}
    assert q.get("r", ids[-1], fields=["result"]).result == result
    assert audit(redis_client, "r") == []


def test_enqueue_at_the_largest_batch_bytes(q: Any, redis_client: redis.Redis) -> None:
    q.create_queue("e")
    mib = LIM.max_payload_bytes
    n = LIM.max_batch_bytes // mib
    over = [dq.NewMessage(b"x" * mib) for _ in range(n)] + [dq.NewMessage(b"", metadata={"k": "v"})]
    with pytest.raises(dq.InvalidArgument, match=f"{LIM.max_batch_bytes + 2} bytes") as err:
        q.enqueue_many("e", over)
    assert err.value.field == "messages"
    assert list(redis_client.scan_iter(match="dr:{e}:m:*")) == []
    ids = q.enqueue_many("e", over[:n])  # exactly at the limit
    assert counts(q, "e") == {"pending": n}
    assert [ls.message.id for ls in q.dequeue("e", max_messages=LIM.max_batch, fields=[])] == ids
    assert audit(redis_client, "e") == []


def test_create_and_update_queue_at_every_largest_setting(q: Any, redis_client: redis.Redis) -> None:
    largest = {
        "lease_s": LIM.max_lease_s,
        "max_attempts": LIM.max_attempts,
        "retention_s": 10 * 366 * 86400.0,
        "max_payload_bytes": LIM.max_payload_bytes,
        "events_max": 10_000_000,
    }
    info = q.create_queue(
        "z" * 100, exclusivity_key=IKEYS[0], exclusivity_limit=1_000_000, indexed_keys=IKEYS, **largest
    )
    assert (info.exclusivity_limit, info.indexed_keys, info.events_max) == (1_000_000, tuple(IKEYS), 10_000_000)
    assert q.update_queue("z" * 100, paused=False, **largest).lease_s == LIM.max_lease_s
    ids = q.enqueue_many("z" * 100, [dq.NewMessage(b"p", metadata=widest(i)) for i in range(LIM.max_batch)])
    assert sorted(drain(q, "z" * 100)) == sorted(ids), "a limit of 1,000,000 per value holds none back"
    assert audit(redis_client, "z" * 100) == []


# -- the worker's scripts: dequeue_any and enqueue_lease ---------------------------------------------
@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("kind", KINDS)
def test_dequeue_any_at_its_maximum_skips_a_damaged_message(
    redis_client: redis.Redis, rq: dq.RedisQueue, kind: str, how: str
) -> None:
    from darkroom.queue.multi import Source

    for name in ("d1", "d2"):
        rq.create_queue(name, **KINDS[kind])
    first, second = fill(rq, "d1", LIM.max_batch // 2), fill(rq, "d2", LIM.max_batch // 2)
    victim = first[len(first) // 2]
    ignore = damage(redis_client, "d1", victim, how)
    sources = [Source("d1", where={"kind": "a"}), Source("d2"), Source("d1")]
    leases = rq.dequeue_any(sources, max_messages=LIM.max_batch)
    assert sorted(lease.message.id for lease in leases) == sorted([i for i in first if i != victim] + second)
    assert counts(rq, "d1") == {"running": len(first) - 1} and counts(rq, "d2") == {"running": len(second)}
    assert audit(redis_client, "d1", ignore=ignore) == [] and audit(redis_client, "d2") == []
    for name in ("d1", "d2"):  # a settle takes one queue's leases
        assert all(rq.complete_many([lease for lease in leases if lease.queue == name]))
    assert counts(rq, "d1") == {"completed": len(first) - 1}
    assert audit(redis_client, "d1", ignore=ignore) == [] and audit(redis_client, "d2") == []


def test_dequeue_any_refuses_a_damaged_fence_before_it_writes(redis_client: redis.Redis, rq: dq.RedisQueue) -> None:
    from darkroom.queue.multi import Source

    for name in ("ok", "f"):
        rq.create_queue(name)
        fill(rq, name, 3)
    rq.dequeue("f")  # the fence exists
    redis_client.set("dr:{f}:fence", "many")
    before = _snapshot(redis_client)
    with pytest.raises(dq.QueueDamaged, match="queue f has a damaged"):
        rq.dequeue_any([Source("ok"), Source("f")], max_messages=LIM.max_batch)
    assert _snapshot(redis_client) == before


def test_enqueue_lease_refuses_a_damaged_fence_before_the_enqueue_writes(
    redis_client: redis.Redis, rq: dq.RedisQueue
) -> None:
    rq.create_queue("f")
    fill(rq, "f", 3)
    rq.dequeue("f")
    redis_client.set("dr:{f}:fence", "many")
    before = _snapshot(redis_client)
    batch = [dq.NewMessage(b"x", id=f"n{i}") for i in range(LIM.max_batch)]
    with pytest.raises(dq.QueueDamaged, match="queue f has a damaged"):
        rq.enqueue_lease("f", batch, max_messages=LIM.max_batch)
    assert _snapshot(redis_client) == before


@pytest.mark.parametrize("how", DAMAGE)
def test_enqueue_lease_at_its_maximum_skips_a_damaged_message(
    redis_client: redis.Redis, rq: dq.RedisQueue, how: str
) -> None:
    rq.create_queue("e")
    old = fill(rq, "e", 10)
    ignore = damage(redis_client, "e", old[5], how)
    fresh = [dq.NewMessage(b"x", id=f"n{i}", deadline=5_000 + i) for i in range(LIM.max_batch)]
    got = rq.enqueue_lease("e", fresh, max_messages=LIM.max_batch)
    assert got.ids == [m.id for m in fresh]
    served = [lease.message.id for lease in got.leases]
    assert served == [i for i in old if i != old[5]] + [m.id for m in fresh][: LIM.max_batch - 9]
    assert audit(redis_client, "e", ignore=ignore) == []
    assert all(rq.complete_many(got.leases))
    assert drain(rq, "e") == [m.id for m in fresh][LIM.max_batch - 9 :]
    assert audit(redis_client, "e", ignore=ignore) == []
