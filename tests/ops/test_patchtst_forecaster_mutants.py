"""Kill tests of a mutation audit of the price model's operations (investiq/ops/patchtst.py: the bars chosen, the
baseline served when training fails, which test origins count as unseen, the quick first model) and of the
Forecaster's helpers (training/forecaster.py: ordered, agreeing, standardised_targets, pinball, load_forecaster,
predict, and the forward's calibration maps): each fails with the mutant its docstring names applied, and passes on
the code as it is. Nothing trains: training, export and evaluation are replaced by spies, and the Forecaster is the
untrained tiny shape (harness.tiny_patchtst) with its calibration buffers set by hand."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from harness.tiny_patchtst import TINY
from investiq.core.artifacts import METRICS
from investiq.core.errors import ArtifactError, DataError
from investiq.core.market import SAMPLE_DAYS
from investiq.core.patchtst import QUANTILE_LEVELS, QUICK_WINDOW_STRIDE, PatchTSTMeta, TrainConfig
from investiq.core.settings import Settings
from investiq.ops import patchtst as ops
from tests.core.test_bars_exports import CLOSES
from tests.core.test_bars_exports import DAYS as BAR_DAYS
from training import patchtst as training
from training.evaluate import TOO_SHORT
from training.forecaster import (
    MAX_STANDARDISED,
    MIN_VOLATILITY,
    WEIGHTS,
    Forecaster,
    agreeing,
    load_forecaster,
    ordered,
    pinball,
    predict,
    standardised_targets,
)
from training.windows import Split

DAYS = pd.bdate_range("2024-01-01", periods=20)
MEDIAN = QUANTILE_LEVELS.index(0.5)
LEVELS = torch.tensor(QUANTILE_LEVELS, dtype=torch.float64)


def _meta(trained_until: str, validated_until: str = "") -> PatchTSTMeta:
    return PatchTSTMeta(
        "v", 8, 2, "1d", "log_return", ["A"], "csv", trained_until, validated_until=validated_until
    )


def _stamped(n: int = 20) -> tuple[Any, Any]:
    return np.linspace(100.0, 120.0, n), DAYS[:n].to_numpy()


def _test_part(first: int, last: int) -> Split:
    return Split(np.arange(0, 2), np.arange(2, 4), np.arange(first, last + 1))


# --- choose_bars: which bars ------------------------------------------------------------------------------------


def test_the_settings_csv_named_by_another_spelling_keeps_the_settings_description(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--csv mine.csv` from its folder names the settings' own /abs/mine.csv: their symbols and days, not the
    file's outline. Mutant: the paths compared unresolved (the settings' file taken for another one)."""
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "mine.csv"
    mine.write_text("timestamp,close\n2024-01-01,1\n2024-01-02,2\n")
    settings = Settings(price_source="csv", price_csv=mine, price_symbols=["SPY"], price_days=60)
    bars = ops.choose_bars(settings, None, (), None, None, Path("mine.csv"), log=lambda _: None)
    assert (bars.symbols, bars.days) == (("SPY",), 60)


def test_the_settings_csv_under_another_source_is_described_by_the_file(tmp_path: Path) -> None:
    """Settings of Yahoo's SPY that name a price_csv too; `--csv` that very file: every symbol in it and all of its
    history, not SPY's 60 days. Mutant: the file compared without the settings' source ("no rows for SPY")."""
    mine = tmp_path / "mine.csv"
    mine.write_text("timestamp,close\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n")
    settings = Settings(price_source="yfinance", price_csv=mine, price_symbols=["SPY"], price_days=60)
    bars = ops.choose_bars(settings, None, (), None, None, mine, log=lambda _: None)
    assert (bars.source, bars.symbols, bars.days, bars.interval) == ("csv", ("mine",), SAMPLE_DAYS, "1d")


def test_symbols_may_be_comma_separated(tmp_path: Path) -> None:
    """Mutant: only spaces split the symbols ("AAA,BBB" one symbol)."""
    settings = Settings(price_source="yfinance")
    bars = ops.choose_bars(settings, None, ("AAA,BBB", "CCC DDD"), None, None, None, log=lambda _: None)
    assert bars.symbols == ("AAA", "BBB", "CCC", "DDD")


