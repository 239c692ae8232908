"""Headroom against the hardware: FinBERT's achieved operations per second as a fraction of the machine's
matrix-multiply peak, the peak measured here by the same command with plain GEMMs.

    fp32 peak: numpy's BLAS and ONNX Runtime's MatMul (a one-node graph) on square n x n matrices
    int8 peak: the same one-node graph through `quantize_dynamic`, as the INT8 FinBERT is made: ONNX
               Runtime then runs the dynamic-quantization path (DynamicQuantizeLinear + MatMulInteger,
               fused where it can) that FinBERT's dense layers run
Every multiply-add counts as 2 operations, so GFLOP/s = 2 n^3 / t. The best of several runs is the peak.

FinBERT's work is counted from its config (BERT-base: 12 layers, hidden 768, FFN 3072): only the matrix
products, not layer norms, softmax or GELU, and at the texts' real lengths (padding is not useful work).

One text is not bound by arithmetic but by reading the weights: each of its ~12 tokens uses every weight
once, so every dense weight (85 MB in INT8) is read per text. The same command measures how fast this
machine reads that many bytes (one thread per core, from wherever they sit after a first pass: a cache
that holds them, else memory), which gives a floor for one text that no kernel can beat.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import record
from gateway.backends.embedded import ort_session  # FinBERT's session options, so its kernels
from harness.results import describe, machine

INT8_PATH = "ONNX Runtime int8"  # benchmarks/finbert.py's in-process INT8 row: one session run per call
# ... and its row of INT8 as the gateway serves it in-process (a burst grouped by length, the hop to the
# inference thread): batched throughput is judged on this one, one headline's latency on INT8_PATH
SERVED_PATH = "ONNX Runtime int8, as served"


@dataclass(frozen=True)
class BertShape:
    layers: int = 12
    hidden: int = 768
    ffn: int = 3072
    labels: int = 3

    @classmethod
    def from_source(cls, source: str | Path | None) -> BertShape:
        """The shape in `source`/config.json (a Hugging Face directory), else BERT-base (= FinBERT)."""
        config = Path(source) / "config.json" if source else None
        if config is None or not config.is_file():
            return cls()
        c = json.loads(config.read_text())
        labels = len(c.get("id2label", {})) or 2  # transformers' default
        return cls(c["num_hidden_layers"], c["hidden_size"], c["intermediate_size"], labels)


def flops_per_text(tokens: float, shape: BertShape = BertShape(), *, last_on_cls: bool = True) -> float:
    """Operations (2 per multiply-add) of one text of `tokens` tokens ([CLS] and [SEP] included), as the
    exported graph runs it: with `last_on_cls`, its last layer on the [CLS] row only (export/finbert_graph.py,
    what `investiq export finbert` writes for a BERT classifier); without, as PyTorch runs the model.

    Per layer and token: Q, K, V and the attention output are h x h (4 h^2 multiply-adds), the FFN h x f
    and f x h (2 h f); attention scores Q K^T and the context (scores x V) are s x h each per token
    (2 s h). On the [CLS] row only, the last layer computes K and V for every token (2 s h^2) and the rest for
    that row (2 h^2 + 2 h f, scores and context 2 s h). Then the pooler (h x h) and classifier (h x labels)
    on the [CLS] token only."""
    h, f, s = shape.hidden, shape.ffn, tokens
    per_layer = 2 * s * (4 * h * h + 2 * h * f) + 2 * 2 * s * s * h
    last = 2 * ((2 * s + 2) * h * h + 2 * h * f) + 2 * 2 * s * h if last_on_cls else per_layer
    return float((shape.layers - 1) * per_layer + last + 2 * h * h + 2 * h * shape.labels)


def headroom(
    texts_per_s: float,
    mean_tokens: float,
    peak_gflops: float,
    shape: BertShape = BertShape(),
    *,
    last_on_cls: bool = True,
) -> float:
    """Achieved GFLOP/s over `peak_gflops`: 1.0 would be the machine's matrix-multiply peak (flops_per_text's
    `last_on_cls`: False for PyTorch, which runs the whole model). Counting at the mean length undercounts the s^2
    attention term by 4 L h Var(s), under 0.1% for headlines."""
    return texts_per_s * flops_per_text(mean_tokens, shape, last_on_cls=last_on_cls) / 1e9 / peak_gflops


def weight_bytes(shape: BertShape = BertShape(), bytes_per_weight: int = 1) -> int:
    """Bytes of the dense weights one text reads: per layer Q, K, V, attention output (4 h^2) and the FFN
    (2 h f), then the pooler (h^2) and classifier; biases and layer norms are negligible."""
    h = shape.hidden
    weights = shape.layers * (4 * h * h + 2 * h * shape.ffn) + h * h + h * shape.labels
    return weights * bytes_per_weight


def read_bandwidth(nbytes: int, repeats: int = 30, threads: int | None = None) -> float:
    """GB/s reading `nbytes` (split over `threads`, default one per core; numpy's max releases the GIL and
    is vectorised, so it reads as fast as the memory system delivers): the best of `repeats` after a warm-up."""
    import os
    import threading

    data = np.random.default_rng(0).integers(0, 255, nbytes, dtype=np.uint8)
    parts = [part for part in np.array_split(data, threads or os.cpu_count() or 1) if part.size]
    # Workers started once, released by a barrier for each read: threads started and joined inside the timed
    # call added their start-up (~190 us for two) to a floor that must never exceed what can be done (a review)
    go, done, stop = threading.Barrier(len(parts) + 1), threading.Barrier(len(parts) + 1), threading.Event()

    def work(part: np.ndarray) -> None:
        try:
            while True:
                go.wait()
                if stop.is_set():
                    return
                part.max()
                done.wait()
        except threading.BrokenBarrierError:  # the reader gave up (an error, Ctrl-C): stop
            return
        except BaseException:  # this read failed: break the barriers, so that the reader raises, not hangs
            go.abort()
            done.abort()
            raise

    workers = [threading.Thread(target=work, args=(part,), daemon=True) for part in parts]
    for worker in workers:
        worker.start()

    def read() -> None:
        go.wait()
        done.wait()

    try:
        return nbytes / fastest(read, repeats) / 1e9
    finally:  # each worker waits at a barrier or has stopped: aborting both releases it, and it returns
        stop.set()
        go.abort()
        done.abort()
        for worker in workers:
            worker.join()


def fastest(fn: Callable[[], object], repeats: int) -> float:
    """Seconds of the fastest of `repeats` calls of `fn`, after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def best_gflops(fn: Callable[[], object], n: int, repeats: int) -> float:
    """2 n^3 over the fastest of `repeats` calls (after one warm-up), in GFLOP/s."""
    return 2 * n**3 / fastest(fn, repeats) / 1e9


