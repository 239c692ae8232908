"""`investiq evaluate patchtst`, from a review of the training-data path: the bar's "beats" needs a 95% interval on
the better side; the data's warnings reach the report; --csv for a model trained on other bars is refused; a
P(up) of exactly 0.5 is no short; a flat test part's interval is unbounded, not NaN."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray

from investiq.core.errors import DataError
from tests.training.test_evaluate import BASE_UP, SPLIT, H, meta, random_walk, series
from training.evaluate import evaluate
from training.evaluate_headline import bar_checks
from training.evaluate_report import render
from training.evaluate_scores import Part, trading


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    served = meta(training_up_rate=BASE_UP)  # P(up) is climatology: no skill, exactly
    return evaluate(random_walk, served, series(3), SPLIT, tmp_path_factory.mktemp("walk"))


def test_the_random_walk_is_no_better_than_the_random_walk(walk: dict[str, Any]):
    """Served as exactly the random walk (MAE ratio 1.0000 [1.0000, 1.0000], P(up) the training up-rate), a model
    "met" the bar: its rows asked for a ratio <= 1 and a skill >= 0. They stay, named "not worse"."""
    md = render(walk)
    assert "| beats the random walk: the pooled MAE ratio's 95% CI wholly below 1 | no: no better than the " in md
    assert (
        "| not worse than the random walk: pooled MAE ratio <= 1.00 and its CI's upper end <= 1.01 | yes |" in md
    )
    assert "against the training up-rate | no: no better than climatology |" in md
    assert "| not worse than climatology: Brier skill >= 0 at h1 and hH against the training up-rate | yes |" in md


def _with(report: dict[str, Any], mae_ci: list[float], brier_ci: list[float]) -> dict[str, Any]:
    pooled = report["pooled"]
    point = {**pooled["point"], "mae_ratio": {**pooled["point"]["mae_ratio"], "ci95": mae_ci}}
    probability = {k: {**v, "ci95_climatology": brier_ci} for k, v in pooled["probability_up"].items()}
    return {**report, "pooled": {**pooled, "point": point, "probability_up": probability}}


def test_a_model_beats_a_baseline_only_with_its_interval_wholly_on_the_better_side(walk: dict[str, Any]):
    rows = bar_checks(_with(walk, [0.93, 0.99], [0.001, 0.02]))
    assert rows[2].endswith("| yes |") and rows[5].endswith("| yes |")
    rows = bar_checks(_with(walk, [0.95, 1.001], [-0.001, 0.02]))  # touching the baseline: no better
    assert rows[2].endswith("| no: no better than the random walk |")
    assert rows[5].endswith("| no: no better than climatology |")
    assert bar_checks(_with(walk, [1.02, 1.2], [0.0, 0.0]))[2].endswith("| no: worse than the random walk |")


def test_the_warnings_of_cleaning_reach_report_json_and_report_md(tmp_path: Path):
    """A 100x unadjusted split in the test part, trained and judged through the CLI's operations: it was logged
    and nothing in the report said so, though it flipped the verdict (a review). Kept, not refused."""
    from harness.tiny_patchtst import TINY
    from investiq.core.market import clean_bars, load_sample
    from investiq.core.settings import Settings
    from investiq.ops import patchtst as ops
    from training.patchtst import baseline

    bars = clean_bars(load_sample("SPX"), "SPX", "1d")[0].tail(600)
    close = bars["close"].to_numpy() / np.where(np.arange(600) >= 560, 100.0, 1.0)
    path = tmp_path / "unadjusted.csv"
    pd.DataFrame({"timestamp": bars.index.strftime("%Y-%m-%d"), "close": close}).to_csv(path, index=False)
    settings = Settings(models_dir=tmp_path / "models", data_dir=tmp_path / "data")
    chosen = ops.choose_bars(settings, None, (), None, None, path, log=lambda _: None)
    config = replace(
        ops.config_for(chosen), **{k: getattr(TINY, k) for k in ("context_length", "prediction_length")}
    )
    baseline(
        ops.load_series(settings, chosen, lambda _: None), config, tmp_path / "m", "a test", log=lambda _: None
    )
    report = ops.evaluate_model(settings, tmp_path / "m", 5.0, False, tmp_path / "e", lambda _: None)
    (said,) = report["data_warnings"]["unadjusted"]
    assert said.startswith("1 one-bar move like a split") and "the largest x0.01" in said
    assert json.loads((tmp_path / "e" / "report.json").read_text())["data_warnings"] == report["data_warnings"]
    md = (tmp_path / "e" / "report.md").read_text()
    assert "## Data warnings\n\n" in md and f"- **unadjusted**: {said}." in md
    assert md.index("## Headline") < md.index("## Data warnings") < md.index("## Point error")
    from investiq.cli.patchtst import headline

    assert "## Data warnings" in headline(md)  # the terminal shows them with the headline


def test_a_csv_for_a_model_trained_on_other_bars_is_refused(trained: tuple[Path, Path], tmp_path: Path):
    """`evaluate --csv FILE` for a model trained on the sample (or Yahoo) was silently ignored: the model was
    judged on its own bars, and the report did not say so."""
    from investiq.core.settings import Settings
    from investiq.ops import patchtst as ops

    other = tmp_path / "other.csv"
    other.write_text("timestamp,close\n2020-01-02,1\n")
    with pytest.raises(DataError, match=r"--csv is for a model trained from a CSV file; this one was trained on "):
        ops.evaluate_model(Settings(data_dir=tmp_path), trained[0], 5.0, False, tmp_path / "e", print, other)


def test_a_p_up_of_exactly_one_half_is_flat_even_where_shorting_is_allowed():
    """--allow-short went short at P(up) = 0.5, which calls no direction: a model serving 0.5 was short
    throughout, its losses on a rising market counted against it."""
    n = 50
    last = 100 * np.exp(np.linspace(0, 0.2, n))
    actual = (last * 1.004)[:, None] * np.ones((n, H))
    p_up = np.tile([[0.5], [0.6], [0.4], [0.5], [0.5]], (n // 5, H))
    part = Part(last, actual, actual, actual, p_up, np.zeros(n, dtype=bool), {}, {})
    traded, _ = trading(part, 252.0, 0.0, allow_short=True)
    assert traded["backtest"]["exposure"] == pytest.approx(0.4)  # only the 0.6 and 0.4 origins are in the market
    assert trading(part, 252.0, 0.0, allow_short=False)[0]["backtest"]["exposure"] == pytest.approx(0.2)


def test_a_test_part_where_the_price_stops_moving_gives_an_unbounded_interval_not_nan(tmp_path: Path):
    """A halt: the random walk's error is 0 over most of the test part, so the bootstrap draws stretches where the
    ratio is infinite. Interpolating between two infinities gave 1.5538 [1.1016, nan] (a review)."""
    moving = series(1, n=400)["SYM00"]
    halted = np.concatenate([moving[:345], np.full(55, moving[344])])  # the last 55 of ~60 test origins flat

    def drifting(x: NDArray[np.float32]) -> Any:
        return random_walk(x, median_drift=0.002)

    report = evaluate(drifting, meta(), {"HALTED": halted}, SPLIT, tmp_path)
    mae = report["pooled"]["point"]["mae_ratio"]
    assert math.isfinite(mae["ratio"]) and mae["ci95"][0] > 1 and mae["ci95"][1] == math.inf
    assert mae["verdict"] == "significantly above 1"
    md = (tmp_path / "report.md").read_text()
    assert (
        f"{mae['ratio']:.4f} [{mae['ci95'][0]:.4f}, inf]" in md
        and "nan" not in md.split("## Point error")[1][:600]
    )
    assert "the random walk's error is 0 over whole stretches of the test part" in md
    assert json.loads((tmp_path / "report.json").read_text())["pooled"]["point"]["mae_ratio"]["ci95"][1] is None


def test_the_equity_curves_start_at_one_and_end_at_the_total_returns():
    """equity.png's curves began after the first period's return (a review): growth of 1 starts at 1."""
    n = 40
    last = 100 * np.exp(np.linspace(0, 0.1, n))
    actual = np.r_[last[1:], last[-1] * 1.01][:, None] * np.ones((n, H))
    p_up = np.tile([[0.7], [0.3]], (n // 2, H))
    part = Part(last, actual, actual, actual, p_up, np.zeros(n, dtype=bool), {}, {})
    traded, equity = trading(part, 252.0, 5.0, allow_short=True)
    assert equity.shape == (2, n + 1)
    assert equity[:, 0] == pytest.approx([1.0, 1.0])
    assert equity[0, -1] == pytest.approx(1 + traded["backtest"]["total_return"])
    assert equity[1, -1] == pytest.approx(1 + traded["buy_and_hold"]["total_return"])
