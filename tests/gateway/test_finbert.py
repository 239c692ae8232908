"""FinBERT end to end on a tiny random BERT built here: load -> export -> validate -> embedded
backend -> HTTP -> journal row, with parity between PyTorch, ONNX fp32 and INT8."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from export.finbert import export_finbert
from gateway.app import create_app
from gateway.backends.embedded import EmbeddedBackend
from gateway.services.scorers import FinbertScorer
from gateway.wiring import StartupError, build_backend
from harness import tiny_bert
from investiq.core import finbert_check
from investiq.core.errors import ExportError
from investiq.core.finbert import (
    LABELS,
    OUTPUT,
    Encoder,
    FinbertMeta,
    WeightsError,
    finbert_dir,
    run_by_length,
    softmax,
)
from investiq.core.settings import Settings
from tests.conftest import flush_journal
from training.finbert import load_pretrained

HELD_OUT = [
    "Quarterly profit doubles on strong demand",
    "Regulator opens probe into accounting practices",
    "Company schedules its annual shareholder meeting",
    "Guidance cut sends the stock to a five-year low",
    "émissions de CO2 — cours en baisse 📉",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("finbert")
    source = tiny_bert.build(root / "hf")
    export_finbert(str(source), root / "repo", log=lambda _: None)
    return source, root / "repo"


def torch_probabilities(source: Path, texts: list[str]) -> np.ndarray[Any, Any]:
    model, tokenizer = load_pretrained(str(source))
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits.numpy()
    labels = [model.config.id2label[i] for i in range(3)]
    return softmax(logits)[:, [labels.index(x) for x in ("positive", "negative", "neutral")]]


def test_export_writes_a_validated_self_describing_artifact(tiny: tuple[Path, Path]):
    _, repo = tiny
    directory = finbert_dir(repo)
    assert sorted(p.name for p in directory.iterdir()) == [
        "artifact.json",
        "model.int8.fused.onnx",  # the other CPU runtimes' graphs (investiq/core/finbert_runtime.py)
        "model.int8.onnx",
        "model.int8.qdq.onnx",
        "model.onnx",
        "model.py",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    meta = FinbertMeta.load(directory)
    assert meta.labels == ["positive", "negative", "neutral"]  # from the model's id2label
    assert meta.validation["fp32"]["max_logit_diff"] < 1e-4
    assert meta.validation["int8"]["label_agreement"] >= 0.9
    assert not [p for p in (repo / "finbert_model").iterdir() if p.name.startswith(".")]  # no staging left


def test_an_export_without_int8_graphs_serves_its_fp32_graph(tiny: tuple[Path, Path], tmp_path: Path):
    """`export finbert --no-quantize` wrote the fp32 graph alone, and the gateway (quantize: true, the default)
    refused to start: every runtime it tries is an INT8 one, where no export at all would have served the
    lexicon (a review). It serves the fp32 graph, saying why."""
    source, _ = tiny
    export_finbert(str(source), tmp_path / "repo", quantize=False, log=lambda _: None)
    backend = EmbeddedBackend(tmp_path / "repo")
    assert backend.finbert_runtime == "onnxruntime-fp32"
    assert "missing ONNX file" in backend.finbert_choice and "fell back" in backend.finbert_choice


def test_reexport_gives_the_same_tree_and_version(tiny: tuple[Path, Path], tmp_path: Path):
    source, repo = tiny
    again = tmp_path / "repo"
    first = export_finbert(str(source), again, log=lambda _: None)
    second = export_finbert(str(source), again, log=lambda _: None)
    assert first.version == second.version == FinbertMeta.load(finbert_dir(repo)).version
    assert sorted(p.name for p in finbert_dir(again).iterdir()) == sorted(
        p.name for p in finbert_dir(repo).iterdir()
    )
    assert [p.name for p in (again / "finbert_model").iterdir()] == ["1"]


def test_a_failed_validation_installs_nothing(
    tiny: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    source, _ = tiny
    repo = tmp_path / "repo"
    export_finbert(str(source), repo, log=lambda _: None)
    before = {p.name: p.stat().st_mtime_ns for p in finbert_dir(repo).iterdir()}
    monkeypatch.setattr(finbert_check, "FP32_MAX_DIFF", -1.0)
    with pytest.raises(ExportError, match="validation failed, nothing installed"):
        export_finbert(str(source), repo, log=lambda _: None)
    assert {p.name: p.stat().st_mtime_ns for p in finbert_dir(repo).iterdir()} == before
    assert [p.name for p in (repo / "finbert_model").iterdir()] == ["1"]


def test_tokenizer_parity_with_hugging_face(tiny: tuple[Path, Path]):
    source, repo = tiny
    _, tokenizer = load_pretrained(str(source))
    ours = Encoder(finbert_dir(repo), 128)(HELD_OUT)
    theirs = tokenizer(HELD_OUT, padding=True, return_tensors="np")
    np.testing.assert_array_equal(ours["input_ids"], theirs["input_ids"])
    np.testing.assert_array_equal(ours["attention_mask"], theirs["attention_mask"])
    assert ours["input_ids"].shape[1] < 128  # padded to the longest text, not to the limit


@pytest.mark.parametrize(("quantize", "atol", "min_agreement"), [(False, 1e-5, 1.0), (True, 0.05, 0.8)])
def test_embedded_backend_matches_pytorch(
    tiny: tuple[Path, Path], quantize: bool, atol: float, min_agreement: float
):
    source, repo = tiny
    backend = EmbeddedBackend(repo, quantize=quantize)
    meta = FinbertMeta.load(finbert_dir(repo))
    out = asyncio.run(backend.infer("finbert", {"TEXT": np.array(HELD_OUT, dtype=object)}))["probabilities"]
    ours = out[:, [meta.labels.index(x) for x in ("positive", "negative", "neutral")]]
    want = torch_probabilities(source, HELD_OUT)
    assert np.abs(ours - want).max() <= atol
    assert (ours.argmax(1) == want.argmax(1)).mean() >= min_agreement
    asyncio.run(backend.close())


def test_label_order_travels_with_the_artifact(tmp_path: Path):
    order = {0: "neutral", 1: "positive", 2: "negative"}
    source = tiny_bert.build(tmp_path / "hf", seed=3, labels=order)
    export_finbert(str(source), tmp_path / "repo", log=lambda _: None)
    settings = Settings(db_path=tmp_path / "p.db", model_repository=tmp_path / "repo", quantize=False)
    with TestClient(create_app(settings)) as client:
        body = client.post("/sentiment/predict", json={"texts": HELD_OUT}).json()
    got = np.array(
        [[p["probabilities"][k] for k in ("positive", "negative", "neutral")] for p in body["predictions"]]
    )
    np.testing.assert_allclose(got, torch_probabilities(source, HELD_OUT), atol=1e-5)


def test_an_export_that_lands_while_the_gateway_starts_never_mixes_two_models(
    tiny: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The backend read FinBERT's graph, then the sentiment service its artifact again: an export landing in
    between served the old model's answers under the new one's version and label order (a review: every label
    flipped). Both now read one copy, and the gateway serves the model that loaded, named as it is."""
    source, built = tiny
    repo = Path(shutil.copytree(built, tmp_path / "repo"))
    old = FinbertMeta.load(finbert_dir(repo)).version
    other = tiny_bert.build(tmp_path / "hf", seed=3, labels={0: "neutral", 1: "positive", 2: "negative"})

    def racing(settings: Settings) -> Any:
        backend = build_backend(settings)  # gateway.wiring's, which the app calls
        export_finbert(str(other), repo, log=lambda _: None)  # lands during start-up
        return backend

    monkeypatch.setattr("gateway.app.build_backend", racing)
    settings = Settings(db_path=tmp_path / "p.db", model_repository=repo, quantize=False)
    with TestClient(create_app(settings)) as client:
        body = client.post("/sentiment/predict", json={"texts": HELD_OUT}).json()
    assert FinbertMeta.load(finbert_dir(repo)).version != old
    assert body["model_version"].startswith(f"{old}-")
    got = np.array(
        [[p["probabilities"][k] for k in ("positive", "negative", "neutral")] for p in body["predictions"]]
    )
    np.testing.assert_allclose(got, torch_probabilities(source, HELD_OUT), atol=1e-5)


