"""Media services: one module per service (its request type, functions and workflow), the
orchestrators (``streaming.video``, ``studio.video``) and the API that starts them.

``darkroom.services:registry`` holds every function (``media.*``) and workflow; workers and engines
load it by that name. ``submit(workflows, request)`` / ``parse(kind, data)`` are the entry points.
"""

from __future__ import annotations

from darkroom.services.api import REQUESTS, parse, request_type, submit
from darkroom.services.chunking import ChunkPolicy
from darkroom.services.common import BlobRef, ServiceRequest, registry
from darkroom.services.complexity import (
    COMPLEXITY,
    COMPLEXITY_STORE,
    ComplexityOptions,
    ComplexityRequest,
    ComplexityStore,
)
from darkroom.services.encoding import ENCODING, EncodeRequest
from darkroom.services.errors import ChunkFailed, InvalidRendition, InvalidRequest, RejectedMedia, ServiceError
from darkroom.services.images import IMAGES_VIDEO, PHOTO_RENDITIONS, PhotoRequest, VideoImagesRequest
from darkroom.services.inspection import INSPECTION, InspectRequest
from darkroom.services.ladder import LADDER, LadderOptions, LadderRequest
from darkroom.services.ladder_check import anchor_fn, ladder_check_fn  # noqa: F401  (registers the steps)
from darkroom.services.packaging import PACKAGING, PackageRequest
from darkroom.services.quality import QUALITY, QualityOptions, QualityRequest
from darkroom.services.streaming import STREAMING_VIDEO, StreamingRequest
from darkroom.services.studio import STUDIO_VIDEO, StudioRequest
from darkroom.services.validation import VALIDATION, Rendition, ValidateOptions, ValidateRequest

__all__ = [
    "COMPLEXITY",
    "COMPLEXITY_STORE",
    "ENCODING",
    "IMAGES_VIDEO",
    "INSPECTION",
    "LADDER",
    "PACKAGING",
    "PHOTO_RENDITIONS",
    "QUALITY",
    "REQUESTS",
    "STREAMING_VIDEO",
    "STUDIO_VIDEO",
    "VALIDATION",
    "BlobRef",
    "ChunkFailed",
    "ChunkPolicy",
    "ComplexityOptions",
    "ComplexityRequest",
    "ComplexityStore",
    "EncodeRequest",
    "InspectRequest",
    "InvalidRendition",
    "InvalidRequest",
    "LadderOptions",
    "LadderRequest",
    "PackageRequest",
    "PhotoRequest",
    "QualityOptions",
    "QualityRequest",
    "RejectedMedia",
    "Rendition",
    "ServiceError",
    "ServiceRequest",
    "StreamingRequest",
    "StudioRequest",
    "ValidateOptions",
    "ValidateRequest",
    "VideoImagesRequest",
    "parse",
    "registry",
    "request_type",
    "submit",
]
