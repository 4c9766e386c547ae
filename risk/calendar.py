"""Loss-limit periods: days starting at a configurable UTC time, ISO weeks (Monday)
starting at that same time. Wall clock in integer nanoseconds since the epoch."""
from __future__ import annotations

DAY_NS = 86_400 * 1_000_000_000
WEEK_NS = 7 * DAY_NS
_FIRST_MONDAY_NS = 4 * DAY_NS   # 1970-01-05, the first Monday after the epoch


def day_index(wall_ns: int, offset_ns: int) -> int:
    return (wall_ns - offset_ns) // DAY_NS


def week_index(wall_ns: int, offset_ns: int) -> int:
    return (wall_ns - offset_ns - _FIRST_MONDAY_NS) // WEEK_NS


def next_day_start(wall_ns: int, offset_ns: int) -> int:
    """The first day boundary strictly after ``wall_ns`` (week boundaries are day boundaries)."""
    return (day_index(wall_ns, offset_ns) + 1) * DAY_NS + offset_ns
