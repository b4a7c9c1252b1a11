"""What every service module shares: the registry, queues and time budgets, progress forwarding,
the request base class (pydantic, converted to :class:`InvalidRequest`) and the request fields
several services take (a title profile, a list of recipes).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_serializer, model_validator

from darkroom.media.errors import InvalidMedia
from darkroom.media.image import PhotoSpec
from darkroom.media.inspection import TitleProfile
from darkroom.media.recipe import Recipe
from darkroom.runtime.context import TaskContext
from darkroom.runtime.functions import Registry
from darkroom.services.errors import InvalidRequest
from darkroom.storage.blobs import InvalidBlobKey, validate_key

__all__ = [
    "ENCODE_S",
    "IMAGE_S",
    "INSPECT_S",
    "PACKAGE_S",
    "PERMANENT",
    "ProfileOverrides",
    "QUALITY_S",
    "QUEUE_IMAGES",
    "QUEUE_MEDIA",
    "RecipeList",
    "BlobRef",
    "Priority",
    "ServiceRequest",
    "StrictModel",
    "invalid",
    "photo_spec",
    "registry",
    "reporter",
    "title_profile",
]

QUEUE_MEDIA = "media"
QUEUE_IMAGES = "images"

registry = Registry()

PERMANENT = (InvalidMedia,)
# Media budgets stay under each function's timeout (by 60 s) so the media layer's own typed timeout
# fires first and cleans up its ffmpeg; the runtime's kill is the backstop.
INSPECT_S = 600.0
ENCODE_S = 3600.0
QUALITY_S = 3600.0
PACKAGE_S = 900.0
IMAGE_S = 300.0

# The runtime's priority classes (``dag.PRIORITIES``; a test keeps the two in step).
Priority = Literal["interactive", "preview", "standard", "batch"]


def reporter(ctx: TaskContext, message: str, start: float = 0.0, span: float = 1.0) -> Callable[[float], None]:
    """A media ``progress(fraction)`` callback forwarded to ``ctx.progress``, mapped to a sub-range."""

    def report(fraction: float) -> None:
        ctx.progress(min(1.0, max(0.0, start + span * min(1.0, max(0.0, fraction)))), message)

    return report


def _overrides(cls: type, given: Mapping[str, object] | None, what: str) -> dict[str, Any]:
    known = {f.name for f in fields(cls)}
    values = dict(given or {})
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{what}: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
    defaults = {f.name: f.default for f in fields(cls)}
    for name, value in values.items():
        _check_type(what, name, value, defaults[name])
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def _check_type(what: str, name: str, value: object, default: object) -> None:
    """JSON overrides must have the kind of value the default has (numbers for numbers, lists for
    tuples); ``None`` defaults accept anything the dataclass then checks."""
    if default is None or value is None:
        return
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int | float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif isinstance(default, tuple | frozenset | list):
        ok = isinstance(value, list | tuple)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ValueError(f"{what}: {name}={value!r} must be a {type(default).__name__} like its default {default!r}")


def title_profile(overrides: Mapping[str, object] | None) -> TitleProfile:
    """A :class:`TitleProfile` from JSON overrides (lists become tuples / frozensets); ``ValueError``
    naming the field otherwise."""
    values = _overrides(TitleProfile, overrides, "profile")
    if "video_codecs" in values:
        values["video_codecs"] = frozenset(values["video_codecs"])
    try:
        return TitleProfile(**values)
    except TypeError as exc:
        raise ValueError(f"profile: {exc}") from exc


def _checked_profile(value: dict[str, Any]) -> dict[str, Any]:
    title_profile(value)  # raises ValueError naming the field
    return value


def _checked_recipes(value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    for i, recipe in enumerate(value or []):
        try:
            Recipe.from_dict(recipe)
        except ValueError as exc:
            raise ValueError(f"recipes[{i}]: {exc}") from None
    return value


# Request fields: TitleProfile overrides, checked as a profile; Recipe dicts, each checked as a recipe.
ProfileOverrides = Annotated[dict[str, Any], AfterValidator(_checked_profile)]
RecipeList = Annotated[
    list[dict[str, Any]] | None, Field(min_length=1, max_length=12), AfterValidator(_checked_recipes)
]


def photo_spec(overrides: Mapping[str, object] | None) -> PhotoSpec:
    """A :class:`PhotoSpec` from JSON overrides; ``ValueError`` naming the field otherwise."""
    try:
        return PhotoSpec(**_overrides(PhotoSpec, overrides, "photo spec"))
    except TypeError as exc:
        raise ValueError(f"photo spec: {exc}") from exc


# -- requests -------------------------------------------------------------------------------------


def invalid(kind: str, exc: ValidationError) -> InvalidRequest:
    """pydantic's errors as one :class:`InvalidRequest` naming each field and value."""
    problems: list[tuple[str, object, str]] = []
    lines: list[str] = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"])
        why = "is not a field of this request" if error["type"] == "extra_forbidden" else error["msg"]
        why = why.removeprefix("Value error, ")
        named = _LEADING_FIELD.match(why)
        if named and loc.split(".")[-1] == named.group(1):  # "profile: ..." about the field itself
            problems.append((loc, error.get("input"), why[len(named.group(1)) :].lstrip(":= ")))
            lines.append(f"{loc}{why[len(named.group(1)) :]}")
        elif named:  # a rule over several fields names them (and their values) in its own message
            field = f"{loc}.{named.group(1)}" if loc else named.group(1)
            problems.append((field, None, why))
            lines.append(f"{loc}.{why}" if loc else why)
        else:
            problems.append((loc, error.get("input"), why))
            lines.append(f"{loc}={_show(error.get('input'))}: {why}")
    field, value = (problems[0][0], problems[0][1]) if problems else ("", None)
    return InvalidRequest(f"{kind} request: {'; '.join(lines)}", field=field, value=value, problems=problems)


