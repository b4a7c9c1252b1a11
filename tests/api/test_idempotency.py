"""darkroom.api.idempotency: claims, replays, conflicts and their lifetimes, on a real Redis."""

from __future__ import annotations

import hashlib

import pytest
import redis

from darkroom.api.errors import IdempotencyKeyInUse, IdempotencyKeyReused, InvalidIdempotencyKey
from darkroom.api.idempotency import MAX_KEY_CHARS, Claim, IdempotencyStore, StoredResponse, check_key, fingerprint

FP = fingerprint("POST", "/v1/posts", "application/json", hashlib.sha256(b'{"caption":"hi"}').digest())
ANSWER = StoredResponse(201, (("content-type", "application/json"), ("location", "/v1/posts/1")), b'{"id":"1"}\x00\xff')


def test_the_first_request_runs_and_its_answer_is_replayed(redis_client: redis.Redis) -> None:
    store = IdempotencyStore(redis_client)
    claim = store.begin("a:01A", "key-1", FP)
    assert isinstance(claim, Claim)
    assert store.finish(claim, ANSWER)
    assert store.begin("a:01A", "key-1", FP) == ANSWER
    assert 86_000_000 < redis_client.pttl(store.redis_key("a:01A", "key-1")) <= 86_400_000


def test_a_running_key_is_in_use_and_another_request_is_refused(redis_client: redis.Redis) -> None:
    store = IdempotencyStore(redis_client, running_ttl_s=60)
    claim = store.begin("ip:10.0.0.1", "k", FP)
    assert isinstance(claim, Claim)
    with pytest.raises(IdempotencyKeyInUse, match="'k' is still running"):
        store.begin("ip:10.0.0.1", "k", FP)
    other = fingerprint("POST", "/v1/posts", "application/json", hashlib.sha256(b'{"caption":"ho"}').digest())
    with pytest.raises(IdempotencyKeyReused, match="'k' was already used") as info:
        store.begin("ip:10.0.0.1", "k", other)
    assert info.value.field == "Idempotency-Key"
    assert 0 < redis_client.pttl(store.redis_key("ip:10.0.0.1", "k")) <= 60_000
    store.finish(claim, ANSWER)
    with pytest.raises(IdempotencyKeyReused):
        store.begin("ip:10.0.0.1", "k", other)


def test_scopes_keep_clients_apart(redis_client: redis.Redis) -> None:
    store = IdempotencyStore(redis_client)
    mine = store.begin("a:01A", "k", FP)
    assert isinstance(mine, Claim)
    store.finish(mine, ANSWER)
    assert isinstance(store.begin("a:01B", "k", FP), Claim)
    assert isinstance(store.begin("ip:10.0.0.1", "k", FP), Claim)


def test_a_released_claim_runs_again_and_only_its_owner_settles_it(redis_client: redis.Redis) -> None:
    store = IdempotencyStore(redis_client)
    first = store.begin("a:01A", "k", FP)
    assert isinstance(first, Claim)
    assert store.release(first)
    second = store.begin("a:01A", "k", FP)
    assert isinstance(second, Claim)
    # the first claimant (say, a request that outlived its claim) can no longer touch it
    assert not store.finish(first, ANSWER) and not store.release(first)
    assert store.finish(second, ANSWER)
    assert store.begin("a:01A", "k", FP) == ANSWER


@pytest.mark.parametrize("key", ["", "x" * (MAX_KEY_CHARS + 1), "caf\u00e9", "a\nb", "tab\tkey"])
def test_a_bad_key_is_refused_naming_it(key: str) -> None:
    with pytest.raises(InvalidIdempotencyKey) as info:
        check_key(key)
    assert info.value.field == "Idempotency-Key" and repr(key[:20]).rstrip("'") in str(info.value)


def test_the_longest_key_is_accepted(redis_client: redis.Redis) -> None:
    key = "k" * MAX_KEY_CHARS
    assert check_key(key) == key
    assert isinstance(IdempotencyStore(redis_client).begin("a:01A", key, FP), Claim)


def test_fingerprints_tell_requests_apart() -> None:
    body = hashlib.sha256(b"{}").digest()
    prints = {
        fingerprint("POST", "/v1/posts", "application/json", body),
        fingerprint("POST", "/v1/posts?x=1", "application/json", body),
        fingerprint("POST", "/v1/comments", "application/json", body),
        fingerprint("POST", "/v1/posts", "text/plain", body),
        fingerprint("POST", "/v1/posts", "application/json", hashlib.sha256(b"[]").digest()),
    }
    assert len(prints) == 5


def test_a_decoding_client_is_refused(redis_url: str) -> None:
    with pytest.raises(ValueError, match="decode_responses"):
        IdempotencyStore(redis.Redis.from_url(redis_url, decode_responses=True))
