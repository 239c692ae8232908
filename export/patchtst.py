"""PatchTST -> ONNX with a dynamic batch axis, validated against PyTorch, installed atomically.

    investiq export patchtst [--model-dir models/patchtst]   -> model_repository/patchtst/<n>/

The graph has the four outputs of investiq/core/patchtst.py (median, quantiles, P(up), volatility).
The dynamo exporter is used: the legacy TorchScript exporter silently produced a wrong output
shape for PatchTST, (B, 12, 63) instead of (B, 12, 1). The validation below would catch that,
and checks every output's shape and values at several batch sizes before anything is installed.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from investiq.core.atomic import staged
from investiq.core.errors import ExportError
from investiq.core.patchtst import INPUT, ONNX_FILE, OUTPUTS, PATCHTST, PROBABILITY_UP, PatchTSTMeta
from investiq.core.triton_adapters import shim
from investiq.core.versions import number_for, version_dir
from training.patchtst import load_forecaster

OPSET = 18
MAX_REL_DIFF = 1e-4  # ONNX vs PyTorch: relative for prices and volatility, absolute for P(up)
VALIDATION_BATCHES = (1, 3, 17)


def sample_windows(batch: int, context: int, seed: int = 0) -> NDArray[np.float32]:
    """Geometric random walks around 100: positive prices [batch, context, 1] float32."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 0.01, size=(batch, context, 1))
    return np.asarray(100 * np.exp(np.cumsum(steps, axis=1)), dtype=np.float32)


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
    """Write a validated version directory into the empty directory `out`: ONNX, artifact.json, model.py."""
    example = torch.from_numpy(sample_windows(2, meta.context_length))
    path = out / ONNX_FILE
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with torch.no_grad(), warnings.catch_warnings():
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
    worst = validate(forecaster, path, meta)
    log(f"validated: ONNX vs PyTorch max relative difference {worst:.2e} at batch sizes {VALIDATION_BATCHES}")
    exported = dataclasses.replace(meta, validation={"max_rel_diff": worst, "opset": OPSET})
    exported.save(out)
    (out / "model.py").write_text(shim(PATCHTST))  # Triton cpu flavour entry point
    return exported


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
            scale = 1.0 if name == PROBABILITY_UP else np.abs(w)
            worst = max(worst, float(np.max(np.abs(g - w) / scale)))
    if not worst <= MAX_REL_DIFF:
        raise ExportError(
            f"validation failed, nothing installed: max relative difference {worst:.2e} > {MAX_REL_DIFF}"
        )
    return worst
