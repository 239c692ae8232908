"""`investiq report`: what the stack has been doing, from the journal, as PNGs, report.md and report.json.

The journal is opened read-only (a running gateway and the Rust agent keep writing) and the output
folder is replaced atomically, so a reader never sees half a report. report.json holds the numbers
report.md states; the plots are drawn by `report_plots`, the numbers read by `report_data`.
"""

from __future__ import annotations

import json
import math
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gateway.services.bayesian import BayesianService
from gateway.wiring import bayes_config
from investiq.core.atomic import staged
from investiq.core.bayes.allocation import DEFAULT_METHOD
from investiq.core.errors import InvestIQError
from investiq.core.finbert import LABELS
from investiq.core.journal import JournalWriter, connect, schema
from investiq.core.names import markdown_text
from investiq.core.report_json import REPORT_JSON, dumps
from investiq.core.settings import Settings
from investiq.core.skill import MIN_BUCKETS, Skill, summarise
from investiq.ops.report_data import JournalView, Tally, read
from investiq.ops.report_plots import PLOT_FILES, hit_rate_plot, sentiment_plot, skill_plot, weights_plot

EMPTY = summarise({}, {})  # the figures of no forecast


class ReportError(InvestIQError):
    """The journal cannot be reported on; the message says why and what to do."""


REPORT_FILES = frozenset({REPORT_JSON, "report.md", *PLOT_FILES})


def is_journal_report(folder: Path) -> bool:
    """`folder` holds an earlier journal report and nothing else, which a new one may replace whole: only its
    files, and a report.json of its kind (the evaluation, backtest and sentiment reports write report.json too)."""
    try:
        numbers = json.loads((folder / REPORT_JSON).read_text())
    except (OSError, ValueError):
        return False
    mine = isinstance(numbers, dict) and {"journal", "window_days", "price"} <= numbers.keys()
    return mine and all(p.name in REPORT_FILES for p in folder.iterdir())


def write_report(settings: Settings, out: Path, days: int, now: datetime | None = None) -> dict[str, Any]:
    """Read the last `days` days of settings.db_path and replace `out` with the report; return report.json."""
    now = now or datetime.now(timezone.utc)
    # The service is built only for its pure `stats_from`, so the weights here are the gateway's own;
    # its writer is never started and nothing is written.
    service = BayesianService(
        JournalWriter(settings.db_path, settings.db_busy_timeout_ms),
        settings.db_path,
        bayes_config(settings),
        busy_timeout_ms=settings.db_busy_timeout_ms,
    )
    conn = connect(settings.db_path, settings.db_busy_timeout_ms, readonly=True)
    try:
        found = schema.version(conn)
        if found == 0:
            raise ReportError(
                f"{settings.db_path} has none of the gateway's tables: create them with `investiq db init`"
            )
        if found < schema.SCHEMA_VERSION:  # read-only here: "no such column: outcome_bar_time" told nothing
            raise ReportError(
                f"{settings.db_path} is at schema version {found}, this release reads {schema.SCHEMA_VERSION}: "
                "migrate it with `investiq db init` (or start the gateway, which does), then run the report again"
            )
        view = read(conn, service, days, now)
    except sqlite3.Error as exc:
        raise ReportError(f"cannot read the journal {str(settings.db_path)!r}: {exc}") from None
    finally:
        conn.close()
    with staged(out) as folder:
        plots = _plots(view, folder)
        numbers = summary(view, days, settings.db_path, plots)
        (folder / REPORT_JSON).write_text(dumps(numbers) + "\n")
        (folder / "report.md").write_text(markdown(numbers))
    return numbers


def _plots(view: JournalView, folder: Path) -> dict[str, str]:
    if view.empty:
        return {}
    days = view.days()
    drawn = {
        "price": hit_rate_plot(view, days, folder),
        "skill": skill_plot(view, folder),
        "sentiment": sentiment_plot(view, days, folder),
        "strategies": weights_plot(view, days, folder),
    }
    return {k: v for k, v in drawn.items() if v is not None}


