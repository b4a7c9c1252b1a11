"""The asyncio Redis client of the queue: the same operations as ``client.RedisQueue``."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

import redis
import redis.asyncio as aredis
from redis.commands.core import AsyncScript

from darkroom.queue import handoff, multi
from darkroom.queue.codec import error_from_reply
from darkroom.queue.core import Core
from darkroom.queue.errors import Unavailable
from darkroom.queue.handoff import Handoff
from darkroom.queue.instructions import Arm, Op, Pipeline, Script, Wait
from darkroom.queue.keys import Keys
from darkroom.queue.limits import DEFAULT_LIMITS, Limits
from darkroom.queue.models import Lease, NewMessage
from darkroom.queue.multi import Source
from darkroom.queue.observer import QueueObserver
from darkroom.queue.scripts import SCRIPT_NAMES, source

__all__ = ["AsyncRedisQueue"]

P = ParamSpec("P")
R = TypeVar("R")


def _op(
    method: Callable[Concatenate[Core, P], Op[R]],
) -> Callable[Concatenate[AsyncRedisQueue, P], Coroutine[Any, Any, R]]:
    """Expose a ``Core`` operation as a coroutine method."""

    async def run(self: AsyncRedisQueue, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await self._drive(method(self._core, *args, **kwargs))

    # the operation's own name, docstring and signature (inspect follows __wrapped__)
    functools.update_wrapper(run, method, assigned=("__name__", "__doc__"), updated=())
    return run


class _Waker:
    """Wake-ups for long polls on one event loop (see ``client._Waker``)."""

    def __init__(self, client: aredis.Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys
        self._cond = asyncio.Condition()
        self._generation: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._pubsub: aredis.client.PubSub | None = None

    async def start(self) -> None:
        self._pubsub = pubsub = self._client.pubsub()
        await pubsub.psubscribe(self._keys.wake_channel("*"))
        while await pubsub.get_message(timeout=1.0) is None:
            pass
        self._task = asyncio.create_task(self._listen(pubsub))

    async def _listen(self, pubsub: aredis.client.PubSub) -> None:
        async for message in pubsub.listen():
            if message["type"] != "pmessage":
                continue
            queue = self._keys.queue_of_channel(message["channel"].decode())
            async with self._cond:
                self._generation[queue] = self._generation.get(queue, 0) + 1
                self._cond.notify_all()

    def arm(self, queue: str) -> int:
        return self._generation.get(queue, 0)

    async def wait(self, queue: str, generation: int, timeout_s: float, also: tuple[tuple[str, int], ...] = ()) -> None:
        armed = ((queue, generation), *also)
        async with self._cond:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._cond.wait_for(lambda: any(self._generation.get(q, 0) != g for q, g in armed)), timeout_s
                )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pubsub is not None:
            await self._pubsub.aclose()


class AsyncRedisQueue:
    """Every queue operation as a coroutine, over one redis.asyncio connection pool."""

    def __init__(
        self,
        client: aredis.Redis,
        *,
        namespace: str = "dr",
        limits: Limits = DEFAULT_LIMITS,
        observer: QueueObserver | None = None,
    ) -> None:
        self.redis = client
        self.limits = limits
        self._core = Core(Keys(namespace), limits, observer)
        self._scripts: dict[str, AsyncScript] = {n: client.register_script(source(n)) for n in SCRIPT_NAMES}
        self._waker: _Waker | None = None
        self._waker_lock = asyncio.Lock()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        namespace: str = "dr",
        limits: Limits = DEFAULT_LIMITS,
        observer: QueueObserver | None = None,
    ) -> AsyncRedisQueue:
        return cls(aredis.Redis.from_url(url), namespace=namespace, limits=limits, observer=observer)

    async def _drive(self, op: Op[R]) -> R:
        reply: Any = None
        try:
            while True:
                reply = await self._execute(op.send(reply))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    async def _execute(self, ins: Script | Pipeline | Arm | Wait) -> Any:
        try:
            if isinstance(ins, Script):
                return await self._scripts[ins.name](keys=[ins.key], args=ins.args)
            if isinstance(ins, Pipeline):
                if len(ins.commands) == 1:
                    return [await self.redis.execute_command(*ins.commands[0])]
                pipe = self.redis.pipeline(transaction=False)
                for command in ins.commands:
                    pipe.execute_command(*command)
                return await pipe.execute()
            waker = await self._get_waker()
            if isinstance(ins, Arm):
                return waker.arm(ins.queue)
            await waker.wait(ins.queue, ins.generation, ins.timeout_s, ins.also)
            return None
        except redis.ResponseError as exc:
            raise error_from_reply(str(exc)) or exc from None
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise Unavailable(f"redis is unreachable: {exc}") from exc

    async def _get_waker(self) -> _Waker:
        async with self._waker_lock:
            if self._waker is None:
                waker = _Waker(self.redis, self._core.keys)
                await waker.start()
                self._waker = waker
            return self._waker

    async def close(self) -> None:
        if self._waker is not None:
            await self._waker.close()
            self._waker = None
        await self.redis.aclose()

    async def __aenter__(self) -> AsyncRedisQueue:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    create_queue = _op(Core.create_queue)
    get_queue = _op(Core.get_queue)
    list_queues = _op(Core.list_queues)
    update_queue = _op(Core.update_queue)
    delete_queue = _op(Core.delete_queue)
    enqueue_many = _op(Core.enqueue_many)
    dequeue = _op(Core.dequeue)

    async def dequeue_any(
        self,
        sources: Sequence[Source],
        *,
        max_messages: int = 1,
        wait_s: float = 0.0,
        fields: Iterable[str] | None = None,
    ) -> list[Lease]:
        """Lease from several queues at once, earliest deadline first across them (``multi``)."""
        op = multi.dequeue_any(self._core, sources, max_messages=max_messages, wait_s=wait_s, fields=fields)
        return await self._drive(op)

    async def enqueue_lease(
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
        return await self._drive(op)

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
