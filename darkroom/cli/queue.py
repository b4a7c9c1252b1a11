"""``darkroom queue …``: serve the queue, and create, feed, drain and inspect queues.

Every command takes ``--home`` and ``--url`` (``redis://``, ``unix://`` or, but for ``serve``,
``grpc://``; default: ``DARKROOM_REDIS_URL``, else the private redis-server under ``--home``); the
ones that print data take ``--json``. Errors are one line on stderr with exit status 1 (2 for a bad
option value).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.live import Live
from rich.markup import escape

import darkroom.queue as dq
from darkroom.cli._edge import new_app
from darkroom.cli._options import (
    ApiKeyOpt,
    DeadlineOpt,
    HomeOpt,
    JsonOpt,
    RedisUrlOpt,
    check_address,
    parse_deadline,
    settings_for,
)
from darkroom.cli._options import QueueUrlOpt as UrlOpt
from darkroom.cli._params import fail, out, pairs, print_json
from darkroom.cli._render import ago, lease_json, message_json, message_table, stats_json, stats_table
from darkroom.config import Settings
from darkroom.errors import DarkroomError

__all__ = ["app", "parse_deadline"]

app = new_app("The priority queue: serve it, create queues, enqueue, dequeue, inspect.")


InsecureOpt = Annotated[
    bool, typer.Option("--insecure", help="Allow sending the API key in plaintext (grpc://) to another host.")
]
_WATCH_POLL_S = 0.5  # how often `queue serve` looks at its private redis-server


# -- plumbing ------------------------------------------------------------------------------------
def _target(url: str | None, settings: Settings) -> str:
    if url:
        return url
    if settings.redis_url:
        return settings.redis_url
    # only here, without a URL: the `darkroom` command loads this module, and a worker pointed at
    # another host's Redis must not load the local platform
    from darkroom.local.redis_server import running_url

    private = running_url(settings.home)
    if private is None:
        raise DarkroomError(
            f"no private redis-server is running under {settings.home}: start `darkroom queue serve`,"
            " pass --url, or set DARKROOM_REDIS_URL"
        )
    return private


@contextmanager
def _client(
    url: str | None, api_key: str | None, home: Path | None = None, insecure: bool = False
) -> Iterator[dq.Queue]:
    """A blocking queue client (RedisQueue or GrpcQueue: the same API); errors end the command.
    A gRPC server on this machine gets the home's key unless ``api_key`` is given."""
    from darkroom.api.auth import client_key
    from darkroom.queue.grpc_client import GrpcQueue

    try:
        settings = settings_for(home)
        target = _target(url, settings)
        if target.startswith("grpc"):
            key = api_key or client_key(settings, target)
            client = dq.connect(target, limits=dq.Limits.of(settings.limits), api_key=key, insecure=insecure)
        else:
            client = dq.connect(target, namespace=settings.namespace, limits=dq.Limits.of(settings.limits))
    except DarkroomError as exc:
        fail(exc)
    if isinstance(client, GrpcQueue):
        try:
            client.check_reachable(settings.grpc_connect_timeout_s)
        except DarkroomError as exc:
            client.close()
            fail(exc)
    try:
        yield client
    except dq.Unauthenticated as exc:
        fail(dq.Unauthenticated(f"{exc}. {_key_hint(settings, target, given=bool(api_key))}"))
    except DarkroomError as exc:
        fail(exc)
    finally:
        client.close()


def _key_hint(settings: Settings, target: str, *, given: bool) -> str:
    """Where the key a refused call needs comes from (never the key itself)."""
    from darkroom.api.auth import client_key
    from darkroom.api.transport import is_local

    elsewhere = "pass --api-key or set DARKROOM_API_KEY"
    if given or settings.api_key:
        return f"The key from --api-key / DARKROOM_API_KEY was refused by {target}: {elsewhere} with one it accepts"
    if not is_local(target):
        return f"{target} is another host, which never gets this home's key: {elsewhere}"
    keys = Path(settings.api_keys_file) if settings.api_keys_file else settings.home_key_file.absolute()
    ours = "DARKROOM_API_KEYS_FILE" if settings.api_keys_file else "DARKROOM_HOME"
    if client_key(settings, target) is None:
        found = f"{keys} does not exist or you cannot read it"
    else:
        found = f"the key in {keys} was refused, so {target} was started with another {ours}"
    return (
        f"A server started by `darkroom up` or `darkroom queue serve` keeps its key in $DARKROOM_HOME/api.keys "
        f"(or DARKROOM_API_KEYS_FILE), and commands run with the same DARKROOM_HOME send it by themselves; "
        f"here {found}. Run with that server's DARKROOM_HOME, or {elsewhere}"
    )


