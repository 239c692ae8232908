"""Training PatchTST on market bars (windows, chronological split, the model, the loop, artifacts).

    investiq train patchtst --symbols SPY QQQ AAPL --days 60 --interval 15m --epochs 50 \\
        --batch-size 64 --learning-rate 1e-4 --output-dir models/patchtst [--source yfinance|csv|sample]

Windows: an origin o uses closes[o-C+1 .. o] (C = context) to forecast closes[o+1 .. o+H]. Each
symbol's bars are split in time: train | gap | validation | gap | test, every gap at least H bars,
so that no validation or test target lies inside any training window (tests check it).
"""

from __future__ import annotations

import json
import math
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from safetensors.torch import save_file

from investiq.core.artifacts import METRICS, weights_version
from investiq.core.atomic import staged
from investiq.core.calibration import fit_slope, sigmoid
from investiq.core.errors import ArtifactError
from investiq.core.forecast_stats import MIN_BLOCKS, bootstrap_interval
from investiq.core.gaps import (
    MIN_CELL,
    MIN_CROSSING,
    MIN_LEVELS,
    GapIntervals,
    ahead,
    first_gaps,
    fit_gaps,
    gap_before,
)
from investiq.core.patchtst import LEVEL_TIE, QUANTILE_LEVELS, PatchTSTMeta, TrainConfig, config_from

WEIGHTS = "forecaster.safetensors"  # the whole Forecaster's state (network and calibration buffers)


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


MIN_VOLATILITY = 1e-6  # floor of the scale (a flat window has none): forecasts stay finite
MAX_STANDARDISED = 50.0  # inputs and training targets are clipped here (a jump after a stale, flat window)


