"""Passwords: argon2id under a configurable profile, the 8-256 length rule, rehashing, the dummy check."""

from __future__ import annotations

from collections.abc import Iterator

import argon2
import pytest
from argon2.profiles import RFC_9106_LOW_MEMORY as ARGON2_LOW_MEMORY

from darkroom.social import passwords
from darkroom.social.errors import InvalidInput
from darkroom.social.passwords import FAST_FOR_TESTS, RFC_9106_LOW_MEMORY, Argon2Profile

OTHER = Argon2Profile(time_cost=2, memory_cost_kib=16, parallelism=1, hash_len=16)


@pytest.fixture
def other_profile() -> Iterator[None]:
    previous = passwords.configure(OTHER)
    yield
    passwords.configure(previous)


def test_the_suite_runs_on_the_fast_profile_and_production_on_rfc_9106() -> None:
    assert passwords.active_profile() == FAST_FOR_TESTS
    params = ARGON2_LOW_MEMORY
    assert (params.time_cost, params.memory_cost, params.parallelism) == (
        RFC_9106_LOW_MEMORY.time_cost,
        RFC_9106_LOW_MEMORY.memory_cost_kib,
        RFC_9106_LOW_MEMORY.parallelism,
    )
    assert (params.hash_len, params.salt_len) == (RFC_9106_LOW_MEMORY.hash_len, RFC_9106_LOW_MEMORY.salt_len)


def test_hash_is_argon2id_and_verifies() -> None:
    stored = passwords.hash_password("correct horse")
    assert stored.startswith("$argon2id$") and "m=8,t=1,p=1" in stored
    assert passwords.verify_password(stored, "correct horse") is not None
    assert passwords.verify_password(stored, "correct hors") is None
    assert passwords.hash_password("correct horse") != stored  # salted


@pytest.mark.parametrize("length", [8, 256])
def test_lengths_at_the_limits_are_accepted(length: int) -> None:
    password = "p" * length
    assert passwords.verify_password(passwords.hash_password(password), password) is not None


@pytest.mark.parametrize("length", [0, 7, 257])
def test_lengths_past_the_limits_are_refused_without_echoing_the_password(length: int) -> None:
    password = "s3cr" * 65
    password = password[:length]
    with pytest.raises(InvalidInput, match=f"is {length} characters long: use 8 to 256") as caught:
        passwords.hash_password(password)
    assert caught.value.field == "password"
    assert not password or password not in str(caught.value)


def test_a_long_guess_is_refused_unhashed() -> None:
    stored = passwords.hash_password("p" * 256)
    assert passwords.verify_password(stored, "p" * 257) is None


def test_unicode_passwords_match_across_input_methods() -> None:
    stored = passwords.hash_password("\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44\uff11")  # fullwidth
    assert passwords.verify_password(stored, "password1") is not None


def test_malformed_hashes_and_non_strings_do_not_match() -> None:
    assert passwords.verify_password("not a hash", "whatever1") is None
    assert passwords.verify_password(passwords.hash_password("whatever1"), None) is None  # type: ignore[arg-type]


def test_a_hash_of_other_parameters_is_upgraded(other_profile: None) -> None:
    old = passwords.hash_password("correct horse")
    assert "m=16,t=2,p=1" in old
    assert passwords.verify_password(old, "correct horse") == passwords.PasswordMatch(None)
    passwords.configure(FAST_FOR_TESTS)
    match = passwords.verify_password(old, "correct horse")
    assert match is not None and match.new_hash is not None
    assert "m=8,t=1,p=1" in match.new_hash and "new_hash" not in repr(match)
    assert passwords.verify_password(match.new_hash, "correct horse") == passwords.PasswordMatch(None)


def test_the_dummy_check_matches_nothing() -> None:
    assert passwords.verify_dummy("darkroom: no such account") is None
    assert passwords.verify_dummy("anything at all") is None


def test_production_parameters_hash_what_argon2_expects() -> None:
    # One real hash with the production profile: slow-ish (0.3 s) but proves the parameters are valid.
    previous = passwords.configure(RFC_9106_LOW_MEMORY)
    try:
        stored = passwords.hash_password("correct horse")
    finally:
        passwords.configure(previous)
    assert argon2.extract_parameters(stored) == ARGON2_LOW_MEMORY
