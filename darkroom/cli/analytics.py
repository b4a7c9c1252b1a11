"""``darkroom analytics …``: the Iceberg tables of the platform's events (docs/analytics.md).

The catalog and warehouse come from ``DARKROOM_ICEBERG_CATALOG_URI`` / ``DARKROOM_WAREHOUSE_URL``
(default: SQLite and a directory under ``--home``/warehouse). ``jobs``, ``run``, ``backfill``,
``status`` and ``query`` are the incremental jobs' (docs/analytics.md, "Incremental jobs"); ``run``
and ``backfill`` start the jobs' workflows on the running platform, whose ``scheduler`` child
starts them on their triggers.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from darkroom.cli._edge import new_app
from darkroom.cli._options import HomeOpt, JsonOpt, RedisUrlOpt
from darkroom.cli._params import fail, out, print_json
from darkroom.errors import DarkroomError

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog as Catalog

    from darkroom.analytics import Ingester
    from darkroom.config import Settings

__all__ = ["app"]

app = new_app("Analytics: the platform's events in Apache Iceberg tables, and incremental jobs over them.")


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
    from darkroom.cli._wiring import wiring_for
    from darkroom.cli.runtime import _logging, _stop_on_signals

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
        ingester.run(
            stop, maintenance=_maintenance(ingester, w.settings), maintain_every_s=w.settings.analytics_maintain_every_s
        )
    finally:
        ingester.close()
        w.close()


def _maintenance(ingester: Ingester, settings: Settings) -> Callable[[], object]:
    """The ingest process's maintenance: every table compacted and expired between rounds, so a
    compaction of darkroom.events never races this process's commits."""
    from darkroom.analytics.maintenance import MaintenancePolicy, maintain

    policy = MaintenancePolicy.from_settings(settings)
    return lambda: maintain(ingester.catalog, policy)


@app.command("jobs")
def jobs(*, json_out: JsonOpt = False) -> None:
    """List the incremental jobs: what each computes, from which table into which, and how."""
    from darkroom.analytics.jobs import JOBS

    rows = [
        {"job": j.name, "pattern": str(j.pattern), "source": ".".join(j.source), "target": ".".join(j.target),
         "description": j.description}
        for j in JOBS
    ]  # fmt: skip
    if json_out:
        print_json(rows)
        return
    table = Table("job", "pattern", "source → target", "computes")
    for r in rows:
        table.add_row(
            escape(r["job"]), escape(r["pattern"]), escape(f"{r['source']} → {r['target']}"), escape(r["description"])
        )
    out().print(table)


WaitOpt = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Wait until the run's commits are in the tables (else print its id).")
]
TimeoutOpt = Annotated[
    float, typer.Option("--timeout-s", min=1, max=7 * 86400, help="Seconds to wait at most (the run goes on).")
]


