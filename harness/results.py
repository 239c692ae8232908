"""Recording a run (benchmarks and reliability checks alike): the machine it ran on, latency
percentiles, and the result as JSON for tools and markdown for people."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from investiq.core.cpu import MATMUL_SETS, instruction_sets, model_name


def machine() -> dict[str, Any]:
    """Where the figures were taken: they mean little without it (recorded in every result file). The
    load average says how busy the host was (shared machines)."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": model_name(),
        "vector_extensions": _vector_extensions(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
    }


def _vector_extensions() -> list[str]:
    """The instruction sets that decide matrix-multiply speed (investiq/core/cpu.py, the runtimes' choice reads the
    same), in its order: INT8 is only much faster than fp32 with VNNI or AMX, BF16 with AMX."""
    sets = instruction_sets()
    return [s for s in MATMUL_SETS if s in sets]


def describe(m: Mapping[str, object]) -> str:
    """One line for captions and tables, e.g. '2 CPUs (AMD EPYC; avx2, avx512_vnni), Python 3.11.7'."""
    model = m.get("cpu_model") or m.get("processor")
    extensions = m.get("vector_extensions")
    if isinstance(extensions, list) and extensions:
        model = f"{model}; {', '.join(extensions)}"
    return f"{m.get('cpu_count', '?')} CPUs ({model}), Python {m.get('python', '?')}"


PERCENTILES = ("p50_ms", "p95_ms", "p99_ms", "max_ms")


def percentiles(latencies_ms: Sequence[float], digits: int | None = None) -> dict[str, float]:
    """p50/p95/p99/max of per-call latencies in ms, rounded to `digits` if given. ValueError for no
    samples (a table row without them: dict.fromkeys(PERCENTILES))."""
    if len(latencies_ms) == 0:
        raise ValueError("no latencies to take percentiles of")
    lat = np.asarray(latencies_ms, dtype=np.float64)
    figures = [*np.percentile(lat, [50, 95, 99]), lat.max()]
    return {
        k: float(v) if digits is None else round(float(v), digits)
        for k, v in zip(PERCENTILES, figures, strict=True)
    }


def write(out: Path, name: str, data: Mapping[str, Any], text: str) -> tuple[Path, Path]:
    """out/NAME.json (the figures) and out/NAME.md (`text`); returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{name}.json", out / f"{name}.md"
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    md_path.write_text(text)
    return json_path, md_path


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A markdown table; None shows as a dash."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join("–" if v is None else str(v) for v in row) + " |")
    return lines
