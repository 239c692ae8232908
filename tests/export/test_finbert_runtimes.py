"""FinBERT's CPU runtimes (issue 18): chosen per CPU, each validated against PyTorch at export and against the
fp32 graph at start-up, and a runtime that fails falls back to today's INT8 with the reason in /health."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from fastapi.testclient import TestClient
from onnx import numpy_helper

from gateway.app import create_app
from gateway.backends.embedded import EmbeddedBackend
from harness import tiny_bert
from harness.tiny_repository import as_exported
from investiq.core.cpu import describe, instruction_sets
from investiq.core.errors import ArtifactError
from investiq.core.finbert import FINBERT_MODEL, VARIANTS, FinbertMeta
from investiq.core.finbert_runtime import (
    DEFAULT,
    FUSED,
    RUNTIMES,
    SPECS,
    SPLIT_BATCH,
    choose_runtime,
    openvino_installed,
    parts,
    validation_key,
)
from investiq.core.settings import Settings
from investiq.core.triton_adapters import FinbertModel

AMX = frozenset({"avx2", "avx512f", "avx512_vnni", "amx_tile", "amx_int8", "amx_bf16"})
VNNI = frozenset({"avx2", "avx512f", "avx512_vnni"})
AVX2 = frozenset({"avx2"})
needs_openvino = pytest.mark.skipif(not openvino_installed(), reason="OpenVINO is not installed")


@pytest.mark.parametrize(
    ("sets", "quantize", "expected"),
    [
        (AMX, True, FUSED),  # AMX: the fused graph measured faster than int8, paired (finbert_probes.md)
        (VNNI, True, FUSED),  # AVX-512 VNNI without AMX: the fused graph measured faster (finbert_probes.md)
        (AVX2, True, DEFAULT),  # AVX2 only: no regression, today's path
        (AMX, False, "onnxruntime-fp32"),  # quantize: false keeps its meaning
    ],
)
def test_auto_chooses_from_the_instruction_sets(sets, quantize, expected):
    runtime, why = choose_runtime("auto", sets, quantize=quantize)
    assert runtime == expected and why.startswith("auto")


def test_an_explicit_runtime_is_kept_and_an_unknown_one_is_named():
    assert choose_runtime("openvino-int8", AVX2) == ("openvino-int8", "set in finbert_runtime")
    # quantize: false with a runtime named outright: the runtime wins, and the reason says so (it was unsaid)
    assert choose_runtime("onnxruntime-int8", AVX2, quantize=False)[1].endswith(
        "quantize: false does not apply to a runtime named"
    )
    assert choose_runtime("onnxruntime-fp32", AVX2, quantize=False) == (
        "onnxruntime-fp32",
        "set in finbert_runtime",
    )
    with pytest.raises(ArtifactError, match="unknown finbert_runtime 'tensorrt'"):
        choose_runtime("tensorrt", AMX)


@pytest.fixture(scope="module")
def repo(exported: tuple[Path, Path]) -> Path:
    return exported[1]


def test_the_export_validates_every_runtime_against_pytorch(repo: Path):
    meta = FinbertMeta.load(repo / FINBERT_MODEL / "1")
    wanted = {validation_key(r) for name in RUNTIMES for r in parts(name)}
    if not openvino_installed():
        wanted -= {"openvino-bf16", "openvino-int8"}
    assert wanted <= set(meta.validation)
    for key in wanted:
        figures = meta.validation[key]
        assert "failed" not in figures, figures
        assert figures["max_logit_diff"] <= 0.25 and figures["compared"] == figures["texts"] + 5
    for variant in VARIANTS.values():
        assert (repo / FINBERT_MODEL / "1" / variant).is_file()


def test_the_fused_graph_has_one_attention_kernel_per_layer_and_int8_matmuls(repo: Path):
    graph = onnx.load(str(repo / FINBERT_MODEL / "1" / VARIANTS["int8-fused"]), load_external_data=False).graph
    ops = {op: sum(n.op_type == op for n in graph.node) for op in {n.op_type for n in graph.node}}
    layers = tiny_bert.LAYERS
    # every layer but the last, whose attention has one query row ([CLS]'s: export/finbert_graph.py), left as is
    assert ops.get("MultiHeadAttention") == layers - 1
    assert (ops.get("Softmax"), ops.get("Transpose"), ops.get("MatMul")) == (1, 4, 2)  # that last attention
    assert ops.get("EmbedLayerNormalization") == 1
    # the projections stay INT8 MatMuls (Q, K, V, output, two feed-forward per layer; pooler, classifier)
    assert ops.get("MatMulInteger") == 6 * layers + 2
    for slower in ("QAttention", "Attention", "SkipLayerNormalization", "BiasGelu"):
        assert slower not in ops, (slower, ops)


def probabilities(backend: EmbeddedBackend, texts: list[str]) -> np.ndarray[Any, Any]:
    out = asyncio.run(backend.infer("finbert", {"TEXT": np.array(texts, dtype=object)}))
    return np.asarray(out["probabilities"])


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_runtime_serves_what_the_fp32_graph_does(repo: Path, runtime: str):
    if any(SPECS[p].engine == "openvino" for p in parts(runtime)) and not openvino_installed():
        pytest.skip("OpenVINO is not installed")
    texts = ["Shares soar after record profit", "Bank cuts jobs as losses mount", "Fed holds rates"] * 3
    reference = EmbeddedBackend(repo, finbert_runtime="onnxruntime-fp32")
    backend = EmbeddedBackend(repo, finbert_runtime=runtime)
    assert backend.finbert_runtime == runtime, backend.finbert_choice
    for batch in (texts[:1], texts[: SPLIT_BATCH - 1], texts):  # both sides of the split
        assert np.abs(probabilities(backend, batch) - probabilities(reference, batch)).max() < 0.05
    asyncio.run(backend.close())
    asyncio.run(reference.close())


def test_static_int8_gives_a_headline_the_same_answer_in_any_company(repo: Path):
    """Dynamic INT8 scales a pass's activations by the whole pass; static INT8's scales are fixed."""
    texts = ["Shares soar after record profit", "Bank cuts jobs as losses mount " * 4, "Fed holds rates"]
    backends = {name: EmbeddedBackend(repo, finbert_runtime=name) for name in (DEFAULT, "onnxruntime-int8-static")}
    moved = {}
    for name, backend in backends.items():
        alone = np.concatenate([probabilities(backend, [t]) for t in texts])
        moved[name] = float(np.abs(alone - probabilities(backend, texts)).max())
        asyncio.run(backend.close())
    assert moved["onnxruntime-int8-static"] < 1e-6
    assert moved[DEFAULT] > 1e-5  # the test can tell the two apart on this model


def test_int8_grouped_by_length_as_served_stays_within_the_export_bounds(exported: tuple[Path, Path]):
    """The served path (a burst grouped by length, passes of like length) judged against PyTorch fp32 as the
    export judges every graph: the INT8 bounds, margin-aware."""
    import torch

    from export.finbert import sample_texts
    from investiq.core.finbert import Encoder
    from investiq.core.finbert_check import bounds, judge
    from training.finbert import load_pretrained

    source, repo = exported
    texts = [*sample_texts()[:12], " ".join(sample_texts()[:6])]  # the long one runs in a pass of its own
    feed = Encoder(repo / FINBERT_MODEL / "1", 128)(texts)
    backend = EmbeddedBackend(repo, finbert_runtime=DEFAULT)
    got = asyncio.run(backend.infer(FINBERT_MODEL, feed))["logits"]
    asyncio.run(backend.close())
    model, _ = load_pretrained(str(source))
    with torch.no_grad():
        want = model(**{name: torch.from_numpy(tensor) for name, tensor in feed.items()}).logits.numpy()
    check = judge("int8 as served", want=want, got=np.asarray(got), texts=len(texts))
    assert check.failures(*bounds("int8")) == [], str(check)


def test_model_version_keeps_the_tags_from_before_issue_18(repo: Path):
    assert EmbeddedBackend(repo, finbert_runtime="onnxruntime-int8").finbert_variant == "int8"
    assert EmbeddedBackend(repo, quantize=False).finbert_variant == "fp32"


@needs_openvino
def test_a_runtime_that_fails_its_start_up_check_falls_back_to_int8(repo: Path, tmp_path: Path):
    broken = tmp_path / "repo"
    shutil.copytree(repo, broken)
    negated_classifier(broken / FINBERT_MODEL / "1" / VARIANTS["int8-qdq"])
    backend = EmbeddedBackend(broken, finbert_runtime="openvino-int8")
    assert backend.finbert_runtime == DEFAULT and backend.finbert_variant == "int8"
    assert "openvino-int8 fell back: openvino-int8 on this CPU against the fp32 graph" in backend.finbert_choice
    assert "widest logit spread" in backend.finbert_choice


def test_a_graph_with_wrong_numbers_gives_way_to_int8_without_openvino(repo: Path, tmp_path: Path):
    broken = tmp_path / "repo"
    shutil.copytree(repo, broken)
    negated_classifier(broken / FINBERT_MODEL / "1" / VARIANTS["int8-fused"])
    backend = EmbeddedBackend(broken, finbert_runtime=FUSED)
    assert backend.finbert_runtime == DEFAULT
    assert backend.finbert_choice.startswith(f"{FUSED} fell back: {FUSED} on this CPU against the fp32 graph")


@pytest.mark.parametrize("setting", [DEFAULT, FUSED])
def test_int8_with_wrong_numbers_does_not_serve_chosen_or_fallen_back_to(repo: Path, tmp_path: Path, setting: str):
    # int8 served unchecked (chosen on an AVX2-only CPU, named, or fallen back to): flipped labels (a review)
    broken = tmp_path / "repo"
    shutil.copytree(repo, broken)
    for variant in ("int8", "int8-fused"):
        negated_classifier(broken / FINBERT_MODEL / "1" / VARIANTS[variant])
    with pytest.raises(
        ArtifactError,
        match=r"FinBERT cannot serve on this machine: .*onnxruntime-int8: onnxruntime-int8 "
        r"on this CPU against the fp32 graph.*export it again: investiq export finbert",
    ):
        EmbeddedBackend(broken, finbert_runtime=setting)
    with pytest.raises(ArtifactError, match="onnxruntime-int8 on this CPU against the fp32 graph"):
        triton_finbert(broken, {"variant": "int8"})  # Triton's old form is checked too


def test_a_graph_of_other_labels_is_refused_by_name_not_with_a_traceback(repo: Path, tmp_path: Path):
    """A graph with two labels where the export has three: judged, its logits broadcast against the fp32 graph's
    into a ValueError, a traceback at start-up (a review)."""
    broken = tmp_path / "repo"
    shutil.copytree(repo, broken)
    path = broken / FINBERT_MODEL / "1" / VARIANTS["int8-fused"]
    model = onnx.load(str(path))
    for init in model.graph.initializer:  # the classifier's weights and bias cut to two labels
        if init.name.startswith("model.classifier.") and (value := numpy_helper.to_array(init)).shape[-1:] == (3,):
            init.CopyFrom(numpy_helper.from_array(value[..., :2].copy(), init.name))
    for output in model.graph.output:
        output.type.tensor_type.ClearField("shape")
    del model.graph.value_info[:]
    onnx.save(model, str(path))
    as_exported(path.parent)
    backend = EmbeddedBackend(broken, finbert_runtime=FUSED)
    assert backend.finbert_runtime == DEFAULT
    assert "onnxruntime-int8-fused gives logits of shape" in backend.finbert_choice, backend.finbert_choice


def test_fp32_serves_on_its_validation_at_export(repo: Path, tmp_path: Path):
    backend = EmbeddedBackend(repo, quantize=False)
    assert backend.finbert_choice == "auto with quantize: false; validated against PyTorch at export"
    broken = failed_at_export(repo, tmp_path, "fp32", "max |logit diff| 3 > 1e-4")
    with pytest.raises(
        ArtifactError, match=r"onnxruntime-fp32 failed its validation at export: max .logit diff. 3"
    ):
        EmbeddedBackend(broken, quantize=False)


def failed_at_export(repo: Path, tmp_path: Path, key: str, why: str) -> Path:
    """A copy of `repo` whose artifact.json records graph `key`'s validation at export as failed, `why`."""
    broken = tmp_path / "repo"
    shutil.copytree(repo, broken)
    meta_file = broken / FINBERT_MODEL / "1" / "artifact.json"
    meta = json.loads(meta_file.read_text())
    meta["validation"][key] = {"failed": why}
    meta_file.write_text(json.dumps(meta))
    return broken


