"""The FinBERT artifact: what export writes and every consumer reads (one source of truth).

A directory (`model_repository/finbert_model/1/`) holding
    model.onnx         fp32 graph: input_ids, attention_mask int64 [batch, seq] -> logits fp32 [batch, 3]
    model.int8.onnx    the same graph with dynamic INT8 weights (CPU)
    tokenizer.json     the fast tokenizer, with its [CLS]/[SEP] post-processor
    artifact.json      labels (in logit order), version, source, validation figures
Pre-processing (tokenize, pad to the longest text, truncate) and post-processing (softmax) live
here only; the export validation, the embedded backend and the Triton adapter all call them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from investiq.artifacts import ArtifactError, load_meta, save_meta

LABELS = frozenset({"positive", "negative", "neutral"})
TOKENIZER = "tokenizer.json"
VARIANTS = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
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


class WeightsError(RuntimeError):
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


def load_pretrained(source: str) -> tuple[Any, Any]:
    """(model, tokenizer) from a local directory, the Hugging Face cache or the hub (downloads show
    a progress bar). Raises WeightsError with what to do when they cannot be had."""
    reason = weights_reachable(source)
    if reason is None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForSequenceClassification.from_pretrained(source)
        except OSError as exc:
            reason = str(exc).splitlines()[0]
        else:
            if not getattr(tokenizer, "is_fast", False):
                raise WeightsError(f"{source!r} has no fast tokenizer (tokenizer.json); install `tokenizers`")
            return model.eval(), tokenizer
    raise WeightsError(
        f"cannot load FinBERT weights: {reason}.\n"
        "On a machine with internet: `hf download ProsusAI/finbert --local-dir models/finbert`, "
        "copy models/finbert here, then `investiq export finbert --source models/finbert` (or set "
        "finbert_model in config.yaml). Until then the gateway answers with the VADER lexicon fallback."
    )


def model_file(directory: Path, variant: str) -> Path:
    """The ONNX file of `variant` ('fp32' or 'int8'), checked to exist."""
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
