"""Python-backend models for Triton's cpu flavour: ONNX Runtime on the exported files.

Triton loads `<model>/1/model.py`, a one-line shim that imports a class from here, so that the
pre- and post-processing Triton runs is the code the embedded backend runs (investiq/core/finbert.py,
investiq/core/patchtst.py) and is tested with it. Each class batches the requests Triton hands it into
ONNX Runtime runs (FinBERT's texts grouped by length, as in the embedded backend) and answers each
request on its own: a bad request gets its own error, never the whole batch.

Keep this module's imports light: the python backend stub of the nvidia-pytriton wheel embeds its
own libpython, which fails to load this interpreter's `_ssl` extension (undefined symbol
_PyModule_Add), so anything importing `ssl` (FastAPI, prometheus_client: the `gateway` package)
cannot be imported inside Triton.
"""

from __future__ import annotations

import gc
import json
import sys
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from investiq.core.cpu import instruction_sets, usable_cores
from investiq.core.errors import ArtifactError
from investiq.core.finbert import (
    ATTENTION_MASK,
    FINBERT_MODEL,
    INPUT_IDS,
    MAX_TOKENS,
    PROBABILITIES,
    TEXT_INPUT,
    Encoder,
    FinbertMeta,
    finbert_dir,
    run_by_length,
    softmax,
)
from investiq.core.finbert import OUTPUT as LOGITS
from investiq.core.finbert_runtime import DEFAULT as FINBERT_DEFAULT
from investiq.core.finbert_runtime import choose_runtime as choose_finbert_runtime
from investiq.core.finbert_runtime import open_checked, runtime_of_variant
from investiq.core.ort_sessions import loaded_session, session_options
from investiq.core.patchtst import INPUT as PAST
from investiq.core.patchtst import OUTPUTS, PATCHTST, PatchTSTMeta
from investiq.core.patchtst_runtime import (
    PORTABLE,
    choose_runtime,
    disagreement,
    files_problem,
    graph_file,
    open_session,
)


def _pb() -> Any:
    import triton_python_backend_utils as pb_utils  # exists only inside Triton's python backend

    return pb_utils


def _model_dir(args: dict[str, str]) -> Path:
    return Path(args["model_repository"])


def _parameter(args: dict[str, str], key: str, default: str) -> str:
    params = json.loads(args["model_config"]).get("parameters", {})
    return str(params.get(key, {}).get("string_value", default))


THREADS = "intra_op_thread_count"  # the parameter's name in Triton's own onnxruntime backend


