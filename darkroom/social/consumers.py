"""The consumer-group runner: reads the events stream for one :class:`~darkroom.social.events.Handler`.

One consumer group per handler (named ``handler.name``), any number of consumers in it (each with
its own ``consumer_name``). A round (:meth:`Consumer.poll_once`):

- *recovery* (at start, after a failure, and every ``claim_every_s``): ``XAUTOCLAIM`` the entries
  other consumers left pending longer than ``claim_idle_ms`` (they died mid-batch), then read this
  consumer's own pending entries again (``XREADGROUP … 0``, which counts a delivery for each);
- otherwise new entries (``XREADGROUP … >``, blocking up to ``block_ms``).

The batch goes to ``handler.handle`` and is acknowledged (``XACK``) only after it returns, so a
crash at any point hands it to the next consumer: handlers are idempotent. When the handler raises
on a batch, its entries are tried one at a time, so one poison entry does not hold the others back;
an entry delivered ``max_deliveries`` times (failing, or killing its consumer each time) goes to the
dead-letter stream ``keys.EVENTS_DEAD`` with the error, and is acknowledged. So does an entry that
is not an event at all. docs/social.md "The events pipeline" has the details.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import orjson
import redis
from redis.typing import EncodableT, FieldT

from darkroom.social import keys
from darkroom.social.errors import InvalidInput
from darkroom.social.events import Event, Handler
from darkroom.social.metrics import ConsumerMetrics
from darkroom.social.relay_publish import DEAD_LETTER_MAXLEN

__all__ = ["MAX_CONSUMER_BATCH", "Consumer"]

log = logging.getLogger(__name__)

MAX_CONSUMER_BATCH = 1000
# XAUTOCLAIM … JUSTID through a script: redis-py's reply parser drops the cursor with JUSTID.
_AUTOCLAIM = "return redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5], 'JUSTID')"
_METRICS_EVERY_S = 5.0
_MAX_ERRORS_KEPT = 10_000


@dataclass(slots=True)
class _Delivery:
    entry_id: str
    fields: dict[str, str] | None  # None: the entry was trimmed away while pending
    deliveries: int
    event: Event | None = None
    error: str = ""


@dataclass(slots=True)
class _Round:
    settled: int = 0  # acknowledged (handled or dead-lettered)
    failed: bool = False  # the handler raised: wait before the retry
    acks: list[str] = field(default_factory=list)
    dead: list[_Delivery] = field(default_factory=list)


class Consumer:
    """Runs ``handler`` as ``consumer_name`` in the consumer group ``handler.name``."""

    def __init__(
        self,
        redis_client: redis.Redis,
        handler: Handler,
        *,
        consumer_name: str,
        batch: int = 100,
        block_ms: int = 2000,
        claim_idle_ms: int = 60_000,
        claim_every_s: float = 30.0,
        max_deliveries: int = 10,
        retry_min_s: float = 0.5,
        retry_max_s: float = 60.0,
        stream: str = keys.EVENTS,
        metrics: ConsumerMetrics | None = None,
    ) -> None:
        if not isinstance(consumer_name, str) or not consumer_name.strip():
            raise InvalidInput(f"consumer_name {consumer_name!r} is empty", field="consumer_name")
        for name, value, low, high in (
            ("batch", batch, 1, MAX_CONSUMER_BATCH),
            ("block_ms", block_ms, 1, 3_600_000),  # 0 would block forever: stop could not end run()
            ("claim_idle_ms", claim_idle_ms, 0, 86_400_000),
            ("max_deliveries", max_deliveries, 1, 1000),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InvalidInput(f"consumer {name} {value!r} is not in {low}-{high}", field=name)
        if not 0 < retry_min_s <= retry_max_s:
            raise InvalidInput(f"consumer retry_min_s {retry_min_s!r} must be positive and at most {retry_max_s!r}")
        if not claim_every_s > 0:
            raise InvalidInput(f"consumer claim_every_s {claim_every_s!r} must be positive", field="claim_every_s")
        self.redis = redis_client
        self.handler = handler
        self.group = handler.name
        self.consumer_name = consumer_name
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.claim_every_s = claim_every_s
        self.max_deliveries = max_deliveries
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.stream = stream
        self.metrics = metrics
        self._group_ready = False
        self._recover_due = True
        self._next_claim = 0.0  # monotonic
        self._next_metrics = 0.0
        self._claim_cursor = "0-0"
        self._errors: dict[str, str] = {}  # entry id -> the handler's last error on it, for its dead letter
        self._autoclaim = redis_client.register_script(_AUTOCLAIM)

    # -- running -----------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set; after a failure wait ``retry_min_s``, doubling to ``retry_max_s``."""
        retry_s = self.retry_min_s
        while not stop.is_set():
            try:
                failed = self._poll().failed
            except redis.RedisError as exc:
                log.warning(
                    "consumer %s/%s: Redis failed (retrying in %.1fs): %s", self.group, self.consumer_name, retry_s, exc
                )
                self._group_ready = False
                failed = True
            if failed:
                stop.wait(retry_s)
                retry_s = min(retry_s * 2, self.retry_max_s)
            else:
                retry_s = self.retry_min_s

    def poll_once(self) -> int:
        """One round; answer how many entries it acknowledged (handled or dead-lettered)."""
        return self._poll().settled

    def _poll(self) -> _Round:
        self._ensure_group()
        result = _Round()
        if self._recover_due or time.monotonic() >= self._next_claim:
            result = self._recover()
        if not result.settled and not result.failed:
            try:
                reply = self.redis.xreadgroup(
                    self.group, self.consumer_name, {self.stream: ">"}, count=self.batch, block=self.block_ms
                )
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                self._group_ready = False  # the stream or the group was deleted: create it again next round
                return result
            result = self._process([_Delivery(i, f, 1) for i, f in _entries(reply)])
        if result.settled or result.failed or time.monotonic() >= self._next_metrics:
            self._report()  # after every round that moved something, and now and then when idle
        return result

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            # From the start of the stream: a new consumer group also sees the history still kept.
            self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
            log.info("created consumer group %s on %s", self.group, self.stream)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def _recover(self) -> _Round:
        """Take over what dead consumers left, then retry this consumer's own pending entries."""
        self._next_claim = time.monotonic() + self.claim_every_s
        # JUSTID: the claim itself counts no delivery; the history read below counts one.
        reply = self._autoclaim(
            keys=[self.stream],
            args=[self.group, self.consumer_name, self.claim_idle_ms, self._claim_cursor, self.batch],
        )
        self._claim_cursor = _text(reply[0])
        entries = _entries(self.redis.xreadgroup(self.group, self.consumer_name, {self.stream: "0"}, count=self.batch))
        if not entries:
            self._recover_due = self._claim_cursor != "0-0"  # more to claim: go on next round
            return _Round()
        pending = self.redis.xpending_range(
            self.stream, self.group, min="-", max="+", count=self.batch, consumername=self.consumer_name
        )
        deliveries = {_text(p["message_id"]): int(p["times_delivered"]) for p in pending}
        result = self._process([_Delivery(i, f, deliveries.get(i, 1)) for i, f in entries])
        self._recover_due = result.failed or len(entries) == self.batch or self._claim_cursor != "0-0"
        return result

    # -- one batch ---------------------------------------------------------------------------------
    def _process(self, batch: list[_Delivery]) -> _Round:
        result = _Round()
        good: list[_Delivery] = []
        for d in batch:
            if d.fields is None:
                result.acks.append(d.entry_id)  # trimmed while pending: nothing left to handle
            elif d.deliveries > self.max_deliveries:
                last = self._errors.get(d.entry_id, "none seen here: its consumer may have died handling it")
                d.error = f"delivered {d.deliveries} times without being acknowledged; last error: {last}"
                result.dead.append(d)
            else:
                try:
                    d.event = Event.from_fields(d.fields)
                    good.append(d)
                except (KeyError, ValueError, TypeError) as exc:
                    d.error = f"not an event: {type(exc).__name__}: {exc}"
                    result.dead.append(d)
        if good:
            self._handle(good, result)
        self._settle(result)
        return result

    def _handle(self, good: list[_Delivery], result: _Round) -> None:
        try:
            self._call(good)
            result.acks += [d.entry_id for d in good]
            return
        except Exception as exc:
            if len(good) == 1:
                self._failed(good[0], exc, result)
                return
            log.warning("%s: a batch of %d failed (%s); trying its entries one by one", self.group, len(good), exc)
        for d in good:
            try:
                self._call([d])
                result.acks.append(d.entry_id)
            except Exception as exc:
                self._failed(d, exc, result)

    def _call(self, batch: list[_Delivery]) -> None:
        started = time.monotonic()
        self.handler.handle([d.event for d in batch if d.event is not None])
        if self.metrics:
            self.metrics.batch_seconds.labels(self.group).observe(time.monotonic() - started)

    def _failed(self, d: _Delivery, exc: Exception, result: _Round) -> None:
        error = f"{type(exc).__name__}: {exc}"[:1000]
        if d.deliveries >= self.max_deliveries:
            d.error = f"delivered {d.deliveries} times; last error: {error}"
            result.dead.append(d)
            return
        log.warning(
            "%s: entry %s failed (delivery %d of %d): %s",
            self.group,
            d.entry_id,
            d.deliveries,
            self.max_deliveries,
            error,
        )
        if len(self._errors) >= _MAX_ERRORS_KEPT:  # entries another consumer claimed never settle here
            self._errors.clear()
        self._errors[d.entry_id] = error
        result.failed = True
        self._recover_due = True
        if self.metrics:
            self.metrics.settled(self.group, "failed", 1)

    def _settle(self, result: _Round) -> None:
        """Dead letters and acknowledgements, in one MULTI (same hash tag: one slot)."""
        if not result.acks and not result.dead:
            return
        pipe = self.redis.pipeline(transaction=True)
        for d in result.dead:
            log.error("%s: entry %s dead-lettered: %s", self.group, d.entry_id, d.error)
            pipe.xadd(keys.EVENTS_DEAD, _dead_fields(self.group, d), maxlen=DEAD_LETTER_MAXLEN, approximate=True)
        ids = result.acks + [d.entry_id for d in result.dead]
        pipe.xack(self.stream, self.group, *ids)
        pipe.execute()
        for entry_id in ids:
            self._errors.pop(entry_id, None)
        result.settled = len(ids)
        if self.metrics:
            self.metrics.settled(self.group, "handled", len(result.acks))
            self.metrics.settled(self.group, "dead_lettered", len(result.dead))

    def _report(self) -> None:
        if self.metrics is None:
            return
        self._next_metrics = time.monotonic() + _METRICS_EVERY_S
        for g in self.redis.xinfo_groups(self.stream):
            if _text(g["name"]) == self.group:
                self.metrics.group_state(self.group, int(g.get("lag") or 0), int(g["pending"]))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entries(reply: object) -> list[tuple[str, dict[str, str] | None]]:
    """``(entry id, fields)`` of an XREADGROUP reply (one stream); fields None for a deleted entry."""
    if not reply:
        return []
    out: list[tuple[str, dict[str, str] | None]] = []
    for entry_id, fields in reply[0][1]:  # type: ignore[index]
        decoded = (
            {_text(k): v.decode(errors="replace") if isinstance(v, bytes) else str(v) for k, v in fields.items()}
            if fields
            else None
        )
        out.append((_text(entry_id), decoded))
    return out


def _dead_fields(group: str, d: _Delivery) -> dict[FieldT, EncodableT]:
    fields = d.fields or {}
    return {
        "source": "consumer",
        "group": group,
        "entry_id": d.entry_id,
        "deliveries": str(d.deliveries),
        "error": d.error[:1000],
        "event_id": fields.get("event_id", ""),
        "payload": orjson.dumps(fields).decode()[:65_536],
    }
