"""Observability of every Darkroom process: Prometheus metrics on ``/metrics``, and Redis health
(a sampler, its metrics under redis_exporter's names, and checks with a diagnosis)."""

from __future__ import annotations

from darkroom.observability.checks import CHECK_NAMES, Check, HealthReport, Limit, Status, Thresholds, check_health
from darkroom.observability.errors import InvalidKeyPattern, InvalidThreshold, ObservabilityError, RedisUnreachable
from darkroom.observability.keyspace import KeyFamily, KeyLayout, Keyspace
from darkroom.observability.metrics import MetricsServer, new_registry, serve_metrics
from darkroom.observability.redis_metrics import RedisHealthCollector
from darkroom.observability.redis_rates import Rates, rates
from darkroom.observability.redis_sample import HEALTH_CLIENT_NAME, RedisSample, RedisSampler, redact_url

__all__ = [
    "CHECK_NAMES",
    "HEALTH_CLIENT_NAME",
    "Check",
    "HealthReport",
    "InvalidKeyPattern",
    "InvalidThreshold",
    "KeyFamily",
    "KeyLayout",
    "Keyspace",
    "Limit",
    "MetricsServer",
    "ObservabilityError",
    "Rates",
    "RedisHealthCollector",
    "RedisSample",
    "RedisSampler",
    "RedisUnreachable",
    "Status",
    "Thresholds",
    "check_health",
    "new_registry",
    "rates",
    "redact_url",
    "serve_metrics",
]
