"""Allocation rules: weights >= 0 summing to 1, floor, cap, minimum evidence, seeded Thompson."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from investiq.core.bayes.allocation import (
    PNL_MIN_TRADES,
    AllocationRules,
    allocate,
    clip_to_box,
    is_proven,
    prob_best,
    prob_best_mean,
)
from investiq.core.bayes.posterior import Evidence, Posterior, Prior, observe, posterior


def post(alpha: float, beta: float, effective: float | None = None) -> Posterior:
    n = alpha + beta - 2 if effective is None else effective
    return Posterior(alpha, beta, 0.0, 1.0, 2.0, 100.0, n, n)


posteriors = st.lists(
    st.builds(post, st.floats(1, 300), st.floats(1, 300), st.floats(0, 600)), min_size=0, max_size=12
)
rules = st.builds(
    AllocationRules,
    min_trades=st.floats(0, 50),
    floor=st.floats(0, 0.2),
    cap=st.floats(0.2, 1.0),
    draws=st.just(500),
)


@settings(max_examples=200, deadline=None)
@given(posteriors, rules, st.sampled_from(["mean", "thompson", "pnl"]))
def test_weights_are_a_distribution_and_respect_the_rules(posts, r, method):
    w = allocate(posts, method, r, np.random.default_rng(0))
    assert w.shape == (len(posts),)
    if not posts:
        return
    assert (w >= 0).all()
    assert w.sum() == pytest.approx(1.0)
    k = len(posts)
    least = max(r.min_trades, PNL_MIN_TRADES) if method == "pnl" else r.min_trades  # a P&L's spread needs two
    evidence = [p.effective_pnl_trades if method == "pnl" else p.effective_trades for p in posts]
    proven = np.array([math.floor(e + 0.5) >= least for e in evidence])  # whole trades
    assert w[~proven] == pytest.approx(np.full((~proven).sum(), 1 / k))  # prior share
    if proven.any():
        mass = proven.sum() / k
        n = proven.sum()  # a floor gives way to half the equal share, a cap below the equal share to it
        floor, cap = min(r.floor, 0.5 * mass / n), max(r.cap, mass / n)
        assert (w[proven] >= floor - 1e-12).all() and (w[proven] <= cap + 1e-12).all()


def test_mean_weights_rank_by_posterior_win_rate():
    posts = [post(30, 10), post(20, 20), post(10, 30)]
    w = allocate(posts, "mean", AllocationRules(min_trades=5, floor=0.0, cap=1.0), np.random.default_rng(0))
    assert w[0] > w[1] > w[2]
    assert w == pytest.approx(np.array([0.75, 0.5, 0.25]) / 1.5)


def test_cap_and_floor_redistribute_the_excess():
    w = clip_to_box(np.array([0.97, 0.02, 0.01]), 1.0, floor=0.05, cap=0.6)
    assert w.sum() == pytest.approx(1.0)
    assert w[0] == pytest.approx(0.6)
    assert w.min() >= 0.05 - 1e-12
    assert w[1] > w[2] or w[1] == w[2] == pytest.approx(0.05)


def test_infeasible_bounds_widen_just_enough():
    w = clip_to_box(np.array([1.0, 0.0]), 1.0, floor=0.0, cap=0.3)  # 2 x 0.3 < 1
    assert w == pytest.approx([0.5, 0.5])


@pytest.mark.parametrize("k", [26, 49, 50, 60, 200])
def test_the_evidence_ranks_however_many_strategies_share_the_floor(k: int):
    """From 1 / floor strategies on (50 at the default 0.02) the floor was the equal share, the only point
    meeting the sum: a strategy 50-0 got 1/K like those 5-45 (a review), and 0.04 at 49. The floor gives way to
    half of it, with no jump between 49 and 50."""
    posts = [post(51, 1)] + [post(6, 46)] * (k - 1)
    for method in ("mean", "thompson"):
        w = allocate(posts, method, AllocationRules(), np.random.default_rng(0))
        assert w.sum() == pytest.approx(1.0) and w.min() >= min(0.02, 0.5 / k) - 1e-12
        assert w[0] > 3 / k and w[1] < 1 / k, (method, w[0], w[1])


def test_pnl_ranks_no_strategy_on_one_trade_whatever_the_minimum():
    """bayes_min_trades 1: one trade of +50 had no spread, a certain mean, and took everything (a review)."""
    one = replace(post(2, 1), effective_pnl_trades=1.0, pnl_sample_mean=50.0, pnl_sample_sd=0.0)
    many = replace(post(60, 42), effective_pnl_trades=100.0, pnl_sample_mean=10.0, pnl_sample_sd=5.0)
    w = allocate([one, many], "pnl", AllocationRules(min_trades=1, floor=0.0, cap=1.0), np.random.default_rng(0))
    assert w == pytest.approx([0.5, 0.5])  # the one-trade strategy keeps its prior share; the other the rest


def test_a_strategy_with_too_few_trades_keeps_its_prior_share():
    posts = [post(200, 20), post(20, 200), post(3, 1, effective=2)]
    w = allocate(posts, "mean", AllocationRules(min_trades=5, floor=0.0, cap=1.0), np.random.default_rng(0))
    assert w[2] == pytest.approx(1 / 3)
    assert w[0] + w[1] == pytest.approx(2 / 3)


def test_thompson_is_seeded_and_favours_the_likely_best():
    posts = [post(60, 40), post(50, 50), post(40, 60)]
    r = AllocationRules(min_trades=1, floor=0.0, cap=1.0, draws=20_000)
    a = allocate(posts, "thompson", r, np.random.default_rng(42))
    b = allocate(posts, "thompson", r, np.random.default_rng(42))
    assert (a == b).all()
    assert a[0] > 0.8 and a[2] < 0.01


def test_prob_best_matches_the_exact_value_for_two_strategies():
    # P(p1 > p2) for Beta(2,1) vs Beta(1,1) is 2/3.
    p = prob_best(np.array([2.0, 1.0]), np.array([1.0, 1.0]), np.random.default_rng(1), 200_000)
    assert p[0] == pytest.approx(2 / 3, abs=0.005)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown method 'best'"):
        allocate([post(10, 1)], "best", AllocationRules(min_trades=0), np.random.default_rng(0))  # type: ignore[arg-type]


def test_n_trades_stay_n_trades_until_decay_takes_half_a_trade():
    """The evidence rule counts whole trades: 5 trades of a moment ago, of 3 seconds ago and of 4 days ago
    (4.56 effective at a 30-day half-life) are 5, and proven; of 5 days ago (4.46) they are 4. Before, they
    were proven for under half a second: 4.999996 effective trades after 3 s were fewer than 5."""
    rules = AllocationRules(min_trades=5)
    for days, proven in ((0.0, True), (3 / 86_400, True), (4.0, True), (5.0, False)):
        effective = 5 * 2 ** (-days / 30)
        assert is_proven(post(6.0, 1.0, effective), rules) is proven, days


def learnt(pnls: list[float]) -> Posterior:
    """The posterior after these trades (no forgetting), from the default prior."""
    ev = Evidence(ref_ts=0.0)
    for i, x in enumerate(pnls):
        ev = observe(ev, float(i), None, x, 0.0)
    return posterior(Prior(), ev, float(len(pnls)), 0.0)


def test_pnl_weights_follow_the_mean_pnl_where_win_rates_mislead():
    """Wins 90% by 1 and loses 20 (-1.1 a trade) against wins 40% by 5 and loses 1 (+1.4 a trade): the win
    rates gave the first the cap under mean and thompson alike (found by a probe); pnl ranks them by P&L."""
    rng = np.random.default_rng(3)
    often = learnt(list(np.where(rng.random(200) < 0.9, 1.0, -20.0)))
    big = learnt(list(np.where(rng.random(200) < 0.4, 5.0, -1.0)))
    rules = AllocationRules()
    for method in ("mean", "thompson"):
        w = allocate([often, big], method, rules, np.random.default_rng(0))
        assert w[0] > w[1]
    w = allocate([often, big], "pnl", rules, np.random.default_rng(0))
    assert w[1] == pytest.approx(rules.cap) and w[0] == pytest.approx(1 - rules.cap)


def test_pnl_weights_do_not_depend_on_the_pnls_units():
    """Returns of 0.01 ranked as dollars of 10 do: with the NIG prior's scale (100, in the agent's units) every
    weight stayed near equal."""
    rng = np.random.default_rng(4)
    a = np.where(rng.random(60) < 0.55, 1.0, -1.0) + 0.2
    b = np.where(rng.random(60) < 0.55, 1.0, -1.0) - 0.2
    dollars = allocate(
        [learnt(list(a * 10)), learnt(list(b * 10))], "pnl", AllocationRules(), np.random.default_rng(0)
    )
    returns = allocate(
        [learnt(list(a / 100)), learnt(list(b / 100))], "pnl", AllocationRules(), np.random.default_rng(0)
    )
    np.testing.assert_allclose(returns, dollars)
    assert returns[0] > 0.55


def test_pnl_ranks_only_strategies_whose_trades_carry_a_pnl():
    flags_only = Posterior(30.0, 5.0, 0.0, 1.0, 2.0, 100.0, 33.0, 0.0)  # 33 trades reported as won/lost only
    assert is_proven(flags_only, AllocationRules()) and not is_proven(flags_only, AllocationRules(), "pnl")


def test_thompson_weights_behind_a_capped_leader_are_stable_and_monotone():
    """P(best) was a count of wins in the draws: behind a capped leader, 5 wins in 10,000 against none gave 0.38
    and 0.02, two strategies with the same record 0.295 and 0.105 by seed, and when every count was 0 the zero
    scores shared the rest equally, so the worst strategy's weight rose tenfold as the leader improved."""

    def record(wins: int, losses: int) -> Posterior:
        return post(1 + wins, 1 + losses)

    rules = AllocationRules()
    worst = []
    for leader in (50, 60, 80):
        w = allocate(
            [record(leader, 8), record(28, 22), record(22, 28)], "thompson", rules, np.random.default_rng(0)
        )
        assert w[0] == pytest.approx(0.6) and w[1] > w[2]
        worst.append(w[2])
    assert worst == pytest.approx([worst[0]] * 3)  # the leader's record does not move the worst one's weight
    for seed in range(5):
        w = allocate(
            [record(50, 8), record(25, 25), record(25, 25)], "thompson", rules, np.random.default_rng(seed)
        )
        assert w[1] == pytest.approx(w[2], abs=0.01)  # the same record, the same weight, whatever the seed


