"""The figures `investiq evaluate patchtst` reports (training/evaluate.py) and the verdicts report.md states from
them (training/evaluate_report.py and its parts), on small synthetic test parts scored directly. Each test here
kills a mutant that every other test survived (a mutation audit)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.training.test_evaluate import SPLIT, meta, random_walk
from training.evaluate import RECOMPUTED, evaluate, evaluation_splits
from training.evaluate_headline import bar_checks, headline
from training.evaluate_scores import (
    METHODS,
    Part,
    across_gaps,
    direction_scores,
    interval_scores,
    point_scores,
    probability_scores,
    reliability,
)
from training.evaluate_sections import direction_section

H = 4


def _part(
    last: NDArray[np.float64],
    actual: NDArray[np.float64],
    p_up: NDArray[np.float64],
    median: NDArray[np.float64] | None = None,
) -> Part:
    """A test part of origins with closes `last` [n], outcomes `actual` [n, H], P(up) `p_up` [n, H], a median
    (the random walk's where None) and the random walk's intervals (empty levels: not scored here)."""
    median = np.repeat(last[:, None], H, axis=1) if median is None else median
    return Part(
        last=last,
        actual=actual,
        median=median,
        drift=np.repeat(last[:, None], H, axis=1),
        probability_up=p_up,
        last_up=np.zeros(len(last), dtype=bool),
        quantiles={},
        garch={},
    )


def _tick_bound(n: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(last [n], actual [n, H]): closes in whole units that do not move about half the time."""
    rng = np.random.default_rng(seed)
    last = np.full(n, 100.0)
    actual = last[:, None] + rng.choice([-1.0, 0.0, 0.0, 1.0], size=(n, H))
    return last, actual


def test_a_close_that_does_not_move_is_no_rise_in_p_ups_brier_score():
    """P(up)'s Brier score is scored against "the close rose above the last": a tie is not up, as the live
    resolver scores it. On closes that tie half of the time and rise a quarter of it, P(up) 0.25 has the Brier
    score of a perfectly calibrated constant, 0.1875, and the up-rate reported is 0.25.
    A mutation audit: a close equal to the last counted as up in P(up)'s scores survived every test."""
    last, actual = _tick_bound(400, seed=0)
    rose, tied = actual > last[:, None], actual == last[:, None]
    assert 0.2 < rose[:, 0].mean() < 0.3 and 0.4 < tied[:, 0].mean() < 0.6  # the situation: many ties
    scores = probability_scores([_part(last, actual, np.full((400, H), 0.25))], [0.5] * H, H)
    for name, col in (("h1", 0), (f"h{H}", H - 1)):
        assert scores[name]["up_rate"] == rose[:, col].mean()
        assert np.isclose(scores[name]["brier"], np.mean((0.25 - rose[:, col]) ** 2))


def test_p_ups_brier_skill_interval_is_reported_low_then_high_around_the_skill():
    """Brier skill is 1 - the Brier ratio, so the ratio's interval turns over: its upper end gives the skill's
    lower end. The interval reported reads low to high, around the skill, whatever the skill's sign.
    A mutation audit: the skill's interval reported high end first survived every test."""
    last, actual = _tick_bound(400, seed=1)
    rng = np.random.default_rng(2)
    p_up = np.clip(0.3 + 0.3 * (actual > last[:, None]) + rng.normal(0, 0.1, (400, H)), 0.01, 0.99)
    scores = probability_scores([_part(last, actual, p_up)], [0.5] * H, H, climatology=[0.3] * H)
    for v in scores.values():
        for skill, (low, high) in ((v["skill"], v["ci95"]), (v["skill_climatology"], v["ci95_climatology"])):
            assert skill != 0 and low < high  # the situation: a skill with an interval of some width
            assert low <= skill <= high


def test_a_p_up_of_exactly_one_half_calls_no_direction_and_is_left_out_of_its_hit_rate():
    """P(up) > 0.5 is an up call, below it a down call, and exactly 0.5 (what a model without a drift answers)
    calls nothing: those origins are left out of the P(up) call's hit rate, as a flat median is left out of its.
    A mutation audit: every origin counted as called by P(up), 0.5 as a down call, survived every test."""
    last, actual = _tick_bound(400, seed=3)
    rng = np.random.default_rng(4)
    undecided = rng.random(400) < 0.5
    p_up = np.where(undecided[:, None], 0.5, 0.7) * np.ones((1, H))
    called = ~undecided
    assert 100 < called.sum() < 300  # the situation: many origins answer exactly 0.5
    h1 = direction_scores([_part(last, actual, p_up)], H)["h1"]["probability_up"]
    rose = actual[:, 0] > last
    assert h1["n"] == called.sum() and h1["hits"] == int(rose[called].sum())
    assert h1["rate"] == rose[called].mean()


def test_coverage_across_gaps_is_not_reported_where_every_step_crosses_a_gap():
    """Coverage is split into steps that cross a gap in the bars and steps that do not only where both kinds
    occur: where every step crosses one, there is nothing to compare it with, and no split (nor a NaN coverage
    of no steps) is reported; where both occur it is.
    A mutation audit: the split made where every step crosses a gap survived every test."""
    last, actual = _tick_bound(60, seed=5)
    hits = [np.random.default_rng(6).random((60, H)).round()]
    part = _part(last, actual, np.full((60, H), 0.5))
    every = replace(part, crosses=np.ones((60, H), dtype=bool))
    assert across_gaps([every], hits, H) == {}
    some = replace(part, crosses=np.arange(60 * H).reshape(60, H) % 3 == 0)
    split = across_gaps([some], hits, H)["across_gaps"]  # the situation: the split is made where both occur
    assert split["crossing_a_gap"]["steps"] == 80 and split["not_crossing"]["steps"] == 160


def test_a_p_up_near_its_base_rate_is_shown_in_about_ten_reliability_bins_not_one_or_two():
    """A calibrated P(up) of market direction stays near the base rate: tenths of [0, 1] would put it all in one
    or two bins. The reliability diagram's bins are narrowed to about ten across the range the forecasts span.
    A mutation audit: the reliability diagram always in tenths of [0, 1] survived every test."""
    rng = np.random.default_rng(7)
    p = rng.uniform(0.46, 0.56, 2000)
    up = (rng.random(2000) < p).astype(np.float64)
    assert p.max() - p.min() < 0.1 and len(np.unique(np.floor(p * 10))) <= 2  # the situation: within two tenths
    rows = reliability(p, up)
    assert 8 <= len(rows) <= 12 and sum(r["n"] for r in rows) == 2000
    assert all(0.46 <= r["forecast"] <= 0.56 for r in rows)


def test_interval_width_is_reported_as_a_share_of_the_price():
    """The intervals' mean width is a share of the last close, so that symbols at any price compare: intervals
    2 wide on a close of 200 are 1 % wide, at every step and for every method.
    A mutation audit: the width reported in price units survived every test."""
    levels = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]
    n = 50
    last = np.full(n, 200.0)
    actual = last[:, None] + np.random.default_rng(8).normal(0, 1, (n, H))
    offsets = np.array([-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5])  # the 80 % interval: +-1, 2 wide
    bands = last[:, None, None] + offsets[None, None, :] * np.ones((n, H, 1))
    part = replace(_part(last, actual, np.full((n, H), 0.5)), quantiles=dict.fromkeys(METHODS, bands))
    scores = interval_scores([part], levels, H)
    assert {"80%", "90%"} <= set(scores)  # the situation: both intervals are scored at these levels
    for m in METHODS:
        assert np.isclose(scores["80%"][m]["width"], 0.01)
        assert np.allclose(scores["80%"][m]["width_by_step"], 0.01)
        assert np.isclose(scores["90%"][m]["width"], 3.0 / 200)


