"""darkroom.api.timestamps: float seconds <-> Timestamp and Duration, exact for the queue's times."""

from __future__ import annotations

import math

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st

from darkroom.api import timestamps as ts
from darkroom.api.errors import InvalidTime


@given(ms=st.integers(-62_135_596_800_000, 253_402_300_799_999))
def test_millisecond_instants_round_trip_exactly(ms: int) -> None:
    t = ms / 1000
    wire = ts.timestamp_from_s(t, "deadline")
    assert 0 <= wire.nanos < 10**9 and wire.nanos % 1_000_000 == 0  # no float noise on the wire
    assert wire.ToMilliseconds() == ms
    assert ts.seconds_of_timestamp(Timestamp.FromString(wire.SerializeToString()), "deadline") == t


@given(ms=st.integers(-(10**14), 10**14))
def test_millisecond_spans_round_trip_exactly(ms: int) -> None:
    s = ms / 1000
    wire = ts.duration_from_s(s, "lease_s")
    assert wire.ToMilliseconds() == ms
    assert (wire.seconds >= 0 and wire.nanos >= 0) or (wire.seconds <= 0 and wire.nanos <= 0)
    assert ts.seconds_of_duration(wire, "lease_s") == s


def test_unset_times_are_zero() -> None:
    assert ts.seconds_of_timestamp(Timestamp(), "t") == 0.0
    assert ts.seconds_of_duration(Duration(), "d") == 0.0


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e300, "5", True, None])
def test_what_the_types_cannot_hold_names_the_field(value: object) -> None:
    with pytest.raises(InvalidTime) as err:
        ts.timestamp_from_s(value, "deadline")  # type: ignore[arg-type]
    assert err.value.field == "deadline" and "deadline" in str(err.value)
    with pytest.raises(InvalidTime, match="wait_s"):
        ts.duration_from_s(value, "wait_s")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "wire",
    [Timestamp(seconds=1, nanos=-1), Timestamp(nanos=10**9), Timestamp(seconds=253_402_300_800)],
)
def test_received_timestamps_out_of_range_are_refused(wire: Timestamp) -> None:
    with pytest.raises(InvalidTime, match="created_at"):
        ts.seconds_of_timestamp(wire, "created_at")


@pytest.mark.parametrize(
    "wire",
    [Duration(seconds=1, nanos=-1), Duration(seconds=-1, nanos=1), Duration(nanos=10**9), Duration(seconds=2**62)],
)
def test_received_durations_out_of_range_are_refused(wire: Duration) -> None:
    with pytest.raises(InvalidTime, match="lease_s"):
        ts.seconds_of_duration(wire, "lease_s")
