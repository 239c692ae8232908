"""Where FinBERT's CPU time goes: ONNX Runtime's own profiler, per operator type, at batch 1 and batch 32.

    investiq bench finbert        # writes finbert_profile.md beside finbert.md

Each graph variant runs the committed headlines (~10 tokens each) --runs times at the given batch size with
`SessionOptions.enable_profiling`; the kernel times of the profile (one event per node and run) are summed
per op type. The share column is of the summed kernel time, which excludes ONNX Runtime's own overhead
between nodes (reported separately as the rest of the wall time).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from investiq.core.finbert import OUTPUT, Encoder


def profile(model: Path, encoder: Encoder, texts: list[str], batch: int, runs: int) -> dict[str, Any]:
    """{"batch", "runs", "wall_ms" (per run), "kernel_ms" (per run), "ops": [{op, ms per run, share, nodes}]}
    for `runs` runs of `batch` texts (cycling through `texts`), after 3 unprofiled warm-up runs."""
    import onnxruntime as ort

    inputs = [encoder([texts[(i * batch + j) % len(texts)] for j in range(batch)]) for i in range(runs)]
    with tempfile.TemporaryDirectory() as tmp:
        # ONNX Runtime's defaults are the gateway's (ort_session): all graph optimisations, spinning threads.
        options = ort.SessionOptions()
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        for feed in inputs[:3]:
            session.run([OUTPUT], feed)
        start = time.perf_counter()
        for feed in inputs:
            session.run([OUTPUT], feed)
        wall_ms = (time.perf_counter() - start) * 1000 / runs
        events = json.loads(Path(session.end_profiling()).read_text())
    per_op: dict[str, float] = defaultdict(float)
    nodes: dict[str, set[str]] = defaultdict(set)
    profiled_runs = 0
    for e in events:
        if e.get("cat") == "Session" and e.get("name") == "model_run":
            profiled_runs += 1
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time"):
            continue
        op = e["args"]["op_name"]
        per_op[op] += e["dur"] / 1000  # us -> ms
        nodes[op].add(e["name"])
    kernel_ms = sum(per_op.values()) / profiled_runs
    ops = [
        {"op": op, "ms": ms / profiled_runs, "share": ms / profiled_runs / kernel_ms, "nodes": len(nodes[op])}
        for op, ms in sorted(per_op.items(), key=lambda kv: -kv[1])
    ]
    return {"batch": batch, "runs": runs, "wall_ms": wall_ms, "kernel_ms": kernel_ms, "ops": ops}


def render(profiles: dict[str, list[dict[str, Any]]], machine_line: str, tokens: float) -> str:
    lines = [
        "# FinBERT on CPU: time per operator type (ONNX Runtime profiler)",
        "",
        f"Machine: {machine_line}. Model: BERT-base shape, random weights; committed headlines, "
        f"{tokens:.1f} tokens on average. Reproduce: `investiq bench finbert` (benchmarks/finbert_profile.py).",
        "ms are per run (one batch); share is of the summed kernel time; 'other' is wall time minus kernel time "
        "(ONNX Runtime's scheduling, input copies, thread wake-ups). The machine is shared: absolute ms move with "
        "its load, shares much less.",
        "",
    ]
    for variant, by_batch in profiles.items():
        for p in by_batch:
            lines += [
                f"## {variant}, batch {p['batch']} ({p['runs']} runs): {p['wall_ms']:.2f} ms wall per run, "
                f"{p['kernel_ms']:.2f} ms in kernels, other {max(p['wall_ms'] - p['kernel_ms'], 0):.2f} ms",
                "",
                "| op type | ms per run | share | nodes |",
                "| --- | ---: | ---: | ---: |",
            ]
            lines += [f"| {o['op']} | {o['ms']:.3f} | {o['share']:.1%} | {o['nodes']} |" for o in p["ops"]]
            lines.append("")
    return "\n".join(lines)


def run(directory: Path, texts: list[str], *, runs: int = 50, out: Path | None = None) -> dict[str, Any]:
    """Profiles of today's INT8 graph and the fused INT8 graph at batch 1 and 32; finbert_profile.json/.md."""
    from benchmarks.common import record
    from harness.results import machine
    from investiq.core.cpu import describe
    from investiq.core.finbert import VARIANTS

    encoder = Encoder(directory, 128)
    tokens = float(encoder(texts)["attention_mask"].sum(1).mean())
    profiles = {
        f"{variant} ({VARIANTS[variant]})": [
            profile(
                directory / VARIANTS[variant], encoder, texts, batch, runs if batch == 1 else max(5, runs // 5)
            )
            for batch in (1, 32)
        ]
        for variant in ("int8", "int8-fused")
        if (directory / VARIANTS[variant]).is_file()
    }
    cpu = f"{describe()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    result = {"machine": machine(), "cpu": cpu, "mean_tokens": tokens, "profiles": profiles}
    record(out, "finbert_profile", result, render(profiles, cpu, tokens))
    return result
