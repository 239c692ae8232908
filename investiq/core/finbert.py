"""The FinBERT artifact: what export writes and every consumer reads (one source of truth).

A directory (`model_repository/finbert_model/1/`) holding
    model.onnx         fp32 graph: input_ids, attention_mask int64 [batch, seq] -> logits fp32 [batch, 3]
    model.int8.onnx    the same graph with dynamic INT8 weights (CPU)
    model.int8.fused.onnx, model.int8.qdq.onnx   other CPU runtimes' graphs (investiq/core/finbert_runtime.py)
    tokenizer.json     the fast tokenizer, with its [CLS]/[SEP] post-processor
    artifact.json      labels (in logit order), version, source, validation figures
Pre-processing (tokenize, pad to the longest text, truncate; group texts of like length into forward
passes: `run_by_length`) and post-processing (softmax) live here only; the export validation, the
embedded backend and the Triton adapter all call them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
# FinBERT is not versioned as PatchTST is: every export replaces version 1, and its Triton configs serve version 1
# alone (a version 2 dropped beside it was served by the gateway and Triton with version 1's tokenizer).
FINBERT_VERSION = 1
# The labels, in the order every answer, journal row and report lists them; an exported model's own
# logit order is in its artifact (FinbertMeta.labels) and is mapped onto this one.
Label = Literal["positive", "negative", "neutral"]
LABELS: tuple[Label, ...] = get_args(Label)
TOKENIZER = "tokenizer.json"
NEUTRAL = LABELS.index("neutral")
POSITIVE, NEGATIVE = LABELS.index("positive"), LABELS.index("negative")
TIE = 1e-9  # probabilities this close are a tie


def finbert_dir(repository: Path) -> Path:
    """FinBERT's directory in `repository`: what export writes and every reader loads."""
    return repository / FINBERT_MODEL / str(FINBERT_VERSION)


def score_of(p: Sequence[float]) -> float:
    """The score of probabilities `p` (LABELS order): P(positive) - P(negative), in [-1, 1]."""
    return float(p[POSITIVE] - p[NEGATIVE])


def label_of(p: Sequence[float]) -> int:
    """The label of probabilities `p` (LABELS order): the largest, and neutral where two tie for it. The first of
    equal maxima was taken, positive: the lexicon's mixed headlines ("Shares rise despite weak guidance", 0.452
    each way, score 0.0) were labelled positive, always toward a buy (a review)."""
    k = max(range(len(p)), key=p.__getitem__)
    return k if sum(p[k] - q <= TIE for q in p) == 1 else NEUTRAL


# In the tokenizer step's version directory: the hash of the tokenizer it reads (export/finbert.py).
TOKENIZER_STAMP = "tokenizer.sha256"
# Texts are truncated to this many tokens, by default: the setting sentiment_max_tokens (embedded backend), the
# Triton tokenizer step's max_tokens parameter (model_repository/finbert_tokenizer/config.pbtxt), fine-tuning.
MAX_TOKENS = 128
# The graphs an export writes; which runtime runs which: investiq/core/finbert_runtime.py.
VARIANTS = {
    "fp32": "model.onnx",
    "int8": "model.int8.onnx",
    "int8-fused": "model.int8.fused.onnx",
    "int8-qdq": "model.int8.qdq.onnx",
}
# The network's tensors, and the ensemble's (the gateway sends headlines as TEXT_INPUT, gets PROBABILITIES back).
INPUT_IDS, ATTENTION_MASK = "input_ids", "attention_mask"
INPUTS = (INPUT_IDS, ATTENTION_MASK)
OUTPUT = "logits"
TEXT_INPUT, PROBABILITIES = "TEXT", "probabilities"
# run_by_length: what one more forward pass costs, in padded tokens. A pass reads every weight once
# whatever its size; on a 2-core Xeon (AMX, ONNX Runtime INT8) a pass took 7.3 ms + 0.17 ms per padded
# token, fitted over 11 shapes from 1 x 8 to 16 x 64 tokens, i.e. ~42 tokens. Set above that on purpose:
# the gain is in the sorting (a burst of 225 headlines of 8-26 tokens ran as fast with 32, 48, 64 or 96
# here, and with no split beyond max_rows), so a pass is split off only where it clearly saves.
PASS_COST_TOKENS = 64
MAX_PASS_ROWS = 64  # rows per forward pass at most: CPU throughput is flat past 32 (the same fit's machine)
# What `investiq export finbert` writes, by format (artifact.json's export_format; absent: 1):
#   1  the model's graph as PyTorch runs it;
#   2  a BERT classifier's last layer on the [CLS] row only (export/finbert_graph.py): the same logits, ~7 % fewer
#      operations per headline. A repository of format 1 serves as before; export again to gain it.
EXPORT_FORMAT = 2


# What to do without an export: offline the command fails (Hugging Face unreachable), and its own error says how
# to bring the weights; said here too, where the gateway first tells a new user (/health, the start-up warning).
EXPORT_FINBERT = (
    "run `investiq export finbert` (offline: `hf download ProsusAI/finbert --local-dir models/finbert` on a "
    "machine with internet, copy the folder here, then `investiq export finbert --source models/finbert`)"
)


