"""The key schema is written once (``darkroom/queue/keys.py``, ``darkroom/runtime/keys.py``) and the
scripts hold to it: read in their sources, and in the keyspace of a real Redis they ran on.

Cluster friendliness: every key one queue's scripts touch hashes to the queue's slot, and so do the
runtime's keys of one script call (a workflow's inbox, the worker directory).
"""

from __future__ import annotations

import re
from importlib import resources

import pytest
import redis
from redis.crc import key_slot

import darkroom.queue as dq
from darkroom.queue import keys as queue_keys
from darkroom.queue.admin import QueueOps
from darkroom.queue.keys import CONF_FIELDS, MESSAGE_FIELDS, QUEUE_KEYS, Keys
from darkroom.queue.scripts import SCRIPT_NAMES
from darkroom.runtime import keys as runtime_keys
from darkroom.runtime.keys import PATTERNS, RuntimeKeys
from tests.queue.keyspace import QUEUES, exercise, written_keys

KEYS = Keys()
HEADS = {kind.head for kind in QUEUE_KEYS}


def _lua(name: str) -> str:
    return resources.files("darkroom.queue").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


SOURCES = {name: _lua(name) for name in ("_lib", *SCRIPT_NAMES)}


# -- the sources ---------------------------------------------------------------------------------------
def test_every_literal_key_a_script_builds_is_in_the_schema() -> None:
    built = {
        (name, head)
        for name, text in SOURCES.items()
        for head in re.findall(r"(?<!'PUBLISH', )\b(?:P|prefix)\s*\.\.\s*'([^']*)'", text)
    }
    assert built, "the parser found no key construction"
    # the one name after P that is not a key: the wake-up channel (keys.wake_channel)
    assert {c for t in SOURCES.values() for c in re.findall(r"'PUBLISH', P \.\. '([^']*)'", t)} == {"wake"}
    assert {(n, h) for n, h in built if h not in HEADS} == set()


def test_every_set_name_a_script_passes_is_in_the_schema() -> None:
    # names that _lib's helpers turn into P .. name
    calls = r"(?:zadd|zrem|head_score|each_due|drop\(conf,|finish\(conf, m,)\s*\(?\s*'([^']*)'"
    names = {n for text in SOURCES.values() for n in re.findall(calls, text)}
    deferred = set(re.findall(r"(\w+) = true", re.search(r"local DEFERRED = \{([^}]*)\}", SOURCES["_lib"])[1]))
    assert names and deferred
    assert names | deferred <= HEADS
    # the lists of names the scripts walk: sweep's finished sets, and delete's fixed keys, which
    # must be every key of the schema with a fixed name (the others come through sets)
    (finished,) = re.findall(r"ipairs\(\{([^}]*)\}\)", SOURCES["sweep"])
    assert set(re.findall(r"'(\w+)'", finished)) == {"completed", "canceled", "errored"}
    delete = SOURCES["delete_queue"]
    fixed = re.findall(r"'(\w+)'", re.search(r"local STATE_SETS = \{([^}]*)\}", delete)[1])  # type: ignore[index]
    fixed += re.findall(r"'(\w+)'", re.search(r"local fixed = \{([^}]*)\}", delete)[1])  # type: ignore[index]
    assert sorted(fixed) == sorted(k.suffix for k in QUEUE_KEYS if "<" not in k.suffix)


def test_every_computed_key_is_built_from_a_known_name() -> None:
    """A key built from a variable must come from one of these; a new kind of construction has to be
    added here, after checking that it stays in the schema."""
    known = {
        "name",  # _lib's zadd/zrem/flush/head_score: DEFERRED and literal set names (above)
        "state",  # sweep's and delete's literal lists of sets
        "index",  # dequeue: 'pending' or 'ix:' .. c
        "s.index",  # dequeue_any: 'pending', 'ix:' .. c or 'xr:' .. c
        "names[i]",  # sweep's prune_keys: members of `keys`, each written as touch(<schema key>)
        "page[2][i]",  # delete_queue: members of `keys`
        "fixed[i]",  # delete_queue: literal names
    }
    computed = {
        expr
        for text in (t.split("]]", 1)[-1] for t in SOURCES.values())  # code, not the header
        for expr in re.findall(r"\b(?:P|prefix)\s*\.\.\s*([A-Za-z_][\w.\[\]]*)", text)
    }
    assert computed - known == set()
    # what touch() registers is a schema key too
    touched = {h for text in SOURCES.values() for h in re.findall(r"touch\('([^']*)'", text)}
    assert touched and touched <= HEADS


def _table_suffixes(text: str) -> set[str]:
    """The key suffixes a schema table lists (the Lua header or the keys.py docstring)."""
    out: set[str] = set()
    for line in text.splitlines():
        m = re.match(r"\s*(?:``P )?([a-z]+(?::<[a-z]+>)*(?:\|[a-z]+)*)(?:``)?\s+(hash|string|zset|set|stream)\b", line)
        if m:
            for part in m[1].split("|"):
                out.add(re.sub(r"<c>|<combo>", "<combo>", part).replace("<x>", "<value>"))
    return out


