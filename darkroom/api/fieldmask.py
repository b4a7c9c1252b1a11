"""Field masks for any protobuf message: read projection and AIP-161 updates.

One module for gRPC (``google.protobuf.FieldMask``) and HTTP (``fields=a,b.c``), following
Google's AIP-134, AIP-157 and AIP-161:

- Paths are field names joined by dots. A repeated field may only end a path; a map field may be
  followed by one key (``metadata.codec``), which then ends it. Keys that are not plain words
  (dots, commas, spaces…) are quoted in backticks: ``metadata.`shape.cpu```, with a literal
  backtick doubled.
- Reads: an empty mask or ``*`` selects every field.
- Updates: an empty mask is refused (:class:`MissingUpdateMask`); ``*`` replaces the whole
  message; a masked field absent from the body is cleared, even below an unset parent; repeated
  fields, maps and messages are replaced, never merged, so a write and a read with the same mask
  see the same value.

Python's own ``FieldMask`` helpers are not used for the work: they cannot express ``*`` or map
keys and they skip nested paths under an unset parent (see the reference page).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message

from darkroom.api.errors import InvalidFieldMask, MissingUpdateMask

__all__ = [
    "ALL",
    "Mask",
    "MaskLike",
    "apply_update",
    "format_path",
    "parse",
    "project",
    "split_path",
    "split_paths",
    "top_level_fields",
]

ALL = "*"
MaskLike = FieldMask | str | Iterable[str] | None
M = TypeVar("M", bound=Message)
Path = tuple[str, ...]

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")
_F = FieldDescriptor
_INT_KEY_BITS = {
    **dict.fromkeys((_F.TYPE_INT32, _F.TYPE_SINT32, _F.TYPE_SFIXED32, _F.TYPE_UINT32, _F.TYPE_FIXED32), 32),
    **dict.fromkeys((_F.TYPE_INT64, _F.TYPE_SINT64, _F.TYPE_SFIXED64, _F.TYPE_UINT64, _F.TYPE_FIXED64), 64),
}
_UNSIGNED = (_F.TYPE_UINT32, _F.TYPE_FIXED32, _F.TYPE_UINT64, _F.TYPE_FIXED64)


# -- text <-> paths -------------------------------------------------------------------------------
def _scan(text: str, sep: str, name: str) -> Iterator[str]:
    """Split ``text`` on ``sep`` outside backticks; quoted parts keep their backticks."""
    part: list[str] = []
    quoted = False
    for ch in text:
        if ch == "`":
            quoted = not quoted  # a doubled backtick toggles twice: stays inside
        if ch == sep and not quoted:
            yield "".join(part)
            part = []
        else:
            part.append(ch)
    if quoted:
        raise InvalidFieldMask(f"{name} {text!r} has an unterminated backtick", field=name)
    yield "".join(part)


def split_paths(text: str, name: str = "fields") -> list[str]:
    """``"a, b.c"`` (an HTTP ``fields=`` value) -> ``["a", "b.c"]``; empty items are dropped."""
    return [p.strip() for p in _scan(text, ",", name) if p.strip()]


def split_path(path: str, name: str = "read_mask") -> Path:
    """``"metadata.`a.b`"`` -> ``("metadata", "a.b")``."""
    out: list[str] = []
    for raw in _scan(path, ".", name):
        element = raw
        if len(raw) >= 2 and raw[0] == raw[-1] == "`" and "`" not in raw[1:-1].replace("``", ""):
            element = raw[1:-1].replace("``", "`")
        elif "`" in raw:
            raise InvalidFieldMask(f"{name} path {path!r} quotes only part of an element", field=name)
        if not element:
            raise InvalidFieldMask(f"{name} path {path!r} has an empty element", field=name)
        out.append(element)
    return tuple(out)


def format_path(path: Path) -> str:
    """The inverse of :func:`split_path` (quotes elements that are not plain words)."""
    return ".".join(e if _PLAIN_KEY.fullmatch(e) else "`" + e.replace("`", "``") + "`" for e in path)


def _raw_paths(mask: MaskLike, name: str) -> list[str]:
    if mask is None:
        return []
    if isinstance(mask, FieldMask):
        return [p.strip() for p in mask.paths if p.strip()]
    if isinstance(mask, str):
        return split_paths(mask, name)
    if not isinstance(mask, Iterable):
        raise InvalidFieldMask(f"{name} must be a FieldMask, a string or a list of paths", field=name)
    out: list[str] = []
    for item in mask:
        if not isinstance(item, str):
            raise InvalidFieldMask(f"{name} paths must be strings, not {type(item).__name__}", field=name)
        out += split_paths(item, name)
    return out


# -- validation -----------------------------------------------------------------------------------
def _descriptor(message: Message) -> Descriptor:
    # the stubs type DESCRIPTOR as a union with upb's own class; both have the same interface
    return cast(Descriptor, message.DESCRIPTOR)


def _field(message: Message, name: str) -> FieldDescriptor:
    return _descriptor(message).fields_by_name[name]


def _entry(fd: FieldDescriptor, name: str) -> FieldDescriptor:
    """The ``key`` or ``value`` field of map field ``fd``."""
    return cast(Descriptor, fd.message_type).fields_by_name[name]


def _is_map(fd: FieldDescriptor) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def _map_key(fd: FieldDescriptor, key: str, path: str, name: str) -> Any:
    """A path element as a key of map field ``fd`` (maps may have integer or bool keys)."""
    key_fd = _entry(fd, "key")
    if key_fd.type == FieldDescriptor.TYPE_STRING:
        return key
    if key_fd.type == FieldDescriptor.TYPE_BOOL and key in ("true", "false"):
        return key == "true"
    bits = _INT_KEY_BITS.get(key_fd.type)
    if bits is not None and re.fullmatch(r"-?[0-9]+", key):
        low, high = (0, 1 << bits) if key_fd.type in _UNSIGNED else (-(1 << (bits - 1)), 1 << (bits - 1))
        if low <= int(key) < high:
            return int(key)
    raise InvalidFieldMask(f"{name} path {path!r}: {key!r} is not a key of map {fd.name!r}", field=name)


def _check(desc: Descriptor, path: Path, text: str, name: str) -> None:
    for i, element in enumerate(path):
        fd = desc.fields_by_name.get(element)
        if fd is None:
            raise InvalidFieldMask(f"{name} path {text!r}: {element!r} is not a field of {desc.full_name}", field=name)
        rest = len(path) - i - 1
        if rest == 0:
            return
        if _is_map(fd):
            if rest > 1:
                raise InvalidFieldMask(f"{name} path {text!r}: a map key must end the path", field=name)
            _map_key(fd, path[i + 1], text, name)
            return
        if fd.is_repeated:
            raise InvalidFieldMask(f"{name} path {text!r}: repeated field {element!r} must end the path", field=name)
        if fd.message_type is None:
            raise InvalidFieldMask(
                f"{name} path {text!r}: {element!r} is not a message, so nothing can follow it", field=name
            )
        desc = fd.message_type


def _canonical(paths: Iterable[Path]) -> tuple[Path, ...]:
    """Sorted, deduplicated, and without paths that a shorter path already covers."""
    out: list[Path] = []
    for p in sorted(set(paths)):
        if not out or p[: len(out[-1])] != out[-1]:
            out.append(p)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Mask:
    """A mask validated against one message type. ``paths`` is canonical; ``everything`` is
    ``*``; an empty mask has neither (reads treat it as everything, updates refuse it)."""

    descriptor: Descriptor
    paths: tuple[Path, ...]
    everything: bool
    name: str

    @classmethod
    def parse(cls, mask: MaskLike, descriptor: Descriptor, *, name: str = "read_mask") -> Mask:
        """Validate ``mask`` (a FieldMask, ``"a,b.c"``, or a list of paths) for ``descriptor``."""
        raws = _raw_paths(mask, name)
        if ALL in raws:
            return cls(descriptor, (), True, name)
        parsed: list[Path] = []
        for raw in raws:
            path = split_path(raw, name)
            if ALL in path:
                raise InvalidFieldMask(f"{name} path {raw!r}: '*' must be the whole path", field=name)
            _check(descriptor, path, raw, name)
            parsed.append(path)
        return cls(descriptor, _canonical(parsed), False, name)

    @property
    def empty(self) -> bool:
        return not self.everything and not self.paths

    @property
    def selects_all(self) -> bool:
        """True when a read with this mask returns every field."""
        return self.everything or not self.paths

    def top_level_fields(self) -> list[str] | None:
        """Top-level field names a read needs, in mask order; None means every field."""
        if self.selects_all:
            return None
        return list(dict.fromkeys(p[0] for p in self.paths))

    def union(self, *paths: str) -> Mask:
        """This mask plus ``paths`` (e.g. fields a response always carries); ``*`` stays ``*``."""
        if self.selects_all:
            return self
        return Mask.parse([*map(format_path, self.paths), *paths], self.descriptor, name=self.name)

    def to_proto(self) -> FieldMask:
        return FieldMask(paths=[ALL] if self.everything else [format_path(p) for p in self.paths])

    def __str__(self) -> str:
        return ",".join(self.to_proto().paths)

    # -- reads ----------------------------------------------------------------------------------
    def project(self, message: M) -> M:
        """A new message holding only the masked fields of ``message`` (with the parents along a
        masked path that are set in ``message``)."""
        _same_type(self.descriptor, message)
        out = type(message)()
        if self.selects_all:
            out.CopyFrom(message)
            return out
        for path in self.paths:
            _copy_path(message, out, path)
        return out

    # -- updates --------------------------------------------------------------------------------
    def apply(self, target: Message, body: Message, *, allowed: Collection[str] | None = None) -> None:
        """Write the masked fields of ``body`` into ``target`` (AIP-161).

        ``allowed`` lists the updatable paths (anything at or below one of them may be masked);
        ``*`` then replaces just those.
        """
        _same_type(self.descriptor, target)
        _same_type(self.descriptor, body)
        paths = self.update_paths(allowed)
        if self.everything and allowed is None:
            target.CopyFrom(body)
            return
        for path in paths:
            _apply_path(target, body, path)

    def update_paths(self, allowed: Collection[str] | None = None) -> tuple[Path, ...]:
        """The paths an update writes: refuses an empty mask, expands ``*`` to ``allowed`` (or
        returns ``()`` for "the whole message"), and refuses paths outside ``allowed``."""
        if self.empty:
            raise MissingUpdateMask(
                f"{self.name} is required: name the fields to change ('*' replaces everything)", field=self.name
            )
        if allowed is None:
            return self.paths
        permitted = [split_path(a, self.name) for a in allowed]
        if self.everything:
            return _canonical(permitted)
        refused = [format_path(p) for p in self.paths if not any(p[: len(a)] == a for a in permitted)]
        if refused:  # every one named, so a client fixes its mask in one go
            which = f"path {refused[0]!r}" if len(refused) == 1 else f"paths {', '.join(map(repr, refused))}"
            raise InvalidFieldMask(
                f"{self.name} {which} cannot be updated; updatable: {', '.join(allowed)}", field=self.name
            )
        return self.paths


def _same_type(descriptor: Descriptor, message: Message) -> None:
    if _descriptor(message) is not descriptor:
        raise TypeError(f"mask is for {descriptor.full_name}, not {_descriptor(message).full_name}")


def _copy_path(src: Message, dst: Message, path: Path) -> None:
    fd = _field(src, path[0])
    if len(path) == 1:
        _replace(dst, src, fd)
    elif _is_map(fd):
        key = _map_key(fd, path[1], format_path(path), "mask")
        _copy_entry(getattr(src, fd.name), getattr(dst, fd.name), key, fd)
    elif src.HasField(fd.name):
        # a parent set in the source is set in the projection, even if the masked child is not
        child = getattr(dst, fd.name)
        child.SetInParent()
        _copy_path(getattr(src, fd.name), child, path[1:])


def _apply_path(target: Message, body: Message, path: Path) -> None:
    fd = _field(target, path[0])
    if len(path) == 1:
        _replace(target, body, fd)
    elif _is_map(fd):
        key = _map_key(fd, path[1], format_path(path), "update_mask")
        _copy_entry(getattr(body, fd.name), getattr(target, fd.name), key, fd)
    elif body.HasField(fd.name) or target.HasField(fd.name):
        # an unset parent in the body reads as an empty message: the masked child is cleared
        _apply_path(getattr(target, fd.name), getattr(body, fd.name), path[1:])


def _copy_entry(src: Any, dst: Any, key: Any, fd: FieldDescriptor) -> None:
    """Copy one map entry; a key absent from ``src`` is removed from ``dst``."""
    if key not in src:
        if key in dst:
            del dst[key]
    elif _entry(fd, "value").message_type is not None:
        dst[key].CopyFrom(src[key])
    else:
        dst[key] = src[key]


def _replace(target: Message, source: Message, fd: FieldDescriptor) -> None:
    """Make ``target``'s field ``fd`` equal to ``source``'s (unset if unset there)."""
    name = fd.name
    if fd.is_repeated:
        target.ClearField(name)
        src, dst = getattr(source, name), getattr(target, name)
        if _is_map(fd):
            for key in src:
                _copy_entry(src, dst, key, fd)
        elif fd.message_type is not None:
            for item in src:
                dst.add().CopyFrom(item)
        else:
            dst.extend(src)
    elif fd.has_presence and not source.HasField(name):
        target.ClearField(name)
    elif fd.message_type is not None:
        getattr(target, name).CopyFrom(getattr(source, name))
    else:
        setattr(target, name, getattr(source, name))


# -- functional shortcuts -------------------------------------------------------------------------
def parse(mask: MaskLike, descriptor: Descriptor, *, name: str = "read_mask") -> Mask:
    """Validate ``mask`` for ``descriptor``; see :meth:`Mask.parse`."""
    return Mask.parse(mask, descriptor, name=name)


def project(message: M, mask: MaskLike, *, name: str = "read_mask") -> M:
    """Only the masked fields of ``message`` (everything for an empty mask or ``*``)."""
    return Mask.parse(mask, _descriptor(message), name=name).project(message)


def apply_update(
    target: Message,
    body: Message,
    mask: MaskLike,
    *,
    allowed: Collection[str] | None = None,
    name: str = "update_mask",
) -> None:
    """Write the masked fields of ``body`` into ``target``; see :meth:`Mask.apply`."""
    Mask.parse(mask, _descriptor(target), name=name).apply(target, body, allowed=allowed)


def top_level_fields(mask: MaskLike, descriptor: Descriptor, *, name: str = "read_mask") -> list[str] | None:
    """The top-level fields a read mask needs (None: all), so a server loads only those."""
    return Mask.parse(mask, descriptor, name=name).top_level_fields()
