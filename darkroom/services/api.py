"""The services' API: validate a request, turn it into a workflow's inputs, start the run.

>>> request = parse("streaming", {"source": {"$blob": "uploads/clip.mp4"}, "chunk": "always"})
>>> run = submit(workflows, request)

Bad input raises :class:`~darkroom.services.errors.InvalidRequest` naming the field and value, and
nothing is started.
"""

from __future__ import annotations

from collections.abc import Mapping

from darkroom.runtime.directory import WorkerDirectory
from darkroom.runtime.workflow import Workflows
from darkroom.runtime.workflow.store import RunRow
from darkroom.services.common import QUEUE_MEDIA, ServiceRequest
from darkroom.services.complexity import ComplexityRequest
from darkroom.services.encoding import EncodeRequest
from darkroom.services.errors import InvalidRequest
from darkroom.services.images import PhotoRequest, VideoImagesRequest
from darkroom.services.inspection import InspectRequest
from darkroom.services.ladder import LadderRequest
from darkroom.services.packaging import PackageRequest
from darkroom.services.quality import QualityRequest
from darkroom.services.streaming import StreamingRequest
from darkroom.services.studio import StudioRequest
from darkroom.services.validation import ValidateRequest

__all__ = ["REQUESTS", "media_hosts", "parse", "request_type", "submit"]

_TYPES: tuple[type[ServiceRequest], ...] = (
    InspectRequest, ComplexityRequest, LadderRequest, EncodeRequest, QualityRequest, ValidateRequest,
    PackageRequest, PhotoRequest, VideoImagesRequest, StreamingRequest, StudioRequest,
)  # fmt: skip
# Each request type by its short kind ("streaming") and by its workflow's name ("streaming.video").
REQUESTS: dict[str, type[ServiceRequest]] = {
    **{t.kind: t for t in _TYPES},
    **{t.workflow: t for t in _TYPES},
}


def request_type(kind: str) -> type[ServiceRequest]:
    """The request class of ``kind`` (a short kind or a workflow name)."""
    try:
        return REQUESTS[kind]
    except (KeyError, TypeError):
        known = ", ".join(sorted(t.kind for t in _TYPES))
        raise InvalidRequest(f"request kind {kind!r} is not one of {known}", field="kind", value=kind) from None


def parse(kind: str, data: Mapping[str, object]) -> ServiceRequest:
    """A validated request of ``kind`` from JSON-shaped ``data``."""
    return request_type(kind).parse(data)


def media_hosts(workflows: Workflows) -> int:
    """How many hosts have a live worker serving the media queue (the worker directory), at least 1."""
    return max(1, len(WorkerDirectory.of(workflows.inbox.queue).hosts(QUEUE_MEDIA)))


def submit(
    workflows: Workflows,
    request: ServiceRequest,
    *,
    id: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> RunRow:
    """Validate ``request`` again (it may have been built without validation), fill in what it left
    to the platform (a chunking policy's worker hosts: :func:`media_hosts`), then start its workflow
    with the request's priority and deadline overrides. ``id`` makes the start idempotent."""
    if not isinstance(request, ServiceRequest):
        raise InvalidRequest(f"{request!r} is not a service request", field="request", value=request)
    checked = type(request).parse(request.model_dump(by_alias=True)).with_hosts(lambda: media_hosts(workflows))
    return workflows.start(
        checked.workflow, checked.inputs(), priority=checked.priority, deadline=checked.deadline(), id=id,
        labels=labels,
    )  # fmt: skip
