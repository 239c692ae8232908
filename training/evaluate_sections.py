"""The tables of report.md (training/evaluate_report.py), one section each: data warnings, point error
against the random walk, P(up)'s Brier scores, interval coverage and width, direction, and the backtest."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from training.evaluate import LABELS
from training.evaluate_format import SERVED_BASE, called, interval, pct
from training.evaluate_scores import METHODS


def _rate(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.1%}"


def data_warnings_section(r: dict[str, Any]) -> list[str]:
    """What cleaning the bars found, per symbol (evaluate's `data_warnings`), or nothing: kept, not refused, but
    a 100x unadjusted split in the test part flipped a verdict without a word here (a review)."""
    warned = r.get("data_warnings") or {}
    if not warned:
        return []
    return [
        "## Data warnings",
        "",
        "Cleaning the bars found these (the rows kept as they are, holes not filled): the figures above and below "
        "are of these bars, so read them with it.",
        "",
        *[f"- **{s}**: {said}." for s, sayings in warned.items() for said in sayings],
        "",
    ]


def point_section(r: dict[str, Any]) -> list[str]:
    lines = [
        "## Point error of the median vs the random walk",
        "",
        "| symbol | origins | MAE (share of price) | random-walk MAE | MAE ratio [95% CI] | verdict "
        "| MSE ratio [95% CI] | drift MAE ratio |",
        "| --- | ---: | ---: | ---: | --- | --- | --- | ---: |",
    ]
    rows = [*r["symbols"].items(), ("**pooled**", r["pooled"])]
    for s, v in rows:
        p = v["point"]
        mae, mse = p["mae_ratio"], p["mse_ratio"]
        lines.append(
            f"| {s} | {v['origins']} | {mae['model']:.4%} | {mae['baseline']:.4%} | {mae['ratio']:.4f} "
            f"{interval(mae['ci95'])} | {mae['verdict']} | {mse['ratio']:.4f} {interval(mse['ci95'])} | "
            f"{p['drift_mae_ratio']['ratio']:.4f} |"
        )
    by_step = ", ".join(f"{v:.4f}" for v in r["pooled"]["point"]["mae_ratio_by_step"])
    lines += ["", f"Pooled MAE ratio by horizon step: {by_step}."]
    if any(_unbounded(v["point"][k]["ci95"]) for _, v in rows for k in ("mae_ratio", "mse_ratio")):
        lines += [
            "",
            "An interval that ends at inf (null in report.json) is unbounded: the random walk's error is 0 over "
            "whole stretches of the test part that the bootstrap drew (the close did not move: a halt, a flat "
            "market), so the ratio has no upper bound there.",
        ]
    return [*lines, ""]


def _unbounded(ci: Sequence[float]) -> bool:
    return any(math.isinf(x) for x in ci)


def probability_section(r: dict[str, Any]) -> list[str]:
    baselines = r.get("p_up_baselines", {})
    recomputed = baselines.get("training_up_rate_from", "artifact") != "artifact"
    lines = [
        "## P(up): Brier score and skill vs the served base and vs climatology (the training up-rate)",
        "",
        f"Two constant answers: the served base, what P(up) answers without a slope ({SERVED_BASE}), and "
        "climatology, the training up-rate at every "
        "step. A P(up) equal to the training up-rate has no skill, so the bar checks the skill against "
        "climatology. An outcome is up where the close ended above the last one: a tie is not up."
        + (
            " The artifact records no training up-rate: it is recomputed here from the training origins of this "
            "split."
            if recomputed
            else ""
        ),
        "",
        "| symbol | horizon | Brier | served base | its Brier | skill vs the served base [95% CI] "
        "| training up-rate | its Brier | skill vs the training up-rate [95% CI] | test up-rate | mean P(up) |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for s, v in [*r["symbols"].items(), ("**pooled**", r["pooled"])]:
        for name, b in v["probability_up"].items():
            climatology = (
                f"{b['training_up_rate']:.3f} | {b['brier_climatology']:.4f} | {b['skill_climatology']:+.4f} "
                f"{interval(b['ci95_climatology'], '+.4f')}"
                if "skill_climatology" in b
                else "- | - | -"
            )
            lines.append(
                f"| {s} | {name} | {b['brier']:.4f} | {b['base_up']:.3f} | {b['brier_base']:.4f} | "
                f"{b['skill']:+.4f} {interval(b['ci95'], '+.4f')} | {climatology} | {b['up_rate']:.3f} | "
                f"{b['mean_probability_up']:.3f} |"
            )
    return [*lines, ""]


def interval_section(r: dict[str, Any]) -> list[str]:
    pooled = r["pooled"]
    lines = [
        "## Intervals: coverage and width",
        "",
        f"GARCH(1,1) with {'Student-t' if r['garch_dist'] == 't' else 'Normal'} innovations, fitted per symbol on "
        "the bars up to the end of its validation part, then run forward with fixed parameters; the "
        "empirical-volatility random walk is Normal with the context window's one-step volatility times sqrt(h).",
        "",
        "| interval | method | coverage [95% CI] | mean width (share of price) |",
        "| --- | --- | --- | ---: |",
    ]
    for key, v in pooled["intervals"].items():
        for m in METHODS:
            x = v[m]
            lines.append(
                f"| {key} | {LABELS[m]} | {pct(x['coverage'])} {interval(x['ci95'], '.1%')} | {x['width']:.2%} |"
            )
    lines += [
        "",
        "Coverage by horizon step (pooled):",
        "",
        "| interval | method | " + " | ".join(f"h{k}" for k in range(1, r["horizon"] + 1)) + " |",
        "| --- | --- |" + " ---: |" * r["horizon"],
    ]
    for key, v in pooled["intervals"].items():
        for m in METHODS:
            lines.append(f"| {key} | {LABELS[m]} | " + " | ".join(pct(c) for c in v[m]["by_step"]) + " |")
    p = pooled["pinball"]
    g, e = p["ratio_to_garch"], p["ratio_to_empirical_vol"]
    lines += [
        "",
        f"Pinball loss averaged over the {len(r['quantile_levels'])} quantile levels and all steps (share of "
        f"price): PatchTST {p['model']:.4%}, GARCH {p['garch']:.4%}, empirical vol {p['empirical_vol']:.4%}; "
        f"ratio to GARCH {g['ratio']:.4f} {interval(g['ci95'])}, "
        f"to empirical vol {e['ratio']:.4f} {interval(e['ci95'])}.",
        "",
        "Per symbol, coverage over all steps:",
        "",
        "| symbol | " + " | ".join(f"{k} {LABELS[m]}" for k in pooled["intervals"] for m in METHODS) + " |",
        "| --- |" + " ---: |" * (len(pooled["intervals"]) * len(METHODS)),
    ]
    for s, v in r["symbols"].items():
        cells = [pct(v["intervals"][k][m]["coverage"]) for k in pooled["intervals"] for m in METHODS]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def direction_section(r: dict[str, Any]) -> list[str]:
    lines = [
        "## Direction (pooled over symbols)",
        "",
        "| horizon | call | hits / n | hit rate | 95% CI | p vs 0.5 | p vs always-up (paired) |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: |",
    ]
    names = {
        "median": "sign of the median",
        "probability_up": "P(up) > 0.5",
        "always_up": "always up",
        "last_return_sign": "last return's sign",
    }
    for horizon, d in r["direction"].items():
        for call, label in names.items():
            x = d[call]
            if not x["n"]:  # a flat median, a P(up) of 0.5: no direction called (as in the journal)
                lines.append(f"| {horizon} | {label} | 0 / 0 | no call | | | |")
                continue
            lines.append(
                f"| {horizon} | {label} | {x['hits']} / {x['n']} | {x['rate']:.3f} | "
                f"{interval(x['ci95'], '.3f')} | "
                f"{x['p_vs_half']:.3g} | {x['p_vs_base']:.3g} |"
            )
        for call in ("median", "probability_up"):
            pt = d[f"pesaran_timmermann_{call}"]
            used = f"n = {pt['n']}" if "n" in pt else ""
            lines.append(
                f"| {horizon} | Pesaran-Timmermann, {names[call]} | {used} | S = {pt['statistic']:.2f} | | "
                f"p = {pt['p_value']:.3g} | |"
            )
    lines += [
        "",
        "Per symbol at h1:",
        "",
        "| symbol | sign of the median (always-up on its origins) | P(up) > 0.5 (always-up on its origins) | "
        "always up, every origin |",
        "| --- | ---: | ---: | ---: |",
    ]
    for s, v in r["symbols"].items():
        d = v["direction_h1"]
        lines.append(
            f"| {s} | {called(d['median'], ci=False)} | {called(d['probability_up'], ci=False)} | "
            f"{d['always_up']['rate']:.3f} |"
        )
    h1 = r["direction"]["h1"]
    lines += ["", "A flat median and a P(up) of exactly 0.5 call no direction: they are left out of their rows."]
    if all("tied_share" in d for d in r["direction"].values()):
        shares = ", ".join(f"{horizon} {pct(d['tied_share'])}" for horizon, d in r["direction"].items())
        lines += [
            "",
            "A call is right only if the close moved its way (up: above the last close, down: below it), as the "
            "live resolver scores it: a close equal to the last (a tie) is a miss for every call, always-up's "
            "included. "
            f"Ties, as a share of the origins scored: {shares}. Pesaran-Timmermann tests up against down: it "
            "leaves the tied origins out (n in its rows: the origins it used).",
        ]
    for call in ("median", "probability_up"):
        x = h1[call]
        if not x["n"]:
            lines += ["", f"At horizon 1 the {names[call]} calls no direction anywhere: nothing to compare."]
            continue
        vs = x.get("vs_always_up")
        worse = False
        if vs is None:  # a report.json written before 2026-12-04: McNemar's pooled test alone
            better, evidence = x["rate"] > x["base_rate"] and x["p_vs_base"] < 0.05, ""
        else:
            better, worse = vs["beats"], vs["ci95"][1] < 0  # the whole interval below always-up's
            evidence = (
                f"difference {vs['difference']:+.3f} {interval(vs['ci95'], '+.3f')}, "
                "a block bootstrap drawing every "
                "symbol's blocks at the same times; "
            )
        verdict = "beats" if better else "is significantly worse than" if worse else "does not beat"
        lines += [
            "",
            f"At horizon 1 the {names[call]} call {verdict} always-up at the 5% level, scored on the same "
            f"outcomes (hit rate {x['rate']:.3f}, always-up {x['base_rate']:.3f}: {evidence}paired McNemar "
            f"p = {x['p_vs_base']:.3g}, its origins pooled as if the symbols were independent).",
        ]
    return [*lines, ""]


def backtest_section(r: dict[str, Any]) -> list[str]:
    side = "long/short" if r["allow_short"] else "long/flat"
    lines = [
        f"## Backtest of the one-step P(up) > 0.5 call ({side}) vs buy-and-hold, net of costs",
        "",
        "| symbol | strategy return | Sharpe | max drawdown | trades | trade win rate | exposure | hold return "
        "| hold Sharpe | hold max drawdown | periods a year |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s, p in r["symbols"].items():
        b, k = p["backtest"], p["buy_and_hold"]
        lines.append(
            f"| {s} | {b['total_return']:+.1%} | {b['sharpe']:.2f} | {b['max_drawdown']:.1%} | {b['trades']} | "
            f"{_rate(b['trade_win_rate'])} | {b['exposure']:.0%} | {k['total_return']:+.1%} | {k['sharpe']:.2f} | "
            f"{k['max_drawdown']:.1%} | {p['periods_per_year']:,.1f} |"
        )
    source = r["annualisation"]["from"]
    return [
        *lines,
        "",
        f"Sharpe ratios (and report.json's annual returns) use the periods a year of {source}.",
        "",
    ]
