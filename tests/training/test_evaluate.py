"""`investiq evaluate patchtst` (training/evaluate.py) end to end: on torch-free stand-in forecasters whose
answers are known (the random walk scores a MAE ratio of exactly 1 and a Brier skill of exactly 0), with
24 symbols for the plots, and once on the real tiny trained model."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from numpy.typing import NDArray
from PIL import Image
from scipy import stats

from investiq.core.errors import DataError
from investiq.core.patchtst import QUANTILE_LEVELS, PatchTSTMeta
from training.evaluate import TOO_SHORT, evaluate
from training.evaluate_format import SERVED_BASE
from training.evaluate_report import render

C, H = 32, 4
SPLIT = {"val_fraction": 0.15, "test_fraction": 0.15}
BASE_UP = [0.52, 0.53, 0.535, 0.54]


@dataclass(frozen=True)
class FakeForecast:
    median: NDArray[np.float64]
    quantiles: NDArray[np.float64]
    probability_up: NDArray[np.float64]
    volatility: NDArray[np.float64]


def random_walk(x: NDArray[np.float32], median_drift: float = 0.0) -> FakeForecast:
    """The random walk with Normal quantiles at the window's volatility, P(up) = the training up-rate."""
    w = x[..., 0].astype(np.float64)
    last = w[:, -1]
    sigma = np.diff(np.log(w), axis=1).std(axis=1, ddof=1)
    z = stats.norm.ppf(QUANTILE_LEVELS)
    root_h = np.sqrt(np.arange(1, H + 1))
    quantiles = last[:, None, None] * np.exp(sigma[:, None, None] * root_h[None, :, None] * z[None, None, :])
    median = np.repeat(last[:, None], H, axis=1) * np.exp(median_drift)
    return FakeForecast(median, quantiles, np.tile(BASE_UP, (len(w), 1)), sigma)


def meta(**calibration: Any) -> PatchTSTMeta:
    return PatchTSTMeta(
        version="fake",
        context_length=C,
        prediction_length=H,
        interval="1d",
        transform="log_return",
        symbols=[],
        source="sample",
        trained_until="",
        quantile_levels=list(QUANTILE_LEVELS),
        calibration={"base_up": BASE_UP, "alpha": 0.0, "slope": 0.0, "rule": "fake rule", **calibration},
    )


def test_a_call_whose_interval_lies_below_always_up_is_called_significantly_worse(tmp_path: Path):
    """Down calls where 70 % of days rise: the difference from always-up lies wholly below 0, and the report says
    so, not only that the call "does not beat" always-up (a review's wording, on real data: -0.096 [-0.161, -0.031]
    read as "does not beat")."""
    rng = np.random.default_rng(5)
    closes = {"RISING": 100 * np.exp(np.cumsum(np.where(rng.random(2000) < 0.7, 0.01, -0.01)))}
    report = evaluate(lambda x: random_walk(x, median_drift=-0.001), meta(), closes, SPLIT, tmp_path)
    assert report["direction"]["h1"]["median"]["vs_always_up"]["ci95"][1] < 0
    md = (tmp_path / "report.md").read_text()
    assert "the sign of the median call is significantly worse than always-up" in md