def negated_classifier(path: Path) -> None:
    """Break a graph so that its logits are wrong: the classifier's weights negated (the tiny model's layer
    norms absorb a broken INT8 encoder, so the break is made where nothing normalises it)."""
    model = onnx.load(str(path))
    for init in model.graph.initializer:  # float ones: an INT8 graph's weight scale flips its weights
        if init.name.startswith("model.classifier.") and init.data_type == onnx.TensorProto.FLOAT:
            init.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(init), init.name))
    onnx.save(model, str(path))
    as_exported(path.parent)  # past the check of its bytes: what the runtime checks catch


def test_a_runtime_recorded_as_failed_at_export_does_not_serve(repo: Path, tmp_path: Path):
    broken = failed_at_export(repo, tmp_path, "int8-fused", "max |logit diff| 9 > 0.25")
    backend = EmbeddedBackend(broken, finbert_runtime="onnxruntime-int8-fused")
    assert backend.finbert_runtime == DEFAULT
    assert "failed its validation at export: max |logit diff| 9" in backend.finbert_choice


def test_a_runtime_whose_graph_is_missing_falls_back(repo: Path, tmp_path: Path):
    broken = tmp_path / "repo"
    shutil.copytree(repo, broken)
    (broken / FINBERT_MODEL / "1" / VARIANTS["int8-fused"]).unlink()
    backend = EmbeddedBackend(broken, finbert_runtime="onnxruntime-int8-fused")
    assert backend.finbert_runtime == DEFAULT
    assert "re-run `investiq export finbert`" in backend.finbert_choice


