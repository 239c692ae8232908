"""The embedded backend: ONNX Runtime (and, for PatchTST on BF16 CPUs, OpenVINO) sessions inside the gateway
process (the default).

Serves, with the names and tensors of the Triton contract:
    finbert        TEXT (str/bytes) [batch]               -> probabilities fp32 [batch, 3]
    finbert_model  input_ids, attention_mask int64 [b, s] -> logits fp32 [batch, 3]
    patchtst       past_values fp32 [b, context, 1]       -> OUTPUTS of investiq/core/patchtst.py (median,
                                                             quantiles, probability_up, volatility)
Sessions are made once, at start. Each model runs on a worker thread of its own (ONNX Runtime spreads each run
over the cores itself), so the event loop never blocks, runs of one model never contend for the cores, and a
forecast never queues behind a burst of headlines (or headlines behind 500 windows): the two models' runs may
overlap and share the cores, as two models do in Triton. Measured on a 2-core AVX-512 EPYC, the benchmark's models,
through a real `investiq serve`: one client sending bursts of 32 headlines back to back, another one window every
20 ms (3 alternating pairs of 8 s, throw-away script; PatchTST on its auto runtime, openvino-bf16 there): a
window's p50 46-55 -> 8.6-9.1 ms and p99 56-66 -> 15 ms. The price: the burst loses the cores while a window runs,
420-473 -> 382-406 headlines/s while 2.3x the windows were answered, i.e. 4-9 ms of FinBERT's time per extra window
(the same with PatchTST on ONNX Runtime; `investiq bench gateway` measures it against bursts alone). A window when
FinBERT is idle is as before.
On the CPU, FinBERT's texts run grouped by length (investiq/core/finbert.py `run_by_length`), at most
`max_pass_rows` a pass, so that short headlines do not pad to the longest text of their burst.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.backends.base import Tensors
from gateway.backends.providers import CPU, Provider, import_onnxruntime, session_providers
from investiq.core.artifacts import META
from investiq.core.cpu import instruction_sets
from investiq.core.errors import ArtifactError, InvalidInputError, ModelNotReadyError
from investiq.core.finbert import (
    EXPORT_FORMAT,
    FINBERT,
    FINBERT_MODEL,
    MAX_PASS_ROWS,
    MAX_TOKENS,
    OUTPUT,
    PROBABILITIES,
    TEXT_INPUT,
    Encoder,
    FinbertMeta,
    finbert_dir,
    run_by_length,
    softmax,
)
from investiq.core.finbert_runtime import DEFAULT, FP32, choose_runtime, graph_names, open_checked, tag
from investiq.core.ort_sessions import loaded_session
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
from investiq.core.patchtst_runtime import GRAPHS, PORTABLE, disagreement, files_problem, open_session
from investiq.core.patchtst_runtime import choose_runtime as choose_patchtst_runtime
from investiq.core.versions import serving_dir

log = logging.getLogger(__name__)
WORKER = {FINBERT: FINBERT, FINBERT_MODEL: FINBERT, PATCHTST: PATCHTST}  # the worker thread each name runs on


def patchtst_dir(repository: Path) -> Path:
    return serving_dir(repository, PATCHTST)


def ort_session(path: Path, providers: list[Provider] | None = None) -> Any:
    """A session of `path` on `providers` (None: `session_providers()`, the embedded_providers default), with
    the options every served session has (investiq/core/ort_sessions.py); ArtifactError naming the file when
    it is missing or does not load."""
    import_onnxruntime()  # the error that names the extra to install, when it is absent
    return loaded_session(path, providers or session_providers())


@dataclass(frozen=True)
class PatchTSTSession:
    """The session that serves PatchTST (ONNX Runtime's `run`), with the runtime chosen and why (/health)."""

    session: Any
    runtime: str
    reason: str

    def run(self, output_names: list[str], feed: dict[str, Any]) -> list[NDArray[np.float32]]:
        return list(self.session.run(output_names, feed))


def load_patchtst(
    directory: Path, runtime: str = "auto", providers: list[Provider] | None = None
) -> tuple[PatchTSTMeta, PatchTSTSession]:
    """The artifact and a session whose every output has the contract's shape and values on a warm-up
    window: a graph that does not fit its artifact.json is refused here, before it serves anyone.

    `runtime` is the `patchtst_runtime` setting, resolved on this CPU (investiq/core/patchtst_runtime.py).
    A runtime other than the portable graph serves only if it also agrees with the portable graph on this
    CPU within its bound (MAX_REL_DIFF for fp32 graphs, the BF16 bound for openvino-bf16: `disagreement`;
    export checked both against PyTorch, perhaps on another CPU); under auto one that does not, or cannot
    load (OpenVINO absent), falls back to the portable graph, logged and in /health; named in the setting,
    it is refused."""
    meta = PatchTSTMeta.load(directory)
    providers = providers or session_providers()
    if (damage := files_problem(directory, PORTABLE, meta.files)) is not None:
        raise ArtifactError(damage)
    portable = _warmed_up(directory, PORTABLE, meta, providers)
    if providers[0] != CPU and not on_cpu(portable):  # a GPU: the CPU measurements behind auto do not apply
        name, why = PORTABLE, "ONNX Runtime runs it on the GPU here"
    else:
        name, why = choose_patchtst_runtime(runtime, instruction_sets(), directory)
        why += _GPU_DID_NOT_START if providers[0] != CPU else ""
        providers = [CPU]
    if name == PORTABLE:
        return meta, PatchTSTSession(portable, name, why)
    try:
        problem = files_problem(directory, name, meta.files)
        if problem is None:
            session = _warmed_up(directory, name, meta, providers)
            problem = disagreement(session, portable, meta.context_length, name)
    except ArtifactError as exc:
        problem = str(exc)
    if problem is None:
        return meta, PatchTSTSession(session, name, f"{why}; agrees with {ONNX_FILE} on this CPU")
    if runtime != "auto":
        raise ArtifactError(
            f"patchtst_runtime {name} cannot serve {directory}: {problem}; set patchtst_runtime to auto "
            f"or {PORTABLE}, or export the model again"
        )
    log.warning("patchtst runtime %s does not serve (%s): serving %s instead", name, problem, PORTABLE)
    return meta, PatchTSTSession(portable, PORTABLE, f"{name} fell back: {problem}")


def _warmed_up(directory: Path, runtime: str, meta: PatchTSTMeta, providers: list[Provider]) -> Any:
    """A session of `runtime`'s graphs that has answered a warm-up window with the contract's outputs."""
    session = open_session(directory, runtime, partial(ort_session, providers=providers))
    path = directory / GRAPHS[runtime][0] if len(GRAPHS[runtime]) == 1 else directory  # for the messages
    # A flat window on purpose: zero returns, zero volatility, the hardest case for the scaling inside.
    probe = np.full((1, meta.context_length, 1), 100.0, dtype=np.float32)
    try:
        outputs = dict(zip(OUTPUTS, session.run(list(OUTPUTS), {INPUT: probe}), strict=True))
    except Exception as exc:  # the runtime's own errors: a graph that does not fit its artifact.json
        raise ArtifactError(f"{path} fails a warm-up run: {exc}") from None
    problem = warm_up_problem(outputs, meta)
    if problem is not None:
        raise ArtifactError(f"{path} ({runtime}) answers a warm-up window with {problem}: export the model again")
    return session


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


def load_finbert(
    directory: Path, setting: str, *, quantize: bool, providers: list[Provider] | None = None
) -> tuple[str, str, Any]:
    """(runtime, why, session) for FinBERT: the `finbert_runtime` setting resolved on this CPU
    (investiq/core/finbert_runtime.py). Every runtime must pass its check on this CPU first (open_checked); one
    that fails, or cannot load, falls back to onnxruntime-int8 (fp32 with quantize: false), checked too, with the
    reason logged and returned; ArtifactError when the fallback fails as well."""
    providers = providers or session_providers()
    fallback = DEFAULT if quantize else FP32
    if providers[0] != CPU:  # a GPU provider: the CPU runtimes do not apply, where it starts
        opener = partial(ort_session, providers=providers)
        # judged where the GPU did not start, on the CPU, the GPU's choice may fail its check
        try:
            found = open_checked(directory, fallback, "ONNX Runtime runs it on the GPU here", fallback, opener)
        except ArtifactError:
            if not _gpu_did_not_start(directory / graph_names(fallback)[0], providers):
                raise  # it failed on the GPU itself: refused, as before (a review of the fall-through)
            found = None  # the CPU's path says why, if it fails too (a review)
        if found is not None and not on_cpu(found[2]):
            return found
        runtime, why, session = load_finbert(directory, setting, quantize=quantize, providers=[CPU])
        return runtime, why + _GPU_DID_NOT_START, session
    name, why = choose_runtime(setting, instruction_sets(), quantize=quantize)
    return open_checked(directory, name, why, fallback, partial(ort_session, providers=providers))


# A GPU provider asked for (auto, where onnxruntime-gpu lists CUDA) that ONNX Runtime did not start: its sessions
# run on the CPU, and were run with the GPU's choices, said in /health as "has a GPU here" (a review)
_GPU_DID_NOT_START = "; a GPU provider was asked for and did not start, so the CPU's choice"


def _gpu_did_not_start(graph: Path, providers: list[Provider]) -> bool:
    """Whether ONNX Runtime, asked for `providers` (a GPU's first), runs `graph` on the CPU: a session opened to
    see (a graph that does not load tells nothing: taken as not started, and the CPU's path says why)."""
    try:
        return on_cpu(ort_session(graph, providers))
    except ArtifactError:
        return True


def on_cpu(session: Any) -> bool:
    """Whether ONNX Runtime runs `session` on the CPU (a session of another engine: yes)."""
    providers = getattr(session, "get_providers", None)
    return providers is None or providers()[0] == CPU


class EmbeddedBackend:
    name = "embedded"
    target = "in-process"

    def __init__(
        self,
        repository: Path,
        *,
        quantize: bool = True,
        max_tokens: int = MAX_TOKENS,
        finbert_runtime: str = "auto",
        patchtst_runtime: str = "auto",
        max_pass_rows: int = MAX_PASS_ROWS,
        providers: list[Provider] | None = None,
    ) -> None:
        """Load what the repository holds (the newest version of each model). A model that is absent
        is simply not served; one that is present but broken raises ArtifactError naming the file.
        `providers`: ONNX Runtime's execution providers (None: `session_providers()`, auto)."""
        self._repository = repository
        self._providers = providers or session_providers()
        # PASS_COST_TOKENS was measured on a CPU; on a GPU a batch runs as one pass, as before
        self.plans_finbert_passes = self._providers[0] == CPU
        self._max_pass_rows = max_pass_rows
        self._sessions: dict[str, Any] = {}
        # one worker thread per model (FinBERT's two names share one): see the module's docstring
        self._workers = {
            model: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"onnxruntime-{model}")
            for model in (FINBERT, PATCHTST)  # the values of WORKER
        }
        self.finbert: FinbertMeta | None = None
        self._encoder: Encoder | None = None
        directory = finbert_dir(repository)
        if (directory / META).exists():
            # its metadata, graph and tokenizer are read one after another: an export landing in between (it swaps
            # the directory whole) mixed one model's graph with the other's labels (a review); read again then
            for _ in range(3):
                self.finbert = FinbertMeta.load(directory)
                self.finbert_runtime, self.finbert_choice, self._sessions[FINBERT_MODEL] = load_finbert(
                    directory, finbert_runtime, quantize=quantize, providers=self._providers
                )
                self._encoder = Encoder(directory, min(max_tokens, self.finbert.max_length))
                if FinbertMeta.load(directory) == self.finbert:  # the same export (its labels, not only weights)
                    break
            else:
                raise ArtifactError(
                    f"FinBERT in {directory} kept changing while it loaded: start once the export is done"
                )
            self.finbert_variant = tag(self.finbert_runtime)  # model_version: "<weights>-<variant>"
            # by where it runs: a GPU provider that did not start leaves a CPU session, whose passes pay to plan
            self.plans_finbert_passes = on_cpu(self._sessions[FINBERT_MODEL])
            log.info(
                "embedded backend: finbert %s on %s (%s) from %s",
                self.finbert.version,
                self.finbert_runtime,
                self.finbert_choice,
                directory,
            )
            if self.finbert.export_format < EXPORT_FORMAT:
                log.info(
                    "finbert in %s was exported in format %d, before the last layer ran on the [CLS] row only: "
                    "`investiq export finbert` again serves the same answers with ~7%% less work per headline",
                    directory,
                    self.finbert.export_format,
                )

        self.patchtst: PatchTSTMeta | None = None
        self._patchtst_setting = patchtst_runtime
        self.patchtst_runtime: str | None = None  # and patchtst_choice: how PatchTST runs, for /health
        self.patchtst_choice = ""
        if (patchtst_dir(repository) / META).exists():
            self._serve_patchtst(*load_patchtst(patchtst_dir(repository), patchtst_runtime, self._providers))

    async def reload(self, model: str) -> None:
        """Serve the repository's newest version of `model` (a hot swap). The new session is built and
        warmed up off the inference threads, then swapped in by one assignment: runs in flight finish
        on the old session, later ones use the new. On any failure the old version keeps serving."""
        if model != PATCHTST:
            raise ModelNotReadyError(f"the embedded backend reloads only patchtst, not {model!r}: restart it")
        self._serve_patchtst(
            *await asyncio.to_thread(
                load_patchtst, patchtst_dir(self._repository), self._patchtst_setting, self._providers
            )
        )

    def _serve_patchtst(self, meta: PatchTSTMeta, session: PatchTSTSession) -> None:
        self._sessions[PATCHTST], self.patchtst = session, meta
        self.patchtst_runtime, self.patchtst_choice = session.runtime, session.reason
        log.info("embedded backend: serving patchtst %s on %s (%s)", meta.version, session.runtime, session.reason)

    @property
    def models(self) -> list[str]:
        names = [FINBERT, FINBERT_MODEL] if FINBERT_MODEL in self._sessions else []
        return names + ([PATCHTST] if PATCHTST in self._sessions else [])

    async def infer(
        self, model: str, inputs: Tensors, version: int | None = None
    ) -> dict[str, NDArray[np.generic]]:
        """`version` is not checked: only this process reloads these sessions, and PriceService's swap check
        covers the moment between the backend's reload and its own (gateway/services/models.py)."""
        if model not in self.models:
            raise ModelNotReadyError(
                f"model {model!r} is not loaded in the embedded backend (loaded: {self.models or 'none'})"
            )
        loop = asyncio.get_running_loop()
        worker = self._workers[WORKER[model]]
        return await loop.run_in_executor(worker, self._run, model, inputs)

    def _run(self, model: str, inputs: Tensors) -> dict[str, NDArray[np.generic]]:
        if model == PATCHTST:
            return dict(zip(OUTPUTS, self._sessions[PATCHTST].run(list(OUTPUTS), dict(inputs)), strict=True))
        if model == FINBERT_MODEL:
            return {OUTPUT: self._finbert_logits(dict(inputs))}
        assert self._encoder is not None
        texts = [t.decode() if isinstance(t, bytes) else str(t) for t in inputs[TEXT_INPUT].tolist()]
        if not texts:
            raise InvalidInputError("TEXT is empty")
        return {PROBABILITIES: softmax(self._finbert_logits(self._encoder(texts)))}

    def _finbert_logits(self, feed: dict[str, Any]) -> NDArray[Any]:
        session = self._sessions[FINBERT_MODEL]

        def run(part: dict[str, Any]) -> NDArray[Any]:
            out: NDArray[Any] = session.run([OUTPUT], part)[0]
            return out

        return run_by_length(run, feed, max_rows=self._max_pass_rows) if self.plans_finbert_passes else run(feed)

    async def ready(self, model: str | None = None) -> bool:
        return bool(self.models) if model is None else model in self.models

    async def close(self) -> None:
        for worker in self._workers.values():
            worker.shutdown(wait=True)
        self._sessions.clear()
