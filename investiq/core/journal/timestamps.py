"""Timestamps in the journal: ISO 8601 UTC text; the agent's may also be epoch seconds or ms."""

from __future__ import annotations

import math
from datetime import datetime, timezone


def iso(ts: float) -> str:
    """Epoch seconds -> '2026-11-24T08:49:21.123456+00:00'."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat()


def parse(value: object) -> float | None:
    """Epoch seconds from ISO 8601 text (naive means UTC), epoch seconds or epoch milliseconds.

    None for anything else, so that one malformed row is reported, not fatal.
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
                moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" UTC", "+00:00"))
            except ValueError:
                return None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            return moment.timestamp()
    if not math.isfinite(number):
        return None
    return number / 1000.0 if number > 1e11 else number  # after 5138 AD in seconds: milliseconds