def _rate(t: Tally, s: Skill) -> dict[str, Any]:
    """Requests and what they scored: `forecasts` and `resolved` count the journal's rows (every request); the
    rest counts each forecast once however often it was asked (`scored`), with intervals by block bootstrap
    over horizon periods, as /price/skill gives them (None on fewer than MIN_BUCKETS periods)."""
    hit, up, edge = s.hit_rate, s.always_up_rate, s.edge_over_always_up
    return {
        "forecasts": t.forecasts,
        "resolved": t.resolved,
        "scored": s.n,
        "periods": hit.periods,  # with directional calls: an interval needs MIN_BUCKETS
        "calls": hit.n,
        "hits": round(hit.value * hit.n) if hit.value is not None else 0,
        "hit_rate": hit.value,
        "ci95": list(hit.ci95) if hit.ci95 else None,
        "always_up_rate": up.value,
        "edge_over_always_up": edge.value,
        "edge_ci95": list(edge.ci95) if edge.ci95 else None,
    }


def summary(view: JournalView, days: int, db_path: Path, plots: dict[str, str]) -> dict[str, Any]:
    """The numbers of the report (report.json); None where there is nothing to compute from."""
    labels = {label: sum(d[label] for d in view.sentiment_days.values()) for label in LABELS}
    total = sum(labels.values())
    first_day = {v: d.isoformat() for d, v in reversed(view.version_changes)}
    return {
        "journal": str(db_path),
        "generated_at": view.now.isoformat(),
        "window_days": days,
        "period": {"start": view.since.isoformat(), "end": view.now.isoformat()},
        "empty": view.empty,
        "price": {
            **_rate(view.price, view.scored),
            "by_version": {
                v: {"first_day": first_day[v], **_rate(t, view.scored_by_version.get(v, EMPTY))}
                for v, t in view.versions.items()
            },
            "by_day": {
                d.isoformat(): _rate(t, view.scored_by_day.get(d, EMPTY))
                for d, t in sorted(view.price_days.items())
            },
            "skill": {v: points[-1][1].as_dict() for v, points in view.skill.items()},
            "symbols_worse_than_random_walk": {v: w for v, w in view.worse_symbols.items() if w},  # 95 % each
            # with all the version's judged symbols accounted for (Bonferroni), as /price/health degrades on
            "symbols_judged": {v: k for v, (k, _) in view.worse_all_judged.items()},
            "symbols_worse_all_judged": {v: w for v, (_, w) in view.worse_all_judged.items() if w},
            "unscorable": view.unscorable,  # resolved rows left out: a NaN actual, a last close of 0, ...
        },
        "sentiment": {
            "predictions": total,
            "labels": {k: {"count": n, "share": n / total if total else None} for k, n in labels.items()},
            "mean_score": float(view.scores.mean()) if view.scores.size else None,
            "by_day": {d.isoformat(): counts for d, counts in sorted(view.sentiment_days.items())},
        },
        "strategies": {
            "method": DEFAULT_METHOD,
            "trades_in_window": view.events_in_window,
            "trades_total": view.events_total,
            "weights": {
                s.strategy_name: {
                    "weight": s.weight,
                    "wins": s.evidence.wins,
                    "losses": s.evidence.losses,
                    "win_rate": s.posterior.win_rate,
                }
                for s in view.latest
            },
            "weights_by_day": {d.isoformat(): w for d, w in sorted(view.weight_days.items())},
        },
        "plots": plots,
    }


TABLE_ENDS = 10  # rows of the highest and of the lowest weights in report.md's table of many strategies


def _f(x: float | None) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:.3f}"


