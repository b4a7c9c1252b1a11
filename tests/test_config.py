"""Settings keep secrets out of their repr (a log line or a traceback would show it)."""

from __future__ import annotations

from darkroom.config import Settings


def test_secrets_stay_out_of_the_repr() -> None:
    settings = Settings.from_env(
        {
            "DARKROOM_REDIS_URL": "unix:///home/me/.darkroom/redis.sock?password=redis-secret",
            "DARKROOM_DATABASE_URL": "postgresql://darkroom:db-secret@127.0.0.1:5432/darkroom",
            "DARKROOM_API_KEY": "api-secret",
        }
    )
    shown = repr(settings)
    assert "Settings(home=" in shown
    for secret in ("redis-secret", "db-secret", "api-secret"):
        assert secret not in shown
    assert settings.redis_url.endswith("redis-secret")  # still there to use
