"""The python backend's models keep start-up's objects out of full garbage collections inside Triton only."""

from __future__ import annotations

import gc
import json
import sys
import types
from pathlib import Path

import pytest

from investiq.core.triton_adapters import FinbertPostprocess

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