def _hit_line(r: dict[str, Any]) -> str:
    if not r["resolved"]:
        return "none resolved yet, so no hit rate"
    if not r["scored"]:  # every resolved one unscorable: they were called repeats and flat (a review)
        return f"none of the {r['resolved']} resolved could be scored (below), so no hit rate"
    again = max(r["resolved"] - r["scored"] - r.get("unscorable", 0), 0)
    asked = (
        f" ({again} more resolved rows repeated a forecast already counted: asked again for its bar)"
        if again
        else ""
    )
    flat = r["scored"] - r["calls"]
    if not r["calls"]:
        return (
            f"all {r['scored']} resolved forecasts{asked} were flat (the random walk's median): no direction "
            "called, so no hit rate"
        )
    flats = f"; {flat} flat, no direction called, left out" if flat else ""
    periods = f"{r['periods']} horizon period{'' if r['periods'] == 1 else 's'} with calls"
    if r["ci95"] is None:
        interval = f"no interval on {periods} (it needs {MIN_BUCKETS})"
    else:
        interval = f"95% interval [{_f(r['ci95'][0])}, {_f(r['ci95'][1])}] over {periods}"
    edge = f"{r['edge_over_always_up']:+.3f}"
    if r["edge_ci95"] is not None:
        edge += f" [{r['edge_ci95'][0]:+.3f}, {r['edge_ci95'][1]:+.3f}], paired"
    return (
        f"hit rate **{_f(r['hit_rate'])}** ({r['hits']} of {r['calls']} directional calls{flats}){asked}, "
        f"{interval}; always up would have scored {_f(r['always_up_rate'])} on the same calls: a difference of "
        f"{edge}"
    )


