"""Kill tests of a mutation audit of FinBERT's loading, tokenising, batching and runtimes
(investiq/core/finbert.py, investiq/core/finbert_runtime.py): each fails with the mutant its docstring names
applied, and passes on the code as it is. They work on a small word-level tokenizer written here, artifact.json
files in tmp_path, and stand-ins for the ONNX Runtime and OpenVINO sessions (no model is exported, no OpenVINO
model compiled, no network reached)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from investiq.core import finbert, finbert_check, finbert_runtime
from investiq.core.errors import ArtifactError
from investiq.core.finbert import (
    ATTENTION_MASK,
    INPUT_IDS,
    LABELS,
    OUTPUT,
    Encoder,
    FinbertMeta,
    label_of,
    run_by_length,
    softmax,
    weights_reachable,
)
from investiq.core.finbert_runtime import (
    CHECKED,
    FP32,
    OpenVinoSession,
    SplitSession,
    graph_names,
    open_checked,
    open_runtime,
    runtime_of_variant,
    startup_problem,
    validation_key,
)

WORDS = ["shares", "rise", "fall", "profit", "loss", "bank", "cuts", "jobs"]


def tokenizer_dir(directory: Path) -> Path:
    """A tokenizer.json as export writes one ([CLS] ... [SEP]), word level, whose [PAD] is not id 0."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {w: i for i, w in enumerate(["[UNK]", "[CLS]", "[SEP]", "[PAD]", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
    )
    directory.mkdir(parents=True, exist_ok=True)
    tok.save(str(directory / finbert.TOKENIZER))
    return directory


class Recorder:
    """A forward pass that answers each row with its number of attended tokens, and records the feeds' shapes."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []

    def __call__(self, feed: dict[str, NDArray[np.int64]]) -> NDArray[Any]:
        self.shapes.append(feed[ATTENTION_MASK].shape)
        out: NDArray[Any] = feed[ATTENTION_MASK].sum(axis=1, keepdims=True).astype(np.float32)
        return out


def feed_of(mask: list[list[int]]) -> dict[str, NDArray[np.int64]]:
    m = np.array(mask, dtype=np.int64)
    return {INPUT_IDS: m * 7, ATTENTION_MASK: m}


# -- finbert.py: scores, labels, softmax ---------------------------------------------------------------------


def test_a_tie_for_the_top_probability_is_neutral_and_a_clear_winner_is_not():
    """finbert.py:label_of, a tie labelled by its first maximum (`== 1` made `>= 1`: a mixed headline a buy), the
    tie's label taken from LABELS.index("negative") (a mixed headline a sell), or TIE made 0 (two probabilities
    5e-10 apart, a rounding's difference, labelled by whichever came out larger)."""
    assert LABELS[label_of([0.45, 0.45, 0.10])] == "neutral"
    assert LABELS[label_of([0.45, 0.45 - 5e-10, 0.10])] == "neutral"
    assert LABELS[label_of([0.30, 0.45, 0.25])] == "negative"


def test_an_artifact_of_other_labels_is_refused():
    """finbert.py:FinbertMeta.__post_init__, the labels check dropped (a model of other classes loaded, its logits
    mapped onto positive/negative/neutral by position)."""
    with pytest.raises(ArtifactError, match="labels must be"):
        FinbertMeta(labels=["positive", "negative", "mixed"], version="v", source="s", max_length=16, opset=17)


def test_softmax_of_large_logits_is_a_probability_not_nan():
    """finbert.py:softmax, the max subtracted before exp dropped (a graph's large logits overflow to NaN)."""
    p = softmax(np.array([[1000.0, 0.0, -5.0], [0.0, 800.0, 800.0]], dtype=np.float32))
    assert np.isfinite(p).all()
    assert np.abs(p - np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])).max() < 1e-6


# -- finbert.py: the encoder ----------------------------------------------------------------------------------


def test_a_truncated_text_still_ends_in_sep(tmp_path: Path):
    """finbert.py:Encoder, truncation at max_tokens + 1 (the cut back to max_tokens then drops [SEP]: a long
    headline reaches the model without its end marker, as fine-tuning never saw it)."""
    ids = Encoder(tokenizer_dir(tmp_path), 5)([" ".join(WORDS)])[INPUT_IDS]
    assert ids.tolist() == [[1, 4, 5, 6, 2]]  # [CLS] shares rise fall [SEP]


