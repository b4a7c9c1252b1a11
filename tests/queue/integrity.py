"""An audit of one queue's Redis keys: do the sets, indexes and counters agree with the hashes?

Written from the key schema (``darkroom/queue/keys.py``), independent of the scripts: after any
call, however it ended, every message hash is in exactly the set of its state and every index
member points at a pending message indexed there. :func:`audit` lists what disagrees.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from itertools import combinations

import redis

__all__ = ["audit", "drain"]

_SETS = {
    "pending": "pending",
    "delayed": "invisible",
    "running": "running",
    "completed": "completed",
    "canceled": "canceled",
    "errored": "errored",
}


def _text(value: bytes | None) -> str:
    return "" if value is None else value.decode(errors="replace")


def _combo(pairs: list[tuple[str, str]]) -> str:
    raw = "".join(f"{k}\0{v}\0" for k, v in sorted(pairs))
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


def audit(r: redis.Redis, queue: str, *, ignore: frozenset[str] = frozenset(), namespace: str = "dr") -> list[str]:
    """Every disagreement between the message hashes of ``queue`` and its sets; ``ignore`` names
    damaged messages whose hash is expected to be in no set."""
    p = f"{namespace}:{{{queue}}}:"
    conf = {_text(k): _text(v) for k, v in r.hgetall(p + "conf").items()}
    exclusive = conf.get("kind") == "exclusive"
    xlimit = int(conf.get("xlimit", "1"))
    ikeys = conf.get("ikeys_s", "").split()
    problems: list[str] = []
    members: dict[str, str] = {}  # seqid -> set name
    for name in _SETS:
        for member in r.zrange(p + name, 0, -1):
            seqid = member.decode()
            if seqid in members:
                problems.append(f"{seqid} is in both {members[seqid]} and {name}")
            members[seqid] = name
    hashes: dict[str, dict[str, str]] = {}
    for key in r.scan_iter(match=p + "m:*", count=1000):
        mid = key.decode()[len(p) + 2 :]
        hashes[mid] = {_text(k): _text(v) for k, v in r.hgetall(key).items()}
    for seqid, name in members.items():
        mid = seqid[16:]
        h = hashes.get(mid)
        if h is None:
            problems.append(f"{name} holds {seqid} whose message hash is missing")
        elif h.get("seq") != seqid:
            problems.append(f"{name} holds {seqid} but the hash's seq is {h.get('seq')!r}")
        elif h.get("st") != _SETS[name]:
            problems.append(f"{name} holds {mid} whose hash says {h.get('st')!r}")
    registered = {m.decode() for m in r.smembers(p + "keys")}
    for mid, h in hashes.items():
        if h.get("seq") not in members and "m:" + mid not in registered:
            problems.append(f"message {mid} is in no set, and not in the registry `keys` either")
        if mid in ignore:
            continue
        if h.get("seq") not in members:
            problems.append(f"message {mid} ({h.get('st')!r}) is in no set")
    # every index key is named in the registry (what delete_queue deletes by)
    for prefix in ("ix:", "xq:", "xr:", "xc:"):
        for key in r.scan_iter(match=p + prefix + "*", count=1000):
            if key.decode()[len(p) :] not in registered:
                problems.append(f"index key {key.decode()} is not in the registry `keys`")
    # indexes of pending messages
    pending = {s: hashes[s[16:]] for s, n in members.items() if n == "pending" and s[16:] in hashes}
    expected_ix: dict[str, set[str]] = {}
    for seqid, h in pending.items():
        meta = json.loads(h.get("meta", "{}"))
        present = [(k, meta[k]) for k in sorted(ikeys) if k in meta]
        combos = [_combo(list(c)) for n in range(1, len(present) + 1) for c in combinations(present, n)]
        if sorted(combos) != sorted(h.get("ix", "").split()):
            problems.append(f"message {seqid[16:]} has ix {h.get('ix')!r}, expected {combos}")
        if exclusive:
            combos = ["", *combos]
            for c in combos:
                expected_ix.setdefault(f"xq:{c}:{h['x']}", set()).add(seqid)
        else:
            for c in combos:
                expected_ix.setdefault(f"ix:{c}", set()).add(seqid)
    found_ix: dict[str, set[str]] = {}
    for prefix in ("ix:", "xq:"):
        for key in r.scan_iter(match=p + prefix + "*", count=1000):
            found_ix[key.decode()[len(p) :]] = {m.decode() for m in r.zrange(key, 0, -1)}
    for key in sorted(set(expected_ix) | set(found_ix)):
        if expected_ix.get(key, set()) != found_ix.get(key, set()):
            extra = found_ix.get(key, set()) - expected_ix.get(key, set())
            lacking = expected_ix.get(key, set()) - found_ix.get(key, set())
            problems.append(f"index {key}: stale {sorted(extra)}, lacking {sorted(lacking)}")
    if exclusive:
        running = Counter(hashes[s[16:]].get("x") for s, n in members.items() if n == "running" and s[16:] in hashes)
        xrun = {_text(k): int(v) for k, v in r.hgetall(p + "xrun").items()}
        if xrun != dict(running):
            problems.append(f"xrun {xrun} but running per value {dict(running)}")
        ready: dict[str, dict[str, float]] = {}
        xc: dict[str, set[str]] = {}
        for key, seqids in expected_ix.items():
            _, c, x = key.split(":", 2)
            xc.setdefault(x, set()).add(c)
            if running.get(x, 0) < xlimit:
                head = min(seqids, key=lambda s: (float(pending[s]["dl"]), s))
                ready.setdefault(c, {})[head[:16] + x] = float(pending[head]["dl"])
        found_ready = {}
        for key in r.scan_iter(match=p + "xr:*", count=1000):
            found_ready[key.decode()[len(p) + 3 :]] = dict(
                (m.decode(), s) for m, s in r.zrange(key, 0, -1, withscores=True)
            )
        if found_ready != ready:
            problems.append(f"ready sets {found_ready} but expected {ready}")
        found_xc = {}
        for key in r.scan_iter(match=p + "xc:*", count=1000):
            found_xc[key.decode()[len(p) + 3 :]] = {m.decode() for m in r.smembers(key)}
        if found_xc != xc:
            problems.append(f"xc sets {found_xc} but expected {xc}")
    return problems


def drain(q: object, queue: str, *, batch: int = 1000) -> list[str]:
    """Dequeue and complete everything dequeueable now; the ids served, in order."""
    served: list[str] = []
    while True:
        leases = q.dequeue(queue, max_messages=batch, fields=["state"])  # type: ignore[attr-defined]
        if not leases:
            return served
        served += [lease.message.id for lease in leases]
        assert all(q.complete_many(leases)), "a lease just granted was lost"  # type: ignore[attr-defined]
