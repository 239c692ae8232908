"""Kill tests of a mutation audit of the backtest's trade filters (ops/backtest/filters.py) and of the allocation
rules that turn posteriors into weights (core/bayes/allocation.py): each fails with the mutant its docstring names
applied, and passes on the code as it is. Nothing trains and no graph runs: the price filter's forecasts come from
a stand-in backend whose answers follow from each window by a formula, training and export are recording stand-ins,
headlines are scored by the lexicon or set by hand."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pytest
from numpy.typing import NDArray

import export.patchtst as export_patchtst_module
import investiq.ops.patchtst as ops_patchtst
from gateway.wiring import build_sentiment
from harness.tiny_patchtst import tiny_meta
from investiq.core.bayes.allocation import (
    AllocationRules,
    allocate,
    clip_to_box,
    is_proven,
    prob_best,
    prob_best_mean,
)
from investiq.core.bayes.posterior import Posterior
from investiq.core.errors import InvalidInputError
from investiq.core.patchtst import INPUT, OUTPUT, PATCHTST, PROBABILITY_UP, QUANTILES, VOLATILITY, PatchTSTMeta
from investiq.core.settings import Settings
from investiq.ops.backtest import filters
from investiq.ops.backtest.filters import (
    Forecasts,
    PriceFilter,
    SentimentFilter,
    forecast,
    price_filter,
    read_headlines,
    sentiment_filter,
    train_before,
    trainable,
)
from tests.ops.test_backtest_filters import BAD, GOOD, ONE_EPOCH, START, lexicon, synthetic_bars, write

# -- the price filter's rule, names and notes ---------------------------------------------------------------------

DAY = pd.Timestamp("2024-03-04", tz="UTC")
LEVELS = [0.05, 0.1, 0.5, 0.9, 0.95]


def meta(**calibration: Any) -> PatchTSTMeta:
    """A tiny model's artifact with these calibration figures (alpha and slope 1 unless given: skill kept)."""
    return tiny_meta("2024-01-31", quantile_levels=LEVELS, calibration={"alpha": 1.0, "slope": 1.0} | calibration)


def one_symbol(p_up: list[float], risk: list[float]) -> dict[str, Forecasts]:
    """SPX's forecasts at DAY, DAY + 1 day, ...: these P(up) and risk returns."""
    times = np.array([(DAY + pd.Timedelta(days=i)).value for i in range(len(p_up))], dtype=np.int64)
    return {"SPX": Forecasts(times, np.array(p_up), np.array(risk))}


def test_a_naive_decision_time_is_read_as_utc() -> None:
    """filters.py:_ns: a naive time localised to another zone than UTC (the forecast at DAY not found)."""
    made = PriceFilter(one_symbol([0.7], [-0.01]), meta())
    assert made.at("SPX", pd.Timestamp("2024-03-04")) == (0.7, -0.01)
    assert made.at("SPX", pd.Timestamp("2024-03-04T00:00:00-05:00")) is None  # 05:00 UTC: no bar there


def test_the_downside_rule_compares_the_quantile_return_with_the_negative_loss() -> None:
    """filters.py:PriceFilter.allows: `risk > -max_risk_loss` as `risk > max_risk_loss` (a 3% downside refused
    under a 5% bound, a gain of 4% refused too)."""
    made = PriceFilter(one_symbol([0.7, 0.7, 0.7], [-0.03, -0.06, 0.04]), meta(), max_risk_loss=0.05)
    verdicts = [made.allows("SPX", DAY + pd.Timedelta(days=i)) for i in range(3)]
    assert verdicts == [True, False, True]
    assert (made.counts.allowed, made.counts.refused, made.counts.no_forecast) == (2, 1, 0)


def test_the_price_filters_name_says_its_rule() -> None:
    """filters.py:PriceFilter.name: the risk clause added without a bound (or dropped with one), its bound's sign
    lost, "(P(up) without skill)" given to a model whose P(up) moves."""
    assert PriceFilter({}, meta()).name == "P(up) > 0.5"
    bounded = PriceFilter({}, meta(), min_probability_up=0.55, max_risk_loss=0.05)
    assert bounded.name == "P(up) > 0.55 and q0.1 return > -0.05"
    flat = PriceFilter({}, meta(slope=0.0, base_up=[0.52] * 4))
    assert flat.name == "P(up) > 0.5 (P(up) without skill)"


