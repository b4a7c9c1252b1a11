"""Validation service: does each encode match its recipe and its source? Request, ``media.validate``,
workflow ``validation``.

Discrepancies (:func:`~darkroom.media.validate.validate`) are errors, except rate-control misses
(:data:`WARNING_CODES`): the stream still plays and the packager advertises the bandwidth measured
on the real segments. Any error fails the step for good (:class:`InvalidRendition`) with a message
listing every discrepancy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from darkroom.media.probe import probe
from darkroom.media.recipe import Recipe
from darkroom.media.validate import validate
from darkroom.runtime.context import TaskContext
from darkroom.runtime.workflow import Workflow
from darkroom.services.common import (
    ENCODE_S,
    PERMANENT,
    QUEUE_MEDIA,
    BlobRef,
    ServiceRequest,
    StrictModel,
    registry,
)  # fmt: skip
from darkroom.services.errors import InvalidRendition

__all__ = [
    "VALIDATION",
    "WARNING_CODES",
    "Rendition",
    "ValidateOptions",
    "ValidateRequest",
    "validate_fn",
    "validation",
]

VALIDATION = "validation"
WARNING_CODES = frozenset({"bitrate_off_target", "bitrate_over_cap"})


class Rendition(StrictModel):
    """An encoded file and the recipe it was made from."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    file: BlobRef
    recipe: dict[str, Any]

    @field_validator("recipe")
    @classmethod
    def _recipe(cls, value: dict[str, Any]) -> dict[str, Any]:
        Recipe.from_dict(value)  # InvalidMedia is a ValueError naming the field and value
        return value

    def wire(self) -> dict[str, Any]:
        return {"name": self.name, "file": self.file.model_dump(), "recipe": self.recipe}


class ValidateOptions(StrictModel):
    """``decode``: decode every frame (skip when the encode was verified another way)."""

    bitrate_tolerance: float = Field(default=0.25, ge=0.0, lt=10.0)
    decode: bool = True


class ValidateRequest(ServiceRequest):
    """Validate one rendition against its recipe and its source."""

    workflow = VALIDATION
    kind = "validate"

    source: BlobRef
    rendition: Rendition
    options: ValidateOptions = ValidateOptions()

    def inputs(self) -> dict[str, object]:
        return {"source": self.source.model_dump(), "rendition": self.rendition.wire(),
                "options": self.options.model_dump()}  # fmt: skip


@registry.function(
    "media.validate", queue=QUEUE_MEDIA, isolation="process", timeout_s=ENCODE_S + 60, permanent_errors=PERMANENT
)
def validate_fn(
    ctx: TaskContext, source: Path, rendition: Mapping[str, Any], options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``{name, ok, discrepancies}``; raises :class:`InvalidRendition` on any error-level discrepancy."""
    opts = ValidateOptions.model_validate(dict(options or {}))
    name = str(rendition["name"])
    found = validate(
        Path(rendition["file"]), Recipe.from_dict(rendition["recipe"]), probe(source),
        bitrate_tolerance=opts.bitrate_tolerance, decode=opts.decode, timeout_s=ENCODE_S,
    )  # fmt: skip
    listed = [{**asdict(d), "severity": "warning" if d.code in WARNING_CODES else "error"} for d in found]
    errors = [d for d in listed if d["severity"] == "error"]
    if errors:
        detail = "; ".join(f"{d['code']}: {d['message']}" for d in errors)
        codes = [d["code"] for d in errors]
        raise InvalidRendition(f"rendition {name} failed validation [{', '.join(codes)}]: {detail}"[:2000], codes)
    ctx.progress(1.0, f"{name}: valid" + (f", {len(listed)} warning(s)" if listed else ""))
    return {"name": name, "ok": True, "discrepancies": listed}


def validation() -> Workflow:
    wf = Workflow(VALIDATION, inputs=["source", "rendition", "options"], priority="standard",
                  description="validate one encode against its recipe and source")  # fmt: skip
    checked = wf.task("validate", "media.validate", {"options": wf.input("options")}, source=wf.input("source"),
                      rendition=wf.input("rendition"))  # fmt: skip
    wf.output("validation", checked.ref)
    return wf


registry.add_workflow(validation())
