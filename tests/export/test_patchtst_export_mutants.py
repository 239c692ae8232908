"""Kill tests of a mutation audit of the PatchTST export (export/patchtst.py): the graphs written, their validation
against PyTorch (validate, compare, check_shapes), the split graphs' check (write_split), the export into a model
repository (write_export, export_patchtst), the gpu config check (gpu_config_mismatch) and the channel-last
BatchNorm. Each fails with the mutant its docstring names applied, and passes on the code as it is. One export of
an untrained tiny Forecaster (harness/tiny_patchtst.py's TINY) per module gives the graphs; sessions that answer
PyTorch's outputs, altered, stand in for graphs that disagree; nothing trains."""

from __future__ import annotations

import copy
import dataclasses
import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from numpy.typing import NDArray

import export.patchtst as exporter
from export.patchtst import (
    VALIDATION_BATCHES,
    channel_last_batchnorm,
    check_shapes,
    compare,
    export_graphs,
    export_patchtst,
    gpu_config_mismatch,
    sample_windows,
    validate,
    write_export,
    write_split,
)
from harness.tiny_patchtst import TINY, tiny_meta
from investiq.core.errors import ExportError
from investiq.core.patchtst import INPUT, ONNX_FILE, OUTPUTS, PATCHTST, QUANTILE_LEVELS, PatchTSTMeta
from investiq.core.patchtst_runtime import (
    FUSED,
    FUSED_ONNX_FILE,
    MAX_REL_DIFF,
    OPENVINO_BF16,
    PORTABLE,
    SPLIT_FILES,
    openvino_installed,
)
from investiq.core.versions import version_dir
from tests.export.test_model_repository import REPO, graph_of_shapes
from training.forecaster import Forecaster

Answer = list[NDArray[Any]]
GRAPH_FILES = sorted([ONNX_FILE, f"{ONNX_FILE}.data", *SPLIT_FILES])


@dataclasses.dataclass(frozen=True)
class Exported:
    forecaster: Forecaster
    meta: PatchTSTMeta
    directory: Path  # export_graphs' files, never changed: tests copy it
    logger_levels: tuple[int, int]  # torch.onnx's logger level before and after the export


def forecaster_of(seed: int) -> Forecaster:
    """TINY untrained, its head random and every calibration switch on, so that every output reads the network."""
    forecaster = Forecaster(TINY).eval()
    torch.manual_seed(seed)
    with torch.no_grad():
        forecaster.head.weight.normal_(0, 0.05)
        forecaster.head.bias.normal_(0, 0.5)
        forecaster.alpha.fill_(1.0)
        forecaster.slope.fill_(1.0)
    return forecaster


def other_weights(forecaster: Forecaster) -> Forecaster:
    """A copy whose quantiles differ level by level (a shift shared by all would cancel out of their spread)."""
    other = copy.deepcopy(forecaster)
    with torch.no_grad():
        other.head.bias.add_(torch.linspace(0, 1, other.head.bias.numel()))
    return other


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    forecaster = forecaster_of(0)
    meta = tiny_meta(
        trained_until="2020-01-01T00:00:00",
        quantile_levels=list(QUANTILE_LEVELS),
        calibration={"alpha": 1.0, "slope": 1.0, "spread": 1.0},
    )
    directory = tmp_path_factory.mktemp("patchtst-graphs")
    logger = logging.getLogger("torch.onnx")
    before = logger.level
    export_graphs(forecaster, meta.context_length, directory)
    return Exported(forecaster, meta, directory, (before, logger.level))


def copied(exported: Exported, to: Path) -> Path:
    return Path(shutil.copytree(exported.directory, to))


