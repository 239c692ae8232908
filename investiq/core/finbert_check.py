"""The margin-aware check of a FinBERT graph against a reference (PyTorch fp32 at export; the validated fp32
graph at start-up), on the committed headlines. Pure numpy: export/finbert.py and the embedded backend share it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from investiq.core.finbert import Encoder, softmax

SINGLES = 4  # the first texts are run again one at a time: batch 1 and no padding are other shapes
LONG = 1  # then all of them as one text, cut at the encoder's length: the positions short headlines never reach
# Bounds against PyTorch, per variant (read at call time); labels have none of their own: see Check.
FP32_MAX_DIFF = 1e-4  # logits, ONNX fp32 vs PyTorch
FP32_MAX_PROB_DIFF = 1e-4  # probabilities
INT8_MAX_DIFF = 0.25  # logits, ONNX INT8 vs PyTorch
INT8_MAX_PROB_DIFF = 0.1  # probabilities: what a caller sees moves by at most this much
# Logits, as a share of the widest spread (max - min) of PyTorch's logits for one text: a model with
# small logits (random weights, the tiny test models) fits INT8 garbage under 0.25, not under this.
# A sound INT8 export measured 1-8 % here; shuffled or rescaled int8 weights 60-130 %.
MAX_RELATIVE_DIFF = 0.5
# The error common to every row, per label, as a share of that spread, after each row's mean is taken out of
# the error (softmax ignores it): a graph that adds 0.2 to one label's logit of a small-logit model moved every
# label (30 % here) while each row's error stayed under MAX_RELATIVE_DIFF. Sound graphs measured 0.2-2.5 %
# (every CPU runtime's, of the tiny test models of 3 seeds and of the BERT-base-shaped benchmark model, on AMX).
MAX_SYSTEMATIC = 0.1


@dataclass(frozen=True)
class Check:
    """An ONNX variant against PyTorch on the validation texts.

    `compared` rows: the `texts` in one batch, plus the first SINGLES again one at a time, plus LONG: all of
    them as one text. What is judged (`failures`) is the error: the largest logit difference, absolutely and as
    a share of `spread` (the widest max - min of PyTorch's logits for one row, so that a model with small logits
    cannot hide a broken INT8 graph under the absolute bound), the part of it every row shares (`systematic`: a
    bias toward one label, which errors each under the bound can add up to), and the largest probability
    difference.

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
    systematic: float  # the largest |mean error of one label over the rows| (each row's mean error out) / spread
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
        if not self.systematic <= MAX_SYSTEMATIC:
            out.append(
                f"the rows' errors share a bias toward one label of {self.systematic:.0%} of PyTorch's widest "
                f"logit spread (> {MAX_SYSTEMATIC:.0%})"
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
            "systematic": self.systematic,
            "label_agreement": self.label_agreement,
            "texts": self.texts,
            "compared": self.compared,
            "decided": self.decided,
        }

    def __str__(self) -> str:
        again = (  # the rows of logits_on
            f", the first {SINGLES} again one at a time, and all of them as one long text"
            if self.compared == self.texts + SINGLES + LONG
            else ""
        )
        return (
            f"{self.variant:>5}: max |logit diff| vs PyTorch {self.max_logit_diff:.2e} "
            f"({self.relative_diff:.1%} of its widest logit spread; a bias of {self.systematic:.1%} shared by "
            "the rows), "
            f"max |probability diff| {self.max_prob_diff:.2e}; same label in {self.agree} of {self.compared} "
            f"comparisons ({self.texts} texts{again}); {self.decided} of them with a PyTorch top-2 margin "
            "over twice that logit diff, where no label can change"
            + ("" if self.decided else " (so no label was verified: the bounds on the errors are the check)")
        )


def judge(variant: str, want: NDArray[np.floating[Any]], got: NDArray[np.floating[Any]], texts: int) -> Check:
    """Compare logits `got` (ONNX) with `want` (PyTorch), row by row; `texts` of the rows are distinct."""
    want64, got64 = want.astype(np.float64), got.astype(np.float64)
    diff = float(np.abs(got64 - want64).max()) if want.size else 0.0
    prob = float(np.abs(softmax(got64) - softmax(want64)).max()) if want.size else 0.0
    same = got64.argmax(-1) == want64.argmax(-1)  # on logits: rounded probabilities may tie
    top2 = np.sort(want64, axis=-1)[:, -2:]
    decided = (top2[:, 1] - top2[:, 0]) > 2 * diff
    spread = float((want64.max(-1) - want64.min(-1)).max()) if want.size else 0.0
    error = got64 - want64
    shared = float(np.abs((error - error.mean(-1, keepdims=True)).mean(0)).max()) if want.size else 0.0
    return Check(
        variant,
        texts=texts,
        compared=len(want),
        max_logit_diff=diff,
        max_prob_diff=prob,
        spread=spread,
        systematic=shared / spread if spread > 0 else (0.0 if shared == 0 else float("inf")),
        agree=int(same.sum()),
        decided=int(decided.sum()),
    )


def sample_texts() -> list[str]:
    """The committed headlines (investiq/data/headlines.txt), ~10 tokens each."""
    path = Path(__file__).resolve().parents[1] / "data" / "headlines.txt"
    return [line for line in path.read_text().splitlines() if line.strip()]


def bounds(precision: str) -> tuple[float, float]:
    """(max |logit diff|, max |probability diff|) for a graph of `precision` ('fp32', 'int8', 'bf16'; or a key of
    VARIANTS: 'fp32', and the INT8 graphs), from the module's constants, read when called (tests lower them)."""
    if precision == "fp32":
        return FP32_MAX_DIFF, FP32_MAX_PROB_DIFF
    return INT8_MAX_DIFF, INT8_MAX_PROB_DIFF  # BF16 (8 mantissa bits) is judged as INT8 is


def logits_on(
    run: Callable[[dict[str, NDArray[np.int64]]], NDArray[Any]], encode: Encoder, texts: list[str]
) -> NDArray[Any]:
    """Logits of `texts` in one batch, then of the first SINGLES again one at a time (batch 1 and no padding
    are other shapes), then of all of them as one text, which `encode` cuts at its length (give it the
    model's: positions past a headline's serve long texts): [len(texts) + SINGLES + LONG, labels]. `run` maps
    the encoder's inputs to logits (an ONNX session, PyTorch, OpenVINO)."""
    batch = run(encode(texts))
    # four times the headlines: ~1,200 words, past 512 tokens for any tokenizer (once, 319 with a basic one)
    singles = [run(encode([t])) for t in [*texts[:SINGLES], " ".join(texts * 4)]]
    return np.concatenate([batch, *singles])
