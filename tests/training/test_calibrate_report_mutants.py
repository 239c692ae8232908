"""What `training/calibrate.py` keeps of P(up), the median and the intervals, and what report.md says of it
(`training/evaluate_report.py` and its parts), on synthetic validation answers and report figures set by hand.
Each test here kills a mutant that every other test survived (a mutation audit)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch
from numpy.typing import NDArray
from scipy.stats import norm

from investiq.core.calibration import sigmoid
from investiq.core.forecast_stats import bootstrap_interval
from investiq.core.gaps import fit_gaps
from investiq.core.patchtst import QUANTILE_LEVELS
from tests.training.test_calibrate_mutants import CONFIG, CONTEXT, LEVELS, H, _calibrated
from training import calibrate as calibration
from training import windows as splits
from training.evaluate_headline import bar_checks, headline, validation_choice
from training.evaluate_report import render
from training.evaluate_sections import (
    backtest_section,
    data_warnings_section,
    direction_section,
    interval_section,
    probability_section,
)
from training.forecaster import Forecaster, agreeing

MEDIAN = QUANTILE_LEVELS.index(0.5)


def _random_walk_answers(n: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(u, target) on n windows: paths of the random walk and a network answering the random walk's quantiles."""
    rng = np.random.default_rng(seed)
    target = np.cumsum(rng.normal(0, 1, (n, H)), axis=1) / np.sqrt(np.arange(1, H + 1))
    return np.broadcast_to(norm.ppf(LEVELS), (n, H, len(LEVELS))).copy(), target


# --- P(up)'s bounds and base -------------------------------------------------------------------------------


def test_p_up_is_bounded_at_one_percent_of_many_windows_and_a_tenth_of_few() -> None:
    """p_bounds: on 5,000 windows 1 % of them lie beyond each bound (50, more than P_TAIL_WINDOWS); on 100 windows
    a tenth (10, fewer than P_TAIL_WINDOWS). The bounds are the plain quantiles at that share.
    A mutation audit: 10 % of the windows for 1 % on many windows survived every test."""
    for n, share in ((5000, 0.01), (100, 0.1)):
        p = np.random.default_rng(n).uniform(0.3, 0.7, (n, 2))
        low, high = calibration.p_bounds(p)
        np.testing.assert_array_equal(low, np.quantile(p, share, axis=0))
        np.testing.assert_array_equal(high, np.quantile(p, 1 - share, axis=0))


def test_the_drift_skills_interval_is_a_bootstrap_of_blocks_of_one_horizon() -> None:
    """drift_base's interval resamples blocks of h windows (a drift seen at every step of overlapping windows),
    per symbol as cut at `groups`, with the seed given.
    A mutation audit: blocks of one window (an interval too narrow) survived every test."""
    rng = np.random.default_rng(1)
    h, n = 4, 400
    up = rng.random((n, h)) < 0.45
    rate = np.full(h, 0.55)
    _, drift, ci, _ = calibration.drift_base(rate, up, [150], h, seed=3)
    against = np.column_stack([((rate - up) ** 2).mean(axis=1), ((0.5 - up) ** 2).mean(axis=1)])
    expected, expected_ci = bootstrap_interval(
        np.split(against, [150]), lambda v: 1 - v[..., 0] / v[..., 1], block=h, seed=3
    )
    assert drift == expected and list(ci) == list(expected_ci)


def test_a_down_drift_is_confirmed_on_one_long_symbol_and_judged_on_the_longest_of_several() -> None:
    """Validation of one symbol (no cut, groups []) of 2,000 windows is 500 horizons: enough to confirm a down
    drift, which is then the base. Of two symbols, 24 and 120 windows at h = 4, the longest makes 30 horizons:
    enough too (the shortest makes 6).
    A mutation audit: the sizes taken without the last symbol's (one symbol: none, so never enough), and the
    shortest symbol's horizons for the longest's, survived every test."""
    rng = np.random.default_rng(2)
    h = 4
    falling = np.full(h, 0.35)
    down = rng.random((2000, h)) < 0.35
    assert calibration.drift_base(falling, down, [], h, seed=0)[0].tolist() == falling.tolist()
    down = rng.random((144, h)) < 0.2
    base, _, ci, _ = calibration.drift_base(np.full(h, 0.2), down, [24], h, seed=0)
    assert ci[0] > 0 and base.tolist() == [0.2] * h


