"""The function worker: lease tasks, run them, heartbeat, settle, report to workflows.

Four threads and a pool: the *leaser* dequeues batches for its free slots from every queue it
serves in one call, earliest deadline first across them (``dequeue_any``; a long poll woken by any
of them, so an idle worker costs Redis nothing); each task runs in a pool thread (its body in a
warm child of the worker's process pool for ``executor="process"`` functions, in a child process
of its own for ``isolation="process"`` ones); the *settler* batches finished tasks — workflow reports and their
ticks first, then one ``settle`` per queue — so a busy worker pays three round trips per batch, not
per task; the *heartbeat* extends leases, enforces timeouts, and stops tasks whose lease was lost
(cancel); the *presence* thread keeps the worker in the worker directory (host, queues).
Input blobs come through the host's :class:`~darkroom.runtime.blob_cache.BlobCache` when given.

With an ``engine``, the worker also advances the runs of the tasks it finished, under each run's
tick lease on the exclusive events queue (the engines' own guarantee), takes the next tasks in
the same round trip as their enqueue, and keeps a run's tick for the report of a task it took
(:mod:`darkroom.runtime.advancer`; docs/runtime.md, "Workers that advance their runs").

Stopping (SIGTERM): no more leasing; running tasks get ``grace_s`` to finish; the rest are told to
stop and handed back to the queue for a retry. A SIGKILL loses nothing either: the leases expire
and the tasks run again elsewhere, which is why functions must be idempotent.
"""

from __future__ import annotations

import logging
import math
import os
import queue as stdqueue
import socket
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import darkroom.queue as dq
from darkroom.runtime import advancer, attempt
from darkroom.runtime.advancer import Advancer
from darkroom.runtime.attempt import Attempt, Finished
from darkroom.runtime.blob_cache import BlobCache
from darkroom.runtime.context import TaskContext
from darkroom.runtime.directory import WorkerDirectory, WorkerInfo, keep_announced
from darkroom.runtime.errors import InvalidWorkflow, RuntimeLayerError
from darkroom.runtime.functions import Executor, Function, Registry
from darkroom.runtime.metrics import WorkerMetrics
from darkroom.runtime.process_pool import ProcessPool
from darkroom.runtime.queues import ensure_queues, worker_filters
from darkroom.runtime.reporter import Reporter
from darkroom.runtime.task import TaskSpec
from darkroom.runtime.workflow.engine import Engine
from darkroom.runtime.workflow.inbox import Inbox
from darkroom.runtime.workflow.queue_work import Take

__all__ = ["Worker"]

_log = logging.getLogger(__name__)

ANNOUNCE_S = 0.25  # a task running this long wakes its workflow's engine to show it as running
PARK_S = 0.05  # a finished map item waits at most this long for a sibling, to settle with it (see _park)
PARK_MAX = 32  # and at most this many wait together
PARK_MIN_LEFT_S = 2.0  # and only a task whose lease has this long left (its lease is not extended meanwhile)


