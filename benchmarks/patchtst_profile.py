"""Where PatchTST's CPU time goes: ONNX Runtime's own profiler, per operator type, at batch 1 and a large batch.

    investiq bench patchtst       # writes patchtst_profile.md beside patchtst.md

Each graph runs the same windows with `SessionOptions.enable_profiling` and the gateway's session options
otherwise; the kernel times of the profile (one event per node and run) are summed per op type. The share
column is of the summed kernel time, which leaves out ONNX Runtime's own work between nodes (the rest of
the wall time). With it, what each graph is made of: its nodes by op type, before ONNX Runtime's own
optimisations.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks import op_profile
from investiq.core.patchtst import INPUT, OUTPUTS


def profile(model: Path, windows: NDArray[np.float32], runs: int) -> dict[str, Any]:
    """The op-type profile (benchmarks/op_profile.py) of `runs` runs on `windows` [batch, context, 1]."""
    return op_profile.profile(model, list(OUTPUTS), [{INPUT: windows}] * runs, len(windows))


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
    lines += op_profile.tables(result["profiles"])
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
