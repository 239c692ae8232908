"""The fast lane (gateway/fastlane.py): a valid request to /sentiment/predict or /price/predict skips FastAPI's
routing and dependency solver, and gets the answer FastAPI's route gives; anything the lane declines (no key, not
JSON, invalid) gets FastAPI's own answer, byte for byte, from the same app."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import fastapi.routing
import pytest
from fastapi import Depends, FastAPI, Request, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel, SecretStr

from export.patchtst import sample_windows
from gateway import fastlane
from gateway.app import create_app
from gateway.fastlane import FastLane
from gateway.routes import price, sentiment
from gateway.security import require_api_key
from investiq.core.settings import Settings

KEY = "lane-key"
CLOSES = [float(x) for x in sample_windows(1, 100, 3)[0, :, 0]]
VALID = {
    "/sentiment/predict": {"texts": ["Profits soar", "Shares plunge"], "symbol": "AAPL", "use_cache": False},
    "/price/predict": {"symbol": "SPX", "prices": CLOSES, "interval": "1d", "last_bar_time": "2026-11-30T21:00Z"},
}


@pytest.fixture
def solved(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times FastAPI's dependency solver ran (the lane never calls it)."""
    calls = [0]
    real = fastapi.routing.solve_dependencies  # type: ignore[attr-defined]

    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return await real(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    return calls


def settings_for(trained: tuple[Path, Path], tmp_path: Path, name: str, key: str | None) -> Settings:
    """Lexicon sentiment (FinBERT is not in the tiny repository) and the trained tiny PatchTST."""
    return Settings(
        db_path=tmp_path / f"{name}.db",
        model_repository=trained[1],
        data_dir=tmp_path / "data",
        price_resolve_every_s=0,
        api_key=SecretStr(key) if key else None,
    )


@pytest.fixture
def pair(trained: tuple[Path, Path], tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any]]:
    """(the app as served, the same app with its lane routes removed)."""
    key = getattr(request, "param", None)
    laned = create_app(settings_for(trained, tmp_path, "laned", key))
    plain = create_app(settings_for(trained, tmp_path, "plain", key))
    plain.router.routes[:] = [route for route in plain.router.routes if not isinstance(route, FastLane)]
    with TestClient(laned) as a, TestClient(plain) as b:
        yield a, b


def comparable(response: Any) -> tuple[int, str | None, Any]:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        body.pop("processing_time_ms", None)
    return response.status_code, response.headers.get("content-type"), body


def test_a_valid_request_takes_the_lane_and_gets_fastapis_answer(pair: tuple[Any, Any], solved: list[int]):
    laned, plain = pair
    for path, body in VALID.items():
        before = solved[0]
        answer = laned.post(path, json=body)
        assert answer.status_code == 200, answer.text
        assert solved[0] == before, f"{path} went through FastAPI's dependency solver"
        assert comparable(answer) == comparable(plain.post(path, json=body))
        assert solved[0] == before + 1
        assert answer.headers["x-request-id"]
    metrics = laned.get("/metrics").text
    for path in VALID:  # named by the route's template, as FastAPI's routing names it
        assert f'investiq_http_requests_total{{method="POST",route="{path}",status="200"}} 1.0' in metrics


JSON = "application/json"
DECLINED = [  # (what, body, Content-Type or None for none)
    ("not JSON", b"texts=a", "application/x-www-form-urlencoded"),
    ("JSON under another type", json.dumps(VALID["/sentiment/predict"]).encode(), "text/plain"),
    ("no content type", json.dumps(VALID["/sentiment/predict"]).encode(), None),
    ("invalid JSON", b'{"texts": ["a"]', JSON),
    ("empty body", b"", JSON),
    ("a list", b'["a"]', JSON),
    ("a wrong type", b'{"texts": "a"}', JSON),
    ("a NaN only the standard library reads", b'{"texts": ["a"], "prices": [NaN]}', JSON),
    ("a byte-order mark", b'\xef\xbb\xbf{"texts": ["a"]}', JSON),
    ("a lone surrogate", b'{"texts": ["\\ud800"]}', JSON),
    ("no prices", b'{"symbol": "SPX"}', JSON),
    ("a NaN price", json.dumps({"symbol": "SPX", "prices": [*CLOSES[:-1], float("nan")]}).encode(), JSON),
    ("empty texts (the service refuses)", b'{"texts": []}', JSON),
]