def test_the_cache_keeps_a_texts_first_answer_and_use_cache_false_leaves_it_alone():
    """`use_cache: false` skipped the lookup but wrote its answer over the one kept (a review): the next request
    read that instead, marked cached. Dynamic INT8's answers move with what shares the pass, so which one is kept
    shows."""
    from gateway.metrics import Metrics
    from gateway.services.sentiment import SentimentLimits, SentimentService

    class Drifting:  # a scorer whose answer moves by a little each call, as dynamic INT8's does with its batch
        model, version, calls = "finbert", "v", 0

        async def score(self, texts: list[str]) -> np.ndarray[Any, Any]:
            self.calls += 1
            return np.array([[0.5 + self.calls / 100, 0.2, 0.3 - self.calls / 100]] * len(texts), np.float32)

    service = SentimentService(Drifting(), None, Metrics(), limits=SentimentLimits(), cache_size=8)  # type: ignore[arg-type]

    def positive(**options: Any) -> tuple[float, bool]:
        [p] = asyncio.run(service.score(["Rates unchanged"], **options)).predictions
        return round(p.probabilities["positive"], 4), p.cached

    assert positive() == (0.51, False)
    assert positive(use_cache=False) == (0.52, False)
    assert positive() == (0.51, True)


def test_micro_batching_merges_concurrent_requests(tiny: tuple[Path, Path]):
    _, repo = tiny
    meta = FinbertMeta.load(finbert_dir(repo))
    texts = [f"{h} number {i}" for i, h in enumerate(HELD_OUT * 2)]

    async def run() -> tuple[list[int], list[np.ndarray[Any, Any]], np.ndarray[Any, Any]]:
        backend = EmbeddedBackend(repo, quantize=False)
        sizes: list[int] = []
        scorer = FinbertScorer(
            backend, meta.labels, meta.version, max_batch=32, max_wait_s=0.2, on_batch=sizes.append
        )
        together = await asyncio.gather(*(scorer.score([t]) for t in texts))
        alone = await FinbertScorer(backend, meta.labels, meta.version, max_batch=1, max_wait_s=0).score(texts)
        await backend.close()
        return sizes, [t[0] for t in together], alone

    sizes, together, alone = asyncio.run(run())
    assert sizes == [len(texts)]  # ten concurrent requests, one forward pass
    np.testing.assert_allclose(np.stack(together), alone, atol=1e-5)  # padding does not change answers


