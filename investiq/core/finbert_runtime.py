"""How FinBERT runs on a CPU: the runtimes one export serves, and the one chosen for this machine.

    runtime                 engine        graph (investiq/core/finbert.py VARIANTS)   GEMM precision
    onnxruntime-int8        ONNX Runtime  model.int8.onnx        dynamic INT8 (the path before issue 18)
    onnxruntime-int8-fused  ONNX Runtime  model.int8.fused.onnx  dynamic INT8 after the transformer fusions
    onnxruntime-int8-static ONNX Runtime  model.int8.qdq.onnx    static INT8 calibrated on the headlines
    onnxruntime-fp32        ONNX Runtime  model.onnx             fp32
    openvino-bf16           OpenVINO      model.onnx             BF16 (AMX tiles)
    openvino-int8           OpenVINO      model.int8.qdq.onnx    static INT8 calibrated on the headlines
    split-int8-bf16         both          batches < SPLIT_BATCH texts on onnxruntime-int8, larger on openvino-bf16

`choose_runtime("auto", ...)` chooses by the CPU's instruction sets, from what was measured on each:
- AVX-512 VNNI, with or without AMX: onnxruntime-int8-fused (MultiHeadAttention, INT8 MatMuls), paired against
  int8 in one process (16 alternating rounds a run, as the gateway serves them; benchmarks/results/
  finbert_probes.md). On a 2-core AVX-512 EPYC (Zen 5), three runs: one headline 0.88x, 0.92x, 0.92x the p50, a
  burst of 96 grouped by length 1.03x, 1.03x, 1.09x the texts/s. On a 2-core AMX Xeon (480 MiB L3), three runs:
  one headline 0.95x, 0.93x, 0.91x, bursts 1.04x, 1.02x, 1.02x. Every bootstrap 95% interval is clear of 1. The
  rule covers the class (Zen 4, Ice Lake, Cascade Lake, a VM that hides AMX) because the gain comes from fewer
  nodes and ONNX Runtime's MultiHeadAttention kernel, not from an instruction of one CPU's. Where `investiq bench
  finbert` says otherwise, `finbert_runtime: onnxruntime-int8` restores int8.
- Anything else (AVX2 only): dynamic INT8, the path before issue 18; the fused graph was not measured there.
The others stay selectable for machines where they win.

Dynamic INT8 quantises each MatMul's input with one scale for the whole batch, so a headline's answer
depends on the headlines that share its pass (up to 5.7e-3 in probability on the benchmark's model, alone
against in a batch of 32; no label flipped). `onnxruntime-int8-static` has calibrated, fixed scales: a
headline gets the same answer in any company, at ~0.75x the batched throughput (finbert_runtimes.md).

Every runtime is validated against PyTorch fp32 at export (export/finbert.py), and again at start-up on
this CPU against the fp32 graph, itself within 1e-4 of PyTorch (startup_problem), by `open_checked`,
which falls back to onnxruntime-int8 when it fails (and refuses to serve when int8 fails too): the
embedded backend (gateway/backends/embedded.py) and Triton's cpu flavour (investiq/core/triton_adapters.py,
config parameter `runtime`) open FinBERT through it.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import NDArray

from investiq.core.artifacts import damaged
from investiq.core.cpu import has_amx, usable_cores
from investiq.core.errors import ArtifactError
from investiq.core.finbert import INPUTS, OUTPUT, model_file
from investiq.core.openvino_core import compile_model

RuntimeName = Literal[
    "onnxruntime-int8",
    "onnxruntime-int8-fused",
    "onnxruntime-int8-static",
    "onnxruntime-fp32",
    "openvino-bf16",
    "openvino-int8",
    "split-int8-bf16",
]
RUNTIMES: tuple[str, ...] = get_args(RuntimeName)
log = logging.getLogger(__name__)
DEFAULT = "onnxruntime-int8"  # the fallback: what served before issue 18, on every CPU
FUSED = "onnxruntime-int8-fused"
FP32 = "onnxruntime-fp32"
# split-int8-bf16: batches of fewer texts than this on onnxruntime-int8 (lower latency for one headline:
# no BF16 weight traffic), larger ones on openvino-bf16 (more texts/s); see finbert_runtimes.md.
SPLIT_BATCH = 4


@dataclass(frozen=True)
class Runtime:
    name: str
    engine: Literal["onnxruntime", "openvino"]
    variant: str  # key of VARIANTS: the graph file it runs
    precision: Literal["int8", "fp32", "bf16"]
    tag: str  # in model_version ("<weights>-<tag>"): the tags from before issue 18 are kept (int8, fp32)


SPECS: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime("onnxruntime-int8", "onnxruntime", "int8", "int8", "int8"),
        Runtime(FUSED, "onnxruntime", "int8-fused", "int8", "int8-fused"),
        Runtime("onnxruntime-int8-static", "onnxruntime", "int8-qdq", "int8", "int8-static"),
        Runtime("onnxruntime-fp32", "onnxruntime", "fp32", "fp32", "fp32"),
        Runtime("openvino-bf16", "openvino", "fp32", "bf16", "openvino-bf16"),
        Runtime("openvino-int8", "openvino", "int8-qdq", "int8", "openvino-int8"),
    )
}
SPLITS = {"split-int8-bf16": ("onnxruntime-int8", "openvino-bf16")}  # (small batches, large batches)


def parts(name: str) -> tuple[str, ...]:
    """The single runtimes a runtime runs: itself, or the two of a split. ArtifactError for an unknown name."""
    if name in SPLITS:
        return SPLITS[name]
    if name in SPECS:
        return (name,)
    raise ArtifactError(f"unknown finbert_runtime {name!r}; choose auto or one of {', '.join(RUNTIMES)}")


def tag(name: str) -> str:
    """What model_version carries for runtime `name`."""
    return name if name in SPLITS else SPECS[name].tag


def runtime_of_variant(variant: str) -> str:
    """The ONNX Runtime runtime that runs graph `variant` (a key of VARIANTS: "int8", "fp32", ...): Triton configs
    written before the `runtime` parameter name a graph. ArtifactError for an unknown one."""
    for spec in SPECS.values():
        if spec.engine == "onnxruntime" and spec.variant == variant:
            return spec.name
    known = ", ".join(s.variant for s in SPECS.values() if s.engine == "onnxruntime")
    raise ArtifactError(f"unknown FinBERT graph variant {variant!r}; known: {known} (or the parameter runtime)")


def validation_key(name: str) -> str:
    """Where artifact.json's `validation` holds a runtime's figures: the graph's variant for ONNX Runtime
    (as before issue 18: "fp32", "int8"), the runtime's name for OpenVINO (its own kernels on the same graph)."""
    spec = SPECS[name]
    return spec.variant if spec.engine == "onnxruntime" else spec.name


