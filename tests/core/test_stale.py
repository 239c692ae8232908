"""Closes that do not move (investiq/core/stale.py): a window of repeated closes, or one that ends on them,
is named; ordinary series, and a cheap stock whose closes often repeat a cent, are not."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from investiq.core.stale import silent_since, unmoving_closes


def walk(n: int = 512, sd: float = 0.01, seed: int = 0, start: float = 100.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return start * np.exp(np.cumsum(rng.normal(0.0, sd, n)))


def test_equal_closes_are_named_as_stale_and_flat():
    tail, flat = unmoving_closes(np.full(64, 101.5))
    assert tail.startswith("the last 64 closes are all 101.5") and "stale feed" in tail
    assert flat.startswith("100% of the window's one-bar moves are zero") and "understate the risk" in flat


def test_a_window_that_ends_on_repeated_closes_is_named_stale():
    closes = walk()
    closes[-12:] = closes[-13]
    [warning] = unmoving_closes(closes)
    assert warning.startswith("the last 13 closes are all ")


@pytest.mark.parametrize("seed", range(10))
def test_moving_series_are_not_warned_about(seed: int):
    assert unmoving_closes(walk(seed=seed)) == []
    # a $3 stock in cents on short bars: a third of its closes repeat the one before
    cheap = np.round(walk(sd=0.003, seed=seed, start=3.0), 2)
    assert 0.2 < np.mean(np.diff(cheap) == 0) < 0.5
    assert unmoving_closes(cheap) == []


def test_bars_whose_newest_is_older_than_any_gap_in_the_window_are_warned_about():
    """A halt leaves no bars, so no repeated close says so: a window whose newest bar was 8 days old was served as
    current (a review). The market's own weekends and holidays are gaps of its window, and a bar of delay is
    allowed: neither is warned about."""
    days = pd.bdate_range("2024-01-02", periods=300, tz="UTC")  # weekdays: Friday -> Monday is the widest gap
    closed = days[-1].to_pydatetime() + timedelta(days=1)
    assert silent_since(days, closed, closed + timedelta(days=3)) == []  # a weekend and a bar
    [warning] = silent_since(days, closed, closed + timedelta(days=8))
    assert warning.startswith("the newest bar closed 8.0 days ago, longer than any gap between the window's bars")
    # 15-minute bars of 20 sessions without a long weekend: Labor Day's Monday and Tuesday morning are no halt
    sessions = pd.DatetimeIndex(
        [t for day in pd.bdate_range("2026-08-05", "2026-09-04", tz="UTC") for t in
         pd.date_range(day + pd.Timedelta(hours=13.5), periods=26, freq="15min")]
    )  # fmt: skip
    closed = sessions[-1].to_pydatetime() + timedelta(minutes=15)  # Friday 20:00 UTC
    assert silent_since(sessions, closed, closed + timedelta(days=3, hours=17.75)) == []  # Tuesday 13:45 UTC
    assert silent_since(sessions, closed, closed + timedelta(days=6))  # a halt
    crypto = pd.date_range("2024-01-01", periods=512, freq="15min", tz="UTC")
    closed = crypto[-1].to_pydatetime() + timedelta(minutes=15)
    assert silent_since(crypto, closed, closed + timedelta(minutes=25)) == []  # the next bar not served yet
    assert "0.8 hours ago" in silent_since(crypto, closed, closed + timedelta(minutes=45))[0]


def test_bars_a_client_sent_are_told_as_a_stopped_feed_or_a_replay_not_a_halt() -> None:
    """A client's window of old bars is served as a replay (dated by its bars) and said, as its stale feed's would
    not be (a new user's walkthrough); a halt is what the gateway's own fetched bars say."""
    days = pd.bdate_range("2024-01-02", periods=300, tz="UTC")
    closed = days[-1].to_pydatetime() + timedelta(days=1)
    assert silent_since(days, closed, closed + timedelta(days=3), sent=True) == []
    [warning] = silent_since(days, closed, closed + timedelta(days=30), sent=True)
    assert warning.startswith("the newest bar sent (bar_times) closed 30.0 days ago, longer than any gap"), warning
    assert "a feed that stopped, or a replay?" in warning and "halted" not in warning
