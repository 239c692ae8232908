"""ONNX Runtime's own profiler, summed per operator type: where a graph's CPU time goes.

One source for `investiq bench finbert` (finbert_profile.md) and `investiq bench patchtst`
(patchtst_profile.md). The session has the gateway's defaults otherwise (all graph optimisations,
spinning threads); the kernel times of the profile (one event per node and run) are summed per op type.
The share column is of the summed kernel time, which leaves out ONNX Runtime's own work between nodes
(the rest of the wall time, reported as 'other').
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from numpy.typing import NDArray

from investiq.core.ort_sessions import inference_session, session_options


def profile(model: Path, outputs: list[str], feeds: list[dict[str, NDArray[Any]]], batch: int) -> dict[str, Any]:
    """{"batch", "runs", "wall_ms" (per run), "kernel_ms" (per run), "ops": [{op, ms per run, share, nodes}]}
    for one profiled run per feed, after 3 unprofiled warm-up runs on the first feeds."""
    with tempfile.TemporaryDirectory() as tmp:
        options = session_options()  # as served
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = inference_session(model, options=options)
        for i in range(3):
            session.run(outputs, feeds[i % len(feeds)])
        start = time.perf_counter()
        for feed in feeds:
            session.run(outputs, feed)
        wall_ms = (time.perf_counter() - start) * 1000 / len(feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    per_op: dict[str, float] = defaultdict(float)
    nodes: dict[str, set[str]] = defaultdict(set)
    profiled = sum(1 for e in events if e.get("cat") == "Session" and e.get("name") == "model_run")
    for e in events:
        if e.get("cat") == "Node" and str(e.get("name", "")).endswith("_kernel_time"):
            per_op[e["args"]["op_name"]] += e["dur"] / 1000  # us -> ms
            nodes[e["args"]["op_name"]].add(e["name"])
    kernel_ms = sum(per_op.values()) / profiled
    ops = [
        {"op": op, "ms": ms / profiled, "share": ms / profiled / kernel_ms, "nodes": len(nodes[op])}
        for op, ms in sorted(per_op.items(), key=lambda kv: -kv[1])
    ]
    return {"batch": batch, "runs": len(feeds), "wall_ms": wall_ms, "kernel_ms": kernel_ms, "ops": ops}


def tables(profiles: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Markdown: one table of op types per graph and batch size."""
    lines: list[str] = []
    for graph, by_batch in profiles.items():
        for p in by_batch:
            lines += [
                f"## {graph}, batch {p['batch']} ({p['runs']} runs): {p['wall_ms']:.2f} ms wall per run, "
                f"{p['kernel_ms']:.2f} ms in kernels, other {max(p['wall_ms'] - p['kernel_ms'], 0):.2f} ms",
                "",
                "| op type | ms per run | share | nodes |",
                "| --- | ---: | ---: | ---: |",
            ]
            lines += [f"| {o['op']} | {o['ms']:.3f} | {o['share']:.1%} | {o['nodes']} |" for o in p["ops"]]
            lines.append("")
    return lines
