"""Operations on queues themselves: create, read, change, delete, stats, sweep (see ``core``)."""

from __future__ import annotations

from collections.abc import Sequence

from darkroom.queue import codec
from darkroom.queue.calls import CreateQueue, DeleteQueue, Sweep, UpdateQueue
from darkroom.queue.errors import InvalidArgument, QueueNotFound
from darkroom.queue.instructions import Op, Pipeline, Script
from darkroom.queue.keys import Keys
from darkroom.queue.limits import Limits
from darkroom.queue.models import QueueInfo, QueueStats, State, SweepResult
from darkroom.unset import UNSET, Unset

__all__ = ["QueueOps", "STATE_ORDER"]

STATE_ORDER = (State.INVISIBLE, State.PENDING, State.RUNNING, State.COMPLETED, State.CANCELED, State.ERRORED)


class QueueOps:
    """The queue-level half of ``core.Core``: settings, lifecycle, stats and sweeping."""

    keys: Keys
    limits: Limits

    # -- queues ------------------------------------------------------------------------------
    def create_queue(
        self,
        name: str,
        *,
        lease_s: float = 30.0,
        max_attempts: int = 3,
        retention_s: float = 7 * 86400.0,
        max_payload_bytes: int | None = None,
        exclusivity_key: str | None = None,
        exclusivity_limit: int = 1,
        indexed_keys: Sequence[str] = (),
        events_max: int = 10_000,
    ) -> Op[QueueInfo]:
        lim = self.limits
        lim.queue_name(name)
        lease_ms = round(lim.lease_s(lease_s) * 1000)
        lim.attempts(max_attempts)
        retention_ms = round(lim.seconds(retention_s, "retention_s", 0.0, 10 * 366 * 86400.0) * 1000)
        payload_cap = lim.max_payload_bytes if max_payload_bytes is None else max_payload_bytes
        lim.count(payload_cap, "max_payload_bytes", 0, lim.max_payload_bytes)
        if exclusivity_key is not None:
            lim.metadata_key(exclusivity_key, "exclusivity_key")
            lim.count(exclusivity_limit, "exclusivity_limit", 1, 1_000_000)
        if isinstance(indexed_keys, str):
            raise InvalidArgument("indexed_keys must be a sequence of keys, not a str", field="indexed_keys")
        ikeys = sorted({lim.metadata_key(k, "indexed_keys") for k in indexed_keys})
        if len(ikeys) > lim.max_indexed_keys:
            raise InvalidArgument(
                f"indexed_keys has {len(ikeys)} keys; the limit is {lim.max_indexed_keys}", field="indexed_keys"
            )
        lim.count(events_max, "events_max", 1, 10_000_000)
        settings = {
            "kind": "exclusive" if exclusivity_key else "simple",
            "xkey": exclusivity_key or "",
            "xlimit": str(exclusivity_limit if exclusivity_key else 1),
            "lease_ms": str(lease_ms),
            "max_att": str(max_attempts),
            "retention_ms": str(retention_ms),
            "max_payload": str(payload_cap),
            "ikeys_s": " ".join(ikeys),
            "events_max": str(events_max),
        }
        yield Script(self.keys.prefix(name), CreateQueue(name, tuple(settings.items())))
        yield Pipeline((("SADD", self.keys.registry, name),))
        return (yield from self.get_queue(name))

    def pause(self, queue: str) -> Op[None]:
        """Stop handing out messages (enqueue is still accepted)."""
        yield from self.update_queue(queue, paused=True)

    def resume(self, queue: str) -> Op[None]:
        yield from self.update_queue(queue, paused=False)

    def get_queue(self, name: str) -> Op[QueueInfo]:
        self.limits.queue_name(name)
        (raw,) = yield Pipeline((("HGETALL", self.keys.conf(name)),))
        if not raw:
            raise QueueNotFound(f"queue {name!r} does not exist", field="queue")
        return codec.queue_info(name, raw)

    def list_queues(self) -> Op[list[QueueInfo]]:
        (names,) = yield Pipeline((("SMEMBERS", self.keys.registry),))
        ordered = sorted(codec.text(n) for n in names)
        confs = yield Pipeline(tuple(("HGETALL", self.keys.conf(n)) for n in ordered))
        return [codec.queue_info(n, raw) for n, raw in zip(ordered, confs, strict=True) if raw]

    def update_queue(
        self,
        name: str,
        *,
        lease_s: float | Unset = UNSET,
        max_attempts: int | Unset = UNSET,
        retention_s: float | Unset = UNSET,
        max_payload_bytes: int | Unset = UNSET,
        paused: bool | Unset = UNSET,
        events_max: int | Unset = UNSET,
    ) -> Op[QueueInfo]:
        lim = self.limits
        lim.queue_name(name)
        settings: list[tuple[str, str]] = []
        if not isinstance(lease_s, Unset):
            settings.append(("lease_ms", str(round(lim.lease_s(lease_s) * 1000))))
        if not isinstance(max_attempts, Unset):
            settings.append(("max_att", str(lim.attempts(max_attempts))))
        if not isinstance(retention_s, Unset):
            seconds = lim.seconds(retention_s, "retention_s", 0.0, 10 * 366 * 86400.0)
            settings.append(("retention_ms", str(round(seconds * 1000))))
        if not isinstance(max_payload_bytes, Unset):
            cap = lim.count(max_payload_bytes, "max_payload_bytes", 0, lim.max_payload_bytes)
            settings.append(("max_payload", str(cap)))
        if not isinstance(paused, Unset):
            if not isinstance(paused, bool):
                raise InvalidArgument(f"paused {paused!r} must be a bool", field="paused")
            settings.append(("paused", "1" if paused else "0"))
        if not isinstance(events_max, Unset):
            settings.append(("events_max", str(lim.count(events_max, "events_max", 1, 10_000_000))))
        flat = yield Script(self.keys.prefix(name), UpdateQueue(name, tuple(settings)))
        return codec.queue_info(name, dict(zip(flat[::2], flat[1::2], strict=True)))

    def delete_queue(self, name: str) -> Op[bool]:
        """Delete the queue and every key of it in one atomic script (``lua/delete_queue.lua``);
        whether it existed. Its name leaves the registry of names afterwards (another slot)."""
        self.limits.queue_name(name)
        existed = yield Script(self.keys.prefix(name), DeleteQueue(name))
        yield Pipeline((("SREM", self.keys.registry, name),))
        return bool(existed)

    def stats(self, queue: str) -> Op[QueueStats]:
        self.limits.queue_name(queue)
        replies = yield Pipeline(
            (
                ("EXISTS", self.keys.conf(queue)),
                ("TIME",),
                ("HGETALL", self.keys.running_per_value(queue)),
                ("ZRANGE", self.keys.state_set(queue, "pending"), 0, 0, "WITHSCORES"),
            )
            + tuple(("ZCARD", self.keys.state_set(queue, s)) for s in STATE_ORDER)
        )
        if not replies[0]:
            raise QueueNotFound(f"queue {queue!r} does not exist", field="queue")
        now = int(replies[1][0]) + int(replies[1][1]) / 1e6
        head = replies[3]
        return QueueStats(
            queue=queue,
            counts={s: int(n) for s, n in zip(STATE_ORDER, replies[4:], strict=True)},
            running_per_value={codec.text(k): int(v) for k, v in replies[2].items()},
            oldest_pending_deadline=float(head[0][1]) / 1000.0 if head else None,
            now=now,
        )

    def sweep(self, queue: str, *, purge: bool = True, limit: int = 1000) -> Op[SweepResult]:
        self.limits.queue_name(queue)
        self.limits.count(limit, "limit", 1, 100_000)
        moved, purged, next_ms, now_ms = yield Script(self.keys.prefix(queue), Sweep(queue, limit, purge))
        return SweepResult(int(moved), int(purged), None if next_ms is None else codec.ms(next_ms), codec.ms(now_ms))