def test_the_price_filters_note_names_the_model_and_its_calibration() -> None:
    """filters.py:PriceFilter.note: the calibration's rule read from another key; the 'lets all in' clause given to
    a model whose P(up) moves."""
    rule = "alpha 1, slope 1 (validation: 120 windows)"
    informative = PriceFilter({}, meta(rule=rule)).note
    assert informative == f"PatchTST v1, trained on bars until 2024-01-31: {rule}"
    flat = PriceFilter({}, meta(rule=rule, slope=0.0, base_up=[0.52] * 4)).note
    assert flat.startswith(f"PatchTST v1, trained on bars until 2024-01-31: {rule}; its P(up) is 0.520 at every")
    assert PriceFilter({}, meta()).note.endswith(": no calibration record")


# -- price_filter, train_before and trainable, with training and export replaced ----------------------------------


def test_price_filter_passes_the_batch_size_and_the_downside_bound_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """filters.py:price_filter: max_risk_loss not handed to the filter (the risk rule silently off)."""
    asked: dict[str, Any] = {}

    def trained(bars: Any, start: pd.Timestamp, work_dir: Path, **kwargs: Any) -> Path:
        asked["train"] = (start, work_dir, kwargs["seed"], kwargs["budget_s"], kwargs["config"])
        return work_dir / "model_repository"

    def forecasted(repository: Path, bars: Any, start: pd.Timestamp, *, batch: int, progress: bool) -> Any:
        asked["forecast"] = (repository, start, batch)
        return meta(), one_symbol([0.7], [-0.2])

    monkeypatch.setattr(filters, "train_before", trained)
    monkeypatch.setattr(filters, "forecast", forecasted)
    made = price_filter(
        synthetic_bars(),
        START,
        Settings(price_batch_size=7),
        work_dir=tmp_path,
        seed=3,
        budget_s=9.0,
        config=ONE_EPOCH,
        progress=False,
        max_risk_loss=0.05,
    )
    assert made.max_risk_loss == 0.05 and not made.allows("SPX", DAY)  # a 20% downside under a 5% bound
    assert asked == {
        "train": (START, tmp_path, 3, 9.0, ONE_EPOCH),
        "forecast": (tmp_path / "model_repository", START, 7),
    }


