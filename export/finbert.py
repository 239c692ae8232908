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
from numpy.typing import NDArray

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
SINGLES = 4  # the first texts are run again one at a time: batch 1 and no padding are other shapes
# Bounds against PyTorch, per variant (read at call time); labels have none of their own: see Check.
FP32_MAX_DIFF = 1e-4  # logits, ONNX fp32 vs PyTorch
FP32_MAX_PROB_DIFF = 1e-4  # probabilities
INT8_MAX_DIFF = 0.25  # logits, ONNX INT8 vs PyTorch
INT8_MAX_PROB_DIFF = 0.1  # probabilities: what a caller sees moves by at most this much
# Logits, as a share of the widest spread (max - min) of PyTorch's logits for one text: a model with
# small logits (random weights, the tiny test models) fits INT8 garbage under 0.25, not under this.
# A sound INT8 export measured 1-8 % here; shuffled or rescaled int8 weights 60-130 %.
MAX_RELATIVE_DIFF = 0.5


@dataclass(frozen=True)
class Check:
    """An ONNX variant against PyTorch on the validation texts.

    `compared` rows: the `texts` in one batch, plus the first SINGLES again one at a time. What is judged
    (`failures`) is the error: the largest logit difference, absolutely and as a share of `spread` (the
    widest max - min of PyTorch's logits for one row, so that a model with small logits cannot hide a
    broken INT8 graph under the absolute bound), and the largest probability difference.

    Labels are reported, not judged: a label can only change where PyTorch's top-2 margin is below twice
    the largest logit difference (each of the two logits may move by that much). There it is a near-tie
    decided by rounding (a random-weight model is full of them, and which of them flip depends on the
    CPU's integer kernels: AVX2, VNNI, AMX), so a share of agreeing labels would fail a sound export at
    random; the `decided` rows, whose margin exceeds twice the difference, keep their label by arithmetic.
    """

    variant: str
    texts: int
    compared: int
    max_logit_diff: float
    max_prob_diff: float
    spread: float  # the widest max - min of PyTorch's logits for one row
    agree: int  # compared rows with the same label as PyTorch
    decided: int  # compared rows whose PyTorch top-2 margin exceeds 2 * max_logit_diff

    @property
    def label_agreement(self) -> float:
        return self.agree / self.compared if self.compared else 1.0

    @property
    def relative_diff(self) -> float:
        """max_logit_diff as a share of `spread` (infinite when PyTorch gives every logit the same value)."""
        if self.spread > 0:
            return self.max_logit_diff / self.spread
        return 0.0 if self.max_logit_diff == 0 else float("inf")

    def failures(
        self, max_diff: float, max_prob_diff: float, max_relative: float = MAX_RELATIVE_DIFF
    ) -> list[str]:
        """What is out of bounds, in words; empty when the variant passes."""
        out = []
        if not self.max_logit_diff <= max_diff:  # `not <=`: a NaN fails too
            out.append(f"max |logit diff| {self.max_logit_diff:.3g} > {max_diff:g}")
        if not self.relative_diff <= max_relative:
            out.append(
                f"max |logit diff| is {self.relative_diff:.0%} of PyTorch's widest logit spread "
                f"{self.spread:.3g} (> {max_relative:.0%})"
            )
        if not self.max_prob_diff <= max_prob_diff:
            out.append(f"max |probability diff| {self.max_prob_diff:.3g} > {max_prob_diff:g}")
        return out

    def figures(self) -> dict[str, float | int]:
        """What the artifact records (artifact.json `validation`)."""
        return {
            "max_logit_diff": self.max_logit_diff,
            "max_prob_diff": self.max_prob_diff,
            "relative_diff": self.relative_diff,
            "label_agreement": self.label_agreement,
            "texts": self.texts,
            "compared": self.compared,
            "decided": self.decided,
        }

    def __str__(self) -> str:
        again = (
            f", the first {self.compared - self.texts} again one at a time" if self.compared > self.texts else ""
        )
        return (
            f"{self.variant:>5}: max |logit diff| vs PyTorch {self.max_logit_diff:.2e} "
            f"({self.relative_diff:.1%} of its widest logit spread), "
            f"max |probability diff| {self.max_prob_diff:.2e}; same label in {self.agree} of {self.compared} "
            f"comparisons ({self.texts} texts{again}); {self.decided} of them with a PyTorch top-2 margin "
            "over twice that logit diff, where no label can change"
        )


