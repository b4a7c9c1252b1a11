"""The function worker: lease tasks, run them, heartbeat, settle, report to workflows.

Four threads and a pool: the *leaser* (:mod:`~darkroom.runtime.leaser`) dequeues batches for its
free slots from every queue it serves in one call, earliest deadline first across them
(``dequeue_any``; a long poll woken by any of them, so an idle worker costs Redis nothing); each
task runs in a pool thread (its body in a warm child of the worker's process pool for
``executor="process"`` functions, in a child process of its own for ``isolation="process"``
ones); the *settler* (:mod:`~darkroom.runtime.settler`) batches finished tasks — workflow reports
and their ticks first, then one ``settle`` per queue — so a busy worker pays three round trips per
batch, not per task; the *heartbeat* (:mod:`~darkroom.runtime.heartbeat`) extends leases,
enforces timeouts, and stops tasks whose lease was lost (cancel); the *presence* thread keeps the
worker in the worker directory (host, queues). Input blobs come through the host's
:class:`~darkroom.runtime.blob_cache.BlobCache` when given.
Every task's context carries the ``resources`` the worker was given (in child processes too).

With an ``engine``, the worker also advances the runs of the tasks it finished, under each run's
tick lease on the exclusive events queue (the engines' own guarantee), takes the next tasks in
the same round trip as their enqueue (the leaser is the pass's grab), parks finished map items a
moment so that one pass settles several (:mod:`~darkroom.runtime.parking`), and keeps a run's
tick for the report of a task it took (:mod:`darkroom.runtime.advancer`; docs/runtime.md,
"Workers that advance their runs").

Stopping (SIGTERM): no more leasing; running tasks get ``grace_s`` to finish; the rest are told to
stop and handed back to the queue for a retry. A SIGKILL loses nothing either: the leases expire
and the tasks run again elsewhere, which is why functions must be idempotent.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import darkroom.queue as dq
from darkroom.log_context import log_context
from darkroom.runtime import attempt
from darkroom.runtime.advancer import Advancer
from darkroom.runtime.attempt import Attempt, Finished
from darkroom.runtime.blob_cache import BlobCache
from darkroom.runtime.context import TaskContext
from darkroom.runtime.directory import WorkerDirectory, WorkerInfo, keep_announced
from darkroom.runtime.errors import InvalidWorkflow, RuntimeLayerError
from darkroom.runtime.functions import Executor, Function, Registry
from darkroom.runtime.heartbeat import Heartbeat
from darkroom.runtime.leaser import Leaser
from darkroom.runtime.metrics import WorkerMetrics
from darkroom.runtime.parking import Parking
from darkroom.runtime.process_pool import ProcessPool
from darkroom.runtime.queues import ensure_queues
from darkroom.runtime.reporter import Reporter
from darkroom.runtime.resources import Resources
from darkroom.runtime.settler import Settler
from darkroom.runtime.slots import Slots
from darkroom.runtime.task import TaskSpec
from darkroom.runtime.workflow.engine import Engine
from darkroom.runtime.workflow.inbox import Inbox
from darkroom.storage.blobs.base import BlobStore

__all__ = ["Worker"]

_log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        queue: dq.RedisQueue,
        registry: Registry,
        *,
        blobs: BlobStore | None = None,
        resources: Resources | None = None,
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
        self.resources = resources if resources is not None else Resources()
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
        # run's tick lease (see Settler); without one, engines do it when the tick wakes them.
        self.engine = engine
        self._advancer: Advancer | None = None
        self._local = threading.local()  # .kept: tasks a pool thread's own pass took
        # One thread more than slots: a pool thread that finished its task may settle and advance
        # its run (one at a time, under the settler's lock) after its slot was freed and refilled;
        # the task that took the slot must not wait for that thread.
        self._pool = ThreadPoolExecutor(concurrency + 1, thread_name_prefix="darkroom-fn")
        # CPU-bound Python functions (executor="process") run in warm children, one per core by
        # default: the thread running such a task waits for a child's answer
        needs_children = any(f.executor is Executor.PROCESS for f in registry if f.queue in self.queues)
        self.processes = processes or os.cpu_count() or 1
        self._children = ProcessPool(self.processes, resources=self.resources) if needs_children else None
        self._slots = Slots(concurrency)
        self._parking = Parking(self._slots)
        self._settler = Settler(queue, self.reports, self.name, self._slots, self._parking, metrics=metrics)
        self._heartbeat = Heartbeat(
            queue, self._slots, self.reports, self._settler.done, metrics,
            on_failure=lambda: self.directory.heartbeat_failed(self.name),
        )  # fmt: skip
        self._leaser = Leaser(queue, self._slots, self._start, queues=self.queues, shape=self.shape, wait_s=wait_s)
        self._quit = threading.Event()

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
                # the leaser takes the next tasks a pass enqueues, for this worker's free slots
                self._advancer = Advancer(self.queue, self.inbox, self.reports, self.engine, grab=self._leaser)
                self._settler.advancer = self._advancer
            else:
                _log.warning(
                    "the events queue %s does not index 'workflow' (created by an older version): "
                    "this worker leaves advancing its runs to the engines",
                    self.inbox.events_queue,
                )
        self._leaser.prepare(self.registry, keys)
        settler = threading.Thread(target=self._settler.run, args=(self._quit,), name="darkroom-settler", daemon=True)
        heart = threading.Thread(
            target=self._heartbeat.run,
            args=(self._quit, Heartbeat.tick_s(self._leaser.grant.values())),
            name="darkroom-heartbeat",
            daemon=True,
        )
        me = WorkerInfo(self.name, self.host, tuple(self.queues), self.shape)
        presence = threading.Thread(
            target=keep_announced, args=(self.directory, me, self._quit), name="darkroom-presence", daemon=True
        )
        settler.start()
        heart.start()
        presence.start()
        try:
            self._leaser.run(stop)
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
                resources=self.resources,
            )
            task = Attempt(lease, spec, fn, ctx, lease_s=self._leaser.grant.get(lease.queue, 30.0))
            if self.metrics is not None:
                ctx.encoded_to = self.metrics.encoded
            if spec is not None and spec.batch is None:  # a batch's items report no progress of their own
                ctx.report = lambda f, m, t=task: self.reports.progress(
                    t.spec, t.lease.message.deadline, t.lease.message.attempts, f, m
                )
            self._slots.occupy(task)
            if self.metrics:
                self.metrics.in_flight.inc()
            if error:
                self._settler.done.put(Finished(task, False, error=error, retry=False, outcome="failed"))
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
        spec = task.spec
        # every log line of the call names its run, step and task (observability/logs.py)
        with log_context(
            workflow_id=spec.workflow_id if spec else None,
            step=spec.step if spec else None,
            task_id=task.lease.message.id,
        ):
            done = attempt.perform(
                task, self.blobs, self.queue.limits.max_result_bytes, self.blob_cache, self._children
            )
        self._release(task)
        if self._advancer is not None and self._parking.park(done):
            return None
        settler = self._settler
        if self._advancer is not None and settler.lock.acquire(blocking=False):
            # The settler is idle: settle here rather than wake it (a thread hop on the path from
            # one step of a chain to the next). Whoever holds the lock settles; the rest queue.
            # Tasks the pass takes for this worker (the chain's next step) run on this thread
            # next, the first of them without handing it to another thread.
            kept: list[Attempt] = []
            self._local.kept = kept
            try:
                settler.settle_now([done, *self._parking.take(), *settler.drain()])
            finally:
                self._local.kept = None
                settler.lock.release()
            for other in kept[1:]:
                self._pool.submit(self._execute, other)
            return kept[0] if kept else None
        settler.done.put(done)
        return None

    def _release(self, task: Attempt) -> None:
        self._slots.release(task)
        if self.metrics:
            self.metrics.in_flight.dec()

    @property
    def stuck(self) -> int:
        """Tasks still running after :meth:`run` returned (thread functions that ignored the cancel);
        their threads keep the interpreter alive, so the process should exit with ``os._exit``."""
        return len(self._slots)

    # -- shutdown --------------------------------------------------------------------------------------
    def _shutdown(self) -> None:
        give_up = time.monotonic() + self.grace_s
        while time.monotonic() < give_up:
            if not len(self._slots):
                return
            self._slots.wait_freed(0.2)
        for t in self._slots.tasks():
            t.ctx.cancel_event.set()
            self._settler.done.put(
                Finished(t, False, error="worker shut down before the task finished", outcome="handed_back")
            )
