"""Calibration on the validation part: what sits around the trained network (the median's shrinkage, the
conformal intervals, P(up)'s base, slope and bounds, the intervals across session gaps), each kept only where
validation shows skill over the random walk (`calibrate`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from investiq.core.calibration import fit_slope, sigmoid
from investiq.core.forecast_stats import MIN_BLOCKS, bootstrap_interval
from investiq.core.gaps import (
    MIN_CELL,
    MIN_CROSSING,
    MIN_LEVELS,
    GapIntervals,
    fit_gaps,
)
from investiq.core.patchtst import TrainConfig
from training.forecaster import Forecaster, agreeing, ordered, standardised_targets
from training.windows import Dataset

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
