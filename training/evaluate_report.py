"""report.md of `investiq evaluate patchtst`: a headline that states the verdicts, then the tables,
all rendered from report.json's numbers (training/evaluate.py) so that the two cannot disagree."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from training.calibrate import served_base
from training.evaluate import FIGURES, LABELS
from training.evaluate_scores import METHODS

# A direction hit rate this far above the best constant call (always up, or always down) is more likely a leak
# than skill on market data. Against the constant call, not 50 %: in a rising market always-up alone hits 55 %.
SUSPICIOUS_EDGE = 0.05


# What P(up) answers without a slope (training/calibrate.py drift_base): said so in every report
SERVED_BASE = (
    "the training up-rate, or the no-drift rate (0.5 where no close ties) at the steps where calibration did not "
    "keep it"
)


def _ci(x: Sequence[float], fmt: str = ".4f") -> str:
    return f"[{x[0]:{fmt}}, {x[1]:{fmt}}]"


def _symbols(n: int) -> str:
    return f"{n} symbol" + ("" if n == 1 else "s")


def _rate(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.1%}"


def _pct(x: float) -> str:
    return f"{x:.1%}"


def headline(r: dict[str, Any]) -> list[str]:
    """The top of report.md: the figures that say whether the model is worth acting on."""
    pooled, h = r["pooled"], r["horizon"]
    mae = pooled["point"]["mae_ratio"]
    worse = [s for s, v in r["symbols"].items() if v["point"]["mae_ratio"]["verdict"] == "significantly above 1"]
    lines = [
        "## Headline",
        "",
        f"- **Point forecast**: pooled MAE ratio to the random walk {mae['ratio']:.4f} {_ci(mae['ci95'])} "
        f"({mae['verdict']}); MSE ratio {pooled['point']['mse_ratio']['ratio']:.4f} "
        f"{_ci(pooled['point']['mse_ratio']['ci95'])}; the drift forecast's MAE ratio "
        f"{pooled['point']['drift_mae_ratio']['ratio']:.4f}.",
        "- **Worse than the random walk**: "
        + (
            f"{len(worse)} of {_symbols(len(r['symbols']))} significantly (95% CI above 1): {', '.join(worse)}."
            if worse
            else f"no symbol of {len(r['symbols'])} is significantly worse (no 95% CI wholly above 1)."
        ),
    ]
    lines.append(f"- **P(up)**: {brier_headline(pooled['probability_up'])}")
    for key, v in pooled["intervals"].items():
        m, g, e = v["model"], v["garch"], v["empirical_vol"]
        lines.append(
            f"- **{key} intervals** cover {_pct(m['coverage'])} {_ci(m['ci95'], '.1%')} (nominal {key}; "
            f"GARCH {_pct(g['coverage'])}, empirical-vol random walk {_pct(e['coverage'])}), mean width "
            f"{m['width']:.2%} of price (GARCH {g['width']:.2%}, empirical vol {e['width']:.2%})."
            + _across_gaps(m, bool(r.get("calibration", {}).get("gaps")))
        )
    d = r["direction"]["h1"]
    flat = d["median_flat_share"]
    lines.append(
        f"- **Direction at h1**: median-sign call {_called(d['median'])}"
        + (
            f" (the median is flat, within 1 bp of the last close, at {flat:.0%} of origins: a flat median calls "
            "no direction and is left out)"
            if flat > 0
            else ""
        )
        + f", P(up) > 0.5 call {_called(d['probability_up'])}; always-up on every origin "
        f"{d['always_up']['rate']:.3f} (in brackets: on the origins each call called)." + _ties(d)
    )
    if f"h{h}" != "h1":
        dh = r["direction"][f"h{h}"]
        lines.append(
            f"- **Direction at h{h}** (non-overlapping origins): median-sign {_called(dh['median'], ci=False)}, "
            f"P(up) {_called(dh['probability_up'], ci=False)}; always-up on every origin "
            f"{dh['always_up']['rate']:.3f}."
        )
    lines += [f"- **Validation chose**: {validation_choice(r['calibration'])}", ""]
    lines += bar_checks(r)
    # each call against the best constant call (always up, or always down) on the origins it called; a tie is a
    # miss for either, so always-down hits the down share: 1 - the up share - the tied share
    edges = [
        (d[c]["rate"], max(d[c]["base_rate"], 1 - d[c]["base_rate"] - d[c].get("ties", 0) / d[c]["n"]))
        for c in ("median", "probability_up")
        if d[c]["n"]
    ]
    if any(rate > constant + SUSPICIOUS_EDGE for rate, constant in edges):
        constant = max(c for rate, c in edges if rate > c + SUSPICIOUS_EDGE)
        lines += [
            "",
            f"**Warning: a hit rate more than {SUSPICIOUS_EDGE:.0%} above the best constant call ({constant:.3f}) "
            "on market data is suspicious; check for leakage first.**",
        ]
    return [*lines, ""]


def _ties(d: dict[str, Any]) -> str:
    """What the ties of one horizon's direction scores come to, or nothing where no close stayed put."""
    share = d.get("tied_share", 0.0)
    if not share:  # 0, or nan without origins, or a report from before ties were counted
        return ""
    return (
        f" The close did not move at {share:.1%} of origins (a tie): a miss for every call, always-up's included, "
        "as the live resolver scores it."
    )