def series(symbols: int, n: int = 420, seed: int = 0) -> dict[str, NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(symbols):
        r = rng.normal(0.0003, 0.01 + 0.002 * (i % 5), n)
        out[f"SYM{i:02d}"] = (20 + 10 * i) * np.exp(np.cumsum(r))  # prices of very different levels
    return out


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("evaluation")
    return evaluate(random_walk, meta(), series(24), SPLIT, out), out


def test_the_random_walk_scores_exactly_the_random_walk(walk: tuple[dict[str, Any], Path]):
    report, _ = walk
    for scope in [report["pooled"], *report["symbols"].values()]:
        for key in ("mae_ratio", "mse_ratio"):
            r = scope["point"][key]
            assert (r["ratio"], r["ci95"]) == (1.0, [1.0, 1.0])
            assert r["verdict"] == "not significantly different from 1"
        for b in scope["probability_up"].values():  # P(up) = the base rate: no skill, exactly
            assert (b["skill"], b["ci95"]) == (0.0, [0.0, 0.0])
    assert set(report["pooled"]["probability_up"]) == {"h1", "h4"}
    assert report["pooled"]["origins"] == sum(v["origins"] for v in report["symbols"].values())


def test_the_fake_intervals_are_the_empirical_vol_baseline(walk: tuple[dict[str, Any], Path]):
    report, _ = walk
    for key, nominal in (("80%", 0.8), ("90%", 0.9)):
        v = report["pooled"]["intervals"][key]
        assert v["model"]["coverage"] == v["empirical_vol"]["coverage"]
        assert v["model"]["width"] == pytest.approx(v["empirical_vol"]["width"], rel=1e-9)
        for m in ("model", "garch", "empirical_vol"):
            assert abs(v[m]["coverage"] - nominal) < 0.06  # simulated random walks: near nominal
            assert v[m]["ci95"][0] <= v[m]["coverage"] <= v[m]["ci95"][1]
            assert len(v[m]["by_step"]) == H
    assert report["pooled"]["pinball"]["ratio_to_empirical_vol"]["ratio"] == pytest.approx(1.0, rel=1e-9)


def test_direction_and_backtest_use_both_calls(walk: tuple[dict[str, Any], Path]):
    report, _ = walk
    h1 = report["direction"]["h1"]
    # the median is flat: it calls no direction, as in the journal (it was scored as a "down" call); P(up) > 0.5
    # always is "up": the same calls as always-up
    assert h1["median"]["n"] == 0 and math.isnan(h1["median"]["rate"]) and h1["median"]["p_vs_base"] == 1.0
    assert h1["median_flat_share"] == 1.0
    assert h1["probability_up"]["rate"] == h1["always_up"]["rate"]
    assert report["direction"]["h4"]["always_up"]["n"] * H == pytest.approx(h1["always_up"]["n"], abs=4 * 24)
    for v in report["symbols"].values():
        b, k = v["backtest"], v["buy_and_hold"]  # P(up) > 0.5 everywhere: long throughout
        assert (b["total_return"], b["exposure"]) == (pytest.approx(k["total_return"]), 1.0)


def test_report_md_leads_with_the_headline_figures(walk: tuple[dict[str, Any], Path]):
    report, out = walk
    md = (out / "report.md").read_text()
    assert md == render(report)
    top = md[: md.index("## Point error")]
    pooled = report["pooled"]
    assert "## Headline" in top
    assert "pooled MAE ratio to the random walk 1.0000 [1.0000, 1.0000]" in top
    assert "no symbol of 24 is significantly worse" in top
    assert "h1 +0.0000 [+0.0000, +0.0000]" in top
    assert f"cover {pooled['intervals']['80%']['model']['coverage']:.1%}" in top
    assert f"GARCH {pooled['intervals']['90%']['garch']['coverage']:.1%}" in top
    assert f"always-up on every origin {report['direction']['h1']['always_up']['rate']:.3f}" in top
    assert "alpha = 0: the median is the random walk's: validation did not confirm skill" in top
    assert "Rule: fake rule" in top
    assert "suspicious" not in md
    report_json = (out / "report.json").read_text()
    assert json.loads(report_json)["pooled"]["point"]["mae_ratio"]["ratio"] == 1.0
    assert "NaN" not in report_json and "Infinity" not in report_json  # strict JSON: undefined figures are null


def test_a_call_is_shown_beside_always_up_on_the_origins_it_called(walk: tuple[dict[str, Any], Path]):
    """A median that is flat at some origins calls the others only: always-up is shown on those (0.526 here), not
    on every origin (0.552), which made the gap look twice its size (found by a probe); the leakage warning
    compares each call with the best constant call on its own origins."""
    import copy

    report = copy.deepcopy(walk[0])
    h1 = report["direction"]["h1"]
    h1["always_up"]["rate"] = 0.552
    h1["median"] |= {"n": 909, "hits": 458, "rate": 0.504, "ci95": [0.471, 0.537], "base_rate": 0.526}
    h1["median_flat_share"] = 0.39
    top = render(report)[: render(report).index("## Point error")]
    assert "median-sign call 0.504 [0.471, 0.537] (always-up 0.526)" in top
    assert "always-up on every origin 0.552" in top and "suspicious" not in top
    h1["median"] |= {"rate": 0.58, "base_rate": 0.52}  # 0.58 > 0.52 + 5 points on its own origins
    assert "above the best constant call (0.520)" in render(report)


def test_plots_stay_readable_with_24_symbols(walk: tuple[dict[str, Any], Path]):
    _, out = walk
    for name in ("mae_ratio", "brier_skill", "coverage", "reliability", "hit_rate", "equity"):
        width, height = Image.open(out / f"{name}.png").size
        assert width <= 2000 and height <= 2000, (name, width, height)
    assert Image.open(out / "mae_ratio.png").size[1] > 600  # grows with the rows: one per symbol


def test_many_symbols_are_cut_to_the_extremes(tmp_path: Path):
    from training.evaluate_plots import MAX_PANELS, MAX_ROWS, _extremes

    keys = [f"S{i}" for i in range(100)]
    shown, note = _extremes(keys, lambda s: float(s[1:]), MAX_ROWS)
    assert len(shown) == MAX_ROWS and "S0" in shown and "S99" in shown and "of 100" in note
    assert _extremes(keys[:MAX_PANELS], lambda s: 0.0, MAX_PANELS) == (keys[:MAX_PANELS], "")


def test_a_biased_median_is_flagged_significantly_worse(tmp_path: Path):
    report = evaluate(lambda x: random_walk(x, median_drift=0.03), meta(alpha=0.5), series(3), SPLIT, tmp_path)
    verdicts = {s: v["point"]["mae_ratio"]["verdict"] for s, v in report["symbols"].items()}
    assert set(verdicts.values()) == {"significantly above 1"}
    md = (tmp_path / "report.md").read_text()
    assert "3 of 3 symbols significantly (95% CI above 1): SYM00, SYM01, SYM02" in md
    assert "median shrinkage alpha = 0.5" in md
    assert "| no symbol's MAE ratio significantly above 1 | no |" in md


def test_a_suspicious_hit_rate_is_warned_about(tmp_path: Path):
    # a series that alternates up and down, and a stand-in that calls the reversal: too good to be true
    n = 400
    steps = np.arange(n, dtype=np.float64)
    closes = {"ZIGZAG": np.asarray(100 * np.exp(0.01 * (steps % 2) + 0.0001 * steps), dtype=np.float64)}

    def reversal(x: NDArray[np.float32]) -> FakeForecast:
        f = random_walk(x)
        up = x[:, -1, 0] < x[:, -2, 0]
        p = np.where(up, 0.9, 0.1)[:, None] * np.ones(H)
        return FakeForecast(f.median * np.where(up, 1.001, 0.999)[:, None], f.quantiles, p, f.volatility)

    report = evaluate(reversal, meta(), closes, SPLIT, tmp_path)
    assert report["direction"]["h1"]["median"]["rate"] > 0.9
    md = (tmp_path / "report.md").read_text()
    assert "a hit rate more than 5% above the best constant call (0.5" in md and "check for leakage first" in md


def test_a_rising_market_alone_is_no_leak(tmp_path: Path):
    """Always-up hits 60 % where 60 % of days rise: a model that says up every day is no better, and no leak.
    The warning fired at any hit rate above 55 %, on the sample's no-skill model too (0.552 against 0.552)."""
    rng = np.random.default_rng(3)
    moves = np.where(rng.random(420) < 0.6, 0.01, -0.01)
    closes = {"RISING": 100 * np.exp(np.cumsum(moves))}
    report = evaluate(lambda x: random_walk(x, median_drift=0.001), meta(), closes, SPLIT, tmp_path)
    direction = report["direction"]["h1"]
    assert direction["always_up"]["rate"] > 0.55 and direction["median"]["rate"] == direction["always_up"]["rate"]
    assert "suspicious" not in (tmp_path / "report.md").read_text()


def tick_bound(n: int = 420, seed: int = 4) -> dict[str, NDArray[np.float64]]:
    """Closes on a tick of 0.25 that stay put 40 % of the time and otherwise rise or fall alike."""
    moves = np.random.default_rng(seed).choice([-1.0, 0.0, 1.0], size=n, p=[0.3, 0.4, 0.3])
    return {"TICKS": 1000 + 0.25 * np.cumsum(moves)}


def test_with_many_ties_a_constant_down_call_does_not_beat_always_up(tmp_path: Path):
    """A close that did not move is a miss for every call, as the live resolver scores it. Before, it counted as
    "down": a model calling down everywhere hit on all the ties while always-up missed them, and "beat" it."""

    def down(x: NDArray[np.float32]) -> FakeForecast:
        f = random_walk(x)
        return FakeForecast(f.median * 0.999, f.quantiles, np.full_like(f.probability_up, 0.4), f.volatility)

    report = evaluate(down, meta(), tick_bound(1000), SPLIT, tmp_path)
    for name in ("h1", f"h{H}"):
        d = report["direction"][name]
        for call in ("median", "probability_up"):
            x = d[call]
            assert x["rate"] < 0.5 and x["p_vs_base"] > 0.01  # before, at h1: 0.719 against 0.281, p = 1e-7
            assert x["n"] == d["always_up"]["n"] and x["ties"] == d["always_up"]["ties"]
            # right only where the close fell: the down share, which ties do not swell
            assert x["rate"] == pytest.approx(1 - x["base_rate"] - x["ties"] / x["n"])
            assert d[f"pesaran_timmermann_{call}"]["p_value"] == 1.0  # a constant call: no evidence of skill
            assert d[f"pesaran_timmermann_{call}"]["n"] == x["n"] - x["ties"]  # tied origins left out
        assert d["tied_share"] > 0.1 and d["always_up"]["ties"] == round(d["tied_share"] * d["always_up"]["n"])
    assert 0.3 < report["direction"]["h1"]["tied_share"] < 0.5
    md = (tmp_path / "report.md").read_text()
    assert "does not beat always-up" in md and " beats always-up" not in md
    assert f"did not move at {report['direction']['h1']['tied_share']:.1%} of origins" in md


def test_with_many_ties_coin_flip_calls_do_not_beat_always_up(tmp_path: Path):
    """The reviewer's case: calls at random on a tick-bound series "beat" always-up (p = 1.7e-122 on a long
    one) because every tie was a right down call."""
    rng = np.random.default_rng(11)

    def coin(x: NDArray[np.float32]) -> FakeForecast:
        f = random_walk(x)
        up = rng.random(len(x)) < 0.5
        median = f.median * np.where(up, 1.001, 0.999)[:, None]
        return FakeForecast(median, f.quantiles, np.where(up, 0.6, 0.4)[:, None] * np.ones(H), f.volatility)

    report = evaluate(coin, meta(), tick_bound(2000), SPLIT, tmp_path)
    d = report["direction"]["h1"]
    for call in ("median", "probability_up"):
        assert d[call]["p_vs_base"] > 0.01, d[call]
        assert d[f"pesaran_timmermann_{call}"]["p_value"] > 0.01


def test_the_best_constant_call_scores_ties_as_misses(walk: tuple[dict[str, Any], Path]):
    """Always-down is right only where the close fell, not on the ties too: 30 % up, 40 % tied, so always-down
    hits 30 % and a call at 45 % is 15 points above the best constant call (before: 70 %, no warning)."""
    import copy

    report = copy.deepcopy(walk[0])
    report["direction"]["h1"]["median"] |= {"n": 1000, "hits": 450, "rate": 0.45, "base_rate": 0.3, "ties": 400}
    assert "above the best constant call (0.300)" in render(report)


def test_brier_skill_is_reported_against_the_served_base_and_the_training_up_rate(tmp_path: Path):
    """Validation kept no drift (the served base is 0.5) on a series that rose 75 % of the time in training and
    test alike: a P(up) of 0.5 ties the served base (skill 0) but loses to climatology, the training up-rate,
    which the bar checks against. Before, the base was labelled "the training up-rate" and the check passed."""
    rng = np.random.default_rng(3)
    closes = {"RISING": 100 * np.exp(np.cumsum(np.where(rng.random(420) < 0.75, 0.01, -0.01)))}
    climatology = [0.7, 0.75, 0.8, 0.85]
    m = meta(base_up=[0.5] * H, training_up_rate=climatology)

    def half(x: NDArray[np.float32]) -> FakeForecast:
        f = random_walk(x)
        return FakeForecast(f.median, f.quantiles, np.full_like(f.probability_up, 0.5), f.volatility)

    report = evaluate(half, m, closes, SPLIT, tmp_path)
    for name, col in (("h1", 0), (f"h{H}", H - 1)):
        b = report["pooled"]["probability_up"][name]
        assert (b["base_up"], b["skill"], b["ci95"]) == (0.5, 0.0, [0.0, 0.0])  # kept: the served base
        assert b["training_up_rate"] == climatology[col]
        assert b["skill_climatology"] < 0 and b["brier_climatology"] < b["brier"]
    assert report["p_up_baselines"]["training_up_rate_from"] == "artifact"
    md = (tmp_path / "report.md").read_text()
    assert "| not worse than climatology: Brier skill >= 0 at h1 and hH against the training up-rate | no |" in md
    b = report["symbols"]["RISING"]["probability_up"]["h1"]
    assert (
        f"| RISING | h1 | {b['brier']:.4f} | 0.500 | {b['brier_base']:.4f} | +0.0000 [+0.0000, +0.0000] | 0.700 |"
        in (md)
    )
    assert "Brier skill vs the training up-rate" not in md  # the served base was labelled so
    assert f"vs the served base ({SERVED_BASE}) h1" in md
    scalar = evaluate(half, meta(base_up=[0.5] * H, training_up_rate=0.7), closes, SPLIT, tmp_path / "scalar")
    assert [v["training_up_rate"] for v in scalar["pooled"]["probability_up"].values()] == [0.7, 0.7]


def test_an_artifact_without_a_training_up_rate_says_where_climatology_came_from(
    walk: tuple[dict[str, Any], Path],
):
    report, out = walk  # meta() records base_up only, as artifacts from before training_up_rate did
    assert report["p_up_baselines"]["training_up_rate_from"].startswith("recomputed")
    assert "records no training up-rate" in (out / "report.md").read_text()


def test_without_a_recorded_base_rate_the_training_up_rate_is_used(tmp_path: Path):
    m = meta()
    m.calibration.pop("base_up")
    report = evaluate(random_walk, m, series(2), SPLIT, tmp_path)
    assert 0.3 < report["pooled"]["probability_up"]["h1"]["base_up"] < 0.7


def test_the_command_describes_its_outputs():
    from investiq.cli.main import main

    out = CliRunner().invoke(main, ["evaluate", "patchtst", "--help"])
    assert out.exit_code == 0, out.output
    for words in ("report.md", "report.json", "headline", "GARCH", "Brier", "coverage", "forest", "equity"):
        assert words in out.output


def test_the_trained_model_is_evaluated_end_to_end(trained: tuple[Path, Path], tmp_path: Path):
    from investiq.core.market import clean_bars, load_sample
    from training.forecaster import load_forecaster, predict

    model_dir, _ = trained
    forecaster, m = load_forecaster(model_dir)
    bars = clean_bars(load_sample("SPX"), "SPX", "1d")[0].tail(600)
    closes = {"SPX": bars["close"].to_numpy(dtype=np.float64)}
    report = evaluate(lambda x: predict(forecaster, x), m, closes, SPLIT, tmp_path)
    mae = report["pooled"]["point"]["mae_ratio"]
    assert mae["ci95"][0] <= mae["ratio"] <= mae["ci95"][1]
    if m.calibration["alpha"] == 0:  # validation chose the random walk: it serves it exactly
        assert mae["ratio"] == pytest.approx(1.0, abs=1e-6)
    for v in report["pooled"]["probability_up"].values():
        assert 0 <= v["brier"] <= 1
    assert set(report["pooled"]["intervals"]) == {"80%", "90%"}
    assert "## Headline" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "coverage.png").is_file()


