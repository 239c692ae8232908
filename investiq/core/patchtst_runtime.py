"""How PatchTST runs on a CPU: the graphs one export writes, and the one chosen for this machine.

    runtime             graph files                 what it is
    onnxruntime         model.onnx                  the portable graph, standard ONNX ops only (Triton's cpu
                                                    and gpu flavours and TensorRT read it too)
    onnxruntime-fused   model.ort.onnx              the same graph after ONNX Runtime's transformer fusions
                                                    (MultiHeadAttention, BiasGelu): contrib ops, ONNX Runtime only
    openvino-bf16       model.pre.onnx              the same function in three graphs (SPLIT_FILES), run by
                        model.backbone.onnx         OpenVINO: the normalisation (log returns, EWMA volatility)
                        model.post.onnx             and the de-normalisation (prices, calibration, P(up)) in
                                                    fp32, the transformer backbone and its head in BF16 (AMX)

The ONNX Runtime graphs are fp32 and within MAX_REL_DIFF of PyTorch, so choosing between them changes speed,
not forecasts. openvino-bf16 is judged by a forecast's own scale instead (`bf16_problem`): its quantiles
within BF16_MAX_QUANTILE_SD standard deviations of the forecast, P(up) within BF16_MAX_P_UP and never on
the other side of 0.5 where the reference is decided, the volatility (computed in fp32) within
MAX_REL_DIFF. OpenVINO BF16 on the whole of model.onnx is not offered: it runs the log returns in BF16
too (prices near 100 keep 8 bits: a 1% return is lost) and its quantiles moved by 0.42 sd
(benchmarks/results/patchtst.md); the CPU plugin ignores per-node precision marks (rt_info) from Python,
so the split is done at export. `choose_runtime("auto", ...)` picks from the CPU's instruction sets
(investiq/core/cpu.py), by what benchmarks/results/patchtst.md measured: openvino-bf16 where the CPU
has BF16 instructions (AMX or AVX512_BF16), OpenVINO is installed and the export has the split graphs;
else the fused graph where AVX2 or AVX-512 is present (measured faster on both: 1.21-1.28x windows/s on an
AVX2-only EPYC, benchmarks/results/avx2/); else (another architecture, not measured) the portable graph.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import NDArray

from investiq.core.artifacts import damaged
from investiq.core.errors import ArtifactError
from investiq.core.openvino_core import compile_model
from investiq.core.patchtst import (
    INPUT,
    LEVEL_TIE,
    ONNX_FILE,
    OUTPUTS,
    PROBABILITY_UP,
    QUANTILE_LEVELS,
    QUANTILES,
    TRAIN_AND_EXPORT,
    VOLATILITY,
)

RuntimeName = Literal["onnxruntime", "onnxruntime-fused", "openvino-bf16"]
RUNTIMES: tuple[str, ...] = get_args(RuntimeName)
PORTABLE = "onnxruntime"  # what served before issue 18, and the fallback on every CPU
FUSED = "onnxruntime-fused"
OPENVINO_BF16 = "openvino-bf16"
FUSED_ONNX_FILE = "model.ort.onnx"
# The split graphs and the tensors between them: past_values -> (reading [B, C, 1], sigma [B]) -> u [B, H, K]
# (the network's quantiles in units of sigma * sqrt(h)) -> OUTPUTS, the post graph reading past_values too.
PRE_FILE, BACKBONE_FILE, POST_FILE = "model.pre.onnx", "model.backbone.onnx", "model.post.onnx"
SPLIT_FILES = (PRE_FILE, BACKBONE_FILE, POST_FILE)
READING, SIGMA, RAW_QUANTILES = "reading", "sigma", "u"
GRAPHS: dict[str, tuple[str, ...]] = {
    PORTABLE: (ONNX_FILE,),
    FUSED: (FUSED_ONNX_FILE,),
    OPENVINO_BF16: SPLIT_FILES,
}
FUSED_CPUS = frozenset({"avx2", "avx512f"})  # where the fused graph was measured faster than the portable one
BF16_CPUS = frozenset({"amx_bf16", "avx512_bf16"})  # where OpenVINO runs BF16 products natively
MAX_REL_DIFF = 1e-4  # fp32 graph vs PyTorch, or vs graph: relative for prices and volatility, absolute for P(up)
BF16_MAX_QUANTILE_SD = 0.02  # BF16 quantiles: in standard deviations of the forecast (measured 0.003)
BF16_MAX_P_UP = 0.01  # BF16 P(up), absolute (measured 2e-4)
Run = Callable[[dict[str, NDArray[Any]]], dict[str, NDArray[Any]]]  # one graph: its inputs -> its outputs


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


@dataclass(frozen=True)
class ForecastErrors:
    """How far an answer is from a reference answer, in the forecast's own terms."""

    quantile_sd: float  # largest quantile difference in forecast standard deviations (close * sigma * sqrt(h))
    p_up_abs: float  # largest absolute P(up) difference
    volatility_rel: float  # largest relative volatility difference
    p_up_flipped: int  # P(up) on the other side of 0.5 where the reference is more than BF16_MAX_P_UP from it


