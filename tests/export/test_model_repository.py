"""The committed Triton configs agree with the exported ONNX graphs and with each other."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import onnx
import pytest
from google.protobuf import text_format

from export.finbert import export_finbert, stamp_tokenizer
from harness import tiny_bert
from investiq.core.finbert import FINBERT_MODEL, FINBERT_TOKENIZER, TOKENIZER, TOKENIZER_STAMP
from investiq.ops.triton_server import copy_configs

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")
REPO = Path(__file__).resolve().parents[2] / "model_repository"
ONNX_TYPES = {onnx.TensorProto.FLOAT: "TYPE_FP32", onnx.TensorProto.INT64: "TYPE_INT64"}


def config(name: str) -> Any:
    return text_format.Parse((REPO / name / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


def tensors(items: Any) -> dict[str, tuple[str, list[int]]]:
    return {t.name: (model_config_pb2.DataType.Name(t.data_type), list(t.dims)) for t in items}


def graph(path: Path) -> tuple[dict[str, tuple[str, int]], dict[str, tuple[str, int]]]:
    """name -> (Triton dtype, rank) of the graph's inputs and outputs."""
    model = onnx.load(str(path))

    def side(values: Any) -> dict[str, tuple[str, int]]:
        return {
            v.name: (ONNX_TYPES[v.type.tensor_type.elem_type], len(v.type.tensor_type.shape.dim)) for v in values
        }

    return side(model.graph.input), side(model.graph.output)


def check(name: str, onnx_file: Path) -> None:
    """Config tensors = graph tensors: same names and dtypes; config rank + batch axis = graph rank."""
    cfg = config(name)
    ins, outs = graph(onnx_file)
    batch = 1 if cfg.max_batch_size > 0 else 0
    for declared, actual in ((tensors(cfg.input), ins), (tensors(cfg.output), outs)):
        assert set(declared) == set(actual), (name, declared, actual)
        for tensor, (dtype, dims) in declared.items():
            assert (dtype, len(dims) + batch) == actual[tensor], (name, tensor)


def test_finbert_model_config_matches_the_exported_graphs(tmp_path: Path):
    export_finbert(str(tiny_bert.build(tmp_path / "hf")), tmp_path / "repo", log=lambda _: None)
    for file in ("model.onnx", "model.int8.onnx"):
        check("finbert_model", tmp_path / "repo" / "finbert_model" / "1" / file)


def test_patchtst_config_matches_the_exported_graph(trained: tuple[Path, Path]):
    from gateway.backends.embedded import patchtst_dir

    check("patchtst", patchtst_dir(trained[1]) / "model.onnx")


@pytest.mark.parametrize("flavour", ["config.pbtxt", "configs/gpu.pbtxt"])
def test_patchtst_configs_declare_the_contracts_tensors_in_its_order(flavour: str):
    """Both flavours name exactly core's INPUT and OUTPUTS, outputs in the graph's order, so that a tensor
    added to the contract cannot be forgotten here (Triton would refuse to return it)."""
    from investiq.core.patchtst import INPUT, OUTPUTS

    cfg = text_format.Parse((REPO / "patchtst" / flavour).read_text(), model_config_pb2.ModelConfig())
    assert [t.name for t in cfg.input] == [INPUT]
    assert [t.name for t in cfg.output] == list(OUTPUTS)
    assert all(model_config_pb2.DataType.Name(t.data_type) == "TYPE_FP32" for t in [*cfg.input, *cfg.output])


@pytest.mark.parametrize("flavour", ["config.pbtxt", "configs/gpu.pbtxt"])
def test_finbert_configs_serve_the_one_version_every_reader_loads(flavour: str):
    """Triton served the newest folder and the gateway too, while export, `up` and the tokenizer step used
    version 1: a version 2 dropped beside it ran with version 1's tokenizer (a review)."""
    from investiq.core.finbert import FINBERT_VERSION, finbert_dir

    cfg = text_format.Parse((REPO / "finbert_model" / flavour).read_text(), model_config_pb2.ModelConfig())
    assert list(cfg.version_policy.specific.versions) == [FINBERT_VERSION]
    assert finbert_dir(Path("repo")) == Path("repo") / "finbert_model" / str(FINBERT_VERSION)


