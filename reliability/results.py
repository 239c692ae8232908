"""Recording a run: the machine it ran on, JSON for tools and markdown for people."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    """What the figures depend on. The load average says how busy the host was (shared machines)."""
    return {
        "platform": platform.platform(),
        "processor": _cpu_model() or platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def percentiles(latencies_ms: list[float]) -> dict[str, float | None]:
    """p50/p95/p99/max in milliseconds (None for no samples)."""
    if not latencies_ms:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    lat = np.asarray(latencies_ms)
    return {
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p95_ms": round(float(np.percentile(lat, 95)), 2),
        "p99_ms": round(float(np.percentile(lat, 99)), 2),
        "max_ms": round(float(lat.max()), 2),
    }


def command() -> str:
    """The command line that produced a result, to re-run it as it was."""
    module = Path(sys.argv[0]).stem
    args = " ".join(sys.argv[1:])
    return f".venv/bin/python -m reliability.{module} {args}".strip()


def write(out: Path, name: str, data: dict[str, Any], markdown: list[str]) -> tuple[Path, Path]:
    """out/NAME.json and out/NAME.md; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{name}.json", out / f"{name}.md"
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    m = data["machine"]
    footer = [
        "",
        f"Machine: {m['platform']}, {m['cpu_count']} CPUs ({m['processor']}), Python {m['python']}, "
        f"SQLite {m['sqlite']}; 1-minute load average at start {m['load_average_1m']}.",
        f"Run on {m['started_at']} in {data['seconds']:.0f} s. Re-run (from the repository root): "
        f"`{data['command']}`",
        "",
    ]
    md_path.write_text("\n".join(markdown + footer))
    return json_path, md_path


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """A markdown table; None shows as a dash."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join("–" if v is None else str(v) for v in row) + " |")
    return lines