def test_pnl_weights_of_strategies_whose_pnl_never_varied_tie():
    """A P&L of 5 on every trade has no spread: the first strategy by name took every draw (0.6 and 0.4)."""
    same = Posterior(1.0, 1.0, 0.0, 1.0, 2.0, 100.0, 10, 10, pnl_sample_mean=5.0, pnl_sample_sd=0.0)
    lower = Posterior(1.0, 1.0, 0.0, 1.0, 2.0, 100.0, 10, 10, pnl_sample_mean=4.0, pnl_sample_sd=0.0)
    w = allocate([same, same, lower], "pnl", AllocationRules(floor=0.0), np.random.default_rng(0))
    assert w[0] == w[1] == pytest.approx(0.5) and w[2] == 0.0


def test_pnl_shares_interpolated_on_a_grid_are_those_of_the_t_at_every_draw():
    """`pnl` reads the t's survival function on a grid over the others' best (2.4x faster for 40 strategies); on
    the same draws the shares are those of the function at every draw, a point mass and a lone strategy too."""
    rng = np.random.default_rng(3)
    posts = [
        Posterior(1.0, 1.0, 0.0, 1.0, 2.0, 100.0, n, n, pnl_sample_mean=m, pnl_sample_sd=sd)
        for n, m, sd in zip(rng.integers(3, 200, 30), rng.normal(1, 2, 30), rng.uniform(0.5, 20, 30), strict=True)
    ] + [Posterior(1.0, 1.0, 0.0, 1.0, 2.0, 100.0, 10, 10, pnl_sample_mean=1.0, pnl_sample_sd=0.0)]
    heavy = [  # 2 and 3 trades (t with 1 and 2 degrees of freedom) beside a tight one: an even grid in z missed
        Posterior(1.0, 1.0, 0.0, 1.0, 2.0, 100.0, n, n, pnl_sample_mean=0.0, pnl_sample_sd=sd)
        for n, sd in ((2, 1.0), (3, 1.0), (1000, 0.3), (50, 1e-12))
    ]
    for case in (posts, heavy, heavy[:1] + heavy[2:3]):
        assert_exact_shares(case)
    alone = prob_best_mean(posts[:1], np.random.default_rng(7), 100)
    assert alone.tolist() == [1.0]


