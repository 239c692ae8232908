"""PatchTST's speed on this CPU, runtime by runtime, side by side in one run (issue 18).

    investiq bench patchtst [--runs 200] [--batch 256] [--batch-runs 12]

The model: the PatchTST/64 shape of benchmarks/gateway.py (context 512, horizon 12, 3 layers of d_model
128, 16 heads), with its forecasting head drawn at random (seeded) so that the forecast depends on the
network: the barely trained bench model's head is near zero and would hide every runtime's errors.
Speed does not depend on the weights. Rows, on the same windows, in blocks that alternate so that drift
on a shared machine hits all of them alike:

    before                     the graph exported before issue 18, with the gateway's session options
    onnxruntime                the portable graph of today's export (BatchNorm as an affine, no transposes)
    onnxruntime-fused          ONNX Runtime's transformer fusions of it (MultiHeadAttention, BiasGelu)
    openvino-bf16              the split graphs (normalisation and de-normalisation fp32, backbone BF16),
                               as the gateway serves them (where openvino is installed)
    thread settings            1 intra-op thread (before and fused: their CPU time is the compute alone,
                               the surest ratio on a busy machine), and the fused graph with spinning off
    INT8, OpenVINO fp32/BF16   on the whole graph: measured, not offered; see the accuracy columns

Accuracy is against PyTorch fp32 on 256 windows: the export's bound (relative for prices and volatility,
absolute for P(up), MAX_REL_DIFF), and the quantiles' error in standard deviations of the forecast; a row
outside MAX_REL_DIFF is judged by the BF16 bound too (investiq/core/patchtst_runtime.py, bf16_problem).
The per-operator profile of the graphs goes to patchtst_profile.md (benchmarks/patchtst_profile.py).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks import patchtst_profile
from benchmarks.common import record
from gateway.backends.embedded import load_patchtst, ort_session
from harness.processes import in_child
from harness.results import machine, percentiles
from investiq.core.cpu import describe, instruction_sets
from investiq.core.errors import ArtifactError
from investiq.core.ort_sessions import inference_session, session_options
from investiq.core.patchtst import INPUT, ONNX_FILE, OUTPUTS
from investiq.core.patchtst_runtime import (
    BF16_MAX_P_UP,
    BF16_MAX_QUANTILE_SD,
    FUSED,
    FUSED_ONNX_FILE,
    MAX_REL_DIFF,
    OPENVINO_BF16,
    PORTABLE,
    bf16_problem,
    choose_runtime,
    forecast_errors,
    openvino_graph,
    openvino_installed,
    sample_windows,
)
from investiq.core.patchtst_runtime import max_difference as max_diff

BLOCKS = 4
TARGET = 2500.0  # windows/s in-process at batch 256 on a 2-core AVX-512/AMX machine (issue 18)
BEFORE, INT8 = "before.onnx", "int8.onnx"
Call = Callable[[NDArray[np.float32]], list[NDArray[Any]]]


def prepare(work: Path, batch: int) -> Path:
    """work/patchtst-runtimes: the bench model (head drawn at random) exported as now (validated) and as
    before issue 18, its INT8 variant, and PyTorch's answers on `batch` windows (reference.npz)."""
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from benchmarks.gateway import prepare_patchtst
    from export.patchtst import export_graph, write_export
    from training.forecaster import load_forecaster

    prepare_patchtst(work)
    forecaster, meta = load_forecaster(work / "patchtst-bench")
    generator = torch.Generator().manual_seed(18)
    with torch.no_grad():
        head = forecaster.head.weight
        head.copy_(torch.randn(head.shape, generator=generator) / head.shape[1] ** 0.5)
        forecaster.slope.fill_(0.3)  # P(up) follows the network too, unclipped
        forecaster.p_low.fill_(0.0)
        forecaster.p_high.fill_(1.0)
    out = work / "patchtst-runtimes"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    write_export(forecaster, meta, out)
    export_graph(forecaster, meta.context_length, out / BEFORE, channel_last=False)
    # every MatMul with constant weights but the EWMA of squared returns (the volatility stays fp32)
    ewma = [n.name for n in onnx.load(str(out / FUSED_ONNX_FILE)).graph.node if "ewma" in n.input]
    if not ewma:  # quantised too, the row would judge another graph than it names
        raise ArtifactError(f"no node of {out / FUSED_ONNX_FILE} reads the weights named 'ewma' to keep in fp32")
    quantize_dynamic(out / FUSED_ONNX_FILE, out / INT8, weight_type=QuantType.QInt8, nodes_to_exclude=ewma)
    windows = sample_windows(batch, meta.context_length, seed=2500)
    with torch.no_grad():
        answers = [t.numpy() for t in forecaster(torch.from_numpy(windows))]
    np.savez(out / "reference.npz", windows=windows, **dict(zip(OUTPUTS, answers, strict=True)))
    return out


