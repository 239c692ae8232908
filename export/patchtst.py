"""PatchTST -> ONNX with a dynamic batch axis, validated against PyTorch, installed atomically.

    investiq export patchtst [--model-dir models/patchtst]   -> model_repository/patchtst/<n>/

The graph has the four outputs of investiq/core/patchtst.py (median, quantiles, P(up), volatility).
The dynamo exporter is used: the legacy TorchScript exporter silently produced a wrong output
shape for PatchTST, (B, 12, 63) instead of (B, 12, 1). The validation below would catch that,
and checks every output's shape and values at several batch sizes before anything is installed.

Graphs of the same weights, each validated (investiq/core/patchtst_runtime.py says which serves):
    model.onnx      portable: standard ONNX ops, BatchNorm exported as the per-channel affine it is
    model.ort.onnx  ONNX Runtime's transformer fusions of it (MultiHeadAttention, BiasGelu)
    model.pre.onnx, model.backbone.onnx, model.post.onnx
                    model.onnx's nodes cut where precision may change (openvino-bf16): normalisation,
                    backbone and head, de-normalisation (one export gives all four: `export_graphs`).
                    Their chain is checked against PyTorch within MAX_REL_DIFF in fp32 (ONNX Runtime),
                    then, where OpenVINO is installed, with the backbone in BF16 within the BF16 bound;
                    a split that fails is removed.
benchmarks/results/patchtst_profile.md has the per-operator profile that motivated the first two.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import types
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from investiq.core.atomic import staged
from investiq.core.errors import ArtifactError, ExportError
from investiq.core.ort_sessions import inference_session
from investiq.core.patchtst import INPUT, ONNX_FILE, OUTPUTS, PATCHTST, PatchTSTMeta
from investiq.core.patchtst_runtime import (
    FUSED,
    FUSED_ONNX_FILE,
    OPENVINO_BF16,
    PORTABLE,
    RAW_QUANTILES,
    READING,
    SIGMA,
    SPLIT_FILES,
    Chain,
    Run,
    forecast_errors,
    max_difference,
    openvino_bf16,
    openvino_installed,
    problem,
)
from investiq.core.patchtst_runtime import sample_windows as sample_windows  # re-exported: tests, benchmarks
from investiq.core.triton_adapters import shim
from investiq.core.versions import number_for, version_dir
from training.forecaster import Forecaster, load_forecaster

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
    served = exported.served_as()
    why = "" if served == PATCHTST else ": its validation confirmed no skill, so it forecasts the last close"
    where = version_dir(repository, PATCHTST, number)
    log(f"installed {where} (version {meta.version}; serves as {served}{why})")
    if (
        warning := gpu_config_mismatch(repository, version_dir(repository, PATCHTST, number) / ONNX_FILE)
    ) is not None:
        log(warning)
    return exported, number


def gpu_config_mismatch(repository: Path, graph: Path) -> str | None:
    """A warning when the gpu flavour's config does not fit the exported graph, so that Triton's ONNX Runtime
    backend would refuse to load it on GPU: a tensor's declared dims must equal the graph's wherever the graph's
    are fixed (its `CompareDimsSupported`; the graph fixes context, horizon and quantile count), and the warm-up
    windows must be the context's length. Until 2026-12-06 that config declared -1 for them, which the backend
    refuses against the graph's 512, 12 and 7 (a review): the model never loaded on GPU."""
    import onnx

    config = repository / PATCHTST / "configs" / "gpu.pbtxt"
    if not config.is_file():
        return None
    text = config.read_text()
    model = onnx.load(str(graph), load_external_data=False)
    problems = []
    for value in [*model.graph.input, *model.graph.output]:
        shape = [d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim]
        found = re.search(rf'name:\s*"{re.escape(value.name)}"[^}}]*?dims:\s*\[([^\]]*)\]', text)
        declared = [-1, *(int(n) for n in found.group(1).split(","))] if found else None
        fits = declared is not None and len(declared) == len(shape)
        if not fits or any(g != -1 and g != d for g, d in zip(shape, declared or [], strict=False)):
            dims = ", ".join(str(n) for n in shape[1:])
            problems.append(f"{value.name} dims: [ {dims} ]")
    context = next(d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:2])
    warm = {int(n) for n in re.findall(r"key:[^}]*?dims:\s*\[\s*(\d+)\s*,\s*1\s*\]", text)}
    if warm - {context}:
        problems.append(
            f"model_warmup dims: [ {context}, 1 ] (it warms up with {', '.join(map(str, sorted(warm)))})"
        )
    if not problems:
        return None
    return (
        f"warning: {config} does not fit this model's graph, so on GPU Triton would not load it (the cpu flavour "
        f"and the embedded backend are not affected); set {'; '.join(problems)}"
    )