class Altered:
    """A session answering PyTorch's outputs for `forecaster`, each passed through `alter(batch, answer)`."""

    def __init__(self, forecaster: torch.nn.Module, alter: Callable[[int, Answer], Answer]) -> None:
        self.forecaster, self.alter = forecaster, alter

    def run(self, output_names: Sequence[str], feed: dict[str, NDArray[Any]]) -> Answer:
        assert list(output_names) == list(OUTPUTS)
        with torch.no_grad():
            answer = [t.numpy().copy() for t in self.forecaster(torch.from_numpy(feed[INPUT]))]
        return self.alter(len(feed[INPUT]), answer)


def scaled(output: int, factor: float, at: int | None = None) -> Callable[[int, Answer], Answer]:
    """Output number `output` times `factor`, at batch size `at` only (None: at every one)."""

    def alter(batch: int, answer: Answer) -> Answer:
        if at is None or batch == at:
            answer[output] = answer[output] * np.float32(factor)
        return answer

    return alter


def shifted_p_up(by: float) -> Callable[[int, Answer], Answer]:
    def alter(batch: int, answer: Answer) -> Answer:
        answer[2] = answer[2] + np.float32(by)
        return answer

    return alter


# -- compare, check_shapes ---------------------------------------------------------------------------------------


def test_compare_reports_the_worst_difference_over_every_batch_size(exported: Exported) -> None:
    """compare: figures of the largest batch (or VALIDATION_BATCHES = (1,)) only, `min` for `max` across batches,
    or max_rel_diff/quantile_sd/p_up_abs in another order: a difference at batch 3 alone went unreported."""
    assert 3 in VALIDATION_BATCHES
    session = Altered(exported.forecaster, scaled(0, 1 + 5e-5, at=3))
    figures = compare(exported.forecaster, session, exported.meta, PORTABLE)
    assert figures["max_rel_diff"] == pytest.approx(5e-5, rel=0.05)
    assert figures["p_up_abs"] == 0.0
    p_up = compare(exported.forecaster, Altered(exported.forecaster, shifted_p_up(5e-5)), exported.meta, PORTABLE)
    assert p_up["p_up_abs"] == pytest.approx(5e-5, rel=0.05) and p_up["quantile_sd"] == 0.0


def test_compare_refuses_a_graph_off_at_the_largest_batch_alone(exported: Exported) -> None:
    """compare: VALIDATION_BATCHES = (1,), `found is None` for `is not None`, or the disagreement only printed: a
    graph off by 1e-3 at batch 17 passed."""
    largest = max(VALIDATION_BATCHES)
    assert largest > 1
    session = Altered(exported.forecaster, scaled(1, 1 + 1e-3, at=largest))
    with pytest.raises(
        ExportError, match=f"validation of {PORTABLE} failed at batch {largest}, nothing installed"
    ):
        compare(exported.forecaster, session, exported.meta, PORTABLE)


def test_compare_refuses_outputs_of_the_wrong_shape_even_when_their_values_broadcast_equal(
    exported: Exported,
) -> None:
    """compare: check_shapes not called: the median repeated over 63 columns (the legacy exporter's (B, 12, 63)
    for (B, 12, 1)) equals PyTorch's wherever numpy broadcasts them, and passed."""

    def widened(batch: int, answer: Answer) -> Answer:
        answer[0] = np.repeat(answer[0], 63, axis=-1)
        return answer

    with pytest.raises(ExportError, match=r"prediction_outputs at batch 1: ONNX gives \(1, 4, 63\)"):
        compare(exported.forecaster, Altered(exported.forecaster, widened), exported.meta, PORTABLE)


def contract(batch: int, h: int = 4, k: int = len(QUANTILE_LEVELS)) -> Answer:
    return [np.zeros(shape, np.float32) for shape in [(batch, h, 1), (batch, h, k), (batch, h), (batch, 1)]]