def test_padding_uses_the_tokenizers_own_pad_id(tmp_path: Path):
    """finbert.py:Encoder, pad id always 0 (a tokenizer whose [PAD] is another id pads with [UNK])."""
    ids = Encoder(tokenizer_dir(tmp_path), 16)(["shares rise", "bank cuts jobs"])[INPUT_IDS]
    assert ids[0].tolist() == [1, 4, 5, 2, 3]  # padded with [PAD] = 3


def test_padding_to_a_multiple_never_passes_max_tokens_in_either_tensor(tmp_path: Path):
    """finbert.py:Encoder.__call__, the cut to max_tokens dropped from input_ids or from attention_mask (a
    multiple of 8 past max_tokens = 6: tensors of 8 columns, or of two widths)."""
    out = Encoder(tokenizer_dir(tmp_path), 6, multiple=8)(["shares rise", "bank cuts jobs profit loss"])
    assert out[INPUT_IDS].shape == out[ATTENTION_MASK].shape == (2, 6)


# -- finbert.py: run_by_length ------------------------------------------------------------------------------


def test_a_pass_of_rows_with_no_token_keeps_one_column():
    """finbert.py:run_by_length, `max(1, ...)` dropped (a pass of all-padding rows got 0 columns: the graph
    refuses an empty sequence)."""
    run = Recorder()
    out = run_by_length(run, feed_of([[0] * 100, [1] * 100]), pass_cost=1)
    assert out.ravel().tolist() == [0.0, 100.0]
    assert sorted(run.shapes) == [(1, 1), (1, 100)]


# -- finbert.py: weights_reachable ---------------------------------------------------------------------------


@pytest.fixture
def no_hub(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """An empty Hugging Face cache and no resolvable host; returns the hosts looked up."""
    import huggingface_hub

    hosts: list[str] = []

    def getaddrinfo(host: str, *_: Any, **__: Any) -> Any:
        hosts.append(host)
        raise OSError("unreachable")

    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *_: None)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    return hosts


def test_a_local_directory_of_weights_is_reachable_offline(tmp_path: Path, no_hub: list[str]):
    """finbert.py:weights_reachable, the local-directory check dropped (offline, `--source models/finbert` was
    refused as unreachable)."""
    assert weights_reachable(str(tmp_path)) is None
    assert no_hub == []


def test_weights_in_the_hugging_face_cache_are_reachable_offline(
    monkeypatch: pytest.MonkeyPatch, no_hub: list[str]
):
    """finbert.py:weights_reachable, the cache check dropped (offline, cached weights were refused)."""
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *_: "/cache/config.json")
    assert weights_reachable("ProsusAI/finbert") is None


def test_the_hub_check_looks_up_hf_endpoints_host_and_restores_the_socket_timeout(
    monkeypatch: pytest.MonkeyPatch, no_hub: list[str]
):
    """finbert.py:weights_reachable, the host parsed without stripping the scheme ("https:" looked up), or
    `socket.setdefaulttimeout(None)` dropped (every later socket of the process timed out after 2 s)."""
    monkeypatch.setenv("HF_ENDPOINT", "https://hf-mirror.example:8443/base")
    before = socket.getdefaulttimeout()
    why = weights_reachable("ProsusAI/finbert", timeout_s=0.5)
    assert no_hub == ["hf-mirror.example:8443"]
    assert why is not None and "hf-mirror.example:8443 is unreachable" in why
    assert socket.getdefaulttimeout() == before


# -- finbert_runtime.py: names and keys ---------------------------------------------------------------------


def test_openvino_validation_figures_are_kept_apart_from_onnx_runtimes():
    """finbert_runtime.py:validation_key, the graph's variant for OpenVINO too (openvino-int8's figures under
    int8-qdq: an OpenVINO failure at export stopped static INT8 on ONNX Runtime, or hid its own)."""
    assert validation_key("openvino-int8") == "openvino-int8"
    assert validation_key("openvino-bf16") == "openvino-bf16"
    assert validation_key("onnxruntime-int8-static") == "int8-qdq"


def test_a_triton_config_naming_a_graph_runs_the_onnx_runtime_runtime_of_that_graph():
    """finbert_runtime.py:runtime_of_variant, the runtime's model_version tag returned for its name (a Triton
    config written before the `runtime` parameter, naming graph "int8-fused", got "int8-fused": not a runtime,
    the cpu flavour refused to load)."""
    assert runtime_of_variant("int8") == "onnxruntime-int8"
    assert runtime_of_variant("int8-fused") == finbert_runtime.FUSED
    assert runtime_of_variant("int8-qdq") == "onnxruntime-int8-static"
    with pytest.raises(ArtifactError, match="unknown FinBERT graph variant 'int4'"):
        runtime_of_variant("int4")


