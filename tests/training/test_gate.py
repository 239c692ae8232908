"""The promotion gate's interval: one observation per bar time, none overlapping, Student's t."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from training.gate import independent, paired_interval


def test_symbols_on_the_same_bar_count_once_and_overlapping_paths_are_thinned():
    days = np.arange("2020-01-01", "2020-01-09", dtype="datetime64[D]")
    series = {s: (np.ones(8), days) for s in ("SPX", "NASDAQ")}
    origins = {s: np.arange(8) for s in series}
    diff = np.concatenate([np.arange(8.0), np.arange(8.0) + 2])  # pooled in symbol order, as score() pools
    kept = independent(diff, series, origins, horizon=3)
    np.testing.assert_allclose(kept, [1.0, 4.0, 7.0])  # per-day means 1..8, every 3rd day


def test_the_interval_uses_students_t():
    diff = np.array([0.1, -0.2, 0.3, 0.05])
    low, high = paired_interval(diff)
    half = stats.t.ppf(0.975, 3) * np.std(diff, ddof=1) / 2
    assert (low, high) == pytest.approx((diff.mean() - half, diff.mean() + half))
    assert paired_interval(np.array([0.1])) == (-math.inf, math.inf)
