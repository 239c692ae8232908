"""Where FinBERT's CPU time goes: ONNX Runtime's own profiler, per operator type, at batch 1 and batch 32.

    investiq bench finbert        # writes finbert_profile.md beside finbert.md

Each graph variant runs the committed headlines (~10 tokens each) --runs times at the given batch size with
`SessionOptions.enable_profiling`; the kernel times of the profile (one event per node and run) are summed
per op type. The share column is of the summed kernel time, which excludes ONNX Runtime's own overhead
between nodes (reported separately as the rest of the wall time).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from benchmarks import op_profile
from investiq.core.finbert import ATTENTION_MASK, MAX_TOKENS, OUTPUT, Encoder


def profile(model: Path, encoder: Encoder, texts: list[str], batch: int, runs: int) -> dict[str, Any]:
    """The op-type profile (benchmarks/op_profile.py) of `runs` runs of `batch` texts, cycling through `texts`."""
    feeds = [encoder([texts[(i * batch + j) % len(texts)] for j in range(batch)]) for i in range(runs)]
    return op_profile.profile(model, [OUTPUT], feeds, batch)


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
    lines += op_profile.tables(profiles)
    return "\n".join(lines)


def run(directory: Path, texts: list[str], *, runs: int = 50, out: Path | None = None) -> dict[str, Any]:
    """Profiles of today's INT8 graph and the fused INT8 graph at batch 1 and 32; finbert_profile.json/.md."""
    from benchmarks.common import record
    from harness.results import machine
    from investiq.core.cpu import describe
    from investiq.core.finbert import VARIANTS

    encoder = Encoder(directory, MAX_TOKENS)
    tokens = float(encoder(texts)[ATTENTION_MASK].sum(1).mean())
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
