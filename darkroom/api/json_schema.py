"""JSON Schema (2020-12, what OpenAPI 3.1 uses) of a protobuf message's proto3 JSON mapping, as
:mod:`darkroom.api.protojson` prints it: so an HTTP API whose bodies are its messages documents
them from the same ``.proto``, with no second copy of any field.

The rules follow the printer: snake_case field names; 64-bit integers as decimal strings; ``float``
and ``double`` as numbers or the strings ``NaN``, ``Infinity``, ``-Infinity``; enums by name (a
number no name has: the number); ``bytes`` as base64; ``Timestamp`` as an RFC 3339 string,
``Duration`` and ``FieldMask`` as their strings, wrappers as what they wrap; repeated fields as
arrays; maps as objects. No field is ``required`` (a read mask may
leave any out; unset message fields are omitted), and no key outside the message is allowed
(``additionalProperties: false``), so a body drifting from its proto breaks its schema.

:func:`message_schemas` gives the schemas of messages and of every message they contain, keyed by
:func:`schema_name`, for ``components/schemas``; :func:`ref` points at one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

__all__ = ["COMPONENTS", "message_schemas", "ref", "schema_name"]

COMPONENTS = "#/components/schemas/"
Schema = dict[str, Any]

_F = FieldDescriptor
_INTEGER_32 = frozenset({_F.TYPE_INT32, _F.TYPE_SINT32, _F.TYPE_SFIXED32, _F.TYPE_UINT32, _F.TYPE_FIXED32})
_INTEGER_64 = frozenset({_F.TYPE_INT64, _F.TYPE_SINT64, _F.TYPE_SFIXED64, _F.TYPE_UINT64, _F.TYPE_FIXED64})
_UNSIGNED = frozenset({_F.TYPE_UINT32, _F.TYPE_FIXED32, _F.TYPE_UINT64, _F.TYPE_FIXED64})
_FLOATS = frozenset({_F.TYPE_FLOAT, _F.TYPE_DOUBLE})
_NOT_FINITE = ["NaN", "Infinity", "-Infinity"]
_MAP_KEYS: dict[int, Schema] = {
    **{t: {"pattern": r"^-?[0-9]+$"} for t in _INTEGER_32 | _INTEGER_64},
    _F.TYPE_BOOL: {"enum": ["true", "false"]},
}
# well-known types printed as strings (protojson._STRING_FORM) or as any JSON (through json_format)
_WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Value": {},
    "google.protobuf.Any": {"type": "object"},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
    # wrappers print as the value they wrap
    "google.protobuf.DoubleValue": {"anyOf": [{"type": "number"}, {"enum": _NOT_FINITE}]},
    "google.protobuf.FloatValue": {"anyOf": [{"type": "number"}, {"enum": _NOT_FINITE}]},
    "google.protobuf.Int64Value": {"type": "string", "pattern": r"^-?[0-9]+$"},
    "google.protobuf.UInt64Value": {"type": "string", "pattern": r"^[0-9]+$"},
    "google.protobuf.Int32Value": {"type": "integer"},
    "google.protobuf.UInt32Value": {"type": "integer", "minimum": 0},
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BytesValue": {"type": "string", "contentEncoding": "base64"},
}


def schema_name(descriptor: Descriptor) -> str:
    """The component name of a message: its name, or its nested path (``Outer.Inner`` ->
    ``OuterInner``) so that nested messages of two parents do not clash."""
    package = descriptor.file.package
    local = descriptor.full_name.removeprefix(f"{package}.") if package else descriptor.full_name
    return local.replace(".", "")


def ref(descriptor: Descriptor) -> Schema:
    """A reference to ``descriptor``'s schema in ``components/schemas``."""
    return {"$ref": COMPONENTS + schema_name(descriptor)}


def message_schemas(descriptors: Iterable[Descriptor]) -> dict[str, Schema]:
    """The schemas of ``descriptors`` and of every message they contain, by :func:`schema_name`."""
    out: dict[str, Schema] = {}
    pending = list(descriptors)
    while pending:
        descriptor = pending.pop()
        name = schema_name(descriptor)
        if name in out or descriptor.full_name in _WELL_KNOWN:
            continue
        properties = {fd.name: _field(fd, pending) for fd in descriptor.fields}  # queues what they contain
        out[name] = {
            "title": descriptor.name,
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
    return out


def _field(fd: FieldDescriptor, pending: list[Descriptor]) -> Schema:
    entry = fd.message_type
    if entry is not None and entry.GetOptions().map_entry:
        key_fd, value_fd = entry.fields_by_name["key"], entry.fields_by_name["value"]
        keys: Schema = _MAP_KEYS.get(key_fd.type, {})
        return {"type": "object", "propertyNames": keys, "additionalProperties": _single(value_fd, pending)}
    single = _single(fd, pending)
    return {"type": "array", "items": single} if fd.is_repeated else single


def _single(fd: FieldDescriptor, pending: list[Descriptor]) -> Schema:
    message, enum = fd.message_type, fd.enum_type
    if message is not None:
        known = _WELL_KNOWN.get(message.full_name)
        if known is not None:
            return dict(known)
        pending.append(message)
        return ref(message)
    if enum is not None:  # a number the enum does not name is printed as the number
        return {"anyOf": [{"enum": [value.name for value in enum.values]}, {"type": "integer"}]}
    if fd.type == _F.TYPE_STRING:
        return {"type": "string"}
    if fd.type == _F.TYPE_BOOL:
        return {"type": "boolean"}
    if fd.type == _F.TYPE_BYTES:
        return {"type": "string", "contentEncoding": "base64"}
    if fd.type in _INTEGER_32:
        return {"type": "integer", **({"minimum": 0} if fd.type in _UNSIGNED else {})}
    if fd.type in _INTEGER_64:
        return {"type": "string", "pattern": r"^[0-9]+$" if fd.type in _UNSIGNED else r"^-?[0-9]+$"}
    if fd.type in _FLOATS:
        return {"anyOf": [{"type": "number"}, {"enum": _NOT_FINITE}]}
    raise TypeError(f"field {fd.full_name} has a type no JSON schema is written for ({fd.type})")
