"""The small formatters every part of report.md (training/evaluate_report.py) writes its figures with: a 95%
interval, a percentage, a count of symbols, a direction call beside always-up's; and the one phrase that says
what P(up) answers without a slope."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# What P(up) answers without a slope (training/calibrate.py drift_base): said so in every report
SERVED_BASE = (
    "the training up-rate, or the no-drift rate (0.5 where no close ties) at the steps where calibration did not "
    "keep it"
)


def interval(x: Sequence[float], fmt: str = ".4f") -> str:
    return f"[{x[0]:{fmt}}, {x[1]:{fmt}}]"


def symbols(n: int) -> str:
    return f"{n} symbol" + ("" if n == 1 else "s")


def pct(x: float) -> str:
    return f"{x:.1%}"


def called(x: dict[str, Any], ci: bool = True) -> str:
    """A call's hit rate (with its interval) beside always-up's on the same origins (a call that leaves flat ones
    out is compared on the rest), or "no call" where it called no direction at any origin."""
    if not x["n"]:
        return "no call"
    return (
        f"{x['rate']:.3f}"
        + (f" {interval(x['ci95'], '.3f')}" if ci else "")
        + f" (always-up {x['base_rate']:.3f})"
    )
