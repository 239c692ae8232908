"""The strategy weights (investiq/core/bayes) and the split warnings (investiq/core/splits.py), pinned where a
mutation audit found no test that could fail: each test kills a mutant that every other test survived."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from numpy.typing import NDArray

from investiq.core.bayes.allocation import AllocationRules, allocate, clip_to_box, is_proven, prob_best_mean
from investiq.core.bayes.posterior import Evidence, Posterior, Prior, decay, observe, posterior
from investiq.core.bayes.regret import main
from investiq.core.bayes.weights import strategy_weights
from investiq.core.splits import suspected_splits
from tests.core.test_allocation import post
from tests.core.test_splits import walk


def closes_from(returns: NDArray[np.float64]) -> NDArray[np.float64]:
    """Closes from 100 whose one-bar log returns are `returns`."""
    return np.asarray(100 * np.exp(np.concatenate([[0.0], np.cumsum(returns)])), dtype=np.float64)


def pnl_post(n: float, mean: float, sd: float) -> Posterior:
    """A posterior whose P&L evidence is n effective trades of this mean and standard deviation."""
    return Posterior(1.0, 1.0, 0.0, 1.0, 2.0, 100.0, n, n, pnl_sample_mean=mean, pnl_sample_sd=sd)


# --- splits.py


def test_a_move_of_exactly_the_smallest_split_factor_is_judged():
    """Kills splits.py `abs(returns) >= SMALLEST` as `>`: a fall of exactly x1/1.4, 'at least a 3-for-2 split's',
    went unwarned."""
    closes = np.array([1.4] * 10 + [1.0] * 11)  # log(1.0) - log(1.4) is exactly -log(1.4)
    [warning] = suspected_splits(closes)
    assert warning.startswith("prices[10] / prices[9] = 0.7143") and "near a 3-for-2 split" in warning


def test_a_five_for_two_split_is_named_as_such():
    """Kills splits.py `_ratio_name`, `factor == 2.5` as another value: a 5-for-2 split was named '2.5-for-1'."""
    closes = walk()
    closes[400:] /= 2.5
    [warning] = suspected_splits(closes)
    assert "near a 5-for-2 split" in warning and "times 0.4)" in warning


def test_the_usual_move_is_judged_from_the_other_bars_only():
    """Kills splits.py `np.delete(returns, t)` dropped: the suspect bar counted in its own yardstick, and a halving
    among +-1 % moves read as 23, not 47, times the usual one-bar move."""
    returns = np.insert(np.array([0.01, -0.01] * 10), 10, -math.log(2))
    [warning] = suspected_splits(closes_from(returns))
    assert warning.startswith("prices[11] / prices[10] = 0.5") and "47 times this series' usual" in warning


def test_a_move_of_exactly_ten_usual_moves_is_not_extreme():
    """Kills splits.py `abs(move) <= EXTREME * scale` as `<`: a doubling of exactly ten robust standard deviations
    of the other moves (+-4.7 % a bar), not over ten as the rule says, was warned about as a 1-for-2 split."""
    closes = np.array([1.0, 1.047860154699299] * 10 + [1.0, 1.9999406968199307])  # log(x2) == 10 * scale exactly
    assert suspected_splits(closes) == []


def test_exactly_five_suspect_moves_are_all_named_without_a_count():
    """Kills splits.py `len(warnings) > MAX_WARNINGS` as `>=`: five named bars became four and 'and 1 more'."""
    closes = np.full(100, 100.0)
    for at in range(20, 20 + 5 * 15, 15):
        closes[at:] /= 2
    warnings = suspected_splits(closes)
    assert len(warnings) == 5 and all("near a 2-for-1 split" in w for w in warnings)


# --- allocation.py


def test_pnl_ranks_a_strategy_on_two_trades_when_the_minimum_allows():
    """Kills allocation.py PNL_MIN_TRADES 2 -> 3: with bayes_min_trades 1, two P&L trades (a spread) are enough."""
    rules = AllocationRules(min_trades=1)
    assert is_proven(pnl_post(2, 5.0, 1.0), rules, "pnl")
    assert not is_proven(pnl_post(1, 5.0, 0.0), rules, "pnl")


def test_the_default_minimum_evidence_is_five_trades():
    """Kills allocation.py `AllocationRules.min_trades` default 5 -> 4 (the gateway's bayes_min_trades default):
    a strategy with four trades was ranked."""
    rules = AllocationRules()
    assert not is_proven(post(5.0, 1.0, 4.0), rules) and is_proven(post(6.0, 1.0, 5.0), rules)


def test_a_strategy_whose_every_draw_overflows_behind_the_leader_has_no_chance():
    """Kills allocation.py `_prob_best_mean`, the share where z is not finite set to 1 (right only for a strategy
    alone): P&Ls of 0 and 1e-300 against a leader at 1e10 overflowed z to +inf, and the hopeless strategy was given
    a certain chance of being best, as much as the leader."""
    posts = [pnl_post(10, 1e10, 1e5), pnl_post(10, 5e-301, 7e-301)]
    with np.errstate(over="ignore"):  # (1e10 - 5e-301) / 2.2e-301
        shares = prob_best_mean(posts, np.random.default_rng(0), 1000)
    assert shares.tolist() == [1.0, 0.0]


def test_a_score_below_tiny_counts_as_zero():
    """Kills allocation.py `clip_to_box`, `scores > TINY` as `> 0`: a P(best) of 1e-310 (a subnormal, far out in a
    tail) took part in the bisection, whose multiplier 4e309 overflowed a float: OverflowError, no weights."""
    w = clip_to_box(np.array([1.0, 1e-310]), 1.0, 0.02, 0.6)
    assert w == pytest.approx([0.6, 0.4])


# --- posterior.py, weights.py and regret.py


def test_weights_come_in_the_order_of_the_strategies_names():
    """Kills weights.py `sorted(states)` dropped: the names, posteriors and weights came in the order the states
    were given, not sorted by name as documented (and as `investiq backtest` lists them)."""
    good = Evidence(ref_ts=0.0)
    for i in range(10):
        good = observe(good, float(i), True, None, 0.0)
    states = {"zeta": Evidence(ref_ts=0.0), "alpha": good}
    rules = AllocationRules(min_trades=0)
    names, posts, w = strategy_weights(
        states, "mean", 10.0, prior=Prior(), half_life_days=0.0, rules=rules, seed=0
    )
    assert names == ["alpha", "zeta"] and posts[0].alpha == 11.0 and w[0] > w[1]
    assert w.tolist() == allocate(posts, "mean", rules, np.random.default_rng(0)).tolist()


def test_the_regret_comparison_refuses_a_single_run(monkeypatch: pytest.MonkeyPatch):
    """Kills regret.py `args.runs < 2` as `< 1`: `--runs 1` printed a 95 % interval of [nan, nan]."""
    monkeypatch.setattr(sys, "argv", ["regret", "--runs", "1"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2


def test_identical_pnls_seen_with_forgetting_have_no_spread_and_no_error():
    """Kills posterior.py `max(ev.pnl_scatter, 0.0)` dropped: three P&Ls of 7.7 weeks apart
    (half-life 1 day) left a scatter of -1e-37 by rounding, and the posterior's standard deviation raised 'math
    domain error' for the strategy's weights."""
    ev = Evidence(ref_ts=0.0)
    times = [4059068.8316794885, 6799294.831100022, 8776565.829010952]
    for ts in times:
        ev = observe(ev, ts, None, 7.7, 1.0)
    p = posterior(Prior(), ev, times[-1], 1.0)
    assert p.effective_pnl_trades > 1 and p.pnl_sample_sd == 0.0 and p.pnl_sample_mean == pytest.approx(7.7)


def test_evidence_from_the_future_weighs_no_more_than_evidence_from_now():
    """Kills posterior.py `decay`'s `age_seconds <= 0` dropped: a trade a day ahead of the clock weighed 1.02 at a
    30-day half-life."""
    assert decay(-86_400.0, 30.0) == 1.0 and decay(0.0, 30.0) == 1.0
