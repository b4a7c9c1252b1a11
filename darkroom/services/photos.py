"""Workflow ``photo.renditions`` (priority ``interactive``): one photo → its renditions + a blurhash.

Inputs: ``source`` (``{"$blob": key}``) and ``spec`` (:class:`~darkroom.media.image.PhotoSpec`
overrides, ``{}`` for the defaults: 1080/640/320 wide and a 150 square thumbnail, JPEG + WebP + AVIF).
Outputs: ``renditions`` (name, format, width, height, size_bytes and ``file``, a blob reference),
``blurhash`` and ``source`` (dimensions, format, EXIF orientation, whether GPS was stripped).
An unreadable photo or a decompression bomb fails the run for good with the media error's message.
"""

from __future__ import annotations

from darkroom.runtime.workflow import Workflow
from darkroom.services.functions import registry

__all__ = ["PHOTO_RENDITIONS", "photo_renditions"]

PHOTO_RENDITIONS = "photo.renditions"


def photo_renditions() -> Workflow:
    wf = Workflow(
        PHOTO_RENDITIONS, inputs=["source", "spec"], priority="interactive",
        description="photo renditions (JPEG/WebP/AVIF, thumbnail) and a blurhash placeholder",
    )  # fmt: skip
    made = wf.task("render", "media.photo", source=wf.input("source"), spec=wf.input("spec"))
    wf.output("renditions", made["renditions"])
    wf.output("blurhash", made["blurhash"])
    wf.output("source", made["source"])
    return wf


registry.add_workflow(photo_renditions())