def test_texts_grouped_by_length_get_the_answers_of_one_padded_pass(tiny: tuple[Path, Path]):
    """run_by_length on the real fp32 graph: a burst of short headlines and one long text runs in passes cut
    to their own length, and each text's logits are those of one pass padded to the longest (attention
    ignores padding)."""
    import onnxruntime as ort

    _, repo = tiny
    session = ort.InferenceSession(str(finbert_dir(repo) / "model.onnx"), providers=["CPUExecutionProvider"])
    texts = [*HELD_OUT, " ".join(HELD_OUT * 3), *HELD_OUT[:3]]
    feed = Encoder(finbert_dir(repo), 128)(texts)
    widths: list[int] = []

    def run(part: dict[str, Any]) -> np.ndarray[Any, Any]:
        widths.append(part["input_ids"].shape[1])
        return np.asarray(session.run([OUTPUT], part)[0])

    grouped = run_by_length(run, feed)
    assert len(widths) == 2 and min(widths) < feed["input_ids"].shape[1] // 3  # the short ones ran short
    np.testing.assert_allclose(grouped, session.run([OUTPUT], feed)[0], atol=1e-5)


def test_the_embedded_backend_cuts_a_burst_into_passes_of_like_length(tiny: tuple[Path, Path]):
    """Handed a burst whole (cut=False, as the gateway wires it on a CPU), the embedded backend runs it in
    passes of at most max_pass_rows texts of like length, with the answers of one text per pass."""
    _, repo = tiny
    meta = FinbertMeta.load(finbert_dir(repo))
    texts = [" ".join(HELD_OUT * 2), *HELD_OUT, *HELD_OUT[:3], " ".join(HELD_OUT)]

    async def run() -> tuple[list[int], list[tuple[int, int]], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        backend = EmbeddedBackend(repo, quantize=False, max_pass_rows=4)
        assert backend.plans_finbert_passes
        session, shapes = backend._sessions["finbert_model"], []  # the passes it runs

        class Recording:
            def run(self, names: list[str], feed: dict[str, Any]) -> Any:
                shapes.append(feed["input_ids"].shape)
                return session.run(names, feed)

        backend._sessions["finbert_model"] = Recording()
        sizes: list[int] = []
        burst = FinbertScorer(
            backend, meta.labels, meta.version, max_batch=4, max_wait_s=0, on_batch=sizes.append, cut=False
        )
        together = await burst.score(texts)
        passes = list(shapes)
        alone = await FinbertScorer(backend, meta.labels, meta.version, max_batch=1, max_wait_s=0).score(texts)
        await backend.close()
        return sizes, passes, together, alone

    sizes, passes, together, alone = asyncio.run(run())
    assert sizes == [len(texts)]  # one backend call for the burst
    assert sum(rows for rows, _ in passes) == len(texts) and max(rows for rows, _ in passes) <= 4
    assert sorted(width for _, width in passes)[0] < max(width for _, width in passes) // 3  # short ones ran short
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_the_gateway_hands_the_embedded_backend_a_burst_whole(tiny: tuple[Path, Path], tmp_path: Path):
    _, repo = tiny
    settings = Settings(db_path=tmp_path / "p.db", model_repository=repo, quantize=False, sentiment_batch_size=4)
    texts = [f"{h} ({i})" for i, h in enumerate(HELD_OUT * 2)]
    with TestClient(create_app(settings)) as client:
        assert client.post("/sentiment/predict", json={"texts": texts}).status_code == 200
        metrics = client.get("/metrics").text
    assert 'investiq_batch_size_count{model="finbert"} 1.0' in metrics  # one call, not three of at most 4
    assert f'investiq_batch_size_sum{{model="finbert"}} {len(texts)}.0' in metrics


def test_predict_over_http_writes_the_journal(tiny: tuple[Path, Path], tmp_path: Path):
    _, repo = tiny
    db = tmp_path / "p.db"
    # today's INT8 on every CPU, so that model_version ends in -int8 (auto picks per CPU: test_finbert_runtimes.py)
    settings = Settings(db_path=db, model_repository=repo, finbert_runtime="onnxruntime-int8")
    with TestClient(create_app(settings)) as client:
        assert client.get("/sentiment/health").json()["status"] == "healthy"
        body = {"texts": HELD_OUT[:2], "symbol": "AAPL"}
        first = client.post("/sentiment/predict", json=body)
        assert first.status_code == 200, first.text
        result = first.json()
        assert result["model"] == "finbert"
        version = FinbertMeta.load(finbert_dir(repo)).version
        assert result["model_version"] == f"{version}-int8"
        for p in result["predictions"]:
            probs = p["probabilities"]
            assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
            assert p["confidence"] == pytest.approx(max(probs.values()))
            assert p["label"] == max(probs, key=probs.get)
            assert p["score"] == pytest.approx(probs["positive"] - probs["negative"])
            assert p["cached"] is False
        second = client.post("/sentiment/predict", json=body).json()
        assert [p["cached"] for p in second["predictions"]] == [True, True]
        assert second["predictions"][0]["probabilities"] == result["predictions"][0]["probabilities"]
        fresh = client.post("/sentiment/predict", json={**body, "use_cache": False}).json()
        assert [p["cached"] for p in fresh["predictions"]] == [False, False]
        metrics = client.get("/metrics").text
        assert 'investiq_sentiment_cache_total{result="hit"} 2.0' in metrics
        assert "investiq_sentiment_cache_hit_rate 0.5" in metrics
    query = "SELECT symbol, text, label, model_name, model_version, cached FROM sentiment_predictions"
    rows = sqlite3.connect(db).execute(query + " ORDER BY id").fetchall()
    assert len(rows) == 6
    assert rows[0][:2] == ("AAPL", HELD_OUT[0])
    assert rows[0][3:5] == ("finbert", f"{version}-int8")
    assert [r[5] for r in rows] == [0, 0, 1, 1, 0, 0]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"texts": []}, "texts is empty"),
        ({"texts": ["ok", "   "]}, "texts[1] is empty or only whitespace"),
        ({"texts": ["x"] * 257}, "257 items, more than the limit of 256"),
        ({"texts": ["x" * 2001]}, "texts[0] has 2001 characters"),
        ({"texts": ["ok", 5]}, "texts.1: Input should be a valid string"),
        ({"texts": "not a list"}, "texts: Input should be a valid list"),
        ({"symbol": "AAPL"}, "texts: Field required"),
    ],
)
def test_bad_sentiment_requests_are_named(
    tiny: tuple[Path, Path], tmp_path: Path, body: dict[str, Any], fragment: str
):
    _, repo = tiny
    db = tmp_path / "p.db"
    with TestClient(create_app(Settings(db_path=db, model_repository=repo))) as client:
        response = client.post("/sentiment/predict", json=body)
    assert response.status_code == 422
    assert fragment in response.json()["detail"]
    assert sqlite3.connect(db).execute("SELECT count(*) FROM sentiment_predictions").fetchone()[0] == 0