def test_the_lua_header_and_keys_py_list_the_same_keys() -> None:
    expected = {kind.suffix for kind in QUEUE_KEYS}
    header = SOURCES["_lib"].split("]]", 1)[0]
    assert _table_suffixes(header) == expected
    doc = queue_keys.__doc__ or ""
    assert _table_suffixes(doc.replace("``P ", "")) - {"queues"} == expected


def test_the_conf_and_message_fields_agree_everywhere() -> None:
    header = SOURCES["_lib"].split("]]", 1)[0]
    conf_line = re.search(r"conf\s+hash\s+queue settings: ([^\n]*\n[^\n]*)", header)
    assert conf_line is not None
    in_header = {w.strip(",") for w in conf_line[1].replace("(space separated)", "").split()} - {""}
    assert in_header == set(CONF_FIELDS)
    msg_line = re.search(r"m:<id>\s+hash\s+a message: ([^\n(]*)", header)
    assert msg_line is not None and msg_line[1].split() == list(MESSAGE_FIELDS)
    for field in re.findall(r"load_conf.*?c\.(\w+) = ", SOURCES["_lib"], re.DOTALL):
        assert field in CONF_FIELDS or field in {"exclusive", "ikeys"}


def test_create_queue_writes_exactly_the_conf_fields(rq: dq.RedisQueue, redis_client: redis.Redis) -> None:
    rq.create_queue("q", exclusivity_key="x", indexed_keys=["a"])
    assert {k.decode() for k in redis_client.hkeys(KEYS.conf("q"))} == set(CONF_FIELDS)


# -- the keyspace ----------------------------------------------------------------------------------------
def _classify(key: str) -> str:
    """Which schema a key belongs to: "queue:<name>", "runtime", "registry"; fails otherwise."""
    if key == KEYS.registry:
        return "registry"
    parsed = KEYS.parse(key)
    if parsed is not None:
        return f"queue:{parsed[0]}"
    rest = key.split(":", 1)[1]
    if key.startswith("dr:") and any(p.fullmatch(rest) for p in PATTERNS):
        return "runtime"
    raise AssertionError(f"key {key!r} is in no schema")


def test_every_key_written_is_in_the_schema_with_its_type(rq: dq.RedisQueue, redis_client: redis.Redis) -> None:
    with written_keys(redis_client) as written:
        exercise(rq, redis_client)
    standing = {k.decode() for k in redis_client.scan_iter(count=1000)}
    kinds_seen = set()
    for key in written | standing:
        _classify(key)  # fails for a key in no schema
        parsed = KEYS.parse(key)
        if parsed is not None:
            kinds_seen.add(parsed[1].suffix)
            if key in standing:
                assert redis_client.type(key).decode() == parsed[1].type, key
    # the workload reached every kind of key: the check above covered the whole schema
    assert kinds_seen == {kind.suffix for kind in QUEUE_KEYS}
    assert {_classify(k) for k in written} >= {"registry", "runtime", *(f"queue:{n}" for n in QUEUES)}
    # message hashes hold only the schema's fields
    for key in standing:
        parsed = KEYS.parse(key)
        if parsed is not None and parsed[1].suffix == "m:<id>":
            assert {f.decode() for f in redis_client.hkeys(key)} <= set(MESSAGE_FIELDS), key
    # a deleted queue left nothing behind
    assert not any(k.startswith("dr:{gone}") for k in standing)


def test_every_key_of_a_queue_is_in_its_slot_and_the_runtimes_keys_pair_up(
    rq: dq.RedisQueue, redis_client: redis.Redis
) -> None:
    with written_keys(redis_client) as written:
        exercise(rq, redis_client)
    slots: dict[str, set[int]] = {}
    for key in written:
        parsed = KEYS.parse(key)
        if parsed is not None:
            slots.setdefault(parsed[0], set()).add(key_slot(key.encode()))
    assert set(slots) >= set(QUEUES)
    for queue, seen in slots.items():
        assert seen == {key_slot(KEYS.prefix(queue).encode())}, queue
        assert seen == {key_slot(f"{{{queue}}}".encode())}, queue
    rt = RuntimeKeys()
    assert key_slot(rt.inbox("wf1").encode()) == key_slot(rt.generation("wf1").encode())
    assert key_slot(rt.workers_live.encode()) == key_slot(rt.workers_info.encode())
    assert {rt.inbox("wf1"), rt.generation("wf1"), rt.workers_live, rt.workers_info} <= written
    # the registry of names is the one key outside every queue's slot (written outside scripts)
    assert KEYS.registry in written


def test_runtime_tags_cannot_be_queue_names() -> None:
    """A queue named like a runtime tag would share its keys' prefix: the tags have a ':', which
    queue names cannot."""
    for tag in ("wf:x", "rt:workers"):
        with pytest.raises(dq.InvalidArgument):
            dq.DEFAULT_LIMITS.queue_name(tag)
    assert runtime_keys.__doc__ and "{rt:workers}" in runtime_keys.__doc__


def test_delete_queue_is_one_script() -> None:
    ops = QueueOps()
    ops.keys, ops.limits = KEYS, dq.DEFAULT_LIMITS
    op = ops.delete_queue("a")
    first = next(op)
    assert isinstance(first, dq.instructions.Script) and first.name == "delete_queue"
    second = op.send(1)
    assert second.commands == (("SREM", KEYS.registry, "a"),)  # type: ignore[union-attr]
