"""What an operator does from the ``/ops`` pages, admins only (``ops_access.py``): pause and resume
a queue, redrive a dead message or all of a queue's, cancel a running workflow run. The same calls
as the platform's own clients: the queue client's ``pause``, ``resume``, ``query`` and ``redrive``,
the workflow client's ``cancel`` (``darkroom workflow cancel``).

Every action is a form with the session's CSRF token; without JavaScript it answers ``303`` back
to the page it came from; to htmx (the queue buttons) the page's fragment. Cancelling asks first:
the Cancel button answers a page with the confirm form, which alone cancels (no script dialog).
"""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

import darkroom.queue as dq
from darkroom.queue.errors import QueueError
from darkroom.queue.models import State
from darkroom.runtime.errors import WorkflowNotFound
from darkroom.runtime.functions import Registry
from darkroom.runtime.workflow.client import Workflows
from darkroom.web.caching import NO_STORE
from darkroom.web.deps import Deps, WebDeps
from darkroom.web.pages.ops_access import Admin, AdminRoute
from darkroom.web.pages.ops_pages import dead_page, queues_page, refused
from darkroom.web.pages.rendering import is_htmx, pages_of

__all__ = ["CONFIRMED", "router"]

router = APIRouter(prefix="/ops", include_in_schema=False, route_class=AdminRoute)
CONFIRMED = "yes"  # the confirm form's ``confirm`` value
_REDRIVE_PAGE = 100


def _queue(deps: WebDeps) -> dq.RedisQueue:
    if deps.queue is None:
        raise dq.QueueError("this server has no queue client")
    return deps.queue


def _back(location: str) -> Response:
    return Response(status_code=303, headers={"Location": location, "Cache-Control": str(NO_STORE)})


def _queue_refused(request: Request, exc: QueueError) -> Response:
    """No such queue or message 404, a malformed name 400, a message in another state 409."""
    status = 404 if isinstance(exc, LookupError) else 400 if isinstance(exc, ValueError) else 409
    return refused(request, status, str(exc))


@router.post("/queues/{queue}/pause")
def pause(request: Request, queue: str, deps: Deps, admin: Admin) -> Response:
    """Stop serving the queue's messages (they keep their places); back to the queues."""
    try:
        _queue(deps).pause(queue)
    except QueueError as exc:
        return _queue_refused(request, exc)
    return queues_page(request, deps, admin) if is_htmx(request) else _back("/ops/queues")


@router.post("/queues/{queue}/resume")
def resume(request: Request, queue: str, deps: Deps, admin: Admin) -> Response:
    """Serve the queue's messages again; back to the queues."""
    try:
        _queue(deps).resume(queue)
    except QueueError as exc:
        return _queue_refused(request, exc)
    return queues_page(request, deps, admin) if is_htmx(request) else _back("/ops/queues")


@router.post("/queues/{queue}/dead/{mid}/redrive")
def redrive(request: Request, queue: str, mid: str, deps: Deps, admin: Admin) -> Response:
    """One dead message back to ready with its attempts reset; back to the dead messages."""
    try:
        _queue(deps).redrive(queue, mid)
    except QueueError as exc:
        return _queue_refused(request, exc)
    return dead_page(request, queue, deps, admin) if is_htmx(request) else _back(f"/ops/queues/{queue}/dead")


@router.post("/queues/{queue}/dead/redrive")
def redrive_all(request: Request, queue: str, deps: Deps, admin: Admin) -> Response:
    """Every dead message of the queue back to ready, a page of ids at a time (a message that is
    no longer dead when its turn comes, redriven or canceled meanwhile, is left as it is)."""
    try:
        client = _queue(deps)
        while True:
            page = client.query(queue, state=State.ERRORED, limit=_REDRIVE_PAGE)
            moved = 0
            for message in page.messages:
                with contextlib.suppress(dq.Conflict):
                    client.redrive(queue, message.id)
                    moved += 1
            if len(page.messages) < _REDRIVE_PAGE or not moved:
                break
    except QueueError as exc:
        return _queue_refused(request, exc)
    return dead_page(request, queue, deps, admin) if is_htmx(request) else _back(f"/ops/queues/{queue}/dead")


@router.post("/workflows/{workflow_id}/cancel")
def cancel(
    request: Request, workflow_id: str, deps: Deps, _admin: Admin, confirm: Annotated[str, Form()] = ""
) -> Response:
    """Without ``confirm=yes``: the page asking to confirm. With it: the engine is asked to cancel
    the run (its queued tasks canceled, running ones told to stop); back to the run."""
    try:
        run = deps.workflow_store.get(workflow_id)
    except WorkflowNotFound as exc:
        return refused(request, 404, str(exc))
    if run.done:
        return refused(request, 409, f"workflow run {workflow_id!r} is {run.state} already: nothing to cancel")
    if confirm != CONFIRMED:
        context = {"run_id": run.id, "name": run.name, "href": f"/ops/workflows/{run.id}"}
        return pages_of(request).render(request, "ops_cancel.html", context, cache=NO_STORE)
    if deps.queue is None:
        return refused(request, 409, "this server has no queue client: runs cannot be canceled here")
    try:
        Workflows(deps.queue, deps.engine, Registry()).cancel(workflow_id, "canceled by an operator")
    except QueueError as exc:  # the engine's events queue is gone or Redis refused: say so
        return refused(request, 409, f"workflow run {workflow_id!r} could not be canceled: {exc}")
    return _back(f"/ops/workflows/{workflow_id}")