def test_a_symbol_whose_price_never_moves_is_left_out_and_named(tmp_path: Path):
    moving = series(1)
    report = evaluate(random_walk, meta(), {**moving, "HALTED": np.full(420, 50.0)}, SPLIT, tmp_path)
    assert set(report["symbols"]) == set(moving)
    assert "does not move" in report["left_out"]["HALTED"]
    assert "Left out: HALTED, its price does not move" in (tmp_path / "report.md").read_text()
    with pytest.raises(DataError, match="nothing to evaluate: HALTED: its price does not move"):
        evaluate(random_walk, meta(), {"HALTED": np.full(420, 50.0)}, SPLIT, tmp_path / "none")


def test_a_symbol_too_short_for_any_window_at_the_shared_dates_is_left_out_and_named(tmp_path: Path):
    """Split at the dates all symbols share (bar times given), a short symbol has no window: it was a KeyError."""
    moving = series(2)
    days = pd.bdate_range("2010-01-01", periods=420).to_numpy()
    closes = {**moving, "SHORT": moving["SYM00"][-20:]}
    times = {**dict.fromkeys(moving, days), "SHORT": days[-20:]}
    report = evaluate(random_walk, meta(), closes, SPLIT, tmp_path, times=times)
    assert set(report["symbols"]) == set(moving)
    assert report["left_out"]["SHORT"] == TOO_SHORT


