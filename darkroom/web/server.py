"""Serving the HTTP app: uvicorn on uvloop and httptools, on a socket bound here first.

Binding before uvicorn starts makes a taken address an :class:`~darkroom.api.errors.AddressUnavailable`
naming it (uvicorn itself would log and exit the process), like the gRPC servers. The socket is
bound without ``SO_REUSEPORT``, so a second server fails instead of sharing the port.

>>> serve(create_app(deps), "127.0.0.1:8000")   # doctest: +SKIP
"""

from __future__ import annotations

import socket

import uvicorn
from starlette.types import ASGIApp

from darkroom.api.transport import listen_tcp as bind

__all__ = ["HttpServer", "bind", "serve"]


class HttpServer:
    """One uvicorn server for ``app`` on ``address``: :meth:`bind`, then :meth:`run` (blocks until
    :meth:`stop`, or a signal when run in the main thread)."""

    def __init__(self, app: ASGIApp, address: str, *, log_level: str = "info", access_log: bool = False) -> None:
        self.address = address
        self.config = uvicorn.Config(
            app,
            loop="uvloop",
            http="httptools",
            lifespan="auto",
            log_level=log_level,
            access_log=access_log,
            server_header=False,
        )
        self._server = uvicorn.Server(self.config)
        self._socket: socket.socket | None = None

    @property
    def port(self) -> int:
        """The bound port (after :meth:`bind`)."""
        if self._socket is None:
            raise RuntimeError("bind() first")
        return int(self._socket.getsockname()[1])

    def bind(self) -> int:
        """Bind the address (:class:`AddressUnavailable` when taken or malformed); the port."""
        if self._socket is None:
            self._socket = bind(self.address)
        return self.port

    def run(self) -> None:
        """Serve until stopped."""
        self.bind()
        assert self._socket is not None
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self._socket.close()

    def stop(self) -> None:
        """Ask the server to finish its requests and return from :meth:`run` (any thread)."""
        self._server.should_exit = True


def serve(app: ASGIApp, address: str, *, log_level: str = "info") -> None:
    """Serve ``app`` on ``address`` until interrupted; :class:`AddressUnavailable` when it is taken."""
    HttpServer(app, address, log_level=log_level).run()
