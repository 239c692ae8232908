"""Where the reliability scripts record a run (harness/results.py writes it) and how to re-run it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from harness.results import describe, write

RESULTS = Path(__file__).parent / "results"


def command() -> str:
    """The command line that produced a result, to re-run it as it was."""
    module = Path(sys.argv[0]).stem
    args = " ".join(sys.argv[1:])
    return f".venv/bin/python -m reliability.{module} {args}".strip()


def report(out: Path, name: str, data: dict[str, Any], markdown: list[str]) -> int:
    """Write out/NAME.json and out/NAME.md (`markdown` and a footer: the machine, when, how to re-run)
    and print the markdown; the exit code: 0 if the promise held (data["passed"])."""
    m = data["machine"]
    footer = [
        "",
        f"Machine: {m['platform']}, {describe(m)}, SQLite {m['sqlite']}; "
        f"1-minute load average at start {m['load_average_1m']}.",
        f"Run on {m['started_at']} in {data['seconds']:.0f} s. Re-run (from the repository root): "
        f"`{data['command']}`",
        "",
    ]
    paths = write(out, name, data, "\n".join(markdown + footer))
    print("\n".join(markdown))
    print(f"\nwritten: {', '.join(map(str, paths))}")
    return 0 if data["passed"] else 1
