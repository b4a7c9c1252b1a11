"""Times on the wire: ``google.protobuf.Timestamp`` for instants, ``google.protobuf.Duration`` for
spans, in every proto; Python keeps float epoch seconds (``deadline``, ``created_at``) and float
seconds (``lease_s``).

- A float travels as the shortest decimal that reads back as it (its ``repr``), to the
  nanosecond, so a millisecond instant has whole milliseconds on the wire and comes back as the
  same float (a received time is one correctly rounded division of its nanoseconds).
- A float the types cannot hold (NaN, infinite, before year 1 or after 9999, a span beyond
  ±10,000 years) raises :class:`~darkroom.api.errors.InvalidTime`, as does a received value out
  of range (``nanos`` outside 0..999,999,999, or of the other sign than a Duration's ``seconds``).
  Both name the field.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from darkroom.api.errors import InvalidTime

__all__ = ["duration_from_s", "seconds_of_duration", "seconds_of_timestamp", "timestamp_from_s"]

_NANOS = 1_000_000_000
# Timestamp: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z; Duration: about ±10,000 years.
_MIN_TIMESTAMP_S = -62_135_596_800
_MAX_TIMESTAMP_S = 253_402_300_799
_MAX_DURATION_S = 315_576_000_000


def _split(value: float, field: str) -> tuple[int, int]:
    """Whole seconds (the floor) and nanoseconds (0 to 999,999,999) of a finite ``value``.

    A float is read as the shortest decimal that reads back as it (its ``repr``), not as its
    binary value: ``1767225600.123`` is 123,000,000 ns, not 123,000,144, and comes back the same."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidTime(f"{field} {value!r} must be a number of seconds", field=field)
    exact = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    if not exact.is_finite():
        raise InvalidTime(f"{field} {value!r} is not a finite number of seconds", field=field)
    if abs(exact) > _MAX_DURATION_S * 2:  # past every range below; keeps the arithmetic small
        raise InvalidTime(f"{field} {value!r} is out of range", field=field)
    nanos = int((exact * _NANOS).to_integral_value(ROUND_HALF_EVEN))
    return divmod(nanos, _NANOS)


def timestamp_from_s(t: float, field: str) -> Timestamp:
    """Epoch seconds -> Timestamp."""
    seconds, nanos = _split(t, field)
    if not _MIN_TIMESTAMP_S <= seconds <= _MAX_TIMESTAMP_S:
        raise InvalidTime(f"{field} {t!r} is outside the years 1 to 9999", field=field)
    return Timestamp(seconds=seconds, nanos=nanos)


def duration_from_s(s: float, field: str) -> Duration:
    """Seconds -> Duration (``seconds`` and ``nanos`` share the sign, as Duration requires)."""
    seconds, nanos = _split(s, field)
    total = seconds * _NANOS + nanos
    whole, part = divmod(abs(total), _NANOS)
    if whole > _MAX_DURATION_S:
        raise InvalidTime(f"{field} {s!r} is beyond ±{_MAX_DURATION_S} seconds", field=field)
    sign = -1 if total < 0 else 1
    return Duration(seconds=sign * whole, nanos=sign * part)


def seconds_of_timestamp(ts: Timestamp, field: str) -> float:
    """Timestamp -> epoch seconds (an unset Timestamp is 0.0, the epoch)."""
    if not 0 <= ts.nanos < _NANOS or not _MIN_TIMESTAMP_S <= ts.seconds <= _MAX_TIMESTAMP_S:
        raise InvalidTime(
            f"{field} {{seconds: {ts.seconds}, nanos: {ts.nanos}}} is not a valid Timestamp (years 1 to 9999, "
            "nanos from 0 to 999999999)",
            field=field,
        )
    return (ts.seconds * _NANOS + ts.nanos) / _NANOS  # one correctly rounded division: exact round trips


def seconds_of_duration(d: Duration, field: str) -> float:
    """Duration -> seconds (an unset Duration is 0.0)."""
    same_sign = d.seconds == 0 or d.nanos == 0 or (d.seconds > 0) == (d.nanos > 0)
    if not -_NANOS < d.nanos < _NANOS or not same_sign or abs(d.seconds) > _MAX_DURATION_S:
        raise InvalidTime(
            f"{field} {{seconds: {d.seconds}, nanos: {d.nanos}}} is not a valid Duration (at most "
            f"{_MAX_DURATION_S} seconds, nanos of the same sign below 10^9)",
            field=field,
        )
    return (d.seconds * _NANOS + d.nanos) / _NANOS
