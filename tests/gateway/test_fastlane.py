"""The fast lane (gateway/fastlane.py): a valid request to /sentiment/predict or /price/predict skips FastAPI's
routing and dependency solver, and gets the answer FastAPI's route gives; anything the lane declines (no key, not
JSON, invalid) gets FastAPI's own answer from the same app. Every comparison is against the same app with its lane
routes removed: status, headers (but the request id, and the length of an answer that carries its own timing) and
body."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import fastapi.routing
import pandas as pd
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel, SecretStr, TypeAdapter

from export.patchtst import sample_windows
from gateway import fastlane
from gateway.app import create_app
from gateway.deps import _sentiment
from gateway.fastlane import FastLane
from gateway.routes import price, sentiment
from gateway.schemas.price import PriceResponse
from gateway.security import require_api_key
from investiq.core import yahoo
from investiq.core.errors import DataError
from investiq.core.settings import Settings

KEY = "lane-key"
CLOSES = [float(x) for x in sample_windows(1, 100, 3)[0, :, 0]]
SENTIMENT, PRICE = "/sentiment/predict", "/price/predict"
VALID = {
    SENTIMENT: {"texts": ["Profits soar", "Shares plunge"], "symbol": "AAPL", "use_cache": False},
    PRICE: {"symbol": "SPX", "prices": CLOSES, "interval": "1d", "last_bar_time": "2026-11-30T21:00Z"},
}
JSON = [("content-type", "application/json")]


class Lanes:
    """The app as served, the same app without its lane routes, and how many requests the lane answered."""

    def __init__(self, laned: TestClient, plain: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
        self.laned, self.plain, self.taken = laned, plain, 0
        self.clients = (laned, plain)
        for lane in laned.app.router.routes:  # type: ignore[attr-defined]
            if isinstance(lane, FastLane):
                monkeypatch.setattr(lane, "endpoint", self._counting(lane.endpoint))

    def _counting(self, endpoint: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
        async def counted(**arguments: Any) -> Response:
            self.taken += 1
            return await endpoint(**arguments)

        return counted

    def both(self, path: str, **request: Any) -> tuple[Any, Any, bool]:
        """(the laned app's answer, the plain app's, whether the lane answered)."""
        before = self.taken
        got = self.laned.post(path, **request)
        return got, self.plain.post(path, **request), self.taken > before


@pytest.fixture
def lanes(
    trained: tuple[Path, Path], tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Lanes]:
    key = getattr(request, "param", None)

    def offline(symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        raise DataError(f"no data from Yahoo Finance for {symbol} {interval}: offline in tests")

    monkeypatch.setattr(yahoo, "fetch_yfinance", offline)  # a request without prices asks for bars

    def app(name: str) -> FastAPI:  # lexicon sentiment (no FinBERT in the tiny repository), the tiny PatchTST
        settings = Settings(
            db_path=tmp_path / f"{name}.db",
            model_repository=trained[1],
            data_dir=tmp_path / "data",
            price_resolve_every_s=0,
            api_key=SecretStr(key) if key else None,
        )
        return create_app(settings)

    plain = app("plain")
    plain.router.routes[:] = [route for route in plain.router.routes if not isinstance(route, FastLane)]
    with TestClient(app("laned")) as laned, TestClient(plain) as plain_client:
        yield Lanes(laned, plain_client, monkeypatch)


def comparable(response: Any) -> tuple[int, dict[str, str], Any]:
    headers = {k: v for k, v in response.headers.items() if k not in {"x-request-id", "content-length"}}
    try:
        body = response.json()
    except ValueError:
        return response.status_code, headers, response.text
    timed = isinstance(body, dict) and body.pop("processing_time_ms", None) is not None
    if not timed:
        headers["content-length"] = response.headers.get("content-length")
    return response.status_code, headers, body


def test_a_valid_request_takes_the_lane_and_gets_fastapis_answer(lanes: Lanes, monkeypatch: pytest.MonkeyPatch):
    solved = [0]
    real = fastapi.routing.solve_dependencies  # type: ignore[attr-defined]

    async def counting(*args: Any, **kwargs: Any) -> Any:
        solved[0] += 1
        return await real(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    for path, body in VALID.items():
        got, expected, taken = lanes.both(path, json=body)
        assert got.status_code == 200, got.text
        assert taken and solved[0] == 1, path  # the lane's answer solved nothing; the plain app's, once
        assert comparable(got) == comparable(expected)
        assert got.headers["x-request-id"]
        solved[0] = 0
    metrics = lanes.laned.get("/metrics").text
    for path in VALID:  # named by the route's template, as FastAPI's routing names it
        assert f'investiq_http_requests_total{{method="POST",route="{path}",status="200"}} 1.0' in metrics


def test_the_price_answer_is_the_json_fastapi_wrote_for_the_response_model(lanes: Lanes):
    written = lanes.laned.post(PRICE, json=VALID[PRICE]).content
    as_fastapi_wrote_it = TypeAdapter(PriceResponse).dump_json(
        PriceResponse.model_validate_json(written), by_alias=True
    )
    assert written == as_fastapi_wrote_it


# (what, body, headers, {the routes whose lane takes it}); a taken request that the service refuses still gets the
# app's error handlers.
CASES: list[tuple[str, bytes, list[tuple[str, str]], set[str]]] = [
    ("not JSON", b"texts=a", [("content-type", "application/x-www-form-urlencoded")], set()),
    ("JSON under another type", json.dumps(VALID[SENTIMENT]).encode(), [("content-type", "text/plain")], set()),
    ("+json", json.dumps(VALID[SENTIMENT]).encode(), [("content-type", "application/vnd.api+json")], set()),
    ("no content type", json.dumps(VALID[SENTIMENT]).encode(), [], set()),
    ("two types, JSON second", b'{"texts": ["a"]}', [("content-type", "text/plain"), *JSON], set()),
    ("two types, JSON first", b'{"texts": ["a"]}', [*JSON, ("content-type", "text/plain")], {SENTIMENT}),
    ("a charset", b'{"texts": ["a"]}', [("content-type", "Application/JSON; charset=utf-8")], {SENTIMENT}),
    ("invalid JSON", b'{"texts": ["a"]', JSON, set()),
    ("empty body", b"", JSON, set()),
    ("a list", b'["a"]', JSON, set()),
    ("a wrong type", b'{"texts": "a"}', JSON, set()),
    ("a NaN where none is read", b'{"texts": ["a"], "prices": [NaN]}', JSON, {SENTIMENT}),
    ("a byte-order mark", b'\xef\xbb\xbf{"texts": ["a"]}', JSON, set()),
    ("a lone surrogate", b'{"texts": ["\\ud800"]}', JSON, set()),
    ("not UTF-8", b'{"texts": ["\xff"]}', JSON, set()),
    ("a huge integer", b'{"texts": ["a"], "n": 1' + b"0" * 5000 + b"}", JSON, set()),
    ("duplicate keys", b'{"texts": 1, "texts": ["a"]}', JSON, {SENTIMENT}),
    ("no prices (the service fetches them: offline here)", b'{"symbol": "SPX"}', JSON, {PRICE}),
    ("a NaN price", json.dumps({"symbol": "SPX", "prices": [*CLOSES[:-1], float("nan")]}).encode(), JSON, set()),
    ("empty texts (the service refuses)", b'{"texts": []}', JSON, {SENTIMENT}),
    ("too few prices (the service refuses)", b'{"symbol": "SPX", "prices": [1.0, 2.0]}', JSON, {PRICE}),
]


@pytest.mark.parametrize("path", list(VALID))
def test_what_the_lane_declines_gets_fastapis_own_answer(lanes: Lanes, path: str):
    for name, body, headers, taken_on in CASES:
        got, expected, taken = lanes.both(path, content=body, headers=headers)
        assert comparable(got) == comparable(expected), name
        assert taken == (path in taken_on), name


def test_a_body_in_chunks_is_read_whole_and_replayed_when_declined(lanes: Lanes):
    text = json.dumps(VALID[SENTIMENT]).encode()
    for chunks, status, lane in [
        ([text[:7], text[7:20], text[20:]], 200, 1),
        ([b'{"texts": ', b'["a", 3]}'], 422, 0),
    ]:
        before = lanes.taken
        got, expected = (client.post(SENTIMENT, content=iter(chunks), headers=JSON) for client in lanes.clients)
        assert got.status_code == status and lanes.taken - before == lane
        assert comparable(got) == comparable(expected)


@pytest.mark.parametrize("lanes", [KEY], indirect=True)
def test_the_lane_takes_only_a_request_with_the_key(lanes: Lanes):
    for path, body in VALID.items():
        for headers in (
            [],
            [("X-API-Key", "lane-kez")],
            [("X-API-Key", "")],
            [("X-API-Key", "kez"), ("X-API-Key", KEY)],
        ):
            got, expected, taken = lanes.both(path, json=body, headers=headers)
            assert got.status_code == 401 and not taken, headers
            assert comparable(got) == comparable(expected)
        for headers in ([("X-API-Key", KEY)], [("X-API-Key", KEY), ("X-API-Key", "kez")]):
            got, expected, taken = lanes.both(path, json=body, headers=headers)
            assert got.status_code == 200 and taken, headers
            assert comparable(got) == comparable(expected)


def test_with_dependency_overrides_fastapi_answers(lanes: Lanes):
    def overridden() -> None:
        raise HTTPException(418, "overridden")

    for client in (lanes.laned, lanes.plain):
        client.app.dependency_overrides[_sentiment] = overridden  # type: ignore[attr-defined]
    got, expected, taken = lanes.both(SENTIMENT, json=VALID[SENTIMENT])
    assert got.status_code == 418 and not taken
    assert comparable(got) == comparable(expected)


class Body(BaseModel):
    n: int


async def _state(request: Request) -> Any:
    return request.app.state


async def fine(body: Body, state: Annotated[Any, Depends(_state)]) -> Response:
    return Response()


def app_with(endpoint: Any, *, router_checks: Any = (), route_checks: Any = (), prefix: str = "") -> Any:
    app = FastAPI(dependencies=[Depends(require_api_key)])
    router = APIRouter(dependencies=list(router_checks))
    router.post("/x", dependencies=list(route_checks))(endpoint)
    app.include_router(router, prefix=prefix)
    return app


def test_install_refuses_what_it_could_not_serve_as_fastapi_would():
    async def returns_a_model(body: Body) -> Body:
        return body

    async def takes_a_query(body: Body, limit: int) -> Response:
        return Response()

    async def needs_more_than_the_request(body: Body, state: Annotated[Any, Depends(lambda: None)]) -> Response:
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
    check = Depends(_state)
    for app in (
        app_with(fine, router_checks=[check]),
        app_with(fine, route_checks=[check]),
        app_with(fine, prefix="/v1"),
    ):
        with pytest.raises(TypeError, match="checks the API key only"):
            fastlane.install(app, fine)
    bare = FastAPI()
    bare.include_router(app_with(fine).router.routes[-1].original_router)
    with pytest.raises(TypeError, match="checks the API key only"):
        fastlane.install(bare, fine)
    with pytest.raises(TypeError, match="one POST route"):
        fastlane.install(app_with(fine), returns_a_model)


def test_the_served_app_lanes_the_two_hot_routes(settings: Settings):
    app = create_app(settings)
    lanes = [route for route in app.router.routes if isinstance(route, FastLane)]
    assert {lane.endpoint for lane in lanes} == {sentiment.predict, price.predict}
    assert app.openapi()["paths"][SENTIMENT]["post"]["requestBody"]  # the document is FastAPI's