def prepare_in_child(work: Path, batch: int) -> Path:
    """`prepare` in a child process: PyTorch's threads would stay behind in the measuring one."""
    in_child(f"import benchmarks.patchtst as b; b.prepare(pathlib.Path({str(work)!r}), {batch})")
    return work / "patchtst-runtimes"


def _ort(path: Path, threads: int = 0, spinning: bool = True) -> Call:
    session = inference_session(path, options=session_options(threads, spinning))
    return lambda x: list(session.run(list(OUTPUTS), {INPUT: x}))


def _openvino(path: Path, precision: str) -> Call | None:
    if not openvino_installed():
        return None
    graph = openvino_graph(path, precision)
    return lambda x: [np.array(v) for v in graph({INPUT: x}).values()]  # copies: the request reuses its buffers


def _served(directory: Path, runtime: str) -> Call | None:
    """`runtime` as the gateway serves it (load_patchtst: warmed up, checked against the portable graph),
    or None where it cannot serve here (openvino-bf16 without openvino)."""
    try:
        session = load_patchtst(directory, runtime)[1]
    except ArtifactError as exc:
        print(f"no {runtime} row: {exc}")
        return None
    return lambda x: session.run(list(OUTPUTS), {INPUT: x})


def calls(directory: Path) -> dict[str, Call]:
    """The rows: a name and a function of windows [b, context, 1] -> the graph's OUTPUTS."""
    before = ort_session(directory / BEFORE)
    rows: dict[str, Call | None] = {
        f"before ({BEFORE}: the export before issue 18)": lambda x: list(before.run(list(OUTPUTS), {INPUT: x})),
        f"{PORTABLE} ({ONNX_FILE})": _served(directory, PORTABLE),
        f"{FUSED} ({FUSED_ONNX_FILE})": _served(directory, FUSED),
        f"{OPENVINO_BF16} (split graphs: backbone BF16, the rest fp32)": _served(directory, OPENVINO_BF16),
        "before, 1 intra-op thread": _ort(directory / BEFORE, threads=1),  # with the next: compute alone
        f"{FUSED}, 1 intra-op thread": _ort(directory / FUSED_ONNX_FILE, threads=1),
        f"{FUSED}, no spinning": _ort(directory / FUSED_ONNX_FILE, spinning=False),
        f"{FUSED} + dynamic INT8 MatMuls": _ort(directory / INT8),
        f"OpenVINO fp32 ({ONNX_FILE})": _openvino(directory / ONNX_FILE, "f32"),
        f"OpenVINO BF16 ({ONNX_FILE})": _openvino(directory / ONNX_FILE, "bf16"),
    }
    return {name: call for name, call in rows.items() if call is not None}


def accuracy(call: Call, reference: dict[str, NDArray[Any]]) -> dict[str, Any]:
    """Against PyTorch fp32: the export's bound, the quantiles' error in forecast standard deviations
    (last close * volatility * sqrt(h)), P(up)'s absolute error, and which bound holds ('yes': MAX_REL_DIFF,
    'BF16 bound': bf16_problem's only, 'no')."""
    x = reference["windows"]
    got, want = call(x), [reference[name] for name in OUTPUTS]
    errors = forecast_errors(x, got, want)
    worst = max_diff(got, want)
    bound = "yes" if worst <= MAX_REL_DIFF else ("BF16 bound" if bf16_problem(errors) is None else "no")
    return {
        "max_diff": worst,
        "quantile_error_sd": errors.quantile_sd,
        "p_up_abs": errors.p_up_abs,
        "bound": bound,
    }


