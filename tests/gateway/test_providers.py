"""Which ONNX Runtime execution providers the embedded backend asks for, from what the installed ONNX
Runtime offers (onnxruntime: CPU; onnxruntime-gpu: TensorRT, CUDA, CPU), and a real CPU session."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from gateway.backends.embedded import ort_session
from gateway.backends.providers import (
    CPU,
    CUDA,
    TENSORRT,
    choose,
    import_onnxruntime,
    session_providers,
    tensorrt_cache,
)
from investiq.core.errors import BackendUnavailableError, SettingsError

CPU_ONLY = ["CPUExecutionProvider"]  # onnxruntime (the `cpu` extra)
WITH_CUDA = ["CUDAExecutionProvider", "CPUExecutionProvider"]
GPU_BUILD = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]  # onnxruntime-gpu


def test_auto_takes_cuda_when_there_and_never_tensorrt_unasked() -> None:
    assert choose(CPU_ONLY) == [CPU]
    assert choose(WITH_CUDA) == [CUDA, CPU]
    assert choose(GPU_BUILD, "auto") == [CUDA, CPU]


def test_cpu_stays_on_the_cpu_even_with_a_gpu_build() -> None:
    assert choose(GPU_BUILD, "cpu") == [CPU]


def test_cuda_when_asked_falls_back_to_cpu_node_by_node() -> None:
    assert choose(WITH_CUDA, "cuda") == [CUDA, CPU]


def test_tensorrt_caches_its_engines_under_the_models_dir(tmp_path: Path) -> None:
    cache = tensorrt_cache(tmp_path / "models")
    first, *rest = choose(GPU_BUILD, "tensorrt", cache)
    assert rest == [CUDA, CPU]
    assert isinstance(first, tuple)
    name, options = first
    assert name == TENSORRT
    assert options["trt_engine_cache_enable"] == "True"
    assert options["trt_engine_cache_path"] == str(tmp_path / "models" / "tensorrt")


def test_tensorrt_without_cuda_goes_straight_to_cpu() -> None:
    providers = choose(["TensorrtExecutionProvider", "CPUExecutionProvider"], "tensorrt")
    assert [p if isinstance(p, str) else p[0] for p in providers] == [TENSORRT, CPU]


@pytest.mark.parametrize(
    ("available", "wanted"), [(CPU_ONLY, "cuda"), (CPU_ONLY, "tensorrt"), (WITH_CUDA, "tensorrt")]
)
def test_asking_for_a_provider_this_build_lacks_says_which_extra(available: list[str], wanted: str) -> None:
    with pytest.raises(SettingsError, match=r"embedded_providers=.*install the gpu extra instead of the cpu one"):
        choose(available, wanted)  # type: ignore[arg-type]  # a Choice, spelled as the setting's string


def test_missing_onnxruntime_names_the_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what `import` finds when the package is absent
    with pytest.raises(BackendUnavailableError, match=r"pip install -e '\.\[cpu\]' \(or '\.\[gpu\]'"):
        import_onnxruntime()


def test_this_onnxruntime_is_one_of_the_two_builds() -> None:
    available = import_onnxruntime().get_available_providers()
    assert CPU in available
    assert session_providers() == choose(available)


def test_a_real_session_loads_with_the_chosen_providers_and_logs_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu", [x], [y])
    path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    with caplog.at_level(logging.INFO, logger="gateway.backends.providers"):
        session = ort_session(path)
    chosen = [p if isinstance(p, str) else p[0] for p in session_providers()]
    assert session.get_providers() == chosen  # on this CPU-only build: ["CPUExecutionProvider"]
    assert "ONNX Runtime providers: " + ", ".join(chosen) in caplog.text
    (out,) = session.run(None, {"x": np.array([[-1.0, 2.0]], dtype=np.float32)})
    np.testing.assert_array_equal(out, [[0.0, 2.0]])


def test_the_setting_reaches_the_gateway_and_a_missing_provider_stops_it_at_start(tmp_path: Path) -> None:
    from gateway.wiring import StartupError, build_backend
    from investiq.core.settings import Settings

    if "CUDAExecutionProvider" in import_onnxruntime().get_available_providers():
        pytest.skip("this ONNX Runtime has CUDA")
    settings = Settings(model_repository=tmp_path / "repo", models_dir=tmp_path, embedded_providers="cuda")
    with pytest.raises(StartupError, match=r"gpu"):
        build_backend(settings)
    assert not asyncio.run(
        build_backend(Settings(model_repository=tmp_path / "repo", embedded_providers="cpu")).ready()
    )