def test_the_sample_takes_its_own_interval_and_all_its_days_and_not_yahoos_symbols() -> None:
    """`--source sample --interval 1d --days <all>`: the sample as it is; with settings naming Yahoo's SPY, the
    sample's own symbols. Mutants: `--interval 1d` refused, `--days` equal to the sample's refused, the days past
    the sample's cut to them, the settings' Yahoo symbols taken for the sample."""
    settings = Settings(price_source="yfinance", price_symbols=["SPY"])
    bars = ops.choose_bars(settings, "sample", (), SAMPLE_DAYS, "1d", None, log=lambda _: None)
    assert bars == ops.SAMPLE
    assert ops.choose_bars(settings, "sample", (), SAMPLE_DAYS + 7, None, None).days == SAMPLE_DAYS + 7


def test_days_given_for_yahoo_bars_are_kept() -> None:
    """Mutant: the settings' price_days always (`--days 30` ignored)."""
    settings = Settings(price_source="yfinance", price_days=60)
    assert ops.choose_bars(settings, None, (), 30, None, None, log=lambda _: None).days == 30


def test_a_csv_is_refused_for_a_model_trained_on_the_sample() -> None:
    """Mutant: only Yahoo-trained models refuse `--csv` (a sample model judged on its own bars, the file
    ignored)."""
    with pytest.raises(DataError, match="--csv is for a model trained from a CSV file"):
        ops.trained_bars(TINY, Path("other.csv"))


def test_zero_valued_hyperparameters_are_kept_and_only_a_csv_source_records_its_file() -> None:
    """Mutants: hyperparameters kept only when truthy (dropout 0 replaced by the default 0.2); the settings'
    price_csv recorded for Yahoo bars too (a retrain would read a file the model was never trained on)."""
    config = ops.config_for(ops.Bars("yfinance", ("SPY",), 60, "15m", Path("left.csv")), dropout=0.0, epochs=None)
    assert (
        config.dropout == 0.0
        and config.epochs == TrainConfig.__dataclass_fields__["epochs"].default
        and config.csv_path is None
    )


def test_ten_symbols_are_each_logged_and_only_warnings_that_say_something_are_returned(tmp_path: Path) -> None:
    """MAX_CLEANING_LINES symbols are still logged line by line, with no total; the warnings returned name only
    the symbol with something to say. Mutants: `>=` for `>` (a total, and clean symbols unlogged, at exactly ten);
    every symbol in the warnings, most with an empty list."""
    n = ops.MAX_CLEANING_LINES
    rows = [f"{d:%Y-%m-%d},S{k:02d},{c:.2f}" for k in range(n) for d, c in zip(BAR_DAYS, CLOSES, strict=True)]
    rows.append(f"{BAR_DAYS[3]:%Y-%m-%d},S05,-1")
    path = tmp_path / "ten.csv"
    path.write_text("Date,symbol,Close\n" + "\n".join(rows) + "\n")
    settings = Settings(data_dir=tmp_path)
    bars = ops.choose_bars(settings, None, (), None, "1d", path, log=lambda _: None)
    logged: list[str] = []
    series, warned = ops.loaded_series(settings, bars, logged.append)
    assert len(series) == n and [line.split(":")[0] for line in logged] == [f"S{k:02d}" for k in range(n)]
    assert list(warned) == ["S05"] and warned["S05"]


