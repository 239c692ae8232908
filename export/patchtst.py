"""PatchTST -> ONNX with a dynamic batch axis, validated against PyTorch, installed atomically.

    investiq export patchtst [--model-dir models/patchtst]   -> model_repository/patchtst/<n>/

The graph has the four outputs of investiq/core/patchtst.py (median, quantiles, P(up), volatility).
The dynamo exporter is used: the legacy TorchScript exporter silently produced a wrong output
shape for PatchTST, (B, 12, 63) instead of (B, 12, 1). The validation below would catch that,
and checks every output's shape and values at several batch sizes before anything is installed.

Two graphs of the same weights, both validated (investiq/core/patchtst_runtime.py says which serves):
    model.onnx      portable: standard ONNX ops, BatchNorm exported as the per-channel affine it is
    model.ort.onnx  ONNX Runtime's transformer fusions of it (MultiHeadAttention, BiasGelu)
benchmarks/results/patchtst_profile.md has the per-operator profile that motivated both.
"""

from __future__ import annotations

import dataclasses
import logging
import types
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from investiq.core.atomic import staged
from investiq.core.errors import ExportError
from investiq.core.patchtst import INPUT, ONNX_FILE, OUTPUTS, PATCHTST, PatchTSTMeta
from investiq.core.patchtst_runtime import FUSED_ONNX_FILE, MAX_REL_DIFF, max_difference
from investiq.core.patchtst_runtime import sample_windows as sample_windows  # re-exported: tests, benchmarks
from investiq.core.triton_adapters import shim
from investiq.core.versions import number_for, version_dir
from training.patchtst import load_forecaster

OPSET = 18
VALIDATION_BATCHES = (1, 3, 17)


def export_patchtst(
    model_dir: Path, repository: Path, log: Callable[[str], None] = print, retired: Path | None = None
) -> tuple[PatchTSTMeta, int]:
    """Export the model in `model_dir` as the newest version of REPOSITORY/patchtst; return it and its
    number. The same weights as the serving version replace it in place (exports are idempotent);
    numbers of versions retired to `retired` are not given again."""
    forecaster, meta = load_forecaster(model_dir)
    number = number_for(repository, PATCHTST, meta.version, retired)
    with staged(version_dir(repository, PATCHTST, number)) as out:
        exported = write_export(forecaster, meta, out, log)
    log(f"installed {version_dir(repository, 'patchtst', number)} (version {meta.version})")
    return exported, number


def write_export(
    forecaster: torch.nn.Module, meta: PatchTSTMeta, out: Path, log: Callable[[str], None] = print
) -> PatchTSTMeta:
    """Write a validated version directory into the empty directory `out`: the portable ONNX graph and
    its ONNX Runtime fusion (each within MAX_REL_DIFF of PyTorch), artifact.json, model.py."""
    path = out / ONNX_FILE
    export_graph(forecaster, meta.context_length, path)
    validation = {"max_rel_diff": validate(forecaster, path, meta), "opset": OPSET}
    at = f"at batch sizes {VALIDATION_BATCHES}"
    log(f"validated {ONNX_FILE}: max relative difference to PyTorch {validation['max_rel_diff']:.2e} {at}")
    try:
        fusions = fuse_for_onnxruntime(path, out / FUSED_ONNX_FILE)
    except ImportError as exc:  # an onnxscript older than its ONNX Runtime fusions: auto serves model.onnx
        log(f"no {FUSED_ONNX_FILE}: this onnxscript lacks ONNX Runtime's fusions ({exc}); upgrade onnxscript")
    else:
        validation["max_rel_diff_fused"] = validate(forecaster, out / FUSED_ONNX_FILE, meta)
        log(f"validated {FUSED_ONNX_FILE} (fusions {fusions}): {validation['max_rel_diff_fused']:.2e} {at}")
    exported = dataclasses.replace(meta, validation=validation)
    exported.save(out)
    (out / "model.py").write_text(shim(PATCHTST))  # Triton cpu flavour entry point
    return exported


def export_graph(forecaster: torch.nn.Module, context: int, path: Path, channel_last: bool = True) -> None:
    """The portable graph of `forecaster` (eval mode) at `path`, batch axis dynamic. channel_last=False
    keeps transformers' BatchNorm as it is written (the graph exported before issue 18; benchmarks)."""
    example = torch.from_numpy(sample_windows(2, context))
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with torch.no_grad(), warnings.catch_warnings(), channel_last_batchnorm(forecaster, channel_last):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                forecaster,
                (example,),
                str(path),
                input_names=[INPUT],
                output_names=list(OUTPUTS),
                dynamic_shapes={"past_values": {0: torch.export.Dim("batch", min=1, max=65536)}},
                opset_version=OPSET,
                dynamo=True,
                verbose=False,
            )
    finally:
        quiet.setLevel(level)