# -- serve ---------------------------------------------------------------------------------------
@app.command()
def serve(
    *,
    grpc_addr: Annotated[
        str | None,
        typer.Option(
            callback=check_address, help="host:port of the gRPC server, port 0-65535 (default: DARKROOM_GRPC_ADDR)."
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Port of /metrics (default: DARKROOM_METRICS_PORT; 0: any free port)."),
    ] = None,
    metrics_addr: Annotated[str, typer.Option(help="Address /metrics listens on.")] = "127.0.0.1",
    no_metrics: Annotated[bool, typer.Option("--no-metrics", help="Do not serve /metrics.")] = False,
    no_grpc: Annotated[
        bool, typer.Option("--no-grpc", help="Run only the sweeper and /metrics (housekeeping next to Redis).")
    ] = False,
    sweep_interval_s: Annotated[float, typer.Option(min=0.01, help="Longest pause between sweeps.")] = 1.0,
    grace_s: Annotated[float, typer.Option(min=0.0, help="How long running calls may finish on shutdown.")] = 5.0,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Serve without API keys (anyone reaching the port may call it).")
    ] = False,
    home: HomeOpt = None,
    url: RedisUrlOpt = None,
) -> None:
    """Run the gRPC queue server, a sweeper and /metrics until Ctrl-C or SIGTERM.

    Uses --url (else DARKROOM_REDIS_URL), else starts the private redis-server under --home (and
    stops it on exit). Callers need an API key: DARKROOM_API_KEYS_FILE, else HOME/api.keys
    (generated at first start; commands on this machine with the same home send it by themselves).
    """
    from darkroom.cli.runtime import _logging
    from darkroom.local.queue_service import QueueService
    from darkroom.local.redis_watch import RedisWatch

    _logging()  # DARKROOM_LOG_FORMAT, as every process: JSON lines (with the call's request id) or text
    settings = settings_for(home, url)
    if no_auth:
        settings = replace(settings, grpc_auth="none")
    service = QueueService(
        settings,
        grpc=not no_grpc,
        grpc_addr=grpc_addr,
        metrics_port=-1 if no_metrics else metrics_port,
        metrics_addr=metrics_addr,
        sweep_interval_s=sweep_interval_s,
    )

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await service.start()
            given = "--url" if url else "DARKROOM_REDIS_URL"
            where = f"private redis-server under {settings.home}" if service.private_redis else given
            # soft_wrap: scripts and tests read these lines whole, whatever the terminal width
            if service.grpc_url:
                out().print(f"queue server listening on {service.grpc_url}", soft_wrap=True, markup=False)
                keys = settings.api_keys_file or settings.home_key_file
                auth = "OFF (--no-auth)" if service.api_key is None else f"API keys in {keys}"
                out().print(f"authentication: {auth}", soft_wrap=True, markup=False)  # paths: no markup
            out().print(f"redis: {where}; sweeping every {sweep_interval_s:g}s at most", soft_wrap=True, markup=False)
            if service.metrics is not None:
                out().print(f"metrics on {service.metrics.url}", soft_wrap=True, markup=False)
            out().print("ready; Ctrl-C to stop", style="dim")
            # the private redis-server is kept up as `darkroom up` keeps it (PlatformFailed past the limit)
            watch = RedisWatch(service.redis_server) if service.redis_server is not None else None
            while not stop.is_set():
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), _WATCH_POLL_S)
                if watch is not None and not stop.is_set():
                    await asyncio.to_thread(watch.check, time.monotonic())
            out().print("stopping…", style="dim")
        finally:
            await service.stop(grace_s)

    try:
        asyncio.run(run())
    except (DarkroomError, OSError, RuntimeError) as exc:
        fail(exc)


