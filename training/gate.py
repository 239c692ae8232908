"""The promotion gate: candidate, serving model and random walk forecast the same fresh hold-out.

Both models are run as the ONNX graphs that would serve (not as PyTorch), on the candidate's test
origins of the refreshed bars, keeping only origins after the last bar the serving model trained
or validated on (its validation part steered its early stopping and calibration), so neither model has seen a
hold-out target. Every such origin is used. Per origin the loss is

    error = mean over the horizon of |median forecast - actual| / last close     (scale-free)

the loss the median is the best answer to (a hit rate is no alternative: the random walk's median
has no direction). The random walk forecasts the last close at every step.

Evidence, not point estimates. Two ratios of mean errors are estimated with paired 95% intervals:
candidate / serving and candidate / random walk. The candidate is promoted only when it is

    (a) not significantly worse than the serving model: the interval of candidate / serving does not
        lie wholly above 1 + tolerance (`promote_tolerance`, a margin on the ratio; 0: none), nor reach above
        1 + tolerance + WITHIN (0.10): the hold-out must show the candidate no more than 10 % worse, and
    (b) not significantly worse than the random walk: the interval of candidate / random walk does
        not lie wholly above 1 (no margin: "no change" is the bar every model must clear).

A candidate identical to the serving model, or that is the random walk (as the training's
shrinkage makes a model without validated skill), gets the ratio 1 with the interval [1, 1] and
passes; one whose interval straddles 1 passes too if it ends within 1 + WITHIN. That bound is what the hold-out
must show for the candidate: with errors that persist over many bars (a bias that lasts, AR 0.97), 120 bar times
hold few independent pieces of evidence, and until 2026-12-04 a candidate 18 % worse than the serving model was
promoted 56 % of the time there, one 66 % worse 12 % (a review; now 3 % and 0 %, while one 0.5 % worse passes
82 % of the time, 90 % before: `python -m harness.gate_power`). The result's `decision` says which rule decided,
with every figure.

What else a model serves is held to the same bar as (a), against the serving model: the candidate is
refused where the interval of its P(up)'s Brier score over the serving model's (per origin: the mean over the
horizon of (P(up) - 1[close rose])^2), or of its quantiles' pinball loss over the serving model's (per origin:
the mean over steps and levels, a share of the last close; each model's quantiles as the gateway serves them from
bars it fetched, for the gaps ahead: investiq/core/gaps.py), lies wholly above 1 + tolerance (intervals wider than
the median's: SERVED_BLOCKS). Most models serve
the random walk's median, and judged on the median alone any candidate passed whatever its P(up) and intervals,
all that such a model serves (until 2026-12-04; found by a review). The random walk has no P(up) or intervals of
its own to hold them to.

Enough evidence first. Below MIN_BLOCKS blocks of one horizon of fresh bar times the bootstrap has too
few blocks to resample for its 95% to mean 95%: the gate then judges nothing ("not enough evidence
yet": the serving model keeps serving), rather than refuse an equally good candidate by chance.
Bars that end before the serving model's last bar (a file cut or replaced) are an error that says so.

The interval. Forecasts from neighbouring origins share most of their horizon, and SPX and NASDAQ on
one day move together, so neither origins nor symbols are independent. The losses are therefore
summed over the symbols at each bar time first (one row per time: a day's symbols count as one
observation, whatever their correlation, and a symbol with missing bars keeps exactly its own
weight, since ratios of these sums are the ratios of the pooled per-origin means), and the rows are
resampled in time order by the circular block bootstrap with blocks of one horizon, which keeps
the overlap of the forecast paths inside each block (investiq/core/forecast_stats.py). A bootstrap
stratified per symbol would treat SPX and NASDAQ as independent evidence and give intervals too
narrow when they move together; resampling whole bar times needs no model of that dependence.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from investiq.core.bar_intervals import INTERVAL_SECONDS
from investiq.core.errors import InvestIQError
from investiq.core.forecast_stats import MIN_BLOCKS, bootstrap_interval
from investiq.core.gaps import as_served
from investiq.core.ort_sessions import inference_session
from investiq.core.patchtst import INPUT, ONNX_FILE, OUTPUT, PROBABILITY_UP, QUANTILES, PatchTSTMeta, TrainConfig
from training.windows import calendar_splits, later_than, windows

# [n, context, 1] -> the graph's outputs by name: the median [n, horizon, 1] (OUTPUT), and where the model gives
# them P(up) [n, horizon] (PROBABILITY_UP) and quantiles [n, horizon, levels] (QUANTILES)
Predict = Callable[[NDArray[np.float32]], dict[str, NDArray[np.float32]]]
Series = dict[str, tuple[NDArray[np.float64], NDArray[Any]]]  # symbol -> (closes, bar times)
# The fewest bar times the gate judges: MIN_BLOCKS bootstrap blocks of one horizon (why 10: forecast_stats).
# Counted in bar times, not origins: a day's symbols are one row of the bootstrap, so symbols add no blocks.
REPS = 2000  # bootstrap replicates
SEED = 0  # the gate's interval is reproducible: the same data give the same decision
LOSS = "mean over the horizon of |median forecast - actual| / last close"
COLUMNS = ("candidate", "serving", "random_walk")
# What else the gate holds against the serving model (the module's docstring): name, output, what it says.
SERVED = (("brier", PROBABILITY_UP, "P(up)'s Brier score"), ("pinball", QUANTILES, "the intervals' pinball loss"))
# Their intervals: blocks of two horizons, expanded (Hesterberg). Two constant P(up)s, 0.55 and 0.45, are equally
# good on a driftless walk, and their difference persists over many origins: with the median's blocks of one
# horizon and the plain percentile interval the candidate was refused 8-9 % of the time at 120-240 bar times
# (400 simulations each, a review), with these 3-5 %, for a nominal 2.5 %.
SERVED_BLOCKS = 2
# Two P(up)s that do not vary with their input (both calibrations' slope 0: each model serves its training up-rate
# per step) differ in Brier score only by how far each constant lies from the hold-out's up-rate, which the
# hold-out's drift decides, not skill: with many bar times a difference of 0.05 % was "significant" and refused a
# candidate whose median was significantly better (a review, on the real S&P 500 and NASDAQ). Between two such
# constants the Brier ratio is 1 + (d_c^2 - d_s^2) / (r (1 - r)), d their distances from the up-rate r: a margin
# of 1 % lets a constant 5 points of P(up) further from it pass (at r = 0.5) and refuses a constant 0.95 on a
# driftless walk (ratio 1.8). A model whose P(up) has a slope is held to the plain bar: its skill is of that size.
CONSTANT_P_UP_MARGIN = 0.01
# How much worse than the serving model the hold-out must rule out (the upper end of the MAE ratio's interval, on
# top of the tolerance): the module's docstring says why, the README's simulation what it costs.
WITHIN = 0.10


class GateError(InvestIQError):
    """The two models cannot be compared fairly (too little fresh data, different horizons)."""


def onnx_model(directory: Path) -> tuple[Predict, PatchTSTMeta]:
    session = inference_session(directory / ONNX_FILE)

    names = (OUTPUT, PROBABILITY_UP, QUANTILES)

    def predict(x: NDArray[np.float32]) -> dict[str, NDArray[np.float32]]:
        out = [session.run(list(names), {INPUT: x[i : i + 512]}) for i in range(0, len(x), 512)]
        return {
            name: np.asarray(np.concatenate([o[k] for o in out]), dtype=np.float32) for k, name in enumerate(names)
        }

    return predict, PatchTSTMeta.load(directory)


def min_bar_times(horizon: int) -> int:
    """The fewest fresh bar times the gate judges a candidate on: MIN_BLOCKS blocks of one horizon."""
    return MIN_BLOCKS * horizon


def check_fresh(series: Series, seen: str, source: str) -> None:
    """GateError when no symbol has a bar after `seen`, the serving model's last bar: the bars were cut or
    replaced (a shorter file), and no hold-out can exist, however long one waits."""
    ends = [pd.Timestamp(stamps[-1]) for _, stamps in series.values() if len(stamps)]
    if not ends or any(len(later_than(stamps, np.arange(len(stamps)), seen)) for _, stamps in series.values()):
        return
    what = "the file was cut or replaced?" if source == "csv" else "the bar cache was cut or replaced?"
    way = "pass the full file with `investiq retrain --csv FILE`" if source == "csv" else "refresh the bars"
    raise GateError(
        f"the bars end on {max(ends)}, before the serving model's last bar {seen} ({what}): "
        f"{way}, one that runs past {seen}"
    )


def holdout(series: Series, config: TrainConfig, after: str, context: int) -> dict[str, NDArray[np.int64]]:
    """The candidate's test origins per symbol, later than `after` (ISO time) and with `context` bars."""
    out = {}
    stamps_of = {symbol: stamps for symbol, (_, stamps) in series.items()}
    c, h, fractions = config.context_length, config.prediction_length, (config.val_fraction, config.test_fraction)
    splits, _ = calendar_splits(stamps_of, c, h, *fractions)  # a symbol too short for any window has none
    for symbol, split in splits.items():
        stamps, test = stamps_of[symbol], split.test
        keep = later_than(stamps, test[test >= context - 1], after)
        if len(keep):
            out[symbol] = keep
    return out


