"""Typed settings read from ``DARKROOM_*`` environment variables (no module-level globals)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from darkroom.errors import DarkroomError

__all__ = [
    "GRPC_AUTH_MODES",
    "MAX_NAMESPACE_CHARS",
    "NAMESPACE_PATTERN",
    "RUN_EVENT_SINKS",
    "ConfigError",
    "QueueLimits",
    "Settings",
]

# ``key``: the gRPC server requires an API key (the home's generated one, or DARKROOM_API_KEYS_FILE);
# ``none``: anyone who can reach the port may call it; only when asked for.
GRPC_AUTH_MODES = ("key", "none")
RUN_EVENT_SINKS = ("outbox", "none")  # DARKROOM_RUN_EVENTS (darkroom.platform.run_events)

MAX_NAMESPACE_CHARS = 64
# The Redis key namespace: no braces (a "{" would become the hash tag, splitting a queue across
# cluster slots), no glob characters (SCAN patterns), no spaces. ``queue.keys`` applies it too.
NAMESPACE_PATTERN = re.compile(rf"[A-Za-z0-9_.:-]{{1,{MAX_NAMESPACE_CHARS}}}")


class ConfigError(DarkroomError, ValueError):
    """An environment variable holds a value of the wrong kind."""


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """The queue's request limits (``DARKROOM_QUEUE_<NAME>``); ``darkroom.queue.limits.Limits``
    adds the checks that enforce them. Config holds the values so it imports no package above it."""

    max_payload_bytes: int = 1 << 20
    max_result_bytes: int = 64 << 10
    max_error_chars: int = 4096
    max_metadata_entries: int = 32
    max_metadata_key_chars: int = 64
    max_metadata_value_chars: int = 256
    max_id_chars: int = 128
    max_batch: int = 1000
    # An enqueue's payloads and metadata (keys and values, UTF-8) together: under the gRPC
    # transport's 64 MiB per request with room for framing, and far under what Redis takes in one
    # command (a settle cannot exceed it: max_batch results of max_result_bytes are 62.5 MiB).
    max_batch_bytes: int = 63 << 20
    min_lease_s: float = 0.05
    max_lease_s: float = 12 * 3600.0
    max_wait_s: float = 60.0
    max_delay_s: float = 366 * 86400.0
    max_attempts: int = 1000
    max_indexed_keys: int = 4


@dataclass(frozen=True)
class Settings:
    """Where things live and how they are reached. ``Settings.from_env()`` reads the environment.

    ``redis_url`` empty means "use the private redis-server under ``home``"; ``database_url`` empty
    means SQLite at ``home/darkroom.db``; ``blobs_url`` empty means the directory ``home/blobs``
    (``s3://bucket/prefix`` for S3, with ``s3_endpoint_url`` for S3-compatible stores). ``app`` is
    the ``module:attribute`` of the function and workflow registries that workers and engines load
    (comma-separated: the sample workflow and the media services by default). ``grpc_auth`` is
    ``key`` (the gRPC server requires an API key: ``api_keys_file``, else ``home/api.keys``,
    generated at first start) or ``none`` (no authentication, asked for explicitly).
    """

    home: Path = Path(".darkroom")
    # URLs may carry passwords (the private Redis's always does): kept out of reprs and tracebacks
    redis_url: str = field(default="", repr=False)
    redis_fsync: str = "everysec"
    redis_tcp_port: int = 0
    namespace: str = "dr"
    grpc_addr: str = "127.0.0.1:50051"
    http_addr: str = "127.0.0.1:8000"  # the HTTP API (darkroom.web): host:port, [v6]:port
    http_workers: int = 1  # processes serving it (one core each at most: about one per core)
    # threads per worker for a request's short blocking work (database, Redis): few, since the work
    # is Python holding the GIL (more threads only contend); uploads stream on threads of their own
    http_threads: int = 4
    grpc_tls_cert: str = ""
    grpc_tls_key: str = ""
    api_keys_file: str = ""
    grpc_auth: str = "key"
    # what a client sends; empty: the home's key, for a server on this machine (never in a repr)
    api_key: str = field(default="", repr=False)
    metrics_port: int = 9464
    # how every process logs (observability.logs): json (one object a line), text, or auto (text
    # on a terminal, else json)
    log_format: str = "auto"
    database_url: str = field(default="", repr=False)
    blobs_url: str = ""
    s3_endpoint_url: str = ""
    blob_cache_bytes: int = 4 << 30  # a worker host's cache of input blobs (home/cache/blobs); 0: none
    app: str = "darkroom.runtime.sample:registry,darkroom.services:registry"
    # how long a command waits for a gRPC server to answer the connection (a CLI user should not
    # wait out a call's whole deadline for a host that never answers)
    grpc_connect_timeout_s: float = 5.0
    # the largest upload a person may send, per kind (the kind is decided by content): social.uploads
    max_photo_bytes: int = 50 << 20
    max_video_bytes: int = 2 << 30
    # how long an unfinished resumable (tus) upload is kept after its last chunk (social.expiry)
    resumable_lifetime_s: float = 86_400.0
    # the home feed (social.feed): authors with more followers are pulled at read time, not pushed;
    # feeds are kept for accounts seen within the active window
    feed_celebrity_followers: int = 10_000
    feed_active_days: int = 30
    # how the HTTP app reads feeds (social.feed.FeedDesign: hybrid push pull sql; the others than
    # hybrid are for make bench-social, which builds what they read)
    feed_design: str = "hybrid"
    # the HTTP API's rate limits (web.deps.HttpLimits), LIMIT/PERIOD_S; empty: 300 per 300 s each,
    # and 6,000 per 300 s per address for static files and media
    http_rate_per_account: str = ""
    http_rate_per_ip: str = ""
    http_rate_assets_per_ip: str = ""
    # the analytics tables (darkroom.analytics.catalog): the Iceberg SQL catalog's database (may carry a
    # password: kept out of reprs) and the warehouse its data files go to; empty: SQLite at
    # home/warehouse/catalog.db and the directory home/warehouse (s3://bucket/prefix for S3, reached
    # through s3_endpoint_url as the blobs are)
    iceberg_catalog_uri: str = field(default="", repr=False)
    warehouse_url: str = ""
    # where the workflow engine's step.finished / workflow.finished events go
    # (darkroom.platform.run_events): outbox (the relay publishes them) or none (no relay runs)
    run_events: str = "outbox"
    # analytics maintenance (darkroom.analytics.maintenance): snapshots older than this are expired
    # unless a job still needs them; the ingest process maintains every this often (0: never)
    analytics_snapshot_retention_s: float = 86_400.0
    analytics_maintain_every_s: float = 3600.0
    # the analytics jobs' trigger loop (darkroom.analytics.scheduler, run by darkroom up): it looks
    # every analytics_trigger_poll_s for a job whose source has a new snapshot, and runs each job at
    # least every analytics_job_interval_s (0: no interval trigger); analytics_job_intervals
    # overrides that per job, "job=SECONDS,…"
    analytics_trigger_poll_s: float = 5.0
    analytics_job_interval_s: float = 3600.0
    analytics_job_intervals: str = ""
    limits: QueueLimits = field(default_factory=QueueLimits)

    def __post_init__(self) -> None:
        if not self.grpc_connect_timeout_s > 0:
            raise ConfigError(
                f"DARKROOM_GRPC_CONNECT_TIMEOUT_S={self.grpc_connect_timeout_s!r} must be a number of seconds > 0"
            )
        for name in ("max_photo_bytes", "max_video_bytes"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"DARKROOM_{name.upper()}={getattr(self, name)!r} must be a number of bytes > 0")
        if not self.resumable_lifetime_s > 0:
            raise ConfigError(
                f"DARKROOM_RESUMABLE_LIFETIME_S={self.resumable_lifetime_s!r} must be a number of seconds > 0"
            )
        for name in ("feed_celebrity_followers", "feed_active_days", "http_workers", "http_threads"):
            if not getattr(self, name) >= 1:
                raise ConfigError(f"DARKROOM_{name.upper()}={getattr(self, name)!r} must be a whole number >= 1")
        if self.run_events not in RUN_EVENT_SINKS:
            raise ConfigError(f"DARKROOM_RUN_EVENTS={self.run_events!r} must be one of {', '.join(RUN_EVENT_SINKS)}")
        for name in ("analytics_snapshot_retention_s", "analytics_maintain_every_s"):
            if not getattr(self, name) >= 0:  # also refuses NaN
                raise ConfigError(f"DARKROOM_{name.upper()}={getattr(self, name)!r} must be a number of seconds >= 0")
        if self.grpc_auth not in GRPC_AUTH_MODES:
            raise ConfigError(f"DARKROOM_GRPC_AUTH={self.grpc_auth!r} must be one of {', '.join(GRPC_AUTH_MODES)}")
        if not self.analytics_trigger_poll_s > 0:
            raise ConfigError(
                f"DARKROOM_ANALYTICS_TRIGGER_POLL_S={self.analytics_trigger_poll_s!r} must be a number of seconds > 0"
            )
        if not self.analytics_job_interval_s >= 0:
            raise ConfigError(
                f"DARKROOM_ANALYTICS_JOB_INTERVAL_S={self.analytics_job_interval_s!r} must be a number of seconds >= 0"
            )
        _check_http_addr(self.http_addr)
        if not NAMESPACE_PATTERN.fullmatch(self.namespace):
            raise ConfigError(
                f"DARKROOM_NAMESPACE={self.namespace!r} must be 1-{MAX_NAMESPACE_CHARS} characters of [A-Za-z0-9_.:-]"
            )

    @property
    def home_key_file(self) -> Path:
        """The API key file generated under ``home`` (used when ``api_keys_file`` is empty)."""
        return self.home / "api.keys"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name == "limits":
                continue
            raw = env.get(f"DARKROOM_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _convert(f"DARKROOM_{f.name.upper()}", raw, f.type)
        limit_values: dict[str, object] = {}
        for f in fields(QueueLimits):
            raw = env.get(f"DARKROOM_QUEUE_{f.name.upper()}")
            if raw is not None:
                limit_values[f.name] = _convert(f"DARKROOM_QUEUE_{f.name.upper()}", raw, f.type)
        return cls(limits=QueueLimits(**limit_values), **values)  # type: ignore[arg-type]


def _check_http_addr(address: str) -> None:
    """``host:port`` or ``[v6]:port`` with a port from 0 to 65535 (``api.transport``'s rule for a
    listen address; config sits below the api package, so the check is repeated here)."""
    host, sep, port = address.rpartition(":")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not bare or "[" in bare or "]" in bare or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"DARKROOM_HTTP_ADDR={address!r} must be host:port with a port from 0 to 65535")
    if ":" in bare and host == bare:
        raise ConfigError(f"DARKROOM_HTTP_ADDR={address!r}: write an IPv6 host in brackets, [{bare}]:{port}")


def _convert(name: str, raw: str, kind: object) -> object:
    try:
        if kind in ("int", int):
            return int(raw)
        if kind in ("float", float):
            return float(raw)
        if kind in ("Path", Path):
            return Path(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a valid {kind}") from None
    return raw
