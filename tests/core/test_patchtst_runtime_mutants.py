"""The bounds `investiq/core/patchtst_runtime.py` holds a runtime's graph to against the portable one: which graph
serves is decided by them. Each test here kills a mutant that every other test survived (a mutation audit)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from investiq.core.patchtst import LEVEL_TIE, QUANTILE_LEVELS
from investiq.core.patchtst_runtime import (
    BF16_MAX_QUANTILE_SD,
    FUSED,
    MAX_REL_DIFF,
    bf16_problem,
    forecast_errors,
    max_difference,
    problem,
    sample_windows,
)
from tests.core.test_patchtst_bf16 import answer


def test_p_up_is_compared_absolutely_so_a_tiny_p_up_off_by_a_hair_does_not_refuse_the_graph():
    """P(up) is a probability: the fp32 bound holds it to an absolute difference, not a relative one. A P(up) of
    0.02 off by 5e-5 (relative 2.5e-3, 25 times the bound) is within it: the fused graph is not refused.
    A mutation audit: P(up) scaled by its own size like the prices (relative) survived every test."""
    windows = sample_windows(3, 16, seed=1)
    want = answer(windows, p_up=0.02)
    got = [a.copy() for a in want]
    got[2] += np.float32(5e-5)
    absolute = float(np.max(np.abs(got[2] - want[2])))
    assert 1e-5 < absolute < MAX_REL_DIFF < absolute / 0.02  # within the bound absolutely, far out relatively
    assert np.array_equal(got[1], want[1]) and np.array_equal(got[3], want[3])  # P(up) is all that differs
    assert max_difference(got, want) == absolute
    assert problem(FUSED, windows, got, want) is None


def test_a_median_the_reference_held_to_the_last_close_within_the_level_tie_is_not_compared():
    """The graph holds a quantile whose level lies within LEVEL_TIE of 1 - P(up) at the last close (`agreeing`).
    A reference P(up) of 0.500005 puts the median's level 0.5 just inside that tie above 1 - P(up), and the
    reference's median sits at the last close; BF16's P(up) 0.50002 leaves the median free, half a standard
    deviation up. Both answers are what the graph serves: the median is not compared, and BF16 is within bound.
    A mutation audit: the band of levels not compared losing its LEVEL_TIE pad above survived every test."""
    windows = sample_windows(2, 16, seed=4)
    levels = np.array(QUANTILE_LEVELS)
    m = QUANTILE_LEVELS.index(0.5)
    last = windows[:, -1:, :]
    sd_step = last[..., 0] * 0.01 * np.sqrt(np.arange(1, 5))[None, :]  # [n, 4]: close * volatility * sqrt(h)
    quantiles = last + sd_step[..., None] * (2.5 * (levels - 0.5))[None, None, :]

    def forecast(p_up: float, median_at_last: bool) -> list[NDArray[np.float32]]:
        q = quantiles.copy()
        q[..., m] = last[..., 0] if median_at_last else last[..., 0] + 0.5 * sd_step
        p = np.full((2, 4), p_up, dtype=np.float32)
        return [q[..., m : m + 1].astype(np.float32), q.astype(np.float32), p, np.full((2, 1), 0.01, np.float32)]

    reference, bf16 = forecast(0.500005, median_at_last=True), forecast(0.50002, median_at_last=False)
    tie_q, tie_p = 1 - float(reference[2][0, 0]), 1 - float(bf16[2][0, 0])
    assert tie_p < tie_q < 0.5 <= tie_q + LEVEL_TIE and tie_p + LEVEL_TIE < 0.5  # held in one answer only
    off = np.abs(bf16[1][..., m] - reference[1][..., m]) / sd_step
    assert float(off.min()) > 10 * BF16_MAX_QUANTILE_SD  # compared, the median would be far out of bound
    errors = forecast_errors(windows, bf16, reference)
    assert errors.quantile_sd < 1e-3 and errors.p_up_flipped == 0
    assert bf16_problem(errors) is None
