"""report.md of `investiq evaluate patchtst`: a headline that states the verdicts, then the tables,
all rendered from report.json's numbers (training/evaluate.py) so that the two cannot disagree."""

from __future__ import annotations

from typing import Any

from training.evaluate import FIGURES
from training.evaluate_format import symbols
from training.evaluate_headline import headline
from training.evaluate_sections import (
    backtest_section,
    data_warnings_section,
    direction_section,
    interval_section,
    point_section,
    probability_section,
)


def render(r: dict[str, Any]) -> str:
    """report.md from a report (what `evaluate` returns and writes as report.json)."""
    h = r["horizon"]
    lines = [
        f"# PatchTST walk-forward evaluation (version {r['model_version']})",
        "",
        f"{r['interval']} bars, context {r['context_length']}, horizon {h}, {symbols(len(r['symbols']))}, "
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
