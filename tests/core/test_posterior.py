"""The posterior maths: invariants, batch replay, scipy moments, forgetting toward the prior."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from investiq.core.bayes.posterior import SECONDS_PER_DAY, Evidence, Prior, advance, decay, observe, posterior

PRIOR = Prior(alpha=2.0, beta=3.0, mu=1.0, kappa=2.0, a=3.0, b=50.0)
DAY = SECONDS_PER_DAY

trade = st.tuples(
    st.floats(0, 400 * DAY),  # closed_ts
    st.one_of(st.none(), st.booleans()),  # won
    st.one_of(st.none(), st.floats(-1e4, 1e4)),  # pnl
).filter(lambda t: t[1] is not None or t[2] is not None)


def fold(trades: Sequence[tuple[float, bool | None, float | None]], half_life: float) -> Evidence:
    ev = Evidence(ref_ts=trades[0][0])
    for ts, won, pnl in trades:
        ev = observe(ev, ts, won, pnl, half_life)
    return ev


def batch(trades: list[tuple[float, bool | None, float | None]], half_life: float, now: float) -> dict[str, float]:
    """Direct formula (the oracle): weighted sufficient statistics with w = 2^-(age/half-life)."""
    out = {"win_w": 0.0, "loss_w": 0.0, "pnl_w": 0.0, "pnl_s1": 0.0}
    weighted: list[tuple[float, float]] = []
    for ts, won, pnl in trades:
        w = 0.5 ** ((now - ts) / (half_life * DAY)) if half_life else 1.0
        won = won if won is not None else (pnl is not None and pnl > 0)
        out["win_w" if won else "loss_w"] += w
        if pnl is not None:
            out["pnl_w"] += w
            out["pnl_s1"] += w * pnl
            weighted.append((w, pnl))
    mean = out["pnl_s1"] / out["pnl_w"] if out["pnl_w"] > 0 else 0.0
    out["pnl_scatter"] = sum(w * (x - mean) ** 2 for w, x in weighted)  # two passes: the textbook form
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(trade, min_size=1, max_size=40), st.sampled_from([0.0, 7.0, 30.0]), st.randoms())
def test_incremental_updates_equal_batch_replay_in_any_order(trades, half_life, rnd: random.Random):
    shuffled = trades[:]
    rnd.shuffle(shuffled)
    now = max(t[0] for t in trades) + 5 * DAY
    expected = batch(trades, half_life, now)
    for order in (trades, sorted(trades, key=lambda t: t[0]), shuffled):
        ev = fold(order, half_life)
        p = posterior(PRIOR, ev, now, half_life)
        assert p.alpha - PRIOR.alpha == pytest.approx(expected["win_w"], rel=1e-9, abs=1e-9)
        assert p.beta - PRIOR.beta == pytest.approx(expected["loss_w"], rel=1e-9, abs=1e-9)
        assert p.effective_pnl_trades == pytest.approx(expected["pnl_w"], rel=1e-9, abs=1e-9)
        seen = advance(ev, now, half_life)
        assert seen.pnl_scatter == pytest.approx(expected["pnl_scatter"], rel=1e-7, abs=1e-6)
        assert ev.wins + ev.losses == len(trades)


@settings(max_examples=150, deadline=None)
@given(st.lists(trade, min_size=0, max_size=40), st.sampled_from([0.0, 30.0]))
def test_posterior_invariants(trades, half_life):
    ev = fold(trades, half_life) if trades else Evidence(ref_ts=0.0)
    now = (max(t[0] for t in trades) if trades else 0.0) + DAY
    p = posterior(PRIOR, ev, now, half_life)
    assert p.alpha >= PRIOR.alpha and p.beta >= PRIOR.beta
    assert p.kappa >= PRIOR.kappa and p.a >= PRIOR.a and p.b >= PRIOR.b * (1 - 1e-12)
    assert 0 < p.win_rate < 1
    lo, hi = p.win_rate_interval()
    assert 0 <= lo < p.win_rate < hi <= 1
    lo, hi = p.pnl_interval()
    assert lo < p.mu < hi
    assert p.effective_trades <= len(trades) + 1e-9


def test_moments_match_scipy():
    trades = [(i * DAY, None, pnl) for i, pnl in enumerate([12.0, -5.0, 3.5, 40.0, -22.0, 7.0, 0.0, 15.0])]
    p = posterior(PRIOR, fold(trades, 0.0), 10 * DAY, 0.0)
    # Beta: wins are pnl > 0 (5 of 8).
    assert (p.alpha, p.beta) == (PRIOR.alpha + 5, PRIOR.beta + 3)
    assert p.win_rate == pytest.approx(stats.beta(p.alpha, p.beta).mean())
    assert p.win_rate_interval() == pytest.approx(stats.beta(p.alpha, p.beta).interval(0.95))
    # NIG against the textbook update, then the marginals against scipy.
    x = [t[2] for t in trades]
    n, xbar = len(x), sum(x) / len(x)
    kappa_n = PRIOR.kappa + n
    mu_n = (PRIOR.kappa * PRIOR.mu + n * xbar) / kappa_n
    a_n = PRIOR.a + n / 2
    b_n = (
        PRIOR.b + 0.5 * sum((v - xbar) ** 2 for v in x) + PRIOR.kappa * n * (xbar - PRIOR.mu) ** 2 / (2 * kappa_n)
    )
    assert (p.mu, p.kappa, p.a, p.b) == pytest.approx((mu_n, kappa_n, a_n, b_n))
    marginal_m = stats.t(df=2 * a_n, loc=mu_n, scale=math.sqrt(b_n / (a_n * kappa_n)))
    assert p.pnl_interval() == pytest.approx(marginal_m.interval(0.95))


def test_the_pnl_spread_survives_a_mean_large_against_it():
    """The scatter is updated as Welford's: from sum w x^2 - (sum w x)^2 / sum w, P&L 1e8 +- 1.6 had sd 0."""
    pnls = [1e8 + d for d in (-1.6, 1.6, -0.8, 0.8, 0.0)]
    p = posterior(PRIOR, fold([(i * DAY, None, x) for i, x in enumerate(pnls)], 30.0), 5 * DAY, 0.0)
    w = [0.5 ** ((4 - i) / 30) for i in range(5)]
    mean = sum(wi * x for wi, x in zip(w, pnls, strict=True)) / sum(w)
    scatter = sum(wi * (x - mean) ** 2 for wi, x in zip(w, pnls, strict=True))
    assert p.pnl_sample_sd == pytest.approx(math.sqrt(scatter / (sum(w) - 1)), rel=1e-6)
    assert p.pnl_sample_sd > 1.0