def test_the_start_up_check_covers_each_graphs_external_data_file():
    """finbert_runtime.py:graph_names, the `.data` files dropped (a damaged external-data file, where a graph's
    weights lie past 2 GB, served unchecked)."""
    assert graph_names("split-int8-bf16") == [
        "model.int8.onnx",
        "model.int8.onnx.data",
        "model.onnx",
        "model.onnx.data",
    ]


# -- finbert_runtime.py: SplitSession and OpenVinoSession ----------------------------------------------------


class Session:
    """A session that answers logits `value` per row, and records the batches it ran."""

    def __init__(self, value: float = 0.0, fails: bool = False) -> None:
        self.value, self.fails = value, fails
        self.rows: list[int] = []

    def run(self, names: list[str], feed: dict[str, NDArray[np.int64]]) -> list[NDArray[np.float32]]:
        if self.fails:
            raise RuntimeError("kernel missing")
        self.rows.append(len(feed[INPUT_IDS]))
        return [np.full((len(feed[INPUT_IDS]), 3), self.value, dtype=np.float32)]


def test_the_split_sends_fewer_than_split_rows_to_small_and_the_rest_to_large():
    """finbert_runtime.py:SplitSession.run, `<` made `<=` (a batch of exactly SPLIT_BATCH on int8), or the split
    judged on columns (a long single headline on OpenVINO, a short burst on int8)."""
    small, large = Session(), Session()
    split = SplitSession(small, large, 4)
    for rows, cols in ((3, 40), (4, 2), (1, 100)):
        split.run([OUTPUT], {INPUT_IDS: np.zeros((rows, cols), dtype=np.int64)})
    assert small.rows == [3, 1] and large.rows == [4]


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """compile_model stood in for: records its config; the compiled model has the two inputs and answers
    from one reused output buffer, as OpenVINO's infer request does."""
    seen: dict[str, Any] = {"inputs": [{"input_ids"}, {"attention_mask"}]}

    class Port:
        def __init__(self, names: set[str]) -> None:
            self.names = names

        def get_names(self) -> set[str]:
            return self.names

    class Request:
        buffer = np.zeros((1, 3), dtype=np.float32)

        def infer(self, feed: dict[str, Any]) -> list[NDArray[np.float32]]:
            self.buffer[:] = len(feed[INPUT_IDS])
            return [self.buffer]

    class Compiled:
        def __init__(self) -> None:
            self.inputs = [Port(n) for n in seen["inputs"]]

        def create_infer_request(self) -> Request:
            return Request()

    def compile_model(path: Path, config: dict[str, Any]) -> Compiled:
        if "error" in seen:
            raise seen["error"]
        seen["config"] = config
        return Compiled()

    monkeypatch.setattr(finbert_runtime, "compile_model", compile_model)
    monkeypatch.setattr(finbert_runtime, "usable_cores", lambda: 7)
    return seen


def test_openvino_runs_int8_in_f32_bf16_in_bf16_on_the_threads_asked(compiled: dict[str, Any], tmp_path: Path):
    """finbert_runtime.py:OpenVinoSession, the precision hint always bf16 (openvino-int8's float parts rounded to
    BF16), or `threads` ignored (OpenVINO on every core beside the gateway's workers)."""
    OpenVinoSession(tmp_path / "m.onnx", "int8", threads=2)
    assert compiled["config"]["INFERENCE_PRECISION_HINT"] == "f32"
    assert compiled["config"]["INFERENCE_NUM_THREADS"] == 2
    OpenVinoSession(tmp_path / "m.onnx", "bf16")
    assert compiled["config"]["INFERENCE_PRECISION_HINT"] == "bf16"
    assert compiled["config"]["INFERENCE_NUM_THREADS"] == 7


def test_open_runtime_gives_openvino_its_runtimes_precision(compiled: dict[str, Any], tmp_path: Path):
    """finbert_runtime.py:open_runtime, OpenVinoSession opened in bf16 whatever the runtime (openvino-int8 ran its
    static INT8 graph's float parts in BF16)."""
    (tmp_path / finbert.VARIANTS["int8-qdq"]).write_bytes(b"graph")
    open_runtime(tmp_path, "openvino-int8", ort_open=lambda _: None)
    assert compiled["config"]["INFERENCE_PRECISION_HINT"] == "f32"


