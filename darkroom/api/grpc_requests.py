"""Request decoding shared by the gRPC services: a body that does not parse becomes a value the
handler refuses with INVALID_ARGUMENT (grpc itself would answer INTERNAL when a deserializer raises)."""

from __future__ import annotations

from collections.abc import Callable

from google.protobuf.message import DecodeError, Message

__all__ = ["Malformed", "lenient"]


class Malformed:
    """What the deserializer hands over for bytes that are not the expected message."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name


def lenient(cls: type[Message]) -> Callable[[bytes], Message | Malformed]:
    """A request deserializer for message class ``cls`` that never raises."""

    def parse(data: bytes) -> Message | Malformed:
        try:
            return cls.FromString(data)
        except DecodeError:
            return Malformed(cls.DESCRIPTOR.full_name)

    return parse