@dataclass(frozen=True)
class FinbertMeta:
    labels: list[str]  # labels[i] is the meaning of logit i
    version: str  # content hash of the weights the graph was exported from
    source: str  # model id or path the weights came from
    max_length: int  # the model's position limit
    opset: int
    validation: dict[str, Any] = field(default_factory=dict)
    export_format: int = 1  # EXPORT_FORMAT of the export that wrote it
    files: dict[str, str] = field(default_factory=dict)  # graph file -> sha256 (artifacts.digests; {} before them)

    def __post_init__(self) -> None:
        if sorted(self.labels) != sorted(LABELS):
            raise ArtifactError(f"labels must be {sorted(LABELS)} in some order, got {self.labels}")

    def save(self, directory: Path) -> None:
        save_meta(self, directory)

    @classmethod
    def load(cls, directory: Path) -> FinbertMeta:
        return load_meta(cls, directory, EXPORT_FINBERT)


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
    """Texts -> (input_ids, attention_mask), int64 [batch, longest text in the batch (<= max_tokens)], padded
    further to a multiple of `multiple` columns (never past max_tokens): fewer widths, for batchers that merge
    only inputs of one shape (Triton's dynamic batcher in front of a graph)."""

    def __init__(self, directory: Path, max_tokens: int, multiple: int = 1) -> None:
        from tokenizers import Tokenizer

        path = directory / TOKENIZER
        try:
            self._tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises plain Exception subclasses
            raise ArtifactError(f"cannot load tokenizer {path}: {exc}") from None
        pad = self._tokenizer.token_to_id("[PAD]")
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.enable_padding(
            pad_id=0 if pad is None else pad,
            pad_token="[PAD]",
            pad_to_multiple_of=multiple if multiple > 1 else None,
        )
        self.max_tokens = max_tokens

    def __call__(self, texts: Sequence[str]) -> dict[str, NDArray[np.int64]]:
        encodings = self._tokenizer.encode_batch(list(texts))
        return {  # a multiple past max_tokens adds only padding columns: cut back to max_tokens
            INPUT_IDS: np.array([e.ids for e in encodings], dtype=np.int64)[:, : self.max_tokens],
            ATTENTION_MASK: np.array([e.attention_mask for e in encodings], dtype=np.int64)[:, : self.max_tokens],
        }


def softmax(logits: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
    """Row-wise softmax, computed stably in float64. Shape [batch, labels] -> same."""
    z = logits.astype(np.float64)
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True), dtype=np.float32)


def extents(attention_mask: NDArray[np.integer[Any]]) -> NDArray[np.intp]:
    """Per row, the columns up to and including its last attended token (0 for a row with none): what a
    forward pass must keep of it. Columns past every row's extent are padding only."""
    attended = attention_mask != 0
    last = attended.shape[1] - np.argmax(attended[:, ::-1], axis=1)
    return np.where(attended.any(axis=1), last, 0).astype(np.intp)


def plan_passes(
    lengths: Sequence[int] | NDArray[np.integer[Any]],
    *,
    pass_cost: float = PASS_COST_TOKENS,
    max_rows: int = MAX_PASS_ROWS,
) -> list[NDArray[np.intp]]:
    """The rows of each forward pass for texts of `lengths` tokens: sorted by length, then cut where one
    more pass (`pass_cost` padded tokens) costs less than the padding it saves, at most `max_rows` a
    pass. Minimises passes x pass_cost + the padded tokens of every pass (rows x its longest row),
    exactly, by dynamic programming over the sorted lengths (a pass holds a run of them at the optimum)."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    sorted_lengths = np.asarray(lengths, dtype=np.float64)[order]
    n = len(order)
    if 0 < n <= max_rows and n * sorted_lengths[-1] - sorted_lengths.sum() <= pass_cost:
        return [order]  # all the padding one pass holds costs less than one more pass: no cut can pay
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    start = np.zeros(n + 1, dtype=np.intp)
    for end in range(1, n + 1):
        first = np.arange(max(0, end - max_rows), end)  # candidate first rows of the pass ending at `end`
        costs = best[first] + pass_cost + (end - first) * sorted_lengths[end - 1]
        pick = int(np.argmin(costs))
        best[end], start[end] = costs[pick], first[pick]
    passes: list[NDArray[np.intp]] = []
    end = n
    while end > 0:
        passes.append(order[start[end] : end])
        end = int(start[end])
    return passes[::-1]


def run_by_length(
    run: Callable[[dict[str, NDArray[np.int64]]], NDArray[Any]],
    feed: dict[str, NDArray[np.int64]],
    *,
    pass_cost: float = PASS_COST_TOKENS,
    max_rows: int = MAX_PASS_ROWS,
) -> NDArray[Any]:
    """`run` (a feed of INPUTS -> one output, a row per text) over `feed` in the passes of `plan_passes`,
    each cut to its longest row's extent; the rows come back in `feed`'s order. The same answer as one
    pass over `feed` but for rounding (attention ignores padding), for less padded work: texts of like
    length run together."""
    mask = feed[ATTENTION_MASK]
    if len(mask) <= 1 and (mask.size == 0 or mask[0, -1]):
        return run(feed)  # one text and no padding: nothing to group or drop
    widths = extents(feed[ATTENTION_MASK])
    passes = plan_passes(widths, pass_cost=pass_cost, max_rows=max_rows)
    if len(passes) == 1 and widths.max() == feed[ATTENTION_MASK].shape[1]:
        return run(feed)  # already one pass with no column to drop
    out: NDArray[Any] | None = None
    for rows in passes:
        width = max(1, int(widths[rows].max()))
        part = run({name: tensor[rows, :width] for name, tensor in feed.items()})
        if out is None:
            out = np.empty((len(widths), *part.shape[1:]), dtype=part.dtype)
        out[rows] = part
    assert out is not None  # a feed has at least one row
    return out
