"""The blocking Redis client of the queue."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

import redis
from redis.commands.core import Script as RedisScript

from darkroom.queue import handoff, multi
from darkroom.queue.codec import error_from_reply
from darkroom.queue.core import Core
from darkroom.queue.errors import QueueError, Unavailable
from darkroom.queue.handoff import Handoff
from darkroom.queue.instructions import Arm, Op, Pipeline, Script, Wait
from darkroom.queue.keys import Keys
from darkroom.queue.limits import DEFAULT_LIMITS, Limits
from darkroom.queue.models import Lease, NewMessage
from darkroom.queue.multi import Source
from darkroom.queue.observer import QueueObserver
from darkroom.queue.scripts import SCRIPT_NAMES, source

__all__ = ["RedisQueue"]

P = ParamSpec("P")
R = TypeVar("R")


def _op(method: Callable[Concatenate[Core, P], Op[R]]) -> Callable[Concatenate[RedisQueue, P], R]:
    """Expose a ``Core`` operation as a blocking method."""

    def run(self: RedisQueue, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._drive(method(self._core, *args, **kwargs))

    # the operation's own name, docstring and signature (inspect follows __wrapped__)
    functools.update_wrapper(run, method, assigned=("__name__", "__doc__"), updated=())
    return run


class _Waker:
    """Wake-ups for long polls: one pattern subscription per client, a generation per queue."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._keys = keys
        self._cond = threading.Condition()
        self._generation: dict[str, int] = {}
        self._pubsub = client.pubsub()
        self._pubsub.psubscribe(**{keys.wake_channel("*"): self._on_message})
        # the subscription must be live before the first dequeue, or a wake-up could slip by
        while self._pubsub.get_message(timeout=1.0) is None:
            pass
        self._thread = self._pubsub.run_in_thread(sleep_time=1.0, daemon=True)

    def _on_message(self, message: dict[str, Any]) -> None:
        queue = self._keys.queue_of_channel(message["channel"].decode())
        with self._cond:
            self._generation[queue] = self._generation.get(queue, 0) + 1
            self._cond.notify_all()

    def poke(self, queue: str) -> None:
        """Wake this client's own waiting dequeues of ``queue`` now (its own enqueue just made work):
        they need not wait for the published wake-up to come back through the subscriber thread."""
        with self._cond:
            self._generation[queue] = self._generation.get(queue, 0) + 1
            self._cond.notify_all()

    def arm(self, queue: str) -> int:
        with self._cond:
            return self._generation.get(queue, 0)

    def wait(self, queue: str, generation: int, timeout_s: float, also: tuple[tuple[str, int], ...] = ()) -> None:
        armed = ((queue, generation), *also)
        with self._cond:
            self._cond.wait_for(lambda: any(self._generation.get(q, 0) != g for q, g in armed), timeout_s)

    def close(self) -> None:
        self._thread.stop()
        self._thread.join(timeout=2.0)
        self._pubsub.close()