def open_runtime(directory: Path, name: str, ort_open: Callable[[Path], Any], threads: int = 0) -> Any:
    """A session for runtime `name` on the export in `directory`, with ONNX Runtime's `run(outputs, feed)`:
    `ort_open(path)` for ONNX Runtime (the caller's session options, its threads included), an OpenVinoSession
    on `threads` threads (0: one per core), or a SplitSession."""
    if name in SPLITS:
        small, large = (open_runtime(directory, part, ort_open, threads) for part in SPLITS[name])
        return SplitSession(small, large, SPLIT_BATCH)
    spec = SPECS[name]
    path = model_file(directory, spec.variant)
    if spec.engine == "openvino":
        return OpenVinoSession(path, spec.precision, threads or None)
    return ort_open(path)


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


def choose_runtime(setting: str, sets: frozenset[str], *, quantize: bool = True) -> tuple[str, str]:
    """(runtime, why) for a `finbert_runtime` setting on a CPU with instruction `sets` (investiq/core/cpu.py).
    `quantize` False with `auto` means fp32 (the setting from before issue 18)."""
    if setting != "auto":
        parts(setting)  # ArtifactError for an unknown name
        # quantize: false asks for fp32; a runtime named outright wins, and the reason says so (it was unsaid)
        ignored = "; quantize: false does not apply to a runtime named" if not quantize and setting != FP32 else ""
        return setting, f"set in finbert_runtime{ignored}"
    if not quantize:
        return FP32, "auto with quantize: false"
    if has_amx(sets) or "avx512_vnni" in sets:
        return FUSED, "auto: AVX-512 VNNI (AMX or not), where the fused graph measured faster than int8"
    return DEFAULT, "auto: neither AMX nor AVX-512 VNNI on this CPU"