def _evaluated_tick_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], Any]:
    """evaluate() of the random walk on one symbol of tick-bound closes (many unmoved bars), its artifact recording
    no base P(up) (older artifacts); no plots drawn. Returns (report, closes)."""
    import training.evaluate_plots

    monkeypatch.setattr(training.evaluate_plots, "plot", lambda *_: None)
    rng = np.random.default_rng(11)
    closes = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.006, 420))))
    m = meta()
    m.calibration.pop("base_up")
    return evaluate(random_walk, m, {"TICK": closes}, SPLIT, tmp_path), closes


def test_an_artifact_without_a_base_p_up_is_said_to_be_served_a_recomputed_one_and_a_flat_bar_calls_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Where the artifact records no base P(up), report.json says the base judged against was recomputed from the
    training origins, not read from the artifact. And the last return's sign calls up only after a close that rose:
    after a bar that did not move it calls down.
    A mutation audit: the base said to come from the artifact whatever it recorded, and an unmoved last bar
    called up, each survived every test."""
    report, closes = _evaluated_tick_bound(tmp_path, monkeypatch)
    assert report["p_up_baselines"]["served_base_from"] == RECOMPUTED
    assert report["p_up_baselines"]["training_up_rate_from"] == RECOMPUTED
    test = evaluation_splits({"TICK": closes}, meta(), SPLIT, None)["TICK"].test
    flat_before = closes[test] == closes[test - 1]
    assert flat_before.mean() > 0.2  # the situation: many origins follow a bar that did not move
    call_up = closes[test] > closes[test - 1]
    rose, tied = closes[test + 1] > closes[test], closes[test + 1] == closes[test]
    assert np.sum(flat_before & rose) != np.sum(flat_before & (closes[test + 1] < closes[test]))  # up != down
    sign = report["direction"]["h1"]["last_return_sign"]
    assert sign["n"] == len(test) and sign["hits"] == int(np.sum((call_up == rose) & ~tied))


def test_the_drift_forecasts_mae_ratio_is_the_drift_paths_not_the_models():
    """The drift forecast's MAE ratio to the random walk is its own: a model serving the random walk (ratio 1)
    beside a drift path off by 2 at every step against the random walk's 1 reports the drift's ratio as 2.
    A mutation audit: the model's MAE reported as the drift forecast's survived every test."""
    n = 40
    last = np.full(n, 100.0)
    actual = last[:, None] + np.where(np.arange(n) % 2 == 0, 1.0, -1.0)[:, None] * np.ones((1, H))
    part = replace(_part(last, actual, np.full((n, H), 0.5)), drift=actual + 2.0 * np.sign(actual - 100.0))
    drift_error = np.abs(part.drift - actual).mean()
    assert drift_error == 2.0 and np.abs(part.median - actual).mean() == 1.0  # the situation: they differ
    scores = point_scores([part], H)
    assert scores["mae_ratio"]["ratio"] == 1.0 and scores["drift_mae_ratio"]["ratio"] == 2.0


def _report(ratio: float, ci: tuple[float, float], coverage: float) -> dict[str, Any]:
    """The part of report.json that report.md's bar table reads: a pooled MAE ratio with its interval, one
    symbol not worse, 80 % intervals covering `coverage`, P(up) without skill over climatology."""
    verdict = {"ratio": ratio, "ci95": list(ci), "verdict": "not significantly different from 1"}
    skill = {"skill_climatology": 0.0, "ci95_climatology": [-0.01, 0.01]}
    return {
        "pooled": {
            "point": {"mae_ratio": verdict},
            "intervals": {"80%": {"nominal": 0.8, "model": {"coverage": coverage}}},
            "probability_up": {"h1": skill, f"h{H}": skill},
        },
        "symbols": {"SPX": {"point": {"mae_ratio": verdict}}},
    }


def _row(rows: list[str], start: str) -> str:
    [row] = [r for r in rows if r.startswith(f"| {start}")]
    return row


def test_not_worse_than_the_random_walk_needs_the_intervals_upper_end_at_most_1_01():
    """The bar's "not worse than the random walk" row asks for a pooled MAE ratio at most 1 and its interval's
    upper end at most 1.01: a ratio of 0.99 whose interval reaches 1.05 does not meet it; one reaching 1.005 does.
    A mutation audit: the row answered on the ratio alone survived every test."""
    wide = _row(bar_checks(_report(0.99, (0.95, 1.05), 0.8)), "not worse than the random walk")
    narrow = _row(bar_checks(_report(0.99, (0.97, 1.005), 0.8)), "not worse than the random walk")
    assert narrow.endswith("| yes |") and wide.endswith("| no |")


def test_intervals_cover_within_three_points_of_nominal_or_the_bar_is_not_met():
    """80 % intervals covering 76 % miss the bar's "within 3 points"; covering 78 % meet it.
    A mutation audit: the bar widened to 5 points survived every test."""
    row = "80% and 90% intervals cover within 3 points"
    assert _row(bar_checks(_report(1.0, (1.0, 1.0), 0.78)), row).endswith("| 80% yes |")
    assert _row(bar_checks(_report(1.0, (1.0, 1.0), 0.76)), row).endswith("| 80% no |")


def test_p_up_beats_climatology_only_with_skill_shown_at_both_h1_and_h_h():
    """The bar's "beats climatology" asks for a Brier skill interval wholly above 0 at h1 and at hH: skill shown
    at h1 alone does not meet it.
    A mutation audit: the row met with skill shown at either step survived every test."""
    report = _report(1.0, (1.0, 1.0), 0.8)
    probability = report["pooled"]["probability_up"]
    probability["h1"] = {"skill_climatology": 0.02, "ci95_climatology": [0.01, 0.03]}
    assert probability[f"h{H}"]["ci95_climatology"][0] < 0  # the situation: no skill shown at hH
    assert _row(bar_checks(report), "beats climatology").endswith("| no: no better than climatology |")
    probability[f"h{H}"] = probability["h1"]
    assert _row(bar_checks(report), "beats climatology").endswith("| yes |")


def test_a_call_is_significantly_worse_than_always_up_only_with_its_whole_interval_below(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """report.md's direction verdict: a P(up) call 0.02 behind always-up whose interval reaches above 0 "does not
    beat" it; only an interval wholly below 0 is "significantly worse".
    A mutation audit: the verdict read from the difference alone survived every test."""
    report, _ = _evaluated_tick_bound(tmp_path, monkeypatch)
    call = report["direction"]["h1"]["probability_up"]
    assert call["n"] > 0  # the situation: P(up) calls a direction
    said = "At horizon 1 the P(up) > 0.5 call {} always-up"
    call["vs_always_up"] = {"beats": False, "difference": -0.02, "ci95": [-0.05, 0.01]}
    assert said.format("does not beat") in "\n".join(direction_section(report))
    call["vs_always_up"]["ci95"] = [-0.05, -0.01]
    assert said.format("is significantly worse than") in "\n".join(direction_section(report))


def test_the_headline_names_a_flat_median_whatever_its_share(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The headline's direction line says at what share of origins the median was flat (a flat median calls no
    direction and is left out), at 30 % as at 100 %; at 0 it says nothing.
    A mutation audit: the note said only above half the origins survived every test."""
    report, _ = _evaluated_tick_bound(tmp_path, monkeypatch)
    note = "within 1 bp of the last close, at {} of origins"
    for share, said in ((0.3, "30%"), (1.0, "100%")):
        report["direction"]["h1"]["median_flat_share"] = share
        assert note.format(said) in "\n".join(headline(report))
    report["direction"]["h1"]["median_flat_share"] = 0.0
    assert "within 1 bp of the last close" not in "\n".join(headline(report))