def path_errors(
    predict: Predict, meta: PatchTSTMeta, series: Series, origins: dict[str, NDArray[np.int64]]
) -> dict[str, dict[str, NDArray[np.float64]]]:
    """Per loss ("mae": the relative path error `LOSS`; "brier" and "pinball" where the model gives P(up) and
    quantiles: SERVED), per symbol, per origin in time order."""
    out: dict[str, dict[str, NDArray[np.float64]]] = {}
    for symbol, chosen in origins.items():
        closes = series[symbol][0]
        x, y = windows(closes, chosen, meta.context_length, meta.prediction_length)
        got = predict(x)
        actual, last = y[..., 0].astype(np.float64), closes[chosen][:, None]
        rose = actual > x[:, -1:, 0]  # as the model saw the last close (float32): an unmoved close is no rise
        out.setdefault("mae", {})[symbol] = np.mean(np.abs(got[OUTPUT][..., 0] - actual) / last, axis=1)
        if PROBABILITY_UP in got:
            p_up = got[PROBABILITY_UP].astype(np.float64)
            out.setdefault("brier", {})[symbol] = np.mean((p_up - rose) ** 2, axis=1)
        if QUANTILES in got:
            levels = np.asarray(meta.quantile_levels)
            served = as_served(
                meta.calibration,
                series[symbol][1],
                chosen,
                meta.context_length,
                x[:, -1, 0],
                got[OUTPUT][..., 0],
                got[QUANTILES],
            )
            below = actual[..., None] - served  # [n, H, K]
            loss = np.maximum(levels * below, (levels - 1) * below) / last[..., None]
            out.setdefault("pinball", {})[symbol] = loss.mean(axis=(1, 2))
    return out


