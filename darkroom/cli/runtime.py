"""``darkroom up``, ``darkroom worker`` and ``darkroom engine``: the runtime's processes.

Each takes ``--home`` and ``--url`` (the platform's Redis; ``up`` starts a private one without it).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from darkroom.cli._options import HomeOpt, RedisUrlOpt, settings_for

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from rich.console import Console

    from darkroom.local.platform import LocalPlatform
    from darkroom.platform.wiring import Wiring
    from darkroom.runtime.functions import Registry

__all__ = ["engine", "up", "worker"]

AppOption = Annotated[
    str | None, typer.Option("--app", help="Registry to serve, module:attribute (default: DARKROOM_APP).")
]
MetricsOption = Annotated[
    int | None,
    typer.Option(min=-1, max=65535, help="/metrics port (0: any free port, -1: off; default DARKROOM_METRICS_PORT)."),
]


def _stop_on_signals() -> threading.Event:
    """Set on SIGTERM or SIGINT, and, in a child of ``darkroom up``, when that ``up`` is gone."""
    from darkroom.platform.supervision import stop_when_orphaned

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop_when_orphaned(stop)
    return stop


def _registry(w: Wiring) -> Registry:
    """The app's registry, or one line on stderr and exit EXIT_APP_UNAVAILABLE (``darkroom up``
    then stops instead of restarting a process that would fail the same way)."""
    from darkroom.platform.supervision import EXIT_APP_UNAVAILABLE

    try:
        return w.registry
    except Exception as exc:  # the app is user code: whatever its import raises, it cannot load
        typer.echo(f"error: {exc}" if "app" in str(exc) else f"error: cannot load the app: {exc!r}", err=True)
        raise typer.Exit(EXIT_APP_UNAVAILABLE) from None


def _logging() -> None:
    """JSON lines or text, as ``DARKROOM_LOG_FORMAT`` says (``Settings.log_format``; read before
    the settings are, so that their own errors are logged the same way)."""
    from darkroom.cli._params import fail
    from darkroom.observability.errors import InvalidLogFormat
    from darkroom.observability.logs import configure_logging

    try:
        configure_logging(os.environ.get("DARKROOM_LOG_FORMAT", "auto"))
    except InvalidLogFormat as exc:
        fail(exc)


def _metrics(port: int | None, default: int, registry: CollectorRegistry | None = None) -> CollectorRegistry:
    """``registry`` (a new one with the process collectors) served on ``/metrics`` at ``port``
    (``default`` when None; -1: not served), on loopback."""
    from darkroom.observability import new_registry

    registry = new_registry() if registry is None else registry
    chosen = default if port is None else port
    if chosen >= 0:
        from darkroom.observability import serve_metrics

        try:
            server = serve_metrics(registry, chosen)
        except OSError as exc:  # e.g. two workers on one host with the default port
            server = serve_metrics(registry, 0)
            logging.getLogger("darkroom").warning("metrics port %d: %s; using %d", chosen, exc, server.port)
        logging.getLogger("darkroom").info("metrics on %s", server.url)
    return registry


def worker(
    *,
    app: AppOption = None,
    queues: Annotated[list[str] | None, typer.Option("--queue", help="Queues to serve (default: all).")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Tasks run at once.")] = 4,
    shape: Annotated[list[str] | None, typer.Option(help="What this worker offers, key=value (repeat).")] = None,
    grace_s: Annotated[float, typer.Option(help="On SIGTERM, time given to running tasks.")] = 30.0,
    host: Annotated[
        str | None,
        typer.Option(
            help="Host name in the worker directory (default: this machine's); containers on one machine "
            "should give the machine's, as they share its cores."
        ),
    ] = None,
    advance: Annotated[
        bool,
        typer.Option(
            help="Advance the workflows of finished tasks here (needs the metadata database); "
            "--no-advance leaves it to the engines."
        ),
    ] = True,
    processes: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=256,
            help='Pool children for executor="process" functions (default: this machine\'s cores; '
            "workers sharing one machine should split them).",
        ),
    ] = None,
    metrics_port: MetricsOption = None,
    home: HomeOpt = None,
    url: RedisUrlOpt = None,
) -> None:
    """Run functions: lease tasks, heartbeat, settle; SIGTERM stops gracefully."""
    from darkroom.cli._params import fail, pairs
    from darkroom.cli._wiring import wiring_for
    from darkroom.errors import DarkroomError
    from darkroom.home import private_home
    from darkroom.runtime.blob_cache import BlobCache
    from darkroom.runtime.metrics import EngineMetrics, WorkerMetrics
    from darkroom.runtime.worker import Worker
    from darkroom.runtime.workflow import Engine

    _logging()
    offered = pairs(shape, "--shape")
    w = wiring_for(home, url, app, role="worker")
    _registry(w)  # the app first: a bad --app is this command's own mistake, whatever Redis says
    try:
        private_home(w.settings.home)  # its scratch and blob cache hold private media
    except DarkroomError as exc:
        fail(exc)
    w.queue.redis.ping()  # an unreachable platform ends the command here, in one line
    stop = _stop_on_signals()
    registry = _metrics(metrics_port, w.settings.metrics_port)
    metrics = WorkerMetrics(registry)
    cache = BlobCache(w.settings.home / "cache" / "blobs", w.settings.blob_cache_bytes, on_use=metrics.blob_fetched)
    worker = Worker(
        w.queue,
        w.registry,
        blobs=w.blobs,
        resources=w.resources,
        blob_cache=cache,
        queues=queues or None,
        concurrency=concurrency,
        processes=processes,
        shape=offered,
        host=host,
        scratch_root=w.settings.home / "scratch",
        grace_s=grace_s,
        metrics=metrics,
        # The next step of a run starts without waiting for an engine to wake (docs/runtime.md).
        engine=Engine(
            w.queue, w.db, w.registry, operations=w.operations, metrics=EngineMetrics(registry), events=w.run_events
        )
        if advance
        else None,
    )
    worker.run(stop)
    w.close()
    if worker.stuck:
        # Their tasks were handed back; their threads would keep the interpreter from exiting.
        logging.getLogger("darkroom").warning("%d task thread(s) ignored the stop; exiting anyway", worker.stuck)
        logging.shutdown()
        os._exit(0)


def engine(
    *, app: AppOption = None, metrics_port: MetricsOption = None, home: HomeOpt = None, url: RedisUrlOpt = None
) -> None:
    """Advance workflows: take ticks off the events queue, plan, enqueue tasks, record state."""
    from darkroom.cli._wiring import wiring_for
    from darkroom.runtime.metrics import EngineMetrics
    from darkroom.runtime.workflow import Engine

    _logging()
    w = wiring_for(home, url, app, role="engine")
    _registry(w)  # the app first: a bad --app is this command's own mistake, whatever Redis says
    w.queue.redis.ping()  # an unreachable platform ends the command here, in one line
    stop = _stop_on_signals()
    metrics = EngineMetrics(_metrics(metrics_port, w.settings.metrics_port))
    Engine(w.queue, w.db, w.registry, operations=w.operations, metrics=metrics, events=w.run_events).run(stop)
    w.close()


HttpAddrOption = Annotated[
    str | None,
    typer.Option(
        "--http-addr", help="host:port to serve the HTTP API on (default: DARKROOM_HTTP_ADDR, 127.0.0.1:8000)."
    ),
]


def up(
    *,
    app: AppOption = None,
    engines: Annotated[int, typer.Option(min=1, max=16)] = 1,
    workers: Annotated[int, typer.Option(min=0, max=64)] = 2,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Tasks per worker.")] = 4,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Serve gRPC without API keys (anyone reaching the port may call it).")
    ] = False,
    http_addr: HttpAddrOption = None,
    home: HomeOpt = None,
    url: RedisUrlOpt = None,
) -> None:
    """The whole platform on this machine: Redis, queue + operations gRPC, engines, workers, the
    social runner and the HTTP API, metrics."""
    from dataclasses import replace

    from rich.console import Console
    from rich.markup import escape

    from darkroom.cli._params import fail
    from darkroom.errors import DarkroomError
    from darkroom.local.platform import LocalPlatform, PlatformConfig

    _logging()
    console = Console()
    settings = settings_for(home, url)
    if no_auth:
        settings = replace(settings, grpc_auth="none")
    if settings.redis_url:  # an unreachable Redis ends the command here, before anything starts
        from darkroom.platform.wiring import Wiring

        Wiring(settings).queue.redis.ping()
    if http_addr:
        settings = replace(settings, http_addr=http_addr)
    platform = LocalPlatform(settings, PlatformConfig(engines, workers, concurrency, app, social=True, analytics=True))
    stop = _stop_on_signals()
    try:
        platform.start()
    except DarkroomError as exc:
        fail(exc)
    auth = "no auth" if platform.api_key is None else f"API key in {settings.api_keys_file or settings.home_key_file}"
    console.print(
        f"[bold]darkroom up[/]: HTTP http://{escape(settings.http_addr)}, "
        f"gRPC {escape(str(platform.grpc_url))} ({escape(auth)}), {engines} engine(s), "
        f"{workers} worker(s) x "
        f"{concurrency}; logs in {escape(str(settings.home / 'logs'))}. Ctrl-C stops.",
        soft_wrap=True,
    )
    watcher = _health_watch(platform, stop, console)
    failure: DarkroomError | None = None
    try:
        platform.supervise(stop)
    except DarkroomError as exc:  # a part keeps failing (PlatformFailed): say why once, exit non-zero
        failure = exc
    finally:
        console.print("stopping…")
        stop.set()
        watcher.join(timeout=15)
        platform.stop()
    if failure is not None:
        fail(failure)


def _health_watch(platform: LocalPlatform, stop: threading.Event, console: Console) -> threading.Thread:
    """A thread printing the one-line health summary at start and whenever it changes, and keeping
    the operator page's history (docs/observability.md)."""
    from rich.text import Text

    from darkroom.observability import RedisSampler
    from darkroom.observability.history import HealthHistory
    from darkroom.observability.http_window import HttpWindow, ScrapeSource
    from darkroom.observability.monitor import HealthMonitor, watch
    from darkroom.platform.health import key_layout, outbox_age
    from darkroom.runtime.directory import WorkerDirectory

    assert platform.wiring is not None  # started
    settings = platform.wiring.settings
    sampler = RedisSampler.from_url(settings.redis_url, layout=key_layout(settings))
    client = platform.wiring.redis
    directory = WorkerDirectory(client, settings.namespace)
    port = platform.http_metrics_port
    # the HTTP child's counters, scraped from its loopback /metrics (the port as asked: 0 is random)
    http = HttpWindow(ScrapeSource(f"http://127.0.0.1:{port}/metrics")) if port > 0 else None
    db = platform.wiring.db
    history = HealthHistory(client, settings.namespace)
    monitor = HealthMonitor(sampler, directory, history, database=db, http=http, outbox=outbox_age(db))

    def run() -> None:
        try:
            watch(monitor, stop, lambda line: console.print(Text(line)))
        finally:
            monitor.close()

    thread = threading.Thread(target=run, name="darkroom-health", daemon=True)
    thread.start()
    return thread


