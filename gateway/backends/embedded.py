"""The embedded backend: ONNX Runtime sessions inside the gateway process (the default).

Serves, with the names and tensors of the Triton contract:
    finbert        TEXT (str/bytes) [batch]               -> probabilities fp32 [batch, 3]
    finbert_model  input_ids, attention_mask int64 [b, s] -> logits fp32 [batch, 3]
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
from gateway.errors import InvalidInputError, ModelNotReadyError
from investiq.finbert import OUTPUT, ArtifactError, Encoder, FinbertMeta, model_file, softmax

log = logging.getLogger(__name__)


def finbert_dir(repository: Path) -> Path:
    return repository / "finbert_model" / "1"


class EmbeddedBackend:
    name = "embedded"

    def __init__(self, repository: Path, *, quantize: bool = True, max_tokens: int = 128) -> None:
        """Load what the repository holds. A model that is absent is simply not served; one that
        is present but broken raises ArtifactError naming the file (a start-up error)."""
        import onnxruntime as ort

        self._sessions: dict[str, Any] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnxruntime")
        self.finbert: FinbertMeta | None = None
        self._encoder: Encoder | None = None
        directory = finbert_dir(repository)
        if (directory / "artifact.json").exists():
            self.finbert = FinbertMeta.load(directory)
            variant = "int8" if quantize else "fp32"
            path = model_file(directory, variant)
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            try:
                self._sessions["finbert_model"] = ort.InferenceSession(
                    str(path), options, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:  # onnxruntime raises its own untyped errors
                raise ArtifactError(f"cannot load ONNX file {path}: {exc}") from None
            self._encoder = Encoder(directory, min(max_tokens, self.finbert.max_length))
            self.finbert_variant = variant
            log.info("embedded backend: finbert %s (%s) from %s", self.finbert.version, variant, path)

    @property
    def models(self) -> list[str]:
        return ["finbert", "finbert_model"] if "finbert_model" in self._sessions else []

    async def infer(self, model: str, inputs: Tensors) -> dict[str, NDArray[np.generic]]:
        if model not in self.models:
            raise ModelNotReadyError(
                f"model {model!r} is not loaded in the embedded backend (loaded: {self.models or 'none'})"
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, model, inputs)

    def _run(self, model: str, inputs: Tensors) -> dict[str, NDArray[np.generic]]:
        session = self._sessions["finbert_model"]
        if model == "finbert_model":
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