def judge(variant: str, want: NDArray[np.floating[Any]], got: NDArray[np.floating[Any]], texts: int) -> Check:
    """Compare logits `got` (ONNX) with `want` (PyTorch), row by row; `texts` of the rows are distinct."""
    want64, got64 = want.astype(np.float64), got.astype(np.float64)
    diff = float(np.abs(got64 - want64).max()) if want.size else 0.0
    prob = float(np.abs(softmax(got64) - softmax(want64)).max()) if want.size else 0.0
    same = got64.argmax(-1) == want64.argmax(-1)  # on logits: rounded probabilities may tie
    top2 = np.sort(want64, axis=-1)[:, -2:]
    decided = (top2[:, 1] - top2[:, 0]) > 2 * diff
    return Check(
        variant,
        texts=texts,
        compared=len(want),
        max_logit_diff=diff,
        max_prob_diff=prob,
        spread=float((want64.max(-1) - want64.min(-1)).max()) if want.size else 0.0,
        agree=int(same.sum()),
        decided=int(decided.sum()),
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
        checks = [validate(model, out, "fp32")]
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            root, level = logging.getLogger(), logging.getLogger().level
            root.setLevel(logging.ERROR)  # quantize_dynamic logs a "consider pre-processing" hint on root
            try:
                quantize_dynamic(str(onnx_path), str(out / VARIANTS["int8"]), weight_type=QuantType.QInt8)
            finally:
                root.setLevel(level)
            checks.append(validate(model, out, "int8"))
        for check in checks:
            log(f"validated {check}")
        meta = FinbertMeta(
            labels=labels,
            version=weights_version(model),
            source=source,
            max_length=int(model.config.max_position_embeddings),
            opset=OPSET,
            validation={c.variant: c.figures() for c in checks},
        )
        meta.save(out)
        (out / "model.py").write_text(shim(FINBERT_MODEL))  # Triton cpu flavour entry point
    log(
        f"installed {repository / 'finbert_model' / '1'} (version {meta.version}; files: "
        f"{', '.join(sorted(p.name for p in (repository / 'finbert_model' / '1').iterdir()))})"
    )
    return meta


def bounds(variant: str) -> tuple[float, float]:
    """(max |logit diff|, max |probability diff|) allowed for `variant`, from the module's constants."""
    if variant == "fp32":
        return FP32_MAX_DIFF, FP32_MAX_PROB_DIFF
    return INT8_MAX_DIFF, INT8_MAX_PROB_DIFF


def validate(model: Any, directory: Path, variant: str) -> Check:
    """Compare an ONNX variant with PyTorch on the sample headlines; ExportError if out of bounds."""
    import onnxruntime as ort

    texts = sample_texts()
    encode = Encoder(directory, VALIDATION_TOKENS)
    inputs = encode(texts)
    session = ort.InferenceSession(str(directory / VARIANTS[variant]), providers=["CPUExecutionProvider"])
    names = sorted(i.name for i in session.get_inputs()), [o.name for o in session.get_outputs()]
    if names != (sorted(INPUTS), [OUTPUT]):
        raise ExportError(f"{variant} graph has inputs/outputs {names}, expected {sorted(INPUTS)} -> {OUTPUT}")
    got = session.run([OUTPUT], inputs)[0]
    with torch.no_grad():
        want = _LogitsOnly(model).eval()(*(torch.from_numpy(inputs[n]) for n in INPUTS)).numpy()
    if got.shape != want.shape:
        raise ExportError(f"{variant} logits have shape {got.shape}, PyTorch gives {want.shape}")
    singles = np.concatenate([session.run([OUTPUT], encode([t]))[0] for t in texts[:SINGLES]])
    check = judge(
        variant, want=np.concatenate([want, want[:SINGLES]]), got=np.concatenate([got, singles]), texts=len(texts)
    )
    max_diff, max_prob_diff = bounds(variant)
    if failures := check.failures(max_diff, max_prob_diff):
        raise ExportError(
            f"validation failed, nothing installed: {'; '.join(failures)}. {check} (bounds: |logit diff| <= "
            f"{max_diff:g} and <= {MAX_RELATIVE_DIFF:.0%} of the widest logit spread, |probability diff| <= "
            f"{max_prob_diff:g})"
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


__all__ = ["META", "Check", "ExportError", "WeightsError", "export_finbert", "judge", "validate"]