def test_the_ensemble_wires_its_steps_by_their_declared_tensors():
    """The tensors the gateway sends and reads are core's (TEXT_INPUT, PROBABILITIES), not literals of its own."""
    from investiq.core.finbert import PROBABILITIES, TEXT_INPUT

    ensemble = config("finbert")
    assert ensemble.platform == "ensemble"
    assert tensors(ensemble.input) == {TEXT_INPUT: ("TYPE_STRING", [1])}
    assert tensors(ensemble.output) == {PROBABILITIES: ("TYPE_FP32", [3])}
    available = set(tensors(ensemble.input))
    for step in ensemble.ensemble_scheduling.step:
        model = config(step.model_name)
        assert model.max_batch_size == ensemble.max_batch_size, step.model_name
        assert set(step.input_map) == set(tensors(model.input)), step.model_name
        assert set(step.input_map.values()) <= available, step.model_name
        assert set(step.output_map) == set(tensors(model.output)), step.model_name
        available |= set(step.output_map.values())
    assert PROBABILITIES in available
    assert (REPO / "finbert" / "1").is_dir()  # Triton needs the ensemble's (empty) version directory


def test_the_gateway_never_sends_triton_a_batch_larger_than_its_configs_allow():
    from investiq.core.settings import Settings

    def upper(field: str) -> int:
        return next(int(m.le) for m in Settings.model_fields[field].metadata if hasattr(m, "le"))

    assert upper("sentiment_batch_size") == config("finbert").max_batch_size
    assert upper("price_batch_size") == config("patchtst").max_batch_size


def graph_of_shapes(path: Path, context: int, horizon: int, levels: int) -> Path:
    """An ONNX graph (no nodes: only its interface is read) with PatchTST's tensors at these sizes, as the export
    makes them: a symbolic batch axis, every other size fixed."""
    from investiq.core.patchtst import INPUT, OUTPUTS

    shapes = dict(zip(OUTPUTS, ([horizon, 1], [horizon, levels], [horizon], [1]), strict=True))

    def tensor(name: str, dims: list[int]) -> Any:
        return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["batch", *dims])

    outputs = [tensor(name, dims) for name, dims in shapes.items()]
    onnx.save(
        onnx.helper.make_model(onnx.helper.make_graph([], "g", [tensor(INPUT, [context, 1])], outputs)), path
    )
    return path


def test_the_gpu_config_fits_a_graph_of_the_default_sizes_as_tritons_onnxruntime_backend_checks(tmp_path: Path):
    """Triton's ONNX Runtime backend loads a graph only where the config's dims equal the graph's fixed sizes; the
    gpu flavour declared -1 for context, horizon and quantile count, and PatchTST never loaded (a review)."""
    from export.patchtst import gpu_config_mismatch
    from investiq.core.patchtst import QUANTILE_LEVELS, TrainConfig

    fields: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    sizes = (int(fields["context_length"]), int(fields["prediction_length"]), len(QUANTILE_LEVELS))
    assert gpu_config_mismatch(REPO, graph_of_shapes(tmp_path / "g.onnx", *sizes)) is None
    other = gpu_config_mismatch(REPO, graph_of_shapes(tmp_path / "h.onnx", 512, 24, len(QUANTILE_LEVELS)))
    assert other is not None and "prediction_outputs dims: [ 24, 1 ]; quantiles dims: [ 24, 7 ]" in other, other


def test_an_export_that_does_not_fit_the_gpu_config_names_the_lines_to_change(
    trained: tuple[Path, Path], tmp_path: Path
):
    """The tiny model's real export (context 64, horizon 4): every tensor the config sizes otherwise, and the
    warm-up, are named with the dims to set; a config set so fits."""
    from export.patchtst import gpu_config_mismatch
    from gateway.backends.embedded import patchtst_dir

    graph = patchtst_dir(trained[1]) / "model.onnx"
    warning = gpu_config_mismatch(REPO, graph)
    assert warning is not None and "gpu.pbtxt does not fit this model's graph" in warning, warning
    for wanted in (
        "past_values dims: [ 64, 1 ]",
        "prediction_outputs dims: [ 4, 1 ]",
        "quantiles dims: [ 4, 7 ]",
        "probability_up dims: [ 4 ]",
        "model_warmup dims: [ 64, 1 ] (it warms up with 512)",
    ):
        assert wanted in warning, (wanted, warning)
    assert "volatility" not in warning
    repo = tmp_path / "repo"
    text = (REPO / "patchtst" / "configs" / "gpu.pbtxt").read_text()
    for old, new in (("512, 1", "64, 1"), ("12, 1", "4, 1"), ("12, 7", "4, 7"), ("[ 12 ]", "[ 4 ]")):
        text = text.replace(old, new)
    (repo / "patchtst" / "configs").mkdir(parents=True)
    (repo / "patchtst" / "configs" / "gpu.pbtxt").write_text(text)
    assert gpu_config_mismatch(repo, graph) is None


