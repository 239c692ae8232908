"""The edges of the split warning's rules (investiq/core/splits.py): each test kills a mutant that every other
test survived (a mutation audit)."""

from __future__ import annotations

import math

import numpy as np

from investiq.core.splits import MAX_WARNINGS, MIN_RETURNS, never_splits, suspected_splits


def test_a_halving_is_named_at_exactly_the_fewest_one_bar_moves_judged():
    """MIN_RETURNS one-bar moves are enough to judge by: 21 flat closes that halve at the 11th are warned about.
    A mutation audit: `returns.size < MIN_RETURNS` -> `<=` survived every test."""
    closes = np.full(MIN_RETURNS + 1, 50.0)
    closes[10:] = 25.0
    [warning] = suspected_splits(closes)
    assert warning.startswith("prices[10] / prices[9] = 0.5") and "2-for-1" in warning


def test_one_suspect_move_more_than_the_named_five_is_counted_not_named():
    """Six suspect bars: five named, the sixth counted.
    A mutation audit: `len(warnings) > MAX_WARNINGS` -> `> MAX_WARNINGS + 1` survived every
    test."""
    closes = np.full(120, 100.0)
    for at in range(20, 20 + 6 * 15, 15):
        closes[at:] /= 2
    warnings = suspected_splits(closes)
    assert len(warnings) == MAX_WARNINGS + 1
    assert warnings[-1] == "and 1 more one-bar moves like these after the first five"


def test_a_volatile_series_split_on_a_big_day_is_near_its_ratio_within_three_of_its_usual_moves():
    """A series that moves 4.3 % a bar (robust sd), split 2-for-1 on a day it fell 9 % more: 0.09 from log 2 in log
    terms, beyond SPLIT_MOVE's 0.077 but within three of its usual moves: named a 2-for-1 split.
    A mutation audit: `max(TOLERANCE, 3 * scale)` -> `TOLERANCE` survived every test."""
    returns = np.random.default_rng(0).normal(0, 0.045, 60)  # robust sd of the other moves: 0.0433
    returns[30] = -(math.log(2) + 0.09)
    closes = 100 * np.exp(np.concatenate([[0.0], np.cumsum(returns)]))
    [warning] = suspected_splits(closes)
    assert warning.startswith("prices[31] / prices[30] = ") and "near a 2-for-1 split" in warning


def test_every_index_symbol_never_splits_not_only_the_vix():
    """An index (Yahoo's "^" symbols: the S&P 500, the DAX, the VIX) has no shares to split.
    A mutation audit: `startswith("^")` -> `startswith("^V")` survived every test."""
    assert never_splits("^GSPC") and never_splits("^GDAXI") and never_splits("^VIX")
    assert not never_splits("AAPL") and not never_splits("BRK-B")
