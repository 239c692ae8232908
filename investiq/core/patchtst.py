"""The PatchTST artifact: what training and export write and every consumer reads.

A trained model directory (`models/patchtst/`) and the exported version directory
(`model_repository/patchtst/<n>/`, investiq/core/versions.py) both hold `artifact.json` (this
contract); the export adds `model.onnx`, one graph from raw closes to a probabilistic forecast:

    past_values        fp32 [batch, context, 1]   closes, oldest first (prices, > 0)
 -> prediction_outputs fp32 [batch, horizon, 1]   median forecast closes
    quantiles          fp32 [batch, horizon, K]   forecast closes at QUANTILE_LEVELS (K of them, ascending)
    probability_up     fp32 [batch, horizon]      P(close[t+h] > close[t]), calibrated on validation bars
    volatility         fp32 [batch, 1]            one-step log-return volatility (EWMA) the forecast scales by

The formulation (training/forecaster.py) forecasts log returns relative to the last close in units of
that volatility: an untrained model, or one whose skill the validation part does not confirm, is
the random walk exactly (median = last close) with intervals of the empirical-volatility random
walk and P(up) = the training period's up-rate. The median and the quantiles are one distribution with P(up):
a quantile at a level above 1 - P(up) is at or above the last close, one below it at or under it. Log returns,
scaling and calibration are all inside
the graph, so a consumer sends raw closes and gets prices and probabilities back; one thing is not: where the
training bars had gaps (nights, weekends), `calibration["gaps"]` holds factors on the quantiles for the gaps a
path crosses, which the gateway and the evaluation apply where they know the window's bar times
(investiq/core/gaps.py). Input checks and
the direction/confidence rule live here only; the gateway, the evaluation and the Triton adapter
all call them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from investiq.core.artifacts import load_meta, save_meta
from investiq.core.errors import ArtifactError, InvalidInputError

PATCHTST = "patchtst"  # the model's name in the Triton repository, the journal and the API
RANDOM_WALK = "random_walk"  # what a PatchTST whose skill validation did not confirm is called when served
ONNX_FILE = "model.onnx"
INPUT = "past_values"
OUTPUT = "prediction_outputs"  # the median path
QUANTILES = "quantiles"
PROBABILITY_UP = "probability_up"
VOLATILITY = "volatility"
OUTPUTS = (OUTPUT, QUANTILES, PROBABILITY_UP, VOLATILITY)  # the graph's outputs, in this order
QUANTILE_LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)  # 0.5 is the median; 80% = 0.1-0.9, 90% = 0.05-0.95
Transform = Literal["log_return"]  # what the network forecasts: log returns to the last close
TRAIN_AND_EXPORT = "run `investiq train patchtst`, then `investiq export patchtst`"
FLAT_BAND = 1e-4  # |predicted horizon return| below 1 bp is called flat
# A quantile level within this of 1 - P(up) is that probability's own quantile, held at the last close
# (training/forecaster.py `agreeing`); BF16 validation pads the levels it does not compare by it
LEVEL_TIE = 1e-5


class PriceInputError(InvalidInputError):
    """Closes that cannot be forecast from; the message says what is wrong and what is needed."""


# Every 8th training window, for `investiq up`'s quick model and the backtest's price filter: daily windows overlap
# heavily, and shorter epochs let a time budget stop training between epochs (with every window, one epoch of the
# sample took 6.6 minutes on 2 busy cores).
QUICK_WINDOW_STRIDE = 8


@dataclass(frozen=True)
class TrainConfig:
    """How a PatchTST is trained; saved in its artifact (`train_config`) so that a retrain repeats it.

    The data fields have no default here: they come from Settings (price_source, price_symbols,
    price_days, price_interval) or the command line, so that one default serves `up`, `train` and
    `retrain` alike. The model and optimisation fields are the defaults of `investiq train patchtst`."""

    symbols: tuple[str, ...]
    source: str  # yfinance | csv | sample
    days: int
    interval: str
    csv_path: str | None = None  # the file of a csv source, so that evaluate and retrain read it again
    context_length: int = 512
    prediction_length: int = 12
    # PatchTST/64 of the paper: patches of 16 with stride 8, 3 layers of d_model 128, 16 heads.
    patch_length: int = 16
    patch_stride: int = 8
    d_model: int = 128
    num_layers: int = 3
    num_heads: int = 16
    ffn_dim: int = 256
    dropout: float = 0.2
    vol_lambda: float = 0.94  # EWMA decay of the volatility that scales the forecast (RiskMetrics' daily value)
    epochs: int = 50
    batch_size: int = 64
    learning_rate: float = 1e-4
    patience: int = 5  # epochs without a better validation loss before stopping
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    window_stride: int = 1  # take every k-th origin for training (daily data overlaps heavily)
    seed: int = 0


def config_from(values: dict[str, Any], **overrides: Any) -> TrainConfig:
    """A TrainConfig from its JSON form (an artifact's train_config), unknown keys dropped."""
    known = {f.name for f in fields(TrainConfig)}
    merged = {k: v for k, v in values.items() if k in known} | overrides
    merged["symbols"] = tuple(merged["symbols"])
    return TrainConfig(**merged)


@dataclass(frozen=True)
class PatchTSTMeta:
    version: str  # content hash of the weights
    context_length: int
    prediction_length: int
    interval: str  # bar interval the model was trained on, e.g. "15m" or "1d"
    transform: Transform
    symbols: list[str]
    source: str  # yfinance | csv | sample
    trained_until: str  # ISO time of the last bar any training window saw
    train_stats: dict[str, float] = field(default_factory=dict)  # fitted on training bars only
    validation: dict[str, float] = field(default_factory=dict)  # export parity figures
    trained_at: str = ""  # ISO UTC time training finished ("" in artifacts older than this field)
    train_config: dict[str, Any] = field(default_factory=dict)  # TrainConfig, for retrains
    quantile_levels: list[float] = field(default_factory=list)  # of the `quantiles` output ([] = old format)
    calibration: dict[str, Any] = field(default_factory=dict)  # what validation chose (training/calibrate.py)
    # ISO time of the last bar a validation target reached: early stopping and calibration saw the bars up to it
    # ("" in artifacts older than this field)
    validated_until: str = ""
    files: dict[str, str] = field(default_factory=dict)  # graph file -> sha256 (artifacts.digests; {} before them)

    @classmethod
    def of(cls, config: TrainConfig, version: str, trained_until: str, **fields: Any) -> PatchTSTMeta:
        """The artifact of a model of `config`'s shape and bars (its shape, interval, symbols and source, and the
        config itself for retrains), with the weights' `version` and what training saw (`fields`)."""
        return cls(
            version=version,
            context_length=config.context_length,
            prediction_length=config.prediction_length,
            interval=config.interval,
            transform="log_return",
            symbols=list(config.symbols),
            source=config.source,
            trained_until=trained_until,
            train_config=asdict(config),
            **fields,
        )

    def seen_until(self) -> str:
        """ISO time of the last bar training or validation saw: a fair test forecasts from later origins only
        (trained_until where validated_until was not recorded)."""
        return self.validated_until or self.trained_until

    def save(self, directory: Path) -> None:
        save_meta(self, directory)

    @classmethod
    def load(cls, directory: Path) -> PatchTSTMeta:
        """The artifact in `directory`, of any format (a retrain reads an old one's train_config);
        whatever runs its graph calls `require_forecaster` too."""
        return load_meta(cls, directory, TRAIN_AND_EXPORT)

    def served_as(self) -> str:
        """PATCHTST, or RANDOM_WALK when validation kept none of the network's answers: not the median (alpha
        = 0), not a P(up) slope, not the spread of its quantiles: such a graph forecasts the last close with the
        random walk's volatility intervals and the training up-rate, and is named for what it is. (Artifacts
        from before the spread was chosen have none recorded: their name is as it was.)"""
        c = self.calibration
        kept = c.get("alpha", 0.0) != 0, self.p_up_moves(), c.get("spread", 0.0) != 0
        return PATCHTST if any(kept) else RANDOM_WALK

    def p_up_moves(self) -> bool:
        """Whether the network's answer moves P(up): validation kept a slope, or the artifact recorded none (before
        the slope was calibrated, P(up) was the network's). One reading for the name served, P(up)'s source and the
        retrain gate: `served_as` read a missing slope as 0 and `probability_up_source` as 1 (an audit)."""
        return bool(self.calibration.get("slope", 1.0) != 0)

    def probability_up_source(self) -> Literal["model", "base_rate"]:
        """base_rate where validation kept no P(up) slope: P(up) is then `base_probability_up` (the training
        up-rate, or the no-drift rate) for every window, whatever the closes (an agent took 0.555 'up' on a crash
        for the model's view: a walkthrough); model where the network's answer moves it (`p_up_moves`)."""
        return "model" if self.p_up_moves() else "base_rate"

    def base_probability_up(self) -> float | None:
        """P(up) at the horizon the model serves without skill (its training up-rate)."""
        base = self.calibration.get("base_up")
        return float(base[-1]) if base else None

    def require_forecaster(self, directory: Path) -> None:
        """ArtifactError unless this artifact is of the probabilistic format (the four outputs)."""
        if not self.quantile_levels:
            raise ArtifactError(
                f"{directory} holds a PatchTST from before probabilistic forecasts (no quantiles, no "
                f"P(up)): {TRAIN_AND_EXPORT} again, or `investiq retrain`"
            )


def check_closes(closes: Any, context_length: int) -> NDArray[np.float32]:
    """The last `context_length` closes as float32 [context_length, 1] (the model's dtype), or
    PriceInputError naming the first close that is not a finite number > 0, or that float32 turns
    into inf or 0 (e.g. 1e300, 1e-300): no such value ever reaches the model. Every close sent is checked, those
    before the window too (-5 there was answered and journaled: a client's bad data, said nowhere)."""
    values = np.asarray(closes, dtype=np.float64).reshape(-1)
    if values.size < context_length:
        bad = np.flatnonzero(~np.isfinite(values) | (values <= 0))  # said too: fixing the count alone would not do
        also = f"; and prices[{bad[0]}] = {float(values[bad[0]])!r} is not a finite number > 0" if bad.size else ""
        raise PriceInputError(
            f"got {values.size} closes, the model needs at least {context_length} (its context length){also}"
        )
    bad = np.flatnonzero(~np.isfinite(values) | (values <= 0))
    if bad.size:
        i = int(bad[0])
        raise PriceInputError(f"prices[{i}] = {float(values[i])!r}: every close must be a finite number > 0")
    with np.errstate(over="ignore", under="ignore"):
        narrow = values.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(narrow) | (narrow <= 0))
    if bad.size:
        i = int(bad[0])
        tiny, top = np.finfo(np.float32).smallest_subnormal, np.finfo(np.float32).max
        raise PriceInputError(
            f"prices[{i}] = {float(values[i])!r}: every close must be between {tiny:g} and {top:g} "
            "(the model computes in float32)"
        )
    return narrow[values.size - context_length :].reshape(context_length, 1)