def test_health_and_model_version_report_the_runtime_and_the_cpu(repo: Path, tmp_path: Path):
    settings = Settings(db_path=tmp_path / "p.db", model_repository=repo, finbert_runtime="onnxruntime-int8-fused")
    with TestClient(create_app(settings)) as client:
        inference = client.get("/health").json()["components"]["inference"]
        answer = client.post("/sentiment/predict", json={"texts": ["Shares soar"], "use_cache": False}).json()
    assert inference["finbert_runtime"] == "onnxruntime-int8-fused"
    assert inference["finbert_runtime_reason"].startswith("set in finbert_runtime; checked on this CPU")
    assert inference["cpu"] == describe()
    assert answer["model_version"].endswith("-int8-fused")


def triton_finbert(repo: Path, parameters: dict[str, str]) -> FinbertModel:
    """Triton's cpu-flavour FinBERT model as the python backend initialises it, with these config parameters."""
    config = json.dumps({"parameters": {k: {"string_value": v} for k, v in parameters.items()}})
    model = FinbertModel()
    model.initialize({"model_repository": str(repo / FINBERT_MODEL), "model_version": "1", "model_config": config})
    return model


def test_triton_cpu_flavour_makes_the_embedded_backends_choice(repo: Path, capsys: pytest.CaptureFixture[str]):
    assert triton_finbert(repo, {}).runtime == choose_runtime("auto", instruction_sets())[0]
    assert triton_finbert(repo, {"runtime": "onnxruntime-int8-fused"}).runtime == "onnxruntime-int8-fused"
    log = capsys.readouterr().out  # the stub's stdout: Triton's log
    assert "serving onnxruntime-int8-fused (set in finbert_runtime; checked on this CPU" in log
    old_form = triton_finbert(repo, {"variant": "fp32"})  # configs written before the runtime parameter
    assert old_form.runtime == "onnxruntime-fp32"
    assert (
        "serving onnxruntime-fp32 (variant fp32 set in the config; validated against PyTorch"
        in capsys.readouterr().out
    )


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_triton_cpu_flavour_falls_back_as_the_embedded_backend_does(repo: Path, tmp_path: Path, damage: str):
    # a corrupt graph raised ONNX Runtime's own error there, and the model failed to load (a review)
    broken = tmp_path / "repo"
    shutil.copytree(repo, broken)
    graph = broken / FINBERT_MODEL / "1" / VARIANTS["int8-fused"]
    graph.unlink()
    if damage == "corrupt":
        graph.write_bytes(b"\x08\x07not a protobuf" * 64)
    model = triton_finbert(broken, {"runtime": "onnxruntime-int8-fused"})
    assert model.runtime == DEFAULT and EmbeddedBackend(broken, finbert_runtime=FUSED).finbert_runtime == DEFAULT


