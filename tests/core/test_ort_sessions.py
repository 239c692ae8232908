"""The one way sessions are opened: on the CPU, ONNX Runtime's SkipLayerNormalization fusion is left out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from investiq.core.ort_sessions import CPU, disabled_optimizers, inference_session, session_options

HIDDEN = 8


def residual_layer_norm(path: Path) -> Path:
    """y = LayerNorm(x + skip): the pattern ONNX Runtime's SkipLayerNormFusion rewrites."""
    rng = np.random.default_rng(0)
    gamma = numpy_helper.from_array(rng.normal(size=HIDDEN).astype(np.float32), "gamma")
    beta = numpy_helper.from_array(rng.normal(size=HIDDEN).astype(np.float32), "beta")
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["x", "skip"], ["sum"]),
            helper.make_node("LayerNormalization", ["sum", "gamma", "beta"], ["y"], axis=-1, epsilon=1e-12),
        ],
        "residual",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "tokens", HIDDEN]),
            helper.make_tensor_value_info("skip", TensorProto.FLOAT, ["batch", "tokens", HIDDEN]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "tokens", HIDDEN])],
        initializer=[gamma, beta],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def optimized_ops(opener: Callable[[Path, Any], Any], model: Path, tmp_path: Path, name: str) -> Counter[str]:
    options = session_options()
    options.optimized_model_filepath = str(tmp_path / f"{name}.onnx")
    opener(model, options)
    return Counter(node.op_type for node in onnx.load(str(tmp_path / f"{name}.onnx")).graph.node)


def test_a_served_cpu_session_keeps_add_and_layer_norm_where_onnx_runtime_would_fuse_them(tmp_path: Path) -> None:
    model = residual_layer_norm(tmp_path / "residual.onnx")

    def plain(path: Path, options: Any) -> Any:
        return ort.InferenceSession(str(path), options, providers=[CPU])

    def served(path: Path, options: Any) -> Any:
        return inference_session(path, options=options)

    assert optimized_ops(plain, model, tmp_path, "plain")["SkipLayerNormalization"] == 1  # what is left out
    ops = optimized_ops(served, model, tmp_path, "served")
    assert ops["SkipLayerNormalization"] == 0
    assert ops["LayerNormalization"] == 1

    x, skip = np.random.default_rng(1).normal(size=(2, 2, 3, HIDDEN)).astype(np.float32)
    want = ort.InferenceSession(str(model), providers=[CPU]).run(["y"], {"x": x, "skip": skip})[0]
    got = inference_session(model).run(["y"], {"x": x, "skip": skip})[0]
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_gpu_providers_keep_every_rewrite() -> None:
    assert disabled_optimizers([CPU]) == disabled_optimizers([(CPU, {})]) == ["SkipLayerNormFusion"]
    assert disabled_optimizers(["CUDAExecutionProvider", CPU]) == []
    assert disabled_optimizers([("TensorrtExecutionProvider", {"trt_fp16_enable": "True"}), CPU]) == []


def test_a_gpu_provider_that_does_not_start_leaves_a_cpu_session_with_the_cpu_settings(tmp_path: Path) -> None:
    """This onnxruntime has no CUDA: ONNX Runtime drops it and runs on the CPU, as it falls back when a GPU
    provider fails to start; the session is then opened as a CPU one."""
    model = residual_layer_norm(tmp_path / "residual.onnx")
    options = session_options()
    options.optimized_model_filepath = str(tmp_path / "fell_back.onnx")
    with pytest.warns(UserWarning, match="CUDAExecutionProvider"):
        session = inference_session(model, ["CUDAExecutionProvider", CPU], options)
    assert session.get_providers() == [CPU]
    ops = Counter(node.op_type for node in onnx.load(str(tmp_path / "fell_back.onnx")).graph.node)
    assert ops["SkipLayerNormalization"] == 0 and ops["LayerNormalization"] == 1
    assert inference_session(model, []).get_providers() == [CPU]


def test_session_options_carry_threads_spinning_and_every_optimisation() -> None:
    options = session_options(threads=1, spinning=False)
    assert options.intra_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert session_options().get_session_config_entry("session.intra_op.allow_spinning") == "1"
