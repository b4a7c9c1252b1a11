"""Per-client API keys for gRPC services: the key file, and an interceptor checking bearer tokens.

- Key file: one key per line, optionally ``name:key`` (the name shows in debug logs, never the
  key); blank lines and lines starting with ``#`` are ignored; unnamed keys are called
  ``key<line>``. Keys cannot contain whitespace.
- The home's key file (``Settings.home_key_file``, ``api.keys``) is generated at a server's first
  start when no ``DARKROOM_API_KEYS_FILE`` is set: one ``local:<key>`` line, mode 0600 in a 0700
  home, written whole and linked into place, so two first starts agree on one key. Clients on
  this machine read the same file (:func:`client_key`), and keep it from a port that another
  local user listens on; ``DARKROOM_GRPC_AUTH=none`` turns auth off, loudly.
- A ``DARKROOM_API_KEYS_FILE`` that its group or others can write is refused (they could add a
  key); one they can read, or that another user owns, is served with a warning.
- Calls must carry ``authorization: Bearer <key>``; keys are compared as SHA-256 digests with
  ``hmac.compare_digest`` against every configured key, without early exit. A missing or wrong
  key is :class:`~darkroom.api.errors.Unauthenticated` (UNAUTHENTICATED in every service's status
  table); the health service stays open.
- Services for people, not programs (``darkroom.social.v1.SocialService``), authenticate their
  callers themselves, by the person's own token in the same header: name them in
  ``BearerAuth(keys, own_auth_services=...)`` and the key check lets their calls through to them.
  Every other service on the server still needs a key, and a person's token is no key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from pathlib import Path

import grpc
import grpc.aio

from darkroom.api.errors import InsecureTransport, Unauthenticated
from darkroom.api.grpc_status import API_STATUSES, abort
from darkroom.api.transport import is_local, listener_uids, port_of
from darkroom.config import ConfigError, Settings
from darkroom.home import private_home, write_secret_once

__all__ = ["LOCAL_KEY_NAME", "ApiKeys", "BearerAuth", "client_key", "ensure_home_key", "load_api_keys", "server_keys"]

_log = logging.getLogger(__name__)
_HEALTH_PREFIX = "/grpc.health.v1.Health/"

ApiKeys = Mapping[str, str] | Sequence[str]
LOCAL_KEY_NAME = "local"  # the name of the generated key in the home's key file


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


def ensure_home_key(settings: Settings) -> dict[str, str]:
    """The keys of the home's key file, generating it (one ``local`` key) if it does not exist."""
    path = settings.home_key_file
    private_home(settings.home)
    header = "# API keys of this home's gRPC server (name:key); generated at first start\n"
    write_secret_once(path, f"{header}{LOCAL_KEY_NAME}:{secrets.token_urlsafe(32)}\n")
    keys = load_api_keys(path)
    if not keys:
        raise ConfigError(f"{path} holds no API key: add one, or delete the file to generate one")
    return keys


def server_keys(settings: Settings) -> dict[str, str] | None:
    """The keys a server requires: ``DARKROOM_API_KEYS_FILE``, else the home's (generated at
    first start); None only when ``grpc_auth`` is ``none``, which is logged as a warning."""
    if settings.grpc_auth == "none":
        _log.warning(
            "gRPC authentication is OFF (DARKROOM_GRPC_AUTH=none or --no-auth): anyone who can reach "
            "%s can read, change and delete queues",
            settings.grpc_addr,
        )
        return None
    if settings.api_keys_file:
        path = Path(settings.api_keys_file)
        if path.exists():
            _check_keys_file(path)
        return load_api_keys(path)
    return ensure_home_key(settings)


def _check_keys_file(path: Path) -> None:
    """Refuse a key file that others may write (they could add a key of theirs); warn when others
    may read it, or when another user (not root) owns it."""
    info = path.stat()
    writers = [who for who, bit in (("its group", 0o020), ("every user", 0o002)) if info.st_mode & bit]
    if writers:
        raise ConfigError(
            f"API key file {path} can be written by {' and '.join(writers)}, who could add a key of their own: "
            "chmod 600 it"
        )
    if info.st_mode & 0o044:
        _log.warning("API key file %s is readable by other users: chmod 600 it", path)
    if info.st_uid not in (os.geteuid(), 0):
        _log.warning("API key file %s belongs to uid %d, who can change the keys", path, info.st_uid)


def client_key(settings: Settings, target: str) -> str | None:
    """The key a client sends to ``target``: ``DARKROOM_API_KEY`` if set; else, for a server on
    this machine, the ``local`` (else first) key of the key file a server of this home uses, if
    this user can read it. A remote target never gets the home's key unasked, nor does a port that
    another local user listens on (:class:`InsecureTransport`, naming that user's uid)."""
    if settings.api_key:
        return settings.api_key
    if not is_local(target):
        return None
    path = Path(settings.api_keys_file) if settings.api_keys_file else settings.home_key_file
    try:
        keys = load_api_keys(path)
    except (OSError, ConfigError):  # none yet, or not ours to read: the server will say UNAUTHENTICATED
        return None
    key = keys.get(LOCAL_KEY_NAME) or next(iter(keys.values()), None)
    port = port_of(target)
    strangers = listener_uids(port) - {os.geteuid(), 0} if key and port is not None else set()
    if strangers:
        # Whoever holds the port while the platform is down would collect the key and use it later.
        raise InsecureTransport(
            f"not sending the key of {path} to {target}: the port is held by uid "
            f"{', '.join(map(str, sorted(strangers)))}, not by you (uid {os.geteuid()}); another user may be "
            "posing as your server. Stop it, or serve on another port"
        )
    return key


class BearerAuth(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Refuses calls without a valid bearer key (UNAUTHENTICATED); health checks stay open, and so
    do the services named in ``own_auth_services`` (full names, ``darkroom.social.v1.SocialService``),
    which check their callers' credentials themselves."""

    def __init__(self, keys: ApiKeys, *, own_auth_services: Collection[str] = ()) -> None:
        if isinstance(keys, str):
            raise ConfigError("api_keys must be a list of keys or a {name: key} mapping, not one str")
        if isinstance(own_auth_services, str):
            raise ConfigError("own_auth_services must be a list of service names, not one str")
        # matched on the whole "/<service>/" prefix of a method, so no service's name is a prefix of another's
        self._own_auth = tuple(f"/{name}/" for name in own_auth_services)
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

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None or details.method.startswith((_HEALTH_PREFIX, *self._own_auth)):
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


def _refusal(handler: grpc.RpcMethodHandler, error: Exception) -> grpc.RpcMethodHandler:
    """A handler of the same shape as ``handler`` that only aborts with ``error``."""

    async def refuse(_request: object, context: grpc.aio.ServicerContext) -> None:
        await abort(context, error, API_STATUSES)

    kinds = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    make = kinds[(bool(handler.request_streaming), bool(handler.response_streaming))]
    return make(refuse, request_deserializer=handler.request_deserializer)