def markdown(n: dict[str, Any]) -> str:
    """report.md from the numbers of `summary`, so the two cannot disagree."""
    lines = [
        "# InvestIQ journal report",
        "",
        f"Journal `{n['journal']}`, last {n['window_days']} days: {n['period']['start'][:16]} to "
        f"{n['period']['end'][:16]} UTC.",
        "",
    ]
    if n["empty"]:
        return "\n".join([*lines, _NOTHING_YET, ""])
    p, s, w, plots = n["price"], n["sentiment"], n["strategies"], n["plots"]
    lines += ["## Price direction", ""]
    if p["forecasts"]:
        pending = p["forecasts"] - p["resolved"]
        # requests, as the journal holds them; /price/evaluate's `pending` counts each forecast once: two
        # requests for one bar read "2 forecasts, 2 not resolved" here and 1 pending there (a walkthrough)
        lines += [f"{p['forecasts']} forecast requests, {pending} not resolved yet; {_hit_line(p)}.", ""]
        lines += [
            "Scored, each forecast counts once however often it was asked; intervals by block bootstrap over "
            f"horizon periods (none on fewer than {MIN_BUCKETS}), as `/price/skill` gives them.",
            "",
            "| model_version | first in window | forecasts | resolved | scored | periods | hit rate "
            "| 95% interval | always up | difference [paired 95%] |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |",
        ]
        for version, r in p["by_version"].items():
            ci = f"[{_f(r['ci95'][0])}, {_f(r['ci95'][1])}]" if r["ci95"] else "–"
            edge = "–" if r["edge_over_always_up"] is None else f"{r['edge_over_always_up']:+.3f}"
            if r["edge_ci95"]:
                edge += f" [{r['edge_ci95'][0]:+.3f}, {r['edge_ci95'][1]:+.3f}]"
            lines.append(
                f"| {version} | {r['first_day']} | {r['forecasts']} | {r['resolved']} | {r['scored']} "
                f"| {r['periods']} | {_f(r['hit_rate'])} | {ci} | {_f(r['always_up_rate'])} | {edge} |"
            )
        lines += ["", f"![Price direction hit rate]({plots['price']})", ""]
        lines += _skill_lines(p["skill"], plots.get("skill"))
        lines += _worse_lines(p["symbols_judged"], p["symbols_worse_all_judged"])
        if p["unscorable"]:
            lines += [
                f"{p['unscorable']} resolved forecast{'' if p['unscorable'] == 1 else 's'} (each once, however "
                "often asked) could not be scored (an actual or forecast price that is not a finite number, or a "
                "last close of 0) and "
                f"{'is' if p['unscorable'] == 1 else 'are'} left out of every figure above.",
                "",
            ]
    else:
        lines += ["No price forecasts in the window.", ""]
    lines += ["## Sentiment", ""]
    if s["predictions"]:
        shares = ", ".join(f"{k} {_pct(v['share'])} ({v['count']})" for k, v in s["labels"].items())
        lines += [f"{s['predictions']} predictions: {shares}; mean score {_f(s['mean_score'])}.", ""]
        lines += [f"![Sentiment per day and score distribution]({plots['sentiment']})", ""]
    else:
        lines += ["No sentiment predictions in the window.", ""]
    lines += ["## Strategy weights", ""]
    if w["weights"]:
        lines += [
            f"{w['trades_in_window']} trade{'' if w['trades_in_window'] == 1 else 's'} closed in the window "
            f"({w['trades_total']} learnt from in all). "
            f"Weights now, by posterior {w['method']} win rate as `GET /bayesian/weights` serves them:",
            "",
            "| strategy | weight | wins (all time) | losses (all time) | win rate (posterior mean, decayed) |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        # the highest weights first; of many, the highest and lowest TABLE_ENDS (300 rows in name order, all 0.00x,
        # were no use: a review); every strategy is in report.json
        ranked = sorted(w["weights"].items(), key=lambda item: (-item[1]["weight"], item[0]))
        shown = ranked if len(ranked) <= 2 * TABLE_ENDS else [*ranked[:TABLE_ENDS], None, *ranked[-TABLE_ENDS:]]
        for row in shown:
            if row is None:
                lines.append(f"| … {len(ranked) - 2 * TABLE_ENDS} more (report.json lists them all) | | | | |")
                continue
            name, r = row
            cells = [markdown_text(name), f"{r['weight']:.3g}", r["wins"], r["losses"], _f(r["win_rate"])]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        lines.append("")
        if "strategies" in plots:
            lines += [f"![Strategy weights at the end of each day]({plots['strategies']})", ""]
    else:
        lines += ["No trades learnt from yet.", ""]
    return "\n".join(lines)


def _skill_lines(skill: dict[str, Any], plot: str | None) -> list[str]:
    """The live record of each version over the window (what /price/skill serves), with its intervals."""
    if not skill:
        return ["No forecast of the window is resolved and scored yet: no live skill to report.", ""]

    def figure(f: dict[str, Any], fmt: str = ".3f") -> str:
        if f["value"] is None:
            return "–"
        ci = f" [{f['ci95'][0]:{fmt}}, {f['ci95'][1]:{fmt}}]" if f["ci95"] else ""
        return f"{f['value']:{fmt}}{ci}"

    lines = [
        "Live skill (resolved forecasts; intervals by block bootstrap over non-overlapping horizon periods):",
        "",
        "| model_version | resolved | periods | MAE ratio to random walk | Brier skill vs its base | vs a coin "
        "| 80% cover | 90% cover |",
        "| --- | ---: | ---: | --- | --- | --- | --- | --- |",
    ]
    for version, s in skill.items():
        lines.append(
            f"| {version} | {s['n']} | {s['buckets']} | {figure(s['mae_ratio'])} "
            f"| {figure(s['brier_skill'], '+.3f')} | {figure(s['brier_skill_vs_coin'], '+.3f')} "
            f"| {figure(s['coverage80'])} | {figure(s['coverage90'])} |"
        )
    lines.append("")
    if plot:
        lines += [f"![Live skill by model version]({plot})", ""]
    return lines


def _worse_lines(judged: dict[str, int], worse: dict[str, dict[str, list[float]]]) -> list[str]:
    """Per version, how many symbols were judged and those whose own record is significantly worse than the random
    walk with all of them judged together (Bonferroni): at 95 % each, 1 in 20 good symbols is flagged by chance."""
    judged = {v: k for v, k in judged.items() if k}
    if not judged:
        return []
    lines = [
        "Symbols whose own live record is significantly worse than the random walk, with every symbol judged "
        "accounted for (MAE ratio, each interval at 1 - 0.05 / symbols judged; as `/price/health` degrades on):",
        "",
    ]
    for version, k in judged.items():
        symbols = worse.get(version, {})
        named = ", ".join(f"{s} {r:.3f} [{low:.3f}, {high:.3f}]" for s, (r, low, high) in symbols.items())
        lines.append(
            f"- {version}: {len(symbols)} of {k} symbol{'' if k == 1 else 's'} judged"
            + (f": {named}" if named else "")
        )
    return [*lines, ""]


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.1f}%"


_NOTHING_YET = (
    "Nothing to report yet: the journal holds no predictions and no trades in this window. "
    "The gateway logs every prediction it serves (`investiq up`), and the Bayesian service learns "
    "from the trades the agent reports (`POST /bayesian/update` or `/bayesian/sync-from-database`)."
)