def threads_per_instance(args: dict[str, str]) -> int:
    """The threads each instance of this model runs on (ONNX Runtime's intra-op threads, OpenVINO's inference
    threads): the parameter `intra_op_thread_count` when set (0: the runtime's default, one per core); otherwise 0
    for one instance, as the embedded backend runs, and the CPUs this process may use (logical CPUs: 2 a core on
    an SMT host) shared out among several (`instance_group` counts), at least 1 each.
    Several instances that each took every core put twice the threads or more on the cores, spinning against each
    other: on a 2-core EPYC two FinBERT instances that did gave 0.56-0.65x the requests/s of one, two of one thread
    each 1.11-1.22x from 16 clients on (benchmarks/results/finbert_probes.md)."""
    if value := _parameter(args, THREADS, "").strip():
        if not value.isdigit():
            raise ValueError(f"parameter {THREADS} must be a whole number (0: one thread per core), not {value!r}")
        return int(value)
    groups = json.loads(args["model_config"]).get("instance_group", [])
    instances = sum(int(group.get("count", 1)) for group in groups) or 1
    if instances == 1:
        return 0
    return max(1, usable_cores() // instances)


def _named_threads(threads: int) -> str:
    return "one thread per core" if threads == 0 else f"{threads} thread{'s' * (threads > 1)}"


def _session(path: Path, threads: int = 0) -> Any:
    return loaded_session(path, options=session_options(threads))  # the embedded backend's options, on the CPU


def _settle(args: dict[str, str]) -> None:
    """The end of every initialize: inside Triton, what start-up left alive is kept out of full garbage
    collections, as in the gateway (gateway/heap.py). Each model instance runs in a python backend stub of its own,
    holding 25,000-45,000 tracked objects once its model is loaded (numpy, the tokenizer, this package): a full
    collection of them took 6-9 ms on a 2-core EPYC, a stall of that instance's batch in flight, against ~1 us
    frozen. A reload starts a new stub, so nothing is ever unfrozen. Outside Triton (tests, tools building these
    classes in their own process) the caller's heap is left alone."""
    if "triton_python_backend_utils" not in sys.modules:  # the stub imports it before it loads model.py
        return
    gc.freeze()
    print(f"{_name(args)}: {gc.get_freeze_count()} objects of start-up kept out of garbage collection", flush=True)


def _name(args: dict[str, str]) -> str:
    """How this model instance names itself in Triton's log."""
    return f"investiq {Path(args['model_repository']).name} {args['model_version']}"


def _split(out: NDArray[Any], sizes: list[int]) -> list[NDArray[Any]]:
    return np.split(out, np.cumsum(sizes)[:-1])


class FinbertTokenizer:
    """TEXT BYTES [batch, 1] -> input_ids, attention_mask INT64 [batch, longest text in Triton's batch, padded to
    a multiple of the parameter `pad_to_multiple_of`]: few widths, so that the model's batcher can merge the
    requests of several tokenizer batches where its inputs cannot be ragged (the gpu flavour's graph).
    The vocabulary is finbert_model/1's, read at load; `investiq export finbert` stamps this step's version
    directory with its hash (TOKENIZER_STAMP), so that Triton reloads the step when the vocabulary changes."""

    def initialize(self, args: dict[str, str]) -> None:
        artifact = finbert_dir(_model_dir(args).parent)
        # at most the model's positions, as the embedded backend: a max_tokens of 512 on a model of 128 positions
        # sent ids the model cannot embed (ONNX Runtime's Gather error, a 500) for every long text
        tokens = min(int(_parameter(args, "max_tokens", str(MAX_TOKENS))), FinbertMeta.load(artifact).max_length)
        self.encoder = Encoder(artifact, tokens, int(_parameter(args, "pad_to_multiple_of", "1")))
        _settle(args)

    def execute(self, requests: list[Any]) -> list[Any]:
        pb = _pb()
        texts: list[list[str]] = []
        errors: list[str | None] = []
        for request in requests:
            raw = pb.get_input_tensor_by_name(request, TEXT_INPUT).as_numpy().reshape(-1)
            batch = [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in raw]
            empty = [i for i, t in enumerate(batch) if not t.strip()]
            errors.append(f"TEXT[{empty[0]}] is empty" if empty else None)
            texts.append([] if empty else batch)
        flat = [t for batch in texts for t in batch]
        encoded = self.encoder(flat) if flat else {}
        ids = _split(encoded[INPUT_IDS], [len(b) for b in texts]) if flat else []
        mask = _split(encoded[ATTENTION_MASK], [len(b) for b in texts]) if flat else []
        responses = []
        for i, error in enumerate(errors):  # the split has a part, empty, for each refused request too
            if error is not None:
                responses.append(pb.InferenceResponse(output_tensors=[], error=pb.TritonError(error)))
                continue
            tensors = [pb.Tensor(INPUT_IDS, ids[i]), pb.Tensor(ATTENTION_MASK, mask[i])]
            responses.append(pb.InferenceResponse(output_tensors=tensors))
        return responses


class FinbertModel:
    """input_ids, attention_mask INT64 [batch, seq] -> logits FP32 [batch, 3]."""

    def initialize(self, args: dict[str, str]) -> None:
        """The runtime the embedded backend would choose on this CPU (parameter `runtime`, default auto:
        investiq/core/finbert_runtime.py), opened and checked as it opens it; or, with the parameter
        `variant` (the form before `runtime`), the ONNX Runtime path of that graph, checked the same way."""
        directory = _model_dir(args) / args["model_version"]
        threads = threads_per_instance(args)
        opener = partial(_session, threads=threads)
        if variant := _parameter(args, "variant", ""):  # checked as any runtime (it served unchecked: a review)
            name, why = runtime_of_variant(variant), f"variant {variant} set in the config"
        else:
            name, why = choose_finbert_runtime(_parameter(args, "runtime", "auto"), instruction_sets())
        self.runtime, why, self.session = open_checked(directory, name, why, FINBERT_DEFAULT, opener, threads)
        # The stub's stdout is the server's log: the runtime the cpu flavour serves, why, and on how many threads.
        print(f"{_name(args)}: serving {self.runtime} ({why}), {_named_threads(threads)}", flush=True)
        _settle(args)

    def execute(self, requests: list[Any]) -> list[Any]:
        pb = _pb()
        ids = [pb.get_input_tensor_by_name(r, INPUT_IDS).as_numpy() for r in requests]
        mask = [pb.get_input_tensor_by_name(r, ATTENTION_MASK).as_numpy() for r in requests]
        width = max(x.shape[1] for x in ids)  # requests tokenized in different batches: pad to one width
        pad = [np.pad(x, ((0, 0), (0, width - x.shape[1]))) for x in ids]
        pad_mask = [np.pad(x, ((0, 0), (0, width - x.shape[1]))) for x in mask]
        feed = {INPUT_IDS: np.concatenate(pad), ATTENTION_MASK: np.concatenate(pad_mask)}
        logits = run_by_length(lambda part: self.session.run([LOGITS], part)[0], feed)  # texts of like length
        parts = _split(logits, [len(x) for x in ids])
        return [pb.InferenceResponse(output_tensors=[pb.Tensor(LOGITS, p)]) for p in parts]


class FinbertPostprocess:
    """logits FP32 [batch, 3] -> probabilities FP32 [batch, 3] (softmax, label order of the artifact)."""

    def initialize(self, args: dict[str, str]) -> None:
        _settle(args)

    def execute(self, requests: list[Any]) -> list[Any]:
        pb = _pb()
        return [
            pb.InferenceResponse(
                output_tensors=[
                    pb.Tensor(PROBABILITIES, softmax(pb.get_input_tensor_by_name(r, LOGITS).as_numpy()))
                ]
            )
            for r in requests
        ]


class PatchTST:
    """past_values FP32 [batch, context, 1] (prices) -> every output of the graph, in OUTPUTS' order
    (investiq/core/patchtst.py: median and quantile prices, P(up), volatility), each split per request."""

    def initialize(self, args: dict[str, str]) -> None:
        """The graph the embedded backend would choose on this CPU (parameter `runtime`, default auto:
        investiq/core/patchtst_runtime.py), served only if it agrees with the portable graph here."""
        directory = _model_dir(args) / args["model_version"]
        threads = threads_per_instance(args)
        opener = partial(_session, threads=threads)
        setting = _parameter(args, "runtime", "auto")
        name, why = choose_runtime(setting, instruction_sets(), directory)
        meta = PatchTSTMeta.load(directory)
        if (damage := files_problem(directory, PORTABLE, meta.files)) is not None:
            raise ArtifactError(damage)
        portable = opener(graph_file(directory, PORTABLE))
        self.session, self.runtime = portable, PORTABLE
        if name != PORTABLE:
            problem = files_problem(directory, name, meta.files)
            if problem is None:
                chosen = open_session(directory, name, opener, threads)
                problem = disagreement(chosen, portable, meta.context_length, name)
            if problem is None:
                self.session, self.runtime = chosen, name
            elif setting != "auto":  # named, refused as the embedded backend refuses it (it was replaced, a print)
                raise ArtifactError(f"parameter runtime {name} cannot serve {directory}: {problem}")
            else:
                why = f"{name} not served, {problem}"
        # The stub's stdout is the server's log: which graph the cpu flavour serves, why, and on how many threads.
        print(f"{_name(args)}: serving {self.runtime} ({why}), {_named_threads(threads)}", flush=True)
        _settle(args)

    def execute(self, requests: list[Any]) -> list[Any]:
        pb = _pb()
        values = [pb.get_input_tensor_by_name(r, PAST).as_numpy() for r in requests]
        outs = self.session.run(list(OUTPUTS), {PAST: np.concatenate(values)})
        sizes = [len(v) for v in values]
        per_output = [_split(out, sizes) for out in outs]  # [output][request]
        return [
            pb.InferenceResponse(
                output_tensors=[pb.Tensor(name, part) for name, part in zip(OUTPUTS, parts, strict=True)]
            )
            for parts in zip(*per_output, strict=True)
        ]


SHIMS = {FINBERT_MODEL: "FinbertModel", PATCHTST: "PatchTST"}


def shim(model: str) -> str:
    """The model.py that export writes beside the ONNX file of `model`."""
    return (
        '"""Triton python backend entry point (written by investiq export)."""\n\n'
        f"from investiq.core.triton_adapters import {SHIMS[model]} as TritonPythonModel  # noqa: F401\n"
    )
