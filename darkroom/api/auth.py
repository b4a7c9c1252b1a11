"""Per-client API keys for gRPC services: the key file, and an interceptor checking bearer tokens.

- Key file: one key per line, optionally ``name:key`` (the name shows in debug logs, never the
  key); blank lines and lines starting with ``#`` are ignored; unnamed keys are called
  ``key<line>``. Keys cannot contain whitespace.
- Calls must carry ``authorization: Bearer <key>``; keys are compared as SHA-256 digests with
  ``hmac.compare_digest`` against every configured key, without early exit. A missing or wrong
  key is UNAUTHENTICATED (through ``grpc_status``); the health service stays open.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

from darkroom.api.grpc_status import abort
from darkroom.config import ConfigError
from darkroom.queue.errors import Unauthenticated

__all__ = ["ApiKeys", "BearerAuth", "load_api_keys"]

_log = logging.getLogger(__name__)
_HEALTH_PREFIX = "/grpc.health.v1.Health/"

ApiKeys = Mapping[str, str] | Sequence[str]


def load_api_keys(path: str | Path) -> dict[str, str]:
    """Read an API key file (see the module docstring): name -> key."""
    keys: dict[str, str] = {}
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, key = line.partition(":")
        if not sep:
            name, key = f"key{number}", line
        name, key = name.strip(), key.strip()
        if not name or not key or re.search(r"\s", key):
            raise ConfigError(f"{path}:{number}: expected 'key' or 'name:key' without spaces in the key")
        if name in keys:
            raise ConfigError(f"{path}:{number}: API key name {name!r} is used twice")
        keys[name] = key
    return keys


class BearerAuth(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Refuses calls without a valid bearer key (UNAUTHENTICATED); health checks stay open."""

    def __init__(self, keys: ApiKeys) -> None:
        if isinstance(keys, str):
            raise ConfigError("api_keys must be a list of keys or a {name: key} mapping, not one str")
        named = keys.items() if isinstance(keys, Mapping) else ((f"key{i}", k) for i, k in enumerate(keys, 1))
        # Comparing fixed-size digests keeps even the key length out of the timing.
        self._digests = [(name, hashlib.sha256(key.encode()).digest()) for name, key in named]

    def client(self, presented: str) -> str | None:
        """The name of the key ``presented`` matches, comparing against every key (no early exit)."""
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        found = None
        for name, expected in self._digests:
            if hmac.compare_digest(digest, expected):
                found = name
        return found

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]], details: Any) -> Any:
        handler = await continuation(details)
        if handler is None or details.method.startswith(_HEALTH_PREFIX):
            return handler
        header = ""
        for key, value in details.invocation_metadata or ():
            if key == "authorization" and isinstance(value, str):
                header = value
        scheme, _, token = header.partition(" ")
        if not header:
            error = Unauthenticated("missing API key: send 'authorization: Bearer <key>'", field="authorization")
        elif scheme.lower() != "bearer" or not token.strip():
            error = Unauthenticated("authorization must be 'Bearer <key>'", field="authorization")
        elif (client := self.client(token.strip())) is None:
            error = Unauthenticated("the API key is not valid", field="authorization")
        else:
            _log.debug("%s by %s", details.method, client)
            return handler
        _log.info("refused %s: %s", details.method, error)
        return _refusal(handler, error)


def _refusal(handler: Any, error: Exception) -> Any:
    """A handler of the same shape as ``handler`` that only aborts with ``error``."""

    async def refuse(_request: Any, context: Any) -> None:
        await abort(context, error)

    kinds = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    make = kinds[(bool(handler.request_streaming), bool(handler.response_streaming))]
    return make(refuse, request_deserializer=handler.request_deserializer)
