"""FinBERT -> ONNX fp32, dynamic INT8 and the other CPU runtimes' graphs, validated against PyTorch, installed
atomically.

    investiq export finbert [--source ProsusAI/finbert | ./my-finetuned-dir]

The weights come from a local Hugging Face directory or the Hugging Face cache/hub. The label
order is read from the model's config (`id2label`), the tokenizer is saved beside the graph, and
both travel in the artifact (see investiq/core/finbert.py).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from export.finbert_graph import LogitsOnly, cls_only_applies, exported_function
from export.finbert_variants import fuse_int8, fused_ops, quantize_int8, quantize_qdq
from investiq.core.artifacts import META, weights_version
from investiq.core.atomic import replace_file, staged
from investiq.core.errors import ArtifactError, ExportError
from investiq.core.finbert import (
    ATTENTION_MASK,
    EXPORT_FORMAT,
    FINBERT_MODEL,
    FINBERT_TOKENIZER,
    INPUT_IDS,
    INPUTS,
    OUTPUT,
    TOKENIZER,
    TOKENIZER_STAMP,
    VARIANTS,
    Encoder,
    FinbertMeta,
    WeightsError,
    finbert_dir,
)
from investiq.core.finbert_check import (
    MAX_RELATIVE_DIFF,
    SINGLES,
    Check,
    bounds,
    judge,
    logits_on,
    sample_texts,
)
from investiq.core.finbert_runtime import SPECS, open_runtime, openvino_installed, validation_key
from investiq.core.ort_sessions import inference_session
from investiq.core.triton_adapters import shim
from training.finbert import load_pretrained

OPSET = 18
VALIDATION_TOKENS = 64


def labels_of(model: Any) -> list[str]:
    id2label = model.config.id2label
    return [str(id2label[i]).lower() for i in range(model.config.num_labels)]


def export_finbert(
    source: str, repository: Path, *, quantize: bool = True, log: Callable[[str], None] = print
) -> FinbertMeta:
    """Export, validate and install into `repository`/finbert_model/1; returns the metadata."""
    model, tokenizer = load_pretrained(source)
    # The plain attention graph (matmul, softmax, matmul), not SDPA's: ONNX Runtime's Attention fusion and
    # OpenVINO match it (SDPA's exported mask guards, IsNaN/Where per layer, block the fusion); same maths,
    # validated below like the rest.
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    labels = labels_of(model)
    last = "the [CLS] row only" if cls_only_applies(model) else "every token"
    log(f"loaded {source}: {model.config.num_hidden_layers} layers (the last on {last}), labels {labels}")
    with staged(finbert_dir(repository)) as out:
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
                exported_function(model),
                (torch.from_numpy(example[INPUT_IDS]), torch.from_numpy(example[ATTENTION_MASK])),
                str(onnx_path),
                input_names=list(INPUTS),
                output_names=[OUTPUT],
                dynamic_axes={name: {0: "batch", 1: "sequence"} for name in INPUTS} | {OUTPUT: {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,  # the TorchScript exporter handles BERT with dynamic axes (validated below)
            )
        checks: dict[str, dict[str, Any]] = {}
        for variant in ("fp32", "int8") if quantize else ("fp32",):
            if variant == "int8":
                quantize_int8(onnx_path, out / VARIANTS["int8"])
            check = validate(model, out, variant)  # ExportError: nothing is installed
            checks[variant] = check.figures()
            log(f"validated {check}")
        if quantize:
            checks |= other_runtimes(model, out, log)
        meta = FinbertMeta(
            labels=labels,
            version=weights_version(model),
            source=source,
            max_length=int(model.config.max_position_embeddings),
            opset=OPSET,
            validation=checks,
            export_format=EXPORT_FORMAT,
        )
        meta.save(out)
        (out / "model.py").write_text(shim(FINBERT_MODEL))  # Triton cpu flavour entry point
    stamp_tokenizer(repository)
    log(
        f"installed {repository / 'finbert_model' / '1'} (version {meta.version}; files: "
        f"{', '.join(sorted(p.name for p in (repository / 'finbert_model' / '1').iterdir()))})"
    )
    return meta


def stamp_tokenizer(repository: Path) -> None:
    """Write the hash of finbert_model/1's tokenizer into the Triton tokenizer step's version directory,
    when it changed. The step reads that tokenizer when it loads (investiq/core/triton_adapters.py), but
    Triton reloads a model on an explicit load only when the model's own directory changed: without this
    file, a gateway's reload after an export with another vocabulary left the step on the old one, and
    the new weights got the old vocabulary's ids. No such directory (a repository without the committed
    Triton configs): nothing to tell."""
    step = repository / FINBERT_TOKENIZER / "1"
    if not step.is_dir():
        return
    digest = hashlib.sha256((finbert_dir(repository) / TOKENIZER).read_bytes()).hexdigest() + "\n"
    stamp = step / TOKENIZER_STAMP
    if not stamp.is_file() or stamp.read_text() != digest:
        replace_file(stamp, digest)


def other_runtimes(model: Any, out: Path, log: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """Build and validate the graphs of the other CPU runtimes (investiq/core/finbert_runtime.py): their
    validation figures, or {"failed": why} for one that is out of bounds or cannot be built. A failure
    does not stop the export: the embedded backend then serves today's INT8 instead (and says why)."""
    results: dict[str, dict[str, Any]] = {}
    builders: list[tuple[str, Callable[[], object]]] = [
        ("int8-fused", lambda: fuse_int8(out, model.config.num_attention_heads, model.config.hidden_size)),
        ("int8-qdq", lambda: quantize_qdq(out, Encoder(out, VALIDATION_TOKENS), sample_texts())),
    ]
    for variant, build in builders:
        try:
            build()
        except Exception as exc:  # onnxruntime's quantizer and optimizer raise untyped errors
            results[variant] = {"failed": f"cannot build {VARIANTS[variant]}: {type(exc).__name__}: {exc}"}
    if (out / VARIANTS["int8-fused"]).is_file():
        log(f"fused into {VARIANTS['int8-fused']}: {fused_ops(out / VARIANTS['int8-fused'])}")
    names = ["onnxruntime-int8-fused", "onnxruntime-int8-static"]
    names += ["openvino-bf16", "openvino-int8"] if openvino_installed() else []
    for name in names:
        key = validation_key(name)
        if key in results:  # its graph could not be built
            continue
        try:
            check = validate(model, out, name)
        except (ExportError, ArtifactError) as exc:
            results[key] = {"failed": str(exc)}
            continue
        results[key] = check.figures()
        log(f"validated {check}")
    for key, figures in results.items():
        if "failed" in figures:
            log(f"{key} will not serve: {figures['failed']}")
    return results


