"""darkroom.api.ratelimit: GCRA quotas in one Lua call, on a real Redis."""

from __future__ import annotations

import pytest
import redis

from darkroom.api.ratelimit import Quota, Rate, RateLimiter

# a long period: no request is re-admitted by the clock while a test runs
HOUR = 3600.0


def test_a_quota_admits_its_limit_then_refuses_with_the_wait(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    quota = Quota("ip", "10.0.0.1", Rate(5, HOUR))
    remaining = [limiter.hit([quota]).remaining for _ in range(5)]
    assert remaining == [4, 3, 2, 1, 0]
    refused = limiter.hit([quota])
    assert not refused.admitted and refused.remaining == 0
    # one request comes back every period / limit = 720 s; the whole quota after an hour
    assert 715 <= refused.retry_after_s <= 720
    assert 3595 <= refused.reset_s <= 3600
    assert refused.headers() == {
        "RateLimit-Limit": "5",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": str(refused.reset_s),
        "Retry-After": str(refused.retry_after_s),
    }
    # a refusal costs nothing: still refused, and not for longer
    again = limiter.hit([quota])
    assert not again.admitted and again.retry_after_s <= refused.retry_after_s


def test_a_limit_of_one(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    quota = Quota("account", "01A", Rate(1, HOUR))
    first = limiter.hit([quota])
    assert first.admitted and first.remaining == 0 and "Retry-After" not in first.headers()
    assert not limiter.hit([quota]).admitted


def test_quotas_are_charged_together_or_not_at_all(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    ip = Quota("ip", "10.0.0.1", Rate(10, HOUR))
    account = Quota("account", "01A", Rate(2, HOUR))
    assert [limiter.hit([ip, account]).remaining for _ in range(2)] == [1, 0]  # the account's is tighter
    refused = limiter.hit([ip, account])
    assert not refused.admitted and refused.quota == account
    # the address was charged for the two admitted requests only
    assert limiter.hit([ip]).remaining == 10 - 3
    # another account behind the same address has its own quota
    other = limiter.hit([ip, Quota("account", "01B", Rate(2, HOUR))])
    assert other.admitted and other.remaining == 1


def test_subjects_and_names_do_not_share_quotas(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    rate = Rate(1, HOUR)
    assert limiter.hit([Quota("ip", "a", rate)]).admitted
    assert limiter.hit([Quota("ip", "b", rate)]).admitted
    assert limiter.hit([Quota("account", "a", rate)]).admitted
    assert not limiter.hit([Quota("ip", "a", rate)]).admitted


def test_keys_expire_when_the_quota_is_whole_again(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client, prefix="t")
    quota = Quota("ip", "10.0.0.9", Rate(3, 60.0))
    limiter.hit([quota])
    assert limiter.key(quota) == "t:{rl}:ip:10.0.0.9"
    ttl_ms = redis_client.pttl(limiter.key(quota))
    assert 0 < ttl_ms <= 20_000  # one request's worth: 60 s / 3


def test_bad_arguments_are_refused(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    for limit, period in ((0, 1.0), (1, 0.0), (-1, 5.0)):
        with pytest.raises(ValueError, match="rate needs"):
            Rate(limit, period)
    with pytest.raises(ValueError, match="at least one quota"):
        limiter.hit([])
    with pytest.raises(ValueError, match="cost"):
        limiter.hit([Quota("ip", "a", Rate(1, 1.0))], cost=0)