def test_unicode_emoji_and_control_characters_are_answered(tiny: tuple[Path, Path], tmp_path: Path):
    _, repo = tiny
    texts = [
        "Ünïcödé 株価 上昇",
        "🚀🚀 to the moon 📈",
        "tab\tnew\nline\x07bell\x00nul",
        "\u202eright-to-left",
    ]
    with TestClient(create_app(Settings(db_path=tmp_path / "p.db", model_repository=repo))) as client:
        response = client.post("/sentiment/predict", json={"texts": texts})
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 4


def test_a_corrupt_or_missing_onnx_file_is_a_startup_error_naming_it(tiny: tuple[Path, Path], tmp_path: Path):
    import shutil

    _, repo = tiny
    broken = tmp_path / "repo"
    shutil.copytree(repo, broken)
    (finbert_dir(broken) / "model.int8.onnx").write_bytes(b"not an onnx graph")
    settings = Settings(model_repository=broken, finbert_runtime="onnxruntime-int8")  # reads it on any CPU
    with pytest.raises(StartupError, match=r"model\.int8\.onnx"):
        build_backend(settings)
    (finbert_dir(broken) / "model.int8.onnx").unlink()
    with pytest.raises(StartupError, match=r"missing ONNX file .*model\.int8\.onnx"):
        build_backend(settings)