class Worker:
    def __init__(
        self,
        queue: dq.RedisQueue,
        registry: Registry,
        *,
        blobs: Any = None,
        blob_cache: BlobCache | None = None,
        queues: list[str] | None = None,
        concurrency: int = 4,
        shape: dict[str, str] | None = None,
        name: str | None = None,
        host: str | None = None,
        scratch_root: Path = Path(".darkroom/scratch"),
        inbox: Inbox | None = None,
        wait_s: float = 1.0,
        grace_s: float = 30.0,
        metrics: WorkerMetrics | None = None,
        engine: Engine | None = None,
        processes: int | None = None,
    ) -> None:
        self.queue = queue
        self.registry = registry
        self.blobs = blobs
        self.blob_cache = blob_cache
        self.queues = queues or registry.queues()
        self.concurrency = concurrency
        self.shape = shape or {}
        self.host = host or socket.gethostname()
        self.name = name or f"{self.host}:{os.getpid()}"
        self.directory = WorkerDirectory.of(queue)
        # one directory per worker process, so a restarted worker can sweep what a killed one left
        self.scratch_root = scratch_root / str(os.getpid())
        self._scratch_parent = scratch_root
        self.inbox = inbox or Inbox(queue)
        self.reports = Reporter(self.inbox, self.name)
        self.wait_s = wait_s
        self.grace_s = grace_s
        self.metrics = metrics
        # With an engine, the worker advances the runs of the tasks it finished itself, under the
        # run's tick lease (see _settle); without one, engines do it when the tick wakes them.
        self.engine = engine
        self._advancer: Advancer | None = None
        self._stopping = threading.Event()
        self._first_filter: dict[str, dict[str, str] | None] = {}
        self._settling = threading.Lock()  # one thread settles (and advances) at a time
        self._local = threading.local()  # .kept: tasks a pool thread's own pass took
        # One thread more than slots: a pool thread that finished its task may settle and advance
        # its run (one at a time, under ``_settling``) after its slot was freed and refilled; the
        # task that took the slot must not wait for that thread.
        self._pool = ThreadPoolExecutor(concurrency + 1, thread_name_prefix="darkroom-fn")
        # CPU-bound Python functions (executor="process") run in warm children, one per core by
        # default: the thread running such a task waits for a child's answer
        needs_children = any(f.executor is Executor.PROCESS for f in registry if f.queue in self.queues)
        self.processes = processes or os.cpu_count() or 1
        self._children = ProcessPool(self.processes) if needs_children else None
        self._lock = threading.Lock()
        self._running: dict[tuple[str, int], Attempt] = {}
        self._slot_freed = threading.Event()
        self._done: stdqueue.Queue[Finished] = stdqueue.Queue()
        # Finished map items parked until a sibling finishes too (see _park), under _lock
        self._parked: list[Finished] = []
        self._parked_since = 0.0
        self._quit = threading.Event()
        self._grant: dict[str, float] = {}

    # -- the leaser --------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set, then shut down gracefully (see the module docstring)."""
        served = set(self.registry.queues())
        unknown = sorted(set(self.queues) - served)
        if not self.queues or unknown:
            raise InvalidWorkflow(
                f"no registered function uses the queues {unknown}" if unknown else "the registry has no functions"
            )
        attempt.sweep_scratch(self._scratch_parent)
        self.warm()
        keys = ensure_queues(self.queue, self.registry)
        if self.engine is not None:
            self.engine.setup()
            if self.engine.claimable:
                self._advancer = Advancer(self.queue, self.inbox, self.reports, self.engine, grab=self)
            else:
                _log.warning(
                    "the events queue %s does not index 'workflow' (created by an older version): "
                    "this worker leaves advancing its runs to the engines",
                    self.inbox.events_queue,
                )
        sources = [(q, w) for q in self.queues for w in worker_filters(self.shape, keys.get(q, ()))]
        self._stopping = stop
        for q, w in reversed(sources):
            self._first_filter[q] = w
        # Lease as briefly as the quickest function of a queue needs; the heartbeat stretches the
        # lease to the function's own ``lease_s`` once the task is known.
        self._grant = {q: min(f.lease_s for f in self.registry if f.queue == q) for q in self.queues}
        settler = threading.Thread(target=self._settle_loop, name="darkroom-settler", daemon=True)
        heart = threading.Thread(target=self._heartbeat_loop, name="darkroom-heartbeat", daemon=True)
        me = WorkerInfo(self.name, self.host, tuple(self.queues), self.shape)
        presence = threading.Thread(
            target=keep_announced, args=(self.directory, me, self._quit), name="darkroom-presence", daemon=True
        )
        settler.start()
        heart.start()
        presence.start()
        # One dequeue over every (queue, filter) this worker serves: earliest deadline first across
        # them, and one wait for a wake-up of any of them (no empty queue is waited on in turn).
        everywhere = [dq.Source(q, w, self._grant[q]) for q, w in sources]
        try:
            while not stop.is_set():
                with self._lock:
                    free = self.concurrency - len(self._running)
                if free <= 0:
                    # short: a full worker notices ``stop`` at once too, and hands back what runs
                    self._slot_freed.wait(0.05)
                    self._slot_freed.clear()
                    continue
                try:
                    if len(everywhere) == 1:
                        only = everywhere[0]
                        leases = self.queue.dequeue(
                            only.queue, max_messages=free, where=only.where, wait_s=self.wait_s, lease_s=only.lease_s
                        )
                    else:
                        leases = self.queue.dequeue_any(everywhere, max_messages=free, wait_s=self.wait_s)
                except (dq.Unavailable, ConnectionError) as exc:
                    _log.warning("dequeue from %s failed: %s", self.queues, exc)
                    stop.wait(1.0)
                    continue
                if leases:
                    self._start(leases)
        finally:
            self._shutdown()
            self._quit.set()
            settler.join(timeout=30)
            heart.join(timeout=5)
            presence.join(timeout=5)
            if self.engine is not None:
                self.engine.close()
            self._pool.shutdown(wait=False, cancel_futures=True)
            if self._children is not None:
                self._children.close()

    def warm(self) -> None:
        """Start the process pool's children (when a served function needs them) before any task
        does; :meth:`run` calls it, and a caller may call it earlier."""
        if self._children is not None:
            self._children.warm([f for f in self.registry if f.executor is Executor.PROCESS])

    def _start(self, leases: list[dq.Lease]) -> None:
        for lease in leases:
            mid = lease.message.id
            scratch = self.scratch_root / f"{mid.replace(':', '_')}-{lease.token}"
            spec: TaskSpec | None = None
            fn: Function | None = None
            error = ""
            try:
                spec = TaskSpec.decode(lease.message.payload)
                fn = self.registry.get(spec.fn)
            except RuntimeLayerError as exc:
                error = str(exc)
            ctx = TaskContext(
                task_id=mid,
                attempt=lease.message.attempts,
                scratch_path=scratch,
                workflow_id=spec.workflow_id if spec else None,
                step=spec.step if spec else None,
                item=spec.idx if spec else 0,
            )
            task = Attempt(lease, spec, fn, ctx, lease_s=self._grant.get(lease.queue, 30.0))
            if spec is not None and spec.batch is None:  # a batch's items report no progress of their own
                ctx.report = lambda f, m, t=task: self.reports.progress(
                    t.spec, t.lease.message.deadline, t.lease.message.attempts, f, m
                )
            with self._lock:
                self._running[task.key] = task
            if self.metrics:
                self.metrics.in_flight.inc()
            if error:
                self._done.put(Finished(task, False, error=error, retry=False, outcome="failed"))
                self._release(task)
                continue
            # Quick tasks report their start together with their result; only a task still
            # running after ANNOUNCE_S tells the engine it runs (see the heartbeat).
            kept = getattr(self._local, "kept", None)
            if kept is not None:
                kept.append(task)  # taken by a pass this pool thread runs: it runs the task next
            else:
                self._pool.submit(self._execute, task)

    # -- running one task --------------------------------------------------------------------------
    def _execute(self, task: Attempt) -> None:
        next_task: Attempt | None = task
        while next_task is not None:
            next_task = self._execute_one(next_task)

    def _execute_one(self, task: Attempt) -> Attempt | None:
        """Run one task; answers the next one this thread should run (one its own pass took)."""
        done = attempt.perform(task, self.blobs, self.queue.limits.max_result_bytes, self.blob_cache, self._children)
        self._release(task)
        if self._advancer is not None and self._park(done):
            return None
        if self._advancer is not None and self._settling.acquire(blocking=False):
            # The settler is idle: settle here rather than wake it (a thread hop on the path from
            # one step of a chain to the next). Whoever holds the lock settles; the rest queue.
            # Tasks the pass takes for this worker (the chain's next step) run on this thread
            # next, the first of them without handing it to another thread.
            kept: list[Attempt] = []
            self._local.kept = kept
            try:
                self._settle_now([done, *self._take_parked(), *self._drain_done()])
            finally:
                self._local.kept = None
                self._settling.release()
            for other in kept[1:]:
                self._pool.submit(self._execute, other)
            return kept[0] if kept else None
        self._done.put(done)
        return None

    def _park(self, done: Finished) -> bool:
        """Hold back the report of a task while another task of its run still runs in this worker
        (a map's items), so that one pass settles several: a pass per item costs the worker's
        process more CPU than a small item itself. Never a run's last task here (a chain's step,
        a map's last item in this worker): that one settles at once, with everything parked. At
        most PARK_MAX tasks, parked at most PARK_S (the settler settles them then), so progress
        lags a little; a task whose lease has less than PARK_MIN_LEFT_S left never parks, so no
        parked task's lease (not extended by the heartbeat) runs out."""
        spec = done.task.spec
        if spec is None or spec.workflow_id is None or not done.ok:
            return False
        now = time.monotonic()
        if done.task.extended + done.task.lease_s - now < PARK_MIN_LEFT_S:
            return False  # a short lease (or one the heartbeat is late with): settle it now
        with self._lock:
            if len(self._parked) >= PARK_MAX or (self._parked and now - self._parked_since >= PARK_S):
                return False
            if not any(t.spec is not None and t.spec.workflow_id == spec.workflow_id for t in self._running.values()):
                return False
            if not self._parked:
                self._parked_since = now
            self._parked.append(done)
        return True

    def _take_parked(self, older_than_s: float = 0.0) -> list[Finished]:
        with self._lock:
            if not self._parked or time.monotonic() - self._parked_since < older_than_s:
                return []
            out, self._parked = self._parked, []
        return out

    def _release(self, task: Attempt) -> None:
        with self._lock:
            self._running.pop(task.key, None)
        if self.metrics:
            self.metrics.in_flight.dec()
        self._slot_freed.set()

    # -- the settler ---------------------------------------------------------------------------------
    def _settle_loop(self) -> None:
        while not (self._quit.is_set() and self._done.empty()):
            wait_s = advancer.HOLD_S / 2 if self._holding else 0.25
            try:
                batch = [self._done.get(timeout=PARK_S if self._parked else wait_s)]
            except stdqueue.Empty:
                batch = []
            self.reports.flush_progress()
            with self._settling:
                self._settle_now(batch + self._drain_done() + self._take_parked(0.0 if batch else PARK_S))
                if self._advancer is not None:
                    self._advancer.give_back(time.monotonic() - advancer.HOLD_S)
        with self._settling:
            self._settle_now(self._take_parked())
            if self._advancer is not None:
                self._advancer.give_back(math.inf)

    @property
    def _holding(self) -> bool:
        return self._advancer is not None and bool(self._advancer.held)

    def _drain_done(self) -> list[Finished]:
        out = []
        while True:
            try:
                out.append(self._done.get_nowait())
            except stdqueue.Empty:
                return out

    def _settle_now(self, batch: list[Finished]) -> None:
        if batch:
            try:
                self._settle(batch)
            except Exception:
                _log.exception("settling %d tasks failed; their leases will expire and they run again", len(batch))

    def _settle(self, batch: list[Finished]) -> None:
        todo = []
        with self._lock:
            for d in batch:
                if not d.task.settled and not d.task.lost:
                    d.task.settled = True
                    todo.append(d)
                elif d.task.lost and self.metrics:
                    self.metrics.finished(d.task.fn_name, "canceled", time.monotonic() - d.task.started)
        reports, settles = attempt.conclude(todo, self.name, self.metrics)
        # Reports first: a crash after them re-runs the task (idempotent) and repeats the report
        # (harmless); the other order could complete a task whose workflow never hears of it.
        if self._advancer is not None and self._advancer.advance(reports, settles):
            return
        if self._advancer is None:
            self.reports.post(reports)
        for chunk in settles:
            self.queue.settle(chunk)

    # -- taking the tasks a pass of this worker enqueues --------------------------------------------
    def wants(self, enqueued: Mapping[str, int]) -> dict[str, Take]:
        """This worker's free slots, spread over the queues a pass just enqueued to: taken in the
        enqueue's own script call, so the next step of a chain starts here without waking anyone."""
        if self._stopping.is_set():
            return {}
        with self._lock:
            free = self.concurrency - len(self._running)
        out = {}
        for queue, n in enqueued.items():
            if free <= 0 or queue not in self._first_filter:
                continue  # full, or a queue this worker does not serve
            take = min(free, n)
            out[queue] = Take(take, self._first_filter[queue], self._grant[queue])
            free -= take
        return out

    def took(self, leases: list[dq.Lease]) -> None:
        if leases:
            self._start(leases)

    # -- heartbeats, timeouts, cancel ----------------------------------------------------------------
    def _heartbeat_loop(self) -> None:
        tick = min([0.5, *(g / 4 for g in self._grant.values())])
        while not self._quit.wait(tick):
            with self._lock:
                tasks = list(self._running.values())
            now = time.monotonic()
            for t in tasks:
                if t.settled or t.lost or t.fn is None or t.ctx.cancel_event.is_set():
                    continue
                timeout = t.timeout_s
                if t.fn.in_thread and now - t.started > timeout:
                    # a thread cannot be killed: ask it to stop and fail the task now
                    t.ctx.cancel_event.set()
                    self._done.put(
                        Finished(t, False, error=f"task ran past its timeout of {timeout:g}s", outcome="timed_out")
                    )
                    continue
                if now - t.extended >= t.lease_s / 3:
                    self._extend(t)
                if not t.announced and now - t.started >= ANNOUNCE_S:
                    t.announced = True
                    self.reports.post(
                        self.reports.started(t.spec, t.lease.message.deadline, t.lease.message.attempts, t.wall_started)
                    )

    def _extend(self, t: Attempt) -> None:
        assert t.fn is not None
        try:
            t.lease = self.queue.extend(t.lease, lease_s=t.fn.lease_s)
            t.extended, t.lease_s = time.monotonic(), t.fn.lease_s
        except (dq.LeaseLost, dq.MessageNotFound, dq.Conflict):
            # canceled (workflow cancel) or expired: whoever holds it now owns the work
            t.lost = True
            t.ctx.cancel_event.set()
            if self.metrics:
                self.metrics.heartbeat_failures.inc()
        except Exception:
            _log.warning("heartbeat for %s failed", t.lease.message.id, exc_info=True)
            if self.metrics:
                self.metrics.heartbeat_failures.inc()

    @property
    def stuck(self) -> int:
        """Tasks still running after :meth:`run` returned (thread functions that ignored the cancel);
        their threads keep the interpreter alive, so the process should exit with ``os._exit``."""
        with self._lock:
            return len(self._running)

    # -- shutdown --------------------------------------------------------------------------------------
    def _shutdown(self) -> None:
        give_up = time.monotonic() + self.grace_s
        while time.monotonic() < give_up:
            with self._lock:
                if not self._running:
                    return
            self._slot_freed.wait(0.2)
            self._slot_freed.clear()
        with self._lock:
            left = list(self._running.values())
        for t in left:
            t.ctx.cancel_event.set()
            self._done.put(Finished(t, False, error="worker shut down before the task finished", outcome="handed_back"))
