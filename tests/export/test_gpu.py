"""CUDA parity of the exported graphs (ONNX Runtime's CUDA and TensorRT providers vs the CPU).

Runs on a GPU host (`pip install -e '.[gpu,test]'`); skipped elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from export.finbert import export_finbert, sample_texts
from harness import tiny_bert
from investiq.core.finbert import Encoder
from investiq.core.ort_sessions import CPU, inference_session

PROVIDERS = ort.get_available_providers()
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        "CUDAExecutionProvider" not in PROVIDERS, reason="needs CUDA (onnxruntime-gpu on a GPU host)"
    ),
]


@pytest.mark.parametrize(
    ("provider", "atol"), [("CUDAExecutionProvider", 1e-3), ("TensorrtExecutionProvider", 5e-2)]
)
def test_finbert_on_the_gpu_matches_the_cpu(tmp_path: Path, provider: str, atol: float):
    if provider not in PROVIDERS:
        pytest.skip(f"{provider} is not available")
    export_finbert(str(tiny_bert.build(tmp_path / "hf")), tmp_path / "repo", log=lambda _: None)
    directory = tmp_path / "repo" / "finbert_model" / "1"
    inputs = Encoder(directory, 128)(sample_texts())
    options = {"trt_fp16_enable": "True"} if provider == "TensorrtExecutionProvider" else {}
    gpu = inference_session(directory / "model.onnx", [(provider, options), CPU])  # as the gateway opens it
    assert gpu.get_providers()[0] == provider
    cpu = inference_session(directory / "model.onnx")
    got, want = gpu.run(["logits"], inputs)[0], cpu.run(["logits"], inputs)[0]
    assert np.abs(got - want).max() <= atol
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.95