def test_without_a_recorded_down_rate_it_is_one_minus_the_up_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    """An artifact from before ties were told apart records no down-rate: 1 - the up-rate stands for it, so no
    drift is 0.5 and a training up-rate of 0.6 that validation contradicts (paths rising half of the time, 50
    horizons) is replaced by 0.5.
    A mutation audit: the up-rate itself standing for the down-rate (no drift = the up-rate: never replaced)
    survived every test."""
    u, target = _random_walk_answers(600, seed=3)
    c = _calibrated(monkeypatch, u, target, up_rate=0.6)
    assert c["training_down_rate"] == pytest.approx([0.4] * H)
    assert c["val_drift_skill_ci95"][1] < 0 and c["base_up"] == [0.5] * H, c["rule"]


def test_an_up_rate_of_zero_is_clipped_before_it_is_judged_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """Training up-rate 0 and down-rate 1 (every training close fell): both are clipped to [0.01, 0.99] before
    the base is chosen, so no drift is 0.5, and on too few windows to confirm a down claim the base served and
    named is 0.5.
    A mutation audit: the up-rate passed unclipped (no drift 0.495), and named unclipped in the rule (which then
    called the base the training up-rate), survived every test."""
    u, target = _random_walk_answers(36, seed=4)
    c = _calibrated(monkeypatch, u, target, up_rate=0.0, down_rate=1.0)
    assert c["base_up"] == [0.5] * H
    steps = ", ".join(str(k) for k in range(1, H + 1))
    assert f"P(up) = 0.5 (step {steps}: the up-rate is below 0.5 and validation did not confirm it)" in c["rule"]


def test_a_close_that_does_not_move_is_no_rise_and_symbols_are_cut_where_they_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Targets in whole ticks, a quarter of them 0, over two symbols (48 and 192 windows), training up- and
    down-rates 0.4 and 0.34: P(up)'s base is judged on "the close rose" (a tie is not up), per symbol cut where
    the first ends, as drift_base answers on them; the blocks reported are the longest symbol's (192 / 12 = 16).
    A mutation audit: a tie counted as up, and the cut at the end of the second symbol instead of the first,
    survived every test."""
    rng = np.random.default_rng(5)
    target = rng.choice([-1.0, 0.0, 1.0], size=(240, H), p=[0.37, 0.26, 0.37])
    u = np.broadcast_to(norm.ppf(LEVELS), (240, H, len(LEVELS))).copy()
    c = _calibrated(monkeypatch, u, target, sizes=[48, 192], up_rate=0.4, down_rate=0.34)
    rate, down = np.full(H, 0.4), np.full(H, 0.34)
    _, drift, ci, per_step = calibration.drift_base(rate, target > 0, [48], H, CONFIG.seed, down)
    assert c["val_blocks"] == 16
    assert c["val_drift_skill"] == drift and c["val_drift_skill_ci95"] == list(ci)
    assert c["val_drift_skill_per_step"] == per_step.tolist()


def test_a_confirmed_down_drift_is_named_at_its_steps_beside_one_replaced() -> None:
    """served_base: a base below 0.5 that validation confirmed (step 2) is named so, beside a step whose
    unconfirmed down-rate was replaced by 0.5 (step 1).
    A mutation audit: the confirmed steps taken where the base is the no-drift rate (none named) survived every
    test."""
    said = calibration.served_base(np.array([0.45, 0.35]), np.array([0.5, 0.35]))
    assert said == (
        "the training up-rate (climatology; 0.5 at step 1: the up-rate is below 0.5 and validation did not "
        "confirm it; below 0.5 at step 2, as validation confirmed)"
    )


def test_a_slope_whose_skill_is_positive_but_not_shown_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """A network's median that knows the move only faintly (under noise 30 times as large), on 10 horizons: the
    slope's Brier skill over the base is above 0 but its 95% interval reaches below 0, so the slope is not kept.
    A mutation audit: the slope kept on a positive skill alone survived every test."""
    rng = np.random.default_rng(0)
    target = np.cumsum(rng.normal(0, 1, (120, H)), axis=1) / np.sqrt(np.arange(1, H + 1))
    median = target + 30 * rng.normal(0, 1, (120, H))
    c = _calibrated(monkeypatch, median[..., None] + (LEVELS - 0.5)[None, None, :], target)
    assert c["val_blocks"] == 10 and c["val_brier_skill"] > 0 > c["val_brier_skill_ci95"][0]
    assert c["slope"] == 0.0 and "not wholly above 0" in c["rule"]


# --- the median held to P(up) ----------------------------------------------------------------------------------


def _foreseen(n: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(u, target): a network whose median foresees every move, the quantiles around it."""
    rng = np.random.default_rng(seed)
    target = np.cumsum(rng.normal(0, 1, (n, H)), axis=1) / np.sqrt(np.arange(1, H + 1))
    return target[..., None] + 0.1 * (LEVELS - 0.5)[None, None, :], target