def test_two_of_three_symbols_short_are_counted_at_the_fewest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutant: "at the fewest" decided by the symbols with enough bars (one: left out of the warning)."""
    monkeypatch.setattr(ops, "config_for", lambda bars, **_: TINY)
    lengths = {"AAA": 30, "BBB": 40, "CCC": 2000}
    series = {s: (np.linspace(100.0, 110.0, n), np.arange(n)) for s, n in lengths.items()}
    logged: list[str] = []
    kept, bars = ops.with_history(series, ops.Bars("csv", tuple(lengths), 4000, "1d"), logged.append)
    assert list(kept) == ["CCC"] and bars.symbols == ("CCC",)
    assert "AAA, BBB: too few 1d bars for a first PatchTST (30 at the fewest" in logged[0]


# --- unseen_test_origins: which test origins count as unseen --------------------------------------------------


def test_only_test_origins_later_than_the_last_validated_bar_are_unseen() -> None:
    """Origins 10..17; training saw up to bar 5, validation up to bar 12: 13..17 are unseen, and the log says 3 of
    8 were left out. Mutants: `kept = test` (no cut-off at all), `seen = meta.trained_until` (the validated bars
    scored as unseen: early stopping and calibration saw them)."""
    said: list[str] = []
    meta = _meta(str(DAYS[5].date()), str(DAYS[12].date()))
    origins, left_out = ops.unseen_test_origins({"A": _stamped()}, {"A": _test_part(10, 17)}, meta, said.append)
    np.testing.assert_array_equal(origins["A"], np.arange(13, 18))
    assert left_out == {}
    assert len(said) == 1 and said[0].startswith(f"A: 3 of 8 test origins are not later than {DAYS[12].date()}")


def test_a_test_part_wholly_unseen_is_kept_whole_without_a_word() -> None:
    """Mutant: `len(kept) <= len(test)` (every symbol logged "0 of n ... left out")."""
    said: list[str] = []
    meta = _meta(str(DAYS[3].date()), str(DAYS[9].date()))
    origins, _ = ops.unseen_test_origins({"A": _stamped()}, {"A": _test_part(10, 17)}, meta, said.append)
    np.testing.assert_array_equal(origins["A"], np.arange(10, 18))
    assert said == []


def test_a_symbol_with_no_unseen_origin_or_no_window_is_left_out_and_named() -> None:
    """B's test part ends at the validated bar, C has no split (too short): both left out with their reason, A
    kept. Mutants: `if len(kept)` always true (B served an empty set of origins), the `continue` after TOO_SHORT
    dropped (a KeyError for C)."""
    series = {"A": _stamped(), "B": _stamped(), "C": _stamped(6)}
    splits = {"A": _test_part(14, 17), "B": _test_part(8, 12)}
    meta = _meta(str(DAYS[5].date()), str(DAYS[12].date()))
    origins, left_out = ops.unseen_test_origins(series, splits, meta, lambda _: None)
    assert list(origins) == ["A"]
    assert left_out["C"] == TOO_SHORT
    assert left_out["B"].startswith(f"no test origin later than {DAYS[12].date()}")


def test_no_unseen_origin_in_any_symbol_is_an_error_not_an_empty_evaluation() -> None:
    """Mutant: the `if not origins` DataError dropped (an evaluation of nothing, or of nothing but seen bars)."""
    meta = _meta(str(DAYS[5].date()), str(DAYS[19].date()))
    with pytest.raises(DataError, match="no test origin in these bars is later than"):
        ops.unseen_test_origins({"A": _stamped()}, {"A": _test_part(10, 17)}, meta, lambda _: None)


# --- evaluate_model: what reaches the evaluation ----------------------------------------------------------------


def test_evaluation_gets_only_the_unseen_symbols_their_times_and_the_split_and_garch_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model whose recorded split is 0.2 validation, 0.1 test; symbol B has no unseen origin. Mutants: the
    split's fractions swapped, closes or times of every symbol (B too) passed, garch_dist "normal" dropped for
    "t"."""
    import training.evaluate
    import training.forecaster

    (tmp_path / METRICS).write_text(
        json.dumps({"config": asdict(TINY) | {"val_fraction": 0.2, "test_fraction": 0.1}})
    )
    meta = _meta(str(DAYS[5].date()), str(DAYS[12].date()))
    monkeypatch.setattr(training.forecaster, "load_forecaster", lambda _: (None, meta))
    series = {"A": _stamped(), "B": _stamped()}
    monkeypatch.setattr(ops, "loaded_series", lambda *_: (series, {}))
    monkeypatch.setattr(ops, "trained_bars", lambda *_: None)
    splits = {"A": _test_part(14, 17), "B": _test_part(8, 12)}
    monkeypatch.setattr(training.evaluate, "evaluation_splits", lambda *_: splits)
    seen: list[tuple[Any, ...]] = []

    def evaluate(*args: Any, **kwargs: Any) -> dict[str, Any]:
        seen.append((args, kwargs))
        return {}

    monkeypatch.setattr(training.evaluate, "evaluate", evaluate)
    ops.evaluate_model(Settings(), tmp_path, 5.0, False, None, lambda _: None, garch_dist="normal")
    ((args, kwargs),) = seen
    assert list(args[2]) == ["A"] and args[3] == {"val_fraction": 0.2, "test_fraction": 0.1}
    assert args[7] == "normal" and list(args[8]) == ["A"] and "B" in args[9]
    assert list(kwargs["times"]) == ["A"] and args[4] == tmp_path / "evaluation"


# --- train_or_baseline and the quick first model ----------------------------------------------------------------