def brier_headline(probability: dict[str, Any]) -> str:
    """P(up)'s Brier skill at h1 and hH against climatology (the training up-rate), what the bar checks, and
    against the served base (SERVED_BASE)."""

    def skill(key: str, ci: str, base: str, label: str) -> str:
        return "; ".join(
            f"{name} {v[key]:+.4f} {_ci(v[ci], '+.4f')} ({label} {v[base]:.3f})" for name, v in probability.items()
        )

    served = f"vs the served base ({SERVED_BASE}) {skill('skill', 'ci95', 'base_up', 'base')}."
    if not all("skill_climatology" in v for v in probability.values()):
        return f"Brier skill {served}"
    return (
        f"Brier skill vs climatology (the training up-rate) "
        f"{skill('skill_climatology', 'ci95_climatology', 'training_up_rate', 'up-rate')}; {served}"
    )


def _called(x: dict[str, Any], ci: bool = True) -> str:
    """A call's hit rate (with its interval) beside always-up's on the same origins (a call that leaves flat ones
    out is compared on the rest), or "no call" where it called no direction at any origin."""
    if not x["n"]:
        return "no call"
    return f"{x['rate']:.3f}" + (f" {_ci(x['ci95'], '.3f')}" if ci else "") + f" (always-up {x['base_rate']:.3f})"


def validation_choice(calibration: dict[str, Any]) -> str:
    alpha, slope = calibration.get("alpha"), calibration.get("slope")
    if alpha is None:
        return "the artifact records no calibration."
    median = (
        "alpha = 0: the median is the random walk's: validation did not confirm skill"
        if alpha == 0
        else f"median shrinkage alpha = {alpha:g}"
    )
    over = _served_base(calibration)
    p_up = f"P(up) slope = 0: P(up) is {over}" if not slope else f"P(up) slope {slope:.3g} over {over}"
    spread = calibration.get("spread")  # absent before the spread was chosen: the network's, then
    quantiles = {None: "", 0: "; quantiles: the random walk's"}.get(spread, "; quantiles: the network's spread")
    rule = calibration.get("rule")
    return f"{median}; {p_up}{quantiles}." + (f" Rule: {rule}." if rule else "")


def _served_base(calibration: dict[str, Any]) -> str:
    """What P(up) answers without a slope (training/calibrate.py `served_base`). Artifacts from before the base was
    tested record no training_up_rate: their base is the training up-rate."""
    base, rate = calibration.get("base_up"), calibration.get("training_up_rate")
    if not base or rate is None:
        return "the training up-rate"
    rates = rate if isinstance(rate, list) else [rate] * len(base)
    down = calibration.get("training_down_rate")  # absent before ties were told apart: 1 - the up-rate
    return served_base(
        np.clip(np.asarray(rates, dtype=np.float64), 0.01, 0.99),
        np.asarray(base, dtype=np.float64),
        None if down is None else np.clip(np.asarray(down, dtype=np.float64), 0.01, 0.99),
    )