def random_walk_errors(
    series: Series, origins: dict[str, NDArray[np.int64]], horizon: int
) -> dict[str, NDArray[np.float64]]:
    """Per symbol, per origin: the relative path error of the random walk (every step = the last close).

    The last close is taken as the models see it (float32), so that a model whose median is the
    random walk, as the training's shrinkage makes one without validated skill, scores exactly the
    same errors and the ratio 1 [1, 1], not a float32 rounding that might be "significantly" above 1."""
    out = {}
    for symbol, chosen in origins.items():
        closes = series[symbol][0]
        x, y = windows(closes, chosen, 1, horizon)
        forecast, actual = x[:, :, 0].astype(np.float64), y[..., 0].astype(np.float64)
        out[symbol] = np.mean(np.abs(forecast - actual) / closes[chosen][:, None], axis=1)
    return out


def pooled_times(times: NDArray[Any], interval: str | None) -> pd.Index:
    """The bar times the gate pools the symbols' losses by: as written, but daily and longer bars by their day.
    Yahoo labels a daily bar at its exchange's midnight (in UTC the day before, east of UTC), so one day of a US
    and a European symbol was two bar times, each counted towards the evidence the gate needs and resampled as its
    own (a review: judged at half the minimum it states, "significantly worse" 6.5 % of the time for 2.5 %). The
    nearest UTC midnight is the exchange's day for any exchange within 12 hours of UTC (core/market_fetch.py)."""
    index = pd.Index(times)
    if interval is not None and INTERVAL_SECONDS.get(interval, 0) >= INTERVAL_SECONDS["1d"]:
        # half a day on, then the day it falls in: pandas' round("D") sends 12:00 to the even day, which merged
        # days of bars labelled at noon two by two (a review)
        return (pd.DatetimeIndex(index) + pd.Timedelta(hours=12)).floor("D")
    return index


def by_bar_time(
    columns: list[dict[str, NDArray[np.float64]]],
    series: Series,
    origins: dict[str, NDArray[np.int64]],
    interval: str | None = None,
) -> NDArray[np.float64]:
    """Rows [times, len(columns)]: each column's losses summed over the symbols at each bar time (`pooled_times`
    for `interval`: None, as written), in time order. The pooled ratio of two columns' per-origin means equals the
    ratio of these rows' means."""
    symbols = list(origins)
    times = np.concatenate([np.asarray(series[s][1])[origins[s]] for s in symbols])
    values = np.stack([np.concatenate([column[s] for s in symbols]) for column in columns], axis=1)
    summed = pd.DataFrame(values).groupby(pooled_times(times, interval)).sum().sort_index()
    return np.asarray(summed.to_numpy(), dtype=np.float64)


