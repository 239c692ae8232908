"""report.json (every figure) and report.md (the verdict first, then the tables) of `investiq backtest`.

report.json holds no wall-clock time: the same inputs and --seed give the same file.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from investiq.core.forecast_stats import Estimate
from investiq.core.report_json import REPORT_JSON, dumps, finite
from investiq.ops.backtest.analysis import ONE_STRATEGY, Analysis
from investiq.ops.backtest.baseline import BuyAndHold
from investiq.ops.backtest.claims import PARTLY_SUPPORTED, SUPPORTED, family
from investiq.ops.backtest.config import CLAIMS, BacktestConfig
from investiq.ops.backtest.intervals import MIN_BLOCKS, TAIL
from investiq.ops.backtest.plots import plot
from investiq.ops.backtest.stats import DROPPED_CONDITIONAL, Difference, VariantStats

PER_TRADE = (
    "The P&L per trade difference is what the variant's sizes added to equal weights' mean P&L per trade: the "
    "mean over the trades it took of q (P&L - equal weights' mean), q a trade's size divided by the variant's "
    "mean size over the trades decided up to it (its exposure as known at that decision): per unit of exposure, "
    "like win rate and average win, and unmoved by a P&L every trade shares (costs, a drift). Until 2026-12-05 it "
    "divided by the whole window's mean size, which the outcomes the weights learn from move: on random walks, "
    "with no edge anywhere, it averaged +0.0010 a trade under Thompson weights, now +0.0006 (standard error "
    "0.0003); and the intervals of the forms measured there were narrow (wholly above 0 in 9-15 of 150 runs, "
    "about 4 expected): an interval that only just clears 0 is weak evidence."
)

HOW_TO_READ = f"""\
How to read it: every variant without filters allocates between the same trades; behind entry filters, between the
trades the filters let it take (the notes say how a refusal acts on this source). A trade's size is K x its
strategy's weight when it was decided (K strategies), from trades closed strictly before then, so equal weights
trade everything at size 1. Win rate and average win/loss are size-weighted; total and annual return and max
drawdown are sums of sized trade P&L (returns of one unit of notional per trade for bar strategies, currency for a
journal), day by day: the stand-in strategies on bars mark open trades to market at every bar, so their paper
losses show in the drawdown; a journal's trades (no prices between entry and exit) count on the day they closed,
which understates a drawdown and overstates Sharpe (on the sample's bars, equal weights' Sharpe 0.70 and max
drawdown 0.41 counted on close days, 0.51 and 0.61 marked). Sharpe is annualised from the daily P&L. "Resized" is
the share of trades sized other than 1: 0% means the strategies never had bayes_min_trades of effective evidence
(or there is one strategy, whose weight is always 1), so the variant traded as equal weights. Differences from
equal weights come with 95% paired block-bootstrap intervals (expanded percentile intervals, which widen when there
are few blocks): a difference whose interval includes 0 is not evidence of anything. A figure resting on fewer than
{MIN_BLOCKS} whole bootstrap blocks (of trades or of days) gets no interval ("no CI") and its claim reads "not
tested: too few ..."; every claim of a variant that took fewer than min_trades trades reads "not tested: only n
trades". Every difference is paired over the same days (win rate, average win and P&L per trade: each variant's
trades counted on their decision day; trades of one day move together, and resampled one by one their intervals
were far too narrow). The relative Sharpe difference is (variant's - equal's) / |equal's|, so a
gain over a negative Sharpe counts by its size against that Sharpe's; it has no value where equal weights' Sharpe
is exactly 0: its interval leaves those bootstrap replicates out (the share is given beside it when there are any),
and is conditional on equal weights' Sharpe being non-zero when more than {DROPPED_CONDITIONAL:.0%} were left out.
A claim is "supported" only when the whole 95% interval reaches the promise, "partly supported" when it excludes 0
but includes the promise and smaller gains; a win rate or an average win only where the P&L per trade rose too (its
interval wholly above 0): weights that favour a strategy winning often by little raise the win rate, or one
swinging wide the average win, with no edge at all. {PER_TRADE}"""

EXPOSURE = (
    "Exposure is the gross notional a variant traded, its sum of sizes, relative to equal weights': the "
    "strategies trade at different rates, so weights that favour one that trades less trade less in all. Total "
    "and annual return and max drawdown scale with that exposure. So does a Sharpe ratio, toward 0 (about as the "
    "square root of the exposure, on a book that loses as on one that wins), so compare variants on win rate, "
    "average win and P&L per trade, the claims' gate."
)

FAMILY = (
    "Each of these {n} variant-claim pairs is tested at 95 % on its own, and about one in twenty 'supported', "
    "'partly supported' or 'contradicted' verdicts can be chance alone. The last column holds all {n} to 95 % "
    "together (Bonferroni: each interval with {tail:.2%} in each tail instead of 2.5 %, before the widening for "
    "few blocks), so that chance alone passes one of them in at most one run in twenty; a claim with no credit "
    "on its own gets none together. A verdict that stands only on its own is a lead to check on other data, not "
    "a proof."
)


HOLD = (
    "Buy and hold is the passive baseline under the rules: each symbol bought once, 1 unit of notional (the unit "
    "each rule's trade takes), decided on the first day of the daily P&L (or a symbol's first bar after it) and "
    "filled at the next bar's close as a rule's entry is, held to the last bar of the last day, costs paid once "
    "on entry and once on exit, marked to market on the same days. It is not scaled to the rules' exposure, which"
    " varies from none to several units a symbol (its mean is given); Sharpe, the comparison made here, does not "
    "depend on the scale. The difference is equal weights minus buy and hold, paired over the same days in the "
    "blocks of days of a variant's total return."
)


# The verdicts of claims on too little data: a figure on too few bootstrap blocks (intervals.Basis), a variant with
# fewer than min_trades trades (analysis._too_few_trades).
THIN = ("not tested: too few ", "not tested: only ")


LISTED = 10  # symbols named in a table's cell; the rest counted (300 were one cell of 6,500 characters: a review)


def _listed(symbols: Sequence[str]) -> str:
    """The symbols, the first LISTED of them named and the rest counted."""
    named = ", ".join(symbols[:LISTED])
    return named if len(symbols) <= LISTED else f"{named} and {len(symbols) - LISTED} more ({len(symbols)} in all)"


def as_json(analysis: Analysis, config: BacktestConfig) -> dict[str, Any]:
    trades = analysis.trades
    data: dict[str, Any] = finite(
        {
            "config": asdict(config),
            "notes": analysis.notes,
            "window": {
                "first_decision": analysis.days[0].date().isoformat(),
                "last_close": analysis.days[-1].date().isoformat(),
                "days": len(analysis.days),
            },
            "trades": {
                "total": len(trades),
                "by_strategy": dict(sorted(Counter(t.strategy for t in trades).items())),
            },
            "filters": analysis.filters,
            "variants": [asdict(s) for s in analysis.stats],
            "differences_vs_equal": [asdict(d) for d in analysis.differences],
            "claims": [asdict(c) for c in analysis.claims],
            # equal weights minus buy and hold in total_return and sharpe; null for a journal (no prices)
            "buy_and_hold": None if analysis.buy_and_hold is None else asdict(analysis.buy_and_hold),
            "final_weights": {
                r.variant.label: dict(zip(r.strategies, r.weights[-1].round(6).tolist(), strict=True))
                for r in analysis.runs
                if r.variant.allocation != "equal" and len(r.weights)  # a variant without a decision: none
            },
        }
    )
    return data


def write(out: Path, analysis: Analysis, config: BacktestConfig, command: str = "") -> dict[str, Any]:
    """report.json, report.md and the PNGs into `out` (created); the JSON written."""
    out.mkdir(parents=True, exist_ok=True)
    data = as_json(analysis, config)
    (out / REPORT_JSON).write_text(dumps(data) + "\n", encoding="utf-8")
    figures = plot(analysis, out)
    (out / "report.md").write_text(markdown(analysis, command, figures), encoding="utf-8")
    return data


def _ci(e: Estimate, scale: float = 1.0, digits: int = 2, unit: str = "") -> str:
    """A figure and its interval, "+1.2 points [-1.1, +3.6]", or "+1.2 points [no CI]" where it has none (too few
    bootstrap blocks); "n/a" without a value."""
    v, (lo, hi) = e.value, e.ci95
    if math.isnan(v):
        return "n/a"

    def signed(x: float) -> str:  # rounding noise of a difference of exactly nothing reads +0, not -0.0000
        return f"{round(x * scale, digits) + 0.0:+.{digits}f}"

    shown = f"{signed(v)}{unit}"
    if math.isnan(lo) or math.isnan(hi):
        return f"{shown} [no CI]"
    return f"{shown} [{signed(lo)}, {signed(hi)}]"


def _relative_sharpe(d: Difference) -> str:
    """The relative Sharpe difference with its interval and the share of replicates it left out, if any."""
    shown = _ci(d.sharpe_relative, 100, 0, "%")
    if not d.sharpe_relative_dropped > 0:  # none left out, or no interval (nan)
        return shown
    dropped = f"{d.sharpe_relative_dropped:.1%} of replicates dropped"
    return f"{shown} ({dropped}: conditional)" if d.sharpe_relative_conditional else f"{shown} ({dropped})"


def _exposure(v: float) -> str:
    """Gross notional relative to equal weights', as "0.52x"."""
    return "n/a" if not math.isfinite(v) else f"{v:.2f}x"


