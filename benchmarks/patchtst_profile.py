"""Where PatchTST's CPU time goes: ONNX Runtime's own profiler, per operator type, at batch 1 and a large batch.

    investiq bench patchtst       # writes patchtst_profile.md beside patchtst.md

Each graph runs the same windows with `SessionOptions.enable_profiling` and the gateway's session options
otherwise; the kernel times of the profile (one event per node and run) are summed per op type. The share
column is of the summed kernel time, which leaves out ONNX Runtime's own work between nodes (the rest of
the wall time). With it, what each graph is made of: its nodes by op type, before ONNX Runtime's own
optimisations.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from investiq.core.patchtst import INPUT, OUTPUTS


def profile(model: Path, windows: NDArray[np.float32], runs: int) -> dict[str, Any]:
    """{"batch", "runs", "wall_ms" (per run), "kernel_ms" (per run), "ops": [{op, ms per run, share, nodes}]}
    for `runs` runs on `windows` [batch, context, 1], after 3 unprofiled warm-up runs."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()  # otherwise the gateway's: all optimisations, spinning threads
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        feed = {INPUT: windows}
        for _ in range(3):
            session.run(list(OUTPUTS), feed)
        start = time.perf_counter()
        for _ in range(runs):
            session.run(list(OUTPUTS), feed)
        wall_ms = (time.perf_counter() - start) * 1000 / runs
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
    return {"batch": len(windows), "runs": runs, "wall_ms": wall_ms, "kernel_ms": kernel_ms, "ops": ops}


def op_counts(model: Path) -> dict[str, int]:
    """The graph's nodes by op type, as exported (before ONNX Runtime's optimisations)."""
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    return dict(Counter(n.op_type for n in graph.node).most_common())


def render(result: dict[str, Any]) -> str:
    lines = [
        "# PatchTST on CPU: time per operator type (ONNX Runtime profiler)",
        "",
        f"Machine: {result['cpu']}. Model: PatchTST/64 shape (context 512, 63 patches, 3 layers of d_model 128, "
        "16 heads of 8). Reproduce: `investiq bench patchtst` (benchmarks/patchtst_profile.py).",
        "ms are per run (one batch); share is of the summed kernel time; 'other' is wall time minus kernel time. "
        "The machine is shared: absolute ms move with its load (recorded above), shares much less.",
        "",
        "What the graphs show (issue 18): the EWMA volatility is one MatMul of the squared returns [B, 511] with "
        "a precomputed decay vector, not a chain of 511 steps, and costs nothing visible. Before, transformers' "
        "BatchNorm sits between two Transposes 6 times; ONNX Runtime folds the second Transpose into the next "
        "projection, which then runs as a FusedMatMul with a transposed operand, one 63-row product per window. "
        "Attention is unfused (per-head Transposes, MatMul, Softmax, MatMul) and GELU is Erf-based. The portable "
        "graph exports BatchNorm as the affine it is (plain MatMuls over all windows, packed weights); the fused "
        "graph adds ONNX Runtime's MultiHeadAttention and BiasGelu. What remains is attention itself: 16 heads of "
        "8 dimensions over 63 patches make many tiny products and a softmax over 16 x 63 x 63 scores per window "
        "and layer, whatever the runtime.",
        "",
        "## The graphs, node counts by op type (as exported)",
        "",
    ]
    for graph, counts in result["op_counts"].items():
        lines.append(
            f"- {graph} ({sum(counts.values())} nodes): " + ", ".join(f"{k} {v}" for k, v in counts.items())
        )
    lines.append("")
    for graph, by_batch in result["profiles"].items():
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
    return "\n".join(lines)


def run(
    graphs: dict[str, Path], windows: NDArray[np.float32], cpu: str, runs: int, out: Path | None
) -> dict[str, Any]:
    """Profiles of `graphs` (label -> ONNX file) at batch 1 and len(windows); patchtst_profile.json/.md."""
    from benchmarks.common import record
    from harness.results import machine

    profiles = {
        label: [profile(path, windows[:1], runs), profile(path, windows, max(3, runs // 20))]
        for label, path in graphs.items()
    }
    counts = {label: op_counts(path) for label, path in graphs.items()}
    result = {"machine": machine(), "cpu": cpu, "op_counts": counts, "profiles": profiles}
    record(out, "patchtst_profile", result, render(result))
    return result
