"""Paired block-bootstrap comparisons of forecasts (investiq/core/forecast_stats.py): known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from investiq.core.forecast_stats import PairedRatio, column_estimates, paired_ratio, ratio_verdict


def test_identical_forecasts_give_a_ratio_of_one_with_the_interval_one_to_one():
    rng = np.random.default_rng(0)
    groups = []
    for n in (50, 73, 12):
        e = np.abs(rng.normal(size=n))
        groups.append(np.column_stack([e, e]))
    r = paired_ratio(groups, block=4, reps=500)
    assert (r.ratio, r.ci95) == (1.0, (1.0, 1.0))
    assert r.n == 135 and r.model == r.baseline
    assert ratio_verdict(r) == "not significantly different from 1"


def test_a_model_with_twice_the_error_everywhere_is_exactly_twice():
    rng = np.random.default_rng(1)
    e = np.abs(rng.normal(size=(200,)))
    r = paired_ratio([np.column_stack([2 * e, e])], block=5, reps=500)
    assert r.ratio == pytest.approx(2.0, rel=1e-12)
    assert r.ci95 == pytest.approx((2.0, 2.0), rel=1e-12)
    assert ratio_verdict(r) == "significantly above 1"


def test_pairing_sees_a_small_consistent_improvement_that_noise_would_hide():
    # The baseline's errors vary a lot between origins; the model's are always 2% smaller. Paired, the
    # interval is tight below 1; resampled independently it would straddle 1.
    rng = np.random.default_rng(2)
    e = np.abs(rng.standard_t(3, size=600))
    model = 0.98 * e + 1e-3 * rng.random(600)
    r = paired_ratio([np.column_stack([model, e])], block=3, reps=1000)
    assert r.ci95[1] < 1
    assert ratio_verdict(r) == "significantly below 1"
    unpaired = paired_ratio([np.column_stack([model[rng.permutation(600)], e])], block=3, reps=1000)
    assert unpaired.ratio == pytest.approx(r.ratio)
    assert unpaired.ci95[0] < 1 < unpaired.ci95[1]


def test_a_zero_baseline_leaves_the_ratio_undefined():
    r = paired_ratio([np.column_stack([np.ones(5), np.zeros(5)])], block=2, reps=10)
    assert math.isnan(r.ratio)
    assert ratio_verdict(r) == "undefined"
    assert ratio_verdict(PairedRatio(math.nan, (math.nan, math.nan), 0.0, 0.0, 0)) == "undefined"


def test_the_verdict_reads_the_interval():
    assert ratio_verdict(PairedRatio(1.05, (1.01, 1.09), 1.0, 1.0, 10)) == "significantly above 1"
    assert ratio_verdict(PairedRatio(0.95, (0.90, 0.99), 1.0, 1.0, 10)) == "significantly below 1"
    assert ratio_verdict(PairedRatio(1.0, (0.99, 1.01), 1.0, 1.0, 10)) == "not significantly different from 1"


def test_column_estimates_are_the_pooled_means_with_intervals_around_them():
    rng = np.random.default_rng(3)
    groups = [np.column_stack([rng.random(n) < 0.8, np.ones(n)]).astype(np.float64) for n in (400, 300)]
    hit, constant = column_estimates(groups, block=4, reps=1000)
    assert hit.value == pytest.approx(np.concatenate([g[:, 0] for g in groups]).mean())
    assert hit.ci95[0] < hit.value < hit.ci95[1]
    assert hit.ci95[0] > 0.74 and hit.ci95[1] < 0.86
    assert (constant.value, constant.ci95) == (1.0, (1.0, 1.0))