Direction = Literal["up", "down", "flat"]
DIRECTIONS: dict[int, Direction] = {1: "up", -1: "down", 0: "flat"}  # of `directions`' values


@dataclass(frozen=True)
class Signal:
    direction: Direction  # the sign of the median forecast at the horizon
    confidence: float  # max(P(up), 1 - P(up)) at the horizon: how sure the model is of either sign
    predicted_return: float  # of the median, over the whole horizon, simple
    probability_up: float  # P(close at the horizon > last close)


def directions(last: Any, median: Any) -> NDArray[np.int8]:
    """+1 (up), -1 (down) or 0 (flat: |return| < FLAT_BAND) of median forecasts against their last closes, in
    float64 whatever they come in; arrays broadcast. The rule `signal` serves and the evaluation scores."""
    simple = np.asarray(median, dtype=np.float64) / np.asarray(last, dtype=np.float64) - 1
    return np.where(np.abs(simple) < FLAT_BAND, 0, np.sign(simple)).astype(np.int8)


def signal(
    closes: NDArray[np.floating[Any]], median: NDArray[np.floating[Any]], probability_up: NDArray[np.floating[Any]]
) -> Signal:
    """The call at the horizon (the last step) from one window's closes and its forecast outputs.

    `direction` is the sign of the median's return (flat within FLAT_BAND); `confidence` is max(P(up), 1 - P(up))
    (the API contract), so 0.5 means "no idea" and it never claims more than the validation part supported (the
    graph bounds P(up) to what calibration saw). The graph's median agrees with its P(up) (training/forecaster.py,
    `agreeing`): "up" comes with P(up) above 0.5, "down" with P(up) below it, and where P(up) is 0.5 the median is
    the last close ("flat"); 1 - P(up) counts closes that do not move, not only falls.
    """
    last = float(closes[-1])
    path = np.asarray(median, dtype=np.float64).reshape(-1)
    simple = float(path[-1] / last - 1)
    p = float(np.asarray(probability_up, dtype=np.float64).reshape(-1)[-1])
    direction = DIRECTIONS[int(directions(last, path[-1]))]
    return Signal(direction, max(p, 1 - p), simple, p)
