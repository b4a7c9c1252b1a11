"""Settings: secrets stay out of their repr (a log line or a traceback would show it); the
queue's limit values and the namespace rule live here, below the queue."""

from __future__ import annotations

import pytest

import darkroom.queue as dq
from darkroom.config import ConfigError, QueueLimits, Settings
from darkroom.queue.keys import Keys
from darkroom.queue.limits import Limits


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


def test_queue_limits_come_from_the_environment_and_get_the_queues_checks() -> None:
    settings = Settings.from_env({"DARKROOM_QUEUE_MAX_BATCH": "7", "DARKROOM_QUEUE_MAX_WAIT_S": "2.5"})
    assert settings.limits == QueueLimits(max_batch=7, max_wait_s=2.5)
    limits = Limits.of(settings.limits)
    assert (limits.max_batch, limits.max_wait_s) == (7, 2.5) and Limits.of(limits) is limits
    with pytest.raises(dq.InvalidArgument, match="wait_s 3"):
        limits.wait_s(3)
    with pytest.raises(ConfigError, match="DARKROOM_QUEUE_MAX_BATCH='many'"):
        Settings.from_env({"DARKROOM_QUEUE_MAX_BATCH": "many"})


@pytest.mark.parametrize("namespace", ["", "a{b}", "a b", "x" * 65, "dr*"])
def test_a_namespace_the_key_schema_refuses_is_a_config_error(namespace: str) -> None:
    with pytest.raises(ConfigError, match="DARKROOM_NAMESPACE"):
        Settings(namespace=namespace)
    with pytest.raises(dq.InvalidNamespace):
        Keys(namespace)  # the same rule, read from config


def test_the_http_address_comes_from_the_environment() -> None:
    assert Settings().http_addr == "127.0.0.1:8000"
    assert Settings.from_env({"DARKROOM_HTTP_ADDR": "0.0.0.0:0"}).http_addr == "0.0.0.0:0"
    assert Settings.from_env({"DARKROOM_HTTP_ADDR": "[::1]:65535"}).http_addr == "[::1]:65535"


@pytest.mark.parametrize(
    "address", ["127.0.0.1:99999", "127.0.0.1", ":8000", "localhost:http", "::1:8000", "[::1]", ""]
)
def test_a_bad_http_address_is_a_config_error_naming_it(address: str) -> None:
    with pytest.raises(ConfigError, match=f"DARKROOM_HTTP_ADDR={address!r}".replace("[", r"\[").replace("]", r"\]")):
        Settings.from_env({"DARKROOM_HTTP_ADDR": address})


def test_http_workers_and_threads_come_from_the_environment() -> None:
    settings = Settings.from_env({"DARKROOM_HTTP_WORKERS": "2", "DARKROOM_HTTP_THREADS": "8"})
    assert (settings.http_workers, settings.http_threads) == (2, 8)
    assert (Settings().http_workers, Settings().http_threads) == (1, 4)


@pytest.mark.parametrize("name", ["DARKROOM_HTTP_WORKERS", "DARKROOM_HTTP_THREADS"])
@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_http_workers_and_threads_below_one_are_config_errors_naming_them(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})