def test_train_before_trains_on_every_splittable_symbol_with_the_backtests_seed_and_budget(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """filters.py:train_before: the seed not put into the config (the config's own trained), the symbols cut to
    those with training windows (LATE's validation and test windows lost), the budget not passed on."""
    calls: list[tuple[Any, ...]] = []

    def train_or_baseline(series: Any, config: Any, directory: Path, log: Any, *, budget_s: float) -> None:
        calls.append(("train", tuple(series), config, directory, budget_s))

    def export_patchtst(directory: Path, repository: Path, *, log: Any) -> None:
        calls.append(("export", directory, repository))

    monkeypatch.setattr(ops_patchtst, "train_or_baseline", train_or_baseline)
    monkeypatch.setattr(export_patchtst_module, "export_patchtst", export_patchtst)
    bars = synthetic_bars()
    said: list[str] = []
    config = dataclasses.replace(ONE_EPOCH, seed=0)
    got = train_before(
        {"A": bars["A"], "LATE": bars["B"].iloc[380:]}, START, tmp_path, seed=11, budget_s=33.0, config=config,
        log=said.append,
    )  # fmt: skip
    assert got == tmp_path / "model_repository"
    (_, symbols, trained_config, directory, budget), export = calls
    assert symbols == ("A", "LATE") and directory == tmp_path / PATCHTST and budget == 33.0
    assert trained_config.seed == 11 and trained_config.symbols == ("A", "LATE")
    assert export == ("export", tmp_path / PATCHTST, tmp_path / "model_repository")
    assert said == [
        f"training PatchTST on A bars before {START} (LATE: validation and test only, split at the dates all "
        "share) (at most 33 s)"
    ]


def test_every_symbol_left_out_of_training_is_warned_about() -> None:
    """filters.py:trainable: only the first symbol too short for training warned about."""
    bars = synthetic_bars()
    said: list[str] = []
    series, _ = trainable(
        {"A": bars["A"], "T1": bars["B"].iloc[470:], "T2": bars["B"].iloc[480:]}, START, ONE_EPOCH, said.append
    )
    assert list(series) == ["A"]
    assert [line.split(":")[1].strip() for line in said] == ["not training on T1", "not training on T2"]


# -- forecast and _run, on a stand-in backend ---------------------------------------------------------------------

MARKER = 123.25  # a close whose window the stand-in answers with a NaN P(up): a forecast the gateway refuses


class StandIn:
    """EmbeddedBackend's stand-in: the tiny model's artifact; per window, P(up) 0.5 + 10 x the last close's return
    (at the last step; 0.5 before it), the median and quantiles at step s (1-based) last * (1 + 0.01 s (level -
    0.5)) and the median last * (1 + 0.001 s); a NaN P(up) for a window ending at MARKER."""

    made: ClassVar[list[StandIn]] = []

    def __init__(self, repository: Path) -> None:
        self.patchtst = meta()
        self.closed = False
        self.batches: list[int] = []
        StandIn.made.append(self)

    async def infer(self, name: str, inputs: dict[str, NDArray[np.float32]]) -> dict[str, NDArray[np.float32]]:
        assert name == PATCHTST
        x = inputs[INPUT].astype(np.float64)[:, :, 0]
        self.batches.append(len(x))
        h = self.patchtst.prediction_length
        steps = np.arange(1, h + 1, dtype=np.float64)
        last = x[:, -1]
        median = last[:, None] * (1 + 0.001 * steps[None, :])
        levels = np.array(LEVELS) - 0.5
        quantiles = last[:, None, None] * (1 + 0.01 * steps[None, :, None] * levels[None, None, :])
        p_up = np.full((len(x), h), 0.5)
        p_up[:, -1] = np.clip(0.5 + 10 * (last / x[:, -2] - 1), 0.01, 0.99)
        p_up[np.isclose(last, MARKER)] = np.nan
        out = {
            OUTPUT: median[:, :, None],
            QUANTILES: quantiles,
            PROBABILITY_UP: p_up,
            VOLATILITY: np.full((len(x), 1), 0.01),
        }
        return {k: v.astype(np.float32) for k, v in out.items()}

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> list[StandIn]:
    StandIn.made = []
    monkeypatch.setattr(filters, "EmbeddedBackend", StandIn)
    return StandIn.made


def test_forecasts_read_the_horizons_quantile_drop_refused_windows_and_close_the_backend(
    stand_in: list[StandIn], tmp_path: Path
) -> None:
    """filters.py:_run: the risk return read at the first step instead of the horizon, a forecast the gateway
    refuses (WindowForecast.problem) kept, the backend left open."""
    closes = synthetic_bars()["A"].iloc[400:520].copy()
    marked = closes.index[110]
    closes[marked] = MARKER
    _, forecasts = forecast(tmp_path, {"A": closes}, START, batch=4, progress=False)
    (backend,) = stand_in
    assert backend.closed
    assert backend.batches == [4] * 5  # START is bar 100 of 120: 20 windows
    found = forecasts["A"]
    times = [t for t in closes.index[100:] if t != marked]
    assert found.times.tolist() == [t.value for t in times]
    h = meta().prediction_length
    np.testing.assert_allclose(
        found.risk_return, 0.01 * h * (0.1 - 0.5), rtol=1e-5
    )  # the 0.1 level at the horizon
    made = PriceFilter(forecasts, meta())
    assert made.at("A", marked) is None
    i = closes.index.get_loc(START)
    p_up = 0.5 + 10 * (closes.iloc[i] / closes.iloc[i - 1] - 1)
    at_start = made.at("A", START)
    assert at_start is not None
    assert at_start[0] == pytest.approx(p_up, abs=1e-5) and at_start[1] == pytest.approx(-0.016, rel=1e-5)


# -- sentiment ----------------------------------------------------------------------------------------------------


def scored(*at_score: tuple[pd.Timestamp, float], **fields: Any) -> SentimentFilter:
    """A sentiment filter over SPX headlines at these times with these scores (no scorer run)."""
    times = np.array([t.value for t, _ in at_score], dtype=np.int64)
    return SentimentFilter(
        {"SPX": times}, {"SPX": np.array([s for _, s in at_score])}, "lexicon", "a test's", **fields
    )


def test_the_default_rule_refuses_below_minus_0_2_over_three_days() -> None:
    """filters.py:SENTIMENT_THRESHOLD and SENTIMENT_LOOKBACK: another default bound (-0.1) or window (2 days)."""
    made = scored((DAY - pd.Timedelta(days=3), -0.5), (DAY, 0.2))
    assert made.mean_score("SPX", DAY) == pytest.approx(-0.15) and made.allows("SPX", DAY)
    assert made.name == "sentiment (lexicon) over 3 days >= -0.2"
    assert not scored((DAY, -0.25)).allows("SPX", DAY)


def test_the_symbol_asked_about_is_read_as_a_ticker() -> None:
    """filters.py:SentimentFilter.mean_score: the symbol looked up as given ("spx" had no headlines)."""
    made = scored((DAY, -0.9))
    assert made.mean_score(" spx", DAY) == -0.9 and not made.allows("spx", DAY)


def test_the_cut_off_is_the_fill_bars_stamp_when_there_is_one() -> None:
    """filters.py:SentimentFilter.mean_score: the decision time read instead of the fill bar's stamp (day t's own
    news ignored by an entry filled at day t + 1's close)."""
    evening = DAY + pd.Timedelta(hours=21)  # after the close of DAY, before the next day's bar stamp
    made = scored((evening, -0.9))
    assert made.mean_score("SPX", DAY) is None
    assert made.mean_score("SPX", DAY, DAY + pd.Timedelta(days=1)) == -0.9
    assert not made.allows("SPX", DAY, DAY + pd.Timedelta(days=1))


def test_sentiment_filter_takes_its_threshold_and_lookback(tmp_path: Path) -> None:
    """filters.py:sentiment_filter: threshold and lookback not handed to the filter (the defaults used)."""
    rows = [(str(DAY - pd.Timedelta(days=2)), "SPX", BAD[0]), (str(DAY), "SPX", GOOD)]
    csv = write(tmp_path / "h.csv", rows)
    made = sentiment_filter(csv, lexicon(tmp_path), threshold=0.95, lookback=pd.Timedelta(days=1), progress=False)
    assert (made.threshold, made.lookback) == (0.95, pd.Timedelta(days=1))
    good = made.mean_score("SPX", DAY)
    assert good is not None and 0 < good < 0.95 and not made.allows("SPX", DAY)  # the bad one: out of one day


def test_the_note_says_how_many_headlines_of_which_symbols_and_their_span(tmp_path: Path) -> None:
    """filters.py:sentiment_filter: " and more" after exactly 8 symbols, the last headline's date read from the
    first."""
    eight = [f"S{i}" for i in range(8)]
    rows = [(str(DAY + pd.Timedelta(days=i)), s, GOOD) for i, s in enumerate(eight)]
    made = sentiment_filter(write(tmp_path / "h.csv", rows), lexicon(tmp_path), progress=False)
    assert made.note.endswith(f"; 8 headlines of {', '.join(eight)}, 2024-03-04 to 2024-03-11")
    nine = [*rows, (str(DAY), "S8", GOOD)]
    more = sentiment_filter(write(tmp_path / "m.csv", nine), lexicon(tmp_path), progress=False)
    assert more.note.endswith(f"; 9 headlines of {', '.join(eight)} and more, 2024-03-04 to 2024-03-11")


def test_a_degraded_scorer_is_named_in_the_note(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """filters.py:_score: the service's degraded reason (FinBERT broken, the lexicon answering) left out."""

    def degraded(*args: Any) -> Any:
        service = build_sentiment(*args)
        service.degraded_reason = "FinBERT is not available (a test's)"
        return service

    monkeypatch.setattr(filters, "build_sentiment", degraded)
    made = sentiment_filter(
        write(tmp_path / "h.csv", [(str(DAY), "SPX", GOOD)]), lexicon(tmp_path), progress=False
    )
    assert (
        made.note.startswith("headlines scored by lexicon ")
        and " (FinBERT is not available (a test's));" in made.note
    )


def test_headlines_are_sorted_by_time_whatever_the_files_order(tmp_path: Path) -> None:
    """filters.py:read_headlines: the sort dropped (a file newest first left the filter's search unsorted)."""
    rows = [(str(DAY + pd.Timedelta(days=2)), "SPX", BAD[0]), (str(DAY), "SPX", GOOD)]
    read = read_headlines(write(tmp_path / "h.csv", rows))
    assert read["line"].tolist() == [3, 2] and read["text"].tolist() == [GOOD, BAD[0]]
    made = sentiment_filter(write(tmp_path / "s.csv", rows), lexicon(tmp_path), progress=False)
    good = made.mean_score("SPX", DAY)
    assert good is not None and good > 0  # the later, bad headline is not read at DAY


def test_column_names_are_read_whatever_their_case(tmp_path: Path) -> None:
    """filters.py:read_headlines: the header not lower-cased ("Time,Symbol,Text" refused)."""
    read = read_headlines(write(tmp_path / "h.csv", [(str(DAY), "SPX", GOOD)], header=" Time,SYMBOL,Text"))
    assert read["symbol"].tolist() == ["SPX"]


def test_every_bad_row_is_named_up_to_five(tmp_path: Path) -> None:
    """filters.py:read_headlines: only the first bad row's line named."""
    rows = [(str(DAY), "SPX", GOOD)] + [(str(DAY), "", GOOD)] * 6
    with pytest.raises(InvalidInputError, match=r"6 row\(s\) with no usable symbol \(line\(s\) 3, 4, 5, 6, 7;"):
        read_headlines(write(tmp_path / "h.csv", rows))


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("20240301", "2024-03-01T23:59:59.999999999Z"),  # a YYYYMMDD date: the end of its UTC day
        ("2024-03-01 2pm", "2024-03-01T14:00:00Z"),  # a time of day by am/pm
        ("2024-03-01 2 p.m.", "2024-03-01T14:00:00Z"),
        ("2024-03-01 14h05", "2024-03-01T23:59:59.999999999Z"),  # no time of day the rule sees: the day's end
    ],
)
def test_a_date_alone_is_the_end_of_its_day_and_a_time_of_day_is_kept(
    tmp_path: Path, written: str, read: str
) -> None:
    """filters.py:_headline_times: YYYYMMDD dates left at 00:00 (a day's news read by an entry opened that day);
    CLOCK without am/pm (2pm moved to the end of the day); a date's end not from the day's 00:00 (a time the
    rule does not see, 14h05, moved into the next day)."""
    got = read_headlines(write(tmp_path / "h.csv", [(written, "SPX", GOOD)]))
    assert got["time"].tolist() == [pd.Timestamp(read)]