def test_a_graph_without_the_bert_inputs_is_refused_by_openvino(compiled: dict[str, Any], tmp_path: Path):
    """finbert_runtime.py:OpenVinoSession, the input names check dropped (a graph of other inputs served until
    its first request failed)."""
    compiled["inputs"] = [{"input_ids"}, {"token_type_ids"}]
    with pytest.raises(ArtifactError, match="has inputs"):
        OpenVinoSession(tmp_path / "m.onnx", "bf16")


def test_openvino_missing_says_how_to_install_it(compiled: dict[str, Any], tmp_path: Path):
    """finbert_runtime.py:OpenVinoSession, the ImportError branch dropped (a user without OpenVINO read "OpenVINO
    cannot compile" instead of the pip command)."""
    compiled["error"] = ImportError("No module named 'openvino'")
    with pytest.raises(ArtifactError, match=r"needs OpenVINO: pip install"):
        OpenVinoSession(tmp_path / "m.onnx", "bf16")


def test_openvino_answers_are_copies_and_only_logits_are_asked(compiled: dict[str, Any], tmp_path: Path):
    """finbert_runtime.py:OpenVinoSession.run, the copy of the output dropped (the next request overwrote an
    earlier answer), or the output names check dropped (a caller asking for another tensor got logits)."""
    session = OpenVinoSession(tmp_path / "m.onnx", "bf16")
    first = session.run([OUTPUT], {INPUT_IDS: np.zeros((1, 4), dtype=np.int64)})[0]
    session.run([OUTPUT], {INPUT_IDS: np.zeros((5, 4), dtype=np.int64)})
    assert first.tolist() == [[1.0, 1.0, 1.0]]
    with pytest.raises(ValueError, match="one output"):
        session.run(["hidden_states"], {INPUT_IDS: np.zeros((1, 4), dtype=np.int64)})


def test_a_split_runs_int8_for_small_batches_and_openvino_for_large(compiled: dict[str, Any], tmp_path: Path):
    """finbert_runtime.py:open_runtime, SplitSession(large, small) (one headline on OpenVINO BF16, bursts on
    INT8: the split's latency and throughput both lost)."""
    for variant in ("int8", "fp32"):
        (tmp_path / finbert.VARIANTS[variant]).write_bytes(b"graph")
    ort = Session()
    split = open_runtime(tmp_path, "split-int8-bf16", ort_open=lambda _: ort)
    assert split.small is ort and isinstance(split.large, OpenVinoSession)


# -- finbert_runtime.py: startup_problem and open_checked, on stand-ins -------------------------------------


