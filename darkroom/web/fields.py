"""``fields=`` on reads: a read mask (AIP-157) parsed by ``api.fieldmask`` against the resource's
proto message, so an unknown path is a 400 naming it, and documented in OpenAPI with the
message's fields. On a list route the paths are relative to each item.

No ``from __future__ import annotations`` here: FastAPI reads the dependency's signature, whose
``Query`` names a description built at run time."""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Query
from google.protobuf.descriptor import Descriptor

from darkroom.api.fieldmask import Mask

__all__ = ["FIELDS_PARAMETER", "parse_fields", "read_mask"]

FIELDS_PARAMETER = "fields"


def parse_fields(fields: str | None, descriptor: Descriptor) -> Mask:
    """The read mask of a ``fields=`` value for messages of ``descriptor`` (none: every field)."""
    return Mask.parse(fields or "", descriptor, name=FIELDS_PARAMETER)


def read_mask(descriptor: Descriptor) -> Callable[[str | None], Coroutine[Any, Any, Mask]]:
    """A FastAPI dependency giving the request's read mask for messages of ``descriptor``:
    ``mask: Annotated[Mask, Depends(read_mask(Post.DESCRIPTOR))]``."""
    names = ", ".join(f.name for f in descriptor.fields)
    description = (
        f"partial response: comma-separated field paths of {descriptor.name} to return (AIP-157), "
        f"e.g. `id,author.handle`; `*` or nothing returns every field. Fields: {names}"
    )

    # async: parsing does no I/O, and FastAPI runs a plain ``def`` dependency on a worker thread
    async def dependency(fields: Annotated[str | None, Query(description=description)] = None) -> Mask:
        return parse_fields(fields, descriptor)

    return dependency