def test_without_weights_the_lexicon_answers_and_health_says_why(tmp_path: Path):
    with TestClient(
        create_app(Settings(db_path=tmp_path / "p.db", model_repository=tmp_path / "empty"))
    ) as client:
        health = client.get("/sentiment/health").json()
        assert health["status"] == "degraded"
        assert "investiq export finbert" in health["reason"]
        body = client.post(
            "/sentiment/predict", json={"texts": ["Shares plunge after a dismal, terrible quarter"]}
        ).json()
    assert body["model"] == "lexicon"
    assert body["predictions"][0]["label"] == "negative"


def test_the_lexicon_can_be_chosen_on_purpose(tiny: tuple[Path, Path], tmp_path: Path):
    _, repo = tiny
    settings = Settings(db_path=tmp_path / "p.db", model_repository=repo, sentiment_model="lexicon")
    with TestClient(create_app(settings)) as client:
        assert client.get("/sentiment/health").json()["status"] == "healthy"
        body = client.post("/sentiment/predict", json={"texts": ["Great results, record profit"]}).json()
    assert body["model"] == "lexicon"
    assert body["predictions"][0]["label"] == "positive"


def test_offline_without_weights_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")
    with pytest.raises(WeightsError, match="hf download ProsusAI/finbert"):
        load_pretrained("ProsusAI/finbert")


