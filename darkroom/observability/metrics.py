"""A ``/metrics`` endpoint per process, over a registry owned by that process.

Each process (queue server, worker, API) builds its own :class:`CollectorRegistry` with
:func:`new_registry` instead of using prometheus_client's global one: several servers can then
live in one interpreter (tests, ``darkroom demo``) without duplicate-registration errors, and a
component registers exactly what it measures. Prometheus scrapes every process separately;
``port=0`` picks a free port, which :class:`MetricsServer` reports.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector, start_http_server

from darkroom.api.errors import AddressUnavailable

__all__ = ["MetricsServer", "new_registry", "serve_metrics"]


def new_registry(*, runtime: bool = True) -> CollectorRegistry:
    """A fresh registry; ``runtime`` adds the process, platform and GC collectors."""
    registry = CollectorRegistry(auto_describe=True)
    if runtime:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    return registry


@dataclass
class MetricsServer:
    """A running ``/metrics`` HTTP endpoint (a daemon thread); :meth:`close` stops it."""

    registry: CollectorRegistry
    addr: str
    port: int
    _httpd: WSGIServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def url(self) -> str:
        host = f"[{self.addr}]" if ":" in self.addr else self.addr
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5.0)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_metrics(registry: CollectorRegistry, port: int = 0, addr: str = "127.0.0.1") -> MetricsServer:
    """Serve ``registry`` on ``http://addr:port/metrics`` (``port=0``: any free port).

    The default address is loopback, like the other local services; pass ``0.0.0.0`` for a
    Prometheus on another host. A taken port is :class:`AddressUnavailable` (an ``OSError``)
    naming the address.
    """
    try:
        httpd, thread = start_http_server(port, addr=addr, registry=registry)
    except OSError as exc:
        host = f"[{addr}]" if ":" in addr else addr
        raise AddressUnavailable(
            f"cannot serve /metrics on {host}:{port}: {exc.strerror or exc} (another port: DARKROOM_METRICS_PORT, "
            "or --metrics-port; negative turns /metrics off)"
        ) from exc
    return MetricsServer(registry, addr, int(httpd.server_port), httpd, thread)
