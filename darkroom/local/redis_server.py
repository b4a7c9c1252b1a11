"""A private redis-server for the embedded platform, kept under ``.darkroom/``.

It listens on a unix socket (TCP on 127.0.0.1 only when asked), requires a generated password
kept in a 0600 file, and writes an append-only file so acknowledged work survives a restart. The
root is a private home (:func:`darkroom.home.private_home`: 0700, this user's) and the server runs
with umask 077, so its data, log and socket are this user's alone.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from darkroom.errors import DarkroomError
from darkroom.home import private_home

__all__ = ["RedisServer", "RedisServerError", "running_url"]


class RedisServerError(DarkroomError, RuntimeError):
    """The private redis-server could not be started or reached."""


def _quoted(path: Path) -> str:
    """``path`` as one redis.conf argument: a space, quote or newline in a home stays in it."""
    escaped = "".join(
        "\\" + ch if ch in '"\\' else f"\\x{ord(ch):02x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch
        for ch in str(path)
    )
    return f'"{escaped}"'


@dataclass
class RedisServer:
    """Start, reuse and stop the project's own redis-server.

    ``appendfsync``: ``everysec`` loses at most about one second of acknowledged writes when the
    machine (not just the process) dies; ``always`` fsyncs before every reply and loses nothing.
    """

    root: Path = Path(".darkroom")
    tcp_port: int | None = None
    appendfsync: str = "everysec"
    maxmemory_mb: int = 0
    # more redis.conf lines, after the project's own (a later line wins): tests use it for
    # ``enable-debug-command local`` or a tiny ``maxmemory``
    extra_config: tuple[str, ...] = ()
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def socket_path(self) -> Path:
        return self.root.resolve() / "redis.sock"

    @property
    def pid_file(self) -> Path:
        return self.root.resolve() / "redis.pid"

    @property
    def pid(self) -> int | None:
        """The server's pid: the child this object started, else the pid file's (an attached server)."""
        if self._proc is not None:
            return self._proc.pid
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    @property
    def running(self) -> bool:
        """Whether the process is alive (not whether it answers: a busy server may be slow to)."""
        if self._proc is not None:
            return self._proc.poll() is None  # reaps a dead child: no zombie is left behind
        pid = self.pid
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    @property
    def password_file(self) -> Path:
        return self.root / "redis.password"

    @property
    def password(self) -> str:
        return self.password_file.read_text().strip()

    @property
    def url(self) -> str:
        """Connection URL (unix socket), with the password; never log it."""
        return f"unix://{self.socket_path}?password={quote(self.password, safe='')}"

    @property
    def tcp_url(self) -> str:
        if self.tcp_port is None:
            raise RedisServerError("this redis-server was not asked to listen on TCP")
        return f"redis://:{quote(self.password, safe='')}@127.0.0.1:{self.tcp_port}/0"

    def _ensure_password(self) -> None:
        private_home(self.root)
        if not self.password_file.exists():
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(32) + "\n")
        os.chmod(self.password_file, 0o600)

    def _config(self) -> str:
        data = self.root.resolve() / "redis-data"
        data.mkdir(mode=0o700, exist_ok=True)
        lines = [
            f"unixsocket {_quoted(self.socket_path)}",
            "unixsocketperm 700",
            f"port {self.tcp_port or 0}",
            "bind 127.0.0.1",
            "protected-mode yes",
            f"requirepass {self.password}",
            f"dir {_quoted(data)}",
            "appendonly yes",
            f"appendfsync {self.appendfsync}",
            # A queue rewrites its keys all the time: with the default 64 MB threshold the AOF is
            # compacted every few seconds under load, and each fork costs a tail-latency spike on a
            # small host. Compact less often; the base is an RDB preamble, so replay stays fast.
            "auto-aof-rewrite-min-size 256mb",
            "auto-aof-rewrite-percentage 200",
            # The rewrite child competes for the same few cores as the server and its clients:
            # without LZF it finishes about a third sooner (measured: 0.75 s instead of 1.15 s for
            # 400,000 finished messages), for a base file about a quarter larger.
            "rdbcompression no",
            'save ""',
            f"pidfile {_quoted(self.pid_file)}",
            f"logfile {_quoted(self.root.resolve() / 'redis.log')}",
            "daemonize no",
            "maxclients 10000",
            # Record stalls of 5 ms or more (LATENCY LATEST): the health check's latency spikes and
            # their cause (a fork, an AOF write) come from here; it costs nothing below the threshold.
            "latency-monitor-threshold 5",
        ]
        if self.maxmemory_mb:
            lines += [f"maxmemory {self.maxmemory_mb}mb", "maxmemory-policy noeviction"]
        lines += list(self.extra_config)
        return "\n".join(lines) + "\n"

    def _control_client(self, socket_timeout: float | None = None) -> redis.Redis:
        # no retries: a refused connection must answer "not running" at once, not after backoff
        return redis.Redis(
            unix_socket_path=str(self.socket_path),
            password=self.password,
            socket_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
        )

    def ping(self) -> bool:
        if not self.socket_path.exists() or not self.password_file.exists():
            return False
        try:
            client = self._control_client(socket_timeout=1)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except (redis.ConnectionError, redis.TimeoutError, redis.AuthenticationError, OSError):
            return False

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        """Start the server, or attach to the one already running under ``root``. Starting again
        after it died reuses its socket, password and data (the AOF replays what it had)."""
        if self._proc is not None and self._proc.poll() is not None:
            self._proc = None  # died: start anew
        if self.ping():
            return self
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisServerError("redis-server is not installed (apt-get install redis-server)")
        self._ensure_password()
        # The configuration goes through stdin ("-"), not a file named on the command line:
        # redis-server reads a path with [, * or ? as a glob, and one that matches nothing leaves it
        # on its defaults (no password, port 6379 on every interface). umask 077: its append-only
        # file (every message), log and pid file are the user's alone, whatever the home's mode.
        # stdout: its "Reading config from stdin" (its log goes to redis.log, fatal errors to stderr)
        self._proc = subprocess.Popen(
            [binary, "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            umask=0o077,
            cwd=self.root.resolve(),
        )
        assert self._proc.stdin is not None
        with self._proc.stdin:
            self._proc.stdin.write(self._config().encode())  # a few hundred bytes: the pipe holds them
        give_up = time.monotonic() + timeout_s
        while not self.ping():
            if self._proc.poll() is not None:
                raise RedisServerError(f"redis-server exited with {self._proc.returncode}; see {self.root}/redis.log")
            if time.monotonic() > give_up:
                self._proc.kill()
                raise RedisServerError(f"redis-server did not answer within {timeout_s:g}s")
            time.sleep(0.02)  # readiness probe of a child process, not test synchronisation
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Shut down cleanly (the AOF is flushed); only a server this object started."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            try:
                self._control_client().shutdown(nosave=True)
            except (redis.ConnectionError, redis.ResponseError, OSError):
                self._proc.terminate()
            try:
                self._proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def kill(self) -> None:
        """SIGKILL the server (crash tests)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def running_url(home: Path) -> str | None:
    """The URL of the private redis-server running under ``home``, or None (a
    :class:`~darkroom.platform.wiring.Wiring`'s ``private_redis``)."""
    server = RedisServer(root=home)
    return server.url if server.ping() else None