# -- queues and messages -------------------------------------------------------------------------
@app.command()
def create(
    *,
    name: Annotated[str, typer.Argument(help="Queue name: [a-z0-9][a-z0-9_.-]*.")],
    lease_s: Annotated[float, typer.Option(help="Default lease of a dequeue.")] = 30.0,
    max_attempts: Annotated[int, typer.Option(help="Dequeues before a failing message ends errored.")] = 3,
    retention_s: Annotated[float, typer.Option(help="How long finished messages are kept.")] = 7 * 86400.0,
    exclusivity_key: Annotated[
        str | None, typer.Option(help="Metadata key; at most --exclusivity-limit messages per value run at once.")
    ] = None,
    exclusivity_limit: Annotated[int, typer.Option(help="Running messages allowed per exclusivity value.")] = 1,
    indexed_key: Annotated[
        list[str] | None, typer.Option("--indexed-key", "-i", help="Metadata key dequeue --where may use (repeat).")
    ] = None,
    home: HomeOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    insecure: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a queue (or check that an existing one has these settings)."""
    with _client(url, api_key, home, insecure) as q:
        info: dq.QueueInfo = q.create_queue(
            name,
            lease_s=lease_s,
            max_attempts=max_attempts,
            retention_s=retention_s,
            exclusivity_key=exclusivity_key,
            exclusivity_limit=exclusivity_limit,
            indexed_keys=indexed_key or (),
        )
    if as_json:
        print_json(
            {
                "name": info.name,
                "lease_s": info.lease_s,
                "max_attempts": info.max_attempts,
                "retention_s": info.retention_s,
                "max_payload_bytes": info.max_payload_bytes,
                "exclusivity_key": info.exclusivity_key,
                "exclusivity_limit": info.exclusivity_limit,
                "indexed_keys": list(info.indexed_keys),
                "paused": info.paused,
            }
        )
        return
    kind = f"exclusive on {info.exclusivity_key!r} (limit {info.exclusivity_limit})" if info.exclusive else "simple"
    indexed = ", ".join(info.indexed_keys) or "none"
    out().print(f"queue {info.name}: {kind}, lease {info.lease_s:g}s, indexed keys: {indexed}", markup=False)


@app.command()
def enqueue(
    *,
    queue: Annotated[str, typer.Argument(help="Queue name.")],
    payload: Annotated[str, typer.Argument(help="Payload text; '-' reads bytes from stdin.")] = "",
    deadline: DeadlineOpt = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", "-m", help="Metadata KEY=VALUE (repeat).")] = None,
    message_id: Annotated[str | None, typer.Option("--id", help="Message id (idempotent enqueue).")] = None,
    delay_s: Annotated[float, typer.Option(help="Keep invisible this long.")] = 0.0,
    max_attempts: Annotated[int | None, typer.Option(help="Override the queue's max attempts.")] = None,
    home: HomeOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    insecure: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Enqueue one message and print its id."""
    data = sys.stdin.buffer.read() if payload == "-" else payload.encode()
    when = None if deadline is None else parse_deadline(deadline)
    metadata = pairs(meta, "--meta")
    with _client(url, api_key, home, insecure) as q:
        mid: str = q.enqueue(
            queue, data, deadline=when, metadata=metadata, id=message_id, delay_s=delay_s, max_attempts=max_attempts
        )
    if as_json:
        print_json({"id": mid, "queue": queue})
    else:
        out().print(mid, markup=False)


@app.command()
def dequeue(
    *,
    queue: Annotated[str, typer.Argument(help="Queue name.")],
    max_messages: Annotated[int, typer.Option("--max-messages", "-n", help="Batch size.")] = 1,
    lease_s: Annotated[float | None, typer.Option(help="Lease length (default: the queue's).")] = None,
    where: Annotated[
        list[str] | None, typer.Option("--where", "-w", help="Only messages with metadata KEY=VALUE (indexed keys).")
    ] = None,
    wait_s: Annotated[float, typer.Option(help="Long-poll this long for work.")] = 0.0,
    complete: Annotated[bool, typer.Option("--complete", help="Complete the messages at once (drain).")] = False,
    home: HomeOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    insecure: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Lease messages, earliest deadline first; print them with their fencing tokens."""
    criteria = pairs(where, "--where")
    with _client(url, api_key, home, insecure) as q:
        leases: list[dq.Lease] = q.dequeue(
            queue, max_messages=max_messages, lease_s=lease_s, where=criteria or None, wait_s=wait_s
        )
        if complete and leases:
            q.complete_many(leases)
    if as_json:
        print_json([lease_json(lease) for lease in leases])
        return
    if not leases:
        out().print("no message", style="dim")
        return
    now = time.time()
    extra = {
        "token": [str(lease.token) for lease in leases],
        "lease": ["completed" if complete else "expires " + ago(lease.expires_at, now) for lease in leases],
    }
    out().print(message_table([lease.message for lease in leases], now, extra=extra))


@app.command()
def get(
    *,
    queue: Annotated[str, typer.Argument(help="Queue name.")],
    message_id: Annotated[str, typer.Argument(help="Message id.")],
    home: HomeOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    insecure: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Show one message."""
    with _client(url, api_key, home, insecure) as q:
        m: dq.Message = q.get(queue, message_id)
    if as_json:
        print_json(message_json(m))
        return
    out().print(message_table([m], time.time()))
    if m.last_error:
        out().print(f"last error: {m.last_error}", markup=False)


@app.command()
def query(
    *,
    queue: Annotated[str, typer.Argument(help="Queue name.")],
    state: Annotated[dq.State | None, typer.Option(help="Only this state.")] = None,
    where: Annotated[list[str] | None, typer.Option("--where", "-w", help="Metadata KEY=VALUE (repeat).")] = None,
    limit: Annotated[int, typer.Option(help="Page size.")] = 100,
    cursor: Annotated[str | None, typer.Option(help="Continue from a previous page's next_cursor.")] = None,
    home: HomeOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    insecure: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """List messages by state (deadline order for pending), one page at a time."""
    criteria = pairs(where, "--where")
    with _client(url, api_key, home, insecure) as q:
        page: dq.Page = q.query(queue, state=state, where=criteria or None, limit=limit, cursor=cursor)
    if as_json:
        print_json({"messages": [message_json(m) for m in page.messages], "next_cursor": page.next_cursor})
        return
    out().print(message_table(page.messages, time.time(), title=escape(f"{queue}: {len(page.messages)} messages")))
    if page.next_cursor:
        out().print(f"next page: --cursor {page.next_cursor}", markup=False)


@app.command()
def stats(
    *,
    queues: Annotated[list[str] | None, typer.Argument(help="Queues to show (default: all).")] = None,
    once: Annotated[bool, typer.Option("--once", help="Render once and exit.")] = False,
    interval_s: Annotated[float, typer.Option(min=0.1, help="Refresh period of the live table.")] = 1.0,
    home: HomeOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    insecure: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """A live table of every queue (Ctrl-C to leave); --json prints one snapshot."""
    with _client(url, api_key, home, insecure) as q:

        def snapshot() -> list[dq.QueueStats]:
            if queues:
                return [q.stats(name) for name in queues]
            found: list[dq.QueueStats] = []
            for info in q.list_queues():
                with suppress(dq.QueueNotFound):  # deleted since it was listed
                    found.append(q.stats(info.name))
            return found

        if as_json:
            print_json([stats_json(s) for s in snapshot()])
            return
        if once:
            out().print(stats_table(snapshot()))
            return
        try:
            with Live(stats_table(snapshot()), console=out(), refresh_per_second=4) as live:
                while True:
                    time.sleep(interval_s)  # refresh period of a live view
                    live.update(stats_table(snapshot()))
        except KeyboardInterrupt:
            pass
