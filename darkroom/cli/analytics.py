"""``darkroom analytics …``: the Iceberg tables of the platform's events (docs/analytics.md).

The catalog and warehouse come from ``DARKROOM_ICEBERG_CATALOG_URI`` / ``DARKROOM_WAREHOUSE_URL``
(default: SQLite and a directory under ``--home``/warehouse).
"""

from __future__ import annotations

from typing import Annotated

import typer

from darkroom.cli._edge import new_app
from darkroom.cli._options import HomeOpt, RedisUrlOpt

__all__ = ["app"]

app = new_app("Analytics: the platform's events in Apache Iceberg tables.")


@app.command("ingest")
def ingest(
    *,
    max_batch_events: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="Events per commit at most (one Iceberg snapshot each).")
    ] = 100_000,
    max_batch_s: Annotated[
        float, typer.Option(min=0.1, max=3600, help="Seconds a batch collects events before it is committed.")
    ] = 5.0,
    home: HomeOpt = None,
    url: RedisUrlOpt = None,
) -> None:
    """Ingest the events stream into darkroom.events until stopped (SIGTERM, Ctrl-C): one commit per
    micro-batch, each event once."""
    from darkroom.analytics import BatchLimits, Ingester, catalog_location, open_catalog
    from darkroom.cli._params import fail
    from darkroom.cli._wiring import wiring_for
    from darkroom.cli.runtime import _logging, _stop_on_signals
    from darkroom.errors import DarkroomError

    _logging()
    w = wiring_for(home, url)
    w.redis.ping()  # an unreachable platform ends the command here, in one line
    try:
        limits = BatchLimits(max_batch_events=max_batch_events, max_batch_s=max_batch_s)
        ingester = Ingester(w.redis, open_catalog(catalog_location(w.settings)), limits)
    except DarkroomError as exc:
        fail(exc)
    stop = _stop_on_signals()
    try:
        ingester.run(stop)
    finally:
        ingester.close()
        w.close()
