"""The gateway shell: health, metrics, API key, body limit, readable errors, docs."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from gateway.app import create_app
from investiq.core.settings import Settings
from tests.fakes import FakeBackend

KEY = "s3cret-key-for-tests"


@pytest.fixture
def keyed(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"api_key": SecretStr(KEY)}))) as client:
        yield client


def test_root_health_reports_each_component(client: TestClient):
    body = client.get("/health").json()
    assert body["status"] == "degraded"  # nothing exported in the temp repository: lexicon fallback
    assert "FinBERT is not available" in body["components"]["sentiment"]["reason"]
    assert set(body["components"]) == {"journal", "bayesian", "inference", "sentiment", "price"}
    assert body["components"]["price"]["status"] == "unhealthy"  # nothing trained: its reason says what to run
    assert client.get("/bayesian/health").json()["status"] == "healthy"


def test_every_health_route_answers_503_when_unhealthy_as_documented(client: TestClient):
    """/price/health reported "unhealthy" (nothing trained) with a 200, while the API document says 503 for
    unhealthy on every health route, and /health and /bayesian/health sent it: one rule for all of them."""
    schema = client.get("/openapi.json").json()
    for path in ("/health", "/sentiment/health", "/price/health", "/bayesian/health"):
        assert "503" in schema["paths"][path]["get"]["responses"], path
    price = client.get("/price/health")
    assert (price.status_code, price.json()["status"]) == (503, "unhealthy")
    assert "investiq train patchtst" in price.json()["reason"]  # the same report as a 200 would carry
    sentiment = client.get("/sentiment/health")  # the lexicon fallback answers: degraded is still a 200
    assert (sentiment.status_code, sentiment.json()["status"]) == (200, "degraded")
    assert client.get("/bayesian/health").status_code == 200


def test_an_unready_backend_degrades_the_stack_with_the_reason(settings: Settings):
    backend = FakeBackend(ready=False)
    with TestClient(create_app(settings.model_copy(update={"sentiment_model": "lexicon"}), backend)) as client:
        response = client.get("/health")
        assert response.status_code == 200
        assert response.json()["status"] == "degraded"
        inference = response.json()["components"]["inference"]
        assert inference == {  # models there whatever the state: a strict client could not read it without
            "status": "degraded",
            "backend": "fake",
            "models": {},  # the lexicon answers sentiment; no PatchTST exported
            "reason": "no model is ready (fake backend at in-process)",
        }
        backend.is_ready = True
        assert client.get("/health").json()["components"]["inference"]["status"] == "healthy"
    assert backend.closed  # the lifespan closes what it was given


def test_metrics_count_requests_by_route_template_and_status(client: TestClient):
    client.post("/bayesian/update", json={"strategy_name": "s", "profit_loss": 1.0})
    client.post("/bayesian/update", json={"strategy_name": "s", "profit_loss": "x"})
    client.get("/no/such/path")
    text = client.get("/metrics").text
    assert 'investiq_http_requests_total{method="POST",route="/bayesian/update",status="200"} 1.0' in text
    assert 'investiq_http_requests_total{method="POST",route="/bayesian/update",status="422"} 1.0' in text
    assert 'route="unmatched",status="404"' in text
    assert "investiq_http_request_duration_seconds_bucket" in text
    assert "investiq_journal_committed_total 1.0" in text


def test_every_non_health_route_needs_the_key(keyed: TestClient):
    schema = keyed.get("/openapi.json", headers={"X-API-Key": KEY}).json()
    checked = 0
    for path, operations in schema["paths"].items():
        for method in operations:
            url = path.replace("{symbol}", "AAPL")
            no_key = keyed.request(method, url)
            wrong = keyed.request(method, url, headers={"X-API-Key": KEY + "x"})
            if path.endswith("/health") or path in {"/health/live", "/health/ready"}:
                assert no_key.status_code in (200, 503), path  # 503: unhealthy (nothing trained: /price/health)
                continue
            assert no_key.status_code == 401, (method, path)
            assert wrong.status_code == 401, (method, path)
            assert "X-API-Key" in no_key.json()["detail"]
            checked += 1
    assert checked >= 5
    ok = keyed.get("/bayesian/weights", headers={"X-API-Key": KEY})
    assert ok.status_code == 200


def test_the_key_never_reaches_the_logs(keyed: TestClient, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    keyed.get("/bayesian/weights", headers={"X-API-Key": "wrong-guess"})
    keyed.get("/bayesian/weights", headers={"X-API-Key": KEY})
    assert KEY not in caplog.text


def test_without_a_key_everything_is_open(client: TestClient):
    assert client.get("/bayesian/weights").status_code == 200


def test_oversized_bodies_get_413(settings: Settings):
    small = settings.model_copy(update={"max_body_bytes": 2048})
    with TestClient(create_app(small)) as client:
        big = {"strategy_name": "s", "profit_loss": 1.0, "pad": "x" * 4000}
        response = client.post("/bayesian/update", json=big)
        assert response.status_code == 413
        assert "2048" in response.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            yield b'{"strategy_name": "s", "profit_loss": 1.0, "pad": "'
            for _ in range(10):
                yield b"x" * 500
            yield b'"}'

        streamed = client.post("/bayesian/update", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert client.get("/bayesian/all-stats").json()["strategies"] == []


def test_malformed_json_is_a_readable_422(client: TestClient):
    response = client.post("/bayesian/update", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"
    assert "JSON" in response.json()["detail"]


def test_docs_are_served(client: TestClient):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/health",
        "/metrics",
        "/bayesian/update",
        "/bayesian/weights",
        "/bayesian/all-stats",
        "/bayesian/sync-from-database",
        "/bayesian/health",
    } <= set(paths)


def test_head_is_get_without_the_body_on_every_get_route(client: TestClient):
    """FastAPI's routes answered HEAD 405, /health/live included (a review: load balancers and probes send it)."""
    for path in ("/health", "/health/live", "/health/ready", "/bayesian/weights"):
        head, get = client.head(path), client.get(path)
        assert (head.status_code, head.content) == (get.status_code, b""), path
        assert head.headers["content-length"] == get.headers["content-length"]
    assert client.head("/sentiment/predict").status_code == 405  # a POST route stays one
    metrics = client.get("/metrics").text
    assert 'investiq_http_request_duration_seconds_count{method="HEAD",route="/health/live"} 1.0' in metrics


def test_only_a_body_in_another_coding_than_identity_is_refused(client: TestClient):
    """A probe's GET with Content-Encoding carries no body to decode; every header and list item is read."""
    assert client.get("/health/live", headers={"content-encoding": "gzip"}).status_code == 200
    body = b'{"texts": ["ok"]}'
    plain = {"content-type": "application/json"}
    assert (
        client.post(
            "/sentiment/predict", content=body, headers=plain | {"content-encoding": "identity, identity"}
        ).status_code
        == 200
    )
    both = [("content-type", "application/json"), ("content-encoding", "gzip"), ("content-encoding", "identity")]
    assert client.post("/sentiment/predict", content=body, headers=both).status_code == 415