# -- allocation ---------------------------------------------------------------------------------------------------


def win_loss(alpha: float, beta: float, pnl_trades: float = 0.0) -> Posterior:
    """A posterior of alpha - 1 wins and beta - 1 losses, all of them counted; pnl_trades of them with a P&L."""
    n = alpha + beta - 2
    return Posterior(alpha, beta, 0.0, 1.0, 2.0, 100.0, n, pnl_trades, pnl_sample_mean=1.0, pnl_sample_sd=1.0)


def test_pnl_evidence_is_rounded_to_whole_trades_too() -> None:
    """allocation.py:is_proven: a P&L's effective trades truncated, not rounded (5 trades a few days old, 4.6
    effective, were 4 and unproven under `pnl` while proven under the other methods)."""
    rules = AllocationRules(min_trades=5)
    recent = win_loss(6.0, 2.0, pnl_trades=4.6)
    assert is_proven(recent, rules, "pnl") and is_proven(dataclasses.replace(recent, effective_trades=4.6), rules)
    assert not is_proven(win_loss(6.0, 2.0, pnl_trades=4.4), rules, "pnl")


def test_thompson_draws_as_many_samples_as_the_rules_say() -> None:
    """allocation.py:allocate: rules.draws not handed to prob_best (every weighing drew 10,000)."""
    posts = [win_loss(9.0, 5.0), win_loss(7.0, 7.0), win_loss(5.0, 9.0)]
    rules = AllocationRules(min_trades=1, floor=0.0, cap=1.0, draws=300)
    alphas, betas = np.array([9.0, 7.0, 5.0]), np.array([5.0, 7.0, 9.0])
    expected = clip_to_box(prob_best(alphas, betas, np.random.default_rng(5), 300), 1.0, 0.0, 1.0)
    assert allocate(posts, "thompson", rules, np.random.default_rng(5)).tolist() == expected.tolist()


