"""The scores of a walk-forward evaluation (training/evaluate.py), per symbol (one `Part`) or pooled (all):
point error against the random walk and the drift, P(up)'s Brier skill and reliability, interval coverage and
pinball loss, direction against always-up, and the one-step call's cost-aware backtest."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from investiq.core.calibration import reliability_bins
from investiq.core.forecast_stats import (
    backtest,
    bootstrap_interval,
    buy_and_hold,
    column_estimates,
    hit_rate,
    paired_ratio,
    pesaran_timmermann,
    ratio_verdict,
)
from investiq.core.intervals import covered, interval_index, pinball
from investiq.core.patchtst import directions

COVERAGES = (0.8, 0.9)
METHODS = ("model", "garch", "empirical_vol")
REPS = 2000  # bootstrap replicates


@dataclass(frozen=True)
class Part:
    """One symbol's test origins, rows in time order; prices are those of the windows the model saw."""

    last: NDArray[np.float64]  # [n] the origin's close: the random walk's forecast
    actual: NDArray[np.float64]  # [n, H]
    median: NDArray[np.float64]  # [n, H] the model's median path
    drift: NDArray[np.float64]  # [n, H] last + h * the mean one-step change over the context window
    probability_up: NDArray[np.float64]  # [n, H]
    last_up: NDArray[np.bool_]  # [n] the sign of the last one-step change
    quantiles: dict[str, NDArray[np.float64]]  # method -> [n, H, K] closes at the model's levels
    garch: dict[str, float]  # the fitted GARCH parameters
    crosses: NDArray[np.bool_] | None = None  # [n, H] the path to step h crosses a gap in the bars (core/gaps.py)


def _ratio(r: Any) -> dict[str, Any]:
    return {**asdict(r), "ci95": list(r.ci95), "verdict": ratio_verdict(r)}


def point_scores(parts: Sequence[Part], h: int) -> dict[str, Any]:
    """Scale-free MAE and MSE of the median and the drift path against the random walk, paired CIs."""
    model = [np.abs(p.median - p.actual) / p.last[:, None] for p in parts]
    walk = [np.abs(p.last[:, None] - p.actual) / p.last[:, None] for p in parts]
    drift = [np.abs(p.drift - p.actual) / p.last[:, None] for p in parts]

    def paired(a: list[NDArray[np.float64]], b: list[NDArray[np.float64]], power: int) -> dict[str, Any]:
        groups = [
            np.column_stack([(x**power).mean(axis=1), (y**power).mean(axis=1)]) for x, y in zip(a, b, strict=True)
        ]
        return _ratio(paired_ratio(groups, block=h, reps=REPS))

    by_step = np.concatenate(model).mean(axis=0) / np.concatenate(walk).mean(axis=0)
    return {
        "mae_ratio": paired(model, walk, 1),
        "mse_ratio": paired(model, walk, 2),
        "drift_mae_ratio": paired(drift, walk, 1),
        "drift_mse_ratio": paired(drift, walk, 2),
        "mae_ratio_by_step": [float(v) for v in by_step],
    }


def horizon_steps(h: int) -> dict[str, int]:
    """The horizons reported separately: 'h1' and 'hH' -> column index."""
    return {"h1": 0, f"h{h}": h - 1}


def per_step(value: float | Sequence[float], h: int, name: str) -> list[float]:
    """A calibration figure per horizon step: a list of h values as it is, a single value (a scalar, or a list
    of one: older artifacts) at every step."""
    v = np.asarray(value, dtype=np.float64).reshape(-1)
    if v.size == 1:
        v = np.repeat(v, h)
    if v.size != h:
        raise ValueError(f"calibration {name} has {v.size} values for a horizon of {h}")
    return [float(x) for x in v]


