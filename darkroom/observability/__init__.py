"""Observability of every Darkroom process: Prometheus metrics on ``/metrics``."""

from __future__ import annotations

from darkroom.observability.metrics import MetricsServer, new_registry, serve_metrics

__all__ = ["MetricsServer", "new_registry", "serve_metrics"]