def startup_problem(directory: Path, name: str, session: Any, ort_open: Callable[[Path], Any]) -> str | None:
    """Why runtime `name` (already open as `session`) must not serve, or None: its validation at export
    failed (artifact.json), or on this CPU's kernels its logits on the committed headlines stray from the
    fp32 graph's (itself within 1e-4 of PyTorch at export) beyond the margin-aware bounds; or either graph's bytes
    are not those exported (artifacts.damaged)."""
    from investiq.core.finbert import VARIANTS, Encoder, FinbertMeta
    from investiq.core.finbert_check import bounds, judge, logits_on, sample_texts

    meta = FinbertMeta.load(directory)
    # its own bytes and the fp32 graph's (what it is judged against) as exported: a damaged fp32 graph served
    # wrong labels, reported as validated at export (a review)
    if (found := damaged(directory, meta.files, [*graph_names(name), *graph_names(FP32)])) is not None:
        return found
    validation = meta.validation
    for part in parts(name):
        failed = validation.get(validation_key(part), {}).get("failed")
        if failed:
            return f"{part} failed its validation at export: {failed}"
    if name == FP32:  # the reference itself: its check is its validation at export, read above
        return None
    fp32 = directory / VARIANTS["fp32"]
    reference = ort_open(fp32)
    encode, texts = Encoder(directory, meta.max_length), sample_texts()  # the long text reaches every position
    try:
        want = logits_on(_logits(reference), encode, texts)
    except CannotRun as exc:  # a graph that loads but cannot run (a review)
        raise ArtifactError(f"{fp32} cannot run: {exc}; export the model again") from None
    sessions = (
        dict(zip(SPLITS[name], (session.small, session.large), strict=True)) if name in SPLITS else {name: session}
    )
    for part, part_session in sessions.items():
        try:
            got = logits_on(_logits(part_session), encode, texts)
        except CannotRun as exc:
            return f"{part} cannot run here: {exc}"
        if got.shape != want.shape:  # a graph of other labels: judged, it broadcast into a traceback (a review)
            return f"{part} gives logits of shape {got.shape}, the fp32 graph {want.shape}"
        check = judge(part, want=want, got=got, texts=len(texts))
        if failures := check.failures(*bounds(SPECS[part].precision)):
            return f"{part} on this CPU against the fp32 graph: {'; '.join(failures)}"
    return None


def graph_names(name: str) -> list[str]:
    """The graph files runtime `name` runs (each part's), with their external data files where they have them."""
    from investiq.core.finbert import VARIANTS

    return [f for part in parts(name) for g in (VARIANTS[SPECS[part].variant],) for f in (g, f"{g}.data")]


def open_checked(
    directory: Path, name: str, why: str, fallback: str, ort_open: Callable[[Path], Any], threads: int = 0
) -> tuple[str, str, Any]:
    """(runtime, why, session) for FinBERT's runtime `name`, chosen for the reason `why`, on the export in
    `directory`: the embedded backend's and Triton's cpu flavour's one way to open it. Every runtime must pass its
    check on this CPU first (startup_problem), fp32 too, whose check is its validation against PyTorch at export
    (it is what the others are compared with); one that fails, or cannot load (a graph this export lacks, OpenVINO
    absent or unable to compile it), gives way to `fallback`, checked the same way, with the reason logged and
    returned; an export with no INT8 graph (`--no-quantize`) tries its fp32 graph last. A fallback that fails too
    is an ArtifactError naming both: the gateway refuses to start rather than
    serve wrong answers (reliability/model_fault.py). Until 2026-12-05 onnxruntime-int8 and fp32 served unchecked:
    a broken INT8 graph, chosen on an AVX2-only CPU or fallen back to, served flipped labels (a review).
    `threads`: OpenVINO's (ONNX Runtime's are `ort_open`'s)."""
    failed: list[tuple[str, str]] = []
    # An export without INT8 graphs (`export finbert --no-quantize`) serves its fp32 graph last: with none of them,
    # the gateway refused to start where no export at all would have served the lexicon (a review)
    last = (FP32,) if _unquantized(directory) else ()
    for candidate in dict.fromkeys((name, fallback, *last)):
        try:
            session = open_runtime(directory, candidate, ort_open, threads)
            problem = startup_problem(directory, candidate, session, ort_open)
        except ArtifactError as exc:
            problem = str(exc)
        if problem is None:
            if failed:
                return candidate, "; ".join(f"{c} fell back: {p}" for c, p in failed), session
            checked = "validated against PyTorch at export" if candidate == FP32 else CHECKED
            return candidate, f"{why}; {checked}", session
        log.warning("finbert runtime %s does not serve (%s)", candidate, problem)
        failed.append((candidate, problem))
    by_problem: dict[str, list[str]] = {}  # the fp32 graph's own failure is every candidate's: said once
    for candidate, problem in failed:
        by_problem.setdefault(problem, []).append(candidate)
    problems = "; ".join(f"{' and '.join(c)}: {p}" for p, c in by_problem.items())
    again = ("investiq export finbert", "export the model again")
    hint = "" if any(a in problems for a in again) else "; export it again: investiq export finbert"
    raise ArtifactError(f"FinBERT cannot serve on this machine: {problems}{hint}")