class Forecaster(torch.nn.Module):
    """The function that is exported: closes [B, C, 1] -> (median [B, H, 1], quantiles [B, H, K],
    probability_up [B, H], volatility [B, 1]) (investiq/core/patchtst.py has the contract).

    The network (a PatchTST backbone and a linear head on all its patch embeddings, as the paper's
    forecasting head) reads the window's one-step log returns in units of sigma, the EWMA volatility
    of those returns, and answers, for every step h and quantile level q, u[h, q]: the log return to
    t+h in units of sigma * sqrt(h). Around it, fitted on the
    validation part after training (`calibrate`) and stored as buffers, so that the graph carries them:
        median    z[h] = alpha * u[h, 0.5]             alpha = 0 is the random walk
        quantile  z[h, q] = z[h] + spread * (u[h, q] - u[h, 0.5]) + offset[h, q]   (conformal offsets; 0 at
                  0.5; spread = 0: the random walk's intervals, the offsets alone scaled by the volatility)
        price     last close * exp(sigma * sqrt(h) * z)
        P(up)     sigmoid(logit(base[h]) + slope * u[h, 0.5]), kept within the range calibration saw on
                  validation; base: the training up-rate where it is at least the down-rate, or where
                  validation confirms a lower one, else the no-drift rate: 0.5 where no close ties (drift_base)
        one distribution: the quantiles are then held to P(up) (`agreeing`): P(close > last) = p puts every
                  level above 1 - p at or above the last close and every level below it at or under it, so
                  a quantile on the other side (a falling median where P(up) is 0.53) is moved to the last close
    The head starts at zero, so an untrained model forecasts the last close exactly.
    """

    ewma: torch.Tensor
    root_h: torch.Tensor
    levels: torch.Tensor
    alpha: torch.Tensor
    spread: torch.Tensor
    offsets: torch.Tensor
    base_logit: torch.Tensor
    slope: torch.Tensor
    p_low: torch.Tensor
    p_high: torch.Tensor
    held: torch.Tensor
    centred: torch.Tensor

    def __init__(self, config: TrainConfig, levels: tuple[float, ...] = QUANTILE_LEVELS) -> None:
        from transformers import PatchTSTModel

        super().__init__()
        c, h, k = config.context_length, config.prediction_length, len(levels)
        self.backbone = PatchTSTModel(_patchtst_config(config))
        patches = self.backbone.patchifier.num_patches
        self.dropout = torch.nn.Dropout(config.dropout)
        self.head = torch.nn.Linear(patches * config.d_model, h * k)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)
        self.horizon, self.median_index, self.quantile_levels = h, levels.index(0.5), levels
        ages = torch.arange(c - 2, -1, -1, dtype=torch.float64)  # of the C - 1 one-step returns, newest 0
        weights = config.vol_lambda**ages
        self.register_buffer("ewma", (weights / weights.sum()).float())
        self.register_buffer("root_h", torch.arange(1, h + 1, dtype=torch.float32).sqrt())
        self.register_buffer("levels", torch.tensor(levels, dtype=torch.float32))
        self.register_buffer("alpha", torch.zeros(()))
        self.register_buffer("spread", torch.ones(()))
        self.register_buffer("offsets", torch.zeros(h, k))
        self.register_buffer("base_logit", torch.zeros(h))
        self.register_buffer("slope", torch.zeros(()))
        self.register_buffer("p_low", torch.zeros(h))
        self.register_buffer("p_high", torch.ones(h))
        # 1: the quantiles are held to P(up) (`agreeing`), as `calibrate` sets it; 0 in an artifact calibrated
        # before the hold, whose alpha and spread were chosen without it: it serves as it was validated
        self.register_buffer("held", torch.zeros(()))
        # 1: the levels are ordered on each side of the median (`ordered`), as `calibrate` sets it; 0 in one
        # calibrated before (2026-12-06): sorted all together, as it was validated and exported (and its weights'
        # version tells the two apart: journal rows and live skill do not mix them)
        self.register_buffer("centred", torch.zeros(()))

    def standardised(self, past_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(u [B, H, K], sigma [B]): the network's raw quantiles and the window's volatility."""
        reading, sigma = self.normalise(past_values)
        return self.network(reading), sigma

    def normalise(self, past_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(reading [B, C, 1], sigma [B]): what the network reads, the window's one-step log returns in units
        of sigma (the first bar, which has no return, reads 0): stationary and free of the price level, so
        one model serves any symbol. Kept in fp32 wherever the network runs in less (openvino-bf16)."""
        steps = torch.log(past_values[:, 1:, 0] / past_values[:, :-1, 0])  # [B, C - 1]
        sigma = torch.sqrt((steps * steps) @ self.ewma).clamp_min(MIN_VOLATILITY)
        reading = (steps / sigma[:, None]).clamp(-MAX_STANDARDISED, MAX_STANDARDISED)
        return torch.nn.functional.pad(reading, (1, 0))[..., None], sigma

    def network(self, reading: torch.Tensor) -> torch.Tensor:
        """u [B, H, K]: the backbone and head on a normalised `reading` [B, C, 1]."""
        hidden = self.backbone(past_values=reading).last_hidden_state
        u: torch.Tensor = self.head(self.dropout(hidden.flatten(1)))  # from [B, 1, patches, d_model]
        return u.reshape(u.shape[0], self.horizon, -1)

    def scale(self, sigma: torch.Tensor) -> torch.Tensor:
        """sigma * sqrt(h): [B, H], the standard deviation of the log return to each step."""
        return sigma[:, None] * self.root_h[None, :]

    def forward(self, past_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.denormalise(past_values, *self.standardised(past_values))

    def denormalise(
        self, past_values: torch.Tensor, u: torch.Tensor, sigma: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The graph's OUTPUTS (median, quantiles, P(up), volatility) from the network's u and sigma: the
        calibration (shrinkage, conformal offsets, Platt slope, clamp) and prices, in fp32."""
        m = self.median_index
        centre = u[..., m : m + 1]
        p_up = torch.sigmoid(self.base_logit + self.slope * centre[..., 0])
        p_up = torch.minimum(torch.maximum(p_up, self.p_low), self.p_high)
        z = self.alpha * centre + self.spread * (u - centre) + self.offsets
        z = torch.where(self.centred > 0, ordered(z, m), torch.sort(z, dim=-1)[0])
        z = torch.where(self.held > 0, agreeing(z, self.levels, p_up), z)
        quantiles = past_values[:, -1:, :] * torch.exp(z * self.scale(sigma)[..., None])  # [B, H, K]
        return quantiles[..., m : m + 1], quantiles, p_up, sigma[:, None]


def ordered(z: torch.Tensor, m: int) -> torch.Tensor:
    """Quantiles z [..., K] ascending along the levels with the median (index m) where calibration chose it: each
    level on its side of the median (at it, if its offset crossed it), then sorted on that side. A sort of all of
    them moved a lower level's offset into the median's place where validation trended (the 0.25 level above the
    last close from step 7 on): a model serving "the random walk" called up, 0.57 % at step 12, and lost to the
    random walk when the trend turned (MAE ratio 1.015, 95% CI [1.011, 1.020]: a quant's audit)."""
    centre = z[..., m : m + 1]
    below = torch.sort(torch.minimum(z[..., :m], centre), dim=-1)[0]
    above = torch.sort(torch.maximum(z[..., m + 1 :], centre), dim=-1)[0]
    return torch.cat([below, centre, above], dim=-1)


def agreeing(z: torch.Tensor, levels: torch.Tensor, p_up: torch.Tensor) -> torch.Tensor:
    """Ascending quantiles z [B, H, K] (log returns to the last close, at `levels` [K]) held to P(up) [B, H]: a
    distribution with P(return > 0) = p has its quantiles at levels above 1 - p at or above 0, those below it at
    or under 0, and the one at 1 - p at 0. A quantile on the wrong side is moved to 0, the least change that makes
    the two one distribution; the order is kept. P(up) 0.5 makes the median the last close: it says up and down
    are as likely. (Ties, closes that do not move, only loosen this: 1 - p counts them.)"""
    threshold = 1 - p_up[..., None]
    above, below = levels > threshold + LEVEL_TIE, levels < threshold - LEVEL_TIE
    return torch.where(above, z.clamp_min(0), torch.where(below, z.clamp_max(0), torch.zeros_like(z)))


def _patchtst_config(config: TrainConfig) -> Any:
    from transformers import PatchTSTConfig

    return PatchTSTConfig(
        num_input_channels=1,
        context_length=config.context_length,
        prediction_length=config.prediction_length,
        patch_length=config.patch_length,
        patch_stride=config.patch_stride,
        d_model=config.d_model,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        ffn_dim=config.ffn_dim,
        attention_dropout=config.dropout,
        ff_dropout=config.dropout,
        scaling=None,  # the input is already in units of the window's volatility
        do_mask_input=False,
    )


def standardised_targets(
    forecaster: Forecaster, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(u [B, H, K], targets [B, H]): the network's answer and the realised log returns in its units."""
    u, sigma = forecaster.standardised(x)
    realised = torch.log(y[..., 0] / x[:, -1:, 0]) / forecaster.scale(sigma)
    return u, realised.clamp(-MAX_STANDARDISED, MAX_STANDARDISED)


def pinball(u: torch.Tensor, target: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Mean quantile (pinball) loss of u [B, H, K] at `levels` [K] against targets [B, H]."""
    error = target[..., None] - u
    return torch.mean(torch.maximum(levels * error, (levels - 1) * error))


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
    val_crossed = np.concatenate([ahead(gap, val, c, h) for _, gap, val in gaps.values()])
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


class _Loss(torch.nn.Module):
    """The pinball loss as a module, so that DistributedDataParallel can wrap the whole step."""

    def __init__(self, forecaster: Forecaster) -> None:
        super().__init__()
        self.forecaster = forecaster

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        u, target = standardised_targets(self.forecaster, x, y)
        return pinball(u, target, self.forecaster.levels)


def train(
    series: dict[str, tuple[NDArray[np.float64], NDArray[Any]]],
    config: TrainConfig,
    output_dir: Path,
    log: Callable[[str], None] = print,
    budget_s: float | None = None,
) -> dict[str, Any]:
    """Train with early stopping on the validation loss, calibrate on the validation part, write the
    artifact atomically; return metrics. With `budget_s`, no epoch starts after that many seconds
    (the best epoch so far is kept; with none finished, the untrained head: the random walk).

    Under torchrun (WORLD_SIZE > 1; `investiq train patchtst` starts it when several GPUs are
    visible) each process trains on its share of every epoch's batches through
    DistributedDataParallel (batch_size is per GPU) and rank 0 alone calibrates and writes.
    """
    from tqdm import tqdm

    torch.manual_seed(config.seed)
    rank, device, world = _device()
    if rank != 0:
        log = _silent
    data = make_dataset(series, config)
    log(f"{len(data.train[0])} training and {len(data.val[0])} validation windows on {device} (x{world})")
    net = Forecaster(config).to(device)
    model: torch.nn.Module = _Loss(net)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    x_train, y_train = (torch.from_numpy(a) for a in data.train)
    x_val, y_val = (torch.from_numpy(a) for a in data.val)
    generator = torch.Generator().manual_seed(config.seed)
    curve: list[dict[str, float]] = []
    best, best_state, stale = math.inf, None, 0
    started = time.monotonic()
    for epoch in range(1, config.epochs + 1):
        if _agree(budget_s is not None and time.monotonic() - started > budget_s, world):
            log(f"time budget of {budget_s:g} s spent: stopping before epoch {epoch}")
            break
        model.train()
        order = torch.randperm(len(x_train), generator=generator)  # the same on every rank (same seed)
        order = order[: len(order) // world * world][rank::world]  # equal shares: DDP needs equal steps
        losses = []
        batches = range(0, len(order), config.batch_size)
        bar = tqdm(
            batches,
            desc=f"epoch {epoch}/{config.epochs}",
            unit="batch",
            leave=False,
            disable=None if rank == 0 else True,
        )
        for start in bar:
            i = order[start : start + config.batch_size]
            loss = model(x_train[i].to(device), y_train[i].to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        val_loss = evaluate_loss(net, x_val, y_val, config.batch_size, device, progress=rank == 0)
        curve.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_loss": val_loss})
        log(f"epoch {epoch}: train loss {curve[-1]['train_loss']:.4f}, validation loss {val_loss:.4f}")
        if val_loss < best:
            best, stale = val_loss, 0
            best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
        else:
            stale += 1
        if _agree(stale >= config.patience, world):
            log(f"early stop: no better validation loss for {config.patience} epochs")
            break
    metrics: dict[str, Any] = {
        "config": asdict(config),
        "curve": curve,
        "best_val_loss": best,
        "epochs_run": len(curve),
        "train_windows": len(x_train),
        "val_windows": len(x_val),
    }
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
        if rank != 0:
            return metrics
    if best_state is not None:
        net.load_state_dict(best_state)
    return save(net.cpu().eval(), data, config, output_dir, metrics, log)


def baseline(
    series: dict[str, tuple[NDArray[np.float64], NDArray[Any]]],
    config: TrainConfig,
    output_dir: Path,
    reason: str,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The untrained forecaster, calibrated and saved like a trained one: the random walk with the
    window's volatility, conformal intervals and the training up-rate (what `investiq up` serves when
    training fails or runs out of time). Its artifact says why."""
    data = make_dataset(series, config)
    log(f"writing the random-walk baseline instead of a trained PatchTST: {reason}")
    metrics: dict[str, Any] = {"config": asdict(config), "curve": [], "epochs_run": 0, "baseline_reason": reason}
    return save(Forecaster(config).eval(), data, config, output_dir, metrics, log)


def save(
    forecaster: Forecaster,
    data: Dataset,
    config: TrainConfig,
    output_dir: Path,
    metrics: dict[str, Any],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Calibrate on the validation part, then write the artifact atomically; return the metrics."""
    calibration = calibrate(forecaster, data, config)
    if "baseline_reason" in metrics:
        calibration["rule"] = f"untrained baseline ({metrics['baseline_reason']}); {calibration['rule']}"
    log(calibration["rule"])
    curve = metrics["curve"]
    meta = PatchTSTMeta(
        version=weights_version(forecaster),
        context_length=config.context_length,
        prediction_length=config.prediction_length,
        interval=config.interval,
        transform="log_return",
        symbols=list(config.symbols),
        source=config.source,
        trained_until=data.trained_until,
        validated_until=data.validated_until,
        train_stats=data.stats,
        trained_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        train_config=asdict(config),
        quantile_levels=list(forecaster.quantile_levels),
        calibration=calibration,
    )
    metrics = metrics | {"version": meta.version, "calibration": calibration}
    with staged(output_dir) as out:
        save_file(forecaster.state_dict(), str(out / WEIGHTS))
        (out / WEIGHTS).chmod(0o644)  # safetensors writes 0600: another user (a container's) could not export it
        meta.save(out)
        (out / METRICS).write_text(json.dumps(metrics, indent=2) + "\n")
        plot_curve(curve, out / "training_curve.png")
    # --model-dir: the model is judged wherever it was written (the backtest's, a --output-dir), not the default's
    evaluate = shlex.join(["investiq", "evaluate", "patchtst", "--model-dir", str(output_dir)])
    log(f"saved {output_dir} (version {meta.version}); evaluate with `{evaluate}`")
    return metrics


ALPHAS = np.round(np.linspace(0.0, 1.0, 21), 2)  # the median shrinkage grid, 0 = the random walk
# P(up) is served within what this many validation windows reached at each step, at least (or 1 % of them, if
# more; a tenth of them on fewer than 200): the validation's extremes rested on 1-2 of 2,500 windows, and a slope
# kept on a saturating signal served 0.99 where the true rate was at most 0.61 (a review)
P_TAIL_WINDOWS = 20


def drift_path(window: NDArray[np.float64], h: int) -> NDArray[np.float64]:
    """The drift forecast [n, H]: the last close plus h times the mean one-step change over the context window
    [n, C] of closes (the trend extrapolated): what a median that only leans with the trend scores as."""
    last = window[:, -1]
    steps = np.arange(1, h + 1, dtype=np.float64)
    return np.asarray(last[:, None] + steps[None, :] * ((last - window[:, 0]) / (window.shape[1] - 1))[:, None])


def p_bounds(p_up: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """([H], [H]): the bounds P(up) [n, H] is served within: per step, the values at or beyond which
    P_TAIL_WINDOWS validation windows (or 1 %) fell, not the single most extreme; on fewer than 200 windows a tenth
    of them (at 40 or fewer, 20 windows were half: every P(up) became the median, a review). None: no bound."""
    n = p_up.shape[0]
    if n == 0:
        return np.zeros(p_up.shape[1:]), np.ones(p_up.shape[1:])
    beyond = min(max(P_TAIL_WINDOWS, 0.01 * n), max(1, n // 10))
    tail = beyond / n
    return np.quantile(p_up, tail, axis=0), np.quantile(p_up, 1 - tail, axis=0)


def _validation_answers(
    forecaster: Forecaster, x: NDArray[np.float32], y: NDArray[np.float32], batch: int = 256
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(u [n, H, K], standardised targets [n, H], sigma * sqrt(h) [n, H]) over windows (x, y)."""
    from tqdm import tqdm

    parts = []
    # a bar: on 100 symbols' validation windows this ran for minutes after the epoch's, without a word (an audit)
    batches = tqdm(range(0, len(x), batch), desc="calibrating", unit="batch", leave=False, disable=None)
    with torch.no_grad():
        for i in batches:
            xb, yb = torch.from_numpy(x[i : i + batch]), torch.from_numpy(y[i : i + batch])
            u, target = standardised_targets(forecaster, xb, yb)
            # the volatility alone: standardised() ran the whole network a second time for it (an audit:
            # calibration took 45 s of a 136 s training on 20 symbols of 15-minute bars)
            parts.append((u, target, forecaster.scale(forecaster.normalise(xb)[1])))
    u_all, target_all, scale_all = (torch.cat(column).double().numpy() for column in zip(*parts, strict=True))
    return u_all, target_all, scale_all


def conformal_rank(misses: NDArray[np.float64], level: float) -> NDArray[np.float64]:
    """Split conformal's quantile of misses [n, ...] along axis 0 at `level`, with its finite-sample rank: above
    the median the ceil((n + 1) level)-th smallest (a later window falls at or below it with probability
    >= level), below the floor((n + 1) level)-th (one falls below it with probability <= level), clamped to the
    sample's extremes. The plain empirical quantile (np.quantile's interpolation) covers about 1 / (n + 1) short
    at each bound: 0.7 points of an 80 % interval at 140 windows. The rank is an integer computed as one (a
    quantile of (n + 1) level / n missed it by one in 54 of n = 5..2999, float rounding; a review)."""
    n = misses.shape[0]
    exact = (n + 1) * level
    rank = math.ceil(exact - 1e-9) if level >= 0.5 else math.floor(exact + 1e-9)
    return np.asarray(np.sort(misses, axis=0)[min(max(rank, 1), n) - 1], dtype=np.float64)


def conformal(
    target: NDArray[np.float64], raw: NDArray[np.float64], levels: NDArray[np.float64], median: int
) -> NDArray[np.float64]:
    """Offsets [H, K] that make quantiles raw [n, H, K] + offset cover targets [n, H] at their levels on these
    windows (`conformal_rank` of what each misses by); 0 at the median, which stays as chosen."""
    offsets = np.stack([conformal_rank(target - raw[..., k], q) for k, q in enumerate(levels)], axis=-1)
    offsets[:, median] = 0.0
    return offsets


def quantile_loss(
    target: NDArray[np.float64], quantiles: NDArray[np.float64], levels: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Per window [n]: the pinball loss of quantiles [n, H, K] against targets [n, H], averaged over H and K."""
    miss = target[..., None] - quantiles
    return np.asarray(np.maximum(levels * miss, (levels - 1) * miss).mean(axis=(1, 2)), dtype=np.float64)


def no_drift(trained_rate: NDArray[np.float64], down_rate: NDArray[np.float64] | None) -> NDArray[np.float64]:
    """P(up) without a drift either way, per step: half of the closes that move, (up-rate + down-rate) / 2; 0.5
    where the down-rate is not known (1 - the up-rate: artifacts from before ties were told apart)."""
    return np.full_like(trained_rate, 0.5) if down_rate is None else (trained_rate + down_rate) / 2


def drift_base(
    trained_rate: NDArray[np.float64],
    up: NDArray[np.bool_],
    groups: Any,
    h: int,
    seed: int,
    down_rate: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], float, tuple[float, float], NDArray[np.float64]]:
    """P(up)'s base per step: the training up-rate (`trained_rate`, [H]) where it is at least the down-rate
    (`down_rate`) and validation does not show the no-drift rate (`no_drift`: 0.5 where no close ties) better, or
    where it is below the down-rate and validation shows it better than no drift; else the no-drift rate.
    Returns (base, Brier skill over no drift on validation, its block-bootstrap 95% interval, the skill per step).

    P(up) is judged against two constant answers: climatology, the training up-rate (its Brier skill), and
    always-up (its direction call). An up-rate at least the down-rate is both: its call is always-up's and its
    skill against climatology is 0, so it is served unless validation (`up`, [windows, H], in symbol groups cut
    at `groups`) contradicts it: a Brier skill over no drift, over every step together (one drift, seen at every
    step), whose 95% interval lies wholly below 0 (a noise up-rate of a short history, 0.6 where validation rises
    half of the time). One below the down-rate calls "down" at every origin against always-up: a claim, kept only
    where validation bears it out, over every step together and at the step itself; a one-step up-rate below 0.5
    on a rising series was a constant "down" that validation never supported (a probe on the sample data: skill
    -0.0021 at step 1). Down drifts that validation cannot confirm therefore still lose to climatology. With
    fewer than MIN_BLOCKS horizons of validation in the longest symbol (`_blocks`), validation neither confirms
    nor contradicts: an up-rate at least the down-rate is served, one below is not.

    Closes that do not move are neither up nor down. Until 2026-12-05 the up-rate was judged against 0.5: on
    prices that move in whole ticks (26 % ties, up 0.37, down 0.37) it read as a down claim, and 0.5 replaced it
    in 83 % of driftless series at step 1, 13 points off (test Brier skill -0.060 against the up-rate; a review,
    200 series of 120 validation windows). Until 2026-12-04 an up-rate above 0.5 needed validation's confirmation
    too, and the 0.5 served instead lost to climatology wherever a drift held that validation could not confirm
    at 95% (the four-symbol CSV at h12, -0.026). `python -m harness.p_up_base` compares the rules on simulated
    series, long and short."""
    neutral = no_drift(trained_rate, down_rate)
    against = np.column_stack([((trained_rate - up) ** 2).mean(axis=1), ((neutral - up) ** 2).mean(axis=1)])
    drift, drift_ci = bootstrap_interval(
        np.split(against, groups), lambda v: 1 - v[..., 0] / v[..., 1], block=h, seed=seed
    )
    neutral_brier = np.maximum(((neutral - up) ** 2).mean(axis=0), 1e-12)
    step_drift = 1 - ((trained_rate - up) ** 2).mean(axis=0) / neutral_brier
    enough = _blocks(np.diff(groups, prepend=0, append=len(up)), h) >= MIN_BLOCKS  # as calibrate's tests
    shown = enough & (drift_ci[0] > 0) & (step_drift > 0)
    kept = np.where(trained_rate >= neutral, (not enough) or drift_ci[1] >= 0, shown)
    base = np.where(kept, trained_rate, neutral)
    return base, drift, drift_ci, step_drift


def _blocks(sizes: Sequence[int] | NDArray[np.int64], h: int) -> int:
    """How many blocks of one horizon the longest symbol's validation windows make: the fewest independent
    stretches the bootstrap's intervals rest on. Under MIN_BLOCKS a test of skill is not made (it kept a network
    without skill 21 % of the time at 20 validation windows, 9 % at 40, for a nominal 2.5 %: found by a review;
    `longest_context` had suggested a context that left 42)."""
    return int(max(sizes, default=0)) // h


def served_base(
    rate: NDArray[np.float64], base: NDArray[np.float64], down: NDArray[np.float64] | None = None
) -> str:
    """What P(up)'s base is, per step, and why (drift_base), in words: for the calibration rule and the report.
    `down`: the training down-rate (not recorded before ties were told apart: 1 - rate)."""

    def steps(mask: NDArray[np.bool_]) -> str:
        return ", ".join(str(k + 1) for k in np.flatnonzero(mask))

    neutral = no_drift(rate, down)
    ties = not np.allclose(neutral, 0.5)
    name = "the no-drift rate (half of the closes that move; the others do not)" if ties else "0.5"
    fallback = np.isclose(base, neutral) & ~np.isclose(rate, neutral)
    halves = {
        "validation did not bear the up-rate out": fallback & (rate > neutral),
        f"the up-rate is below {'the down-rate' if ties else '0.5'} and validation did not confirm it": fallback
        & (rate < neutral),
    }
    if bool(np.all(np.isclose(base, neutral))) and bool(np.any(fallback)):
        return f"{name} (" + "; ".join(f"step {steps(m)}: {why}" for why, m in halves.items() if m.any()) + ")"
    short = "the no-drift rate" if ties else "0.5"
    parts = [f"{short} at step {steps(m)}: {why}" for why, m in halves.items() if m.any()]
    confirmed = ~np.isclose(base, neutral) & (rate < neutral)
    if confirmed.any():
        parts.append(f"below {short} at step {steps(confirmed)}, as validation confirmed")
    return "the training up-rate (climatology" + "".join(f"; {p}" for p in parts) + ")"


def calibrate(forecaster: Forecaster, data: Dataset, config: TrainConfig) -> dict[str, Any]:
    """Fit what sits around the network on the validation part only, into the forecaster's buffers:
    the median's shrinkage alpha, the conformal quantile offsets, the P(up) slope and its bounds.

    Skill must be shown, not assumed: alpha > 0 is kept only if the validation MAE ratio to the random
    walk has a 95% block-bootstrap interval wholly below 1, a training up-rate below the down-rate as P(up)'s base
    only if its Brier skill over no drift has one wholly above 0 (else no drift; drift_base), the P(up) slope only
    if the Brier
    skill over that base has one wholly above 0, and the network's spread of the quantiles only if its
    pinball loss has a ratio to the random walk's intervals (the conformal offsets alone, scaled by the
    volatility) wholly below 1; otherwise the model serves the random walk's median, the base and the
    random walk's intervals (calibrated either way). P(up) is chosen first: the median and the quantiles are held
    to it (`agreeing`), and alpha and the spread are judged as held, as they are served. Returns what was chosen
    and why.
    """
    h = config.prediction_length
    u, target, s = _validation_answers(forecaster, *data.val)
    m = forecaster.median_index
    levels = forecaster.levels.double().numpy()
    groups = np.cumsum(data.val_sizes)[:-1]
    blocks = _blocks(data.val_sizes, h)
    enough = blocks >= MIN_BLOCKS  # else the percentile intervals are too narrow to show skill (MIN_BLOCKS)

    x_up = np.asarray(data.train_up_rate)  # [H] training up-rate, over every training origin
    x_down = np.asarray(data.train_down_rate) if data.train_down_rate else 1 - x_up
    up = target > 0
    base, drift, drift_ci, step_drift = drift_base(
        np.clip(x_up, 0.01, 0.99), up, groups, h, config.seed, np.clip(x_down, 0.01, 0.99)
    )
    base_logit = np.log(base / (1 - base))
    slope_fit = fit_slope(u[..., m], up, np.broadcast_to(base_logit, up.shape))
    raw = sigmoid(base_logit + slope_fit * u[..., m])
    p_fit = np.clip(raw, *p_bounds(raw))  # judged as it would be served
    squared = np.column_stack([((p_fit - up) ** 2).mean(axis=1), ((base - up) ** 2).mean(axis=1)])
    skill, skill_ci = bootstrap_interval(
        np.split(squared, groups), lambda v: 1 - v[..., 0] / v[..., 1], block=h, seed=config.seed
    )
    slope = slope_fit if enough and skill_ci[0] > 0 else 0.0
    raw = sigmoid(base_logit + slope * u[..., m])
    low, high = p_bounds(raw)
    p_up = np.clip(raw, low, high)  # as served
    p_served = torch.from_numpy(p_up)  # the quantiles agree with it (`agreeing`), so it is chosen first

    def held(z: NDArray[np.float64], at: slice = slice(None)) -> NDArray[np.float64]:
        """Ascending quantiles z [n, H, K] at levels[at], held to the P(up) served on these windows."""
        return agreeing(torch.from_numpy(np.ascontiguousarray(z)), torch.from_numpy(levels[at]), p_served).numpy()

    def as_served(z: NDArray[np.float64]) -> NDArray[np.float64]:
        """Quantiles z [n, H, K], ordered around their median and held to P(up), as the graph serves them."""
        return held(ordered(torch.from_numpy(np.ascontiguousarray(z)), m).numpy())

    def median(alpha: float) -> NDArray[np.float64]:
        """[n, H]: the served median in units of sigma sqrt(h), alpha * u held to P(up)."""
        return held(alpha * u[..., m : m + 1], slice(m, m + 1))[..., 0]

    closes = data.val[0][..., 0].astype(np.float64)  # [n, C]
    trend = drift_path(closes, h) / closes[:, -1:]  # the drift forecast, as a share of the last close

    def mae_columns(alpha: float) -> NDArray[np.float64]:
        """Per window: mean over the horizon of |forecast/actual - 1| for the model, the random walk and the drift
        forecast."""
        actual = np.exp(s * target)
        model = np.abs(np.exp(s * median(alpha)) - actual).mean(axis=1)
        return np.column_stack([model, np.abs(1 - actual).mean(axis=1), np.abs(trend - actual).mean(axis=1)])

    scores = [float(mae_columns(a).mean(axis=0)[0]) for a in ALPHAS]
    chosen = float(ALPHAS[int(np.argmin(scores))])
    columns = np.split(mae_columns(chosen), groups)
    ratio, ratio_ci = bootstrap_interval(columns, lambda v: v[..., 0] / v[..., 1], block=h, seed=config.seed)
    # Beating the random walk on a validation part that trends is what a median leaning with the trend does: it
    # lost to the random walk when the trend turned (kept in 14 of 40 simulated bull validations before a fall,
    # then significantly worse in 8: a review). Kept only with skill beyond the drift forecast's too.
    beyond, beyond_ci = bootstrap_interval(columns, lambda v: v[..., 0] / v[..., 2], block=h, seed=config.seed)
    alpha = chosen if enough and ratio_ci[1] < 1 and beyond_ci[1] < 1 else 0.0
    moved = float(np.mean(median(alpha) != alpha * u[..., m])) if alpha else 0.0

    centre = alpha * u[..., m : m + 1]
    candidates = [centre + (u - u[..., m : m + 1]), np.broadcast_to(centre, u.shape)]  # the network's, the RW's
    offsets_of = [conformal(target, raw, levels, m) for raw in candidates]
    losses = np.column_stack(
        [
            quantile_loss(target, as_served(raw + offsets), levels)
            for raw, offsets in zip(candidates, offsets_of, strict=True)
        ]
    )
    spread_ratio, spread_ci = bootstrap_interval(
        np.split(losses, groups), lambda v: v[..., 0] / v[..., 1], block=h, seed=config.seed
    )
    spread = 1.0 if enough and spread_ci[1] < 1 else 0.0
    offsets = offsets_of[0] if spread else offsets_of[1]
    served = as_served(candidates[0 if spread else 1] + offsets)
    gaps, gap_rule = gap_calibration(data, target, served, m, levels)

    with torch.no_grad():
        forecaster.alpha.fill_(alpha)
        forecaster.spread.fill_(spread)
        forecaster.offsets.copy_(torch.from_numpy(offsets).float())
        forecaster.base_logit.copy_(torch.from_numpy(base_logit).float())
        forecaster.slope.fill_(slope)
        forecaster.held.fill_(1.0)
        forecaster.centred.fill_(1.0)
        forecaster.p_low.copy_(torch.from_numpy(low).float())
        forecaster.p_high.copy_(torch.from_numpy(high).float())
    against = (
        f"validation MAE ratio to the random walk {ratio:.4f}, 95% CI [{ratio_ci[0]:.4f}, {ratio_ci[1]:.4f}], and "
        f"to the drift forecast {beyond:.4f}, 95% CI [{beyond_ci[0]:.4f}, {beyond_ci[1]:.4f}]"
    )
    median_rule = (
        f"median shrunk by alpha = {alpha:g} and held to P(up) (the last close at {moved:.1%} of validation "
        f"steps; {against})"
        if alpha > 0
        else f"median = the random walk: the best shrinkage (alpha = {chosen:g}) gave a {against}: not both "
        "wholly below 1"
    )
    rate = np.clip(x_up, 0.01, 0.99)
    evidence = (
        f"validation Brier skill over no drift {drift:+.4f}, 95% CI [{drift_ci[0]:+.4f}, {drift_ci[1]:+.4f}]"
    )
    base_rule = f"{served_base(rate, base, np.clip(x_down, 0.01, 0.99))} ({evidence})"
    p_rule = (
        f"P(up) slope {slope:.3g} over {base_rule} (validation Brier skill {skill:+.4f}, "
        f"95% CI [{skill_ci[0]:+.4f}, {skill_ci[1]:+.4f}])"
        if slope > 0
        else f"P(up) = {base_rule}; the best slope ({slope_fit:.3g}) gave a validation Brier skill of "
        f"{skill:+.4f}, 95% CI [{skill_ci[0]:+.4f}, {skill_ci[1]:+.4f}], not wholly above 0"
    )
    spread_rule = (
        f"quantiles: the network's spread, conformal (validation pinball loss ratio to the random walk's "
        f"intervals {spread_ratio:.4f}, 95% CI [{spread_ci[0]:.4f}, {spread_ci[1]:.4f}])"
        if spread
        else f"quantiles: the random walk's (volatility-scaled, conformal): the network's spread gave a "
        f"validation pinball loss ratio of {spread_ratio:.4f}, 95% CI [{spread_ci[0]:.4f}, {spread_ci[1]:.4f}], "
        "not wholly below 1"
    )
    too_few = (
        ""
        if enough
        else f", too few to show skill ({blocks} horizons in the longest symbol's, {MIN_BLOCKS} needed: nothing "
        "of the network is kept, and an up-rate below 0.5 is not confirmed)"
    )
    return {
        "alpha": alpha,
        "alpha_best": chosen,
        "spread": spread,
        "val_pinball_ratio": spread_ratio,
        "val_pinball_ratio_ci95": list(spread_ci),
        "val_mae_ratio": ratio,
        "val_mae_ratio_ci95": list(ratio_ci),
        "val_mae_ratio_to_drift": beyond,
        "val_mae_ratio_to_drift_ci95": list(beyond_ci),
        "val_median_held": moved,
        "slope": slope,
        "slope_best": slope_fit,
        "val_brier_skill": skill,
        "val_brier_skill_ci95": list(skill_ci),
        "base_up": [float(b) for b in base],
        "training_up_rate": [float(b) for b in x_up],
        "training_down_rate": [float(b) for b in x_down],
        "val_drift_skill": drift,
        "val_drift_skill_ci95": list(drift_ci),
        "val_drift_skill_per_step": [float(d) for d in step_drift],
        "p_bounds": [[float(lo), float(hi)] for lo, hi in zip(p_up.min(axis=0), p_up.max(axis=0), strict=True)],
        "val_windows": len(u),
        "val_blocks": blocks,
        "gaps": gaps,
        "rule": f"calibrated on {len(u)} validation windows{too_few}: {median_rule}; {p_rule}; {spread_rule}"
        + gap_rule,
    }


def gap_calibration(
    data: Dataset, target: NDArray[np.float64], z: NDArray[np.float64], m: int, levels: NDArray[np.float64]
) -> tuple[dict[str, Any], str]:
    """(calibration["gaps"], the rule's words): a gap's variance and the served quantiles' factors per gaps
    crossed, step and level, fitted on the validation windows (investiq/core/gaps.py; z [n, H, K], the served
    quantiles in units of sigma sqrt(h)). ({}, "") where no validation window shows regular sessions: the pooled
    intervals serve."""
    crossed = data.val_crossed
    if crossed is None or not (crossed >= 0).all(axis=1).any():
        return {}, ""
    events = data.val_events if data.val_events is not None else np.full_like(crossed, -1)
    fitted = fit_gaps(target, z, m, levels, crossed, events)
    if fitted is None:
        few = f"fewer than {MIN_CROSSING} validation windows cross a gap"
        return {}, f"; intervals pooled over places in a session: {few}"
    rho, factors, counts = fitted
    h = factors.shape[1]
    top = factors[..., int(np.argmin(np.abs(levels - 0.9)))]  # the 80 % interval's upper bound's
    rule = (
        f"; intervals by the gaps in the bars a path crosses (validation's factors for each step's commonest case "
        f"and where the paths cross {MIN_CELL} different gaps or more, per level on {MIN_LEVELS} windows or gaps, "
        "else from a gap's variance, "
        f"{rho:.3g} bars'): the 0.9 quantile's x{top[0].min():.2f}-{top[0].max():.2f} crossing none, "
        f"x{top[1, 0]:.2f} at step 1 and x{top[1, h - 1]:.2f} at step {h} across one"
    )
    return GapIntervals(rho, factors).record(counts), rule


def _device() -> tuple[int, torch.device, int]:
    """(rank, device, world size): torchrun's process group when WORLD_SIZE > 1, else one process."""
    import os

    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    if world == 1:
        return 0, torch.device("cuda" if cuda else "cpu"), 1
    import torch.distributed as dist

    dist.init_process_group("nccl" if cuda else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    return dist.get_rank(), device, world


def _silent(_: str) -> None:
    """The log of ranks other than 0."""


def _agree(stop: bool, world: int) -> bool:
    """Rank 0's early-stopping decision, for every rank (they must leave the loop together)."""
    if world == 1:
        return stop
    import torch.distributed as dist

    flag = [stop]
    dist.broadcast_object_list(flag, src=0)
    return bool(flag[0])


def evaluate_loss(
    model: Forecaster,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    device: torch.device,
    progress: bool = False,
) -> float:
    """The mean pinball loss over (x, y), in eval mode; with a progress bar where `progress` (validation windows
    are never thinned: on 100 symbols they took as long as the epoch, silent, an audit)."""
    from tqdm import tqdm

    model.eval()
    total = 0.0
    starts = range(0, len(x), batch_size)
    with torch.no_grad():
        for start in tqdm(
            starts, desc="validation loss", unit="batch", leave=False, disable=None if progress else True
        ):
            xb, yb = x[start : start + batch_size].to(device), y[start : start + batch_size].to(device)
            u, target = standardised_targets(model, xb, yb)
            total += float(pinball(u, target, model.levels)) * len(xb)
    return total / len(x)


def load_forecaster(directory: Path) -> tuple[Forecaster, PatchTSTMeta]:
    from safetensors.torch import load_file

    meta = PatchTSTMeta.load(directory)
    meta.require_forecaster(directory)
    path = directory / WEIGHTS
    if not path.is_file():
        raise ArtifactError(f"no weights at {path}: run `investiq train patchtst` again")
    forecaster = Forecaster(config_from(meta.train_config), tuple(meta.quantile_levels))
    state = load_file(str(path))
    state.setdefault("spread", torch.ones(()))  # saved before the spread was chosen: the network's, as then
    state.setdefault("held", torch.zeros(()))  # calibrated before the hold (2026-12-04): served as validated
    state.setdefault("centred", torch.zeros(()))  # calibrated before the levels were ordered around the median
    forecaster.load_state_dict(state)
    return forecaster.eval(), meta


@dataclass(frozen=True)
class Forecast:
    """The graph's outputs for n windows, as float64 arrays (see Forecaster)."""

    median: NDArray[np.float64]  # [n, H] closes
    quantiles: NDArray[np.float64]  # [n, H, K] closes at the artifact's quantile_levels
    probability_up: NDArray[np.float64]  # [n, H]
    volatility: NDArray[np.float64]  # [n] one-step log-return volatility


def predict(forecaster: Forecaster, x: NDArray[np.float32], batch: int = 256) -> Forecast:
    """Forecasts for windows x [n, C, 1] of closes, `batch` at a time."""
    parts = []
    with torch.no_grad():
        for start in range(0, len(x), batch):
            parts.append([t.double().numpy() for t in forecaster(torch.from_numpy(x[start : start + batch]))])
    median, quantiles, p_up, sigma = (np.concatenate(column) for column in zip(*parts, strict=True))
    return Forecast(median[..., 0], quantiles, p_up, sigma[:, 0])


def plot_curve(curve: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    epochs = [c["epoch"] for c in curve]
    ax.plot(epochs, [c["train_loss"] for c in curve], marker="o", label="train")
    ax.plot(epochs, [c["val_loss"] for c in curve], marker="o", label="validation")
    ax.set(
        xlabel="epoch",
        ylabel="pinball loss (volatility units)",
        title="PatchTST training",
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