def test_check_shapes_refuses_either_side_out_of_the_contract(exported: Exported) -> None:
    """check_shapes: `and` for `or`, PyTorch's shapes not checked, the volatility expected [B, H], or K one less
    than the levels: a wrong shape on one side passed, or the right ones were refused."""
    check_shapes(contract(3), contract(3), exported.meta, 3)
    for wrong in (0, 1, 2, 3):
        bad = contract(3)
        bad[wrong] = np.zeros((*bad[wrong].shape[:-1], bad[wrong].shape[-1] + 1), np.float32)
        with pytest.raises(ExportError, match=f"{OUTPUTS[wrong]} at batch 3"):
            check_shapes(bad, contract(3), exported.meta, 3)
        with pytest.raises(ExportError, match=f"{OUTPUTS[wrong]} at batch 3"):
            check_shapes(contract(3), bad, exported.meta, 3)


# -- validate -----------------------------------------------------------------------------------------------------


def test_validate_passes_the_graph_of_the_weights_and_refuses_other_weights_naming_its_runtime(
    exported: Exported,
) -> None:
    """validate: the runtime named FUSED for model.onnx (PORTABLE for the fused graph): the refusal named the wrong
    graph."""
    assert 0 < validate(exported.forecaster, exported.directory / ONNX_FILE, exported.meta) <= MAX_REL_DIFF
    with pytest.raises(ExportError, match=f"validation of {PORTABLE} failed at batch 1"):
        validate(other_weights(exported.forecaster), exported.directory / ONNX_FILE, exported.meta)


def test_validate_refuses_a_graph_whose_outputs_are_in_another_order(exported: Exported, tmp_path: Path) -> None:
    """validate: the names compared as sets: a graph answering by name passed with its outputs out of the
    contract's order, which servers that read them by position would mislabel."""
    model = onnx.load(str(exported.directory / ONNX_FILE))
    outputs = list(model.graph.output)
    del model.graph.output[:]
    model.graph.output.extend([outputs[1], outputs[0], *outputs[2:]])
    onnx.save(model, str(tmp_path / ONNX_FILE))
    with pytest.raises(ExportError, match="graph has inputs/outputs"):
        validate(exported.forecaster, tmp_path / ONNX_FILE, exported.meta)


# -- export_graphs, _onnx_export, export_graph --------------------------------------------------------------------


def test_export_graphs_leaves_only_the_graph_files_the_weights_beside_model_onnx_alone(exported: Exported) -> None:
    """export_graphs: staged.onnx not removed, the staged graph written with external data (its .data file left),
    or the external data written for the split graphs instead of model.onnx: files no server reads in a version
    directory, or a graph not in the form the digests and servers expect."""
    assert sorted(p.name for p in exported.directory.iterdir()) == GRAPH_FILES
    for name in SPLIT_FILES:
        graph = onnx.load(str(exported.directory / name), load_external_data=False)
        assert not [t.name for t in graph.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    model = onnx.load(str(exported.directory / ONNX_FILE), load_external_data=False)
    assert [t.name for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]


def test_the_export_puts_the_torch_onnx_logger_level_back(exported: Exported) -> None:
    """_onnx_export: the level not restored: every torch.onnx message below ERROR silenced for the process."""
    assert exported.logger_levels[1] == exported.logger_levels[0]


def patchtst_norms(forecaster: torch.nn.Module) -> list[torch.nn.Module]:
    from transformers.models.patchtst.modeling_patchtst import PatchTSTBatchNorm

    return [m for m in forecaster.modules() if isinstance(m, PatchTSTBatchNorm)]


@pytest.mark.parametrize("channel_last", [True, False])
def test_export_graph_exports_the_batchnorm_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, channel_last: bool
) -> None:
    """export_graph: channel_last ignored, or channel_last_batchnorm's `enabled` ignored: the graph before issue 18
    (benchmarks) was exported channel-last too. The exporter is replaced by one that records whether the norms'
    forward was shadowed."""
    forecaster = forecaster_of(1)
    seen: list[bool] = []

    def record(module: torch.nn.Module, *_: Any, **__: Any) -> None:
        seen.append(all("forward" in vars(norm) for norm in patchtst_norms(module)))

    monkeypatch.setattr(exporter, "_onnx_export", record)
    exporter.export_graph(forecaster, TINY.context_length, tmp_path / ONNX_FILE, channel_last=channel_last)
    assert seen == [channel_last] and patchtst_norms(forecaster)
    assert not [norm for norm in patchtst_norms(forecaster) if "forward" in vars(norm)]