def validate(model: Any, directory: Path, variant: str) -> Check:
    """Compare a graph with PyTorch on the sample headlines (one batch, then the first SINGLES one at a time);
    ExportError if out of bounds. `variant`: a key of VARIANTS, run by ONNX Runtime, or a runtime name of
    investiq/core/finbert_runtime.py (OpenVINO's run on this CPU's kernels)."""
    texts = sample_texts()
    encode = Encoder(directory, int(model.config.max_position_embeddings))  # the long text reaches every position
    session = _session(directory, variant)
    got = logits_on(lambda feed: session.run([OUTPUT], feed)[0], encode, texts)
    with torch.no_grad():
        torch_model = LogitsOnly(model).eval()
        want = logits_on(
            lambda feed: torch_model(*(torch.from_numpy(feed[n]) for n in INPUTS)).numpy(), encode, texts
        )
    if got.shape != want.shape:
        raise ExportError(f"{variant} logits have shape {got.shape}, PyTorch gives {want.shape}")
    check = judge(variant, want=want, got=got, texts=len(texts))
    max_diff, max_prob_diff = bounds(
        SPECS[variant].precision if variant in SPECS else variant
    )  # a variant key: fp32 or INT8
    if failures := check.failures(max_diff, max_prob_diff):
        raise ExportError(
            f"validation failed, nothing installed: {'; '.join(failures)}. {check} (bounds: |logit diff| <= "
            f"{max_diff:g} and <= {MAX_RELATIVE_DIFF:.0%} of the widest logit spread, |probability diff| <= "
            f"{max_prob_diff:g})"
        )
    return check


def _session(directory: Path, variant: str) -> Any:
    """A session with ONNX Runtime's `run([OUTPUT], feed)` for `variant` (see validate)."""
    if variant in SPECS:
        return open_runtime(directory, variant, inference_session)
    session = inference_session(directory / VARIANTS[variant])
    names = sorted(i.name for i in session.get_inputs()), [o.name for o in session.get_outputs()]
    if names != (sorted(INPUTS), [OUTPUT]):
        raise ExportError(f"{variant} graph has inputs/outputs {names}, expected {sorted(INPUTS)} -> {OUTPUT}")
    return session


__all__ = [
    "META",
    "SINGLES",
    "Check",
    "ExportError",
    "WeightsError",
    "export_finbert",
    "judge",
    "sample_texts",
    "validate",
]
