"""How PatchTST runs on a CPU: the graphs one export writes, and the one chosen for this machine.

    runtime             graph file       what it is
    onnxruntime         model.onnx       the portable graph, standard ONNX ops only (Triton's cpu and gpu
                                         flavours and TensorRT read it too)
    onnxruntime-fused   model.ort.onnx   the same graph after ONNX Runtime's transformer fusions
                                         (MultiHeadAttention, BiasGelu): contrib ops, ONNX Runtime only

Both are fp32 and validated against PyTorch within the same bound (export/patchtst.py, MAX_REL_DIFF),
so the choice changes speed, not forecasts. `choose_runtime("auto", ...)` picks from the CPU's
instruction sets (investiq/core/cpu.py), by what benchmarks/results/patchtst.md measured: the fused
graph where AVX-512 is present (measured faster there), the portable graph elsewhere (an AVX2-only
CPU keeps the path it was measured on). BF16 and INT8 were measured too and are not offered: their
quantiles leave the bound (benchmarks/results/patchtst.md has the figures). OpenVINO fp32 on model.onnx
stays within it and took less CPU per window in batches, but more per single window: not wired yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import NDArray

from investiq.core.errors import ArtifactError
from investiq.core.patchtst import ONNX_FILE, OUTPUTS, PROBABILITY_UP, TRAIN_AND_EXPORT

RuntimeName = Literal["onnxruntime", "onnxruntime-fused"]
RUNTIMES: tuple[str, ...] = get_args(RuntimeName)
PORTABLE = "onnxruntime"  # what served before issue 18, and the fallback on every CPU
FUSED = "onnxruntime-fused"
FUSED_ONNX_FILE = "model.ort.onnx"
GRAPHS = {PORTABLE: ONNX_FILE, FUSED: FUSED_ONNX_FILE}
FUSED_CPUS = frozenset({"avx512f"})  # where the fused graph was measured faster than the portable one
MAX_REL_DIFF = 1e-4  # graph vs PyTorch, or graph vs graph: relative for prices and volatility, absolute for P(up)


def sample_windows(batch: int, context: int, seed: int = 0) -> NDArray[np.float32]:
    """Geometric random walks around 100: positive prices [batch, context, 1] float32."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 0.01, size=(batch, context, 1))
    return np.asarray(100 * np.exp(np.cumsum(steps, axis=1)), dtype=np.float32)


def max_difference(got: Sequence[NDArray[Any]], want: Sequence[NDArray[Any]]) -> float:
    """The largest difference between two answers (the graph's OUTPUTS, in order, of equal shapes):
    relative for the prices and the volatility, absolute for P(up)."""
    worst = 0.0
    for name, g, w in zip(OUTPUTS, got, want, strict=True):
        scale = 1.0 if name == PROBABILITY_UP else np.abs(w)
        worst = max(worst, float(np.max(np.abs(g - w) / scale)))
    return worst


def graph_file(directory: Path, runtime: str) -> Path:
    """The ONNX file `runtime` runs in an export `directory`, checked to exist."""
    path = directory / GRAPHS[runtime]
    if not path.is_file():
        raise ArtifactError(f"missing ONNX file {path} for patchtst_runtime {runtime}: {TRAIN_AND_EXPORT}")
    return path


def choose_runtime(setting: str, sets: frozenset[str], directory: Path) -> tuple[str, str]:
    """(runtime, why) for a `patchtst_runtime` setting, on a CPU with instruction `sets`, for the export
    in `directory` (exports older than issue 18 have no fused graph: auto serves them as before)."""
    if setting != "auto":
        if setting not in GRAPHS:
            choices = ", ".join(RUNTIMES)
            raise ArtifactError(f"unknown patchtst_runtime {setting!r}; choose auto or one of {choices}")
        return setting, "set in patchtst_runtime"
    if not sets & FUSED_CPUS:
        return PORTABLE, "auto: no AVX-512 on this CPU"
    if not (directory / FUSED_ONNX_FILE).is_file():
        return PORTABLE, f"auto: this export has no {FUSED_ONNX_FILE} (export again to get it)"
    return FUSED, "auto: AVX-512 present"


def disagreement(session: Any, portable: Any, context_length: int) -> str | None:
    """How `session` departs from the portable graph's `portable` session on sample windows, or None within
    MAX_REL_DIFF: a graph other than the portable one serves only after this check on the CPU it runs on
    (export checked both against PyTorch, perhaps on another CPU). The embedded backend and Triton's cpu
    flavour (investiq/core/triton_adapters.py) both run it."""
    from investiq.core.patchtst import INPUT

    x = {INPUT: sample_windows(8, context_length, seed=18)}
    worst = max_difference(session.run(list(OUTPUTS), x), portable.run(list(OUTPUTS), x))
    if worst <= MAX_REL_DIFF:
        return None
    return f"its answers differ from {ONNX_FILE}'s by {worst:.2e} (more than {MAX_REL_DIFF:g}) on this CPU"
