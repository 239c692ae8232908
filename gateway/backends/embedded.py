"""The embedded backend: ONNX Runtime sessions inside the gateway process (the default).

Serves, with the names and tensors of the Triton contract:
    finbert        TEXT (str/bytes) [batch]               -> probabilities fp32 [batch, 3]
    finbert_model  input_ids, attention_mask int64 [b, s] -> logits fp32 [batch, 3]
    patchtst       past_values fp32 [b, context, 1]       -> OUTPUTS of investiq/core/patchtst.py (median,
                                                             quantiles, probability_up, volatility)
Sessions are made once, at start. Inference runs on one worker thread (ONNX Runtime spreads each
run over the cores itself), so the event loop never blocks and runs never contend for the cores.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.backends.base import Tensors
from investiq.core.artifacts import META
from investiq.core.errors import ArtifactError, InvalidInputError, ModelNotReadyError
from investiq.core.finbert import FINBERT, FINBERT_MODEL, OUTPUT, Encoder, FinbertMeta, model_file, softmax
from investiq.core.patchtst import (
    INPUT,
    ONNX_FILE,
    OUTPUTS,
    PATCHTST,
    PROBABILITY_UP,
    QUANTILES,
    VOLATILITY,
    PatchTSTMeta,
)
from investiq.core.patchtst import OUTPUT as MEDIAN
from investiq.core.versions import serving_dir

log = logging.getLogger(__name__)


def finbert_dir(repository: Path) -> Path:
    return serving_dir(repository, FINBERT_MODEL)


def patchtst_dir(repository: Path) -> Path:
    return serving_dir(repository, PATCHTST)


def ort_session(path: Path) -> Any:
    import onnxruntime as ort

    if not path.is_file():
        raise ArtifactError(f"missing ONNX file {path}: export the model again")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # ONNX Runtime's threads spin-wait between runs (its default, kept on purpose): waking sleeping threads
    # costs this 2-core VM ~2.7 ms per single-headline request (gateway p50 10.1-10.7 ms spinning vs 12.8 ms
    # not, in alternating runs), at a price in CPU: under load the same throughput takes ~1.7 cores instead
    # of ~1.1 (reliability/load.py). Latency is what the agent waits on.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        data = path.with_name(path.name + ".data")  # external weights, when the exporter split them out
        what = f"{path} (weights in {data})" if data.is_file() else str(path)
        raise ArtifactError(f"cannot load ONNX file {what}: {exc}; export the model again") from None


def load_patchtst(directory: Path) -> tuple[PatchTSTMeta, Any]:
    """The artifact and a session whose every output has the contract's shape and values on a warm-up
    window: a graph that does not fit its artifact.json is refused here, before it serves anyone."""
    meta = PatchTSTMeta.load(directory)
    session = ort_session(directory / ONNX_FILE)
    # A flat window on purpose: zero returns, zero volatility, the hardest case for the scaling inside.
    probe = np.full((1, meta.context_length, 1), 100.0, dtype=np.float32)
    try:
        outputs = dict(zip(OUTPUTS, session.run(list(OUTPUTS), {INPUT: probe}), strict=True))
    except Exception as exc:  # onnxruntime's own errors: a graph that does not fit its artifact.json
        raise ArtifactError(f"{directory / ONNX_FILE} fails a warm-up run: {exc}") from None
    problem = warm_up_problem(outputs, meta)
    if problem is not None:
        raise ArtifactError(
            f"{directory / ONNX_FILE} answers a warm-up window with {problem}: export the model again"
        )
    return meta, session


def output_shapes(meta: PatchTSTMeta, batch: int) -> dict[str, tuple[int, ...]]:
    """The shape of each of the graph's outputs for `batch` windows (investiq/core/patchtst.py)."""
    h = meta.prediction_length
    return {
        MEDIAN: (batch, h, 1),
        QUANTILES: (batch, h, len(meta.quantile_levels)),
        PROBABILITY_UP: (batch, h),
        VOLATILITY: (batch, 1),
    }