@pytest.mark.parametrize("path", list(VALID))
def test_what_the_lane_declines_gets_fastapis_own_answer(pair: tuple[Any, Any], path: str):
    laned, plain = pair
    for name, body, content_type in DECLINED:
        headers = {} if content_type is None else {"content-type": content_type}
        got, expected = (client.post(path, content=body, headers=headers) for client in (laned, plain))
        assert comparable(got) == comparable(expected), name


def test_a_body_in_chunks_is_read_whole_and_replayed_when_declined(pair: tuple[Any, Any], solved: list[int]):
    laned, plain = pair
    text = json.dumps(VALID["/sentiment/predict"]).encode()
    chunks = [text[:7], text[7:20], text[20:]]
    answer = laned.post("/sentiment/predict", content=iter(chunks), headers={"content-type": "application/json"})
    assert answer.status_code == 200, answer.text
    assert solved[0] == 0
    broken = [b'{"texts": ', b'["a", 3]}']
    got, expected = (
        client.post("/sentiment/predict", content=iter(broken), headers={"content-type": "application/json"})
        for client in (laned, plain)
    )
    assert got.status_code == 422
    assert comparable(got) == comparable(expected)


@pytest.mark.parametrize("pair", [KEY], indirect=True)
def test_the_lane_takes_only_a_request_with_the_key(pair: tuple[Any, Any], solved: list[int]):
    laned, plain = pair
    for path, body in VALID.items():
        for headers in ({}, {"X-API-Key": "lane-kez"}, {"X-API-Key": ""}):
            got, expected = (client.post(path, json=body, headers=headers) for client in (laned, plain))
            assert got.status_code == 401
            assert comparable(got) == comparable(expected)
        before = solved[0]
        assert laned.post(path, json=body, headers={"X-API-Key": KEY}).status_code == 200
        assert solved[0] == before


class Body(BaseModel):
    n: int


async def _state(request: Request) -> Any:
    return request.app.state


def test_install_refuses_what_it_could_not_serve_as_fastapi_would():
    def app_with(endpoint: Any, **options: Any) -> FastAPI:
        app = FastAPI(dependencies=[Depends(require_api_key)], **options)
        app.post("/x")(endpoint)
        return app

    async def returns_a_model(body: Body) -> Body:
        return body

    async def takes_a_query(body: Body, limit: int) -> Response:
        return Response()

    async def needs_more_than_the_request(body: Body, state: Annotated[Any, Depends(lambda: None)]) -> Response:
        return Response()

    async def fine(body: Body, state: Annotated[Any, Depends(_state)]) -> Response:
        return Response()

    refused: list[tuple[Callable[..., Awaitable[Any]], str]] = [
        (returns_a_model, "must return a Response"),
        (takes_a_query, "'limit' is neither its body"),
        (needs_more_than_the_request, "'state' is neither its body"),
    ]
    for endpoint, why in refused:
        with pytest.raises(TypeError, match=why):
            fastlane.install(app_with(endpoint), endpoint)
    fastlane.install(app_with(fine), fine)
    with pytest.raises(TypeError, match="checks the API key only"):
        fastlane.install(FastAPI(), fine)
    with pytest.raises(TypeError, match="exactly one POST route"):
        fastlane.install(app_with(fine), returns_a_model)


def test_the_served_app_lanes_the_two_hot_routes(settings: Settings):
    app = create_app(settings)
    lanes = [route for route in app.router.routes if isinstance(route, FastLane)]
    assert {lane.endpoint for lane in lanes} == {sentiment.predict, price.predict}
    assert app.openapi()["paths"]["/sentiment/predict"]["post"]["requestBody"]  # the document is FastAPI's
