"""The login throttle: failed logins counted per account and per address in Redis, in fixed
windows that start at the first failure (:class:`LoginThrottle`).

A login costs one round trip to check both counters (:func:`refuse_if_throttled`), one to count a
failure (:func:`count_failure`), one to clear the account's count on success (:func:`clear_account`;
the address's count stays: one good account must not reset a password spray). A login naming no
account is counted under a digest of what was typed, so the throttle tells nothing either.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import unicodedata
from dataclasses import dataclass

from redis import Redis

from darkroom.social import keys
from darkroom.social.errors import LoginThrottled

__all__ = ["FailureCounters", "LoginThrottle", "clear_account", "count_failure", "counters", "refuse_if_throttled"]


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    """Failed logins allowed per account and per address within ``window_s`` (counted from the
    first failure); one more and logins are refused until the window ends."""

    account_failures: int = 10
    address_failures: int = 50
    window_s: int = 900


FailureCounters = tuple[str, str]  # the Redis keys of the account's count and of the address's


def counters(account_id: str | None, login: object, address: str) -> FailureCounters:
    """The counters of a login from ``address`` (the client's IP) naming ``account_id``, or naming
    no account (``None``) as ``login``."""
    return (
        keys.login_fails_account(account_id if account_id else _unknown_subject(login)),
        keys.login_fails_ip(_subnet(address)),
    )


def refuse_if_throttled(client: Redis, fails: FailureCounters, throttle: LoginThrottle) -> None:
    """:class:`LoginThrottled` (naming the wait) when either count has reached its limit."""
    pipe = client.pipeline(transaction=False)
    for key in fails:
        pipe.get(key)
        pipe.pttl(key)
    account_n, account_ttl, address_n, address_ttl = pipe.execute()
    waits = [
        ttl
        for n, ttl, limit in (
            (account_n, account_ttl, throttle.account_failures),
            (address_n, address_ttl, throttle.address_failures),
        )
        if n is not None and int(n) >= limit
    ]
    if waits:
        retry_after_s = max(math.ceil(t / 1000) if t > 0 else throttle.window_s for t in waits)
        raise LoginThrottled(f"too many failed logins; try again in {retry_after_s} s", retry_after_s=retry_after_s)


def count_failure(client: Redis, fails: FailureCounters, throttle: LoginThrottle) -> None:
    pipe = client.pipeline(transaction=False)
    for key in fails:
        pipe.incr(key)
        pipe.expire(key, throttle.window_s, nx=True)  # the window starts at the first failure
    pipe.execute()


def clear_account(client: Redis, fails: FailureCounters) -> None:
    """Forget the account's failures after a good login (the address's count stays)."""
    client.delete(fails[0])


def _unknown_subject(login: object) -> str:
    """The throttle's stand-in id for a login that names no account: a digest of what was typed,
    so unknown names are throttled exactly like real ones and the throttle tells nothing either."""
    text = unicodedata.normalize("NFKC", login).strip().lower() if isinstance(login, str) else repr(login)
    return "unknown-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def _subnet(address: str) -> str:
    """What one client is: an IPv4 address, or an IPv6 /64 (a single host usually holds a whole
    /64, so counting single v6 addresses would let it try 2^64 times as often)."""
    text = address.strip().lower() if isinstance(address, str) else ""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text[:100] or "unknown"  # not an IP (a test client, a unix socket): counted as given
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
