"""Closes that do not move (investiq/core/stale.py): a window of repeated closes, or one that ends on them,
is named; ordinary series, and a cheap stock whose closes often repeat a cent, are not."""

from __future__ import annotations

import numpy as np
import pytest

from investiq.core.stale import unmoving_closes


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