def _unquantized(directory: Path) -> bool:
    """The export was made without INT8 graphs (`--no-quantize`): its validation has no int8 entry. An INT8 graph
    missing from an export that made them is a broken export, not this."""
    from investiq.core.finbert import FinbertMeta

    try:
        return "int8" not in FinbertMeta.load(directory).validation
    except ArtifactError:
        return False  # said by the candidates' own errors


CHECKED = "checked on this CPU against the fp32 graph"


class CannotRun(Exception):
    """A session's own error running a graph (ONNX Runtime's or OpenVINO's), told from a bug in the code around
    it (the tokenizer's, ours), which keeps its traceback."""


def _logits(session: Any) -> Callable[[dict[str, NDArray[np.int64]]], NDArray[Any]]:
    def run(feed: dict[str, NDArray[np.int64]]) -> NDArray[Any]:
        try:
            out: NDArray[Any] = session.run([OUTPUT], feed)[0]
        except Exception as exc:  # the engines raise their own classes (pybind11's, OpenVINO's RuntimeError)
            raise CannotRun(str(exc)) from exc
        return out

    return run


class SplitSession:
    """Two sessions behind one `run`: batches of fewer than `split` rows on `small`, the rest on `large`."""

    def __init__(self, small: Any, large: Any, split: int) -> None:
        self.small, self.large, self.split = small, large, split

    def run(self, output_names: list[str], feed: Mapping[str, NDArray[Any]]) -> list[NDArray[Any]]:
        session = self.small if len(feed[INPUTS[0]]) < self.split else self.large
        out: list[NDArray[Any]] = session.run(output_names, feed)
        return out


class OpenVinoSession:
    """An OpenVINO compiled model behind ONNX Runtime's `run(output_names, feed)`, so that the backend's
    inference code serves either engine. One infer request: the backend runs one batch at a time."""

    def __init__(self, path: Path, precision: str, threads: int | None = None) -> None:
        config = {
            "PERFORMANCE_HINT": "LATENCY",  # one stream over all cores: one request at a time
            "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
            "INFERENCE_NUM_THREADS": threads or usable_cores(),
        }
        try:
            self._compiled = compile_model(path, config)
        except ImportError:
            raise ArtifactError(
                "this finbert_runtime needs OpenVINO: pip install 'investiq-ml[openvino]' (or set "
                "finbert_runtime: auto)"
            ) from None
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses of its own
            raise ArtifactError(f"OpenVINO cannot compile {path}: {exc}") from None
        self._request = self._compiled.create_infer_request()
        names = sorted(n for i in self._compiled.inputs for n in i.get_names() if n in INPUTS)
        if names != sorted(INPUTS):
            raise ArtifactError(f"{path} has inputs {names} under OpenVINO, expected {sorted(INPUTS)}")

    def run(self, output_names: list[str], feed: Mapping[str, NDArray[Any]]) -> list[NDArray[np.float32]]:
        if list(output_names) != [OUTPUT]:
            raise ValueError(f"this graph has one output, {OUTPUT!r}, not {output_names}")
        result = self._request.infer(dict(feed))
        return [np.array(result[0], dtype=np.float32)]  # a copy: the request reuses its output buffer
