"""The :class:`~darkroom.platform.wiring.Wiring` of a command that talks to a platform.

Imported inside the commands (it pulls in the runtime). Without ``--url`` or
``DARKROOM_REDIS_URL`` the platform is the private redis-server under ``--home``; only then is
:mod:`darkroom.local` imported, so a worker pointed at another host's Redis never loads it.
"""

from __future__ import annotations

from pathlib import Path

from darkroom.cli._options import settings_for
from darkroom.platform.wiring import Wiring

__all__ = ["wiring_for"]


def _private_redis(home: Path) -> str | None:
    from darkroom.local.redis_server import running_url

    return running_url(home)


def wiring_for(home: Path | None, url: str | None, app: str | None = None) -> Wiring:
    """The wiring of ``--home`` / ``--url`` (the environment's settings otherwise) and ``--app``."""
    return Wiring(settings=settings_for(home, url), app=app, private_redis=_private_redis)
