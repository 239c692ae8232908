"""The python backend's models: start-up's objects kept out of full garbage collections inside Triton only, and
ONNX Runtime's threads shared out among a model's instances."""

from __future__ import annotations

import gc
import json
import sys
import types
from pathlib import Path

import pytest

from investiq.core.triton_adapters import THREADS, FinbertPostprocess, FinbertTokenizer, threads_per_instance

ARGS = {"model_repository": "/repo/finbert_postprocess", "model_version": "1", "model_config": json.dumps({})}


def test_inside_triton_initialize_freezes_what_start_up_left(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    stub_module = "triton_python_backend_utils"  # imported by Triton's stub before it loads model.py
    monkeypatch.setitem(sys.modules, stub_module, types.ModuleType(stub_module))
    assert gc.get_freeze_count() == 0
    try:
        FinbertPostprocess().initialize(ARGS)
        frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()
    assert frozen > 1000  # this process's heap: pytest, numpy, the package
    log = capsys.readouterr().out  # the stub's stdout: Triton's log
    assert log.startswith("investiq finbert_postprocess 1: ") and "objects of start-up kept out of garbage" in log


def test_outside_triton_the_callers_heap_is_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert "triton_python_backend_utils" not in sys.modules
    FinbertPostprocess().initialize(ARGS)
    assert gc.get_freeze_count() == 0
    assert capsys.readouterr().out == ""


def config(count: int | None = None, threads: str | None = None) -> dict[str, str]:
    model: dict[str, object] = {}
    if count is not None:
        model["instance_group"] = [{"kind": "KIND_CPU", "count": count}]
    if threads is not None:
        model["parameters"] = {THREADS: {"string_value": threads}}
    return {**ARGS, "model_config": json.dumps(model)}


def test_instances_share_the_cores_unless_the_config_says_otherwise(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda _: {0, 1, 2, 3}, raising=False)
    # one instance: every core (ONNX Runtime's default)
    assert threads_per_instance(config()) == threads_per_instance(config(count=1)) == 0
    assert threads_per_instance(config(count=2)) == 2
    assert threads_per_instance(config(count=3)) == 1
    assert threads_per_instance(config(count=8)) == 1  # never none
    # the parameter wins, as in Triton's onnxruntime backend
    assert threads_per_instance(config(count=2, threads="3")) == 3
    assert threads_per_instance(config(count=2, threads="0")) == 0
    with pytest.raises(ValueError, match=f"parameter {THREADS} must be a whole number .* not 'two'"):
        threads_per_instance(config(threads="two"))


def test_the_tokenizer_step_truncates_at_the_models_positions_at_most(both_models: Path):
    """max_tokens 512 on a model of 128 positions (the tiny test model) sent ids it cannot embed for every long
    text; the embedded backend caps it, the Triton step did not (a review)."""
    step = FinbertTokenizer()
    step.initialize(
        {
            "model_repository": str(both_models / "finbert_tokenizer"),
            "model_version": "1",
            "model_config": json.dumps({"parameters": {"max_tokens": {"string_value": "512"}}}),
        }
    )
    assert step.encoder.max_tokens == 128
    assert step.encoder(["word " * 600])["input_ids"].shape == (1, 128)
