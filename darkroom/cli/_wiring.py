"""The :class:`~darkroom.platform.wiring.Wiring` of a command that talks to a platform.

Imported inside the commands (it pulls in the runtime). Without ``--url`` or
``DARKROOM_REDIS_URL`` the platform is the private redis-server under ``--home``; only then is
:mod:`darkroom.local` imported, so a worker pointed at another host's Redis never loads it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from darkroom.cli._options import settings_for
from darkroom.platform.wiring import Wiring

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["HTTP_APP_FACTORY", "export_for_workers", "http_app", "wiring_for"]

# what each worker process of ``darkroom http --workers N`` calls to build its app
HTTP_APP_FACTORY = "darkroom.cli._wiring:http_app"


def _private_redis(home: Path) -> str | None:
    from darkroom.local.redis_server import running_url

    return running_url(home)


def wiring_for(home: Path | None, url: str | None, app: str | None = None, *, role: str = "cli") -> Wiring:
    """The wiring of ``--home`` / ``--url`` (the environment's settings otherwise) and ``--app``;
    ``role`` names its Redis connections (``darkroom:<role>``)."""
    return Wiring(settings=settings_for(home, url), app=app, private_redis=_private_redis, role=role)


def export_for_workers(home: Path | None, url: str | None) -> None:
    """Put ``--home`` / ``--url`` in the environment, where the worker processes of ``darkroom
    http`` (started fresh, not forked) read their settings."""
    if home is not None:
        os.environ["DARKROOM_HOME"] = str(home)
    if url:
        os.environ["DARKROOM_REDIS_URL"] = url


def http_app() -> FastAPI:
    """The HTTP app of the environment's platform (:data:`HTTP_APP_FACTORY`: one per worker,
    logging as the supervisor does)."""
    from darkroom.observability.logs import configure_logging
    from darkroom.web.main import app_for

    configure_logging(os.environ.get("DARKROOM_LOG_FORMAT", "auto"))

    return app_for(wiring_for(None, None, role="http"))