def _num(v: float, digits: int = 3) -> str:
    return "n/a" if math.isnan(v) else ("inf" if math.isinf(v) else f"{v:.{digits}f}")


def summary(analysis: Analysis) -> str:
    """The plain-words verdict: how many of the promises the served variant's figures support, in full or in part,
    and whether its weights ever left the equal share."""
    checks = analysis.claims
    if not checks:
        return "No variant was judged against the claims."
    label = checks[0].label
    mine = [c for c in checks if c.label == label]
    held = [c.claim for c in mine if c.verdict == SUPPORTED]
    partly = [c.claim for c in mine if c.verdict == PARTLY_SUPPORTED]
    served = next(s for s in analysis.stats if s.label == label)
    strategies = analysis.runs[0].strategies if analysis.runs else ()
    in_part = f" In part (a gain, its promised size not established): {', '.join(partly)}." if partly else ""
    if all(c.verdict.startswith(THIN) for c in mine):  # as analysis ranks it: before unmoved weights
        why = "; ".join(dict.fromkeys(c.verdict.removeprefix("not tested: ") for c in mine))
        text = f"On this data, {label} tests none of the claims: {why}."
    elif len(strategies) == 1 and served.resized == 0:
        text = (
            f"On this data, {label} tests none of the claims. There is one strategy ({strategies[0]}), so every "
            f"weighting gives it weight 1 and {label} traded exactly as equal weights did; weighting needs two "
            "strategies or more to allocate between."
        )
    elif served.resized == 0:
        text = (
            f"On this data, {label} tests none of the claims. Its weights never left the equal share: no strategy "
            f"ever had bayes_min_trades of effective (decayed) evidence at a decision, so {label} traded exactly "
            "as equal weights did; a longer half-life, or strategies that trade more often, would let it learn."
        )
    elif len(held) == len(CLAIMS):
        text = f"On this data, {label} supports every claim."
    elif not held and not partly:
        text = f"On this data, {label} supports none of the claims (see the table for why)."
    elif not held:
        text = f"On this data, {label} supports none of the claims in full.{in_part}"
    else:
        text = f"On this data, {label} supports only: {', '.join(held)}.{in_part}"
    others = [
        f"{c.claim} by {c.label} ({c.verdict.split(':')[0]})"  # the class; the table says why
        for c in checks
        if c.label != label and c.verdict in (SUPPORTED, PARTLY_SUPPORTED)
    ]
    text += (
        f" Elsewhere: {'; '.join(others)}." if others else " No other variant supports any claim, even in part."
    )
    if any(c.together for c in checks) and any(c.verdict in (SUPPORTED, PARTLY_SUPPORTED) for c in checks):
        standing = [
            f"{c.claim} by {c.label} ({c.together.split(':')[0]})"
            for c in checks
            if c.together in (SUPPORTED, PARTLY_SUPPORTED)
        ]
        text += f" Held to 95 % together with the other claims tested ({family(checks)}, Bonferroni), " + (
            f"only these stand: {'; '.join(standing)}." if standing else "none of them stands."
        )
    unmoved = sorted({c.label for c in checks if c.label != label and "never left the equal share" in c.verdict})
    if unmoved:
        text += f" Not tested, since their weights never left the equal share either: {', '.join(unmoved)}."
    single = sorted({c.label for c in checks if c.label != label and ONE_STRATEGY in c.verdict})
    if single:
        text += f" Not tested, since with one strategy their weight is always 1 too: {', '.join(single)}."
    thin = sorted({c.label for c in checks if c.verdict.startswith(THIN)})
    if thin:
        text += (
            f" Not tested on too little data, in part or in full (the table says how little): {', '.join(thin)}."
        )
    for reason, why in (("refused no entry", "refused no entry"), ("let no entry through", "refused every entry")):
        untested = sorted({c.label for c in checks if c.verdict.startswith("not tested") and reason in c.verdict})
        if untested:
            text += f" Not tested, since a filter in front of them {why}: {', '.join(untested)}."
    if analysis.buy_and_hold is not None and analysis.stats:
        text += " " + against_holding(analysis.stats[0], analysis.buy_and_hold)
    return text


