"""Request bodies that are resources: ``PATCH`` takes the resource as its body and ``update_mask``
as a query parameter (AIP-134's HTTP mapping).

- :func:`parse_resource` reads a JSON object as the proto3 JSON mapping of a message (field
  names as in the proto, or their lowerCamelCase JSON names). A key that is no field of the
  message is a 400 naming it: a typo (``display_nam``) must not be silently dropped. Output-only
  fields (``handle``, counters, viewer fields) may be present, as in a resource read back and sent
  again; only the mask decides what is written.
- :func:`update_paths` reads ``update_mask``: required (``*`` for every updatable field); an
  unknown path, or one that is read-only, is a 400 naming it.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from darkroom.api.fieldmask import Mask, format_path
from darkroom.social.errors import InvalidInput

__all__ = ["UPDATE_MASK_PARAMETER", "parse_resource", "update_paths"]

UPDATE_MASK_PARAMETER = "update_mask"
M = TypeVar("M", bound=Message)
_FAILED_FIELD = re.compile(r"Failed to parse (\w+) field")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_resource(body: object, message_type: type[M]) -> M:
    """``body`` (decoded JSON) as a ``message_type``; :class:`InvalidInput` naming an unknown key or
    a value of the wrong type."""
    descriptor = message_type.DESCRIPTOR
    if not isinstance(body, dict):
        raise InvalidInput(f"the body must be a JSON object ({descriptor.name}), not {_shown(body)}", field="body")
    known = {f.name for f in descriptor.fields} | {f.json_name for f in descriptor.fields}
    for key in body:
        if key not in known:
            raise InvalidInput(
                f"body field {key!r} is not a field of {descriptor.name} "
                f"({', '.join(f.name for f in descriptor.fields)})",
                field=str(key),
            )
    try:
        return json_format.ParseDict(body, message_type())
    except json_format.ParseError as exc:
        found = _FAILED_FIELD.search(str(exc))
        name = found.group(1) if found else "body"
        value = f" = {_shown(body[name])}" if name in body else ""
        raise InvalidInput(f"body field {name!r}{value} is not valid: {exc}", field=name) from None


def update_paths(update_mask: str | None, descriptor: Descriptor, allowed: Collection[str]) -> list[str]:
    """The top-level fields an update of a ``descriptor`` message writes, from ``update_mask``
    (``*``: every one of ``allowed``). :class:`~darkroom.api.errors.MissingUpdateMask` when it is
    empty, :class:`~darkroom.api.errors.InvalidFieldMask` naming an unknown or read-only path."""
    mask = Mask.parse(update_mask or "", descriptor, name=UPDATE_MASK_PARAMETER)
    return [format_path(path) for path in mask.update_paths(allowed)]