def probability_scores(
    parts: Sequence[Part],
    base_up: Sequence[float],
    h: int,
    bins: bool = False,
    climatology: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Brier score of P(up) at h1 and hH and its skill over always answering the served base `base_up` (per step:
    the training up-rate, or the no-drift rate at the steps where calibration did not keep it), under `skill`,
    `ci95`, `brier_base`; and, given `climatology` (the training up-rate per step), over always answering that,
    under `skill_climatology`, `ci95_climatology`, `brier_climatology`, `training_up_rate`. "Up" is a close above
    the last: a tie is not up."""
    out: dict[str, Any] = {}
    for name, col in horizon_steps(h).items():
        base = float(base_up[col])
        p = [q.probability_up[:, col] for q in parts]
        up = [(q.actual[:, col] > q.last).astype(np.float64) for q in parts]
        groups = [np.column_stack([(a - y) ** 2, (base - y) ** 2]) for a, y in zip(p, up, strict=True)]
        r = paired_ratio(groups, block=h, reps=REPS)
        out[name] = {
            "brier": r.model,
            "brier_base": r.baseline,
            "skill": _snap(1 - r.ratio),
            "ci95": [_snap(1 - r.ci95[1]), _snap(1 - r.ci95[0])],
            "base_up": base,
        }
        if climatology is not None:
            rate = float(climatology[col])
            groups = [np.column_stack([(a - y) ** 2, (rate - y) ** 2]) for a, y in zip(p, up, strict=True)]
            c = paired_ratio(groups, block=h, reps=REPS)
            out[name] |= {
                "training_up_rate": rate,
                "brier_climatology": c.baseline,
                "skill_climatology": _snap(1 - c.ratio),
                "ci95_climatology": [_snap(1 - c.ci95[1]), _snap(1 - c.ci95[0])],
            }
        out[name] |= {
            "up_rate": float(np.concatenate(up).mean()),
            "mean_probability_up": float(np.concatenate(p).mean()),
            "n": r.n,
        }
        if bins:
            out[name]["reliability"] = reliability(np.concatenate(p), np.concatenate(up))
    return out


def _snap(skill: float) -> float:
    """0 for a skill within 1e-6 of it: a P(up) equal to the base rate up to the float32 graph's rounding
    ties it, rather than losing by 1e-8."""
    return 0.0 if abs(skill) < 1e-6 else skill


def reliability(p: NDArray[np.float64], up: NDArray[np.float64]) -> list[dict[str, float]]:
    """Reliability bins of equal width, about ten across the range the forecasts span (a calibrated P(up)
    of market direction stays near the base rate: tenths of [0, 1] would put it all in one or two bins)."""
    spread = float(p.max() - p.min()) if p.size else 0.0
    return reliability_bins(p, up, bins=int(np.clip(np.ceil(10 / max(spread, 0.1)), 10, 100)))


def interval_scores(parts: Sequence[Part], levels: Sequence[float], h: int) -> dict[str, Any]:
    """Coverage (pooled over steps and at each step, with block-bootstrap CIs) and mean width (share of
    price) of the central 80% and 90% intervals, per method."""
    out: dict[str, Any] = {}
    for coverage in COVERAGES:
        index = interval_index(levels, coverage)
        if index is None:
            continue
        lo, hi = index
        scores: dict[str, Any] = {"nominal": coverage}
        for method in METHODS:
            inside, width = [], []
            for p in parts:
                q = p.quantiles[method]
                hit = covered(q[..., lo], q[..., hi], p.actual).astype(np.float64)
                inside.append(np.column_stack([hit, hit.mean(axis=1)]))  # last column: all steps
                width.append((q[..., hi] - q[..., lo]) / p.last[:, None])
            est = column_estimates(inside, block=h, reps=REPS)
            widths = np.concatenate(width)
            scores[method] = {
                "coverage": est[-1].value,
                "ci95": list(est[-1].ci95),
                "by_step": [e.value for e in est[:-1]],
                "by_step_ci95": [list(e.ci95) for e in est[:-1]],
                "width": float(widths.mean()),
                "width_by_step": [float(v) for v in widths.mean(axis=0)],
                **across_gaps(parts, [hit[:, :-1] for hit in inside], h),
            }
        out[f"{coverage:.0%}"] = scores
    return out


def across_gaps(parts: Sequence[Part], hits: Sequence[NDArray[np.float64]], h: int) -> dict[str, Any]:
    """Coverage of the forecast steps whose path crosses a gap in the bars and of those that do not (`crossings`),
    with block-bootstrap intervals; {} without bar times, or where every step is of one kind (crypto, round the
    clock). Pooled by step, the two average out: on hourly stock bars 80 % intervals covered 92 % of the steps
    from a session's first bar and 55 % from its last (a review's simulation)."""
    if any(p.crosses is None for p in parts):
        return {}
    crosses = [np.asarray(p.crosses, dtype=np.float64) for p in parts]
    if not 0 < sum(float(c.sum()) for c in crosses) < sum(c.size for c in crosses):
        return {}
    rows = [  # per origin: covered and counted, crossing then not
        np.column_stack([(hit * c).sum(1), c.sum(1), (hit * (1 - c)).sum(1), (1 - c).sum(1)])
        for hit, c in zip(hits, crosses, strict=True)
    ]
    out = {}
    for name, col in {"crossing_a_gap": 0, "not_crossing": 2}.items():

        def share(m: NDArray[np.float64], col: int = col) -> NDArray[np.float64]:
            return np.asarray(m[..., col] / m[..., col + 1])

        value, ci = bootstrap_interval(rows, share, block=h)
        out[name] = {"coverage": value, "ci95": list(ci), "steps": int(sum(r[:, col + 1].sum() for r in rows))}
    return {"across_gaps": out}


def pinball_scores(parts: Sequence[Part], levels: Sequence[float], h: int) -> dict[str, Any]:
    """Pinball loss averaged over levels and steps (share of price), and the model's paired ratio to
    each baseline."""
    loss = {
        m: [pinball(p.quantiles[m], p.actual, levels).mean(axis=(1, 2)) / p.last for p in parts] for m in METHODS
    }
    out: dict[str, Any] = {m: float(np.concatenate(v).mean()) for m, v in loss.items()}
    for baseline in METHODS[1:]:
        groups = [np.column_stack([a, b]) for a, b in zip(loss["model"], loss[baseline], strict=True)]
        out[f"ratio_to_{baseline}"] = _ratio(paired_ratio(groups, block=h, reps=REPS))
    return out


def direction_scores(parts: Sequence[Part], h: int) -> dict[str, Any]:
    """Hit rates at horizon 1 (every origin) and horizon H (every H-th origin, outcomes not overlapping)
    of the median-sign and P(up) > 0.5 calls, against always-up and the last return's sign. A flat median
    (within FLAT_BAND) and a P(up) of exactly 0.5 call no direction and are left out of their call's hit rate,
    as the journal leaves out flat forecasts: the random walk's median is not a "down" call.

    A call is right only if the close moved its way (up: above the last close, down: below it), as the live
    resolver scores it: a tie, a close equal to the last, is a miss for every call, always-up's included, so a
    down call gains nothing from prices that did not move. `tied_share` is the share of such origins (of those
    scored at that step); each call's `ties` how many of its origins. Pesaran-Timmermann, a test of up against
    down, leaves the tied origins out (its `n`: the origins it used, `ties_left_out`: those it left out)."""
    out: dict[str, Any] = {}
    for name, col in horizon_steps(h).items():
        rows = slice(None, None, col + 1)

        def pooled(arrays: list[NDArray[Any]], rows: slice = rows) -> NDArray[np.bool_]:
            return np.concatenate([np.asarray(a[rows], dtype=bool) for a in arrays])

        actual = pooled([p.actual[:, col] > p.last for p in parts])
        tied = pooled([p.actual[:, col] == p.last for p in parts])
        calls = {
            "median": pooled([p.median[:, col] > p.last for p in parts]),
            "probability_up": pooled([p.probability_up[:, col] > 0.5 for p in parts]),
            "always_up": np.ones_like(actual),
            "last_return_sign": pooled([p.last_up for p in parts]),
        }
        flat = pooled([directions(p.last, p.median[:, col]) == 0 for p in parts])
        called = {
            "median": ~flat,
            "probability_up": pooled([p.probability_up[:, col] != 0.5 for p in parts]),
            "always_up": np.ones_like(actual),
            "last_return_sign": np.ones_like(actual),
        }
        out[name] = {
            k: asdict(hit_rate(v[called[k]], actual[called[k]], tied[called[k]])) for k, v in calls.items()
        }
        for k in ("median", "probability_up"):
            out[name][k]["vs_always_up"] = against_always_up(parts, col, k, h)
        out[name]["median_flat_share"] = float(flat.mean()) if flat.size else math.nan
        out[name]["tied_share"] = float(tied.mean()) if tied.size else math.nan
        for k in ("median", "probability_up"):
            c = called[k]
            out[name][f"pesaran_timmermann_{k}"] = {
                **asdict(pesaran_timmermann(calls[k][c], actual[c], tied[c])),
                "n": int(np.count_nonzero(c & ~tied)),
                "ties_left_out": int(np.count_nonzero(c & tied)),
            }
    return out


def against_always_up(parts: Sequence[Part], col: int, call: str, h: int) -> dict[str, Any]:
    """The call's hit rate less always-up's on the origins it called at step `col` (every origin at h1, every
    H-th at hH, as `direction_scores`), with a block-bootstrap 95% interval in which every symbol's blocks are
    drawn at the same times: symbols that move together count as the evidence they are. McNemar's test pools
    their origins as if they were independent: with 4 symbols correlated 0.6-0.9 a call without skill was told
    from always-up at 5 % in 16-22 % of simulated runs (a review); the report's verdict rested on it until
    2026-12-04. A tie is a miss for both, as in `hit_rate`."""
    rows = []
    for p in parts:
        moved = (p.actual[:, col] - p.last)[:: col + 1]
        if call == "median":
            forecast = directions(p.last, p.median[:, col])[:: col + 1]
            called, says_up = forecast != 0, forecast > 0
        else:
            p_up = p.probability_up[:: col + 1, col]
            called, says_up = p_up != 0.5, p_up > 0.5
        right = np.where(says_up, moved > 0, moved < 0)
        rows.append(np.column_stack([(right.astype(float) - (moved > 0)) * called, called]))
    if not any(r[:, 1].any() for r in rows):
        return {"difference": math.nan, "ci95": [math.nan, math.nan], "beats": False}

    def difference(m: NDArray[np.float64]) -> NDArray[np.float64]:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(m[..., 0] / m[..., 1])

    value, ci = bootstrap_interval(rows, difference, block=h if col == 0 else 1)
    return {"difference": value, "ci95": list(ci), "beats": bool(ci[0] > 0)}


def trading(
    part: Part, ppy: float, cost_bps: float, allow_short: bool
) -> tuple[dict[str, Any], NDArray[np.float64]]:
    """Backtest of the one-step P(up) > 0.5 call and buy-and-hold; with the two equity curves [2, n + 1], from 1 at
    the first origin to the close after the last. Long above 0.5; below it short (`allow_short`) or flat; flat at
    exactly 0.5, which calls no direction (as `direction_scores` leaves it out): a model serving the training
    up-rate of 0.5 was short throughout."""
    up = part.probability_up[:, 0]
    position = np.where(up > 0.5, 1.0, np.where((up < 0.5) & allow_short, -1.0, 0.0))
    returns = part.actual[:, 0] / part.last - 1  # consecutive origins: one period each

    def growth(held: NDArray[np.float64]) -> NDArray[np.float64]:  # net of costs, as `backtest` counts them
        turnover = np.abs(np.diff(held, prepend=0.0))
        return np.cumprod(
            np.r_[1.0, np.maximum(1 + held * returns - cost_bps / 1e4 * turnover, 0.0)], dtype=np.float64
        )

    equity = np.stack([growth(position), growth(np.ones_like(returns))])
    result = {
        "backtest": asdict(backtest(returns, position, cost_bps, ppy)),
        "buy_and_hold": asdict(buy_and_hold(returns, ppy, cost_bps)),
    }
    return result, equity
