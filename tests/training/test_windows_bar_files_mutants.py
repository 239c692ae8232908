"""The split of bars into training, validation and test windows, and the reading of users' bar files, at the edges
the other tests leave open (training/windows.py, investiq/core/bar_files.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pytest
from numpy.typing import NDArray

from harness.tiny_patchtst import TINY
from investiq.core.bar_files import csv_outline, load_csv, named_symbol
from investiq.core.errors import DataError
from investiq.core.forecast_stats import MIN_BLOCKS
from training.windows import (
    Split,
    TooFewBars,
    calendar_splits,
    later_than,
    longest_context,
    make_dataset,
    require_moves,
    seen_by,
    split_origins,
    symbol_splits,
    train_stats,
    training_rates,
    windows,
)


def days(start: int, end: int) -> NDArray[Any]:
    """Daily bar times, days start .. end - 1 after 2000-01-01."""
    stamps: NDArray[Any] = np.datetime64("2000-01-01") + np.arange(start, end)
    return stamps


def test_a_split_without_validation_windows_is_refused():
    """windows.py:split_origins, `len(split.val) == 0` dropped from the refusal (a split with no validation window
    went on to training, and calibration judged the network on nothing)."""
    with pytest.raises(TooFewBars, match=r"\(\d+ train, 0 validation, \d+ test windows\)"):
        split_origins(1000, 64, 12, 0.02, 0.15)


def test_the_bars_a_refusal_asks_for_are_enough():
    """windows.py:split_origins, the bars needed counted with 2 horizons, not 6 (a user who fetched the ~125 bars
    asked for was refused again)."""
    with pytest.raises(TooFewBars) as raised:
        split_origins(100, 64, 12, 0.15, 0.15)
    assert f"at least ~{raised.value.need} bars" in str(raised.value)
    split = split_origins(raised.value.need, 64, 12, 0.15, 0.15)
    assert min(len(split.train), len(split.val), len(split.test)) > 0


def test_the_first_window_starts_at_the_first_bar():
    """windows.py:_parts, the first origin at `context` rather than `context - 1` (the first bar of each series was
    never an input: one training window lost for nothing)."""
    split = split_origins(1000, 64, 12, 0.15, 0.15)
    assert split.train[0] == 63
    x, _ = windows(np.arange(1000, dtype=np.float64), split.train[:1], 64, 12)
    assert x[0, 0, 0] == 0.0


@pytest.mark.parametrize("start", [1600, 1790])
def test_every_window_of_a_late_symbol_is_cut_from_its_own_past_and_future(start: int):
    """windows.py:_parts, `max(t_val, first)` / `max(t_test, first)` made t_val / t_test: a symbol that starts
    just before the shared validation (1600) or test (1790) cut got origins before its context was full, and their
    inputs wrapped around to its last bars, the future the windows are to forecast."""
    c, h = 64, 4
    splits, short = calendar_splits({"OLD": days(0, 2000), "LATE": days(start, 2000)}, c, h, 0.15, 0.15)
    assert not short
    bars = np.arange(2000 - start, dtype=np.float64)
    for part in ("train", "val", "test"):
        origins = getattr(splits["LATE"], part)
        x, y = windows(bars, origins, c, h)
        assert (origins >= c - 1).all()
        np.testing.assert_array_equal(x[:, -1, 0], origins)  # each input ends at its origin
        assert (np.diff(x[..., 0], axis=1) == 1).all() and (y[:, 0, 0] == origins + 1).all()


def test_one_series_too_short_for_any_split_is_reported_short_with_the_bars_it_needs():
    """windows.py:calendar_splits, one series sent through the shared-dates split (100 bars: an error about no
    symbol's training window, instead of this symbol's count and the ~194 bars it needs)."""
    splits, short = calendar_splits({"ONLY": days(0, 100)}, 64, 12, 0.15, 0.15)
    assert splits == {} and list(short) == ["ONLY"]
    assert (short["ONLY"].bars, short["ONLY"].need) == (100, 194)


def interleaved() -> dict[str, Any]:
    """Two symbols of 1000 daily bars, A's at midnight UTC, B's at 18:00 (03:00 the next day in Tokyo)."""
    return {"A": days(0, 1000), "B": days(0, 1000) + np.timedelta64(18, "h")}


def assert_split_as_alone(splits: dict[str, Any], n: int) -> None:
    alone = split_origins(n, 64, 4, 0.15, 0.15)
    for symbol, split in splits.items():
        for part in ("train", "val", "test"):
            np.testing.assert_array_equal(getattr(split, part), getattr(alone, part), err_msg=f"{symbol} {part}")


def test_symbols_of_one_span_split_at_the_dates_each_would_alone():
    """windows.py:calendar_splits, the cut one pooled bar later, the validation cut at val_fraction alone, or the
    cut's own bar sent to the earlier part (searchsorted side="right"): symbols of the same dates split
    otherwise than one of them alone."""
    splits, short = calendar_splits(interleaved(), 64, 4, 0.15, 0.15)
    assert not short
    assert_split_as_alone(splits, 1000)


def test_bar_times_in_another_zone_split_at_the_same_instants():
    """windows.py:_utc_naive, local wall times kept instead of UTC: a symbol whose times carry Tokyo's offset was
    cut 9 hours away from the same instant of another symbol."""
    stamps = interleaved()
    tokyo = pd.DatetimeIndex(stamps["B"]).tz_localize("UTC").tz_convert("Asia/Tokyo")
    splits, _ = calendar_splits({"A": stamps["A"], "B": np.asarray(tokyo.to_pydatetime())}, 64, 4, 0.15, 0.15)
    assert_split_as_alone(splits, 1000)
    splits, _ = calendar_splits({"A": stamps["A"], "B": tokyo}, 64, 4, 0.15, 0.15)
    assert_split_as_alone(splits, 1000)


def test_symbols_that_together_have_no_training_window_are_refused_with_the_fewest_bars():
    """windows.py:calendar_splits, the refusal of a part that no symbol has dropped (two 100-bar symbols went on
    with test windows alone), or its bar count the most of any symbol rather than the fewest."""
    with pytest.raises(TooFewBars, match="no symbol has a training window") as raised:
        calendar_splits({"A": days(0, 100), "B": days(10, 100)}, 64, 12, 0.15, 0.15)
    assert raised.value.bars == 90 and raised.value.enough == ()


def test_only_bars_after_what_the_model_saw_are_scored():
    """windows.py:later_than, `>` made `>=` (the last bar the model saw was scored as unseen), or an offset cutoff
    read as a wall time without converting it to UTC (a bar 6 hours after it was left out)."""
    stamps, origins = days(0, 10), np.arange(10)
    assert later_than(stamps, origins, "2000-01-05").tolist() == [5, 6, 7, 8, 9]
    assert later_than(stamps, origins, "2000-01-05T03:00+09:00").tolist() == [4, 5, 6, 7, 8, 9]


def test_training_statistics_record_the_bars_the_training_windows_cover():
    """windows.py:train_stats, its "bars" one fewer than the bars of the statistics (up to the last training
    target, included)."""
    closes = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, 300)))
    origins = np.arange(63, 150)
    stats = train_stats(closes, origins, 4)
    assert stats["bars"] == 154.0
    assert stats["log_return_mean"] == pytest.approx(float(np.diff(np.log(closes[:154])).mean()))


def test_a_context_as_short_as_a_patch_is_offered_and_ten_horizons_of_windows_are_enough():
    """windows.py:longest_context, the search stopping above the patch length (a one-patch context never
    offered), or MIN_BLOCKS horizons of windows made too few (`>` for `>=`)."""
    assert longest_context(1000, dataclasses.replace(TINY, context_length=9)) == 8
    config = dataclasses.replace(TINY, val_fraction=0.25)
    split = split_origins(191, 63, 4, 0.25, 0.15)
    assert min(len(split.train), len(split.val)) == MIN_BLOCKS * 4  # exactly enough at context 63
    assert longest_context(191, config) == 63


def moving(n: int) -> NDArray[np.float64]:
    return 100 * np.exp(np.cumsum(np.random.default_rng(3).normal(0, 0.01, n)))


def test_a_part_whose_closes_move_only_in_its_context_or_its_targets_is_not_refused():
    """windows.py:require_moves, the span cut at the first origin (moves in the first window's context ignored)
    or at the last origin (moves in the last window's targets ignored): a symbol that trades was refused as
    pinned."""
    closes = np.full(400, 50.0)
    closes[60] = 51.0  # a move in the first training window's context only (origins from 63)
    closes[210] = 52.0  # a move in the last validation window's targets only (origins up to 206)
    train, val = np.arange(63, 150), np.arange(170, 207)
    require_moves(closes, Split(train, val, np.arange(0)), 64, 4, "X")


def test_a_pinned_validation_part_is_refused_though_the_symbol_has_no_training_window():
    """windows.py:require_moves, `continue` made `return` for a part without windows: a late symbol (validation and
    test only) whose closes never move in validation went on to calibrate P(up) on nothing."""
    closes = moving(400)
    closes[100:] = closes[100]
    with pytest.raises(ValueError, match="closes of LATE do not move over its validation part"):
        require_moves(closes, Split(np.arange(0), np.arange(170, 207), np.arange(300, 396)), 64, 4, "LATE")


def test_a_dataset_records_validation_sizes_only_of_symbols_with_validation_windows():
    """windows.py:make_dataset, `if len(x)` dropped from val_sizes (a symbol that is all test added a block of 0
    windows to the validation's per-symbol sizes)."""
    config = dataclasses.replace(TINY, context_length=64, prediction_length=4)
    series = {"OLD": (moving(2000), days(0, 2000)), "LATE": (moving(210), days(1790, 2000))}
    splits = symbol_splits(series, config)
    assert len(splits["LATE"].val) == 0 and len(splits["LATE"].test) > 0
    data = make_dataset(series, config)
    assert data.val_sizes == [len(splits["OLD"].val)]


def daily_file(path: Path, rows: list[str], header: str = "timestamp,symbol,close") -> Path:
    path.write_text(header + "\n" + "".join(row + "\n" for row in rows))
    return path


def test_the_outline_of_a_file_lists_its_symbols_trimmed_and_without_blanks(tmp_path: Path):
    """bar_files.py:csv_outline, the blank symbol of a row without one listed as a symbol, or the symbols not
    trimmed (" SPY" offered as a symbol of its own: `train --csv` without --symbols then asked for it)."""
    dates = [f"2024-01-{d:02d}" for d in range(2, 12)]
    path = daily_file(
        tmp_path / "bars.csv", [f"{d}, SPY ,{i + 1}" for i, d in enumerate(dates)] + [f"{dates[0]},,9"]
    )
    assert csv_outline(path) == (("SPY",), "1d")


def test_a_file_of_one_bar_is_refused_for_its_bar_count(tmp_path: Path):
    """bar_files.py:csv_outline, a single bar let through to the spacing (an error about an interval InvestIQ does
    not take, instead of the bar count that is the trouble)."""
    path = daily_file(tmp_path / "one.csv", ["2024-01-02,1"], header="timestamp,close")
    with pytest.raises(DataError, match=r"1 bar\(s\) of one; it takes 2 or more to read an interval"):
        csv_outline(path)


def test_a_file_written_newest_first_has_the_interval_of_its_bars(tmp_path: Path):
    """bar_files.py:csv_outline, the bar times not sorted before their spacing (a file written newest first, as
    some brokers export, read as spaced minus one day: no interval)."""
    dates = [f"2024-01-{d:02d}" for d in range(20, 1, -1)]
    path = daily_file(tmp_path / "desc.csv", [f"{d},{i + 1}" for i, d in enumerate(dates)], header="Date,Close")
    assert csv_outline(path) == (("desc",), "1d")


def test_a_compressed_file_with_an_upper_case_extension_is_named_for_its_symbol():
    """bar_files.py:named_symbol, the compression's extension matched in lower case only (QQQ.csv.GZ was the bars
    of "QQQ.csv")."""
    assert named_symbol(Path("data/QQQ.csv.GZ")) == "QQQ"
    assert named_symbol(Path("data/QQQ.CSV")) == "QQQ"


def test_a_symbol_written_or_asked_with_spaces_is_the_same_symbol(tmp_path: Path):
    """bar_files.py:BySymbol and symbols_rows, the symbols not trimmed: " AAPL" and "AAPL" were two symbols (the
    file then "holds several"), and " aapl " asked found no rows."""
    path = daily_file(tmp_path / "bars.csv", ["2024-01-02,AAPL,1", "2024-01-03, AAPL,2"])
    assert load_csv(path)["close"].tolist() == [1, 2]
    assert load_csv(path, " aapl ")["close"].tolist() == [1, 2]


def test_a_yfinance_file_of_one_ticker_gets_no_symbol_column(tmp_path: Path):
    """bar_files.py:_from_yfinance_layout, a symbol column added for a single ticker (the file then answered only
    to that ticker, not to the symbol its name gives)."""
    path = tmp_path / "apple.csv"
    path.write_text("Price,Close,Open\nTicker,AAPL,AAPL\nDate,,\n2016-01-04,26.3,25.6\n2016-01-05,25.6,26.4\n")
    frame = load_csv(path, "apple")
    assert "symbol" not in frame.columns and frame["Close"].astype(float).tolist() == [26.3, 25.6]


def test_closes_that_do_not_move_count_as_neither_up_nor_down():
    """windows.py:training_rates, the down-rate counting ties (`<=`): where prices move in whole ticks, half the
    steps of this series are ties, and the Brier score's climatology took them for falls."""
    closes = np.repeat(np.arange(100.0, 300.0), 2)  # up, flat, up, flat, ...
    split = Split(np.arange(64, 300), np.arange(0), np.arange(0))  # 236 origins: even
    up, down = training_rates({"X": closes}, {"X": split}, 2)
    assert up == [0.5, 1.0] and down == [0.0, 0.0]


def test_what_the_model_saw_ends_at_the_last_target_of_any_symbol():
    """windows.py:seen_by, the last validation bar taken at the last origin rather than its last target, or the
    training end of the symbol that ends first rather than last: the bars after it, which later scoring counts as
    unseen, held targets the model had trained or been validated on."""
    stamps = interleaved()
    series = {s: (moving(1000), t) for s, t in stamps.items()}
    splits, _ = calendar_splits(stamps, 64, 4, 0.15, 0.15)
    trained, validated, _ = seen_by(series, splits, 4)
    b = stamps["B"]
    assert trained == str(np.datetime_as_string(b[int(splits["B"].train.max()) + 4], unit="s", timezone="UTC"))
    assert validated == str(np.datetime_as_string(b[int(splits["B"].val.max()) + 4], unit="s", timezone="UTC"))
    assert trained.endswith("18:00:00Z")