def test_shares_of_a_draw_count_that_is_not_a_whole_block_sum_to_one() -> None:
    """allocation.py:_in_blocks: the last block drawn whole (BLOCK draws weighed as the few left) or the blocks
    not weighed by their size: P(best) no longer sums to 1."""
    alphas, betas = np.array([3.0, 8.0, 5.0]), np.array([7.0, 4.0, 5.0])
    assert prob_best(alphas, betas, np.random.default_rng(0), 700).sum() == pytest.approx(1.0, abs=0.05)
    posts = [win_loss(2.0, 2.0, pnl_trades=n) for n in (20.0, 30.0, 40.0)]
    assert prob_best_mean(posts, np.random.default_rng(0), 700).sum() == pytest.approx(1.0, abs=0.05)


def test_a_binding_floor_is_met_exactly() -> None:
    """allocation.py:clip_to_box: the bisection started where the largest score is already capped (the sum over
    the mass before it began, the floor undercut by the last rescaling) or cut short (30 halvings: the floor
    undercut by 1e-7)."""
    w = clip_to_box(np.array([1.0, 0.001]), 1.0, floor=0.1, cap=1.0)
    assert w.tolist() == pytest.approx([0.9, 0.1], abs=1e-12)
    w = clip_to_box(np.array([1.0, 0.5, 1e-6]), 1.0, floor=0.05, cap=0.6)
    assert w.tolist() == pytest.approx([0.6, 0.35, 0.05], abs=1e-12)