def matmul_graph(n: int, directory: Path, rng: np.random.Generator) -> Path:
    """Y = A B with A an fp32 input [n, n] and B an fp32 initializer (a weight, so that quantize_dynamic
    quantizes it as it does FinBERT's); saved as `directory`/matmul.onnx."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(rng.standard_normal((n, n)).astype(np.float32), "B")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["A", "B"], ["Y"])],
        "matmul",
        [helper.make_tensor_value_info("A", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [n, n])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9  # what opset 18 needs; newer IR versions outrun older ONNX Runtimes
    path = directory / "matmul.onnx"
    onnx.save(model, str(path))
    return path


ROUNDS = 3  # times the peaks are measured, the best kept


def measure_peaks(
    sizes: Sequence[int] = (512, 1024, 2048), repeats: int = 5, seed: int = 0
) -> list[dict[str, Any]]:
    """One row per kernel and size: {"kernel", "n", "gflops"}. Kernels: numpy fp32, ORT fp32, ORT int8.
    Each kernel runs all its sizes before the next starts, and each session is dropped before the next
    is made: ONNX Runtime's threads spin for a while after a run and would steal the cores."""
    rng = np.random.default_rng(seed)
    inputs = {n: rng.standard_normal((n, n)).astype(np.float32) for n in sizes}
    rows = [
        {"kernel": "numpy fp32", "n": n, "gflops": best_gflops(partial(np.matmul, a, a), n, repeats)}
        for n, a in inputs.items()
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for kernel in ("ORT fp32", "ORT int8"):
            for n, a in inputs.items():
                session = ort_session(_matmul_file(n, Path(tmp), rng, int8=kernel == "ORT int8"))
                gflops = best_gflops(partial(session.run, ["Y"], {"A": a}), n, repeats)
                rows.append({"kernel": kernel, "n": n, "gflops": gflops})
                del session
    return rows


def _matmul_file(n: int, directory: Path, rng: np.random.Generator, *, int8: bool) -> Path:
    fp32 = matmul_graph(n, directory, rng)
    if not int8:
        return fp32
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = directory / "matmul.int8.onnx"
    logging.disable(logging.WARNING)  # quantize_dynamic's "consider pre-processing" hint, on the root logger
    try:
        quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8)  # as export/finbert.py does
    finally:
        logging.disable(logging.NOTSET)
    return path


