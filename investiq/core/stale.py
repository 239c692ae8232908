"""Closes that do not move: a halted stock or a feed that stopped, which a forecast cannot tell from calm.

The forecast's volatility, and so its intervals, come from the window's one-bar moves. A window whose closes
mostly repeat gives a volatility near zero (64 equal closes: the floor of 1e-6, an "80%" interval a few
millionths of the price wide), and one whose last closes repeat ends on a price that may no longer trade. The
gateway serves the forecast as asked and names either in the response's `warnings`; anything sizing positions
on the interval's width should not take it as calm.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

STALE_TAIL = 10  # the last closes all equal: the feed stopped, or trading did
FLAT_SHARE = 0.5  # at least this share of the window's one-bar moves are zero
SESSIONS = timedelta(hours=12)  # a gap this wide in a window: a market that closes at night
# The longest a market that closes is shut in the ordinary way: Good Friday's, Thursday's close to Monday's open
# in New York (3.7 days), and with Easter Monday in Europe. A 512-bar window of 15-minute bars spans 20 sessions
# and often holds no such weekend: the widest gap in it alone warned every symbol for a day after Labor Day (a
# review). Longer holidays (Chinese New Year's week) still warn.
LONG_WEEKEND = timedelta(days=5)  # Easter in London and Frankfurt: Thursday 16:30 to Tuesday 08:00, 4.65 days


def unmoving_closes(closes: NDArray[np.floating[Any]]) -> list[str]:
    """Warnings (module docstring) for a window of closes (finite, > 0, oldest first)."""
    values = np.asarray(closes, dtype=np.float64).reshape(-1)
    moves = np.diff(values)
    if moves.size == 0:
        return []
    warnings = []
    moving = np.flatnonzero(moves != 0)
    tail = moves.size - (int(moving[-1]) + 1 if moving.size else 0)  # trailing moves of zero
    if tail + 1 >= STALE_TAIL:
        warnings.append(
            f"the last {tail + 1} closes are all {values[-1]:g}: a halted stock or a stale feed? The forecast "
            "starts from that close as if it still traded"
        )
    zero = 1 - moving.size / moves.size
    if zero >= FLAT_SHARE:
        warnings.append(
            f"{zero:.0%} of the window's one-bar moves are zero, so its volatility ({_volatility(values):.2g} per "
            "bar) and the intervals made from it understate the risk of a price that moves"
        )
    return warnings


def silent_since(times: Any, last_closed: datetime, now: datetime, *, sent: bool = False) -> list[str]:
    """A warning when the newest of a window's bars (`times`: its bar times, oldest first; the last closed at
    `last_closed`) is older than any gap between the window's bars, and one bar more (a source's delay: a bar that
    has just closed may not be served yet). Fetched bars: trading stopped (a halt, a delisting), which leaves no
    bars at all, so no repeated close says so (a review: a window whose newest bar was 8 days old was served as
    current, unsaid). Bars a client `sent` with their times: a feed that stopped, or a replay, which is served
    as one (dated by its bars) but said, as a stale feed read as current would not be (a new user's walkthrough).
    A market's own nights, weekends and holidays are such gaps in a window of its bars."""
    quiet = usual_quiet(times)
    if quiet is None:
        return []
    widest, bar = quiet
    silence = now - last_closed
    if silence <= widest + bar:
        return []
    longer = f"longer than any gap between the window's bars or a long weekend ({days_text(widest)})"
    if sent:
        return [
            f"the newest bar sent (bar_times) closed {days_text(silence)} ago, {longer}: a feed that stopped, or "
            "a replay? The forecast is dated from that bar, its horizon counted from then, and scored against the "
            "bars that followed it"
        ]
    return [
        f"the newest bar closed {days_text(silence)} ago, {longer}: a halted or delisted symbol, or a market "
        "closed longer than usual? The forecast starts from that close as if it still traded"
    ]


def usual_quiet(times: Any) -> tuple[timedelta, timedelta] | None:
    """The longest a market of these bar times (oldest first) is ordinarily without a new bar: the widest gap
    between them, and at least a long weekend for a market that closes (a window may hold none: a review, Labor
    Day); and its usual bar (the median gap). None for fewer than two times."""
    stamps = np.asarray(times, dtype="datetime64[ns]").astype(np.int64)
    if stamps.size < 2:
        return None
    gaps = np.diff(stamps)
    widest = timedelta(microseconds=int(gaps.max()) / 1000)
    if widest >= SESSIONS:
        widest = max(widest, LONG_WEEKEND)
    return widest, timedelta(microseconds=int(np.median(gaps)) / 1000)


def days_text(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"


def _volatility(values: NDArray[np.float64]) -> float:
    return float(np.std(np.diff(np.log(values))))