@app.command("run")
def run_job(
    job: Annotated[str, typer.Argument(help="A job name (darkroom analytics jobs), or 'all' for every job in order.")],
    *,
    wait: WaitOpt = True,
    timeout_s: TimeoutOpt = 3600.0,
    home: HomeOpt = None,
    url: RedisUrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Start the job's workflow (analytics.JOB, or analytics.all) on the running platform and wait
    until its commit is in the table: it processes the source's change since the job's last commit
    (everything on the first run) and commits the result with the job's new state."""
    from darkroom.analytics.jobs import JOBS, job_named
    from darkroom.analytics.workflows import ALL, workflow_name

    try:
        name = ALL if job == "all" else workflow_name(job_named(job).name)
    except DarkroomError as exc:
        fail(exc)
    outputs = _start_and_wait(name, {}, wait=wait, timeout_s=timeout_s, home=home, url=url, json_out=json_out)
    if outputs is None:
        return
    runs = [outputs[j.name] for j in JOBS if j.name in outputs] if job == "all" else [outputs["run"]]
    if json_out:
        print_json(runs)
        return
    for r in runs:
        why = f" ({r['reason']})" if r["reason"] else ""
        keys = "" if r["keys_recomputed"] is None else f", {r['keys_recomputed']} keys recomputed"
        out().print(
            escape(
                f"{r['job']}: {r['mode']}{why}, source snapshot {r['source_snapshot_id']}, {r['files']} files "
                f"({r['records']} rows) in the change{keys}, {r['rows_written']} rows written, {r['elapsed_s']:.2f}s"
            )
        )


@app.command("backfill")
def backfill(
    job: Annotated[str, typer.Argument(help="A job name (darkroom analytics jobs).")],
    *,
    since: Annotated[str, typer.Option(help="The first day recomputed (YYYY-MM-DD, UTC).")],
    wait: WaitOpt = True,
    timeout_s: TimeoutOpt = 3600.0,
    home: HomeOpt = None,
    url: RedisUrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Start the backfill workflow on the running platform: the job's target recomputed from a day
    on (its rows from that day replaced in one commit), then the jobs downstream of it; each job
    is first caught up with its source."""
    from darkroom.analytics.jobs import JOBS, job_named
    from darkroom.analytics.jobs.backfill import parse_since
    from darkroom.analytics.jobs.dag import downstream
    from darkroom.analytics.workflows import backfill_workflow_name

    try:
        chosen, day = job_named(job), parse_since(since)
    except DarkroomError as exc:
        fail(exc)
    inputs = {"since": day.isoformat()}
    name = backfill_workflow_name(chosen.name)
    outputs = _start_and_wait(name, inputs, wait=wait, timeout_s=timeout_s, home=home, url=url, json_out=json_out)
    if outputs is None:
        return
    done = [outputs[j.name] for j in (chosen, *downstream(chosen, JOBS))]
    if json_out:
        print_json(done)
        return
    for b in done:
        out().print(
            escape(
                f"{b['job']}: {b['how']} from {b['since']}, source snapshot {b['source_snapshot_id']}, "
                f"{b['rows_written']} rows written, {b['elapsed_s']:.2f}s"
            )
        )


def _start_and_wait(
    name: str,
    inputs: Mapping[str, object],
    *,
    wait: bool,
    timeout_s: float,
    home: Path | None,
    url: str | None,
    json_out: bool,
) -> dict[str, Any] | None:
    """Start workflow ``name`` on the platform; with ``wait``, its outputs once it succeeded
    (a failed run ends the command in one line); without, print its id and answer None."""
    from darkroom.analytics.errors import JobRunFailed
    from darkroom.analytics.workflows import APP
    from darkroom.cli._wiring import wiring_for
    from darkroom.cli.analytics_progress import no_worker_note, wait_for_run

    w = wiring_for(home, url, APP)
    try:
        w.queue.redis.ping()  # no platform: one line here, before a database is made in a wrong --home
        run = w.workflows.start(name, inputs, labels={"trigger": "cli"})
        if not wait:
            if json_out:
                print_json({"workflow_id": run.id, "workflow": name})
            else:
                out().print(escape(run.id))
            return None
        if not json_out:
            out().print(escape(f"{name}: started {run.id}"))
        run = wait_for_run(w.workflows, run.id, timeout_s=timeout_s, note=no_worker_note(w))
        if run.state != "succeeded":
            raise JobRunFailed(f"run {run.id} of {name} {run.state}: {run.error or 'no error recorded'}")
    except DarkroomError as exc:
        fail(exc)
    finally:
        w.close()
    outputs: dict[str, Any] = run.outputs or {}
    return outputs


@app.command("scheduler")
def scheduler(*, home: HomeOpt = None, url: RedisUrlOpt = None) -> None:
    """Start each job's workflow when its source has a new snapshot, and on its interval, until
    stopped (SIGTERM, Ctrl-C); `darkroom up` runs it. One run per job at a time."""
    from darkroom.analytics import catalog_location, open_catalog
    from darkroom.analytics.scheduler import Scheduler, Triggers
    from darkroom.analytics.workflows import APP
    from darkroom.cli._wiring import wiring_for
    from darkroom.cli.runtime import _logging, _stop_on_signals

    _logging()
    w = wiring_for(home, url, APP, role="analytics-scheduler")
    w.queue.redis.ping()  # an unreachable platform ends the command here, in one line
    try:
        triggers = Triggers.from_settings(w.settings)
        catalog = open_catalog(catalog_location(w.settings))
    except DarkroomError as exc:
        fail(exc)
    stop = _stop_on_signals()
    try:
        Scheduler(w.workflows, catalog, triggers).run(stop)
    finally:
        catalog.engine.dispose()
        w.close()


@app.command("status")
def status(*, home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Each job's processed source snapshot and how far behind the source's head it is."""
    from darkroom.analytics.jobs import JOBS
    from darkroom.analytics.jobs.status import job_status

    with _catalog(home) as catalog:
        states = [job_status(catalog, j) for j in JOBS]
    if json_out:
        print_json([s.to_json() for s in states])
        return
    table = Table("job", "target", "processed snapshot", "source head", "behind", "lag")
    for s in states:
        behind = "—" if s.behind_snapshots is None else f"{s.behind_snapshots} snapshots, {s.behind_records} rows"
        lag = "—" if s.lag_s is None else f"{s.lag_s:.1f}s"
        table.add_row(
            escape(s.job), escape(s.target), escape(str(s.processed_snapshot_id or "never")),
            escape(str(s.source_snapshot_id or "—")), escape(behind), escape(lag),
        )  # fmt: skip
    out().print(table)


@app.command("query")
def query(
    sql: Annotated[
        str, typer.Argument(help="DuckDB SQL over the tables by name: events, events_clean, post_daily_stats, …")
    ],
    *,
    limit: Annotated[int, typer.Option(min=1, max=1_000_000, help="Rows printed at most.")] = 100,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run SQL (DuckDB) over the analytics tables and print the result as a table, or --json."""
    from darkroom.analytics.query import query as run_query

    with _catalog(home) as catalog:
        try:
            result = run_query(catalog, sql)
        except DarkroomError as exc:
            fail(exc)
    rows = result.slice(0, limit).to_pylist()
    if json_out:
        sys.stdout.write(json.dumps(rows, indent=2, default=str, ensure_ascii=False) + "\n")
        return
    table = Table(*(escape(name) for name in result.column_names))
    for row in rows:
        table.add_row(*(escape("NULL" if v is None else str(v)) for v in row.values()))
    out().print(table)
    if result.num_rows > limit:
        out().print(escape(f"({result.num_rows} rows, {limit} shown: --limit)"))


@app.command("maintain")
def maintain(
    *,
    compact: Annotated[
        bool, typer.Option("--compact", help="Rewrite partitions' small files into large ones.")
    ] = False,
    expire: Annotated[
        bool, typer.Option("--expire", help="Expire old snapshots no job needs, and delete orphan files.")
    ] = False,
    retention_s: Annotated[
        float | None,
        typer.Option(min=0, help="Expire snapshots older than this (default DARKROOM_ANALYTICS_SNAPSHOT_RETENTION_S)."),
    ] = None,
    quiet_s: Annotated[
        float, typer.Option(min=0, help="Leave a partition alone while a file was added to it within this.")
    ] = 3600.0,
    min_files: Annotated[
        int, typer.Option(min=2, max=1_000_000, help="Compact a partition from this many small files.")
    ] = 10,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Maintain every analytics table once: compact small files (one replace commit per partition),
    then expire snapshots older than the retention, never one a job still needs (neither flag: both)."""
    from darkroom.analytics.compaction import CompactionPolicy
    from darkroom.analytics.expiry import ExpiryPolicy
    from darkroom.analytics.maintenance import MaintenancePolicy
    from darkroom.analytics.maintenance import maintain as run_maintenance
    from darkroom.cli._options import settings_for

    both = not (compact or expire)
    retention = retention_s if retention_s is not None else settings_for(home).analytics_snapshot_retention_s
    policy = MaintenancePolicy(
        CompactionPolicy(min_files=min_files, quiet_s=quiet_s), ExpiryPolicy(retention_s=retention)
    )
    with _catalog(home) as catalog:
        try:
            done = run_maintenance(catalog, policy, compaction=compact or both, expiry=expire or both)
        except (DarkroomError, OSError, ValueError) as exc:
            fail(exc)
    if json_out:
        print_json({
            "compacted": [{k: getattr(c, k) for k in c.__slots__} for c in done.compacted],
            "expired": [{k: getattr(e, k) for k in e.__slots__ if k != "needed"}
                        | {"needed": {str(i): why for i, why in e.needed.items()}} for e in done.expired],
            "elapsed_s": done.elapsed_s,
        })  # fmt: skip
        return
    for c in done.compacted:
        out().print(
            escape(
                f"{c.table} {c.partition}: {c.files_before} files → {c.files_after} ({c.rows} rows, "
                f"{c.bytes_before} → {c.bytes_after} bytes), snapshot {c.snapshot_id}, {c.elapsed_s:.2f}s"
            )
        )
    for e in done.expired:
        kept = sorted(set(e.needed.values()))
        out().print(
            escape(
                f"{e.table}: {e.expired} snapshots expired, {e.retained} kept ({', '.join(kept) or 'none needed'}), "
                f"{e.orphans_removed} orphan files deleted ({e.orphan_bytes} bytes)"
            )
        )
    if (compact or both) and not done.compacted:
        out().print("no partition needed compacting")


@contextmanager
def _catalog(home: Path | None) -> Iterator[Catalog]:
    """The catalog ``--home`` and the environment name; a bad location ends the command."""
    from darkroom.analytics import catalog_location, open_catalog
    from darkroom.cli._options import settings_for

    try:
        catalog = open_catalog(catalog_location(settings_for(home)))
    except DarkroomError as exc:
        fail(exc)
    try:
        yield catalog
    finally:
        catalog.engine.dispose()