@contextmanager
def channel_last_batchnorm(forecaster: torch.nn.Module, enabled: bool = True) -> Iterator[None]:
    """While exporting: every PatchTST BatchNorm as the per-channel affine it is in eval mode, applied
    on the last axis of [B, patches, d_model].

    transformers transposes to [B, d_model, patches] and back around each of the 6 BatchNorm1d; ONNX
    Runtime then folded the transposes into the next projections and ran them as batched products of
    one window each with a transposed operand, instead of one product over all windows with packed
    weights (benchmarks/results/patchtst_profile.md). Same weights and state_dict; same numbers within
    float rounding (the validation checks)."""
    from transformers.models.patchtst.modeling_patchtst import PatchTSTBatchNorm

    norms = [m for m in forecaster.modules() if isinstance(m, PatchTSTBatchNorm)] if enabled else []
    for norm in norms:
        vars(norm)["forward"] = types.MethodType(_affine_norm, norm)  # shadows the class's forward
    try:
        yield
    finally:
        for norm in norms:
            del vars(norm)["forward"]


def _affine_norm(norm: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """BatchNorm1d in eval mode on the last axis: inputs [..., d_model] * scale + shift."""
    bn = norm.batchnorm
    if (
        not isinstance(bn, torch.nn.BatchNorm1d)
        or bn.training
        or bn.running_var is None
        or bn.running_mean is None
    ):
        raise ExportError("export needs the model in eval mode (BatchNorm1d with its running statistics)")
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return inputs * scale + (bn.bias - bn.running_mean * scale)


def fuse_for_onnxruntime(source: Path, target: Path) -> dict[str, int]:
    """ONNX Runtime's transformer fusions of the graph at `source`, written to `target` as one file;
    returns how many of each were made. Attention becomes MultiHeadAttention (not the packed-QKV
    Attention, measured slower here) and the Erf GELU after its bias BiasGelu: com.microsoft ops."""
    import onnx
    import onnx_ir as ir
    from onnx_ir.passes.common import ShapeInferencePass
    from onnxscript.optimizer import optimize
    from onnxscript.rewriter.ort_fusions.bias_gelu import fuse_bias_gelu
    from onnxscript.rewriter.ort_fusions.erfgelu import fuse_erfgelu
    from onnxscript.rewriter.ort_fusions.mha import fuse_mha2
    from onnxscript.rewriter.ort_fusions.mha_bias import fuse_mha_bias
    from onnxscript.rewriter.ort_fusions.sdpa import fuse_sdpa

    model = ir.from_proto(onnx.load(str(source)))  # weights loaded: the target is self-contained
    ShapeInferencePass()(model)
    optimize(model)
    counts = {"gelu": fuse_erfgelu(model), "sdpa": fuse_sdpa(model, apply_shape_inference=True)}
    counts |= {"mha": fuse_mha2(model), "mha_bias": fuse_mha_bias(model), "bias_gelu": fuse_bias_gelu(model)}
    optimize(model)
    onnx.save(ir.to_proto(model), str(target))
    return counts


def validate(forecaster: torch.nn.Module, path: Path, meta: PatchTSTMeta) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = ([i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()])
    if names != ([INPUT], list(OUTPUTS)):
        raise ExportError(f"graph has inputs/outputs {names}, expected [{INPUT}] -> {list(OUTPUTS)}")
    worst = 0.0
    h, k = meta.prediction_length, len(meta.quantile_levels)
    for batch in VALIDATION_BATCHES:
        x = sample_windows(batch, meta.context_length, seed=batch)
        got = session.run(list(OUTPUTS), {INPUT: x})
        with torch.no_grad():
            want = [t.numpy() for t in forecaster(torch.from_numpy(x))]
        for name, g, w, shape in zip(
            OUTPUTS, got, want, [(batch, h, 1), (batch, h, k), (batch, h), (batch, 1)], strict=True
        ):
            if g.shape != shape or w.shape != shape:
                raise ExportError(
                    f"{name} at batch {batch}: ONNX gives {g.shape}, PyTorch {w.shape}, expected {shape}"
                )
        worst = max(worst, max_difference(got, want))
    if not worst <= MAX_REL_DIFF:
        raise ExportError(
            f"validation failed, nothing installed: max relative difference {worst:.2e} > {MAX_REL_DIFF}"
        )
    return worst
