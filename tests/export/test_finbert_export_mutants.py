"""Kill tests of a mutation audit of FinBERT's export (export/finbert.py, export/finbert_variants.py,
export/finbert_graph.py): each fails with the mutant its docstring names applied, and passes on the code as it is.
The tiny BERT (harness/tiny_bert.py) is exported once for the module without its INT8 graphs (seconds, where the
other runtimes' graphs take tens); the other runtimes' step runs with stand-in builders and checks, and the
quantizers run on a hand-made two-node graph (a MatMul and an Add)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import onnx
import onnxruntime.quantization
import pytest
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

import export.finbert as finbert_export
from export.finbert import _session, export_finbert, labels_of, other_runtimes, validate
from export.finbert_graph import cls_only_applies
from export.finbert_variants import fused_ops, quantize_int8, quantize_qdq
from harness import tiny_bert
from investiq.core.errors import ArtifactError, ExportError
from investiq.core.finbert import (
    FINBERT_MODEL,
    FINBERT_TOKENIZER,
    TOKENIZER,
    TOKENIZER_STAMP,
    VARIANTS,
    Encoder,
    FinbertMeta,
    finbert_dir,
)
from investiq.ops.triton_server import copy_configs
from training.finbert import load_pretrained

FEATURES, CLASSES = 4, 3  # of the hand-made graph: x [n, 4] @ w [4, 3] + b -> logits [n, 3]


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny BERT exported with the fp32 graph alone (`--no-quantize`) into a repository holding the committed
    Triton configs: (its Hugging Face directory, the repository)."""
    root = tmp_path_factory.mktemp("finbert-plain")
    source, repo = tiny_bert.build(root / "hf"), root / "repo"
    copy_configs(repo)
    export_finbert(str(source), repo, quantize=False, log=lambda _: None)
    return source, repo


@pytest.fixture(scope="module")
def model(plain: tuple[Path, Path]) -> Any:
    return load_pretrained(str(plain[0]))[0]


