"""Windows of market bars for PatchTST: the chronological split of each symbol's bars, the windows and the pooled
dataset that training and calibration read (numpy and pandas only).

Windows: an origin o uses closes[o-C+1 .. o] (C = context) to forecast closes[o+1 .. o+H]. Each
symbol's bars are split in time: train | gap | validation | gap | test, every gap at least H bars,
so that no validation or test target lies inside any training window (tests check it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from investiq.core.forecast_stats import MIN_BLOCKS
from investiq.core.gaps import first_gaps, gap_before, window_ahead
from investiq.core.patchtst import TrainConfig


@dataclass(frozen=True)
class Split:
    """Origins (bar indices) of each part for one series of n bars."""

    train: NDArray[np.int64]
    val: NDArray[np.int64]
    test: NDArray[np.int64]


class TooFewBars(ValueError):
    """A series too short for the split: `bars` of it, about `need` needed. The message's remedy names
    `investiq train`'s options; other callers say their own. `enough`: the symbols of a multi-symbol run
    that have the bars (empty for one series)."""

    def __init__(self, message: str, bars: int, need: int, enough: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.bars, self.need, self.enough = bars, need, enough


def split_origins(n: int, context: int, horizon: int, val_fraction: float, test_fraction: float) -> Split:
    """train origins o: o + H < t_val - H  (targets end a full horizon before validation starts);
    validation: t_val <= o, o + H < t_test - H; test: t_test <= o <= n - 1 - H."""
    t_test = int(n * (1 - test_fraction))
    t_val = int(n * (1 - test_fraction - val_fraction))
    split = _parts(n, context, horizon, t_val, t_test)
    if len(split.train) == 0 or len(split.val) == 0 or len(split.test) == 0:
        need = int((context + 6 * horizon) / (1 - val_fraction - test_fraction))
        raise TooFewBars(
            f"{n} bars are too few for context {context}, horizon {horizon} and the split "
            f"({len(split.train)} train, {len(split.val)} validation, {len(split.test)} test windows): fetch more "
            f"history (at least ~{need} bars: a longer --days, or a longer file) or lower --context-length",
            n,
            need,
        )
    return split


def _parts(n: int, context: int, horizon: int, t_val: int, t_test: int) -> Split:
    """The origins of each part of n bars whose validation starts at bar t_val and test at t_test."""
    first = context - 1
    train = np.arange(first, max(first, t_val - 2 * horizon))
    val = np.arange(max(t_val, first), max(t_val, t_test - 2 * horizon))
    test = np.arange(max(t_test, first), n - horizon)
    return Split(train, val, test)


def calendar_splits(
    stamps: dict[str, NDArray[Any]], context: int, horizon: int, val_fraction: float, test_fraction: float
) -> tuple[dict[str, Split], dict[str, TooFewBars]]:
    """(each symbol's split at dates shared by all, the symbols too short for any window). Validation starts at
    the bar time below which 1 - val - test of all the symbols' bars lie, test at the one below which 1 - test
    lie. Markets move together, so a split of each symbol at its own dates let a symbol validate on days another
    trained on (symbols of different spans: 34 % of the validation windows of the committed four-symbol CSV
    until 2026-12-04), and the validation that decides what is served flattered the network. A symbol may then
    have no window in a part (a short series that starts late is all test); each part needs one in some symbol,
    else TooFewBars. One series splits as split_origins does."""
    if len(stamps) == 1:
        ((symbol, only),) = stamps.items()
        try:
            return {symbol: split_origins(len(only), context, horizon, val_fraction, test_fraction)}, {}
        except TooFewBars as exc:
            return {}, {symbol: exc}
    if not stamps:
        return {}, {}
    times = {s: _utc_naive(t) for s, t in stamps.items()}
    pooled = np.sort(np.concatenate(list(times.values())))
    cuts = [
        pooled[min(int(len(pooled) * (1 - f)), len(pooled) - 1)]
        for f in (test_fraction + val_fraction, test_fraction)
    ]
    splits, short = {}, {}
    for symbol, t in times.items():
        split = _parts(len(t), context, horizon, *(int(np.searchsorted(t, cut)) for cut in cuts))
        if len(split.train) + len(split.val) + len(split.test):
            splits[symbol] = split
        else:
            short[symbol] = TooFewBars(f"{symbol}: {len(t)} bars", len(t), context + 2 * horizon)  # one window
    for part, name in (("train", "training"), ("val", "validation"), ("test", "test")):
        if splits and not any(len(getattr(split, part)) for split in splits.values()):
            raise TooFewBars(
                f"no symbol has a {name} window at the dates the split shares ({_iso(cuts[0])} validation, "
                f"{_iso(cuts[1])} test): give symbols of similar spans, or more history",
                min(len(t) for t in times.values()),
                int((context + 6 * horizon) / (1 - val_fraction - test_fraction)),
                (),  # no symbol has the bars: together they have none of this part
            )
    return splits, short


def _utc_naive(stamps: NDArray[Any]) -> NDArray[np.datetime64]:
    """Bar times as UTC datetime64[ns] without a zone (a naive time is taken as UTC), in order."""
    times = pd.DatetimeIndex(stamps)
    times = times.tz_convert("UTC").tz_localize(None) if times.tz is not None else times
    return np.asarray(times.as_unit("ns").to_numpy())


def later_than(stamps: NDArray[Any], origins: NDArray[np.int64], after: str) -> NDArray[np.int64]:
    """The `origins` whose bar time (`stamps`) is later than `after` (ISO time; a naive one is UTC)."""
    cutoff = pd.Timestamp(after)
    cutoff = cutoff.tz_convert("UTC").tz_localize(None) if cutoff.tzinfo else cutoff
    times = pd.DatetimeIndex(stamps)
    times = times.tz_convert("UTC").tz_localize(None) if times.tz is not None else times
    kept: NDArray[np.int64] = origins[np.asarray(times[origins] > cutoff)]
    return kept


def windows(
    closes: NDArray[np.float64], origins: NDArray[np.int64], context: int, horizon: int
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """(inputs [n, context, 1], targets [n, horizon, 1]) in prices, for the given origins.

    Rows of a sliding view of the closes in float32: only the windows themselves are allocated (an index [n, C]
    of int64 and a float64 gather beside them took about 7 KB a bar, 1.7 GB for 200k one-minute bars; a review)."""
    prices = np.asarray(closes, dtype=np.float32)
    inputs = np.lib.stride_tricks.sliding_window_view(prices, context)[origins - context + 1]
    targets = np.lib.stride_tricks.sliding_window_view(prices, horizon)[origins + 1]
    return inputs[..., None], targets[..., None]


def train_stats(closes: NDArray[np.float64], train_origins: NDArray[np.int64], horizon: int) -> dict[str, float]:
    """Statistics of one-step log returns over the bars the training windows cover, and nothing later."""
    last = int(train_origins.max()) + horizon
    r = np.diff(np.log(closes[: last + 1]))
    return {"log_return_mean": float(r.mean()), "log_return_std": float(r.std()), "bars": float(last + 1)}


@dataclass
class Dataset:
    """Pooled windows of every symbol, plus what the artifact records about them."""

    train: tuple[NDArray[np.float32], NDArray[np.float32]]
    val: tuple[NDArray[np.float32], NDArray[np.float32]]
    stats: dict[str, float] = field(default_factory=dict)
    trained_until: str = ""
    val_sizes: list[int] = field(default_factory=list)  # validation windows per symbol, in time order
    validated_until: str = ""
    # [validation windows, H]: the gaps each path is expected to cross, from its window (investiq/core/gaps.py),
    # and the time of the first gap it really crosses (-1: none)
    val_crossed: NDArray[np.int64] | None = None
    val_events: NDArray[np.int64] | None = None
    # [H]: the share of up moves by each step over every training origin (not only the windows trained on, which
    # --window-stride thins): P(up)'s base, and the Brier score's climatology
    train_up_rate: list[float] = field(default_factory=list)
    train_down_rate: list[float] = field(default_factory=list)  # the same, of down moves: the rest are ties


def make_dataset(series: dict[str, tuple[NDArray[np.float64], NDArray[Any]]], config: TrainConfig) -> Dataset:
    """series: symbol -> (closes [n], timestamps [n]). Windows pooled over symbols (one univariate model)."""
    parts: dict[str, list[tuple[NDArray[np.float32], NDArray[np.float32]]]] = {"train": [], "val": []}
    c, h = config.context_length, config.prediction_length
    splits = symbol_splits(series, config)
    for symbol, (closes, _) in series.items():
        split = splits[symbol]
        require_moves(closes, split, c, h, symbol)
        parts["train"].append(windows(closes, split.train[:: config.window_stride], c, h))
        parts["val"].append(windows(closes, split.val, c, h))
    stack = {k: (np.concatenate([x for x, _ in v]), np.concatenate([y for _, y in v])) for k, v in parts.items()}
    sizes = [len(x) for x, _ in parts["val"] if len(x)]
    trained_until, validated_until, stats = seen_by(series, splits, h)
    gaps = {s: (stamps, gap_before(stamps), splits[s].val) for s, (_, stamps) in series.items()}
    # what each window shows of its gaps ahead, as the gateway reads it from the window alone (window_ahead);
    # the gaps it then crosses (val_events) from the whole series, which holds them
    val_crossed = np.concatenate([window_ahead(stamps, val, c, h) for stamps, _, val in gaps.values()])
    val_events = np.concatenate([first_gaps(stamps, gap, val, h) for stamps, gap, val in gaps.values()])
    up_rate, down_rate = training_rates({s: closes for s, (closes, _) in series.items()}, splits, h)
    return Dataset(
        stack["train"],
        stack["val"],
        stats,
        trained_until,
        sizes,
        validated_until,
        val_crossed,
        val_events,
        up_rate,
        down_rate,
    )


def training_up_rate(series: dict[str, NDArray[np.float64]], splits: dict[str, Split], h: int) -> list[float]:
    """Share of up moves per horizon step over every training origin of these series, pooled: P(up)'s base and the
    Brier score's climatology (training records them; evaluation recomputes them for an artifact without)."""
    return training_rates(series, splits, h)[0]


def training_rates(
    series: dict[str, NDArray[np.float64]], splits: dict[str, Split], h: int
) -> tuple[list[float], list[float]]:
    """(share of up moves, share of down moves) per horizon step over every training origin, pooled; a close that
    does not move is neither, so the two sum to less than 1 where prices move in whole ticks."""
    moves = []
    for symbol, closes in series.items():
        train = splits[symbol].train if symbol in splits else np.arange(0)  # too short for any window: none
        moves.append(np.sign(closes[train[:, None] + np.arange(1, h + 1)] - closes[train][:, None]))
    pooled = np.concatenate(moves)
    return [float(v) for v in (pooled > 0).mean(axis=0)], [float(v) for v in (pooled < 0).mean(axis=0)]


def seen_by(
    series: dict[str, tuple[NDArray[np.float64], NDArray[Any]]], splits: dict[str, Split], horizon: int
) -> tuple[str, str, dict[str, float]]:
    """What an artifact records of the bars its model saw: the last bar any training window reaches and the last
    any validation window reaches (trained_until and validated_until), and each symbol's training statistics
    (those of the symbols with training windows)."""
    trained, validated, stats = [], [], {}
    for symbol, (closes, stamps) in series.items():
        split = splits[symbol]
        if len(split.train):
            trained.append(_iso(stamps[int(split.train.max()) + horizon]))
            stats.update({f"{symbol}.{k}": v for k, v in train_stats(closes, split.train, horizon).items()})
        if len(split.val):
            validated.append(_iso(stamps[int(split.val.max()) + horizon]))
    return max(trained), max(validated), stats


def symbol_splits(
    series: dict[str, tuple[NDArray[np.float64], NDArray[Any]]], config: TrainConfig
) -> dict[str, Split]:
    """Each symbol's split (calendar_splits). TooFewBars naming every symbol too short for it, all at once: a user
    who leaves out one short symbol should not meet the next one on the following run."""
    c, h, fractions = config.context_length, config.prediction_length, (config.val_fraction, config.test_fraction)
    splits, short = calendar_splits({s: stamps for s, (_, stamps) in series.items()}, c, h, *fractions)
    if short:
        raise too_few_bars(short, [s for s in series if s in splits], config)
    return splits


def too_few_bars(short: dict[str, TooFewBars], enough: list[str], config: TrainConfig) -> TooFewBars:
    """One TooFewBars for the symbols in `short` (those in `enough` have the bars): each with its bar count
    and the bars needed, then the ways out, `investiq train`'s options: leave them out (when others
    remain), a shorter --context-length (when one fits), or more history."""
    c, h = config.context_length, config.prediction_length
    counts = "; ".join(f"{symbol} has {exc.bars} bars, ~{exc.need} needed" for symbol, exc in short.items())
    fewest = min(exc.bars for exc in short.values())
    ways = []
    if enough:
        them = "it" if len(short) == 1 else "them"
        ways.append(f'leave {them} out with --symbols "{" ".join(enough)}"')
    fits = longest_context(fewest, config)
    if fits is not None:
        ways.append(f"lower --context-length to {fits} or less (the model then sees fewer bars)")
    ways.append("fetch more history (a longer --days, or a longer file)")
    return TooFewBars(
        f"too few bars for context {c}, horizon {h} and the split: {counts}; " + ", or ".join(ways),
        fewest,
        max(exc.need for exc in short.values()),
        tuple(enough),
    )


def longest_context(n: int, config: TrainConfig) -> int | None:
    """The longest context (shorter than config's, at least a patch) that splits n bars with MIN_BLOCKS horizons of
    training and of validation windows (calibration keeps nothing on fewer: `_blocks`); None if none does. Any
    split at all was suggested: 90 days of hourly bars got a context that left one training window and 42
    validation windows, on which no skill can be shown."""
    h = config.prediction_length
    for context in range(config.context_length - 1, config.patch_length - 1, -1):
        try:
            split = split_origins(n, context, h, config.val_fraction, config.test_fraction)
        except TooFewBars:
            continue
        if min(len(split.train), len(split.val)) >= MIN_BLOCKS * h:
            return context
    return None


def require_moves(closes: NDArray[np.float64], split: Split, context: int, horizon: int, symbol: str) -> None:
    """ValueError when the closes that the training or the validation windows span never move: a pinned or
    halted price has no return to learn from, and a flat validation part would calibrate P(up) on nothing (a
    model trained so answered any window with P(up) 0.01 and wrote NaN into its artifact)."""
    for part, origins in (("training", split.train), ("validation", split.val)):
        if not len(origins):
            continue  # a symbol without windows in this part (calendar_splits)
        spanned = closes[int(origins.min()) - context + 1 : int(origins.max()) + horizon + 1]
        if np.all(spanned == spanned[0]):
            raise ValueError(
                f"the closes of {symbol} do not move over its {part} part ({len(spanned)} bars at "
                f"{spanned[0]:g}): nothing to learn from; leave {symbol} out, or train on a file where it trades"
            )


def _iso(stamp: Any) -> str:
    if isinstance(stamp, np.datetime64):
        return str(np.datetime_as_string(stamp, unit="s", timezone="UTC"))
    return str(stamp)
