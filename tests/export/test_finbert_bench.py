"""The runtime comparison and the per-operator profile of `investiq bench finbert`, on the tiny model: every
runtime measured beside today's INT8, its share of the GEMM peak, and the profile's op types summing up."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import finbert_profile, finbert_runtimes
from benchmarks.gemm import SERVED_PATH
from export.finbert import sample_texts
from harness import tiny_bert
from investiq.core.cpu import instruction_sets
from investiq.core.finbert import Encoder
from investiq.core.finbert_runtime import DEFAULT, RUNTIMES, choose_runtime, openvino_installed


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert.exported(tmp_path_factory.mktemp("bench"))[1] / "finbert_model" / "1"


def test_every_runtime_is_measured_beside_int8(directory: Path, tmp_path: Path):
    result = finbert_runtimes.run(
        directory, sample_texts(), batch_size=8, singles=2, rounds=2, peak_sizes=(64,), out=tmp_path
    )
    rows = {r["path"]: r for r in result["rows"]}
    onnxruntime_only = {
        "onnxruntime-int8",
        "onnxruntime-int8-fused",
        "onnxruntime-int8-static",
        "onnxruntime-fp32",
    }
    expected = set(RUNTIMES) if openvino_installed() else onnxruntime_only
    assert expected <= set(rows)
    served = result["auto"] + finbert_runtimes.AS_SERVED
    assert {served, f"{DEFAULT}, 1 thread", finbert_runtimes.BEFORE} <= set(rows)
    assert rows[DEFAULT]["throughput_vs_int8"] == 1.0
    assert all(r["texts_per_s"] > 0 and r["p50_ms"] > 0 and r["of_int8_peak"] > 0 for r in rows.values())
    text = (tmp_path / "finbert_runtimes.md").read_text()
    assert "amx_int8" in text or "avx2" in text  # the CPU's instruction sets are recorded
    assert f"Before -> after on this CPU: {finbert_runtimes.BEFORE} -> {result['auto']}" in text
    assert f"after, as served: {served} |" in text


def test_the_profile_sums_kernel_time_by_op_type(directory: Path, tmp_path: Path):
    encoder = Encoder(directory, 64)
    p = finbert_profile.profile(directory / "model.int8.onnx", encoder, sample_texts(), batch=4, runs=3)
    assert p["kernel_ms"] > 0 and p["wall_ms"] >= p["kernel_ms"] * 0.5
    assert sum(o["share"] for o in p["ops"]) == pytest.approx(1.0)
    assert any("MatMul" in o["op"] for o in p["ops"])  # the quantised GEMMs are there by name
    finbert_profile.run(directory, sample_texts(), runs=3, out=tmp_path)
    text = (tmp_path / "finbert_profile.md").read_text()
    assert (
        "## int8 (model.int8.onnx), batch 1" in text and "## int8-fused (model.int8.fused.onnx), batch 32" in text
    )


def test_the_served_path_and_the_mixed_length_burst_are_measured(directory: Path):
    from benchmarks import finbert

    repo = directory.parents[1]
    row, runtime = finbert.served(repo, sample_texts(), runs=3, batch_size=8)
    assert row.path == SERVED_PATH and row.texts_per_s > 0 and row.p50_ms > 0
    assert runtime == choose_runtime("auto", instruction_sets())[0]  # what the gateway serves on this CPU
    mixed = finbert.grouping(repo, batch_size=8, rounds=1)
    assert mixed["texts"] > 100 and mixed["tokens"]["min"] < mixed["tokens"]["max"]  # lengths that vary
    assert mixed["before_per_s"] > 0 and mixed["served_per_s"] > 0