def social_run(*, metrics_port: MetricsOption = None, home: HomeOpt = None, url: RedisUrlOpt = None) -> None:
    """The social product's background work: publish events, fan posts out to feeds, keep counters,
    settle uploads and posts as their media is processed."""
    from darkroom.cli._wiring import wiring_for
    from darkroom.platform.social import social_runner

    _logging()
    w = wiring_for(home, url, role="social")
    _registry(w)
    w.redis.ping()  # an unreachable platform ends the command here, in one line
    stop = _stop_on_signals()
    social_runner(w, _metrics(metrics_port, w.settings.metrics_port)).run(stop)
    w.close()


def http(
    *,
    http_addr: HttpAddrOption = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Processes serving the one address (default: DARKROOM_HTTP_WORKERS, 1); about one per core.",
        ),
    ] = None,
    metrics_port: MetricsOption = None,
    home: HomeOpt = None,
    url: RedisUrlOpt = None,
) -> None:
    """Serve the HTTP API (/v1, /openapi.json) of the platform at --home or --url; its metrics on
    a /metrics port of their own, on loopback (every worker process's, added up)."""
    from darkroom.cli._params import fail
    from darkroom.cli._wiring import HTTP_APP_FACTORY, export_for_workers, wiring_for
    from darkroom.errors import DarkroomError
    from darkroom.observability.multiprocess import shared_registry
    from darkroom.web.main import app_for
    from darkroom.web.server import HttpServer

    _logging()
    w = wiring_for(home, url, role="http")
    address = http_addr or w.settings.http_addr
    processes = workers or w.settings.http_workers
    w.redis.ping()  # an unreachable platform ends the command here, in one line
    try:
        if processes == 1:
            server = HttpServer(app_for(w, registry=_metrics(metrics_port, w.settings.metrics_port)), address)
        else:
            export_for_workers(home, url)  # each worker builds its app from the same settings
            # each worker writes its series to files there; this process adds them up for /metrics
            _metrics(metrics_port, w.settings.metrics_port, shared_registry(w.settings.home / "metrics" / "http"))
            server = HttpServer(HTTP_APP_FACTORY, address, workers=processes)
            w.close()
        server.bind()
    except DarkroomError as exc:
        fail(exc)
    if processes == 1:
        stop = _stop_on_signals()

        def stop_when_told() -> None:
            stop.wait()
            server.stop()

        threading.Thread(target=stop_when_told, daemon=True).start()
    server.run()  # uvicorn (or its supervisor, for several workers) also stops on SIGTERM/SIGINT itself
    w.close()