def test_channel_last_batchnorm_keeps_eps_where_the_variance_is_small() -> None:
    """_affine_norm: eps dropped from sqrt(var + eps): the same numbers where the running variance is near 1, not
    where it is near eps."""
    forecaster = forecaster_of(2)
    for norm in patchtst_norms(forecaster):
        norm.batchnorm.running_var.fill_(1e-5)  # type: ignore[operator, union-attr]
        norm.batchnorm.running_mean.fill_(0.01)  # type: ignore[operator, union-attr]
    x = torch.from_numpy(sample_windows(3, TINY.context_length, seed=4))
    with torch.no_grad():
        want = forecaster(x)
        with channel_last_batchnorm(forecaster):
            got = forecaster(x)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-4, atol=1e-6)


# -- write_split --------------------------------------------------------------------------------------------------


@pytest.mark.skipif(not openvino_installed(), reason="the BF16 check runs where OpenVINO is installed")
def test_write_split_records_the_fp32_and_bf16_figures(exported: Exported, tmp_path: Path) -> None:
    """write_split: `openvino_installed()` inverted (BF16 not checked where OpenVINO is), P(up)'s BF16 figure
    dropped, or the pre graph cut without sigma (every split removed)."""
    out = copied(exported, tmp_path / "out")
    figures = write_split(exported.forecaster, exported.meta, out, lambda _: None)
    assert set(figures) == {"max_rel_diff_split", "openvino_bf16_quantile_sd", "openvino_bf16_p_up_abs"}
    assert figures["max_rel_diff_split"] <= MAX_REL_DIFF
    assert sorted(p.name for p in out.iterdir()) == GRAPH_FILES


