"""Timestamps in the journal: ISO 8601 UTC text; the agent's may also be epoch seconds or ms.

Only moments between 0001-01-01 and 9999-12-31 in UTC can be written as ISO text (Python's `datetime`
range). An offset can move a date that is valid where it was written out of that range
("0001-01-01T00:00:00+14:00" is in year 0 in UTC): such moments are refused with OutOfRangeError by
`utc_seconds` and `iso`, and read as None (unusable) by `parse`, never a crash later on.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

EARLIEST = datetime(1, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)  # whole seconds: a float holds them exactly
MIN_TS = EARLIEST.timestamp()  # -62135596800.0
MAX_TS = LATEST.timestamp()  # 253402300799.0
RANGE = "0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z"


class OutOfRangeError(ValueError):
    """A moment outside the years 1-9999 in UTC; the message names it and the range."""


def in_range(ts: float) -> bool:
    """Whether epoch seconds `ts` can be written as an ISO date (finite, years 1-9999 in UTC)."""
    return math.isfinite(ts) and MIN_TS <= ts <= MAX_TS


def utc_seconds(moment: datetime) -> float:
    """Epoch seconds of an aware datetime (naive means UTC); OutOfRangeError outside the years 1-9999 in UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    ts = moment.timestamp()  # arithmetic on ordinals: exact, and defined one day beyond either end
    if not in_range(ts):
        raise OutOfRangeError(f"{moment.isoformat()} is outside {RANGE} once converted to UTC")
    return ts


def iso(ts: float) -> str:
    """Epoch seconds -> '2026-11-24T08:49:21.123456+00:00'; OutOfRangeError outside the years 1-9999."""
    if not in_range(ts):
        raise OutOfRangeError(f"epoch seconds {ts!r} are outside {RANGE}")
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat()


def with_offset(text: str) -> str:
    """ISO text with a UTC designator written as an offset: a trailing Z or z (RFC 3339 allows both), or " UTC"
    (as chrono's `DateTime<Utc>` prints itself), becomes +00:00; any other text is returned stripped. The API and
    the sync of the agent's trades read close times through it alike."""
    text = text.strip()
    if text.endswith(" UTC"):
        return text[: -len(" UTC")] + "+00:00"
    if text.endswith(("Z", "z")):
        return text[:-1] + "+00:00"
    return text


def parse(value: object) -> float | None:
    """Epoch seconds from ISO 8601 text (naive means UTC), epoch seconds or epoch milliseconds.

    None for anything else, moments outside the years 1-9999 in UTC included, so that one malformed
    row is reported, not fatal.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            try:
                moment = datetime.fromisoformat(with_offset(text))
                return utc_seconds(moment)
            except (ValueError, OverflowError):  # OutOfRangeError is a ValueError
                return None
    if not math.isfinite(number):
        return None
    number = number / 1000.0 if number > 1e11 else number  # after 5138 AD in seconds: milliseconds
    return number if in_range(number) else None