def forecast_errors(
    windows: NDArray[Any], got: Sequence[NDArray[Any]], want: Sequence[NDArray[Any]]
) -> ForecastErrors:
    """`got` against `want` (OUTPUTS, in order) for `windows` [n, context, 1]. A quantile whose level lies between
    the two answers' 1 - P(up) (padded by LEVEL_TIE) is not compared: the graph holds the quantiles to P(up)
    (training/forecaster.py, `agreeing`), so one may sit at the last close in one answer and off it in the other
    where the two P(up)s fall either side of its level, as P(up) may cross 0.5 where it is undecided."""
    answer, reference = dict(zip(OUTPUTS, got, strict=True)), dict(zip(OUTPUTS, want, strict=True))
    horizon, k = reference[QUANTILES].shape[1:]
    sd = windows[:, -1:, 0] * reference[VOLATILITY] * np.sqrt(np.arange(1, horizon + 1))[None, :]  # [n, H]
    p, q = answer[PROBABILITY_UP], reference[PROBABILITY_UP]
    decided = np.abs(q - 0.5) > BF16_MAX_P_UP
    levels = np.asarray(QUANTILE_LEVELS if k == len(QUANTILE_LEVELS) else [np.nan] * k)  # NaN: every one compared
    low, high = np.minimum(1 - p, 1 - q)[..., None] - LEVEL_TIE, np.maximum(1 - p, 1 - q)[..., None] + LEVEL_TIE
    compared = ~((low <= levels) & (levels <= high))  # [n, H, K]
    off = np.abs(answer[QUANTILES] - reference[QUANTILES]) / sd[..., None]
    return ForecastErrors(
        quantile_sd=float(np.max(np.where(compared | np.isnan(off), off, 0.0))),
        p_up_abs=float(np.max(np.abs(p - q))),
        volatility_rel=float(np.max(np.abs(answer[VOLATILITY] - reference[VOLATILITY]) / reference[VOLATILITY])),
        p_up_flipped=int(np.sum(decided & ((p > 0.5) != (q > 0.5)))),
    )


def bf16_problem(errors: ForecastErrors) -> str | None:
    """What leaves the BF16 bound, in words, or None (`not <=`: a NaN fails too)."""
    out = []
    if not errors.quantile_sd <= BF16_MAX_QUANTILE_SD:
        out.append(f"quantiles off by {errors.quantile_sd:.3g} forecast sd (> {BF16_MAX_QUANTILE_SD:g})")
    if not errors.p_up_abs <= BF16_MAX_P_UP:
        out.append(f"P(up) off by {errors.p_up_abs:.3g} (> {BF16_MAX_P_UP:g})")
    if errors.p_up_flipped:
        out.append(f"P(up) on the other side of 0.5 in {errors.p_up_flipped} decided forecasts")
    if not errors.volatility_rel <= MAX_REL_DIFF:
        out.append(f"volatility off by {errors.volatility_rel:.2e} relative (> {MAX_REL_DIFF:g}: it is fp32)")
    return "; ".join(out) or None


def problem(
    runtime: str, windows: NDArray[Any], got: Sequence[NDArray[Any]], want: Sequence[NDArray[Any]]
) -> str | None:
    """What is out of `runtime`'s bound in `got` against `want` for `windows`, or None: MAX_REL_DIFF for the
    fp32 graphs, `bf16_problem` for openvino-bf16."""
    if runtime == OPENVINO_BF16:
        return bf16_problem(forecast_errors(windows, got, want))
    worst = max_difference(got, want)
    return None if worst <= MAX_REL_DIFF else f"max difference {worst:.2e} (more than {MAX_REL_DIFF:g})"


def graph_names(runtime: str) -> list[str]:
    """The graph files `runtime` runs, with their external data files where they have them."""
    return [f for g in GRAPHS[runtime] for f in (g, f"{g}.data")]


def files_problem(directory: Path, runtime: str, files: dict[str, str]) -> str | None:
    """Why `runtime`'s graph files in `directory` are not those exported (artifact.json's `files`), or None. The
    portable graph is every other's reference: a damaged one served, and the sound graphs judged against it were
    blamed (a review); the embedded backend and Triton's cpu flavour refuse it."""
    return damaged(directory, files, graph_names(runtime))


def graph_file(directory: Path, runtime: str) -> Path:
    """The ONNX file the ONNX Runtime `runtime` runs in an export `directory`, checked to exist."""
    return graph_files(directory, runtime)[0]


def graph_files(directory: Path, runtime: str) -> list[Path]:
    """The ONNX files `runtime` runs in an export `directory`, checked to exist."""
    paths = [directory / name for name in GRAPHS[runtime]]
    for path in paths:
        if not path.is_file():
            raise ArtifactError(f"missing ONNX file {path} for patchtst_runtime {runtime}: {TRAIN_AND_EXPORT}")
    return paths


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


