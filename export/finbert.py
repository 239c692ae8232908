"""FinBERT -> ONNX fp32 and dynamic INT8, validated against PyTorch, installed atomically.

    investiq export finbert [--source ProsusAI/finbert | ./my-finetuned-dir]

The weights come from a local Hugging Face directory or the Hugging Face cache/hub. The label
order is read from the model's config (`id2label`), the tokenizer is saved beside the graph, and
both travel in the artifact (see investiq/core/finbert.py).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from investiq.core.artifacts import META, weights_version
from investiq.core.atomic import staged
from investiq.core.errors import ExportError
from investiq.core.finbert import (
    FINBERT_MODEL,
    INPUTS,
    OUTPUT,
    TOKENIZER,
    VARIANTS,
    Encoder,
    FinbertMeta,
    WeightsError,
    softmax,
)
from investiq.core.triton_adapters import shim
from training.finbert import load_pretrained

OPSET = 18
VALIDATION_TOKENS = 64
FP32_MAX_DIFF = 1e-4  # logits, ONNX fp32 vs PyTorch
INT8_MAX_DIFF = 0.25  # logits, ONNX INT8 vs PyTorch
INT8_MIN_AGREEMENT = 0.9  # share of validation texts with the same label as PyTorch


@dataclass(frozen=True)
class Check:
    variant: str
    max_logit_diff: float
    label_agreement: float
    texts: int

    def __str__(self) -> str:
        return (
            f"{self.variant:>5}: max |logit diff| vs PyTorch {self.max_logit_diff:.2e}, "
            f"label agreement {self.label_agreement:.1%} on {self.texts} texts"
        )


def sample_texts() -> list[str]:
    path = Path(__file__).resolve().parents[1] / "investiq" / "data" / "headlines.txt"
    return [line for line in path.read_text().splitlines() if line.strip()]


def labels_of(model: Any) -> list[str]:
    id2label = model.config.id2label
    return [str(id2label[i]).lower() for i in range(model.config.num_labels)]


def export_finbert(
    source: str, repository: Path, *, quantize: bool = True, log: Callable[[str], None] = print
) -> FinbertMeta:
    """Export, validate and install into `repository`/finbert_model/1; returns the metadata."""
    model, tokenizer = load_pretrained(source)
    labels = labels_of(model)
    log(f"loaded {source}: {model.config.num_hidden_layers} layers, labels {labels}")
    with staged(repository / FINBERT_MODEL / "1") as out:
        tokenizer.save_pretrained(out)
        if not (out / TOKENIZER).is_file():
            raise ExportError(f"the tokenizer of {source!r} did not save a {TOKENIZER}")
        onnx_path = out / VARIANTS["fp32"]
        example = Encoder(out, VALIDATION_TOKENS)(sample_texts()[:2])
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer warns about Python branches on shapes in transformers' masking code; the
            # validation below runs other batch sizes and lengths than the traced example.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _LogitsOnly(model).eval(),
                (torch.from_numpy(example["input_ids"]), torch.from_numpy(example["attention_mask"])),
                str(onnx_path),
                input_names=list(INPUTS),
                output_names=[OUTPUT],
                dynamic_axes={name: {0: "batch", 1: "sequence"} for name in INPUTS} | {OUTPUT: {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,  # the TorchScript exporter handles BERT with dynamic axes (validated below)
            )
        checks = [validate(model, out, "fp32", FP32_MAX_DIFF, 1.0)]
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            root, level = logging.getLogger(), logging.getLogger().level
            root.setLevel(logging.ERROR)  # quantize_dynamic logs a "consider pre-processing" hint on root
            try:
                quantize_dynamic(str(onnx_path), str(out / VARIANTS["int8"]), weight_type=QuantType.QInt8)
            finally:
                root.setLevel(level)
            checks.append(validate(model, out, "int8", INT8_MAX_DIFF, INT8_MIN_AGREEMENT))
        for check in checks:
            log(f"validated {check}")
        meta = FinbertMeta(
            labels=labels,
            version=weights_version(model),
            source=source,
            max_length=int(model.config.max_position_embeddings),
            opset=OPSET,
            validation={
                c.variant: {"max_logit_diff": c.max_logit_diff, "label_agreement": c.label_agreement}
                for c in checks
            },
        )
        meta.save(out)
        (out / "model.py").write_text(shim(FINBERT_MODEL))  # Triton cpu flavour entry point
    log(
        f"installed {repository / 'finbert_model' / '1'} (version {meta.version}; files: "
        f"{', '.join(sorted(p.name for p in (repository / 'finbert_model' / '1').iterdir()))})"
    )
    return meta


def validate(model: Any, directory: Path, variant: str, max_diff: float, min_agreement: float) -> Check:
    """Compare an ONNX variant with PyTorch on the sample headlines; ExportError if out of bounds."""
    import onnxruntime as ort

    texts = sample_texts()
    inputs = Encoder(directory, VALIDATION_TOKENS)(texts)
    session = ort.InferenceSession(str(directory / VARIANTS[variant]), providers=["CPUExecutionProvider"])
    names = sorted(i.name for i in session.get_inputs()), [o.name for o in session.get_outputs()]
    if names != (sorted(INPUTS), [OUTPUT]):
        raise ExportError(f"{variant} graph has inputs/outputs {names}, expected {sorted(INPUTS)} -> {OUTPUT}")
    got = session.run([OUTPUT], inputs)[0]
    with torch.no_grad():
        want = _LogitsOnly(model).eval()(*(torch.from_numpy(inputs[n]) for n in INPUTS)).numpy()
    if got.shape != want.shape:
        raise ExportError(f"{variant} logits have shape {got.shape}, PyTorch gives {want.shape}")
    # One text at a time too: batch 1 and no padding are other shapes than the traced example.
    singles = np.concatenate(
        [session.run([OUTPUT], Encoder(directory, VALIDATION_TOKENS)([t]))[0] for t in texts[:4]]
    )
    got = np.concatenate([got, singles])
    want = np.concatenate([want, want[:4]])
    check = Check(
        variant,
        float(np.abs(got - want).max()),
        float((softmax(got).argmax(-1) == softmax(want).argmax(-1)).mean()),
        len(texts),
    )
    if not (check.max_logit_diff <= max_diff and check.label_agreement >= min_agreement):
        raise ExportError(
            f"validation failed, nothing installed: {check} (bounds: diff <= {max_diff}, "
            f"agreement >= {min_agreement:.0%})"
        )
    return check


class _LogitsOnly(torch.nn.Module):
    """The exported function: single-segment inputs (token_type_ids = 0) -> logits [batch, labels]."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        token_type_ids = torch.zeros_like(input_ids)
        logits: torch.Tensor = self.model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).logits
        return logits


__all__ = ["META", "ExportError", "WeightsError", "export_finbert", "validate"]
