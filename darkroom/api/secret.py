"""The servers' secret (signs page cursors, derives the HTTP app's CSRF tokens), kept in the home so
every process of one deployment, the HTTP app and the gRPC SocialService alike, and the next start,
share it: ``home/http.secret`` (the name it had when only HTTP used it), 32 random bytes (hex), mode
0600, generated at the first start and linked into place whole, so two first starts agree on one
secret."""

from __future__ import annotations

import secrets

from darkroom.config import ConfigError, Settings
from darkroom.home import private_home, write_secret_once

__all__ = ["SECRET_FILE", "load_secret"]

SECRET_FILE = "http.secret"


def load_secret(settings: Settings) -> bytes:
    """The home's server secret, generating it if there is none."""
    path = private_home(settings.home) / SECRET_FILE
    write_secret_once(path, secrets.token_hex(32) + "\n")
    try:
        secret = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except ValueError:
        secret = b""
    if len(secret) < 16:
        raise ConfigError(f"{path} does not hold a secret of at least 16 bytes in hex: delete it to generate one")
    return secret