def choose_runtime(
    setting: str, sets: frozenset[str], directory: Path, openvino: bool | None = None
) -> tuple[str, str]:
    """(runtime, why) for a `patchtst_runtime` setting, on a CPU with instruction `sets`, for the export
    in `directory` (exports older than issue 18 lack the newer graphs: auto serves them as before);
    `openvino`: whether OpenVINO is importable (None: look)."""
    if setting != "auto":
        if setting not in GRAPHS:
            choices = ", ".join(RUNTIMES)
            raise ArtifactError(f"unknown patchtst_runtime {setting!r}; choose auto or one of {choices}")
        return setting, "set in patchtst_runtime"
    has_split = all((directory / name).is_file() for name in SPLIT_FILES)
    if sets & BF16_CPUS and has_split and (openvino_installed() if openvino is None else openvino):
        return OPENVINO_BF16, "auto: BF16 instructions present (AMX or AVX512_BF16)"
    if not sets & FUSED_CPUS:
        return PORTABLE, "auto: neither AVX2 nor AVX-512 on this CPU"
    if not (directory / FUSED_ONNX_FILE).is_file():
        return PORTABLE, f"auto: this export has no {FUSED_ONNX_FILE} (export again to get it)"
    return FUSED, "auto: AVX2 or AVX-512 present"


class Chain:
    """Graphs run one after the other with ONNX Runtime's `run(output_names, feed)`: each reads its inputs
    by name from the feed and the earlier graphs' outputs. One run at a time, and the answers are copies:
    OpenVINO's infer requests reuse their buffers (`openvino_graph`)."""

    def __init__(self, graphs: Sequence[Run]) -> None:
        self._graphs = list(graphs)
        self._lock = threading.Lock()

    def run(self, output_names: Sequence[str] | None, feed: dict[str, Any]) -> list[NDArray[Any]]:
        values = dict(feed)
        with self._lock:
            for graph in self._graphs:
                values |= graph(values)
            return [np.array(values[name]) for name in (output_names or OUTPUTS)]


def openvino_graph(path: Path, precision: str, threads: int = 0) -> Run:
    """`path` compiled by OpenVINO's CPU plugin at inference `precision` ('f32', 'bf16') on `threads` threads (0:
    OpenVINO's choice, every core), as a Run whose outputs are the request's own buffers, valid until its next
    run (a Chain copies what it returns)."""
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    try:
        compiled = compile_model(path, config)
    except ImportError:
        raise ArtifactError(f"patchtst_runtime {OPENVINO_BF16} needs openvino: pip install openvino") from None
    except RuntimeError as exc:
        raise ArtifactError(f"OpenVINO cannot compile {path}: {exc}; export the model again") from None
    return _OpenVinoGraph(compiled)


class _OpenVinoGraph:
    """A compiled graph and its one infer request, held together: the request never outlives its model."""

    def __init__(self, compiled: Any) -> None:
        self.compiled, self.request = compiled, compiled.create_infer_request()
        self.inputs = [i.get_any_name() for i in compiled.inputs]
        self.outputs = [o.get_any_name() for o in compiled.outputs]

    def __call__(self, values: dict[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
        feed = {name: values[name] for name in self.inputs}
        result = self.request.infer(feed, share_inputs=True, share_outputs=True)
        return {name: result[i] for i, name in enumerate(self.outputs)}


def openvino_bf16(directory: Path, threads: int = 0) -> Chain:
    """openvino-bf16: the split graphs of `directory`, the backbone in BF16, the rest in fp32, on `threads`
    threads (0: every core)."""
    pre, backbone, post = graph_files(directory, OPENVINO_BF16)
    return Chain(
        [
            openvino_graph(path, precision, threads)
            for path, precision in zip((pre, backbone, post), ("f32", "bf16", "f32"), strict=True)
        ]
    )


def open_session(directory: Path, runtime: str, ort_session: Callable[[Path], Any], threads: int = 0) -> Any:
    """A session of `runtime` for the export in `directory` with `run(output_names, feed)`: ONNX Runtime's
    graphs through `ort_session` (the caller's options, its threads included), openvino-bf16 as a Chain on
    `threads` threads (0: every core)."""
    if runtime == OPENVINO_BF16:
        return openvino_bf16(directory, threads)
    return ort_session(graph_file(directory, runtime))


def disagreement(session: Any, portable: Any, context_length: int, runtime: str = FUSED) -> str | None:
    """How `session` of `runtime` departs from the portable graph's `portable` session on sample windows,
    or None within `runtime`'s bound (`problem`): a graph other than the portable one serves only after
    this check on the CPU it runs on (export checked both against PyTorch, perhaps on another CPU). The
    embedded backend and Triton's cpu flavour (investiq/core/triton_adapters.py) both run it."""
    windows = sample_windows(8, context_length, seed=18)
    x = {INPUT: windows}
    found = problem(runtime, windows, session.run(list(OUTPUTS), x), portable.run(list(OUTPUTS), x))
    return None if found is None else f"its answers differ from {ONNX_FILE}'s on this CPU: {found}"
