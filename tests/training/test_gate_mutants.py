"""The promotion gate (`training/gate.py`) on what a model serves beside its median: whether a candidate replaces
the serving model decides what every user is served next. Each test here kills a mutant that every other test
survived (a mutation audit)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from investiq.core.patchtst import PatchTSTMeta
from tests.training.test_gate import CONFIG, SYMBOLS, H, ar_series, meta, served_as_random_walk
from training.gate import GateError, Series, by_bar_time, compare, holdout, loss_ratio, path_errors

SLOPED = {"slope": 0.8}  # P(up) with a slope: its Brier score is held to the plain bar, 1 + tolerance


def _sloped(version: str) -> PatchTSTMeta:
    return dataclasses.replace(meta(version), calibration=SLOPED)


def test_p_ups_brier_interval_uses_two_horizon_blocks_so_a_near_equal_candidate_is_not_refused():
    """P(up)'s Brier ratio to the serving model is judged on blocks of two horizons, expanded: a difference that
    persists over many origins is not "significant" on the median's one-horizon blocks' narrower interval. A
    candidate answering 0.524 beside a serving 0.5 on a driftless walk: the one-horizon interval lies wholly above
    1, the gate's reaches below it, and the candidate is promoted.
    A mutation audit: P(up)'s and the intervals' checks on one-horizon blocks, not expanded, survived every
    test."""
    series = ar_series(n=1000, phi=0.0)
    candidate, serving = served_as_random_walk(0.524, 1.0), served_as_random_walk(0.5, 1.0)
    cand, serv = _sloped("cand"), _sloped("serv")
    result = compare((candidate, cand), (serving, serv), series, CONFIG)
    # the situation: judged on one-horizon blocks, the candidate's P(up) would be significantly worse
    origins = holdout(series, CONFIG, serv.seen_until(), CONFIG.context_length)
    briers = [path_errors(p, m, series, origins)["brier"] for p, m in ((candidate, cand), (serving, serv))]
    assert loss_ratio(by_bar_time(briers, series, origins, "1d"), 0, 1, H)[1][0] > 1
    low, high = result["brier_vs_serving"]["ci95"]
    assert result["brier_vs_serving"]["margin"] == 0.0 and low <= 1 < high
    assert result["vs_serving"]["ci95"] == [1.0, 1.0]  # the same median: P(up) and the intervals decide
    assert result["promote"] is True and result["decided_by"] == [], result["decision"]


def _tick_bound(n: int = 1000) -> Series:
    """Closes in whole units around 100 with small moves: the close often does not move (a tie)."""
    days = pd.bdate_range("2015-01-01", periods=n).to_numpy()
    out = {}
    for i, symbol in enumerate(SYMBOLS):
        steps = np.random.default_rng(10 + i).normal(0.0, 0.004, n)
        out[symbol] = (np.round(100.0 * np.exp(np.cumsum(steps))), days)
    return out


def test_a_close_that_does_not_move_is_no_rise_when_the_gate_scores_p_up():
    """The gate scores P(up) against "the close rose": a tie is no rise, as the live resolver scores it. On
    tick-bound closes that rise about a third of the time and tie often, a candidate answering 0.35 beats a
    serving 0.6 on P(up) and is promoted; scored with ties as rises it would be refused.
    A mutation audit: a close equal to the last counted as a rise survived every test."""
    series = _tick_bound()
    serv = _sloped("serv")
    origins = holdout(series, CONFIG, serv.seen_until(), CONFIG.context_length)
    closes = {s: series[s][0] for s in origins}
    steps = np.concatenate([closes[s][o + 1] - closes[s][o] for s, o in origins.items()])
    assert (steps == 0).mean() > 0.3 and (steps > 0).mean() < 0.4 < (steps >= 0).mean()  # ties tip the up-rate
    result = compare(
        (served_as_random_walk(0.35, 1.0), _sloped("cand")),
        (served_as_random_walk(0.6, 1.0), serv),
        series,
        CONFIG,
    )
    assert result["brier_vs_serving"]["ci95"][1] < 1  # significantly better, not worse
    assert result["vs_serving"]["ci95"] == [1.0, 1.0]
    assert result["promote"] is True and "brier" not in result["decided_by"], result["decision"]


def test_a_serving_model_with_a_longer_context_is_judged_only_on_origins_with_that_many_bars():
    """The hold-out keeps only origins with the longer context of the two models behind them. A serving model
    that reads 120 bars, on 240 bars whose test part starts before bar 120: the earlier test origins are not
    judged (their window would reach before the first bar), and the hold-out starts at bar 120.
    A mutation audit: the hold-out keeping test origins without the longer context's bars survived every test."""
    series = ar_series(n=240, phi=0.0)
    same = served_as_random_walk(0.5, 1.0)
    serv = dataclasses.replace(meta("serv"), context_length=120)
    candidate_only = holdout(series, CONFIG, serv.seen_until(), CONFIG.context_length)
    assert all(int(o.min()) < 119 for o in candidate_only.values())  # the situation: test origins start earlier
    result = compare((same, meta("cand")), (same, serv), series, CONFIG)
    days = series["SPX"][1]
    expected = sum(int(np.sum(o >= 119)) for o in candidate_only.values())
    assert result["enough_evidence"] is True and result["origins"] == expected
    assert pd.Timestamp(result["holdout_from"]) == pd.Timestamp(days[119])


def test_a_promote_tolerance_that_is_not_a_number_is_refused():
    """`promote_tolerance` is a margin on the MAE ratio: NaN makes every comparison with it false, so a candidate
    however much worse than the serving model would pass that bar. The gate refuses it, as it does -0.1.
    A mutation audit: the check `not tolerance >= 0` written `tolerance < 0` (NaN let through) survived every
    test."""
    same = served_as_random_walk(0.5, 1.0)
    series = ar_series(n=400, phi=0.0)
    assert compare((same, meta("cand")), (same, meta("serv")), series, CONFIG)["enough_evidence"] is True
    for bad in (float("nan"), -0.1):
        with pytest.raises(GateError, match="promote_tolerance must be >= 0"):
            compare((same, meta("cand")), (same, meta("serv")), series, CONFIG, tolerance=bad)
