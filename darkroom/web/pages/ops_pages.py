"""The operator pages, for admins: ``/ops/queues`` (every queue's depth per state and lateness),
``/ops/workflows`` (running and failed runs, paged) and ``/ops/workflows/{id}`` (a run's steps,
states, timings, failure), ``/ops/health`` (Redis, the database, the workers, and the alert checks
with charts of their last hour from ``/ops/health/history``), ``/ops/pipeline`` (the workflows'
step durations and deadline lateness per day and priority, from the analytics table
``darkroom.pipeline_sla``).

To anyone else, signed out or not an admin, every one of them answers exactly what a path that
does not exist answers (the app's 404): the pages do not say that they exist. With JavaScript the
lists refresh every 5 s while the tab is visible (``static/ops.js`` asks, htmx swaps the fragment).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from darkroom.api.errors import InvalidCursor
from darkroom.observability.health import Status, platform_health
from darkroom.queue.errors import QueueError
from darkroom.queue.models import State
from darkroom.queue.overview import overview
from darkroom.runtime.errors import WorkflowNotFound
from darkroom.web.caching import NO_STORE, json_response
from darkroom.web.deps import Deps
from darkroom.web.pages.health_views import CHARTS, chart_data, monitor_of, rule_rows
from darkroom.web.pages.ops_access import Admin, AdminRoute
from darkroom.web.pages.ops_views import dead_row, moment, queue_row, run_view
from darkroom.web.pages.rendering import is_htmx, pages_of
from darkroom.web.pages.stats_page import server_timing, unavailable
from darkroom.web.pages.stats_views import sla_rows

__all__ = [
    "DEAD_SHOWN",
    "MAX_PIPELINE_DAYS",
    "PIPELINE_DAYS",
    "RUNS_PER_PAGE",
    "SHOWN_STATES",
    "dead_page",
    "pipeline_page",
    "queues_page",
    "refused",
    "router",
]

router = APIRouter(prefix="/ops", include_in_schema=False, route_class=AdminRoute)
RUNS_PER_PAGE = 25
DEAD_SHOWN = 50  # dead messages listed on a queue's page; "Redrive all" takes every one
SHOWN_STATES = ("running", "failed")  # what an operator acts on; finished runs are the CLI's
PIPELINE_DAYS = 14  # /ops/pipeline's days by default (``?days=N``, 1 to MAX_PIPELINE_DAYS)
MAX_PIPELINE_DAYS = 90
_FILTERS = {"": SHOWN_STATES, "running": ("running",), "failed": ("failed",)}


def _fragment_or_page(
    request: Request, fragment: str, page: str, context: Mapping[str, object], *, live: bool = True
) -> Response:
    """The polled fragment to htmx, the whole page otherwise, saying when it was read and whether
    it refreshes itself (``live``); never stored (live numbers)."""
    shown, iso = moment(time.time())
    values = {**context, "updated": shown, "updated_iso": iso, "live": live}
    return pages_of(request).render(request, fragment if is_htmx(request) else page, values, cache=NO_STORE)


@router.get("")
def ops_home(_admin: Admin) -> Response:
    """``/ops``: the queues, the first of the pages."""
    return Response(status_code=303, headers={"Location": "/ops/queues"})


@router.get("/queues")
def queues_page(request: Request, deps: Deps, _admin: Admin) -> Response:
    """Every queue by name: ready, delayed, running, dead, completed, canceled, and lateness."""
    rows, problem = [], ""
    if deps.queue is None:
        problem = "This server has no queue client: the queues are not shown."
    else:
        try:
            rows = [queue_row(q) for q in overview(deps.queue)]
        except QueueError as exc:
            problem = f"The queues could not be read: {exc}"
    context = {"queues": rows, "problem": problem, "late": sum(1 for r in rows if r.late)}
    return _fragment_or_page(request, "_ops_queues.html", "ops_queues.html", context)


@router.get("/queues/{queue}/dead")
def dead_page(request: Request, queue: str, deps: Deps, _admin: Admin) -> Response:
    """A queue's dead messages (out of attempts), oldest first, each with its last error and Redrive."""
    if deps.queue is None:
        return refused(request, 404, "This server has no queue client: the queues are not shown.")
    try:
        info = deps.queue.get_queue(queue)
        found = deps.queue.query(queue, state=State.ERRORED, limit=DEAD_SHOWN)
        total = deps.queue.count(queue, State.ERRORED)
    except QueueError as exc:
        return refused(request, 404 if isinstance(exc, LookupError) else 409, str(exc))
    context = {"queue": info.name, "paused": info.paused, "dead": [dead_row(m) for m in found.messages], "total": total}
    return _fragment_or_page(request, "_ops_dead.html", "ops_dead.html", context)