def test_an_export_stamps_the_tokenizer_step_only_when_the_vocabulary_changes(tmp_path: Path):
    """Triton reloads a model only when its directory changed: the tokenizer step's stamp is what changes when
    the vocabulary it reads from finbert_model/1 does (and only then: no needless reload)."""
    repo = tmp_path / "repo"
    copy_configs(repo)
    vocabulary = repo / FINBERT_MODEL / "1" / TOKENIZER
    vocabulary.parent.mkdir(parents=True)
    stamp = repo / FINBERT_TOKENIZER / "1" / TOKENIZER_STAMP
    vocabulary.write_text('{"vocab": 1}')
    stamp_tokenizer(repo)
    first = stamp.read_text()
    assert first == hashlib.sha256(b'{"vocab": 1}').hexdigest() + "\n"
    os.utime(stamp, ns=(0, 0))
    stamp_tokenizer(repo)  # the same vocabulary exported again
    assert stamp.stat().st_mtime_ns == 0
    vocabulary.write_text('{"vocab": 2}')
    stamp_tokenizer(repo)
    assert stamp.read_text() != first and stamp.stat().st_mtime_ns > 0
    assert [p.name for p in stamp.parent.iterdir() if p.name.startswith(".")] == []  # no temporary file left

    bare = tmp_path / "bare"  # a repository without the Triton configs: no step to tell
    (bare / FINBERT_MODEL / "1").mkdir(parents=True)
    (bare / FINBERT_MODEL / "1" / TOKENIZER).write_text("{}")
    stamp_tokenizer(bare)
    assert not (bare / FINBERT_TOKENIZER).exists()


def test_a_local_stamp_of_the_checkout_is_not_copied_into_another_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The checkout's finbert_tokenizer/1 holds a stamp once FinBERT is exported into it: copied with the configs,
    it would describe the other repository's vocabulary wrongly, and an export of that vocabulary would then not
    stamp (nothing changed) and Triton would keep the step it had."""
    import investiq.ops.triton_server as triton_server

    committed = Path(shutil.copytree(REPO, tmp_path / "committed", ignore=shutil.ignore_patterns("*.onnx*")))
    (committed / FINBERT_TOKENIZER / "1" / TOKENIZER_STAMP).write_text("0" * 64 + "\n")
    monkeypatch.setattr(triton_server, "COMMITTED", committed)
    copy_configs(tmp_path / "repo")
    assert (tmp_path / "repo" / FINBERT_TOKENIZER / "1" / "model.py").is_file()
    assert not (tmp_path / "repo" / FINBERT_TOKENIZER / "1" / TOKENIZER_STAMP).exists()


def test_exports_without_a_triton_config_are_given_the_checkouts(tmp_path: Path):
    """`up` or `export` into a repository outside the checkout wrote no config.pbtxt: Triton guessed one, found no
    onnxruntime backend in the pip server, and `triton start` said ready with every model failed (a review). Each
    export without one gets the checkout's, FinBERT's the ensemble's steps; a config already there stays."""
    from investiq.ops.triton_server import COMMITTED, configured

    repo = tmp_path / "repo"
    for name in ("patchtst", "finbert_model"):
        (repo / name / "1").mkdir(parents=True)
    assert configured(repo) == ["finbert_model", "patchtst", "finbert", "finbert_tokenizer", "finbert_postprocess"]
    assert (repo / "patchtst" / "config.pbtxt").read_text() == (
        COMMITTED / "patchtst" / "config.pbtxt"
    ).read_text()
    assert (repo / "finbert_tokenizer" / "1").is_dir() and (repo / "patchtst" / "configs").is_dir()
    (repo / "patchtst" / "config.pbtxt").write_text("# an operator's own\n")
    assert configured(repo) == []
    assert (repo / "patchtst" / "config.pbtxt").read_text() == "# an operator's own\n"
