"""FinBERT graphs derived from the exported fp32 model.onnx, one per CPU runtime (core/finbert_runtime.py).

    int8        dynamic INT8 weights, activations quantised at run time (ONNX Runtime's quantize_dynamic)
    int8-fused  ONNX Runtime's transformer fusions (MultiHeadAttention, EmbedLayerNormalization) applied to
                the fp32 graph first, then dynamic INT8 of its MatMuls: the attention's reshapes, transposes,
                scaling, masking and softmax, and the shape arithmetic around them, become one kernel per layer
    int8-qdq    static INT8 in QDQ form: activation scales calibrated on the committed headlines; what
                OpenVINO runs as INT8 (ONNX Runtime's CPU kernels measured slower on it than dynamic INT8)

Each is validated against PyTorch by export/finbert.py before it is installed or recorded as servable.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import onnx

from investiq.core.finbert import VARIANTS, Encoder

# quantize_* infer types with ONNX shape inference, which knows nothing of the fused com.microsoft ops:
# their outputs are fp32 (the model's only float type).
_DEFAULT_TYPE = {"DefaultTensorType": onnx.TensorProto.FLOAT}


@contextmanager
def _quiet() -> Iterator[None]:
    """quantize_* log a "consider pre-processing" hint and per-node notes on the root logger."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_int8(source: Path, target: Path, op_types: list[str] | None = None) -> Path:
    """Dynamic INT8 (weights int8 per tensor, activations quantised at each run) of `source` into `target`:
    of every op type quantize_dynamic knows (None), or of `op_types` only."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet():
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=op_types,
            extra_options=_DEFAULT_TYPE,
        )
    return target


def fuse_int8(out: Path, heads: int, hidden: int) -> Path:
    """The transformer fusions on `out`'s fp32 graph (kept only as a temporary file), then dynamic INT8 of
    its MatMuls.

    Which fusions, as measured on FinBERT's shape (AVX-512 EPYC, ONNX Runtime 1.32; benchmarks/results/
    finbert_probes.md): MultiHeadAttention, not Attention, so that the Q, K and V projections stay
    ordinary INT8 MatMuls (quantised, Attention becomes QAttention, 1.6-1.8x slower than MatMuls +
    MultiHeadAttention at batch 32); no SkipLayerNormalization (its CPU kernel is several times slower than
    Add + LayerNormalization: investiq/core/ort_sessions.py) and no BiasGelu (Add + Gelu did as well or
    better). The embeddings stay fp32 (their quantised kernel was slower; a gather reads one row per token)."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.use_multi_head_attention = True
    options.enable_skip_layer_norm = options.enable_bias_skip_layer_norm = False
    options.enable_bias_gelu = False
    fused = out / "model.fused.tmp.onnx"
    # opt_level 1: ONNX Runtime's basic rewrites (constant folding) first, which the fusion patterns expect
    with _quiet():
        optimized = optimize_model(
            str(out / VARIANTS["fp32"]),
            model_type="bert",
            num_heads=heads,
            hidden_size=hidden,
            opt_level=1,
            optimization_options=options,
        )
        optimized.save_model_to_file(str(fused))
    try:
        return quantize_int8(fused, out / VARIANTS["int8-fused"], op_types=["MatMul"])
    finally:
        fused.unlink(missing_ok=True)


def fused_ops(path: Path) -> dict[str, int]:
    """Node counts of the fused op types in a graph (MultiHeadAttention 0: the attention was not fused) and of its
    INT8 MatMuls."""
    wanted = ("MultiHeadAttention", "EmbedLayerNormalization", "MatMulInteger")
    nodes = onnx.load(str(path), load_external_data=False).graph.node
    return {op: sum(n.op_type == op for n in nodes) for op in wanted}


def quantize_qdq(out: Path, encoder: Encoder, texts: list[str], batch: int = 8) -> Path:
    """Static INT8 (QDQ) of the fp32 graph's MatMuls, per-channel weights, activation ranges calibrated on
    `texts` in batches of `batch`."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Headlines(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime ships no type hints
        def __init__(self) -> None:
            self._batches = iter([encoder(texts[i : i + batch]) for i in range(0, len(texts), batch)])

        def get_next(self) -> dict[str, Any] | None:
            return next(self._batches, None)

    path = out / VARIANTS["int8-qdq"]
    with _quiet():
        quantize_static(
            str(out / VARIANTS["fp32"]),
            str(path),
            Headlines(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            extra_options=_DEFAULT_TYPE,
        )
    return path