def meta_dir(directory: Path, validation: dict[str, Any] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    FinbertMeta(
        labels=list(LABELS),
        version="v",
        source="s",
        max_length=16,
        opset=17,
        validation={"int8": {}, "fp32": {}} if validation is None else validation,
    ).save(directory)
    return directory


@pytest.fixture
def judged(monkeypatch: pytest.MonkeyPatch) -> None:
    """startup_problem's encoder and texts stood in for: logits_on runs a session's `run` once on a feed of
    two rows."""
    monkeypatch.setattr(finbert, "Encoder", lambda *_: None)
    monkeypatch.setattr(finbert_check, "sample_texts", lambda: ["a", "b"])
    feed = {INPUT_IDS: np.ones((2, 3), dtype=np.int64), ATTENTION_MASK: np.ones((2, 3), dtype=np.int64)}
    monkeypatch.setattr(finbert_check, "logits_on", lambda run, encode, texts: run(feed))


def test_a_runtime_that_cannot_run_here_is_a_problem_named_not_an_exception(tmp_path: Path, judged: None):
    """finbert_runtime.py:startup_problem, CannotRun of the runtime judged not caught (a graph that loads but
    fails on this CPU's kernels crashed the start-up instead of falling back)."""
    directory = meta_dir(tmp_path)
    problem = startup_problem(directory, "onnxruntime-int8", Session(fails=True), ort_open=lambda _: Session())
    assert problem == "onnxruntime-int8 cannot run here: kernel missing"


def test_an_fp32_reference_that_cannot_run_is_an_artifact_error(tmp_path: Path, judged: None):
    """finbert_runtime.py:_logits, the engine's error re-raised as is, not as CannotRun (a broken fp32 graph gave
    a traceback, not "cannot run ... export the model again")."""
    directory = meta_dir(tmp_path)
    with pytest.raises(ArtifactError, match="cannot run: kernel missing; export the model again"):
        startup_problem(directory, "onnxruntime-int8", Session(), ort_open=lambda _: Session(fails=True))


def test_each_part_of_a_split_is_judged_on_its_own_session(tmp_path: Path, judged: None):
    """finbert_runtime.py:startup_problem, the split's sessions zipped with its parts swapped (the problem of
    OpenVINO's half was reported as int8's)."""
    directory = meta_dir(tmp_path)
    split = SplitSession(Session(), Session(value=5.0), 4)
    problem = startup_problem(directory, "split-int8-bf16", split, ort_open=lambda _: Session())
    assert problem is not None and problem.startswith("openvino-bf16 on this CPU against the fp32 graph")


def no_ort(path: Path) -> Any:
    """ort_open for open_checked on stand-ins: never called."""
    raise AssertionError(path)


@pytest.fixture
def candidates(monkeypatch: pytest.MonkeyPatch) -> dict[str, str | None]:
    """open_checked on stand-ins: a runtime's problem at start-up is the test's (None: it serves)."""
    problems: dict[str, str | None] = {}
    monkeypatch.setattr(finbert_runtime, "open_runtime", lambda directory, name, *_: f"session of {name}")
    monkeypatch.setattr(finbert_runtime, "startup_problem", lambda directory, name, *_: problems.get(name))
    return problems


def test_a_fallback_says_why_the_chosen_runtime_fell_back(tmp_path: Path, candidates: dict[str, str | None]):
    """finbert_runtime.py:open_checked, the fallback's reasons dropped (/health said int8 was chosen by auto,
    not that the fused graph failed its check), or no fallback tried at all."""
    candidates[finbert_runtime.FUSED] = "too far from fp32"
    name, why, session = open_checked(
        meta_dir(tmp_path), finbert_runtime.FUSED, "auto", "onnxruntime-int8", no_ort
    )
    assert (name, session) == ("onnxruntime-int8", "session of onnxruntime-int8")
    assert why == "onnxruntime-int8-fused fell back: too far from fp32"


def test_fp32_serves_on_its_validation_at_export_and_says_so(tmp_path: Path, candidates: dict[str, str | None]):
    """finbert_runtime.py:open_checked, fp32's reason "checked on this CPU" (it is the reference: it is not
    compared with itself at start-up)."""
    name, why, _ = open_checked(meta_dir(tmp_path), FP32, "set in finbert_runtime", "onnxruntime-int8", no_ort)
    assert (name, why) == (FP32, "set in finbert_runtime; validated against PyTorch at export")
    assert open_checked(meta_dir(tmp_path), "onnxruntime-int8", "auto", "onnxruntime-int8", no_ort)[1] == (
        f"auto; {CHECKED}"
    )


def test_an_unquantized_export_falls_back_to_fp32_and_a_quantized_one_does_not(
    tmp_path: Path, candidates: dict[str, str | None]
):
    """finbert_runtime.py:open_checked/_unquantized, fp32 not tried last (an export made with --no-quantize
    refused to start), or the test on the int8 entry made on another key."""
    candidates.update({finbert_runtime.FUSED: "missing graph", "onnxruntime-int8": "missing graph"})
    plain = meta_dir(tmp_path / "plain", validation={"fp32": {}})
    assert open_checked(plain, finbert_runtime.FUSED, "auto", "onnxruntime-int8", no_ort)[0] == FP32
    with pytest.raises(ArtifactError, match="FinBERT cannot serve"):
        open_checked(meta_dir(tmp_path / "quantized"), finbert_runtime.FUSED, "auto", "onnxruntime-int8", no_ort)


def test_a_refusal_asks_for_a_new_export_once(tmp_path: Path, candidates: dict[str, str | None]):
    """finbert_runtime.py:open_checked, `any` made `all` in the hint (a problem that already said "export the
    model again" got "; export it again: investiq export finbert" appended)."""
    candidates.update({finbert_runtime.FUSED: "x is missing; export the model again", "onnxruntime-int8": "bad"})
    with pytest.raises(ArtifactError) as info:
        open_checked(meta_dir(tmp_path), finbert_runtime.FUSED, "auto", "onnxruntime-int8", no_ort)
    assert not str(info.value).endswith("export it again: investiq export finbert")