def test_a_journal_failure_never_fails_a_prediction(tiny: tuple[Path, Path], tmp_path: Path):
    _, repo = tiny
    db = tmp_path / "p.db"
    with TestClient(create_app(Settings(db_path=db, model_repository=repo))) as client:
        sqlite3.connect(db).execute("DROP TABLE sentiment_predictions")  # the logs can no longer be written
        response = client.post("/sentiment/predict", json={"texts": ["Stocks rally"]})
        assert response.status_code == 200
        flush_journal(client)
        journal = client.get("/health").json()["components"]["journal"]
        assert journal["status"] == "degraded"
        assert "sentiment_predictions" in journal["reason"]
        assert "investiq_journal_failed_total 1.0" in client.get("/metrics").text


def test_the_encoder_pads_to_a_multiple_of_tokens_never_past_its_limit(tiny: tuple[Path, Path]):
    """Triton's tokenizer step pads to a multiple of 16 tokens, so that its model's batcher sees few widths: the
    same tokens and mask as padded to the longest text, then only padding, and never past max_tokens."""
    _, repo = tiny
    plain = Encoder(finbert_dir(repo), 128)(HELD_OUT)
    rounded = Encoder(finbert_dir(repo), 128, multiple=16)(HELD_OUT)
    width = plain["input_ids"].shape[1]
    assert rounded["input_ids"].shape == rounded["attention_mask"].shape == (len(HELD_OUT), -(-width // 16) * 16)
    for name in ("input_ids", "attention_mask"):
        np.testing.assert_array_equal(rounded[name][:, :width], plain[name])
        assert not rounded[name][:, width:].any()  # padding: id 0, not attended
    long = " ".join(HELD_OUT * 4)
    assert Encoder(finbert_dir(repo), 20, multiple=16)([long])["input_ids"].shape == (1, 20)  # not 32


def test_a_model_that_answers_nan_is_a_503_never_an_answer():
    """A broken export or runtime answering NaN (or a value outside [0, 1]): its NaN reached the answer, and the
    journal's row was dropped (a review). The scorer refuses it as the backend's failure."""
    from investiq.core.errors import BackendUnavailableError
    from tests.fakes import FakeBackend

    class Broken(FakeBackend):
        def __init__(self, value: float) -> None:
            super().__init__()
            self.value = value

        async def infer(self, model: str, inputs: Any, version: int | None = None) -> dict[str, Any]:
            batch = len(next(iter(inputs.values())))
            return {"probabilities": np.full((batch, 3), self.value, dtype=np.float32)}

    async def score(value: float) -> Any:
        return await FinbertScorer(Broken(value), list(LABELS), "v", max_batch=4, max_wait_s=0).score(["a", "b"])

    assert asyncio.run(score(1 / 3)).shape == (2, 3)
    for value in (float("nan"), float("inf"), -0.5):
        with pytest.raises(BackendUnavailableError, match="not a probability"):
            asyncio.run(score(value))