def test_too_few_bars_is_an_error_not_a_silent_baseline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only torch's failures fall back to the random walk; bars too few for the split (a ValueError, then a
    DataError) are the user's to fix. Mutant: `except Exception` (a baseline served for bad data)."""

    def short(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("30 bars are too few")

    monkeypatch.setattr(training, "train", short)
    monkeypatch.setattr(training, "baseline", lambda *a: pytest.fail("no baseline for too few bars"))
    with pytest.raises(DataError, match="30 bars are too few"):
        ops.train_or_baseline({}, TINY, tmp_path, lambda _: None)


def test_training_gets_the_budget_and_a_failure_names_its_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutants: budget_s not passed on to training; RuntimeError not among the failures that fall back."""
    calls: list[Any] = []

    def broken(*args: Any, budget_s: float | None = None, **kwargs: Any) -> Any:
        calls.append(budget_s)
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(training, "train", broken)
    monkeypatch.setattr(training, "baseline", lambda *a: calls.append(a[3]))
    ops.train_or_baseline({}, TINY, tmp_path, lambda _: None, budget_s=42.0)
    assert calls == [42.0, "training failed: RuntimeError: CUDA out of memory"]


def _quick_settings(tmp_path: Path) -> Settings:
    return Settings(
        price_source="sample",
        models_dir=tmp_path / "models",
        model_repository=tmp_path / "repo",
        data_dir=tmp_path / "data",
        db_path=tmp_path / "p.db",
        quick_train_budget_s=33.0,
    )


def test_the_quick_model_trains_where_an_earlier_run_left_no_artifact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A models/patchtst folder without artifact.json (a run killed mid-training) is trained into, strided and
    within the quick budget, then exported. Mutants: the folder alone taken for a model (exported, nothing to
    export); the budget or the window stride dropped."""
    settings = _quick_settings(tmp_path)
    ops.model_dir(settings).mkdir(parents=True)
    trained: list[tuple[Any, ...]] = []
    exported: list[Path] = []
    monkeypatch.setattr(ops, "load_series", lambda *_: {"SPX": _stamped()})
    monkeypatch.setattr(ops, "with_history", lambda series, bars, log: (series, bars))
    monkeypatch.setattr(ops, "train_or_baseline", lambda *a, budget_s=None: trained.append((a[1], budget_s)))
    monkeypatch.setattr(ops, "export_model", lambda s, directory, log: exported.append(directory))
    ops.quick_model(settings, lambda _: None)
    ((config, budget),) = trained
    assert budget == 33.0 and config.window_stride == QUICK_WINDOW_STRIDE and config.epochs == 2
    assert exported == [ops.model_dir(settings)]


def test_torchrun_is_for_several_gpus_and_never_from_inside_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutant: `gpus < 1` alone (one GPU relaunched under torchrun; a torchrun worker relaunching itself)."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert ops.torchrun_command(["train", "patchtst"]) is None
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert ops.torchrun_command(["train", "patchtst"])[-4:] == ["-m", "investiq", "train", "patchtst"]  # type: ignore[index]
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert ops.torchrun_command(["train", "patchtst"]) is None


# --- the Forecaster's helpers -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def untrained() -> Forecaster:
    return Forecaster(TINY).eval()


@pytest.fixture
def forecaster(untrained: Forecaster) -> Forecaster:
    return copy.deepcopy(untrained)


def test_ordered_clamps_each_side_to_the_median_and_sorts_it() -> None:
    """Mutants: the levels below the median not clamped to it; the levels above it not sorted."""
    z = torch.tensor([[-1.0, 0.4, 0.2, 0.3, 0.9, 0.5, 1.2]])
    got = ordered(z, MEDIAN)
    assert got.tolist() == [pytest.approx([-1.0, 0.2, 0.3, 0.3, 0.5, 0.9, 1.2])]


def test_agreeing_moves_wrong_side_quantiles_to_zero_at_one_minus_p() -> None:
    """P(up) 0.8: levels above 0.2 at or above 0, those below at or under it, the one at 0.2 (none here) at 0;
    P(up) 0.9 puts 0.1 at 1 - p: it goes to 0 from either side. Mutants: the threshold p for 1 - p; the tie
    widened to one side (`levels > threshold - LEVEL_TIE`) or dropped (`>=`, `<=`)."""
    z = torch.tensor([[[-2.0, -1.0, -0.5, -0.1, 0.3, 1.0, 2.0]]], dtype=torch.float64)
    held = agreeing(z, LEVELS, torch.tensor([[0.8]], dtype=torch.float64))
    assert held.tolist() == [[[-2.0, -1.0, 0.0, 0.0, 0.3, 1.0, 2.0]]]
    for side in (1.0, -1.0):
        at_tie = agreeing(torch.full((1, 1, 7), side, dtype=torch.float64), LEVELS, torch.tensor([[0.9]]).double())
        assert at_tie[0, 0, 1] == 0.0 and at_tie[0, 0, 0] == min(side, 0.0) and at_tie[0, 0, 2] == max(side, 0.0)


def test_pinball_weights_a_miss_above_a_low_level_by_the_level() -> None:
    """A target 1 above the 0.1 quantile costs 0.1, below it 0.9. Mutants: the error's sign flipped; (1 - q)
    for (q - 1)."""
    levels = torch.tensor([0.1])
    assert float(pinball(torch.zeros(1, 1, 1), torch.ones(1, 1), levels)) == pytest.approx(0.1)
    assert float(pinball(torch.zeros(1, 1, 1), -torch.ones(1, 1), levels)) == pytest.approx(0.9)


def test_normalise_reads_returns_in_units_of_the_ewma_volatility(forecaster: Forecaster) -> None:
    """A window of steady 1% steps: sigma is 1% (weights summing to 1), every reading +1 but the first bar's 0;
    a window flat but for its newest step weighs that step most. Mutants: the EWMA ages reversed, its weights not
    normalised, the step's ratio inverted, the pad put at the end."""
    x = torch.from_numpy(100 * np.exp(0.01 * np.arange(64)))[None, :, None].float()
    reading, sigma = forecaster.normalise(x)
    assert float(sigma[0]) == pytest.approx(0.01, rel=1e-3)
    assert float(reading[0, 0, 0]) == 0.0 and reading[0, 1:, 0].numpy() == pytest.approx(np.ones(63), rel=1e-3)
    lam = TINY.vol_lambda
    jumped = torch.full((1, 64, 1), 100.0)
    jumped[0, -1, 0] = 110.0
    weight = (1 - lam) / (1 - lam**63)  # the newest return's normalised weight
    assert float(forecaster.normalise(jumped)[1][0]) == pytest.approx(math.log(1.1) * math.sqrt(weight), rel=1e-4)


def test_a_flat_window_has_the_floor_volatility_and_an_old_move_in_a_long_one_is_clipped(
    forecaster: Forecaster,
) -> None:
    """A reading is at most 1 / sqrt(its EWMA weight): past 50 only for moves old in a long context (256 bars here;
    the default is longer), where the weight is ~1e-8. Mutants: the sigma floor dropped (0, then nan readings); the
    reading's clip at 50 dropped."""
    flat = torch.full((1, 64, 1), 50.0)
    reading, sigma = forecaster.normalise(flat)
    assert float(sigma[0]) == pytest.approx(MIN_VOLATILITY) and torch.equal(reading, torch.zeros_like(reading))
    long = Forecaster(replace(TINY, context_length=256))
    stale = torch.full((1, 256, 1), 55.0)
    stale[0, 0, 0] = 50.0  # one move, the oldest, in a flat window
    reading, _ = long.normalise(stale)
    assert float(reading[0, 1, 0]) == MAX_STANDARDISED and float(reading[0, 2:].abs().max()) == 0.0


def test_standardised_targets_are_log_returns_to_the_last_close_in_sigma_root_h(forecaster: Forecaster) -> None:
    """Mutants: divided by sigma alone (no sqrt(h)); from the first close of the window; the clip at 50 dropped."""
    x = torch.from_numpy(100 * np.exp(0.01 * np.arange(64)))[None, :, None].float()
    last = float(x[0, -1, 0])
    y = torch.tensor([[[last * math.exp(0.02)], [last * math.exp(0.02)], [last * 3.0], [last]]])
    _, target = standardised_targets(forecaster, x, y)
    sigma = float(forecaster.normalise(x)[1][0])
    want = [0.02 / sigma, 0.02 / (sigma * math.sqrt(2)), MAX_STANDARDISED, 0.0]
    assert target[0].tolist() == pytest.approx(want, rel=1e-3, abs=1e-4)


def test_the_forward_maps_the_median_offsets_spread_and_p_up(forecaster: Forecaster) -> None:
    """The head's bias sets u (the median's 0.3); with alpha 1, spread 2, offsets, slope 1 and bounds, not held:
    z = alpha * u_m + spread * (u - u_m) + offset, prices at exp(z sigma sqrt(h)), P(up) sigmoid(slope * u_m)
    within its bounds. Mutants: P(up)'s slope sign flipped, its clamp dropped, the offsets dropped, the spread on u
    not u - u_m, no sqrt(h), the median taken one level low (for P(up) or as the output)."""
    bias = torch.tensor([-1.0, -0.6, -0.2, 0.3, 0.5, 0.9, 1.4]).repeat(4)
    offsets = torch.tensor([-0.2, -0.1, 0.0, 0.0, 0.0, 0.1, 0.2])
    with torch.no_grad():
        forecaster.head.bias.copy_(bias)
        forecaster.alpha.fill_(1.0)
        forecaster.spread.fill_(2.0)
        forecaster.offsets.copy_(offsets.expand(4, -1))
        forecaster.slope.fill_(1.0)
        forecaster.p_high.fill_(0.56)
        forecaster.centred.fill_(1.0)
    x = torch.from_numpy(100 * np.exp(0.01 * np.arange(64)))[None, :, None].float()
    with torch.no_grad():
        median, quantiles, p_up, sigma = forecaster(x)
    u = bias[:7]
    z = 0.3 + 2.0 * (u - 0.3) + offsets
    scale = float(sigma[0, 0]) * torch.arange(1, 5).double().sqrt()
    want = float(x[0, -1, 0]) * torch.exp(z.double()[None, :] * scale[:, None])
    assert quantiles[0].double().numpy() == pytest.approx(want.numpy(), rel=1e-5)
    assert median[0, :, 0].numpy() == pytest.approx(want[:, MEDIAN].numpy(), rel=1e-5)
    assert p_up[0].tolist() == pytest.approx([0.56] * 4)  # sigmoid(0.3) = 0.574, held to its bound
    with torch.no_grad():
        forecaster.p_high.fill_(0.6)
        assert forecaster(x)[2][0].tolist() == pytest.approx([1 / (1 + math.exp(-0.3))] * 4, rel=1e-5)


def _saved(forecaster: Forecaster, directory: Path, levels: tuple[float, ...], drop: tuple[str, ...] = ()) -> Path:
    from safetensors.torch import save_file

    directory.mkdir()
    config, stamp = asdict(TINY), "2020-01-01"
    meta = PatchTSTMeta(
        "v", 64, 4, "1d", "log_return", ["SPX"], "sample", stamp, train_config=config, quantile_levels=list(levels)
    )
    meta.save(directory)
    save_file({k: v for k, v in forecaster.state_dict().items() if k not in drop}, str(directory / WEIGHTS))
    return directory


def test_an_artifact_saved_before_spread_hold_and_centring_loads_as_it_was_validated(
    forecaster: Forecaster, tmp_path: Path
) -> None:
    """Without the spread, held and centred buffers: spread 1, not held, not centred; and in eval mode (dropout
    off: the same window, the same forecast). Mutants: each default flipped; `.eval()` dropped."""
    with torch.no_grad():
        forecaster.spread.fill_(3.0)
        forecaster.held.fill_(1.0)
        forecaster.centred.fill_(1.0)
    loaded, meta = load_forecaster(
        _saved(forecaster, tmp_path / "old", QUANTILE_LEVELS, ("spread", "held", "centred"))
    )
    assert (float(loaded.spread), float(loaded.held), float(loaded.centred)) == (1.0, 0.0, 0.0)
    assert not loaded.training and meta.quantile_levels == list(QUANTILE_LEVELS)


def test_an_artifact_of_other_levels_loads_with_them_and_one_without_weights_says_so(tmp_path: Path) -> None:
    """Mutants: the artifact's quantile_levels not passed (a shape mismatch on load); the missing-weights check
    dropped (safetensors' own error, no way out named)."""
    three = (0.1, 0.5, 0.9)
    loaded, _ = load_forecaster(_saved(Forecaster(TINY, three).eval(), tmp_path / "three", three))
    assert loaded.quantile_levels == three and loaded.median_index == 1
    (tmp_path / "three" / WEIGHTS).unlink()
    with pytest.raises(ArtifactError, match=r"no weights at .*run `investiq train patchtst` again"):
        load_forecaster(tmp_path / "three")


def test_predict_forecasts_every_window_in_batches(untrained: Forecaster) -> None:
    """Five windows two at a time: five forecasts, each the last close (untrained). Mutant: a batch's slice one
    short (windows dropped)."""
    x = (100 * np.exp(0.01 * np.arange(64)) * np.arange(1, 6)[:, None]).astype(np.float32)[..., None]
    out = predict(untrained, x, batch=2)
    assert out.median.shape == (5, 4) and out.quantiles.shape == (5, 4, 7) and out.volatility.shape == (5,)
    np.testing.assert_allclose(out.median[:, 0], x[:, -1, 0], rtol=1e-6)
