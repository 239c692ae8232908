"""The forecaster that PatchTST training fits and export writes: the network with the calibrated maps around it
(the Forecaster's docstring has the maths), its loss, and loading and running a saved one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from investiq.core.errors import ArtifactError
from investiq.core.patchtst import LEVEL_TIE, QUANTILE_LEVELS, PatchTSTMeta, TrainConfig, config_from

WEIGHTS = "forecaster.safetensors"  # the whole Forecaster's state (network and calibration buffers)


MIN_VOLATILITY = 1e-6  # floor of the scale (a flat window has none): forecasts stay finite
# What the network reads and its training targets are clipped here: a target, a jump after a stale, flat window; a
# reading, an old move of a long window that the EWMA volatility has since forgotten (a move inside the EWMA's
# memory raises sigma with it: in a 64-bar window no reading passes ~27)
MAX_STANDARDISED = 50.0


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