def against_holding(equal: VariantStats, hold: BuyAndHold) -> str:
    """A sentence for the verdict: how the rules without any ML (equal weights) fared against buy and hold."""
    gap = f"Sharpe {_ci(hold.sharpe)}, total return {_ci(hold.total_return, 1, 3)}"
    low, high = hold.sharpe.ci95
    if math.isnan(low):
        judged = "too few days to judge the gap"
    elif high < 0 or low > 0:
        judged = "distinguishable from none at 95%"
    else:
        judged = "not distinguishable from none at 95%"
    figures = (
        f"buy and hold of 1 unit per symbol returned {_num(hold.stats.total_return)} (Sharpe "
        f"{_num(hold.stats.sharpe, 2)}), equal weights {_num(equal.total_return)} (Sharpe "
        f"{_num(equal.sharpe, 2)}) holding {_num(hold.open_units, 2)} units on average (equal weights minus buy "
        f"and hold: {gap}; {judged})"
    )
    if equal.sharpe < hold.stats.sharpe:
        return (
            f"Without any ML the rules trailed passive holding over the same days: {figures}; so every variant "
            "here is judged against rules that did not beat holding the symbols."
        )
    return f"Without any ML the rules matched or beat passive holding on Sharpe over the same days: {figures}."


def markdown(analysis: Analysis, command: str, figures: list[str]) -> str:
    lines = ["# Does the ML layer make the agent win more? Walk-forward backtest", ""]
    if command:
        lines += ["Produced by:", "", "```", command, "```", ""]
    lines += [f"- {n}" for n in analysis.notes]
    lines += [
        f"- {len(analysis.trades)} trades decided from {analysis.days[0].date()} to the last close on "
        f"{analysis.days[-1].date()} ({len(analysis.days)} days of daily P&L)",
        "",
        "## Verdict on the original claims",
        "",
        summary(analysis),
        "",
        "| claim | variant | measured change vs equal weights [95% CI] | verdict | held together with the other "
        "claims tested [CI] |",
        "| --- | --- | --- | --- | --- |",
    ]
    for c in analysis.claims:
        points = c.claim.startswith("win rate")
        unit = " points" if points else "%"
        measured = _ci(c.measured, 100, 1, unit)
        together = ""
        if c.together:
            wide = _ci(Estimate(c.measured.value, c.together_ci), 100, 1, unit).split(" [", 1)[-1]
            together = f"[{wide}: {c.together.split(':')[0]}"
        note = f" ({c.note})" if c.note else ""
        lines.append(f"| {c.claim} | {c.label} | {measured} | {c.verdict}{note} | {together} |")
    tested = family(analysis.claims)
    if tested > 1:
        lines += ["", FAMILY.format(n=tested, tail=TAIL / tested)]
    elif tested:
        lines += ["", "One claim was tested, at 95 %: no other to hold it together with."]
    lines += ["", "## Variants", "", EXPOSURE, "", *_variant_table(analysis.stats)]
    if analysis.buy_and_hold is not None:
        lines += ["", "## Baseline: buy and hold", "", *_hold_table(analysis, analysis.buy_and_hold)]
    lines += ["", "## Differences from equal weights", ""]
    lines += [
        "| variant | win rate (points) | average win | P&L per trade | total return | Sharpe "
        "| Sharpe (relative) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for d in analysis.differences:
        lines.append(
            f"| {d.label} | {_ci(d.win_rate, 100, 1)} | {_ci(d.average_win, 100, 1, '%')} | "
            f"{_ci(d.pnl_per_trade, 1, 4)} | {_ci(d.total_return, 1, 3)} | {_ci(d.sharpe)} | "
            f"{_relative_sharpe(d)} |"
        )
    if analysis.filters:
        lines += ["", "## Entry filters", ""] + [
            f"- **{name}**: {note}" for name, note in analysis.filters.items()
        ]
    lines += ["", HOW_TO_READ, "", "## Figures", ""] + [f"![{f[:-4]}]({f})" for f in figures]
    return "\n".join(lines) + "\n"


def _variant_table(stats: list[VariantStats]) -> list[str]:
    rows = [
        "| variant | trades | win rate [95% CI] | avg win | avg loss | profit factor | total return | annual "
        "return | Sharpe | max drawdown | turnover | exposure vs equal | costs | resized |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in stats:
        lo, hi = s.win_rate.ci95
        rows.append(
            f"| {s.label} | {s.trades} | {_num(s.win_rate.value)} [{_num(lo)}, {_num(hi)}] | "
            f"{_num(s.average_win, 4)} | {_num(s.average_loss, 4)} | {_num(s.profit_factor, 2)} | "
            f"{_num(s.total_return)} | {_num(s.annual_return)} | {_num(s.sharpe, 2)} | {_num(s.max_drawdown)} | "
            f"{_num(s.turnover, 1)} | {_exposure(s.exposure)} | {_num(s.costs)} | {s.resized:.0%} |"
        )
    return rows


def _hold_table(analysis: Analysis, hold: BuyAndHold) -> list[str]:
    """Equal weights (the rules without ML) beside buy and hold, and their paired difference."""
    equal = analysis.stats[0]
    rows = [
        HOLD,
        "",
        "| | symbols held | from | to | total return | annual return | Sharpe | max drawdown | costs "
        "| mean open notional |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    first, last = analysis.days[0].date().isoformat(), analysis.days[-1].date().isoformat()
    for label, s, held, since, until, units in (
        (equal.label + " (the rules, no ML)", equal, "as traded", first, last, hold.open_units),
        (hold.stats.label, hold.stats, _listed(hold.symbols), hold.entry, hold.exit, float(len(hold.symbols))),
    ):
        rows.append(
            f"| {label} | {held} | {since} | {until} | {_num(s.total_return)} | {_num(s.annual_return)} | "
            f"{_num(s.sharpe, 2)} | {_num(s.max_drawdown)} | {_num(s.costs)} | {_num(units, 2)} units |"
        )
    rows += [
        "",
        f"Equal weights minus buy and hold [95% CI]: total return {_ci(hold.total_return, 1, 3)}, Sharpe "
        f"{_ci(hold.sharpe)}.",
    ]
    return rows
