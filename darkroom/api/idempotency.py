"""Idempotency keys (the IETF ``Idempotency-Key`` header draft, as Stripe and Mastodon use it): a
client that retries a POST with the same key gets the first answer again instead of a second
effect.

- :meth:`IdempotencyStore.begin` claims ``(scope, key)`` for a request whose method, path and body
  hash to ``fingerprint``. The first claim runs the request (:class:`Claim`); while it runs, the
  same key is :class:`~darkroom.api.errors.IdempotencyKeyInUse` (409); once it has finished, the
  same key and fingerprint get the stored :class:`StoredResponse` back, for ``ttl_s`` (24 h), and
  another fingerprint is :class:`~darkroom.api.errors.IdempotencyKeyReused` (422).
- :meth:`IdempotencyStore.finish` stores the answer; :meth:`IdempotencyStore.release` forgets the
  claim instead (a server error: the client may retry the same key and run it again). A claim
  expires after ``running_ttl_s`` (a crashed server's key is free again), and only its own
  claimant (a random token) can finish or release it.
- ``scope`` keeps clients apart: ``a:<account id>`` for a signed-in caller, ``ip:<address>`` for
  others, so one client's key never replays another's response.

Redis keys (``prefix`` is the store's, ``http`` in the web app):

====================================  ========  ===============================================
key                                   type      holds
====================================  ========  ===============================================
``PREFIX:{SCOPE}:idem:KEYHASH``       hash      ``fp`` (the request's fingerprint), ``token``
                                                (the claim's), ``state`` (``running``|``done``),
                                                then ``status``, ``headers`` (JSON), ``body``;
                                                expires ``running_ttl_s`` after the claim,
                                                ``ttl_s`` after the answer
====================================  ========  ===============================================

``KEYHASH`` is a SHA-256 prefix of the client's key (any printable ASCII, bounded length);
``{SCOPE}`` is the hash tag, the same ``{a:<id>}`` as the account's social keys.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import orjson
import redis

from darkroom.api.errors import IdempotencyKeyInUse, IdempotencyKeyReused, InvalidIdempotencyKey

__all__ = [
    "HEADER",
    "MAX_KEY_CHARS",
    "Claim",
    "IdempotencyStore",
    "StoredResponse",
    "check_key",
    "fingerprint",
]

HEADER = "Idempotency-Key"
MAX_KEY_CHARS = 255

# KEYS[1]: the record. ARGV: fingerprint, token, running_ttl_ms.
# Returns {'started'} | {'running'} | {'mismatch'} | {'done', status, headers, body}.
_BEGIN = """
local rec = redis.call('HMGET', KEYS[1], 'state', 'fp', 'status', 'headers', 'body')
if not rec[1] then
  redis.call('HSET', KEYS[1], 'state', 'running', 'fp', ARGV[1], 'token', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'started'}
end
if rec[2] ~= ARGV[1] then return {'mismatch'} end
if rec[1] == 'running' then return {'running'} end
return {'done', rec[3], rec[4], rec[5]}
"""

# KEYS[1]: the record. ARGV: token, then (finish) status, headers, body, ttl_ms. 1 if still ours.
_FINISH = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
if #ARGV == 1 then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[2], 'headers', ARGV[3], 'body', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""


def check_key(key: str) -> str:
    """``key`` if it is a usable idempotency key: 1-255 printable ASCII characters."""
    if not 1 <= len(key) <= MAX_KEY_CHARS or not key.isascii() or not key.isprintable():
        shown = key if len(key) <= 64 else key[:61] + "..."
        raise InvalidIdempotencyKey(
            f"{HEADER} {shown!r} must be 1-{MAX_KEY_CHARS} printable ASCII characters (a UUID is a good choice)",
            field=HEADER,
        )
    return key


def fingerprint(method: str, path: str, content_type: str, body_sha256: bytes) -> str:
    """What makes two requests "the same" for one key: method, path with query, content type and body."""
    head = "\x1f".join((method.upper(), path, content_type)).encode("utf-8", "surrogateescape")
    return hashlib.sha256(head + b"\x1f" + body_sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """An answer kept for replay: status, headers (name, value) and the whole body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class Claim:
    """The right to run the request of one key; hand it back to ``finish`` or ``release``."""

    redis_key: str
    token: str
    key: str


class IdempotencyStore:
    """Idempotency records in Redis (``client``: a ``redis.Redis``), under ``prefix``."""

    def __init__(
        self, client: redis.Redis, *, prefix: str = "http", ttl_s: float = 86400.0, running_ttl_s: float = 300.0
    ) -> None:
        if not ttl_s > 0 or not running_ttl_s > 0:
            raise ValueError("ttl_s and running_ttl_s must be > 0")
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("the idempotency store keeps bodies as bytes: use a client without decode_responses")
        self._prefix = prefix
        self.ttl_s = ttl_s
        self.running_ttl_s = running_ttl_s
        self._begin = client.register_script(_BEGIN)
        self._finish = client.register_script(_FINISH)

    def redis_key(self, scope: str, key: str) -> str:
        digest = hashlib.sha256(key.encode("ascii", "backslashreplace")).hexdigest()[:32]
        return f"{self._prefix}:{{{scope}}}:idem:{digest}"

    def begin(self, scope: str, key: str, fp: str) -> Claim | StoredResponse:
        """Claim ``key`` in ``scope`` for a request of fingerprint ``fp``, or the answer it got."""
        check_key(key)
        redis_key = self.redis_key(scope, key)
        token = secrets.token_hex(16)
        reply = self._begin(keys=[redis_key], args=[fp, token, max(1, int(self.running_ttl_s * 1000))])
        state = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        if state == "started":
            return Claim(redis_key, token, key)
        if state == "running":
            raise IdempotencyKeyInUse(
                f"a request with {HEADER} {key!r} is still running; retry when it has finished", field=HEADER
            )
        if state == "mismatch":
            raise IdempotencyKeyReused(
                f"{HEADER} {key!r} was already used for another request (another body, method or path); "
                "use a new key for a new request",
                field=HEADER,
            )
        headers = tuple((str(name), str(value)) for name, value in orjson.loads(reply[2]))
        return StoredResponse(int(reply[1]), headers, bytes(reply[3]))

    def finish(self, claim: Claim, response: StoredResponse) -> bool:
        """Keep ``response`` for ``ttl_s``; False when the claim had expired or was taken over."""
        headers = orjson.dumps([list(pair) for pair in response.headers])
        ttl_ms = max(1, int(self.ttl_s * 1000))
        return bool(
            self._finish(keys=[claim.redis_key], args=[claim.token, response.status, headers, response.body, ttl_ms])
        )

    def release(self, claim: Claim) -> bool:
        """Forget the claim, so the same key may run again; False when it was no longer ours."""
        return bool(self._finish(keys=[claim.redis_key], args=[claim.token]))