def test_a_file_with_more_history_is_scored_only_after_what_the_model_saw(trained: tuple[Path, Path]):
    from harness.tiny_patchtst import TINY
    from investiq.core.market import clean_bars, load_sample
    from investiq.ops.patchtst import unseen_test_origins
    from training.windows import split_origins

    m = PatchTSTMeta.load(trained[0])
    assert m.trained_until < m.validated_until == m.seen_until()  # ISO times of one format
    split = {"val_fraction": TINY.val_fraction, "test_fraction": TINY.test_fraction}
    bars = clean_bars(load_sample("SPX"), "SPX", "1d")[0]
    said: list[str] = []
    for n, left_out in ((600, 0), (900, None)):  # the bars it was trained on, then 300 earlier ones too
        tail = bars.tail(n)
        closes, stamps = tail["close"].to_numpy(dtype=np.float64), tail.index.to_numpy()
        test = split_origins(n, m.context_length, m.prediction_length, *split.values())
        origins, none = unseen_test_origins({"SPX": (closes, stamps)}, {"SPX": test}, m, said.append)
        kept = origins["SPX"]
        assert none == {}
        assert (tail.index[kept] > pd.Timestamp(m.seen_until())).all()
        if left_out == 0:  # the same file: its test part is all unseen
            np.testing.assert_array_equal(kept, test.test)
            assert said == []
        else:  # the part moved back over seen bars: only its unseen end is scored, and the log says so
            assert 0 < len(kept) < len(test.test)
            np.testing.assert_array_equal(kept, test.test[-len(kept) :])
            assert f"{len(test.test) - len(kept)} of {len(test.test)} test origins are not later than" in said[0]
    early = bars.tail(900).head(500)  # ends before the model's validation did
    seen_only = {"SPX": (early["close"].to_numpy(dtype=np.float64), early.index.to_numpy())}
    with pytest.raises(DataError, match="no test origin in these bars is later than"):
        unseen_test_origins(
            seen_only,
            {"SPX": split_origins(500, m.context_length, m.prediction_length, *split.values())},
            m,
            said.append,
        )