def test_a_trade_whose_weight_underflows_to_zero_is_counted_and_weighs_nothing():
    """A trade of the year 133 seen from 875 with a 30-day half-life weighs 2^-9000 = 0.0: the Welford update
    divided by the weights' sum, 0 (found by tests/gateway/test_fuzz.py)."""
    ev = observe(Evidence(ref_ts=875 * 365 * DAY), 133 * 365 * DAY, None, 5.0, 30.0)
    assert (ev.pnl_count, ev.pnl_w, ev.pnl_scatter) == (1, 0.0, 0.0)
    ev = observe(ev, 875 * 365 * DAY, None, 3.0, 30.0)
    assert (ev.pnl_w, ev.pnl_s1, ev.pnl_scatter) == (1.0, 3.0, 0.0)


def test_forgetting_relaxes_toward_the_prior_not_toward_zero():
    ev = fold([(0.0, True, 100.0)] * 20, 30.0)
    fresh = posterior(PRIOR, ev, 0.0, 30.0)
    one_half_life = posterior(PRIOR, ev, 30 * DAY, 30.0)
    ancient = posterior(PRIOR, ev, 3000 * DAY, 30.0)
    assert fresh.alpha == pytest.approx(PRIOR.alpha + 20)
    assert one_half_life.alpha == pytest.approx(PRIOR.alpha + 10)  # half the evidence after one half-life
    assert (ancient.alpha, ancient.beta) == pytest.approx((PRIOR.alpha, PRIOR.beta), abs=1e-9)
    assert (ancient.mu, ancient.kappa, ancient.a) == pytest.approx((PRIOR.mu, PRIOR.kappa, PRIOR.a), abs=1e-6)
    assert ancient.win_rate == pytest.approx(PRIOR.alpha / (PRIOR.alpha + PRIOR.beta))


def test_without_forgetting_old_evidence_keeps_full_weight():
    ev = fold([(0.0, False, None)] * 4, 0.0)
    assert posterior(PRIOR, ev, 1e6 * DAY, 0.0).beta == PRIOR.beta + 4
    assert decay(1e9, 0.0) == 1.0


def test_an_old_trade_arriving_late_counts_with_its_age():
    ev = observe(Evidence(ref_ts=0.0), 60 * DAY, True, None, 30.0)
    ev = observe(ev, 30 * DAY, False, None, 30.0)  # closed 30 days before the latest one
    assert ev.ref_ts == 60 * DAY
    assert (ev.win_w, ev.loss_w) == pytest.approx((1.0, 0.5))


@pytest.mark.parametrize(("won", "pnl"), [(None, None), (True, math.nan), (None, math.inf)])
def test_observe_rejects_what_cannot_be_learnt(won, pnl):
    with pytest.raises(ValueError, match=r"outcome|finite"):
        observe(Evidence(ref_ts=0.0), 0.0, won, pnl, 30.0)
