"""Starting an upload's media workflow: which request, how urgent, and when.

A photo runs ``photo.renditions`` at priority ``interactive`` (deadline 60 s after the start); a
video runs the streaming profile (``streaming.video``) at ``preview`` (300 s). Backfills and
catalogue work run at ``standard`` (3,600 s) or ``batch`` (86,400 s), and the queues serve the
earliest deadline first, so a person's upload outranks them (``darkroom.runtime.workflow.dag.PRIORITIES``).
A video's deadline is looser than a photo's so that one long video does not hold back the photos
uploaded after it.

The domain functions take a :class:`WorkStarter`: anything that starts a service request under a
given run id. :class:`AfterCommit` is the real one: it starts the runs when the caller's transaction
has committed (a run started inside it would wait on SQLite's write lock, and the engine's tick
could arrive before the upload row is visible). Run ids are derived from the upload id, so a start
repeated after a crash finds the run already there.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import sqlalchemy as sa

from darkroom.runtime.workflow import Workflows
from darkroom.services import PhotoRequest, ServiceRequest, StreamingRequest, submit
from darkroom.services.common import Priority
from darkroom.social.intake import UploadKind

__all__ = ["PHOTO_PRIORITY", "VIDEO_PRIORITY", "AfterCommit", "WorkStarter", "media_request", "run_id_for"]

_log = logging.getLogger(__name__)

PHOTO_PRIORITY: Priority = "interactive"
VIDEO_PRIORITY: Priority = "preview"


def run_id_for(upload_id: str) -> str:
    """The workflow run id of an upload (the runtime's own form: ``wf_`` + a lowercase ULID)."""
    return f"wf_{upload_id.lower()}"


def media_request(kind: UploadKind, source_key: str, *, spec: Mapping[str, object] | None = None) -> ServiceRequest:
    """The service request that makes the renditions of an upload stored at ``source_key``; a photo's
    ``spec`` overrides the default renditions (an avatar's are small: ``darkroom.social.avatars``)."""
    source = {"$blob": source_key}
    if kind is UploadKind.PHOTO:
        return PhotoRequest.parse({"source": source, "priority": PHOTO_PRIORITY, "spec": dict(spec or {})})
    return StreamingRequest.parse({"source": source, "priority": VIDEO_PRIORITY})


class WorkStarter(Protocol):
    """Starts ``request`` as the workflow run ``run_id`` (idempotent: a second start of one id is a no-op)."""

    def __call__(self, request: ServiceRequest, *, run_id: str) -> None: ...


@dataclass
class AfterCommit:
    """A :class:`WorkStarter` that holds the starts until :meth:`flush`, called once the caller's
    transaction has committed (:meth:`transaction` does both). One per transaction.

    A start that fails here (Redis away, a process killed before the flush) is not lost: the
    upload stays ``processing`` without a run, and ``posts.advance_processing`` starts it again.
    """

    workflows: Workflows
    pending: list[tuple[ServiceRequest, str]] = field(default_factory=list)

    def __call__(self, request: ServiceRequest, *, run_id: str) -> None:
        self.pending.append((request, run_id))

    def flush(self) -> list[str]:
        """Start what is pending; answers the run ids started (or found already started)."""
        started: list[str] = []
        pending, self.pending = self.pending, []
        for request, run_id in pending:
            try:
                submit(self.workflows, request, id=run_id)
            except sa.exc.IntegrityError:
                pass  # another process started the same run id at the same moment: it is there
            except Exception:
                # Deliberately broad: the upload is committed, and the processing loop restarts
                # runs that never began, so a failed start is logged, not raised to the person.
                _log.exception("starting run %s failed; the processing loop will start it again", run_id)
                continue
            started.append(run_id)
        return started

    @contextlib.contextmanager
    def transaction(self, engine: sa.Engine) -> Iterator[sa.Connection]:
        """``engine.begin()``, then :meth:`flush` once it has committed."""
        with engine.begin() as conn:
            yield conn
        self.flush()