_LEADING_FIELD = re.compile(r"^([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)(?=[=:])")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


class StrictModel(BaseModel):
    """Unknown fields refused, no type coercion, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class BlobRef(StrictModel):
    """A file in the blob store: ``{"$blob": key}`` on the wire (a bare key string is accepted)."""

    key: str = Field(alias="$blob", min_length=1, max_length=1024)

    @model_validator(mode="before")
    @classmethod
    def _from_key(cls, data: object) -> object:
        if isinstance(data, str):
            data = {"$blob": data}
        if isinstance(data, Mapping) and isinstance(data.get("$blob"), str):
            try:
                validate_key(data["$blob"])
            except InvalidBlobKey as exc:
                raise ValueError(str(exc)) from None
        return data

    @model_serializer
    def _ref(self) -> dict[str, str]:
        return {"$blob": self.key}


class ServiceRequest(StrictModel):
    """Base of every request: how urgent the run is. ``priority`` overrides the workflow's class;
    ``deadline_s`` (seconds from submission) overrides the deadline that class would give."""

    workflow: ClassVar[str] = ""
    kind: ClassVar[str] = ""

    priority: Priority | None = None
    deadline_s: float | None = Field(default=None, gt=0, le=30 * 86400)

    def __init__(self, **data: object) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise invalid(self.kind or type(self).__name__, exc) from None

    @classmethod
    def parse(cls, data: Mapping[str, object]) -> Self:
        """Validate JSON-shaped ``data``; :class:`InvalidRequest` names the first bad field and value."""
        if not isinstance(data, Mapping):
            raise InvalidRequest(f"{cls.kind} request: {_show(data)} is not an object", value=data)
        bad_keys = [k for k in data if not isinstance(k, str)]
        if bad_keys:
            raise InvalidRequest(f"{cls.kind} request: key {bad_keys[0]!r} is not a string", value=bad_keys[0])
        return cls(**data)  # __init__ turns pydantic's errors into InvalidRequest

    def inputs(self) -> dict[str, object]:
        """The workflow's inputs (JSON)."""
        raise NotImplementedError

    def with_hosts(self, hosts: Callable[[], int]) -> Self:
        """This request with what it left to the platform filled in: ``hosts()`` counts the worker
        hosts serving media (only asked when a chunking policy needs it)."""
        return self

    def deadline(self, now: float | None = None) -> float | None:
        return None if self.deadline_s is None else (time.time() if now is None else now) + self.deadline_s