def test_sharpe_is_annualised_at_the_bar_rate_the_times_show(tmp_path: Path):
    """Crypto hourly bars (24/7): 8,766 bars a year. Before, 252 days of 6.5 hours (1,638) for every 1h series:
    the probe's buy-and-hold Sharpe -1.41 for -3.25, annual return -30.5% for -86%."""
    from dataclasses import replace

    closes = series(1)
    hourly = replace(meta(), interval="1h")
    times = {
        s: pd.date_range("2024-01-01", periods=len(c), freq="h", tz="UTC").to_numpy() for s, c in closes.items()
    }
    report = evaluate(random_walk, hourly, closes, SPLIT, tmp_path / "times", times=times)
    (s, v), n = next(iter(report["symbols"].items())), report["pooled"]["origins"]
    assert v["periods_per_year"] == report["annualisation"]["periods_per_year"][s] == pytest.approx(8766.0)
    assert report["annualisation"]["from"].startswith("bar times")
    hold = v["buy_and_hold"]
    assert hold["annual_return"] == pytest.approx((1 + hold["total_return"]) ** (8766 / n) - 1, rel=1e-9)
    md = (tmp_path / "times" / "report.md").read_text()
    assert "| 8,766.0 |" in md and "use the periods a year of bar times:" in md

    calendar = evaluate(random_walk, hourly, closes, SPLIT, tmp_path / "calendar")  # no times: the fallback
    assert calendar["symbols"][s]["periods_per_year"] == 252 * 6.5  # a US exchange's hours
    assert "no bar times were given" in (tmp_path / "calendar" / "report.md").read_text()
    old = calendar["symbols"][s]["buy_and_hold"]["sharpe"]
    assert hold["sharpe"] == pytest.approx(old * math.sqrt(8766 / 1638), rel=1e-9)