class RedisQueue:
    """Every queue operation over one redis-py connection pool (thread-safe)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        namespace: str = "dr",
        limits: Limits = DEFAULT_LIMITS,
        observer: QueueObserver | None = None,
    ) -> None:
        self.redis = client
        self.limits = limits
        self._core = Core(Keys(namespace), limits, observer)
        self._scripts: dict[str, RedisScript] = {n: client.register_script(source(n)) for n in SCRIPT_NAMES}
        self._waker: _Waker | None = None
        self._waker_lock = threading.Lock()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        namespace: str = "dr",
        limits: Limits = DEFAULT_LIMITS,
        observer: QueueObserver | None = None,
    ) -> RedisQueue:
        return cls(redis.Redis.from_url(url), namespace=namespace, limits=limits, observer=observer)

    @property
    def namespace(self) -> str:
        """The key namespace (other components keep their keys beside the queue's)."""
        return self._core.keys.namespace

    @property
    def ops(self) -> Core:
        """The operations as generators, for :meth:`batch` (``queue.batch([queue.ops.dequeue(...)])``)."""
        return self._core

    # -- driving the operations --------------------------------------------------------------
    def _drive(self, op: Op[R]) -> R:
        reply: Any = None
        try:
            while True:
                reply = self._execute(op.send(reply))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def _execute(self, ins: Script | Pipeline | Arm | Wait) -> Any:
        try:
            if isinstance(ins, Script):
                reply = self._scripts[ins.name](keys=[ins.key], args=ins.args)
                if ins.name == "enqueue":
                    self._poke(ins.args[0])
                return reply
            if isinstance(ins, Pipeline):
                if len(ins.commands) == 1:
                    return [self.redis.execute_command(*ins.commands[0])]
                pipe = self.redis.pipeline(transaction=False)
                for command in ins.commands:
                    pipe.execute_command(*command)
                return pipe.execute()
            waker = self._get_waker()
            if isinstance(ins, Arm):
                return waker.arm(ins.queue)
            waker.wait(ins.queue, ins.generation, ins.timeout_s, ins.also)
            return None
        except redis.ResponseError as exc:
            raise error_from_reply(str(exc)) or exc from None
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise Unavailable(f"redis is unreachable: {exc}") from exc

    def _poke(self, queue: str) -> None:
        waker = self._waker
        if waker is not None:
            waker.poke(queue)

    def batch(self, ops: Sequence[Op[R]]) -> list[R | QueueError]:
        """Run several operations together, each round of their instructions in one pipelined
        round trip (e.g. enqueue on one queue, settle on another and dequeue with ``wait_s=0``).

        Answers each operation's result, or the queue error it raised (the others still ran:
        they are independent calls, not a transaction). Operations that wait (``wait_s > 0``)
        cannot be batched. Unlike a single ``enqueue``, a batched one does not wake this client's
        own waiting dequeues at once (the caller batches its own dequeue if it wants the work).
        """
        results: dict[int, R | QueueError] = {}  # every operation ends with a result or an error
        todo: dict[int, Script | Pipeline] = {}

        def step(i: int, reply: Any) -> None:
            try:
                ins = ops[i].send(reply)
            except StopIteration as stop:
                results[i] = stop.value
                return
            except QueueError as exc:
                results[i] = exc
                return
            if not isinstance(ins, Script | Pipeline):
                ops[i].close()
                raise TypeError("batch() runs operations that do not wait (wait_s=0)")
            todo[i] = ins

        for i in range(len(ops)):
            step(i, None)
        while todo:
            current, todo = todo, {}
            replies = self._execute_together(list(current.values()))
            for i, reply in zip(current, replies, strict=True):
                if isinstance(reply, QueueError):
                    ops[i].close()
                    results[i] = reply
                else:
                    step(i, reply)
        return [results[i] for i in range(len(ops))]

    def _execute_together(self, instructions: list[Script | Pipeline]) -> list[Any]:
        """One pipelined round trip for several instructions (scripts by EVALSHA, loaded again
        if the server lost them); an error reply becomes that instruction's queue error."""
        pending = list(range(len(instructions)))
        out: list[Any] = [None] * len(instructions)
        for attempt in (1, 2):
            pipe = self.redis.pipeline(transaction=False)
            sizes = []
            for i in pending:
                ins = instructions[i]
                if isinstance(ins, Script):
                    script = self._scripts[ins.name]
                    pipe.evalsha(script.sha, 1, ins.key, *ins.args)
                    sizes.append(1)
                else:
                    for command in ins.commands:
                        pipe.execute_command(*command)
                    sizes.append(len(ins.commands))
            try:
                replies = pipe.execute(raise_on_error=False)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                raise Unavailable(f"redis is unreachable: {exc}") from exc
            lost: list[int] = []
            at = 0
            for i, size in zip(pending, sizes, strict=True):
                chunk, at = replies[at : at + size], at + size
                ins = instructions[i]
                if isinstance(ins, Script) and isinstance(chunk[0], redis.exceptions.NoScriptError) and attempt == 1:
                    lost.append(i)
                    continue
                errors = [r for r in chunk if isinstance(r, redis.ResponseError)]
                if errors:
                    out[i] = error_from_reply(str(errors[0])) or QueueError(str(errors[0]))
                elif isinstance(ins, Script):
                    out[i] = chunk[0]
                else:
                    out[i] = list(chunk)
            if not lost:
                break
            for i in lost:
                ins = instructions[i]
                if isinstance(ins, Script):
                    self.redis.script_load(self._scripts[ins.name].script)
            pending = lost
        return out

    def _get_waker(self) -> _Waker:
        with self._waker_lock:
            if self._waker is None:
                self._waker = _Waker(self.redis, self._core.keys)
            return self._waker

    def close(self) -> None:
        if self._waker is not None:
            self._waker.close()
            self._waker = None
        self.redis.close()

    def __enter__(self) -> RedisQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the API (see darkroom.queue.core.Core for the semantics) -----------------------------
    create_queue = _op(Core.create_queue)
    get_queue = _op(Core.get_queue)
    list_queues = _op(Core.list_queues)
    update_queue = _op(Core.update_queue)
    delete_queue = _op(Core.delete_queue)
    enqueue_many = _op(Core.enqueue_many)
    dequeue = _op(Core.dequeue)

    def dequeue_any(
        self,
        sources: Sequence[Source],
        *,
        max_messages: int = 1,
        wait_s: float = 0.0,
        fields: Iterable[str] | None = None,
    ) -> list[Lease]:
        """Lease from several queues at once, earliest deadline first across them (``multi``)."""
        return self._drive(
            multi.dequeue_any(self._core, sources, max_messages=max_messages, wait_s=wait_s, fields=fields)
        )

    def enqueue_lease(
        self,
        queue: str,
        messages: Sequence[NewMessage],
        *,
        max_messages: int,
        where: Mapping[str, str] | None = None,
        lease_s: float | None = None,
    ) -> Handoff:
        """Enqueue and lease up to ``max_messages`` to the caller in one script call (``handoff``)."""
        op = handoff.enqueue_lease(self._core, queue, messages, max_messages=max_messages, where=where, lease_s=lease_s)
        return self._drive(op)

    extend = _op(Core.extend)
    cancel = _op(Core.cancel)
    redrive = _op(Core.redrive)
    update = _op(Core.update)
    get = _op(Core.get)
    query = _op(Core.query)
    count = _op(Core.count)
    stats = _op(Core.stats)
    sweep = _op(Core.sweep)
    settle = _op(Core.settle)
    enqueue = _op(Core.enqueue)
    complete = _op(Core.complete)
    complete_many = _op(Core.complete_many)
    fail = _op(Core.fail)
    pause = _op(Core.pause)
    resume = _op(Core.resume)