def write_graph(path: Path, output: str = "logits", inputs: tuple[str, ...] = ("x",)) -> Path:
    """A float graph `inputs[0]` [n, 4] -> MatMul -> Add -> `output` [n, 3] (other inputs unused)."""
    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.normal(size=(FEATURES, CLASSES)).astype(np.float32), "w")
    bias = numpy_helper.from_array(np.ones(CLASSES, np.float32), "b")
    nodes = [helper.make_node("MatMul", [inputs[0], "w"], ["h"]), helper.make_node("Add", ["h", "b"], [output])]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n", FEATURES]) for name in inputs],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["n", CLASSES])],
        [weights, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def features(texts: list[str]) -> dict[str, NDArray[np.float32]]:
    """A stand-in encoder of the hand-made graph: one row of features per text."""
    return {"x": np.random.default_rng(len(texts)).normal(size=(len(texts), FEATURES)).astype(np.float32)}


# -- labels_of ----------------------------------------------------------------------------------------------------


def test_labels_are_the_models_id2label_in_id_order_lower_cased() -> None:
    """finbert.py:labels_of, `.lower()` dropped (a model saying "Positive" served a label the gateway does not
    know), the order taken from sorted names instead of the ids, or `range(num_labels - 1)`."""
    config = SimpleNamespace(id2label={2: "Negative", 0: "NEUTRAL", 1: "positive"}, num_labels=3)
    assert labels_of(SimpleNamespace(config=config)) == ["neutral", "positive", "negative"]


# -- export_finbert -----------------------------------------------------------------------------------------------


def test_a_tokenizer_that_saves_no_tokenizer_json_installs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """finbert.py:export_finbert, the `tokenizer.json` check dropped: a slow tokenizer's vocab.txt alone was
    installed, which the serving Encoder cannot read."""

    class SlowTokenizer:
        def save_pretrained(self, directory: Path) -> None:
            (Path(directory) / "vocab.txt").write_text("[PAD]\n")

    config = SimpleNamespace(
        id2label={0: "positive", 1: "negative", 2: "neutral"}, num_labels=3, num_hidden_layers=1, model_type="x"
    )
    monkeypatch.setattr(
        finbert_export, "load_pretrained", lambda _: (SimpleNamespace(config=config), SlowTokenizer())
    )
    repo = tmp_path / "repo"
    with pytest.raises(ExportError, match=f"did not save a {TOKENIZER}"):
        export_finbert("slow", repo, log=lambda _: None)
    assert list((repo / FINBERT_MODEL).iterdir()) == []  # nothing installed, no staging left


def test_an_export_records_the_models_length_and_stamps_the_tokenizer_step(plain: tuple[Path, Path]) -> None:
    """finbert.py:export_finbert, `max_length` the validation's 64 tokens instead of the model's positions (the
    gateway cut texts at 64), or the `stamp_tokenizer` call dropped (Triton's tokenizer step kept the old
    vocabulary after an export of another)."""
    import hashlib

    _, repo = plain
    directory = finbert_dir(repo)
    assert FinbertMeta.load(directory).max_length == 128  # tiny_bert's max_position_embeddings
    stamp = repo / FINBERT_TOKENIZER / "1" / TOKENIZER_STAMP
    assert stamp.read_text() == hashlib.sha256((directory / TOKENIZER).read_bytes()).hexdigest() + "\n"


# -- validate, _session -------------------------------------------------------------------------------------------


def test_a_graph_that_differs_only_past_64_positions_is_refused(
    plain: tuple[Path, Path], model: Any, tmp_path: Path
) -> None:
    """finbert.py:validate, the Encoder cut at the export's 64 tokens instead of the model's positions: a graph
    wrong on the positions only long texts reach passed."""
    broken = Path(shutil.copytree(finbert_dir(plain[1]), tmp_path / "broken"))
    graph = onnx.load(str(broken / VARIANTS["fp32"]))
    (table,) = [i for i in graph.graph.initializer if i.name.endswith("position_embeddings.weight")]
    rows = numpy_helper.to_array(table).copy()
    rows[64:] += np.random.default_rng(0).normal(size=rows[64:].shape)  # not a constant: LayerNorm removes one
    table.CopyFrom(numpy_helper.from_array(rows, table.name))
    onnx.save(graph, str(broken / VARIANTS["fp32"]))
    with pytest.raises(ExportError, match="validation failed, nothing installed"):
        validate(model, broken, "fp32")


def test_logits_of_another_shape_are_refused_by_name(plain: tuple[Path, Path], model: Any, tmp_path: Path) -> None:
    """finbert.py:validate, the shape check dropped: a graph of two labels for a three-label model failed on numpy
    broadcasting, not with the export's error."""
    directory = Path(shutil.copytree(finbert_dir(plain[1]), tmp_path / "two"))
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "s"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["b", "s"])
    starts, ends, axes = (numpy_helper.from_array(np.array([v]), n) for v, n in ((0, "s0"), (2, "s1"), (1, "ax")))
    nodes = [
        helper.make_node("Slice", ["input_ids", "s0", "s1", "ax"], ["first"]),
        helper.make_node("Cast", ["first"], ["logits"], to=TensorProto.FLOAT),
    ]
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", 2])
    graph = helper.make_graph(nodes, "two", [ids, mask], [out], [starts, ends, axes])
    two = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    two.ir_version = 9
    onnx.save(two, str(directory / VARIANTS["fp32"]))
    with pytest.raises(ExportError, match=r"fp32 logits have shape \(\d+, 2\), PyTorch gives \(\d+, 3\)"):
        validate(model, directory, "fp32")


def test_a_graph_with_other_tensor_names_is_refused_and_the_right_ones_pass(tmp_path: Path) -> None:
    """finbert.py:_session, the names check dropped (ONNX Runtime's own error instead of the export's), or the
    graph's inputs compared unsorted (every graph refused)."""
    write_graph(tmp_path / "bad" / VARIANTS["int8"], output="probs", inputs=("input_ids", "attention_mask"))
    with pytest.raises(ExportError, match=r"int8 graph has inputs/outputs .*'probs'.* expected"):
        _session(tmp_path / "bad", "int8")
    write_graph(tmp_path / "good" / VARIANTS["int8"], inputs=("input_ids", "attention_mask"))
    assert [o.name for o in _session(tmp_path / "good", "int8").get_outputs()] == ["logits"]


