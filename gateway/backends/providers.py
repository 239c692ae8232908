"""ONNX Runtime for the embedded backend: the package, and the execution providers a session asks for.

Exactly one ONNX Runtime is installed per environment, from the `cpu` extra (onnxruntime: CPU only) or the
`gpu` extra (onnxruntime-gpu: TensorRT, CUDA and CPU); both install the `onnxruntime` package, so they
exclude each other. The choice (`embedded_providers`) is a list in ONNX Runtime's order of preference:
nodes a provider cannot run fall to the next one, and a GPU provider that fails to start (onnxruntime-gpu
on a host without a GPU) leaves the session on the CPU with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Literal

from investiq.core.errors import BackendUnavailableError, SettingsError
from investiq.core.ort_sessions import CPU as CPU
from investiq.core.ort_sessions import Provider as Provider

log = logging.getLogger(__name__)

Choice = Literal["auto", "cpu", "cuda", "tensorrt"]

CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"


def import_onnxruntime() -> ModuleType:
    """The `onnxruntime` module; BackendUnavailableError saying which extra to install when it is absent."""
    try:
        import onnxruntime as module
    except ImportError:
        raise BackendUnavailableError(
            "ONNX Runtime is not installed: pip install -e '.[cpu]' (or '.[gpu]' on a CUDA host; one of the two, "
            "never both). `bash scripts/up.sh` installs the cpu one."
        ) from None
    ort: ModuleType = module  # typed: onnxruntime ships no stubs
    return ort


def tensorrt_cache(models_dir: Path) -> Path:
    """Where TensorRT keeps the engines it builds, so that a restart reuses them instead of rebuilding."""
    return models_dir / "tensorrt"


def choose(available: Sequence[str], wanted: Choice = "auto", trt_cache: Path | None = None) -> list[Provider]:
    """The providers for `wanted`, given ONNX Runtime's `get_available_providers()`.

    auto: CUDA when available, else CPU (TensorRT only when asked: its engines take minutes to build);
    cpu: CPU; cuda: CUDA then CPU; tensorrt: TensorRT (engines cached in `trt_cache` when given), then
    CUDA when available, then CPU. SettingsError when cuda or tensorrt is asked of an ONNX Runtime
    without it.
    """
    if wanted == "cpu" or (wanted == "auto" and CUDA not in available):
        return [CPU]
    if wanted == "auto":
        return [CUDA, CPU]
    needed = TENSORRT if wanted == "tensorrt" else CUDA
    if needed not in available:
        raise SettingsError(
            f"invalid setting embedded_providers={wanted}: this ONNX Runtime has no {needed} (it offers "
            f"{', '.join(available)}); install the gpu extra instead of the cpu one (pip uninstall -y onnxruntime "
            "&& pip install -e '.[gpu]'), or set embedded_providers to auto or cpu"
        )
    if wanted == "cuda":
        return [CUDA, CPU]
    options = {"trt_engine_cache_enable": "True", "trt_timing_cache_enable": "True"}
    if trt_cache is not None:
        options |= {"trt_engine_cache_path": str(trt_cache), "trt_timing_cache_path": str(trt_cache)}
    return [(TENSORRT, options), *([CUDA] if CUDA in available else []), CPU]


def session_providers(wanted: Choice = "auto", models_dir: Path | None = None) -> list[Provider]:
    """`choose` on this ONNX Runtime's providers, logged; TensorRT's engine cache under `models_dir`."""
    available = import_onnxruntime().get_available_providers()
    trt_cache = tensorrt_cache(models_dir) if models_dir is not None else None
    if trt_cache is not None and wanted == "tensorrt":
        trt_cache.mkdir(parents=True, exist_ok=True)
    chosen = choose(available, wanted, trt_cache)
    log.info(
        "ONNX Runtime providers: %s (embedded_providers=%s; available: %s)",
        ", ".join(p if isinstance(p, str) else p[0] for p in chosen),
        wanted,
        ", ".join(available),
    )
    return chosen