def bar_checks(r: dict[str, Any]) -> list[str]:
    """Issue 13's bar, met or not, from this report's figures. To beat a baseline takes a 95% interval wholly on
    the better side of it: below 1 for the MAE ratio, above 0 for Brier skill. The bar's first rows only asked
    for no worse (a ratio <= 1 with its interval's upper end <= 1.01, a skill >= 0), so a model served as exactly
    the random walk, 1.0000 [1.0000, 1.0000], "met" it (a review); those rows stay, named for what they check, as
    the committed reports (reports/patchtst-*) answer them."""
    pooled = r["pooled"]
    mae = pooled["point"]["mae_ratio"]
    worse = any(v["point"]["mae_ratio"]["verdict"] == "significantly above 1" for v in r["symbols"].values())
    cover = [
        f"{k} {'yes' if abs(v['model']['coverage'] - v['nominal']) <= 0.03 else 'no'}"
        for k, v in pooled["intervals"].items()
    ]

    def yes(ok: bool) -> str:
        return "yes" if ok else "no"

    # against climatology: a P(up) that answers the training up-rate has no skill; the served base may be 0.5
    probability = [v for v in pooled["probability_up"].values() if "skill_climatology" in v]
    reported = len(probability) == len(pooled["probability_up"])
    lows = [v["ci95_climatology"][0] for v in probability]
    brier = yes(all(v["skill_climatology"] >= 0 for v in probability)) if reported else "not reported"
    beats_climatology = _beats(all(x > 0 for x in lows), "climatology") if reported else "not reported"
    return [
        "| the bar | met |",
        "| --- | --- |",
        f"| beats the random walk: the pooled MAE ratio's 95% CI wholly below 1 | "
        f"{_beats(mae['ci95'][1] < 1, 'the random walk', mae['ci95'][0] > 1)} |",
        f"| not worse than the random walk: pooled MAE ratio <= 1.00 and its CI's upper end <= 1.01 | "
        f"{yes(mae['ratio'] <= 1.0 and mae['ci95'][1] <= 1.01)} |",
        f"| no symbol's MAE ratio significantly above 1 | {yes(not worse)} |",
        "| beats climatology: P(up)'s Brier skill's 95% CI wholly above 0 at h1 and hH against the training "
        f"up-rate | {beats_climatology} |",
        f"| not worse than climatology: Brier skill >= 0 at h1 and hH against the training up-rate | {brier} |",
        f"| 80% and 90% intervals cover within 3 points | {', '.join(cover) or 'not reported'} |",
    ]


def _beats(beats: bool, baseline: str, worse: bool = False) -> str:
    """A "beats the baseline" row's answer: yes, or why not (a model no different from it is no better)."""
    if beats:
        return "yes"
    return f"no: {'worse than' if worse else 'no better than'} {baseline}"


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


def _across_gaps(scores: dict[str, Any], fitted: bool) -> str:
    """The model's coverage of the steps whose path crosses a gap in the bars and of the others (evaluate.py
    `across_gaps`), where the bar times tell them apart; `fitted`: its intervals take the factors for the gaps
    ahead (investiq/core/gaps.py)."""
    gaps = scores.get("across_gaps")
    if not gaps:
        return ""
    a, b = gaps["crossing_a_gap"], gaps["not_crossing"]
    return (
        f" Steps whose path crosses a gap in the bars (a night, a weekend, a holiday) {_pct(a['coverage'])} "
        f"{_ci(a['ci95'], '.1%')} of {a['steps']:,}; the others {_pct(b['coverage'])} {_ci(b['ci95'], '.1%')} of "
        f"{b['steps']:,} ("
        + (
            "the widths fitted to the gaps ahead, as served from bar times)."
            if fitted
            else "the widths grow with the steps, not with the hours a path spans)."
        )
    )


