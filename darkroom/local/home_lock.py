"""One platform per home: an exclusive ``flock`` on ``home/platform.lock``, held for the process's life.

The kernel drops the lock when the process dies, however it dies, so a crash leaves no stale lock
to clean up; the file keeps the holder's pid only to name it in the refusal.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, field
from pathlib import Path

from darkroom.home import private_home
from darkroom.local.errors import AlreadyRunning

__all__ = ["HomeLock"]


@dataclass
class HomeLock:
    """``acquire()`` or :class:`AlreadyRunning`; ``release()`` (also on exit of a ``with``)."""

    home: Path
    _fd: int | None = field(default=None, init=False, repr=False)

    @property
    def path(self) -> Path:
        return self.home / "platform.lock"

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> HomeLock:
        private_home(self.home)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunning(
                f"the platform is already running under {self.home.resolve()} (pid {holder}): "
                "stop it first, or use another home (DARKROOM_HOME / --home)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> HomeLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