@pytest.mark.parametrize(
    ("interval", "step", "expected"),
    [("1wk", "W-MON", 52.18), ("1d", "D", 365.25), ("1d", "B", 260.9)],  # weekly; crypto days; weekdays (FX)
)
def test_periods_per_year_follow_the_data_not_the_interval(interval: str, step: str, expected: float):
    from training.evaluate import calendar_periods_per_year, periods_per_year

    times = pd.date_range("2020-01-06", periods=420, freq=step, tz="UTC").to_numpy()
    # 1/2 %: a weekday series ends on a Friday, its last weekend outside the span
    assert periods_per_year(np.ones(420), times, interval) == pytest.approx(expected, rel=5e-3)
    assert calendar_periods_per_year("1wk") == pytest.approx(52.18, rel=1e-3)  # before: 252 / 7 = 36
    assert calendar_periods_per_year("1d") == 252
    with pytest.raises(ValueError, match="419 bar times for 420 closes"):
        periods_per_year(np.ones(420), times[1:], interval)


def test_the_report_says_which_base_p_up_answers_with():
    from training.evaluate_headline import validation_choice

    refuted = {"alpha": 0, "slope": 0, "spread": 0, "base_up": [0.5] * 3, "training_up_rate": [0.6, 0.58, 0.57]}
    assert (
        "P(up) is 0.5 (step 1, 2, 3: validation did not bear the up-rate out); quantiles: the random walk's"
        in (validation_choice(refuted))
    )
    kept = refuted | {"base_up": [0.6, 0.58, 0.57], "slope": 1.5, "spread": 1.0}
    assert (
        "P(up) slope 1.5 over the training up-rate (climatology); quantiles: the network's"
        in validation_choice(kept)
    )
    older = {"alpha": 0, "slope": 0, "base_up": [0.55]}  # an artifact from before the base was tested
    assert "P(up) is the training up-rate." in validation_choice(older)