def test_the_share_of_validation_steps_whose_median_was_held_is_the_one_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """val_median_held: the share of validation steps where the median held to P(up) is not alpha times the
    network's (moved to the last close), recomputed here from the buffers calibrate fills.
    The forecaster serves the median so held.
    A mutation audit: the calibrated forecaster left unheld (its `held` buffer 0) survived every test."""
    u, target = _foreseen(240, seed=6)
    forecaster = Forecaster(CONFIG)
    c = _calibrated(monkeypatch, u, target, up_rate=0.6, forecaster=forecaster)
    assert c["alpha"] > 0 and c["slope"] > 0  # the situation: a median and a slope kept
    base_logit = np.log(np.asarray(c["base_up"]) / (1 - np.asarray(c["base_up"])))
    low, high = forecaster.p_low.double().numpy(), forecaster.p_high.double().numpy()
    p = np.clip(sigmoid(base_logit + c["slope"] * u[..., MEDIAN]), low, high)
    centre = c["alpha"] * u[..., MEDIAN : MEDIAN + 1]
    held = agreeing(torch.from_numpy(centre), torch.tensor([0.5], dtype=torch.float64), torch.from_numpy(p))
    share = float(np.mean(held.numpy()[..., 0] != centre[..., 0]))
    assert 0 < share < 0.5 and c["val_median_held"] == pytest.approx(share, abs=0.01)
    assert f"the last close at {c['val_median_held']:.1%} of validation steps" in c["rule"]
    # served so: a network median a hair below the last close, P(up) above 0.5: the last close is served
    answer = torch.from_numpy(u[:1] * 0 + (LEVELS - 0.5) - 0.01).float()
    past = torch.ones((1, CONTEXT, 1))
    with torch.no_grad():
        served_median, _, p_up, _ = forecaster.denormalise(past, answer, torch.full((1,), 0.01))
    assert float(p_up[0, 0]) > 0.5 and served_median[0, :, 0].tolist() == [1.0] * H