def write_export(
    forecaster: Forecaster, meta: PatchTSTMeta, out: Path, log: Callable[[str], None] = print
) -> PatchTSTMeta:
    """Write a validated version directory into the empty directory `out`: the portable ONNX graph, its
    ONNX Runtime fusion (each within MAX_REL_DIFF of PyTorch), the split graphs (checked by `write_split`),
    artifact.json, model.py."""
    path = out / ONNX_FILE
    export_graphs(forecaster, meta.context_length, out)
    validation: dict[str, float] = {"max_rel_diff": validate(forecaster, path, meta), "opset": OPSET}
    at = f"at batch sizes {VALIDATION_BATCHES}"
    log(f"validated {ONNX_FILE}: max relative difference to PyTorch {validation['max_rel_diff']:.2e} {at}")
    try:
        fusions = fuse_for_onnxruntime(path, out / FUSED_ONNX_FILE)
    except ImportError as exc:  # an onnxscript older than its ONNX Runtime fusions: auto serves model.onnx
        log(f"no {FUSED_ONNX_FILE}: this onnxscript lacks ONNX Runtime's fusions ({exc}); upgrade onnxscript")
    else:
        validation["max_rel_diff_fused"] = validate(forecaster, out / FUSED_ONNX_FILE, meta)
        log(f"validated {FUSED_ONNX_FILE} (fusions {fusions}): {validation['max_rel_diff_fused']:.2e} {at}")
    validation |= write_split(forecaster, meta, out, log)
    exported = dataclasses.replace(meta, validation=validation)
    exported.save(out)
    (out / "model.py").write_text(shim(PATCHTST))  # Triton cpu flavour entry point
    return exported


def export_graph(forecaster: torch.nn.Module, context: int, path: Path, channel_last: bool = True) -> None:
    """The portable graph of `forecaster` (eval mode) at `path`, batch axis dynamic. channel_last=False
    keeps transformers' BatchNorm as it is written (the graph exported before issue 18; benchmarks)."""
    example = torch.from_numpy(sample_windows(2, context))
    with channel_last_batchnorm(forecaster, channel_last):
        _onnx_export(forecaster, {INPUT: example}, list(OUTPUTS), path)


def _onnx_export(
    module: torch.nn.Module,
    example: dict[str, torch.Tensor],
    outputs: list[str],
    path: Path,
    external: bool = True,
) -> None:
    """`module` called on the `example` inputs (in order, by name) as an ONNX graph at `path`, every input's
    first axis the dynamic batch axis; `external`: the weights in path.data (False: one self-contained file)."""
    batch = torch.export.Dim("batch", min=1, max=65536)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                tuple(example.values()),
                str(path),
                input_names=list(example),
                output_names=outputs,
                dynamic_shapes=tuple({0: batch} for _ in example),  # by position
                opset_version=OPSET,
                dynamo=True,
                verbose=False,
                external_data=external,
            )
    finally:
        quiet.setLevel(level)


