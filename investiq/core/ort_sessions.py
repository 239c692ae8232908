"""How every ONNX Runtime session of this stack is opened: the one source of its options.

The embedded backend (gateway/backends/embedded.py), Triton's cpu flavour (investiq/core/triton_adapters.py),
the export's validation and the benchmarks open their sessions here, so that what is validated and measured
is what serves. onnxruntime is imported when a session is opened, never at import (core stays light).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from investiq.core.cpu import cpu_quota, usable_cores
from investiq.core.errors import ArtifactError

# A provider's name, or its name with options (ONNX Runtime takes both forms in one list).
Provider = str | tuple[str, dict[str, str]]

CPU = "CPUExecutionProvider"

# ONNX Runtime's own graph rewrites left out on the CPU. SkipLayerNormFusion turns a residual Add and the
# LayerNormalization after it into one SkipLayerNormalization, whose CPU kernel (ONNX Runtime 1.32) is several
# times slower than the two nodes it replaces: in FinBERT's op profiles recorded before this setting (the AMX
# Xeon's benchmarks/results/finbert_profile.md; avx2/ and avx512/ in git history; benchmarks/results/
# finbert_probes.md) 12 SkipLayerNormalization nodes took 8-14 ms per batch of 32 headlines against 1-3 ms for 13
# LayerNormalization nodes of the same size, on AVX2, AVX-512 and AMX CPUs alike. Left out, FinBERT INT8 in
# batches of 32 went from 387 to 449 texts/s on an AVX-512 EPYC, side by side in one run (`investiq bench
# finbert`, avx512/finbert_runtimes.md: its "every ONNX Runtime rewrite (before)" row; 1.10x in another run).
# GPU providers keep it.
CPU_DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)


def provider_name(provider: Provider) -> str:
    return provider if isinstance(provider, str) else provider[0]


def session_options(threads: int = 0, spinning: bool = True) -> Any:
    """ONNX Runtime's SessionOptions as served: every graph optimisation on, `threads` intra-op threads (0:
    ONNX Runtime's count, one per core, or under a control group's CPU quota `usable_cores()`), and spin-waiting
    between runs unless `spinning` is False.

    Spinning is ONNX Runtime's default, kept on purpose: waking sleeping threads cost a 2-core VM ~2.7 ms per
    single-headline request (gateway p50 10.1-10.7 ms spinning vs 12.8 ms not, in alternating runs), at a price
    in CPU: under load the same throughput takes ~1.7 cores instead of ~1.1 (reliability/load.py). Latency is
    what the agent waits on."""
    import onnxruntime as ort

    if threads == 0 and cpu_quota() is not None:
        threads = usable_cores()  # a CPU limit: ONNX Runtime's own count is every core of the host, throttled
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return options


def disabled_optimizers(providers: Sequence[Provider]) -> list[str]:
    """The rewrites to leave out for a session whose first choice is `providers[0]`."""
    return list(CPU_DISABLED_OPTIMIZERS) if providers and provider_name(providers[0]) == CPU else []


def inference_session(path: Path, providers: Sequence[Provider] = (CPU,), options: Any = None) -> Any:
    """An InferenceSession of the graph at `path` on `providers` (empty: the CPU), with `options` (None:
    `session_options()`) and, on the CPU, the rewrites of CPU_DISABLED_OPTIMIZERS left out (ONNX Runtime's
    `optimization.disable_specified_optimizers` session setting). A GPU provider that does not start (absent
    from this ONNX Runtime build, or failing, when ONNX Runtime falls back to the CPU by itself) leaves a CPU
    session, opened again as one. ONNX Runtime's own errors pass through."""
    import onnxruntime as ort

    providers = list(providers) or [CPU]
    options = session_options() if options is None else options
    if left_out := disabled_optimizers(providers):
        options.add_session_config_entry("optimization.disable_specified_optimizers", ",".join(left_out))
    session = ort.InferenceSession(str(path), options, providers=providers)
    if provider_name(providers[0]) != CPU and session.get_providers()[0] == CPU:
        return inference_session(path, [CPU], options)
    return session


def loaded_session(path: Path, providers: Sequence[Provider] = (CPU,), options: Any = None) -> Any:
    """`inference_session`, with ArtifactError naming the file when it is missing or does not load (ONNX Runtime's
    own errors are untyped): the embedded backend's and Triton's cpu flavour's, so that a runtime whose graph is
    damaged gives way to int8 in both (in Triton it failed the model's load: a review)."""
    if not path.is_file():
        raise ArtifactError(f"missing ONNX file {path}: export the model again")
    try:
        return inference_session(path, providers, options)
    except Exception as exc:  # onnxruntime raises its own untyped errors
        data = path.with_name(path.name + ".data")  # external weights, when the exporter split them out
        what = f"{path} (weights in {data})" if data.is_file() else str(path)
        raise ArtifactError(f"cannot load ONNX file {what}: {exc}; export the model again") from None
