"""PatchTST's CPU runtimes (issue 18): the export's two graphs of the same weights, both validated against
PyTorch; the choice per CPU; the start-up check that keeps a disagreeing graph from serving; /health."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from fastapi.testclient import TestClient

from export.patchtst import channel_last_batchnorm, export_graph, fuse_for_onnxruntime, sample_windows
from gateway.app import create_app
from gateway.backends.embedded import load_patchtst, patchtst_dir
from harness.tiny_repository import as_exported
from investiq.core.cpu import instruction_sets
from investiq.core.errors import ArtifactError, ExportError
from investiq.core.patchtst import INPUT, ONNX_FILE, OUTPUTS, PatchTSTMeta
from investiq.core.patchtst_runtime import (
    FUSED,
    FUSED_CPUS,
    FUSED_ONNX_FILE,
    MAX_REL_DIFF,
    OPENVINO_BF16,
    PORTABLE,
    RUNTIMES,
    SPLIT_FILES,
    choose_runtime,
    max_difference,
    openvino_installed,
    problem,
)
from investiq.core.settings import Settings
from training.forecaster import load_forecaster


def op_types(path: Path) -> Counter[str]:
    return Counter(n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node)


def test_the_export_writes_both_graphs_each_validated(trained: tuple[Path, Path]):
    directory = patchtst_dir(trained[1])
    validation = PatchTSTMeta.load(directory).validation
    assert validation["max_rel_diff"] <= MAX_REL_DIFF
    assert validation["max_rel_diff_fused"] <= MAX_REL_DIFF
    portable, fused = op_types(directory / ONNX_FILE), op_types(directory / FUSED_ONNX_FILE)
    assert "BatchNormalization" not in portable  # exported as the per-channel affine it is
    assert fused["MultiHeadAttention"] == fused["BiasGelu"] == 1  # TINY has one layer
    assert not {"Softmax", "Erf", "BatchNormalization"} & set(fused)
    assert {i.domain for i in onnx.load(str(directory / ONNX_FILE), load_external_data=False).opset_import} == {""}


def test_the_split_graphs_are_cut_from_the_portable_graph_and_every_file_is_readable_by_all(
    trained: tuple[Path, Path],
):
    """One export gives model.onnx and the split graphs (export_graphs): the split graphs hold model.onnx's own
    nodes, all of them. The weights file keeps the others' permissions: onnx.save_model makes it readable by
    its owner only, which a Triton container running as another user could not load."""
    directory = patchtst_dir(trained[1])
    if not (directory / SPLIT_FILES[0]).is_file():
        pytest.skip("the split graphs did not pass their check on this CPU")

    def nodes(name: str) -> set[tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
        graph = onnx.load(str(directory / name), load_external_data=False).graph
        return {(n.name, n.op_type, tuple(n.input), tuple(n.output)) for n in graph.node}

    assert set().union(*(nodes(name) for name in SPLIT_FILES)) == nodes(ONNX_FILE)
    # named as an export of the forecaster itself names them (benchmarks/patchtst.py keeps "ewma" in fp32)
    weights = {t.name for t in onnx.load(str(directory / ONNX_FILE), load_external_data=False).graph.initializer}
    assert "ewma" in weights and not [name for name in weights if name.startswith("forecaster.")]
    modes = {path.name: path.stat().st_mode & 0o777 for path in directory.iterdir()}
    assert modes[f"{ONNX_FILE}.data"] == modes[ONNX_FILE] == modes[SPLIT_FILES[1]], modes


def test_channel_last_batchnorm_changes_the_graph_not_the_model(trained: tuple[Path, Path]):
    forecaster, meta = load_forecaster(trained[0])
    keys = list(forecaster.state_dict())
    x = torch.from_numpy(sample_windows(5, meta.context_length, seed=1))
    with torch.no_grad():
        want = forecaster(x)
        with channel_last_batchnorm(forecaster):
            got = forecaster(x)
        again = forecaster(x)
    for g, w, a in zip(got, want, again, strict=True):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-5, atol=1e-7)
        assert torch.equal(a, w)  # transformers' own forward is back
    assert list(forecaster.state_dict()) == keys


def test_channel_last_batchnorm_refuses_a_model_in_training_mode(trained: tuple[Path, Path]):
    forecaster, meta = load_forecaster(trained[0])
    forecaster.train()
    x = torch.from_numpy(sample_windows(2, meta.context_length))
    with channel_last_batchnorm(forecaster), pytest.raises(ExportError, match="eval mode"):
        forecaster(x)


@pytest.mark.parametrize(
    ("setting", "sets", "fused_file", "runtime", "why"),
    [
        ("auto", {"avx2"}, True, FUSED, "AVX2 or AVX-512 present"),  # measured faster on AVX2 too
        ("auto", set(), True, PORTABLE, "neither AVX2 nor AVX-512"),  # e.g. an ARM CPU: not measured
        ("auto", {"avx2", "avx512f", "amx_bf16"}, True, FUSED, "AVX-512 present"),  # no split graphs here
        ("auto", {"avx2", "avx512f", "amx_int8", "amx_bf16"}, True, FUSED, "AVX-512 present"),
        ("auto", {"avx2", "avx512f"}, False, PORTABLE, "export again"),
        (PORTABLE, {"avx2", "avx512f"}, True, PORTABLE, "set in patchtst_runtime"),
        (FUSED, {"avx2"}, True, FUSED, "set in patchtst_runtime"),
    ],
)
def test_the_runtime_is_chosen_from_the_cpu_and_the_export(
    tmp_path: Path, setting: str, sets: set[str], fused_file: bool, runtime: str, why: str
):
    if fused_file:
        (tmp_path / FUSED_ONNX_FILE).write_bytes(b"")
    assert choose_runtime(setting, frozenset(sets), tmp_path)[0] == runtime
    assert why in choose_runtime(setting, frozenset(sets), tmp_path)[1]


def test_an_unknown_runtime_is_refused_with_the_choices(tmp_path: Path):
    with pytest.raises(ArtifactError, match=f"choose auto or one of {PORTABLE}, {FUSED}, {OPENVINO_BF16}"):
        choose_runtime("tensorrt", frozenset({"avx512f"}), tmp_path)


def test_every_runtime_serves_the_same_forecasts(trained: tuple[Path, Path]):
    windows = sample_windows(6, 64, seed=5)
    answers = {}
    for runtime in RUNTIMES if openvino_installed() else (PORTABLE, FUSED):
        _, session = load_patchtst(patchtst_dir(trained[1]), runtime)
        assert session.runtime == runtime
        answers[runtime] = session.run(list(OUTPUTS), {INPUT: windows})
    assert max_difference(answers[FUSED], answers[PORTABLE]) <= MAX_REL_DIFF
    for runtime, answer in answers.items():
        assert problem(runtime, windows, answer, answers[PORTABLE]) is None


@pytest.fixture
def disagreeing(trained: tuple[Path, Path], tmp_path: Path) -> Path:
    """A copy of the export whose fused graph is of other weights: it warms up fine, forecasts otherwise
    (without the split graphs, so that auto picks the fused graph on a BF16 CPU too)."""
    directory = Path(shutil.copytree(patchtst_dir(trained[1]), tmp_path / "export"))
    for name in SPLIT_FILES:
        (directory / name).unlink()
    forecaster, meta = load_forecaster(trained[0])
    with torch.no_grad():  # quantile by quantile: a shift shared by all would cancel out of their spread
        forecaster.head.bias.add_(torch.linspace(0, 1, forecaster.head.bias.numel()))
        forecaster.spread.fill_(1.0)  # the network's answers served, whatever calibration kept of them
        forecaster.alpha.fill_(1.0)
    export_graph(forecaster, meta.context_length, tmp_path / "other.onnx")
    fuse_for_onnxruntime(tmp_path / "other.onnx", directory / FUSED_ONNX_FILE)
    as_exported(directory)  # past the check of its bytes: what the runtime check catches
    return directory


def test_a_fused_graph_that_disagrees_is_refused_when_asked_for(disagreeing: Path):
    with pytest.raises(ArtifactError, match=f"differ from {ONNX_FILE}"):
        load_patchtst(disagreeing, FUSED)


@pytest.mark.skipif(
    not instruction_sets() & FUSED_CPUS, reason="auto picks the fused graph only with AVX2 or AVX-512"
)
def test_under_auto_a_fused_graph_that_disagrees_falls_back_to_the_portable_one(disagreeing: Path):
    _, session = load_patchtst(disagreeing, "auto")
    assert session.runtime == PORTABLE
    assert "fell back" in session.reason and "differ" in session.reason


def test_health_reports_how_patchtst_runs(trained: tuple[Path, Path], tmp_path: Path):
    settings = Settings(
        db_path=tmp_path / "p.db",
        model_repository=trained[1],
        data_dir=tmp_path / "data",
        price_resolve_every_s=0,
        patchtst_runtime=PORTABLE,
    )
    with TestClient(create_app(settings)) as client:
        inference = client.get("/health").json()["components"]["inference"]
    assert inference["patchtst_runtime"] == PORTABLE
    assert inference["patchtst_runtime_reason"] == "set in patchtst_runtime"


def test_the_bench_times_and_judges_every_row(trained: tuple[Path, Path]):
    from benchmarks.patchtst import accuracy, measure, render

    forecaster, meta = load_forecaster(trained[0])
    x = sample_windows(8, meta.context_length, seed=3)
    with torch.no_grad():
        answers = [t.numpy() for t in forecaster(torch.from_numpy(x))]
    reference = {"windows": x, **dict(zip(OUTPUTS, answers, strict=True))}
    sessions = {r: load_patchtst(patchtst_dir(trained[1]), r)[1] for r in RUNTIMES}
    rows = {
        "before (stand-in)": lambda w: sessions[PORTABLE].run(list(OUTPUTS), {INPUT: w}),
        f"{FUSED} ({FUSED_ONNX_FILE})": lambda w: sessions[FUSED].run(list(OUTPUTS), {INPUT: w}),
        "1% off": lambda w: [a * 1.01 for a in sessions[PORTABLE].run(list(OUTPUTS), {INPUT: w})],
    }
    figures = measure(rows, x, runs=8, batch_runs=4)
    for name, call in rows.items():
        figures[name] |= accuracy(call, reference)
    assert all(f["windows_per_s"] > 0 and f["p50_ms"] > 0 for f in figures.values())
    assert figures[f"{FUSED} ({FUSED_ONNX_FILE})"]["max_diff"] <= MAX_REL_DIFF
    assert figures["1% off"]["max_diff"] == pytest.approx(0.01, rel=1e-3)
    result = {"cpu": "test", "batch": 8, "runs": 8, "auto": {"runtime": FUSED, "why": "test"}}
    text = render(result | {"target_windows_per_s": 2500.0, "rows": figures})
    assert "**Before -> after**" in text and f"`{FUSED}`" in text
    assert [line.rsplit("|", 2)[-2].strip() for line in text.splitlines() if line.startswith("| ")][2:] == [
        "yes",
        "yes",
        "no",
    ]


def test_a_damaged_graph_is_refused_by_its_bytes(trained: tuple[Path, Path], tmp_path: Path):
    """The portable graph served unchecked and was the reference: damaged, it served and the sound graphs were
    blamed for disagreeing with it (a review). Damaged, it is refused; a damaged fused graph gives way to it."""
    directory = Path(shutil.copytree(patchtst_dir(trained[1]), tmp_path / "export"))
    assert ONNX_FILE in PatchTSTMeta.load(directory).files
    fused = directory / FUSED_ONNX_FILE
    fused.write_bytes(fused.read_bytes() + b"\0")
    if instruction_sets() & FUSED_CPUS and not (directory / SPLIT_FILES[0]).is_file():
        _, session = load_patchtst(directory, "auto")
        assert session.runtime == PORTABLE and "not the file exported" in session.reason
    with pytest.raises(ArtifactError, match=f"{FUSED_ONNX_FILE} is not the file exported"):
        load_patchtst(directory, FUSED)
    data = directory / f"{ONNX_FILE}.data"
    damaged_file = data if data.is_file() else directory / ONNX_FILE
    damaged_file.write_bytes(damaged_file.read_bytes()[:-1] + b"\1")
    with pytest.raises(ArtifactError, match="is not the file exported"):
        load_patchtst(directory, PORTABLE)


def test_an_export_where_openvino_cannot_compile_the_bf16_graphs_goes_on_without_them(
    trained: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """OpenVINO failing to compile the split graphs in BF16 (seen with oneDNN held below the CPU's instruction
    sets) failed the whole export, where a split that fails its check is dropped and the export goes on."""
    import export.patchtst as exporter

    def cannot_compile(directory: Path, threads: int = 0) -> None:
        raise ArtifactError(f"OpenVINO cannot compile {directory / SPLIT_FILES[1]}: no BF16 kernel")

    monkeypatch.setattr(exporter, "openvino_installed", lambda: True)
    monkeypatch.setattr(exporter, "openvino_bf16", cannot_compile)
    forecaster, meta = load_forecaster(trained[0])
    logged: list[str] = []
    exporter.export_graphs(forecaster, meta.context_length, tmp_path)
    assert "forward" not in vars(forecaster)  # the staged forward was this instance's for the export only
    assert exporter.write_split(forecaster, meta, tmp_path, logged.append) == {}
    assert not [name for name in SPLIT_FILES if (tmp_path / name).exists()]
    assert any(f"no split graphs ({OPENVINO_BF16} will not be offered): OpenVINO cannot" in m for m in logged)


def test_a_gpu_provider_that_does_not_start_gets_the_cpus_choice(trained: tuple[Path, Path]):
    """The portable graph chosen for a GPU that ONNX Runtime did not start, run on the CPU (a review)."""
    from gateway.backends.providers import CUDA

    directory = patchtst_dir(trained[1])
    _, session = load_patchtst(directory, "auto", providers=[CUDA, "CPUExecutionProvider"])
    _, alone = load_patchtst(directory, "auto", providers=["CPUExecutionProvider"])
    assert session.runtime == alone.runtime and "a GPU provider was asked for and did not start" in session.reason


def test_triton_cpu_flavour_refuses_a_named_runtime_that_disagrees_as_the_embedded_backend_does(disagreeing: Path):
    """It served the portable graph instead, with a print (a review); named in the config, it is refused."""
    import json

    from investiq.core.triton_adapters import PatchTST

    args = {"model_repository": str(disagreeing.parent), "model_version": disagreeing.name}
    config = {"parameters": {"runtime": {"string_value": FUSED}}}
    with pytest.raises(ArtifactError, match=f"parameter runtime {FUSED} cannot serve"):
        PatchTST().initialize({**args, "model_config": json.dumps(config)})
    auto = PatchTST()
    auto.initialize({**args, "model_config": json.dumps({"parameters": {}})})
    assert auto.runtime == PORTABLE