def warm_up_problem(outputs: dict[str, NDArray[Any]], meta: PatchTSTMeta) -> str | None:
    """What is wrong with one window's outputs, or None: a shape, a non-finite value, a P(up) outside [0, 1]."""
    for name, shape in output_shapes(meta, 1).items():
        out = outputs[name]
        if out.shape != shape:
            return f"{name} of shape {out.shape}, expected {shape}"
        if not np.all(np.isfinite(out)):
            return f"non-finite values in {name}"
    p = outputs[PROBABILITY_UP]
    if not np.all((p >= 0) & (p <= 1)):
        return f"{PROBABILITY_UP} outside [0, 1] ({p.min():g} to {p.max():g})"
    return None


class EmbeddedBackend:
    name = "embedded"
    target = "in-process"

    def __init__(self, repository: Path, *, quantize: bool = True, max_tokens: int = 128) -> None:
        """Load what the repository holds (the newest version of each model). A model that is absent
        is simply not served; one that is present but broken raises ArtifactError naming the file."""
        self._repository = repository
        self._sessions: dict[str, Any] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnxruntime")
        self.finbert: FinbertMeta | None = None
        self._encoder: Encoder | None = None
        directory = finbert_dir(repository)
        if (directory / META).exists():
            self.finbert = FinbertMeta.load(directory)
            variant = "int8" if quantize else "fp32"
            path = model_file(directory, variant)
            self._sessions[FINBERT_MODEL] = ort_session(path)
            self._encoder = Encoder(directory, min(max_tokens, self.finbert.max_length))
            self.finbert_variant = variant
            log.info("embedded backend: finbert %s (%s) from %s", self.finbert.version, variant, path)

        self.patchtst: PatchTSTMeta | None = None
        if (patchtst_dir(repository) / META).exists():
            self.patchtst, self._sessions[PATCHTST] = load_patchtst(patchtst_dir(repository))
            log.info("embedded backend: patchtst %s from %s", self.patchtst.version, patchtst_dir(repository))

    async def reload(self, model: str) -> None:
        """Serve the repository's newest version of `model` (a hot swap). The new session is built and
        warmed up off the inference thread, then swapped in by one assignment: runs in flight finish
        on the old session, later ones use the new. On any failure the old version keeps serving."""
        if model != PATCHTST:
            raise ModelNotReadyError(f"the embedded backend reloads only patchtst, not {model!r}: restart it")
        meta, session = await asyncio.to_thread(load_patchtst, patchtst_dir(self._repository))
        self._sessions[PATCHTST], self.patchtst = session, meta
        log.info("embedded backend: now serving patchtst %s", meta.version)

    @property
    def models(self) -> list[str]:
        names = [FINBERT, FINBERT_MODEL] if FINBERT_MODEL in self._sessions else []
        return names + ([PATCHTST] if PATCHTST in self._sessions else [])

    async def infer(self, model: str, inputs: Tensors) -> dict[str, NDArray[np.generic]]:
        if model not in self.models:
            raise ModelNotReadyError(
                f"model {model!r} is not loaded in the embedded backend (loaded: {self.models or 'none'})"
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, model, inputs)

    def _run(self, model: str, inputs: Tensors) -> dict[str, NDArray[np.generic]]:
        if model == PATCHTST:
            return dict(zip(OUTPUTS, self._sessions[PATCHTST].run(list(OUTPUTS), dict(inputs)), strict=True))
        session = self._sessions[FINBERT_MODEL]
        if model == FINBERT_MODEL:
            return {OUTPUT: session.run([OUTPUT], dict(inputs))[0]}
        assert self._encoder is not None
        texts = [t.decode() if isinstance(t, bytes) else str(t) for t in inputs["TEXT"].tolist()]
        if not texts:
            raise InvalidInputError("TEXT is empty")
        logits = session.run([OUTPUT], self._encoder(texts))[0]
        return {"probabilities": softmax(logits)}

    async def ready(self, model: str | None = None) -> bool:
        return bool(self.models) if model is None else model in self.models

    async def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._sessions.clear()