# -- other_runtimes -----------------------------------------------------------------------------------------------


class Figures:
    """A stand-in Check: what other_runtimes reads of one."""

    def __init__(self, name: str) -> None:
        self.name = name

    def figures(self) -> dict[str, Any]:
        return {"checked": self.name}

    def __str__(self) -> str:
        return f"{self.name} ok"


@pytest.fixture
def runtimes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., tuple[dict[str, Any], list[str]]]:
    """other_runtimes with stand-in builders and checks: call it with `fused` (what building the fused graph
    does), `openvino` (installed or not) and `refuse` (runtime name -> the error its check raises); it returns
    (its results, [names validated, then the lines logged])."""

    def call(
        fused: Callable[..., object], openvino: bool = False, refuse: dict[str, Exception] | None = None
    ) -> tuple[dict[str, Any], list[str]]:
        seen: list[str] = []

        def check(model: Any, directory: Path, name: str) -> Figures:
            seen.append(name)
            if name in (refuse or {}):
                raise (refuse or {})[name]
            return Figures(name)

        monkeypatch.setattr(finbert_export, "fuse_int8", fused)
        monkeypatch.setattr(finbert_export, "quantize_qdq", lambda *_: None)
        monkeypatch.setattr(finbert_export, "Encoder", lambda *_: None)
        monkeypatch.setattr(finbert_export, "fused_ops", lambda _: {"MultiHeadAttention": 1})
        monkeypatch.setattr(finbert_export, "openvino_installed", lambda: openvino)
        monkeypatch.setattr(finbert_export, "validate", check)
        model = SimpleNamespace(config=SimpleNamespace(num_attention_heads=2, hidden_size=32))
        logged: list[str] = []
        results = other_runtimes(model, tmp_path, logged.append)
        return results, seen + logged

    return call


def test_a_graph_that_cannot_be_built_is_recorded_failed_and_not_validated(
    runtimes: Callable[..., tuple[dict[str, Any], list[str]]],
) -> None:
    """finbert.py:other_runtimes, `except Exception` narrowed (onnxruntime's optimizer raising a RuntimeError
    stopped the export), or the `key in results` skip dropped (the missing graph was checked, and the reason
    became its missing file)."""

    def broken(*_: object) -> None:
        raise RuntimeError("no pattern matched")

    results, seen = runtimes(broken)
    why = f"cannot build {VARIANTS['int8-fused']}: RuntimeError: no pattern matched"
    assert results == {"int8-fused": {"failed": why}, "int8-qdq": {"checked": "onnxruntime-int8-static"}}
    assert seen[0] == "onnxruntime-int8-static"  # the fused runtime was not checked
    assert f"int8-fused will not serve: {why}" in seen


def test_each_runtime_is_checked_and_one_refused_by_its_artifact_is_recorded(
    runtimes: Callable[..., tuple[dict[str, Any], list[str]]], tmp_path: Path
) -> None:
    """finbert.py:other_runtimes, `except (ExportError, ArtifactError)` narrowed to ExportError (OpenVINO failing
    to compile stopped the export), OpenVINO's runtimes left out though installed, or the fused graph's ops no
    longer logged."""

    def fused(*_: object) -> None:
        (tmp_path / VARIANTS["int8-fused"]).write_bytes(b"")

    refuse: dict[str, Exception] = {"openvino-int8": ArtifactError("cannot compile")}
    results, seen = runtimes(fused, openvino=True, refuse=refuse)
    names = ["onnxruntime-int8-fused", "onnxruntime-int8-static", "openvino-bf16", "openvino-int8"]
    assert seen[:4] == names
    assert results["openvino-int8"] == {"failed": "cannot compile"}
    assert results["openvino-bf16"] == {"checked": "openvino-bf16"}
    assert f"fused into {VARIANTS['int8-fused']}: {{'MultiHeadAttention': 1}}" in seen
    assert runtimes(fused, openvino=False)[0].keys() == {"int8-fused", "int8-qdq"}


# -- finbert_variants ---------------------------------------------------------------------------------------------


