"""The graph export writes for FinBERT: the last layer on the [CLS] row only gives the model's own logits."""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from export.finbert_graph import LastLayerOnCls, LogitsOnly, cls_only_applies, exported_function
from harness import tiny_bert
from investiq.core.artifacts import META
from investiq.core.finbert import EXPORT_FORMAT, FINBERT_MODEL, VARIANTS, Encoder, FinbertMeta
from training.finbert import load_pretrained

TEXTS = [
    "stocks rally as earnings beat estimates and the outlook is raised again",
    "oil prices are little changed",
    "profit warning",
    "regulators fine the bank over compliance failures after a long review",
]


@pytest.fixture(scope="module")
def tiny(exported: tuple[Path, Path]) -> Path:
    return exported[0]


def logits(module: torch.nn.Module, feed: dict[str, np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        out: np.ndarray = module(
            torch.from_numpy(feed["input_ids"]), torch.from_numpy(feed["attention_mask"])
        ).numpy()
    return out


def feed_forward_shapes(graph: Path, feed: dict[str, np.ndarray], tmp: Path) -> list[list[int]]:
    """The output shape of every MatMul that widens to the feed-forward's inner size, in one profiled run."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # the graph's own nodes
    options.enable_profiling = True
    options.profile_file_prefix = str(tmp / "profile")
    session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    session.run(None, feed)
    events = json.loads(Path(session.end_profiling()).read_text())
    shapes = [
        next(iter(e["args"]["output_type_shape"][0].values()))
        for e in events
        if e.get("cat") == "Node" and e["args"].get("op_name") == "MatMul" and "output_type_shape" in e["args"]
    ]
    return [shape for shape in shapes if shape[-1] == tiny_bert.INTERMEDIATE]


def test_the_cls_row_alone_gives_the_models_logits_padded_or_not(tiny: Path):
    model, _ = load_pretrained(str(tiny))
    model.eval()
    encode = Encoder(tiny, 64)
    batch = encode(TEXTS)  # of four lengths: three rows padded
    assert (batch["attention_mask"] == 0).any()
    want, got = logits(LogitsOnly(model), batch), logits(LastLayerOnCls(model), batch)
    assert np.abs(want).max() > 0.1  # logits that say something (the tiny model's scale)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    for text in TEXTS:  # alone, unpadded
        one = encode([text])
        np.testing.assert_allclose(logits(LastLayerOnCls(model), one), logits(LogitsOnly(model), one), atol=1e-5)


def test_export_writes_the_last_layer_for_one_row_and_nothing_twice(exported: tuple[Path, Path], tmp_path: Path):
    directory = exported[1] / FINBERT_MODEL / "1"  # validated against LogitsOnly at export: it raised if not equal
    assert FinbertMeta.load(directory).export_format == EXPORT_FORMAT
    graph = onnx.load(directory / VARIANTS["fp32"]).graph
    ops = Counter(node.op_type for node in graph.node)
    # Per layer: Q, K, V, attention output, two feed-forward, scores and context (MatMul); one softmax. Then the
    # pooler (its one Tanh) and the classifier (Gemm). A last layer also computed whole and dropped would leave
    # 8 more MatMuls, a second softmax and a second pooler.
    layers = tiny_bert.LAYERS
    assert (ops["MatMul"], ops["Softmax"], ops["Tanh"], ops["Gemm"]) == (8 * layers, layers, 1, 2)
    # and the last layer's feed-forward runs on one row per text, the others' on every token
    feed = Encoder(directory, 64)(TEXTS[:2])
    shapes = feed_forward_shapes(directory / VARIANTS["fp32"], feed, tmp_path)
    assert [shape[:2] for shape in shapes] == [list(feed["input_ids"].shape)] * (layers - 1) + [[2, 1]]


def test_other_models_are_exported_as_pytorch_runs_them():
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    config = DistilBertConfig(
        vocab_size=50, dim=16, n_layers=1, n_heads=2, hidden_dim=24, max_position_embeddings=32
    )
    model = DistilBertForSequenceClassification(config)
    assert not cls_only_applies(model)
    assert isinstance(exported_function(model), LogitsOnly)
    with pytest.raises(ValueError, match="not a BERT classifier"):
        LastLayerOnCls(model)


def test_an_older_export_still_serves_and_says_how_to_gain_it(
    exported: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    from benchmarks.finbert import outdated
    from gateway.backends.embedded import EmbeddedBackend

    source, repo = exported
    old = tmp_path / "repo"
    shutil.copytree(repo, old)
    artifact = old / FINBERT_MODEL / "1" / META
    fields = json.loads(artifact.read_text())
    del fields["export_format"]  # as exports before format 2 wrote it
    artifact.write_text(json.dumps(fields))
    meta = FinbertMeta.load(artifact.parent)
    assert meta.export_format == 1
    assert outdated(meta, str(source))  # the benchmark exports again
    assert not outdated(FinbertMeta.load(repo / FINBERT_MODEL / "1"), str(source))
    with caplog.at_level(logging.INFO, logger="gateway.backends.embedded"):
        backend = EmbeddedBackend(old)
    assert "exported in format 1" in caplog.text and "`investiq export finbert` again" in caplog.text
    assert FINBERT_MODEL in backend.models