def test_the_report_names_the_steps_where_p_up_answers_half():
    """The sample's artifact: the training up-rate kept as a drift at steps 2-12, 0.5 at step 1 (0.493 in
    training). The report said "P(up) is the training up-rate" for every step."""
    from training.evaluate_headline import validation_choice

    mixed = {"alpha": 0, "slope": 0, "base_up": [0.5, 0.58, 0.57], "training_up_rate": [0.493, 0.58, 0.57]}
    assert (
        "P(up) is the training up-rate (climatology; 0.5 at step 1: the up-rate is below 0.5 and validation "
        "did not confirm it)" in validation_choice(mixed)
    )
    scalar = mixed | {"base_up": [0.5] * 3, "training_up_rate": 0.55}
    assert "P(up) is 0.5 (step 1, 2, 3: validation did not bear the up-rate out)" in validation_choice(scalar)


def test_the_terminal_gets_the_headline_and_report_md_the_tables():
    """All of report.md (131 lines on four symbols) went to the terminal after "wrote report.md"."""
    from investiq.cli.patchtst import headline

    markdown = "# Title\n\nabout\n\n## Headline\n\n- one\n\n| the bar | met |\n\n## Point error\n\n| a table |\n"
    shown = headline(markdown)
    assert shown.startswith("# Title") and "| the bar | met |" in shown and "a table" not in shown
    assert shown.endswith("(the tables are in report.md)")
    assert headline("# Title\n\n## Headline\n\n- one\n") == "# Title\n\n## Headline\n\n- one\n"


def hourly_stock_bars(days: int, seed: int) -> tuple[NDArray[np.float64], pd.DatetimeIndex]:
    """Hourly stock bars, 7 a weekday, the night's move 2.5 times an hour's (a review's simulation)."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2023-01-02", periods=days)
    stamps = pd.DatetimeIndex([d + pd.Timedelta(hours=9.5 + k) for d in dates for k in range(7)], tz="UTC")
    night = np.concatenate([[False], np.diff(stamps.as_unit("s").asi8) > 2 * 3600])
    r = rng.normal(0, 0.004, len(stamps)) * np.where(night, 2.5, 1.0)
    return 400 * np.exp(np.cumsum(r)), stamps


def test_intervals_on_intraday_bars_are_scored_across_nights_and_within_sessions(tmp_path: Path):
    """Intervals that grow with the steps alone (the graph's, pooled over every place in a session) cover the
    paths across a night less and the others more, which the pooled coverage averages away; the report says both.
    Round the clock there is nothing to tell."""
    from dataclasses import replace

    prices, stamps = hourly_stock_bars(300, seed=4)
    closes = {"SPY": prices}
    hourly = replace(meta(), interval="1h")
    report = evaluate(random_walk, hourly, closes, SPLIT, tmp_path, times={"SPY": stamps.to_numpy()})
    gaps = report["pooled"]["intervals"]["80%"]["model"]["across_gaps"]
    across, within = gaps["crossing_a_gap"], gaps["not_crossing"]
    assert across["steps"] + within["steps"] == report["pooled"]["origins"] * H
    assert across["coverage"] < 0.75 < 0.82 < within["coverage"], gaps
    assert (
        "Steps whose path crosses a gap in the bars (a night, a weekend, a holiday)"
        in (tmp_path / "report.md").read_text()
    )
    crypto = evaluate(
        random_walk,
        hourly,
        closes,
        SPLIT,
        tmp_path / "24-7",
        times={"SPY": pd.date_range("2024-01-01", periods=len(stamps), freq="h", tz="UTC").to_numpy()},
    )
    assert "across_gaps" not in crypto["pooled"]["intervals"]["80%"]["model"]


def test_served_intervals_cover_paths_across_a_night_as_well_as_those_within_a_session(tmp_path: Path):
    """The calibrated random walk trained on hourly stock bars of three symbols records a night's variance in
    hours' and so how much wider or narrower its intervals are across a night (investiq/core/gaps.py); served so,
    the 80 % intervals cover both kinds of path near 80 % on the test bars, 75 % [70, 80] across a night and 78 %
    [75, 80] within a session, where pooled they covered 62 % [57, 66] and 88 % [86, 90]. Near: over six draws of
    three symbols they covered 75-85 % across a night and 77-84 % within a session (one symbol's 300 days, as this
    test had, 70-86 % within a session over 8 seeds)."""
    from dataclasses import replace

    from harness.tiny_patchtst import TINY
    from training.forecaster import load_forecaster, predict
    from training.patchtst import baseline

    bars = {symbol: hourly_stock_bars(300, seed=seed) for seed, symbol in enumerate(("SPY", "QQQ", "IWM"), 4)}
    config = replace(TINY, interval="1h", symbols=tuple(bars))
    series = {symbol: (prices, stamps.to_numpy()) for symbol, (prices, stamps) in bars.items()}
    baseline(series, config, tmp_path / "m", "a test", log=lambda _: None)
    forecaster, served = load_forecaster(tmp_path / "m")
    assert 3 < served.calibration["gaps"]["rho"] < 12  # a night's 2.5-fold move: 6.25 hours' variance
    assert "intervals by the gaps in the bars a path crosses" in served.calibration["rule"]

    def scored(meta: PatchTSTMeta) -> dict[str, Any]:
        return evaluate(
            lambda x: predict(forecaster, x),
            meta,
            {symbol: prices for symbol, (prices, _) in series.items()},
            SPLIT,
            tmp_path,
            times={symbol: stamps for symbol, (_, stamps) in series.items()},
        )

    report = scored(served)
    assert (
        "(the widths fitted to the gaps ahead, as served from bar times)" in (tmp_path / "report.md").read_text()
    )
    gaps = report["pooled"]["intervals"]["80%"]["model"]["across_gaps"]
    for kind in ("crossing_a_gap", "not_crossing"):
        low, high = gaps[kind]["ci95"]
        assert abs(gaps[kind]["coverage"] - 0.8) < 0.06 and high - low < 0.12, gaps
    pooled = replace(served, calibration={**served.calibration, "gaps": {}})
    before = scored(pooled)["pooled"]["intervals"]["80%"]["model"]["across_gaps"]
    assert (
        "(the widths grow with the steps, not with the hours a path spans)" in (tmp_path / "report.md").read_text()
    )
    assert before["crossing_a_gap"]["ci95"][1] < 0.8 < 0.82 < before["not_crossing"]["coverage"], before


def test_round_the_clock_bars_with_outages_are_served_the_pooled_intervals(tmp_path: Path):
    """Hourly crypto bars with a few outages of hours: gaps, but no sessions. Calibration records no factors, and
    evaluation serves the graph's pooled intervals (an artifact with an empty table of factors crashed both)."""
    from dataclasses import replace

    from harness.tiny_patchtst import TINY
    from training.forecaster import load_forecaster, predict
    from training.patchtst import baseline

    hours = pd.date_range("2024-01-01", periods=2400, freq="h", tz="UTC")
    outages = (100, 190, 330, 400, 530, 610, 760, 820, 960, 1030, 1180, 1300)  # in the training part, irregular
    stamps = hours.delete(np.concatenate([np.arange(k, k + 5) for k in outages]))
    prices = 400 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.004, len(stamps))))
    config = replace(TINY, interval="1h", symbols=("BTC",))
    baseline({"BTC": (prices, stamps.to_numpy())}, config, tmp_path / "m", "a test", log=lambda _: None)
    forecaster, served = load_forecaster(tmp_path / "m")
    assert served.calibration["gaps"] == {} and "intervals by the gaps" not in served.calibration["rule"]
    times = {"BTC": stamps.to_numpy()}
    report = evaluate(lambda x: predict(forecaster, x), served, {"BTC": prices}, SPLIT, tmp_path, times=times)
    assert report["pooled"]["origins"] > 0


