"""The PatchTST artifact: what training and export write and every consumer reads.

A trained model directory (`models/patchtst/`) and the exported version directory
(`model_repository/patchtst/<n>/`, investiq/core/versions.py) both hold `artifact.json` (this
contract); the export adds
    model.onnx   past_values fp32 [batch, context, 1] -> prediction_outputs fp32 [batch, horizon, 1]
The input transform (log price or price) and PatchTST's per-window scaling are inside the graph,
so a consumer sends raw closes and gets prices back (both tensors are prices). Input checks and
the direction/confidence rule live here only; the gateway, the evaluation and the Triton adapter
all call them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from investiq.core.artifacts import load_meta, save_meta
from investiq.core.errors import InvalidInputError

PATCHTST = "patchtst"  # the model's name in the Triton repository, the journal and the API
ONNX_FILE = "model.onnx"
INPUT = "past_values"
OUTPUT = "prediction_outputs"
Transform = Literal["log_price", "price"]
FLAT_BAND = 1e-4  # |predicted horizon return| below 1 bp is called flat


class PriceInputError(InvalidInputError):
    """Closes that cannot be forecast from; the message says what is wrong and what is needed."""


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
    transform: Transform = "log_price"
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

    def save(self, directory: Path) -> None:
        save_meta(self, directory)

    @classmethod
    def load(cls, directory: Path) -> PatchTSTMeta:
        return load_meta(cls, directory, "run `investiq train patchtst`, then `investiq export patchtst`")


def check_closes(closes: Any, context_length: int) -> NDArray[np.float32]:
    """The last `context_length` closes as float32 [context_length, 1] (the model's dtype), or
    PriceInputError naming the first close that is not a finite number > 0, or that float32 turns
    into inf or 0 (e.g. 1e300, 1e-300): no such value ever reaches the model."""
    values = np.asarray(closes, dtype=np.float64).reshape(-1)
    if values.size < context_length:
        raise PriceInputError(
            f"got {values.size} closes, the model needs at least {context_length} (its context length)"
        )
    first = values.size - context_length
    window = values[first:]
    bad = np.flatnonzero(~np.isfinite(window) | (window <= 0))
    if bad.size:
        i = int(bad[0]) + first
        raise PriceInputError(f"prices[{i}] = {values[i]!r}: every close must be a finite number > 0")
    with np.errstate(over="ignore", under="ignore"):
        narrow = window.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(narrow) | (narrow <= 0))
    if bad.size:
        i = int(bad[0]) + first
        tiny, top = np.finfo(np.float32).smallest_subnormal, np.finfo(np.float32).max
        raise PriceInputError(
            f"prices[{i}] = {values[i]!r}: every close must be between {tiny:g} and {top:g} "
            "(the model computes in float32)"
        )
    return narrow.reshape(context_length, 1)


@dataclass(frozen=True)
class Signal:
    direction: Literal["up", "down", "flat"]
    confidence: float
    predicted_return: float  # over the whole horizon, simple


def signal(closes: NDArray[np.floating[Any]], forecast: NDArray[np.floating[Any]]) -> Signal:
    """Direction of the forecast at the horizon and how far it stands out from recent noise.

    confidence = Phi(|r_H| / (sigma * sqrt(H))): r_H the forecast log return to the last step,
    sigma the standard deviation of one-step log returns over the context window, H the horizon.
    It is the probability that the horizon move has the forecast's sign if moves were Normal around
    the forecast with the recent volatility: 0.5 for a forecast lost in the noise, toward 1 for one
    that stands out. It is a derived score, not a calibrated probability (see the evaluation report).
    """
    last = float(closes[-1])
    path = np.asarray(forecast, dtype=np.float64).reshape(-1)
    r_h = math.log(path[-1] / last)
    steps = np.diff(np.log(np.asarray(closes, dtype=np.float64).reshape(-1)))
    sigma = float(steps.std()) if steps.size > 1 else 0.0
    scale = sigma * math.sqrt(path.size)
    z = abs(r_h) / scale if scale > 0 else math.inf
    simple = math.expm1(r_h)
    direction: Literal["up", "down", "flat"] = (
        "flat" if abs(simple) < FLAT_BAND else ("up" if simple > 0 else "down")
    )
    phi = 0.5 * math.erfc(-z / math.sqrt(2))  # the standard Normal CDF (scipy's formula, 50x cheaper per call)
    return Signal(direction, phi, simple)