def loss_ratio(
    rows: NDArray[np.float64], model: int, baseline: int, block: int, expanded: bool = False
) -> tuple[float, tuple[float, float]]:
    """mean(rows[:, model]) / mean(rows[:, baseline]) with its paired 95% block-bootstrap interval.

    A baseline without any error (prices that never moved) gives 1 [1, 1] to a model without error
    too, and inf [inf, inf] to any other: nothing can be better than perfect."""
    means = rows.mean(axis=0)
    if means[baseline] == 0:
        value = 1.0 if means[model] == 0 else math.inf
        return value, (value, value)

    def ratio(m: NDArray[np.float64]) -> NDArray[np.float64]:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(m[..., model] / m[..., baseline])

    value, (low, high) = bootstrap_interval([rows], ratio, block, REPS, SEED, expanded=expanded)
    # identical columns: every replicate gives exactly 1, but keep rounding from widening or moving it
    return value, (min(low, value), max(high, value))


def origin_times(series: Series, origins: dict[str, NDArray[np.int64]]) -> NDArray[Any]:
    """The bar time of every origin, symbol after symbol (a time repeats once per symbol that has it)."""
    parts = [np.asarray(series[s][1])[o] for s, o in origins.items()]
    return np.concatenate(parts) if parts else np.array([], dtype=object)


def too_little_evidence(
    fresh: int, horizon: int, seen: str, origins: dict[str, NDArray[np.int64]]
) -> dict[str, Any]:
    """The gate's answer below min_bar_times: no judgement either way, so neither an equally good candidate
    refused by chance nor a worse one promoted; the decision says how many bar times there are and are needed."""
    needed = min_bar_times(horizon)
    return {
        "promote": False,
        "enough_evidence": False,
        "decision": (
            f"not enough evidence yet: {fresh} fresh bar times after {seen}, the last bar the serving model "
            f"trained or validated on; {needed} needed to judge ({MIN_BLOCKS} bootstrap blocks of the "
            f"{horizon}-step horizon): the serving model keeps serving; retrain later, on more bars"
        ),
        "decided_by": [],  # nothing was judged
        "origins": sum(len(o) for o in origins.values()),
        "origins_by_symbol": {s: len(o) for s, o in origins.items()},
        "bar_times": fresh,
        "bar_times_needed": needed,
        "min_blocks": MIN_BLOCKS,
        "holdout_after": seen,
        "horizon": horizon,
    }


def judged_on(series: Series, origins: dict[str, NDArray[np.int64]], serving: PatchTSTMeta) -> dict[str, Any]:
    """Which symbols the gate judges both models on: those of the bars. A symbol the serving model trained on
    that is no longer in them (it vanished from the file) is judged for neither, and the decision says so."""
    return {"judged_on": sorted(origins), "not_in_bars": [s for s in serving.symbols if s not in series]}


def _scope_note(scope: dict[str, Any]) -> str:
    """What the decision adds when the serving model trained on a symbol that the bars no longer hold."""
    if not scope["not_in_bars"]:
        return ""
    return f" (judged on {', '.join(scope['judged_on'])}; {', '.join(scope['not_in_bars'])} not in the bars)"