def run(
    finbert: dict[str, Any] | None,
    *,
    sizes: Sequence[int] = (512, 1024, 2048),
    repeats: int = 5,
    out: Path | None = None,
) -> dict[str, Any]:
    """Measure the peaks; with `finbert` (the dict of benchmarks/finbert.py, i.e. results/finbert.json),
    the headroom of each of its paths: batched texts/s and single-text (1000 / p50) against the fp32
    peak, and for the INT8 paths also against the int8 peak. Writes gemm.json and gemm.md to `out`."""
    # The peaks move from minute to minute on a shared host (a review: 1.2 to 3.7 TOP/s INT8 in runs of
    # one VM): the best of ROUNDS rounds, each round's kept, so that a share of the peak says what it divides by
    each = [measure_peaks(sizes, repeats) for _ in range(ROUNDS)]
    rows = [max(same, key=lambda r: r["gflops"]) for same in zip(*each, strict=True)]
    peak = {
        "fp32": max(r["gflops"] for r in rows if r["kernel"] != "ORT int8"),
        "int8": max(r["gflops"] for r in rows if r["kernel"] == "ORT int8"),
    }
    int8_rounds = [max(r["gflops"] for r in one if r["kernel"] == "ORT int8") for one in each]
    result: dict[str, Any] = {"machine": machine(), "sizes": list(sizes), "repeats": repeats, "rounds": ROUNDS}
    result |= {"gemm": rows, "peak_gflops": peak, "int8_peak_rounds": int8_rounds, "finbert": None}
    if finbert is not None:
        shape = BertShape.from_source(finbert.get("source"))
        tokens = float(finbert["mean_tokens"])
        paths = []
        for r in finbert["rows"]:
            int8 = "int8" in r["path"].lower()
            peaks = {"fp32": peak["fp32"], **({"int8": peak["int8"]} if int8 else {})}
            single = 1000 / r["p50_ms"]
            graph = not r["path"].startswith("PyTorch")  # an exported graph: its last layer on [CLS]
            share = partial(headroom, mean_tokens=tokens, shape=shape, last_on_cls=graph)
            paths.append(
                {
                    "path": r["path"],
                    "texts_per_s": r["texts_per_s"],
                    "gflops": r["texts_per_s"] * flops_per_text(tokens, shape, last_on_cls=graph) / 1e9,
                    "headroom": {k: share(r["texts_per_s"], peak_gflops=v) for k, v in peaks.items()},
                    "single_text_headroom": {k: share(single, peak_gflops=v) for k, v in peaks.items()},
                }
            )
        int8_bytes = weight_bytes(shape)
        bandwidth = read_bandwidth(int8_bytes)
        result["finbert"] = {
            "model": finbert.get("model"),
            "shape": asdict(shape),
            "mean_tokens": tokens,
            "gflop_per_text": flops_per_text(tokens, shape) / 1e9,
            "paths": paths,
            "int8_weight_mb": int8_bytes / 1e6,
            "read_gb_per_s": bandwidth,
            "single_text_floor_ms": int8_bytes / bandwidth / 1e6,
            "int8_single_p50_ms": next((r["p50_ms"] for r in finbert["rows"] if r["path"] == INT8_PATH), None),
        }
    record(out, "gemm", result, render(result))
    return result


def render(result: dict[str, Any]) -> str:
    peak = result["peak_gflops"]
    lines = [
        "# Matrix-multiply peak and FinBERT's headroom",
        "",
        f"{describe(result['machine'])}; best of {result['repeats']} runs per size; GFLOP/s = 2 n^3 / t "
        "(int8: operations, same count).",
        "",
        "| kernel | " + " | ".join(f"n = {n}" for n in result["sizes"]) + " |",
        "| --- |" + " ---: |" * len(result["sizes"]),
    ]
    for kernel in ("numpy fp32", "ORT fp32", "ORT int8"):
        cells = [f"{r['gflops']:.0f}" for r in result["gemm"] if r["kernel"] == kernel]
        lines.append(f"| {kernel} | " + " | ".join(cells) + " |")
    lines += ["", f"Peak: fp32 {peak['fp32']:.0f} GFLOP/s, int8 {peak['int8']:.0f} GOP/s."]
    if "int8_peak_rounds" in result:
        each = ", ".join(f"{g:.0f}" for g in result["int8_peak_rounds"])
        lines.append(f"INT8 peak in each of {result['rounds']} rounds: {each} GOP/s (the host moves it).")
    lines.append("")
    fin = result["finbert"]
    if fin:
        lines += [
            f"FinBERT ({fin['model']}): {fin['gflop_per_text']:.2f} GFLOP per text at {fin['mean_tokens']:.1f} "
            "tokens. Headroom = achieved / peak.",
            "",
            "| path | texts/s | GFLOP/s | of fp32 peak | of int8 peak | single text, of fp32 / int8 peak |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for p in fin["paths"]:
            h, s = p["headroom"], p["single_text_headroom"]
            int8 = f"{h['int8']:.1%}" if "int8" in h else ""
            single = " / ".join(f"{v:.1%}" for v in s.values())
            cells = [p["path"], f"{p['texts_per_s']:.0f}", f"{p['gflops']:.0f}", f"{h['fp32']:.1%}", int8, single]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        if "single_text_floor_ms" in fin:
            measured = fin["int8_single_p50_ms"]
            versus = f"; INT8's one text took {measured:.2f} ms p50 here" if measured else ""
            lines += [
                f"One text reads every dense weight: {fin['int8_weight_mb']:.0f} MB in INT8. This machine reads "
                f"that many bytes at {fin['read_gb_per_s']:.1f} GB/s (one thread per core), so one text cannot "
                f"take less than **{fin['single_text_floor_ms']:.2f} ms** in INT8{versus}.",
                "",
            ]
    return "\n".join(lines)
