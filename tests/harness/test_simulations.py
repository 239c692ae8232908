"""The simulations the README cites as evidence run, on a few runs each (`python -m harness.<name>`): a change that
broke one would leave a figure nobody can reproduce. Their figures are not checked here: a few runs say nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("module", "args", "printed"),
    [
        ("backtest_null", ["--runs", "1", "--bars", "1500", "--reps", "50"], "random walks of 1500 days"),
        ("gate_power", ["--runs", "2"], "| persistent |"),
        ("p_up_base", ["--series", "2"], "| driftless, short |"),
        ("skill_periods", ["--runs", "2"], "| 600 hourly |"),
        ("gap_intervals", ["--symbols", "1", "--start", "2024-10-01"], "| 80 % interval |"),
    ],
)
def test_a_cited_simulation_runs_and_prints_its_table(module: str, args: list[str], printed: str):
    done = subprocess.run(
        [sys.executable, "-m", f"harness.{module}", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert printed in done.stdout, done.stdout[-2000:]
