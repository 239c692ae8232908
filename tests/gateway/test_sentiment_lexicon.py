"""/sentiment without FinBERT: the finance lexicon answers over HTTP, names itself, and its confidence
follows the evidence (the issue's headlines, which VADER called neutral at 0.99999)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from investiq.core.finbert import LABELS, label_of
from investiq.core.lexicon import FinanceLexicon
from investiq.core.settings import Settings
from tests.conftest import flush_journal

ISSUE = {
    "Company Y files for bankruptcy": "negative",
    "Apple beats revenue estimates": "positive",
    "Analysts downgrade Initech to sell": "negative",
    "Tesla shares slide after deliveries miss": "negative",
}


def test_without_finbert_the_finance_lexicon_answers(client: TestClient, db_path: Path):
    health = client.get("/sentiment/health").json()
    assert health["status"] == "degraded"
    assert health["model"] == "lexicon"
    assert "finance lexicon" in health["reason"]
    texts = [*ISSUE, "The company is based in Ohio"]
    response = client.post("/sentiment/predict", json={"texts": texts, "symbol": "AAPL"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "lexicon"
    assert body["model_version"] == FinanceLexicon().version
    *issue, plain = body["predictions"]
    for p, expected in zip(issue, ISSUE.values(), strict=True):
        assert p["label"] == expected
        assert 0.7 < p["confidence"] < 0.99
        assert sum(p["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert p["score"] == pytest.approx(p["probabilities"]["positive"] - p["probabilities"]["negative"])
    assert plain["label"] == "neutral" and plain["confidence"] <= 0.6
    flush_journal(client)
    rows = (
        sqlite3.connect(db_path).execute("SELECT model_name, model_version FROM sentiment_predictions").fetchall()
    )
    assert rows == [("lexicon", body["model_version"])] * len(texts)


def test_the_lexicon_chosen_on_purpose_is_healthy(tmp_path: Path):
    settings = Settings(db_path=tmp_path / "p.db", model_repository=tmp_path / "repo", sentiment_model="lexicon")
    with TestClient(create_app(settings)) as client:
        health = client.get("/sentiment/health").json()
        body = client.post("/sentiment/predict", json={"texts": ["Nvidia raises guidance"]}).json()
    assert health["status"] == "healthy" and health["model"] == "lexicon"
    assert body["predictions"][0]["label"] == "positive"


def test_a_tie_of_good_and_bad_news_is_neutral(client: TestClient):
    """A mixed headline the lexicon splits evenly (0.452 each way, score 0.0) was labelled positive, the first
    of equal maxima: every tie leaned toward a buy (a review). Neutral, with its own probability."""
    (p,) = client.post("/sentiment/predict", json={"texts": ["Shares rise while guidance weakens"]}).json()[
        "predictions"
    ]
    assert p["score"] == pytest.approx(0.0, abs=1e-9), p
    assert p["label"] == "neutral" and p["confidence"] == p["probabilities"]["neutral"]
    assert [LABELS[label_of(q)] for q in ((0.4, 0.4, 0.2), (0.2, 0.4, 0.4), (0.5, 0.3, 0.2), (1 / 3,) * 3)] == [
        "neutral",
        "neutral",
        "positive",
        "neutral",
    ]
