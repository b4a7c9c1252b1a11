"""Media services: the media functions registered for the runtime and the workflows composing them.

``darkroom.services:registry`` holds every function (``media.*``) and workflow (``studio.video``,
``photo.renditions``); workers and engines load it by that name.
"""

from __future__ import annotations

from darkroom.services.functions import RejectedMedia, registry
from darkroom.services.photos import PHOTO_RENDITIONS
from darkroom.services.studio import STUDIO_VIDEO

__all__ = ["PHOTO_RENDITIONS", "STUDIO_VIDEO", "RejectedMedia", "registry"]
