"""Serving the HTTP app: uvicorn on uvloop and httptools, on a socket bound here first.

Binding before uvicorn starts makes a taken address an :class:`~darkroom.api.errors.AddressUnavailable`
naming it (uvicorn itself would log and exit the process), like the gRPC servers. The socket is
bound without ``SO_REUSEPORT``, so a second server fails instead of sharing the port.

Several worker processes serve one address (uvicorn's supervisor: it restarts a worker that
dies): a Python process serves on one core at a time (the GIL), and a read costs milliseconds of
Python, so one process leaves the machine's other cores to idle. Each worker listens on a socket
of its own in one ``SO_REUSEPORT`` group (``api.transport.listen_tcp_group``: the address is
checked free first, so a second server is still refused), and the kernel spreads connections over
them; with one shared socket, a few keep-alive clients all landed on one worker. Workers are
started fresh (``spawn``), each building its own app from an import string (a factory), so no
connection pool or thread is ever shared across a fork.

>>> serve(create_app(deps), "127.0.0.1:8000")   # doctest: +SKIP
"""

from __future__ import annotations

import socket

import uvicorn
from starlette.types import ASGIApp
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

from darkroom.api.transport import listen_tcp as bind
from darkroom.api.transport import listen_tcp_group

__all__ = ["HttpServer", "bind", "serve"]


class HttpServer:
    """A uvicorn server for ``app`` on ``address``: :meth:`bind`, then :meth:`run` (blocks until
    :meth:`stop`, or a signal when run in the main thread).

    ``app`` is the app itself, or the ``module:function`` of a factory that builds it; ``workers``
    above 1 needs the factory (each worker process calls it) and :meth:`run` in the main thread
    (the supervisor handles the signals)."""

    def __init__(
        self,
        app: ASGIApp | str,
        address: str,
        *,
        workers: int = 1,
        log_level: str = "info",
        access_log: bool = False,
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers {workers!r} must be a whole number >= 1")
        if workers > 1 and not isinstance(app, str):
            raise ValueError("several workers need the app's factory as 'module:function', not an app")
        self.address = address
        self.workers = workers
        self.config = uvicorn.Config(
            app,
            factory=isinstance(app, str),
            workers=workers,
            loop="uvloop",
            http="httptools",
            lifespan="auto",
            log_level=log_level,
            log_config=None,  # uvicorn's lines go to the process's logging (observability/logs.py)
            access_log=access_log,
            server_header=False,
        )
        self._server = uvicorn.Server(self.config)
        self._supervisor: Multiprocess | None = None
        self._sockets: list[socket.socket] = []

    @property
    def port(self) -> int:
        """The bound port (after :meth:`bind`)."""
        if not self._sockets:
            raise RuntimeError("bind() first")
        return int(self._sockets[0].getsockname()[1])

    def bind(self) -> int:
        """Bind the address (:class:`AddressUnavailable` when taken or malformed); the port."""
        if not self._sockets:
            self._sockets = [bind(self.address)] if self.workers == 1 else listen_tcp_group(self.address, self.workers)
        return self.port

    def run(self) -> None:
        """Serve until stopped."""
        self.bind()
        try:
            if self.workers == 1:
                self._server.run(sockets=self._sockets)
            else:
                self._supervisor = _SocketPerWorker(self.config, sockets=self._sockets)
                self._supervisor.run()
        finally:
            for sock in self._sockets:
                sock.close()

    def stop(self) -> None:
        """Ask the server (every worker) to finish its requests and return from :meth:`run` (any
        thread)."""
        self._server.should_exit = True
        if self._supervisor is not None:
            self._supervisor.should_exit.set()


class _SocketPerWorker(Multiprocess):
    """uvicorn's supervisor with worker ``i`` serving ``sockets[i]`` only (a ``SO_REUSEPORT`` group),
    a replacement for a dead worker taking its socket."""

    def init_processes(self) -> None:
        for sock in self.sockets:
            process = Process(self.config, [sock])
            process.start()
            self.processes.append(process)

    def keep_subprocess_alive(self) -> None:  # uvicorn's, with the worker's own socket
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung: kill it
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # the app cannot start: restarting would not help
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            replacement = Process(self.config, [self.sockets[idx]])
            replacement.start()
            self.processes[idx] = replacement

    def restart_all(self) -> None:  # SIGHUP: each worker replaced in turn, on its own socket
        for idx, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = Process(self.config, [self.sockets[idx]])
            new.start()
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                return
            old.terminate()
            old.join()
            self.processes[idx] = new


def serve(app: ASGIApp | str, address: str, *, workers: int = 1, log_level: str = "info") -> None:
    """Serve ``app`` on ``address`` until interrupted; :class:`AddressUnavailable` when it is taken."""
    HttpServer(app, address, workers=workers, log_level=log_level).run()