def render(r: dict[str, Any]) -> str:
    """report.md from a report (what `evaluate` returns and writes as report.json)."""
    h = r["horizon"]
    lines = [
        f"# PatchTST walk-forward evaluation (version {r['model_version']})",
        "",
        f"{r['interval']} bars, context {r['context_length']}, horizon {h}, {_symbols(len(r['symbols']))}, "
        f"{r['pooled']['origins']} held-out test origins; costs {r['cost_bps']} bps per unit of turnover. "
        f"Errors are scale-free (share of the last close). 95% intervals by the block bootstrap "
        f"(blocks of {r['bootstrap']['block']} origins, {r['bootstrap']['reps']} replicates, paired where "
        "two forecasts are compared; every symbol's blocks drawn at the same times, so correlated symbols count "
        "as the evidence they are); hit-rate intervals and direction tests are exact binomial"
        + (
            ", McNemar and Pesaran-Timmermann over the symbols' origins pooled as if independent: where the "
            "symbols move together (indices, one sector) the pooled ones are too narrow and their p-values too "
            "small, so read them with the per-symbol rows"
            if len(r["symbols"]) > 1
            else ""
        )
        + ".",
        "",
        *[f"Left out: {s}, {why}." for s, why in r.get("left_out", {}).items()],
        *([""] if r.get("left_out") else []),
        *headline(r),
        *data_warnings_section(r),
        *point_section(r),
        *probability_section(r),
        *interval_section(r),
        *direction_section(r),
        *backtest_section(r),
        "## Figures",
        "",
        *[f"![{name}]({name}.png)" for name in FIGURES],
        "",
    ]
    return "\n".join(lines)


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
            f"{_ci(mae['ci95'])} | {mae['verdict']} | {mse['ratio']:.4f} {_ci(mse['ci95'])} | "
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
                f"{_ci(b['ci95_climatology'], '+.4f')}"
                if "skill_climatology" in b
                else "- | - | -"
            )
            lines.append(
                f"| {s} | {name} | {b['brier']:.4f} | {b['base_up']:.3f} | {b['brier_base']:.4f} | "
                f"{b['skill']:+.4f} {_ci(b['ci95'], '+.4f')} | {climatology} | {b['up_rate']:.3f} | "
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
                f"| {key} | {LABELS[m]} | {_pct(x['coverage'])} {_ci(x['ci95'], '.1%')} | {x['width']:.2%} |"
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
            lines.append(f"| {key} | {LABELS[m]} | " + " | ".join(_pct(c) for c in v[m]["by_step"]) + " |")
    p = pooled["pinball"]
    g, e = p["ratio_to_garch"], p["ratio_to_empirical_vol"]
    lines += [
        "",
        f"Pinball loss averaged over the {len(r['quantile_levels'])} quantile levels and all steps (share of "
        f"price): PatchTST {p['model']:.4%}, GARCH {p['garch']:.4%}, empirical vol {p['empirical_vol']:.4%}; "
        f"ratio to GARCH {g['ratio']:.4f} {_ci(g['ci95'])}, to empirical vol {e['ratio']:.4f} {_ci(e['ci95'])}.",
        "",
        "Per symbol, coverage over all steps:",
        "",
        "| symbol | " + " | ".join(f"{k} {LABELS[m]}" for k in pooled["intervals"] for m in METHODS) + " |",
        "| --- |" + " ---: |" * (len(pooled["intervals"]) * len(METHODS)),
    ]
    for s, v in r["symbols"].items():
        cells = [_pct(v["intervals"][k][m]["coverage"]) for k in pooled["intervals"] for m in METHODS]
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
                f"| {horizon} | {label} | {x['hits']} / {x['n']} | {x['rate']:.3f} | {_ci(x['ci95'], '.3f')} | "
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
            f"| {s} | {_called(d['median'], ci=False)} | {_called(d['probability_up'], ci=False)} | "
            f"{d['always_up']['rate']:.3f} |"
        )
    h1 = r["direction"]["h1"]
    lines += ["", "A flat median and a P(up) of exactly 0.5 call no direction: they are left out of their rows."]
    if all("tied_share" in d for d in r["direction"].values()):
        shares = ", ".join(f"{horizon} {_pct(d['tied_share'])}" for horizon, d in r["direction"].items())
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
                f"difference {vs['difference']:+.3f} {_ci(vs['ci95'], '+.3f')}, a block bootstrap drawing every "
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


# --- plots ----------------------------------------------------------------------------------------
