"""Passwords: argon2id hashes (argon2-cffi), length rules, and a dummy check for unknown accounts.

Production uses RFC 9106's second recommended profile (:data:`RFC_9106_LOW_MEMORY`: 64 MiB, 3
passes, 4 lanes; about 0.3 s on this machine class). :func:`configure` swaps the profile for the
process: the test suite installs :data:`FAST_FOR_TESTS` so thousands of accounts cost nothing.
A stored hash made with other parameters still verifies, and :func:`verify_password` hands back a
new hash to store, so raising the cost later upgrades hashes as people sign in.

Passwords are NFKC-normalised before hashing (NIST SP 800-63B, 5.1.1.2), so the same password typed
on another keyboard or input method still matches.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from darkroom.social.errors import InvalidInput

__all__ = [
    "FAST_FOR_TESTS",
    "PASSWORD_MAX_CHARS",
    "PASSWORD_MIN_CHARS",
    "RFC_9106_LOW_MEMORY",
    "Argon2Profile",
    "PasswordMatch",
    "active_profile",
    "check_password",
    "configure",
    "hash_password",
    "verify_dummy",
    "verify_password",
]

PASSWORD_MIN_CHARS = 8
PASSWORD_MAX_CHARS = 256  # argon2 takes any length; the cap keeps a request from buying CPU with bytes


@dataclass(frozen=True, slots=True)
class Argon2Profile:
    """argon2id cost parameters."""

    time_cost: int
    memory_cost_kib: int
    parallelism: int
    hash_len: int = 32
    salt_len: int = 16


RFC_9106_LOW_MEMORY = Argon2Profile(time_cost=3, memory_cost_kib=64 * 1024, parallelism=4)
FAST_FOR_TESTS = Argon2Profile(time_cost=1, memory_cost_kib=8, parallelism=1, hash_len=16)


@dataclass(slots=True)
class _Config:
    profile: Argon2Profile = field(default=RFC_9106_LOW_MEMORY)


_config = _Config()


@dataclass(frozen=True, slots=True)
class PasswordMatch:
    """A password that matched. ``new_hash`` is set when the stored hash used other parameters than
    the active profile: store it in place of the old one."""

    new_hash: str | None = field(default=None, repr=False)


def configure(profile: Argon2Profile) -> Argon2Profile:
    """Hash new passwords with ``profile`` from now on, in this process; returns the previous one."""
    previous, _config.profile = _config.profile, profile
    return previous


def active_profile() -> Argon2Profile:
    return _config.profile


@cache
def _hasher(profile: Argon2Profile) -> PasswordHasher:
    return PasswordHasher(
        time_cost=profile.time_cost,
        memory_cost=profile.memory_cost_kib,
        parallelism=profile.parallelism,
        hash_len=profile.hash_len,
        salt_len=profile.salt_len,
        type=Type.ID,
    )


@cache
def _dummy_hash(profile: Argon2Profile) -> str:
    return _hasher(profile).hash("darkroom: no such account")


def check_password(password: object, *, field: str = "password") -> str:
    """``password`` normalised, if it is 8-256 characters; else :class:`InvalidInput` giving its
    length (never the password itself)."""
    if not isinstance(password, str):
        raise InvalidInput(f"{field} must be a string, not {type(password).__name__}", field=field)
    text = unicodedata.normalize("NFKC", password)
    if not PASSWORD_MIN_CHARS <= len(text) <= PASSWORD_MAX_CHARS:
        raise InvalidInput(
            f"{field} is {len(text)} characters long: use {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS}",
            field=field,
        )
    return text


def hash_password(password: str) -> str:
    """The argon2id PHC string of ``password`` (checked by :func:`check_password`) under the active
    profile."""
    return _hasher(_config.profile).hash(check_password(password))


def verify_password(stored_hash: str, password: str) -> PasswordMatch | None:
    """A :class:`PasswordMatch` when ``password`` matches ``stored_hash``, else ``None`` (also for a
    malformed hash or a password outside the length rules: a login never explains which)."""
    if not isinstance(password, str):
        return None
    text = unicodedata.normalize("NFKC", password)
    if len(text) > PASSWORD_MAX_CHARS:
        return None  # long ones are refused unhashed; shorter wrong ones are hashed like any other
    hasher = _hasher(_config.profile)
    try:
        hasher.verify(stored_hash, text)
    except (VerificationError, InvalidHashError):
        return None
    return PasswordMatch(new_hash=hasher.hash(text) if hasher.check_needs_rehash(stored_hash) else None)


def verify_dummy(password: str) -> None:
    """Spend the time of a real check on a fixed hash: a login for an unknown account then takes
    as long as one with a wrong password, so timing does not tell whether the account exists."""
    verify_password(_dummy_hash(_config.profile), password)