def assert_exact_shares(posts: list[Posterior]) -> None:
    from scipy import special

    got = prob_best_mean(posts, np.random.default_rng(7), 5_000)
    n = np.array([p.effective_pnl_trades for p in posts])
    loc, df = np.array([p.pnl_sample_mean for p in posts]), np.maximum(n - 1, 1)
    scale = np.array([p.pnl_sample_sd for p in posts]) / np.sqrt(n)
    samples = loc + scale * np.random.default_rng(7).standard_t(df, size=(5_000, len(posts)))
    others = np.stack([np.max(np.delete(samples, i, axis=1), axis=1) for i in range(len(posts))], axis=1)
    with np.errstate(divide="ignore"):
        exact = special.stdtr(df, -(others - loc) / scale).mean(axis=0)
    point = scale == 0
    exact[point] = (others[:, point] < loc[point]).mean(axis=0) + 0.5 * (others[:, point] == loc[point]).mean(
        axis=0
    )
    np.testing.assert_allclose(got, exact, atol=1e-4)


def test_the_box_is_met_for_scores_far_out_in_a_tail():
    """Bisection on [0, cap / 1e-300] halved 200 times left the multiplier 1e240 wide."""
    w = clip_to_box(np.array([0.9, 1e-250, 1e-280]), 1.0, floor=0.01, cap=0.6)
    assert w.sum() == pytest.approx(1.0) and w[0] == pytest.approx(0.6) and w[1] == pytest.approx(0.39)