def measure(rows: dict[str, Call], windows: NDArray[np.float32], runs: int, batch_runs: int) -> dict[str, Any]:
    """Per row: single-window latency percentiles, and windows/s and CPU ms per window on all `windows`
    at once (CPU time of the whole process: spinning threads count), in BLOCKS alternating blocks."""
    single: dict[str, list[float]] = {name: [] for name in rows}
    wall: dict[str, list[float]] = {name: [] for name in rows}
    cpu: dict[str, list[float]] = {name: [] for name in rows}
    for call in rows.values():
        call(windows[:1])
        call(windows)
    for _ in range(BLOCKS):
        for name, call in rows.items():
            for k in range(runs // BLOCKS):
                begin = time.perf_counter()
                call(windows[k % len(windows)][None])
                single[name].append((time.perf_counter() - begin) * 1000)
            for _ in range(max(1, batch_runs // BLOCKS)):
                begin, begin_cpu = time.perf_counter(), time.process_time()
                call(windows)
                wall[name].append(time.perf_counter() - begin)
                cpu[name].append(time.process_time() - begin_cpu)
    return {
        name: percentiles(single[name])
        | {
            "windows_per_s": len(windows) / float(np.median(wall[name])),
            "cpu_ms_per_window": float(np.median(cpu[name])) * 1000 / len(windows),
        }
        for name in rows
    }


def run(work: Path, runs: int, batch: int, batch_runs: int, out: Path | None) -> dict[str, Any]:
    directory = prepare_in_child(work, batch)
    reference = dict(np.load(directory / "reference.npz"))
    chosen, why = choose_runtime("auto", instruction_sets(), directory)
    load_before = os.getloadavg()[0]
    rows = calls(directory)
    figures = measure(rows, reference["windows"], runs, batch_runs)
    for name, call in rows.items():
        figures[name] |= accuracy(call, reference)
    cpu = f"{describe()}, {os.cpu_count()} cores, load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}"
    result = {
        "machine": machine(),
        "cpu": cpu,
        "batch": batch,
        "runs": runs,
        "auto": {"runtime": chosen, "why": why},
        "target_windows_per_s": TARGET,
        "rows": figures,
    }
    record(out, "patchtst", result, render(result))
    graphs = {"before": directory / BEFORE, PORTABLE: directory / ONNX_FILE, FUSED: directory / FUSED_ONNX_FILE}
    patchtst_profile.run(graphs, reference["windows"], cpu, runs=max(20, runs // 2), out=out)
    return result


def render(r: dict[str, Any]) -> str:
    rows = r["rows"]
    names = list(rows)
    before = rows[names[0]]
    after_name = next(n for n in names if n.startswith(f"{r['auto']['runtime']} ("))
    after = rows[after_name]
    lines = [
        "# PatchTST on CPU: runtimes side by side (issue 18)",
        "",
        f"Machine: {r['cpu']}. Reproduce: `investiq bench patchtst` (benchmarks/patchtst.py). One window: p50/p99 "
        f"over {r['runs']} calls; batch: {r['batch']} windows per call. Rows alternate in {BLOCKS} blocks. CPU ms "
        "are the whole process's (spinning threads count). Accuracy: against PyTorch fp32 on the same "
        f"{r['batch']} windows; the bound is the export's, {MAX_REL_DIFF:g} (yes), or for BF16 paths quantiles "
        f"within {BF16_MAX_QUANTILE_SD:g} forecast sd, P(up) within {BF16_MAX_P_UP:g} and never across 0.5 where "
        "PyTorch's is decided, volatility within the export's bound (BF16 bound).",
        "",
        f"**Before -> after** (auto on this CPU: `{r['auto']['runtime']}`, {r['auto']['why']}): "
        f"{before['windows_per_s']:,.0f} -> **{after['windows_per_s']:,.0f} windows/s** at batch {r['batch']} "
        f"({after['windows_per_s'] / before['windows_per_s']:.2f}x), one window {before['p50_ms']:.2f} -> "
        f"**{after['p50_ms']:.2f} ms** p50. Target {r['target_windows_per_s']:,.0f} windows/s: "
        + ("met." if after["windows_per_s"] >= r["target_windows_per_s"] else "not met on this run."),
        "",
        "| path | 1 window p50 ms | p99 ms | windows/s | vs before | CPU ms/window | max diff vs PyTorch "
        "| quantiles, sd | P(up) abs | within bound |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, f in rows.items():
        lines.append(
            f"| {name} | {f['p50_ms']:.2f} | {f['p99_ms']:.2f} | {f['windows_per_s']:,.0f} | "
            f"{f['windows_per_s'] / before['windows_per_s']:.2f}x | {f['cpu_ms_per_window']:.3f} | "
            f"{f['max_diff']:.1e} | {f['quantile_error_sd']:.4f} | {f['p_up_abs']:.1e} | "
            f"{f['bound']} |"
        )
    lines.append("")
    return "\n".join(lines)