def test_a_damaged_fp32_graph_serves_under_no_runtime(repo: Path, tmp_path: Path):
    """The fp32 graph served as it lay on disk (its check was its validation at export), and it is what every
    other runtime is judged against: damaged, it served wrong labels reported as checked (a review). Its bytes are
    checked against the sha256 its export recorded."""
    files = json.loads((repo / FINBERT_MODEL / "1" / "artifact.json").read_text())["files"]
    assert set(files) >= {VARIANTS[v] for v in ("fp32", "int8")}
    broken = tmp_path / "repo"
    shutil.copytree(repo, broken)
    negated_classifier(broken / FINBERT_MODEL / "1" / VARIANTS["fp32"])
    meta_file = broken / FINBERT_MODEL / "1" / "artifact.json"
    record = json.loads(meta_file.read_text())
    record["files"][VARIANTS["fp32"]] = files[VARIANTS["fp32"]]  # the bytes exported: damaged since
    meta_file.write_text(json.dumps(record))
    for quantize in (False, True):
        with pytest.raises(ArtifactError, match=r"model\.onnx is not the file exported"):
            EmbeddedBackend(broken, quantize=quantize)


def test_a_gpu_provider_that_does_not_start_gets_the_cpus_choice_and_says_so(repo: Path, tmp_path: Path):
    """onnxruntime-gpu lists CUDA on a host whose GPU it cannot use: the sessions ran on the CPU with the GPU's
    choices (int8 unplanned, the portable PatchTST graph) and /health said "has a GPU here" (a review)."""
    from gateway.backends.providers import CUDA
    from investiq.core.finbert_runtime import choose_runtime

    backend = EmbeddedBackend(repo, providers=[CUDA, "CPUExecutionProvider"])  # this ONNX Runtime has no CUDA
    cpu_choice, _ = choose_runtime("auto", instruction_sets(), quantize=True)
    assert backend.finbert_runtime == cpu_choice and backend.plans_finbert_passes
    assert "a GPU provider was asked for and did not start" in backend.finbert_choice
    assert "has a GPU here" not in backend.finbert_choice and "on the GPU" not in backend.finbert_choice
    # with an INT8 graph that fails its check: the GPU's choice failed first, and the start with it (a review)
    broken = tmp_path / "repo"
    shutil.copytree(repo, broken)
    negated_classifier(broken / FINBERT_MODEL / "1" / VARIANTS["int8"])
    if cpu_choice != DEFAULT:
        assert EmbeddedBackend(broken, providers=[CUDA, "CPUExecutionProvider"]).finbert_runtime == cpu_choice