def test_write_split_without_openvino_checks_fp32_only(
    exported: Exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """write_split: `openvino_installed()` inverted: OpenVINO asked for where it is not installed."""
    monkeypatch.setattr(exporter, "openvino_installed", lambda: False)
    logged: list[str] = []
    figures = write_split(exported.forecaster, exported.meta, copied(exported, tmp_path / "out"), logged.append)
    assert set(figures) == {"max_rel_diff_split"}
    assert any("split graphs not checked in BF16: no openvino here" in m for m in logged)


def test_write_split_holds_the_fp32_chain_to_the_fp32_bound(
    exported: Exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """write_split: the fp32 chain compared at openvino-bf16's bound: a chain whose P(up) is 0.005 off (50 times
    MAX_REL_DIFF, within BF16_MAX_P_UP) kept its split graphs."""
    monkeypatch.setattr(exporter, "_ort_chain", lambda _: Altered(exported.forecaster, shifted_p_up(0.005)))
    out = copied(exported, tmp_path / "out")
    logged: list[str] = []
    assert write_split(exported.forecaster, exported.meta, out, logged.append) == {}
    assert not [name for name in SPLIT_FILES if (out / name).exists()]
    assert any(f"no split graphs ({OPENVINO_BF16} will not be offered)" in m for m in logged)


# -- write_export -------------------------------------------------------------------------------------------------


@pytest.fixture
def quick_export(exported: Exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """write_export's steps that take seconds replaced: export_graphs copies the module's graphs, the fused graph
    is model.onnx in one file, the split check reports a figure. Returns the folder holding that fused graph."""
    fused = tmp_path / "fused"
    fused.mkdir()
    onnx.save(onnx.load(str(exported.directory / ONNX_FILE)), str(fused / FUSED_ONNX_FILE))

    def graphs(forecaster: Any, context: int, out: Path) -> None:
        shutil.copytree(exported.directory, out, dirs_exist_ok=True)

    def fuse(source: Path, target: Path) -> dict[str, int]:
        shutil.copy(fused / FUSED_ONNX_FILE, target)
        return {"mha": 1}

    monkeypatch.setattr(exporter, "export_graphs", graphs)
    monkeypatch.setattr(exporter, "fuse_for_onnxruntime", fuse)
    monkeypatch.setattr(exporter, "write_split", lambda *_: {"max_rel_diff_split": 1e-7})
    return fused


def test_write_export_records_every_validation_and_writes_the_triton_entry_point(
    exported: Exported, quick_export: Path, tmp_path: Path
) -> None:
    """write_export: the split graphs' figures not recorded, the validation not put in artifact.json, or model.py
    (Triton's cpu flavour) not written."""
    out = tmp_path / "out"
    out.mkdir()
    meta = write_export(exported.forecaster, exported.meta, out, lambda _: None)
    saved = PatchTSTMeta.load(out)
    assert saved.validation == meta.validation
    assert set(saved.validation) == {"max_rel_diff", "opset", "max_rel_diff_fused", "max_rel_diff_split"}
    assert 0 < saved.validation["max_rel_diff"] <= MAX_REL_DIFF and saved.validation["opset"] == exporter.OPSET
    assert (out / "model.py").is_file()


def test_write_export_refuses_a_portable_graph_that_disagrees(
    exported: Exported, quick_export: Path, tmp_path: Path
) -> None:
    """write_export: model.onnx not validated: its disagreement was found in the fused graph only, if at all."""
    with pytest.raises(ExportError, match=f"validation of {PORTABLE} failed"):
        write_export(other_weights(exported.forecaster), exported.meta, tmp_path, lambda _: None)


def test_write_export_refuses_a_fused_graph_that_disagrees(
    exported: Exported, quick_export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """write_export: the fused graph not validated: a fusion that changed the numbers was installed."""
    model = onnx.load(str(quick_export / FUSED_ONNX_FILE))
    [bias] = [t for t in model.graph.initializer if t.name == "head.bias"]
    values = onnx.numpy_helper.to_array(bias) + np.linspace(0, 1, int(np.prod(bias.dims)), dtype=np.float32)
    bias.CopyFrom(onnx.numpy_helper.from_array(values.reshape(tuple(bias.dims)), "head.bias"))
    onnx.save(model, str(quick_export / FUSED_ONNX_FILE))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ExportError, match=f"validation of {FUSED} failed"):
        write_export(exported.forecaster, exported.meta, out, lambda _: None)


# -- export_patchtst ----------------------------------------------------------------------------------------------


@pytest.fixture
def loaded(exported: Exported, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exporter, "load_forecaster", lambda _: (exported.forecaster, exported.meta))


def test_a_failed_export_leaves_no_version_directory(
    exported: Exported, loaded: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """export_patchtst: written straight into the version directory rather than `staged`: a validation that failed
    left a half-written version 1 where Triton and the embedded backend look."""

    def failing(forecaster: Any, meta: PatchTSTMeta, out: Path, log: Any) -> PatchTSTMeta:
        (out / ONNX_FILE).write_bytes(b"half")
        raise ExportError("validation of onnxruntime failed at batch 1, nothing installed")

    monkeypatch.setattr(exporter, "write_export", failing)
    repository = tmp_path / "repo"
    with pytest.raises(ExportError, match="nothing installed"):
        export_patchtst(tmp_path / "model", repository, log=lambda _: None)
    assert not version_dir(repository, PATCHTST, 1).exists()
    assert not [p.name for p in (repository / PATCHTST).iterdir() if not p.name.startswith(".")]


def test_export_patchtst_installs_the_validated_meta_after_the_retired_numbers_and_warns_of_the_gpu_config(
    exported: Exported, loaded: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """export_patchtst: `retired` not passed to number_for (a retired number given again), the meta returned
    without its validation, the served-as reason inverted, or the gpu config's warning logged only when there is
    none."""
    validated = dataclasses.replace(exported.meta, validation={"max_rel_diff": 1e-6})

    def writes(forecaster: Any, meta: PatchTSTMeta, out: Path, log: Any) -> PatchTSTMeta:
        graph_of_shapes(out / ONNX_FILE, TINY.context_length, TINY.prediction_length, len(QUANTILE_LEVELS))
        return validated

    monkeypatch.setattr(exporter, "write_export", writes)
    repository, retired = tmp_path / "repo", tmp_path / "retired"
    (retired / PATCHTST / "1").mkdir(parents=True)
    (repository / PATCHTST / "configs").mkdir(parents=True)
    shutil.copy(REPO / PATCHTST / "configs" / "gpu.pbtxt", repository / PATCHTST / "configs" / "gpu.pbtxt")
    logged: list[str] = []
    meta, number = export_patchtst(tmp_path / "model", repository, log=logged.append, retired=retired)
    assert (meta, number) == (validated, 2)
    assert (version_dir(repository, PATCHTST, 2) / ONNX_FILE).is_file()
    [installed] = [m for m in logged if m.startswith("installed")]
    assert installed.endswith(f"serves as {PATCHTST})"), installed
    assert any(m.startswith("warning: ") and "past_values dims: [ 64, 1 ]" in m for m in logged), logged


# -- gpu_config_mismatch ------------------------------------------------------------------------------------------


def gpu_config(tmp_path: Path, edit: Callable[[str], str]) -> Path:
    """A repository whose gpu config is the shipped one, edited."""
    config = tmp_path / "repo" / PATCHTST / "configs" / "gpu.pbtxt"
    config.parent.mkdir(parents=True)
    config.write_text(edit((REPO / PATCHTST / "configs" / "gpu.pbtxt").read_text()))
    return tmp_path / "repo"


def default_graph(path: Path) -> Path:
    return graph_of_shapes(path, 512, 12, len(QUANTILE_LEVELS))


def test_a_config_declaring_fewer_dims_than_the_graph_does_not_fit(tmp_path: Path) -> None:
    """gpu_config_mismatch: the rank not compared: [ 12 ] for the median's [B, 12, 1] passed, as zip stops at the
    shorter."""
    repo = gpu_config(tmp_path, lambda text: text.replace("dims: [ 12, 1 ]", "dims: [ 12 ]"))
    warning = gpu_config_mismatch(repo, default_graph(tmp_path / "g.onnx"))
    assert warning is not None and "prediction_outputs dims: [ 12, 1 ]" in warning, warning


def test_a_size_the_graph_leaves_symbolic_is_not_held_against_the_config(tmp_path: Path) -> None:
    """gpu_config_mismatch: the graph's symbolic sizes compared too: the backend compares fixed sizes only."""
    path = default_graph(tmp_path / "g.onnx")
    model = onnx.load(str(path))
    model.graph.output[1].type.tensor_type.shape.dim[2].dim_param = "levels"
    onnx.save(model, str(path))
    assert gpu_config_mismatch(gpu_config(tmp_path, lambda text: text), path) is None


def test_the_warm_up_must_be_the_contexts_length_and_may_be_absent(tmp_path: Path) -> None:
    """gpu_config_mismatch: the warm-up sets compared the other way round: a config without warm-up was refused,
    and one warming up at the context and at another length passed."""
    start = "model_warmup ["
    no_warmup = gpu_config(tmp_path / "a", lambda text: text[: text.index(start)])
    assert gpu_config_mismatch(no_warmup, default_graph(tmp_path / "g.onnx")) is None
    two = gpu_config(
        tmp_path / "c",
        lambda text: text.replace("dims: [ 512, 1 ], random_data", "dims: [ 256, 1 ], random_data", 1),
    )
    warning = gpu_config_mismatch(two, default_graph(tmp_path / "g.onnx"))
    assert warning is not None and "model_warmup dims: [ 512, 1 ] (it warms up with 256, 512)" in warning, warning
