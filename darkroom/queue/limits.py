"""Request limits and the validation that enforces them, before anything reaches Redis."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime

from darkroom.config import QueueLimits
from darkroom.queue.errors import InvalidArgument, InvalidMessage, PayloadTooLarge

__all__ = ["Limits", "DEFAULT_LIMITS"]

_QUEUE_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,99}")
_META_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_MESSAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
# Deadlines are stored as integer milliseconds; keep them where doubles and Lua's %.14g are exact.
_MAX_EPOCH_S = 99_999_999_999.0


@dataclass(frozen=True, slots=True)
class Limits(QueueLimits):
    """The configured limits (``darkroom.config.QueueLimits``, ``DARKROOM_QUEUE_*``) and the checks
    that enforce them; each refusal names the field."""

    @classmethod
    def of(cls, values: QueueLimits) -> Limits:
        """``values`` (e.g. ``Settings.limits``) with the checks."""
        return (
            values if isinstance(values, Limits) else cls(**{f.name: getattr(values, f.name) for f in fields(values)})
        )

    # -- names and ids ----------------------------------------------------------------------
    def queue_name(self, name: object) -> str:
        if not isinstance(name, str) or not _QUEUE_NAME.fullmatch(name):
            raise InvalidArgument(f"queue name {_show(name)} must match [a-z0-9][a-z0-9_.-]{{0,99}}", field="queue")
        return name

    def message_id(self, mid: object) -> str:
        if not isinstance(mid, str) or not mid or len(mid) > self.max_id_chars or not _MESSAGE_ID.fullmatch(mid):
            raise InvalidMessage(
                f"message id {_show(mid)} must be 1-{self.max_id_chars} characters of [A-Za-z0-9_.:-]"
                " starting with a letter or digit",
                field="id",
            )
        return mid

    def metadata_key(self, key: object, field: str = "metadata") -> str:
        if not isinstance(key, str) or not _META_KEY.fullmatch(key) or len(key) > self.max_metadata_key_chars:
            raise InvalidMessage(
                f"{field} key {_show(key)} must be 1-{self.max_metadata_key_chars} characters of"
                " [A-Za-z0-9_.-] starting with a letter or '_'",
                field=field,
            )
        return key

    # -- message parts ----------------------------------------------------------------------
    def metadata(self, meta: object, field: str = "metadata") -> dict[str, str]:
        if meta is None:
            return {}
        if not isinstance(meta, Mapping):
            raise InvalidMessage(f"{field} must be a mapping of str to str, not {type(meta).__name__}", field=field)
        if len(meta) > self.max_metadata_entries:
            raise InvalidMessage(
                f"{field} has {len(meta)} entries; the limit is {self.max_metadata_entries}", field=field
            )
        out: dict[str, str] = {}
        for key, value in meta.items():
            self.metadata_key(key, field)
            if not isinstance(value, str):
                raise InvalidMessage(f"{field}[{_show(key)}] must be a str, not {type(value).__name__}", field=field)
            if len(value) > self.max_metadata_value_chars:
                raise InvalidMessage(
                    f"{field}[{_show(key)}] has {len(value)} characters; the limit is {self.max_metadata_value_chars}",
                    field=field,
                )
            if "\0" in value or not _encodable(value):
                raise InvalidMessage(f"{field}[{_show(key)}] = {_show(value)} is not valid text", field=field)
            out[key] = value
        return out

    def payload(self, payload: object, field: str = "payload", limit: int | None = None) -> bytes:
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise InvalidMessage(f"{field} must be bytes, not {type(payload).__name__}", field=field)
        data = bytes(payload)
        cap = self.max_payload_bytes if limit is None else limit
        if len(data) > cap:
            raise PayloadTooLarge(f"{field} is {len(data)} bytes; the limit is {cap}", field=field)
        return data

    def deadline_ms(self, deadline: object) -> int | None:
        if deadline is None:
            return None
        if isinstance(deadline, datetime):
            if deadline.tzinfo is None:
                raise InvalidMessage(f"deadline {_show(deadline)} must be timezone-aware", field="deadline")
            seconds = deadline.timestamp()
        elif isinstance(deadline, (int, float)) and not isinstance(deadline, bool):
            seconds = _float(deadline)
        else:
            raise InvalidMessage(f"deadline {_show(deadline)} must be epoch seconds or a datetime", field="deadline")
        if not math.isfinite(seconds) or not 0 <= seconds <= _MAX_EPOCH_S:
            raise InvalidMessage(f"deadline {_show(deadline)} is out of range", field="deadline")
        return round(seconds * 1000)

    def seconds(self, value: object, field: str, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(_float(value)):
            raise InvalidArgument(f"{field} {_show(value)} must be a number of seconds", field=field)
        if not low <= value <= high:
            raise InvalidArgument(f"{field} {_show(value)} must be between {low:g} and {high:g} seconds", field=field)
        return float(value)

    def lease_s(self, value: object, field: str = "lease_s") -> float:
        return self.seconds(value, field, self.min_lease_s, self.max_lease_s)

    def wait_s(self, value: object) -> float:
        return self.seconds(value, "wait_s", 0.0, self.max_wait_s)

    def delay_s(self, value: object, field: str = "delay_s") -> float:
        return self.seconds(value, field, 0.0, self.max_delay_s)

    def count(self, value: object, field: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidArgument(f"{field} {_show(value)} must be an integer from {low} to {high}", field=field)
        return value

    def batch(self, n: int, field: str) -> None:
        if n > self.max_batch:
            raise InvalidArgument(f"{field} has {n} items; the limit is {self.max_batch}", field=field)

    def batch_bytes(self, n_bytes: int, field: str) -> None:
        if n_bytes > self.max_batch_bytes:
            raise InvalidArgument(
                f"{field} carry {n_bytes} bytes of payload and metadata; the limit is {self.max_batch_bytes}",
                field=field,
            )

    def attempts(self, value: object, field: str = "max_attempts") -> int:
        return self.count(value, field, 1, self.max_attempts)

    def text(self, value: object, field: str, max_chars: int) -> str:
        if not isinstance(value, str):
            raise InvalidArgument(f"{field} must be a str, not {type(value).__name__}", field=field)
        if not _encodable(value):
            raise InvalidArgument(f"{field} {value[:40]!r} is not valid text", field=field)
        return value[:max_chars]


def _show(value: object) -> str:
    """The offending value for an error message, cut short: errors name it, not echo megabytes."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _float(value: float) -> float:
    # ints beyond a double's range must be refused as out of range, not crash with OverflowError
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


DEFAULT_LIMITS = Limits()