def test_zero_scores_share_what_the_capped_ones_leave() -> None:
    """allocation.py:clip_to_box: where caps bind everywhere, the zero scores given the floor alone (weights
    summing to 0.64)."""
    w = clip_to_box(np.array([1.0, 0.0, 0.0]), 1.0, floor=0.02, cap=0.6)
    assert w.tolist() == pytest.approx([0.6, 0.2, 0.2])


@pytest.mark.parametrize("method", ["mean", "thompson", "pnl"])
def test_with_no_proven_strategy_nothing_is_weighed(method: Any) -> None:
    """allocation.py:allocate: the early return dropped, an empty ranking weighed anyway (no strategy at all:
    0 / 0, a RuntimeWarning in the gateway's log)."""
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert allocate([], method, AllocationRules(), rng).tolist() == []
        assert allocate([win_loss(2.0, 1.0)] * 4, method, AllocationRules(), rng).tolist() == [0.25] * 4
    assert rng.bit_generator.state == state


def test_a_tie_with_a_pnl_that_never_varied_counts_half() -> None:
    """allocation.py:_prob_best_mean: a tie counted as a win (two strategies with +5 on every trade each "best"
    whenever the third falls below 5: weights 1/3 each instead of 1/4, 1/4, 1/2)."""

    def pnl(mean: float, sd: float) -> Posterior:
        return Posterior(1.0, 1.0, 0.0, 1.0, 2.0, 100.0, 30.0, 30.0, pnl_sample_mean=mean, pnl_sample_sd=sd)

    shares = prob_best_mean([pnl(5.0, 0.0), pnl(5.0, 0.0), pnl(5.0, 3.0)], np.random.default_rng(0), 4_000)
    assert shares.tolist() == pytest.approx([0.25, 0.25, 0.5], abs=0.03)