def _figure(ratio: float, ci: tuple[float, float]) -> str:
    return f"MAE ratio {ratio:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def served_checks(
    scored: tuple[dict[str, dict[str, NDArray[np.float64]]], ...],
    series: Series,
    origins: dict[str, NDArray[np.int64]],
    horizon: int,
    margins: dict[str, float],
    interval: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Candidate over serving, per loss of SERVED that both models give: ratio, interval, the margin on 1 it is
    held to, significantly worse."""
    out = {}
    for name, _, _ in SERVED:
        if name in scored[0] and name in scored[1]:
            rows = by_bar_time([scored[0][name], scored[1][name]], series, origins, interval)
            ratio, ci = loss_ratio(rows, 0, 1, SERVED_BLOCKS * horizon, expanded=True)
            margin = margins[name]
            out[name] = {
                "ratio": ratio,
                "ci95": list(ci),
                "margin": margin,
                "significantly_worse": ci[0] > 1 + margin,
            }
    return out


def served_margins(cmeta: PatchTSTMeta, smeta: PatchTSTMeta, tolerance: float) -> dict[str, float]:
    """The margin on 1 of each SERVED loss: the tolerance, and for the Brier score of two constant P(up)s at least
    CONSTANT_P_UP_MARGIN."""
    constant = not any(m.p_up_moves() for m in (cmeta, smeta))
    return {"brier": max(tolerance, CONSTANT_P_UP_MARGIN) if constant else tolerance, "pinball": tolerance}


def _with_served(decision: str, decided_by: list[str], served: dict[str, dict[str, Any]]) -> tuple[str, list[str]]:
    """The decision on the median, with what SERVED says: each loss the candidate is significantly worse in
    rejects it too, the others are named among what it passes."""
    said = {name: what for name, _, what in SERVED}

    def text(name: str) -> str:
        c = served[name]
        bar = f"bar 1 + {c['margin']:g}" if c["margin"] else "bar 1"
        if name == "brier" and c["margin"] == CONSTANT_P_UP_MARGIN:
            bar += ": two constant P(up)s"
        return f"{said[name]} (ratio {c['ratio']:.3f} [{c['ci95'][0]:.3f}, {c['ci95'][1]:.3f}], {bar})"

    worse = [name for name, c in served.items() if c["significantly_worse"]]
    fine = [name for name in served if name not in worse]
    if worse:
        against = " and in ".join(text(n) for n in worse)
        if decided_by:
            decision += f"; it is also significantly worse than the serving model in {against}"
        else:
            rest = decision.removeprefix("passes: ")
            decision = f"REJECTED: significantly worse than the serving model in {against}; its median is {rest}"
    if fine and (decided_by or worse):
        decision += "; it is not significantly worse than the serving model in " + " or in ".join(map(text, fine))
    elif fine:
        decision += "; nor than the serving model in " + " or in ".join(text(n) for n in fine)
    return decision, decided_by + worse


def against_serving(ci: tuple[float, float], tolerance: float) -> tuple[bool, bool]:
    """(significantly worse, not shown within WITHIN) for the interval of the MAE ratio candidate / serving: its
    lower end above 1 + tolerance; else its upper end above 1 + tolerance + WITHIN. The candidate passes this bar
    where both are False."""
    worse = ci[0] > 1 + tolerance
    return worse, not worse and ci[1] > 1 + tolerance + WITHIN


def compare(
    candidate: tuple[Predict, PatchTSTMeta],
    serving: tuple[Predict, PatchTSTMeta],
    series: Series,
    config: TrainConfig,
    metric: Literal["mae"] = "mae",
    tolerance: float = 0.0,
) -> dict[str, Any]:
    """The candidate, the serving model and the random walk on the same fresh hold-out; `promote` says
    whether the candidate passes both bars (the module's docstring has the rule), `decision` why."""
    if metric != "mae":
        raise GateError(f"unknown promotion metric {metric!r}: the gate compares the median's MAE ('mae')")
    if not tolerance >= 0:  # also refuses nan
        raise GateError(f"promote_tolerance must be >= 0, got {tolerance!r}")
    (cand, cmeta), (serv, smeta) = candidate, serving
    if cmeta.prediction_length != smeta.prediction_length:
        raise GateError(
            f"the candidate forecasts {cmeta.prediction_length} steps, the serving model "
            f"{smeta.prediction_length}: they cannot be compared on one hold-out"
        )
    seen = smeta.seen_until()  # its validation part steered early stopping and calibration: not a hold-out either
    check_fresh(series, seen, config.source)
    origins = holdout(series, config, seen, max(cmeta.context_length, smeta.context_length))
    count = sum(len(o) for o in origins.values())
    horizon = cmeta.prediction_length
    scope = judged_on(series, origins, smeta)
    fresh = len(pooled_times(origin_times(series, origins), config.interval).unique())
    if fresh < min_bar_times(horizon):
        result = too_little_evidence(fresh, horizon, seen, origins)
        return result | scope | {"decision": result["decision"] + _scope_note(scope)}
    scored = path_errors(cand, cmeta, series, origins), path_errors(serv, smeta, series, origins)
    losses = [scored[0]["mae"], scored[1]["mae"], random_walk_errors(series, origins, horizon)]
    rows = by_bar_time(losses, series, origins, config.interval)
    margins = served_margins(cmeta, smeta, tolerance)
    served = served_checks(scored, series, origins, horizon, margins, config.interval)
    pooled = {
        name: float(np.mean(np.concatenate(list(loss.values()))))
        for name, loss in zip(COLUMNS, losses, strict=True)
    }
    times = np.sort(origin_times(series, origins))

    vs_serving = loss_ratio(rows, 0, 1, horizon)
    vs_random_walk = loss_ratio(rows, 0, 2, horizon)
    worse_than_serving, unshown = against_serving(vs_serving[1], tolerance)
    worse_than_random_walk = vs_random_walk[1][0] > 1
    margin = f" + tolerance {tolerance:g}" if tolerance else ""
    serving_text = f"the serving model ({_figure(*vs_serving)}, bar 1{margin})"
    random_walk_text = f"the random walk ({_figure(*vs_random_walk)})"
    if unshown:
        worse_than_serving = True  # refused on the same bar: the hold-out does not show it near the serving model
        serving_text = (
            f"the serving model by more than {WITHIN:.0%}: not ruled out ({_figure(*vs_serving)}, its interval "
            f"reaching above {1 + tolerance + WITHIN:g})"
        )
    if worse_than_random_walk and worse_than_serving and unshown:
        decided_by = ["random_walk", "serving"]
        decision = f"REJECTED: significantly worse than {random_walk_text}, and maybe worse than {serving_text}"
    elif unshown:
        decided_by = ["serving"]
        decision = f"REJECTED: maybe worse than {serving_text}, though not significantly worse than "
        decision += random_walk_text
    elif worse_than_random_walk and worse_than_serving:
        decided_by = ["random_walk", "serving"]
        decision = f"REJECTED: significantly worse than {random_walk_text} and than {serving_text}"
    elif worse_than_random_walk:
        decided_by = ["random_walk"]
        decision = f"REJECTED: significantly worse than {random_walk_text}, though not than {serving_text}"
    elif worse_than_serving:
        decided_by = ["serving"]
        decision = f"REJECTED: significantly worse than {serving_text}, though not than {random_walk_text}"
    else:
        decided_by = []
        within = serving_text.removesuffix(")") + f"; shown within {1 + tolerance + WITHIN:g})"
        decision = f"passes: not significantly worse than {within} nor than {random_walk_text}"
    decision, decided_by = _with_served(decision, decided_by, served)
    return scope | {
        "promote": not decided_by,
        "enough_evidence": True,
        "decision": decision + _scope_note(scope),
        "decided_by": decided_by,  # the bars the candidate failed: [] when it passes
        "rule": (
            "promote unless the 95% interval of the MAE ratio candidate/serving lies wholly above "
            f"1 + tolerance ({1 + tolerance:g}) or reaches above {1 + tolerance + WITHIN:g}, or that of "
            "candidate/random walk lies wholly above 1, or that of the "
            "candidate's P(up) Brier score or pinball loss over the serving model's wholly above 1 + tolerance "
            f"(the Brier score of two constant P(up)s: 1 + at least {CONSTANT_P_UP_MARGIN:g})"
        ),
        **{f"{name}_vs_serving": check for name, check in served.items()},
        "metric": metric,
        "loss": LOSS,
        "tolerance": tolerance,
        "candidate": {"version": cmeta.version, "mae": pooled["candidate"]},
        "serving": {"version": smeta.version, "mae": pooled["serving"]},
        "random_walk": {"mae": pooled["random_walk"]},
        "vs_serving": {
            "ratio": vs_serving[0],
            "ci95": list(vs_serving[1]),
            "significantly_worse": bool(worse_than_serving and not unshown),
            "within_not_shown": bool(unshown),  # the interval reaches above 1 + tolerance + WITHIN
        },
        "vs_random_walk": {
            "ratio": vs_random_walk[0],
            "ci95": list(vs_random_walk[1]),
            "significantly_worse": bool(worse_than_random_walk),
        },
        "origins": count,
        "origins_by_symbol": {s: len(o) for s, o in origins.items()},
        "bar_times": len(rows),
        "bar_times_needed": min_bar_times(horizon),
        "holdout_after": seen,
        "holdout_from": str(times[0]),
        "holdout_to": str(times[-1]),
        "horizon": horizon,
        "bootstrap": {
            "method": "circular block bootstrap over bar times (losses summed over symbols per time)",
            "block": horizon,
            "min_blocks": MIN_BLOCKS,
            "reps": REPS,
            "seed": SEED,
        },
    }