def test_the_calibrated_forecaster_orders_its_quantiles_around_the_median_it_chose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After calibration the levels are ordered on each side of the median (`ordered`), not sorted all together:
    where validation trended (closes 2 sigma above the network's random-walk answers, a training up-rate of 0.9),
    the conformal offsets of the lower levels lie above the median's, and a sort would move the 0.25 level's into
    the median's place, serving a rise as the median. A mutation audit: calibration leaving the forecaster
    sorting (its `centred` buffer 0) survived every test."""
    u, target = _random_walk_answers(240, 6)
    forecaster = Forecaster(CONFIG)
    _calibrated(monkeypatch, u, target + 2.0, up_rate=0.9, forecaster=forecaster)
    answer, past, sigma = torch.from_numpy(u[:1]).float(), torch.ones((1, CONTEXT, 1)), torch.full((1,), 0.01)

    def served() -> torch.Tensor:
        with torch.no_grad():
            return forecaster.denormalise(past, answer, sigma)[1]

    calibrated = served()
    assert calibrated[0, :, MEDIAN].tolist() == [1.0] * H  # the median calibration chose: the last close
    with torch.no_grad():
        forecaster.centred.fill_(0.0)
    assert not torch.equal(served(), calibrated)  # the answer tells an ordering from a sort


# --- intervals across gaps ------------------------------------------------------------------------------------


def _gap_data(
    crossed: NDArray[np.int64] | None, n: int, events: NDArray[np.int64] | None = None
) -> splits.Dataset:
    """A dataset of n validation windows whose paths cross `crossed` [n, H] gaps (unknown where None), the first
    at `events`."""
    x, y = np.ones((2, 2, 1), np.float32), np.ones((2, H, 1), np.float32)
    val = (np.ones((n, 2, 1), np.float32), np.zeros((n, H, 1), np.float32))
    return splits.Dataset((x, y), val, val_sizes=[n], val_crossed=crossed, val_events=events)


def test_without_a_window_whose_gaps_ahead_are_all_known_the_pooled_intervals_serve() -> None:
    """gap_calibration answers ({}, "") without bar times, and where no validation window knows the gaps at every
    step (a -1 in each row): the pooled intervals serve, and the rule says nothing of gaps.
    A mutation audit: a window that knows the gaps at one step taken for one that knows them all survived every
    test."""
    n = 60
    rng = np.random.default_rng(7)
    target = rng.normal(0, 1, (n, H))
    z = np.broadcast_to(norm.ppf(LEVELS), (n, H, len(LEVELS))).copy()
    assert calibration.gap_calibration(_gap_data(None, n), target, z, MEDIAN, LEVELS) == ({}, "")
    crossed = np.ones((n, H), np.int64)
    crossed[:, -1] = -1  # the last step's gaps unknown in every window
    assert calibration.gap_calibration(_gap_data(crossed, n), target, z, MEDIAN, LEVELS) == ({}, "")


def test_the_gap_rule_names_the_80_percent_intervals_upper_factor() -> None:
    """The rule's words give the 0.9 quantile's factors (the 80 % interval's upper bound) crossing no gap and one:
    here paths that cross a night move three times as far upwards as downwards, so its factors differ from the
    0.1 quantile's.
    A mutation audit: the factors of the 0.1 quantile named instead survived every test."""
    rng = np.random.default_rng(8)
    n = 1000
    crossed = np.zeros((n, H), np.int64)
    night = rng.random(n) < 0.5
    crossed[night, H // 2 :] = 1
    events = np.where(crossed > 0, np.arange(n)[:, None], -1)  # each path across a gap of its own
    move = rng.normal(0, 1, (n, H))
    target = np.where(crossed > 0, np.where(move > 0, 3 * move, move), move)
    z = np.broadcast_to(norm.ppf(LEVELS), (n, H, len(LEVELS))).copy()
    gaps, rule = calibration.gap_calibration(_gap_data(crossed, n, events), target, z, MEDIAN, LEVELS)
    fitted = fit_gaps(target, z, MEDIAN, LEVELS, crossed, events)
    assert gaps and fitted is not None
    factors = fitted[1]
    top, bottom = factors[..., QUANTILE_LEVELS.index(0.9)], factors[..., QUANTILE_LEVELS.index(0.1)]
    said = f"x{top[1, 0]:.2f} at step 1 and x{top[1, H - 1]:.2f} at step {H} across one"
    assert said in rule
    assert f"x{bottom[1, H - 1]:.2f} at step {H}" not in rule  # the situation: the two differ
    assert f"the 0.9 quantile's x{top[0].min():.2f}-{top[0].max():.2f} crossing none" in rule


# --- report.md's words (training/evaluate_report.py and its parts) -------------------------------------------


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """report.json's figures for the random walk on two symbols (tests/training/test_evaluate.py's fakes)."""
    from tests.training.test_evaluate import SPLIT, meta, random_walk, series
    from training.evaluate import evaluate

    result: dict[str, Any] = evaluate(random_walk, meta(), series(2), SPLIT, tmp_path_factory.mktemp("report"))
    return result


@pytest.fixture
def r(report: dict[str, Any]) -> dict[str, Any]:
    """A copy of `report` that a test may change."""
    return copy.deepcopy(report)


def _text(lines: list[str]) -> str:
    return "\n".join(lines)


def test_the_headline_names_the_symbols_significantly_worse_than_the_random_walk(r: dict[str, Any]) -> None:
    """Only a symbol whose MAE ratio is significantly above 1 is named worse; one significantly below is not.
    A mutation audit: the symbols significantly below 1 named instead survived every test."""
    r["symbols"]["SYM01"]["point"]["mae_ratio"]["verdict"] = "significantly above 1"
    r["symbols"]["SYM00"]["point"]["mae_ratio"]["verdict"] = "significantly below 1"
    assert "1 of 2 symbols significantly (95% CI above 1): SYM01." in _text(headline(r))


def test_the_intervals_across_gaps_are_described_as_fitted_only_where_calibration_fitted_them(
    r: dict[str, Any],
) -> None:
    """A headline interval line says the widths were fitted to the gaps ahead only where the artifact records
    gap factors; else that they grow with the steps.
    A mutation audit: "fitted" said whatever the calibration, and the two texts swapped, survived every test."""
    for v in r["pooled"]["intervals"].values():
        v["model"]["across_gaps"] = {
            "crossing_a_gap": {"coverage": 0.7, "ci95": [0.6, 0.8], "steps": 100},
            "not_crossing": {"coverage": 0.8, "ci95": [0.75, 0.85], "steps": 300},
        }
    fitted, grown = "the widths fitted to the gaps ahead", "the widths grow with the steps"
    assert grown in _text(headline(r)) and fitted not in _text(headline(r))
    r["calibration"]["gaps"] = {"rho": 1.0}
    assert fitted in _text(headline(r)) and grown not in _text(headline(r))


def test_a_one_step_model_has_no_second_direction_line(r: dict[str, Any]) -> None:
    """At horizon 1 the headline's direction line is h1's alone: no "non-overlapping origins" line repeats it.
    A mutation audit: that line written whatever the horizon survived every test."""
    r["horizon"] = 1
    assert "non-overlapping origins" not in _text(headline(r))


def test_a_hit_rate_is_suspicious_only_more_than_five_points_above_the_best_constant_call(
    r: dict[str, Any],
) -> None:
    """The leak warning: a hit rate 3 points above the best constant call is not suspicious, 8 points is, and
    the constant named is the highest of the calls that were.
    A mutation audit: any hit rate above the constant warned of, and the lowest constant named, survived every
    test."""
    d = r["direction"]["h1"]
    for call in ("median", "probability_up"):
        d[call].update(n=100, ties=0, base_rate=0.6, rate=0.63)
    assert "suspicious" not in _text(headline(r))
    d["median"].update(base_rate=0.62, rate=0.70)
    d["probability_up"].update(base_rate=0.6, rate=0.70)
    assert "above the best constant call (0.620)" in _text(headline(r))


def test_no_tie_no_word_of_ties(r: dict[str, Any]) -> None:
    """Where no close stayed put (tied_share 0) the headline says nothing of ties; at 5 % it does.
    A mutation audit: the sentence written at a share of 0 survived every test."""
    r["direction"]["h1"]["tied_share"] = 0.0
    assert "did not move" not in _text(headline(r))
    r["direction"]["h1"]["tied_share"] = 0.05
    assert "The close did not move at 5.0% of origins" in _text(headline(r))


def test_brier_skill_against_climatology_is_headlined_only_where_every_horizon_reports_it(
    r: dict[str, Any],
) -> None:
    """A report with the skill against climatology at h1 only (written part by part) headlines the skill
    against the served base alone, and the bar says "not reported".
    A mutation audit: headlined where any horizon had it (a KeyError), and "reported" with one horizon, survived
    every test."""
    del r["pooled"]["probability_up"]["h4"]["skill_climatology"]
    text = _text(headline(r))
    assert "Brier skill vs the served base" in text and "vs climatology" not in text
    assert "| beats climatology: " in text and text.count("| not reported |") == 2


def test_the_climatology_rows_of_the_bar_at_their_edges(r: dict[str, Any]) -> None:
    """Brier skill exactly 0 is "not worse than climatology"; an interval whose lower end is exactly 0 does not
    beat it. An empty interval table is "not reported".
    A mutation audit: >= 0 for "beats", > 0 for "not worse", and the empty coverage row, survived every test."""
    for v in r["pooled"]["probability_up"].values():
        v.update(skill_climatology=0.0, ci95_climatology=[0.0, 0.02])
    rows = bar_checks(r)
    assert _row(rows, "beats climatology").endswith("| no: no better than climatology |")
    assert _row(rows, "not worse than climatology").endswith("| yes |")
    r["pooled"]["intervals"] = {}
    assert _row(bar_checks(r), "80% and 90% intervals").endswith("| not reported |")


def test_an_interval_from_one_to_above_is_no_better_not_worse_than_the_random_walk(r: dict[str, Any]) -> None:
    """ "Worse than the random walk" needs the MAE ratio's interval wholly above 1: [1.0, 1.2] is no better.
    A mutation audit: an interval starting at 1 called worse survived every test."""
    r["pooled"]["point"]["mae_ratio"].update(ratio=1.1, ci95=[1.0, 1.2])
    assert _row(bar_checks(r), "beats the random walk").endswith("| no: no better than the random walk |")


def _row(rows: list[str], start: str) -> str:
    [row] = [x for x in rows if x.startswith(f"| {start}")]
    return row


def test_the_validation_choice_of_artifacts_without_some_records() -> None:
    """validation_choice: no alpha, no calibration (whatever else is there); no spread recorded, no word of
    quantiles; a base without the training up-rate, the training up-rate; an up-rate of 0 and a down-rate of 1
    are clipped as calibrate clips them (no drift 0.5, which the base 0.5 is).
    A mutation audit: the check on the slope for the alpha, the network's spread for none recorded, the base
    read without an up-rate, and the down-rate unclipped, survived every test."""
    assert validation_choice({"slope": 0.0}) == "the artifact records no calibration."
    assert "quantiles" not in validation_choice({"alpha": 0.0, "slope": 0.0})
    said = validation_choice({"alpha": 0.0, "slope": 0.0, "base_up": [0.5, 0.5]})
    assert "P(up) is the training up-rate;" in said or said.endswith("P(up) is the training up-rate.")
    said = validation_choice(
        {"alpha": 0.0, "slope": 0.0, "base_up": [0.5], "training_up_rate": [0.0], "training_down_rate": [1.0]}
    )
    assert "P(up) is 0.5 (step 1: the up-rate is below 0.5 and validation did not confirm it)" in said


def test_sections_of_nothing_say_nothing(r: dict[str, Any]) -> None:
    """No data warnings: no section. A backtest without a closed trade shows its win rate as "-".
    A mutation audit: the section's header written without a warning, and "nan%", survived every test."""
    assert data_warnings_section({"data_warnings": {}}) == [] and data_warnings_section({}) == []
    r["symbols"]["SYM00"]["backtest"]["trade_win_rate"] = float("nan")
    row = _row(backtest_section(r), "SYM00")
    assert "nan" not in row and "| - |" in row


def test_the_method_paragraph_of_one_symbol_and_of_several(r: dict[str, Any]) -> None:
    """render: the warning about pooled tests over correlated symbols is there for two symbols, not for one; no
    symbol left out, no blank line for it; a Student-t GARCH named so, a Normal one so.
    A mutation audit: the warning for one symbol, the blank line without a symbol left out, and the GARCH's
    innovations named the other way, survived every test."""
    pooled = "pooled as if independent"
    assert pooled in render(r) and "Student-t innovations" in render(r)
    assert "\n\n\n" not in render(r)
    del r["symbols"]["SYM01"]
    r["garch_dist"] = "normal"
    assert pooled not in render(r) and "Normal innovations" in render(r)


def test_the_probability_table_says_where_climatology_came_from(r: dict[str, Any]) -> None:
    """Recomputed from the split's training origins: said; read from the artifact: not.
    A mutation audit: the sentence under the opposite condition survived every test."""
    said = "it is recomputed here from the training origins of this split"
    assert r["p_up_baselines"]["training_up_rate_from"] != "artifact" and said in _text(probability_section(r))
    r["p_up_baselines"]["training_up_rate_from"] = "artifact"
    assert said not in _text(probability_section(r))


def test_the_interval_tables_name_every_step_and_the_baselines_in_their_places(r: dict[str, Any]) -> None:
    """The coverage-by-step table has a column per step, h1 to hH; the headline and the pinball sentence give
    GARCH's figures as GARCH's and the empirical volatility's as its.
    A mutation audit: the last step's column dropped, and GARCH and the empirical vol swapped in either place,
    survived every test."""
    text = _text(interval_section(r))
    assert "| interval | method | h1 | h2 | h3 | h4 |" in text
    p = r["pooled"]["pinball"]
    p["ratio_to_garch"].update(ratio=0.5)
    p["ratio_to_empirical_vol"].update(ratio=2.0)
    assert "ratio to GARCH 0.5000" in _text(interval_section(r)) and "to empirical vol 2.0000" in _text(
        interval_section(r)
    )
    v = r["pooled"]["intervals"]["80%"]
    v["garch"]["coverage"], v["empirical_vol"]["coverage"] = 0.5, 0.9
    assert "(nominal 80%; GARCH 50.0%, empirical-vol random walk 90.0%)" in _text(headline(r))


def test_the_direction_table_at_its_edges(r: dict[str, Any]) -> None:
    """A call without any direction: "no call" in its row and a sentence for h1; Pesaran-Timmermann's rows say
    how many origins they used; a report without the bootstrap's comparison (before 2026-12-04) beats always-up
    only with McNemar's p below 0.05; ties described only where every horizon counted them.
    A mutation audit: each of these conditions turned or dropped survived every test."""
    d = r["direction"]["h1"]
    d["pesaran_timmermann_median"]["n"] = 77
    d["probability_up"].update(n=0, hits=0)
    text = _text(direction_section(r))
    assert "| h1 | P(up) > 0.5 | 0 / 0 | no call | | | |" in text
    assert "At horizon 1 the P(up) > 0.5 calls no direction anywhere: nothing to compare." in text
    assert "| h1 | Pesaran-Timmermann, sign of the median | n = 77 |" in text
    assert "Ties, as a share of the origins scored" in text
    del r["direction"]["h4"]["tied_share"]
    assert "Ties, as a share of the origins scored" not in _text(direction_section(r))
    d["median"].update(n=100, hits=60, rate=0.6, base_rate=0.5, p_vs_base=0.1)
    d["median"].pop("vs_always_up", None)
    assert "the sign of the median call does not beat always-up" in _text(direction_section(r))


def test_the_backtest_names_its_side(r: dict[str, Any]) -> None:
    """long/flat without shorting, long/short with it.
    A mutation audit: the two swapped survived every test."""
    assert "(long/flat)" in _text(backtest_section(r))
    r["allow_short"] = True
    assert "(long/short)" in _text(backtest_section(r))


def test_the_headlines_direction_line_gives_each_calls_interval_or_says_no_call(r: dict[str, Any]) -> None:
    """At h1 the median-sign call is given with its hit rate's 95% interval; a P(up) that called no direction
    (n = 0) is "no call", not a rate.
    A mutation audit: the interval left out by default, and a call of no origins given a rate, survived every
    test."""
    d = r["direction"]["h1"]
    d["median"].update(n=100, hits=55, rate=0.55, ci95=[0.45, 0.65], base_rate=0.5)
    d["probability_up"].update(n=0, hits=0, rate=float("nan"))
    text = _text(headline(r))
    assert "median-sign call 0.550 [0.450, 0.650] (always-up 0.500)" in text
    assert "P(up) > 0.5 call no call;" in text
