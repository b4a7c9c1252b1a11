"""Typed settings read from ``DARKROOM_*`` environment variables (no module-level globals)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from darkroom.errors import DarkroomError
from darkroom.queue.errors import InvalidNamespace
from darkroom.queue.keys import Keys
from darkroom.queue.limits import Limits

__all__ = ["GRPC_AUTH_MODES", "ConfigError", "Settings"]

# ``key``: the gRPC server requires an API key (the home's generated one, or DARKROOM_API_KEYS_FILE);
# ``none``: anyone who can reach the port may call it; only when asked for.
GRPC_AUTH_MODES = ("key", "none")


class ConfigError(DarkroomError, ValueError):
    """An environment variable holds a value of the wrong kind."""


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
    grpc_tls_cert: str = ""
    grpc_tls_key: str = ""
    api_keys_file: str = ""
    grpc_auth: str = "key"
    # what a client sends; empty: the home's key, for a server on this machine (never in a repr)
    api_key: str = field(default="", repr=False)
    metrics_port: int = 9464
    database_url: str = field(default="", repr=False)
    blobs_url: str = ""
    s3_endpoint_url: str = ""
    blob_cache_bytes: int = 4 << 30  # a worker host's cache of input blobs (home/cache/blobs); 0: none
    app: str = "darkroom.runtime.sample:registry,darkroom.services:registry"
    # how long a command waits for a gRPC server to answer the connection (a CLI user should not
    # wait out a call's whole deadline for a host that never answers)
    grpc_connect_timeout_s: float = 5.0
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        if not self.grpc_connect_timeout_s > 0:
            raise ConfigError(
                f"DARKROOM_GRPC_CONNECT_TIMEOUT_S={self.grpc_connect_timeout_s!r} must be a number of seconds > 0"
            )
        if self.grpc_auth not in GRPC_AUTH_MODES:
            raise ConfigError(f"DARKROOM_GRPC_AUTH={self.grpc_auth!r} must be one of {', '.join(GRPC_AUTH_MODES)}")
        try:
            Keys(self.namespace)
        except InvalidNamespace as exc:
            raise ConfigError(f"DARKROOM_NAMESPACE: {exc}") from None

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
        for f in fields(Limits):
            raw = env.get(f"DARKROOM_QUEUE_{f.name.upper()}")
            if raw is not None:
                limit_values[f.name] = _convert(f"DARKROOM_QUEUE_{f.name.upper()}", raw, f.type)
        return cls(limits=Limits(**limit_values), **values)  # type: ignore[arg-type]


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
