"""What a backtest's measured differences say of the original design's promises (`claims`): each claim's verdict at
95 % on its own, and with every claim tested held to 95 % together (`held_together`). A claim is credited only
where the P&L per trade rose too: weights or filters can raise a win rate, an average win or a Sharpe ratio
without any edge."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from investiq.core.forecast_stats import Estimate
from investiq.ops.backtest.config import CLAIMS
from investiq.ops.backtest.stats import Difference


@dataclass(frozen=True)
class ClaimCheck:
    claim: str  # e.g. "win rate +15-20 points"
    label: str  # the variant
    measured: Estimate
    verdict: str
    note: str = ""  # e.g. that the interval is conditional (the relative Sharpe's)
    # the verdict with every claim tested held to 95 % together (`held_together`), on `together_ci`; "" for a claim
    # not tested, or where only one was
    together: str = ""
    together_ci: tuple[float, float] = (math.nan, math.nan)


SUPPORTED = "supported"
CONTRADICTED_GAIN = "contradicted: a gain, but smaller than promised"
PARTLY_SUPPORTED = (
    "partly supported: a gain, but the promised size is not established (the 95% CI includes it and smaller gains)"
)


def verdict(measured: Estimate, promised: float) -> str:
    """How a measured change stands against a promised one (the smallest change promised), at 95%: "supported"
    only when the whole interval reaches the promise (its lower bound >= promised); PARTLY_SUPPORTED when it
    excludes 0 and includes the promise and smaller gains, wherever the point estimate lies."""
    value, (low, high) = measured.value, measured.ci95
    if any(math.isnan(v) for v in (value, low, high)):
        return "undefined"
    if high < promised:
        if low > 0:
            return f"{CONTRADICTED_GAIN} (the promise is outside the 95% CI)"
        return "contradicted: the promised gain is outside the 95% CI"
    if low <= 0:
        return "not supported: CI includes 0"
    if low >= promised:
        return SUPPORTED
    return PARTLY_SUPPORTED


MIX = (
    "not supported: the {metric} rose, but the P&L per trade did not, distinguishably (its 95% CI is not wholly "
    "above 0): weights favouring strategies that win in another way can raise it without any edge"
)
FEWER = (
    "not supported: the Sharpe ratio rose, but the P&L per trade did not, distinguishably (its 95% CI is not "
    "wholly above 0): trading less, or in fewer strategies, moves a Sharpe ratio toward 0 (by about the square "
    "root of the share kept), which reads as a rise on a book that loses, with no edge at all"
)
SMALLER_NO_EDGE = (
    "contradicted: the promised gain is outside the 95% CI (the {metric} rose, but the P&L per trade did not, "
    "distinguishably: no gain to credit)"
)


def claims(diff: Difference, untested: str = "") -> list[ClaimCheck]:
    """The original design's promises against one variant's measured differences. `untested`: why the variant
    tests nothing (a filter in front of it refused no entry; its weights never left the equal share), given as the
    verdict "not tested: ..." instead; so is a figure without an interval on too few blocks (`Difference.too_few`).

    A claim counts as supported (or partly), or as "a gain", only where the P&L per trade rose too (its interval
    wholly above 0): weights that move toward a strategy winning often by little raise the win rate, and toward one
    swinging wide the average win, with no edge at all (on random walks, where no rule has one, 18.8 % of runs had
    such a verdict for some variant: a review's simulation). A Sharpe ratio moves toward 0 when a book trades
    less: a filter refusing 70 % of entries at random lifted a losing book's Sharpe by 46 % on average, credited
    in 11 of 40 runs, before the Sharpe claim was held to the same gate (a review's simulation). The gate is
    conservative where a variant lowers the variance alone: that is not the edge the claims promise."""
    figure = {"win_rate": "win_rate", "average_win": "average_win", "sharpe": "sharpe_relative"}  # in Difference
    out = []
    for metric, low, high, unit in CLAIMS:
        size = f"+{low * 100:g}-{high * 100:g} points" if unit == "points" else f"+{low * 100:g}%"
        name = f"{metric.replace('_', ' ')} {size}"
        measured: Estimate = getattr(diff, figure[metric])
        why = untested or diff.too_few.get(figure[metric], "")
        judged = f"not tested: {why}" if why else verdict(measured, low)
        if not diff.pnl_per_trade.ci95[0] > 0:  # no edge
            shown = "Sharpe ratio" if metric == "sharpe" else metric.replace("_", " ")
            if judged in (SUPPORTED, PARTLY_SUPPORTED):
                judged = FEWER if metric == "sharpe" else MIX.format(metric=shown)
            elif judged.startswith(CONTRADICTED_GAIN):
                judged = SMALLER_NO_EDGE.format(metric=shown)
        note = ""
        if metric == "sharpe" and diff.sharpe_relative_dropped > 0 and not why:
            dropped = f"{diff.sharpe_relative_dropped:.1%} of replicates dropped"
            note = f"{dropped}: equal weights' Sharpe exactly 0, no relative change"
            if diff.sharpe_relative_conditional:
                note += "; the interval is conditional on it being non-zero"
        out.append(ClaimCheck(name, diff.label, measured, judged, note))
    return out


NO_CREDIT_ALONE = "not supported: no credit at 95 % on its own"


def family(checks: Sequence[ClaimCheck]) -> int:
    """How many claims were tested: those with a verdict other than "not tested" or "undefined"."""
    return sum(not c.verdict.startswith(("not tested", "undefined")) for c in checks)


def held_together(
    checks: Sequence[ClaimCheck], strict: Mapping[str, Difference], untested: Mapping[str, str]
) -> list[ClaimCheck]:
    """`checks` with each tested claim's verdict when the `family(checks)` claims tested are held to 95 % together
    (Bonferroni: each interval with TAIL / family in each tail, wider), judged as `claims` judges on `strict`, each
    variant's differences computed at that tail (by label), `untested` its reason passed to `claims`. Each claim
    judged at 95 % on its own lets chance through about once in twenty, and nine are tested on the sample. A claim
    not credited alone gets no credit together (NO_CREDIT_ALONE): "contradicted: a gain, but smaller than
    promised" widened can reach the promise, and read "partly supported" together on a random walk (a review).
    Bonferroni rather than Holm: the verdicts rest on intervals, not p-values, and an interval
    that holds with the others is what a reader can take away."""
    if family(checks) < 2:
        return list(checks)
    together = {(c.label, c.claim): c for label, d in strict.items() for c in claims(d, untested.get(label, ""))}
    out = []
    for c in checks:
        if c.verdict.startswith(("not tested", "undefined")):
            out.append(c)
            continue
        wide = together[(c.label, c.claim)]
        verdict = wide.verdict
        if verdict in (SUPPORTED, PARTLY_SUPPORTED) and c.verdict not in (SUPPORTED, PARTLY_SUPPORTED):
            verdict = NO_CREDIT_ALONE  # a contradicted gain's wider interval may reach the promise: no credit
        out.append(replace(c, together=verdict, together_ci=wide.measured.ci95))
    return out