def _staged_forward(self: Forecaster, past_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Forecaster.forward answering, after its outputs, what passes between the split graphs (`export_graphs`)."""
    reading, sigma = self.normalise(past_values)
    u = self.network(reading)
    return (*self.denormalise(past_values, u, sigma), reading, sigma, u)


@contextmanager
def _staged(forecaster: Forecaster) -> Iterator[Forecaster]:
    """`forecaster` with `_staged_forward` as its forward, on this instance only and while the block runs: the
    exported graph names its weights as an export of the forecaster itself does (a wrapping module would prefix
    them, and tools that find a weight by name, as benchmarks/patchtst.py finds the EWMA's, would miss it)."""
    vars(forecaster)["forward"] = types.MethodType(_staged_forward, forecaster)
    try:
        yield forecaster
    finally:
        del vars(forecaster)["forward"]


def export_graphs(forecaster: Forecaster, context: int, out: Path) -> None:
    """ONNX_FILE (weights in ONNX_FILE.data) and SPLIT_FILES (each one self-contained file) of `forecaster` in
    `out`, BatchNorm channel-last, cut from one export of `_staged_forward`: the split graphs are model.onnx's own
    nodes between the tensors READING, SIGMA and RAW_QUANTILES. Four exports (model.onnx, then each split
    graph) made a whole export of the tests' tiny model take 7.6 s, one makes it 3.3 s (AMD EPYC Zen 4, idle)."""
    import onnx
    import onnx_ir as ir  # onnx.save_model would make the weights file readable by its owner only (onnx 1.23)
    from onnx.utils import Extractor

    staged_graph = out / "staged.onnx"
    example = torch.from_numpy(sample_windows(2, context))
    with channel_last_batchnorm(forecaster), _staged(forecaster) as staged_forecaster:
        outputs = [*OUTPUTS, READING, SIGMA, RAW_QUANTILES]
        _onnx_export(staged_forecaster, {INPUT: example}, outputs, staged_graph, external=False)
    extractor = Extractor(onnx.load(str(staged_graph)))
    staged_graph.unlink()
    pre, backbone, post = SPLIT_FILES
    cuts = {
        ONNX_FILE: ([INPUT], list(OUTPUTS)),
        pre: ([INPUT], [READING, SIGMA]),
        backbone: ([READING], [RAW_QUANTILES]),
        post: ([INPUT, RAW_QUANTILES, SIGMA], list(OUTPUTS)),
    }
    for name, (inputs, wanted) in cuts.items():
        graph = ir.from_proto(extractor.extract_model(inputs, wanted))
        ir.save(graph, out / name, external_data=f"{name}.data" if name == ONNX_FILE else None)


def write_split(
    forecaster: Forecaster, meta: PatchTSTMeta, out: Path, log: Callable[[str], None] = print
) -> dict[str, float]:
    """The split graphs `export_graphs` wrote in `out`, checked: their chain in fp32 (ONNX Runtime) within
    MAX_REL_DIFF of PyTorch, and openvino-bf16 within its bound where OpenVINO is installed. Returns the
    validation figures; a split that fails is removed (auto then serves the fused graph) and logged, the
    export goes on."""
    at = f"at batch sizes {VALIDATION_BATCHES}"
    try:
        figures = {"max_rel_diff_split": compare(forecaster, _ort_chain(out), meta, PORTABLE)["max_rel_diff"]}
        log(f"validated the split graphs in fp32: {figures['max_rel_diff_split']:.2e} {at}")
        if not openvino_installed():
            log(f"split graphs not checked in BF16: no openvino here ({OPENVINO_BF16} is checked at start-up)")
            return figures
        bf16 = compare(forecaster, openvino_bf16(out), meta, OPENVINO_BF16)
    except (ExportError, ArtifactError) as exc:  # ArtifactError: OpenVINO could not compile them (BF16 here)
        for name in SPLIT_FILES:
            (out / name).unlink(missing_ok=True)
        log(f"no split graphs ({OPENVINO_BF16} will not be offered): {exc}")
        return {}
    log(
        f"validated {OPENVINO_BF16}: quantiles within {bf16['quantile_sd']:.2e} forecast sd, P(up) within "
        f"{bf16['p_up_abs']:.2e} {at}"
    )
    return figures | {f"openvino_bf16_{key}": bf16[key] for key in ("quantile_sd", "p_up_abs")}


def _ort_chain(directory: Path) -> Chain:
    return Chain([_ort_run(directory / name) for name in SPLIT_FILES])


def _ort_run(path: Path) -> Run:
    """The graph at `path` in ONNX Runtime (CPU, fp32) as one link of a Chain."""
    session = inference_session(path)
    inputs, outputs = [i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()]
    return lambda values: dict(zip(outputs, session.run(outputs, {n: values[n] for n in inputs}), strict=True))


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
    """The largest difference of the fp32 graph at `path` to PyTorch (ExportError beyond MAX_REL_DIFF)."""
    session = inference_session(path)
    names = ([i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()])
    if names != ([INPUT], list(OUTPUTS)):
        raise ExportError(f"graph has inputs/outputs {names}, expected [{INPUT}] -> {list(OUTPUTS)}")
    return compare(forecaster, session, meta, PORTABLE if path.name == ONNX_FILE else FUSED)["max_rel_diff"]


def compare(forecaster: torch.nn.Module, session: Any, meta: PatchTSTMeta, runtime: str) -> dict[str, float]:
    """`session` (`run(output_names, feed)`) against PyTorch at VALIDATION_BATCHES: every output's shape, and
    the values within `runtime`'s bound (patchtst_runtime.problem), else ExportError. Returns the worst
    figures: max_rel_diff (MAX_REL_DIFF's measure), quantile_sd, p_up_abs."""
    worst = {"max_rel_diff": 0.0, "quantile_sd": 0.0, "p_up_abs": 0.0}
    for batch in VALIDATION_BATCHES:
        x = sample_windows(batch, meta.context_length, seed=batch)
        got = session.run(list(OUTPUTS), {INPUT: x})
        with torch.no_grad():
            want = [t.numpy() for t in forecaster(torch.from_numpy(x))]
        check_shapes(got, want, meta, batch)
        found = problem(runtime, x, got, want)
        if found is not None:
            raise ExportError(f"validation of {runtime} failed at batch {batch}, nothing installed: {found}")
        errors = forecast_errors(x, got, want)
        figures = [max_difference(got, want), errors.quantile_sd, errors.p_up_abs]
        worst = {key: max(worst[key], value) for key, value in zip(worst, figures, strict=True)}
    return worst


def check_shapes(got: Sequence[Any], want: Sequence[Any], meta: PatchTSTMeta, batch: int) -> None:
    """ExportError unless the graph's outputs `got` and PyTorch's `want` have the contract's shapes."""
    h, k = meta.prediction_length, len(meta.quantile_levels)
    for name, g, w, shape in zip(
        OUTPUTS, got, want, [(batch, h, 1), (batch, h, k), (batch, h), (batch, 1)], strict=True
    ):
        if g.shape != shape or w.shape != shape:
            raise ExportError(
                f"{name} at batch {batch}: ONNX gives {g.shape}, PyTorch {w.shape}, expected {shape}"
            )