def test_symbols_that_move_together_are_not_counted_as_independent_evidence_against_always_up():
    """Four symbols that move as one (here: one symbol four times) and a P(up) call without skill: McNemar's test,
    pooling their origins as if independent, had it beat always-up (p = 0.001; one symbol alone: p = 0.12), and
    the report's verdict rested on it. The block bootstrap draws every symbol's blocks at the same times."""
    from investiq.core.forecast_stats import hit_rate
    from training.evaluate_scores import Part, against_always_up

    rng = np.random.default_rng(7)
    n = 300
    last = np.full(n, 100.0)
    actual = 100 + rng.normal(0, 1, (n, H))
    calls = np.where(rng.random((n, H)) < 0.5, 0.6, 0.4)  # up or down at random: no skill
    flat = np.repeat(last[:, None], H, axis=1)
    one = Part(last, actual, flat, flat, calls, np.zeros(n, dtype=bool), {}, {})
    pooled = hit_rate(np.tile(calls[:, 0] > 0.5, 4), np.tile(actual[:, 0] > 100, 4))
    alone = hit_rate(calls[:, 0] > 0.5, actual[:, 0] > 100)
    assert pooled.rate > pooled.base_rate and pooled.p_vs_base < 0.01 and alone.p_vs_base > 0.1
    verdict = against_always_up([one] * 4, 0, "probability_up", H)
    assert verdict["beats"] is False and verdict["ci95"][0] < 0 < verdict["ci95"][1]
    assert verdict["difference"] == pytest.approx(pooled.rate - pooled.base_rate)
    assert against_always_up([one] * 4, 0, "median", H)["beats"] is False  # a flat median calls nothing
