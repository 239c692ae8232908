"""The FinBERT artifact: what export writes and every consumer reads (one source of truth).

A directory (`model_repository/finbert_model/1/`) holding
    model.onnx         fp32 graph: input_ids, attention_mask int64 [batch, seq] -> logits fp32 [batch, 3]
    model.int8.onnx    the same graph with dynamic INT8 weights (CPU)
    model.int8.fused.onnx, model.int8.qdq.onnx   other CPU runtimes' graphs (investiq/core/finbert_runtime.py)
    tokenizer.json     the fast tokenizer, with its [CLS]/[SEP] post-processor
    artifact.json      labels (in logit order), version, source, validation figures
Pre-processing (tokenize, pad to the longest text, truncate) and post-processing (softmax) live
here only; the export validation, the embedded backend and the Triton adapter all call them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import NDArray

from investiq.core.artifacts import load_meta, save_meta
from investiq.core.errors import ArtifactError, InvestIQError

# Model names in the Triton repository: the ensemble the gateway calls, its network and its python steps.
FINBERT = "finbert"
FINBERT_MODEL = "finbert_model"
FINBERT_TOKENIZER = "finbert_tokenizer"
FINBERT_POSTPROCESS = "finbert_postprocess"
# The labels, in the order every answer, journal row and report lists them; an exported model's own
# logit order is in its artifact (FinbertMeta.labels) and is mapped onto this one.
Label = Literal["positive", "negative", "neutral"]
LABELS: tuple[Label, ...] = get_args(Label)
TOKENIZER = "tokenizer.json"
# The graphs an export writes; which runtime runs which: investiq/core/finbert_runtime.py.
VARIANTS = {
    "fp32": "model.onnx",
    "int8": "model.int8.onnx",
    "int8-fused": "model.int8.fused.onnx",
    "int8-qdq": "model.int8.qdq.onnx",
}
INPUTS = ("input_ids", "attention_mask")
OUTPUT = "logits"


@dataclass(frozen=True)
class FinbertMeta:
    labels: list[str]  # labels[i] is the meaning of logit i
    version: str  # content hash of the weights the graph was exported from
    source: str  # model id or path the weights came from
    max_length: int  # the model's position limit
    opset: int
    validation: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if sorted(self.labels) != sorted(LABELS):
            raise ArtifactError(f"labels must be {sorted(LABELS)} in some order, got {self.labels}")

    def save(self, directory: Path) -> None:
        save_meta(self, directory)

    @classmethod
    def load(cls, directory: Path) -> FinbertMeta:
        return load_meta(cls, directory, "run `investiq export finbert`")


class WeightsError(InvestIQError):
    """FinBERT weights cannot be loaded (offline and not cached, wrong path); says what to do."""


def weights_reachable(source: str, timeout_s: float = 2.0) -> str | None:
    """None if `source` can be loaded now (local directory, Hugging Face cache, or the hub resolves),
    else why not. Lets callers fail in seconds instead of the hub client's minute of retries."""
    import os
    import socket

    if Path(source).is_dir():
        return None
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(source, "config.json"), str):
        return None
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    try:
        socket.setdefaulttimeout(timeout_s)
        socket.getaddrinfo(host, 443)
    except OSError:
        return f"{source!r} is not a local directory, not in the Hugging Face cache, and {host} is unreachable"
    finally:
        socket.setdefaulttimeout(None)
    return None


def model_file(directory: Path, variant: str) -> Path:
    """The ONNX file of `variant` (a key of VARIANTS), checked to exist."""
    path = directory / VARIANTS[variant]
    if not path.is_file():
        raise ArtifactError(f"missing ONNX file {path}: re-run `investiq export finbert`")
    return path


class Encoder:
    """Texts -> (input_ids, attention_mask), int64 [batch, longest text in the batch (<= max_tokens)]."""

    def __init__(self, directory: Path, max_tokens: int) -> None:
        from tokenizers import Tokenizer

        path = directory / TOKENIZER
        try:
            self._tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises plain Exception subclasses
            raise ArtifactError(f"cannot load tokenizer {path}: {exc}") from None
        pad = self._tokenizer.token_to_id("[PAD]")
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.enable_padding(pad_id=0 if pad is None else pad, pad_token="[PAD]")
        self.max_tokens = max_tokens

    def __call__(self, texts: Sequence[str]) -> dict[str, NDArray[np.int64]]:
        encodings = self._tokenizer.encode_batch(list(texts))
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        }


def softmax(logits: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
    """Row-wise softmax, computed stably in float64. Shape [batch, labels] -> same."""
    z = logits.astype(np.float64)
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True), dtype=np.float32)