def test_dynamic_int8_keeps_int8_weights_and_the_root_loggers_level(tmp_path: Path) -> None:
    """finbert_variants.py:quantize_int8, weights QUInt8 instead of QInt8; _quiet, the root logger's level not put
    back (every later INFO line of the process lost), or lowered only to WARNING (the quantizer's "consider
    pre-processing" hint printed at each export)."""
    root = logging.getLogger()
    before = root.level
    records: list[logging.LogRecord] = []

    class Recording(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Recording()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        target = quantize_int8(write_graph(tmp_path / "model.onnx"), tmp_path / "q.onnx")
        after = root.level
    finally:
        root.removeHandler(handler)
        root.setLevel(before)
    assert after == logging.DEBUG
    assert [r.getMessage() for r in records if r.levelno < logging.ERROR] == []
    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(target)).graph.initializer}
    assert weights["w_quantized"].dtype == np.int8


def test_fused_ops_counts_each_node_of_a_graph(tmp_path: Path) -> None:
    """finbert_variants.py:fused_ops, `sum` made `any` (every op type present read as 1)."""
    nodes = [helper.make_node("MatMulInteger", ["a", "b"], [f"y{i}"]) for i in range(3)]
    nodes.append(helper.make_node("MultiHeadAttention", ["q"], ["z"], domain="com.microsoft"))
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [], [])), str(tmp_path / "g.onnx"))
    assert fused_ops(tmp_path / "g.onnx") == {
        "MultiHeadAttention": 1,
        "EmbedLayerNormalization": 0,
        "MatMulInteger": 3,
    }


def test_static_int8_calibrates_on_every_text_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """finbert_variants.py:quantize_qdq, the last short batch dropped from the calibration, or a batch of 1 by
    default."""
    batches: list[int] = []

    def calibrate(model_input: str, model_output: str, reader: Any, **kwargs: object) -> None:
        while (feed := reader.get_next()) is not None:
            batches.append(len(feed["x"]))

    monkeypatch.setattr(onnxruntime.quantization, "quantize_static", calibrate)
    quantize_qdq(tmp_path, cast(Encoder, features), ["headline"] * 20)
    assert batches == [8, 8, 4]


def test_static_int8_is_qdq_of_the_matmuls_with_per_channel_weights_and_uint8_activations(tmp_path: Path) -> None:
    """finbert_variants.py:quantize_qdq, QOperator instead of QDQ (what OpenVINO reads), per-tensor weights,
    int8 activations, or every op type quantised (the Add after the MatMul too)."""
    write_graph(tmp_path / VARIANTS["fp32"])
    path = quantize_qdq(tmp_path, cast(Encoder, features), ["headline"] * 20)
    graph = onnx.load(str(path)).graph
    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    assert values["w_scale"].shape == (CLASSES,)  # one scale per output channel
    assert values["x_zero_point"].dtype == np.uint8
    ops = [n.op_type for n in graph.node]
    assert "MatMul" in ops and "QuantizeLinear" in ops and "QLinearMatMul" not in ops
    (last,) = [n for n in graph.node if "logits" in n.output]
    assert last.op_type == "Add"  # not quantised: its output is no QuantizeLinear/DequantizeLinear pair


# -- finbert_graph ------------------------------------------------------------------------------------------------


class BertForSequenceClassification:
    """A stand-in of transformers' class, as cls_only_applies reads one."""

    def __init__(self, pooler: object = "pooler", **config: object) -> None:
        self.config = SimpleNamespace(model_type="bert", **config)
        self.bert = SimpleNamespace(pooler=pooler)


@pytest.mark.parametrize(
    ("model", "applies"),
    [
        (BertForSequenceClassification(), True),  # no position_embedding_type: absolute
        (BertForSequenceClassification(position_embedding_type="absolute", is_decoder=False), True),
        (BertForSequenceClassification(position_embedding_type="relative_key_query"), False),
        (BertForSequenceClassification(is_decoder=True), False),
        (BertForSequenceClassification(pooler=None), False),
    ],
)
def test_the_cls_only_graph_applies_to_an_absolute_position_encoder_with_a_pooler(
    model: Any, applies: bool
) -> None:
    """finbert_graph.py:cls_only_applies, `== "absolute"` loosened, the decoder or the pooler condition dropped (a
    model LastLayerOnCls computes wrongly, or cannot compute, exported with it)."""
    assert cls_only_applies(model) is applies