@router.get("/workflows")
def workflows_page(request: Request, deps: Deps, _admin: Admin, state: str = "", cursor: str | None = None) -> Response:
    """Running and failed runs (``state=running|failed``: one of them), newest first, paged."""
    if state not in _FILTERS:
        return refused(request, 400, f"state {state!r} is not one of running, failed (or empty for both)")
    list_name = f"ops:workflows:{state}"
    before: float | None = None
    before_id: str | None = None
    if cursor:
        try:
            position = deps.cursors.decode(cursor, list_name=list_name)
            before, before_id = float(position["t"]), str(position["id"])
        except (InvalidCursor, KeyError, TypeError, ValueError) as exc:
            return refused(request, 400, str(exc) if isinstance(exc, InvalidCursor) else f"cursor {cursor!r}")
    found = deps.workflow_store.runs(
        states=_FILTERS[state], limit=RUNS_PER_PAGE + 1, before=before, before_id=before_id
    )
    now = time.time()
    runs = [run_view(r, now) for r in found[:RUNS_PER_PAGE]]
    next_href = None
    if len(found) > RUNS_PER_PAGE:
        last = found[RUNS_PER_PAGE - 1]
        following = deps.cursors.encode({"t": last.created_at, "id": last.id}, list_name=list_name)
        next_href = "/ops/workflows?" + urlencode({**({"state": state} if state else {}), "cursor": following})
    continued = cursor is not None
    context = {"runs": runs, "state": state, "next_href": next_href, "continued": continued}
    # a later page (a plain link) stays as it was read: a refresh would bring back the first
    return _fragment_or_page(request, "_ops_runs.html", "ops_workflows.html", context, live=not continued)


@router.get("/workflows/{workflow_id}")
def workflow_page(request: Request, workflow_id: str, deps: Deps, _admin: Admin) -> Response:
    """A run: its state, priority, deadline, timings, error, and every step's."""
    try:
        run = deps.workflow_store.get(workflow_id)
    except WorkflowNotFound as exc:
        return refused(request, 404, str(exc))
    context = {"run": run_view(run, time.time())}
    live = not run.done  # a finished run changes no more
    return _fragment_or_page(request, "_ops_run.html", "ops_workflow.html", context, live=live)


@router.get("/health")
def health_page(request: Request, deps: Deps, _admin: Admin) -> Response:
    """The checks, each ok, warn or fail, and the worst of them first in the heading."""
    redis_client = deps.queue.redis if deps.queue is not None else deps.redis
    checks = platform_health(redis_client, deps.engine, deps.workers)
    worst = max((c.status for c in checks), key=list(Status).index, default=Status.OK)
    monitor = monitor_of(request, deps)
    report = monitor.observe()  # also the history's point of this 10 s slot, if nobody recorded it
    points = monitor.history.points() if monitor.history else []
    context = {
        "checks": checks,
        "worst": worst,
        "rules": rule_rows(report, points),
        "rules_worst": report.status,
        "charts": CHARTS,
    }
    return _fragment_or_page(request, "_ops_health.html", "ops_health.html", context)


@router.get("/health/history")
def health_history(deps: Deps, request: Request, _admin: Admin) -> Response:
    """The last hour of the alert checks' values, for the page's charts (JSON, never stored)."""
    monitor = monitor_of(request, deps)
    points = monitor.history.points() if monitor.history else []
    return json_response(chart_data(points), cache=NO_STORE)


@router.get("/pipeline")
def pipeline_page(request: Request, deps: Deps, _admin: Admin, days: str = "") -> Response:
    """Per UTC day, workflow and priority: finished steps and their p50/p95 duration, finished runs,
    how many were late and their lateness (``darkroom.pipeline_sla``), the last ``days`` days."""
    started = time.perf_counter()
    shown = days.strip() or str(PIPELINE_DAYS)
    if not shown.isdigit() or not 1 <= int(shown) <= MAX_PIPELINE_DAYS:
        return refused(request, 400, f"days {days!r} is not a whole number of days from 1 to {MAX_PIPELINE_DAYS}")
    since = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=int(shown) - 1)
    from darkroom.analytics.errors import StatsUnavailable  # here: the pages load without pyiceberg

    try:
        rows = sla_rows(deps.stats.pipeline_days(since))
    except StatsUnavailable as exc:
        return unavailable(request, exc, detail=True)
    context = {
        "rows": rows,
        "series": sorted({r.series for r in rows}),
        "days": int(shown),
        "since": since.isoformat(),
        "choices": (7, 14, 30, 90),
    }
    headers = server_timing("pipeline", started)
    return pages_of(request).render(request, "ops_pipeline.html", context, cache=NO_STORE, headers=headers)


def refused(request: Request, status: int, message: str) -> Response:
    """The error page with ``status`` and ``message`` (escaped), never stored."""
    title = "Not available" if status == 404 else "Refused"
    context = {"title": title, "message": message}
    return pages_of(request).render(request, "error.html", context, status=status, cache=NO_STORE)
