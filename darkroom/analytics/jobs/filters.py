"""Row filters the jobs push into pyiceberg scans and deletes: time ranges and unions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from pyiceberg import expressions as ex
from pyiceberg.expressions import AlwaysFalse, And, BooleanExpression, Or

__all__ = [
    "US_PER_DAY",
    "US_PER_HOUR",
    "any_of",
    "at_least",
    "at_most",
    "day_of",
    "day_start_us",
    "equal",
    "instant",
    "less_than",
    "one_of",
    "time_between",
]

US_PER_HOUR = 3_600_000_000
US_PER_DAY = 24 * US_PER_HOUR
_EPOCH = dt.date(1970, 1, 1)


def instant(us: int) -> str:
    """A ``timestamptz`` literal (ISO 8601, UTC) of ``us`` microseconds since the epoch."""
    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)).isoformat()


def day_of(us: int) -> dt.date:
    """The UTC day of the instant ``us``."""
    return _EPOCH + dt.timedelta(days=us // US_PER_DAY)


def day_start_us(day: dt.date) -> int:
    return (day - _EPOCH).days * US_PER_DAY


def time_between(column: str, lower_us: int, upper_us: int) -> BooleanExpression:
    """``lower_us <= column < upper_us``: on a day-partitioned column it prunes to the days."""
    return And(at_least(column, instant(lower_us)), less_than(column, instant(upper_us)))


def any_of(expressions: Iterable[BooleanExpression]) -> BooleanExpression:
    """The union of ``expressions`` (AlwaysFalse when there is none)."""
    out: BooleanExpression = AlwaysFalse()
    for e in expressions:
        out = Or(out, e)
    return out


# pyiceberg's predicates are pydantic models whose generated signatures mypy sees instead of their
# own __init__ (column name, literal); these wrappers give them a typed face.
def equal(column: str, value: object) -> BooleanExpression:
    return _predicate(ex.EqualTo, column, value)


def at_least(column: str, value: object) -> BooleanExpression:
    return _predicate(ex.GreaterThanOrEqual, column, value)


def at_most(column: str, value: object) -> BooleanExpression:
    return _predicate(ex.LessThanOrEqual, column, value)


def less_than(column: str, value: object) -> BooleanExpression:
    return _predicate(ex.LessThan, column, value)


def one_of(column: str, values: Iterable[object]) -> BooleanExpression:
    """``column IN values`` (AlwaysFalse for none, ``=`` for one: pyiceberg's own rewrite)."""
    return _predicate(ex.In, column, tuple(values))


def _predicate(kind: Any, column: str, value: object) -> BooleanExpression:
    made: BooleanExpression = kind(column, value)
    return made