def test_draws_are_taken_in_blocks_that_agree_with_one(monkeypatch: pytest.MonkeyPatch):
    """bayes_thompson_draws up to 1,000,000 held every draw at once (~26 MB a strategy a request, a review): in
    blocks, the shares agree with one block's, for both methods, and still sum to 1."""
    import investiq.core.bayes.allocation as allocation

    alphas, betas = np.array([3.0, 8.0, 5.0, 1.0]), np.array([7.0, 4.0, 5.0, 1.0])
    posteriors = [
        Posterior(1.0, 1.0, 0.0, 1.0, 2.0, 100.0, n, n, pnl_sample_mean=m, pnl_sample_sd=2.0)
        for n, m in ((5.0, 1.0), (20.0, 0.5), (3.0, -1.0))
    ]
    whole = prob_best(alphas, betas, np.random.default_rng(3), 12_000)
    whole_mean = prob_best_mean(posteriors, np.random.default_rng(3), 12_000)
    monkeypatch.setattr(allocation, "BLOCK", 1_000)
    blocked = prob_best(alphas, betas, np.random.default_rng(3), 12_000)
    blocked_mean = prob_best_mean(posteriors, np.random.default_rng(3), 12_000)
    assert np.allclose(blocked, whole, atol=0.02) and blocked.sum() == pytest.approx(1.0, abs=0.01)
    assert np.allclose(blocked_mean, whole_mean, atol=0.02) and blocked_mean.sum() == pytest.approx(1.0, abs=0.01)
    assert not np.array_equal(blocked, whole)  # the blocks were drawn


def test_interpolation_on_the_even_grid_is_numpys():
    """`_on_grid` replaced np.interp's binary search (a third of a thompson weighing): the same values, the ends
    included; a grid of one point (every draw of the others' best the same), a range too narrow to divide by,
    and NaN answer what np.interp does (a review: an IndexError)."""
    from investiq.core.bayes.allocation import GRID, _on_grid

    rng = np.random.default_rng(3)
    x = rng.beta(2.0, 5.0, 10_000)
    lo, hi = float(x.min()), float(x.max())
    values = np.log(rng.random(GRID).cumsum())
    expected = np.interp(x, np.linspace(lo, hi, GRID), values)
    assert np.abs(_on_grid(x, lo, hi, values) - expected).max() < 1e-12
    assert _on_grid(np.array([lo, hi]), lo, hi, values).tolist() == pytest.approx(
        [values[0], values[-1]], abs=1e-12
    )
    for odd, lo, hi in ((np.full(4, 0.3), 0.3, 0.3), (np.array([0.0, 5e-324]), 0.0, 5e-324)):
        assert _on_grid(odd, lo, hi, values).tolist() == np.interp(odd, np.linspace(lo, hi, GRID), values).tolist()
    with_nan = np.array([0.1, np.nan, 0.5])
    assert np.isnan(_on_grid(with_nan, 0.1, 0.5, values)).tolist() == [False, True, False]  # before: IndexError
