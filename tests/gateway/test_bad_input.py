"""Bad input (issue 7, point 4): every malformed request gets a 4xx whose message names the problem,
nothing of it reaches a model, and nothing of it is written to the journal.

The app is the real one over real tiny models (a random BERT behind the FinBERT path, a PatchTST
trained for two epochs on the S&P 500 bars that `arch` ships), wrapped in a spy that records every
tensor the gateway hands to a model. tests/gateway/test_fuzz.py reuses the models and the spy.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from numpy.typing import NDArray

from gateway.app import create_app
from gateway.backends.base import InferenceBackend, Tensors
from gateway.backends.embedded import EmbeddedBackend
from gateway.errors import as_sent, describe_validation
from harness.tiny_patchtst import TINY
from investiq.core import yahoo
from investiq.core.errors import DataError
from investiq.core.patchtst import INPUT
from investiq.core.settings import Settings
from tests.conftest import flush_journal

CONTEXT = TINY.context_length  # 64 closes: the tiny PatchTST's context length
TABLES = ("sentiment_predictions", "price_predictions", "bayesian_events", "bayesian_state")


@pytest.fixture(scope="module")
def repository(both_models: Path) -> Path:
    """The tiny FinBERT and the tiny PatchTST (tests/conftest.py), built once per test session."""
    return both_models


class SpyBackend:
    """The real embedded backend, recording what each model was asked: proof that bad values never
    reach one. A wrapper, not a fake: the answers are the real models'."""

    def __init__(self, inner: InferenceBackend) -> None:
        self.inner = inner
        self.name = inner.name
        self.target = inner.target
        self.seen: list[tuple[str, dict[str, NDArray[np.generic]]]] = []

    async def infer(
        self, model: str, inputs: Tensors, version: int | None = None
    ) -> dict[str, NDArray[np.generic]]:
        self.seen.append((model, {k: np.array(v, copy=True) for k, v in inputs.items()}))
        return await self.inner.infer(model, inputs, version)

    async def ready(self, model: str | None = None) -> bool:
        return await self.inner.ready(model)

    async def reload(self, model: str) -> None:
        await self.inner.reload(model)

    async def close(self) -> None:
        """Not passed on: each app's lifespan closes its backend, and the spy outlives several apps (and
        schemathesis runs one lifespan per test); its fixture closes the real backend at the end."""

    def windows(self, since: int = 0) -> list[NDArray[np.generic]]:
        return [inputs[INPUT] for model, inputs in self.seen[since:] if model == "patchtst"]

    def texts(self, since: int = 0) -> list[str]:
        return [
            str(t) for model, inputs in self.seen[since:] if model == "finbert" for t in inputs["TEXT"].tolist()
        ]

    def assert_clean(self, since: int = 0) -> None:
        """Every close a model saw (since call `since`) is finite and > 0; every text is visible valid Unicode."""
        for window in self.windows(since):
            assert window.dtype == np.float32 and window.shape[1:] == (CONTEXT, 1)
            closes = window.astype(np.float64)
            assert np.isfinite(closes).all() and (closes > 0).all(), window
        for text in self.texts(since):
            assert text.strip() and text.encode("utf-8"), repr(text)


def offline(symbol: str, interval: str, start: Any, end: Any) -> pd.DataFrame:
    """Yahoo Finance stand-in: this machine has no network, and tests never touch it anyway."""
    raise DataError(f"no data from Yahoo Finance for {symbol} {interval}: offline in tests")


def app_settings(repo: Path, tmp: Path) -> Settings:
    return Settings(
        db_path=tmp / "portfolio.db",
        model_repository=repo,
        data_dir=tmp / "data",
        price_resolve_every_s=0,  # no background resolver: the journal changes only by requests
        price_batch_size=8,
    )


@pytest.fixture(scope="module")
def spy(repository: Path) -> Iterator[SpyBackend]:
    spy = SpyBackend(EmbeddedBackend(repository))
    yield spy
    asyncio.run(spy.inner.close())


@pytest.fixture(scope="module")
def client(repository: Path, spy: SpyBackend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(yahoo, "fetch_yfinance", offline)
        app = create_app(app_settings(repository, tmp_path_factory.mktemp("bad_input")), backend=spy)
        with TestClient(app) as test_client:
            yield test_client


def journal_rows(client: TestClient) -> dict[str, int]:
    """Rows per table once everything queued so far is committed (the writer runs jobs in order)."""
    flush_journal(client)
    with closing(sqlite3.connect(client.app.state.db_path)) as conn:  # type: ignore[attr-defined]
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def closes(last: Any = 100.0) -> list[Any]:
    return [100.0 + i % 7 for i in range(CONTEXT - 1)] + [last]


def with_last_close(literal: str) -> str:
    """A price body whose last close is written verbatim: JSON has no NaN, but Python's json.dumps (and
    other encoders) write NaN, Infinity and -Infinity, and Python's json.loads reads them."""
    return '{"symbol": "SPX", "prices": [' + ", ".join([*map(str, closes()[:-1]), literal]) + "]}"


TEXTS = "/sentiment/predict"
PRICE = "/price/predict"
BATCH = "/price/batch_predict"
TRADE = "/bayesian/update"
OK_TRADE = {"strategy_name": "momentum", "profit_loss": 1.0}
# (path, JSON body or raw text, status, what the detail must say)
CASES: list[tuple[str, Any, int, str]] = [
    # sentiment: sizes, then every field with a wrong type or value
    (TEXTS, {"texts": ["Shares rise"] * 10_000}, 422, "texts has 10000 items, more than the limit of 256"),
    (TEXTS, {"texts": ["a" * 1_000_000]}, 422, "texts[0] has 1000000 characters, more than the limit of 2000"),
    (TEXTS, {"texts": ["é" * 600_000]}, 413, "exceeds the limit of 1048576 bytes (setting max_body_bytes)"),
    (TEXTS, {"texts": []}, 422, "texts is empty"),
    (TEXTS, {"texts": ["fine", " \u200b\x00\t"]}, 422, "texts[1] is empty or only whitespace"),
    (TEXTS, {"texts": "Shares rise"}, 422, "body.texts: Input should be a valid list"),
    (TEXTS, {"texts": ["ok", 7]}, 422, "body.texts.1: Input should be a valid string (got 7)"),
    (TEXTS, {"texts": [None]}, 422, "body.texts.0: Input should be a valid string (got null)"),
    (TEXTS, {"symbol": "AAPL"}, 422, "body.texts: Field required"),
    (TEXTS, {"texts": ["ok"], "symbol": 42}, 422, "body.symbol: Input should be a valid string (got 42)"),
    (TEXTS, {"texts": ["ok"], "symbol": " "}, 422, "body.symbol: must not be empty or blank"),
    (
        TEXTS,
        {"texts": ["ok"], "symbol": "AA\x00PL"},
        422,
        "body.symbol: must contain only visible characters",
    ),
    (
        TEXTS,
        {"texts": ["ok"], "use_cache": "no"},
        422,
        'body.use_cache: Input should be a valid boolean (got "no")',
    ),
    (TEXTS, {"texts": ["ok"], "use_cache": 0}, 422, "body.use_cache: Input should be a valid boolean (got 0)"),
    (TEXTS, ["ok"], 422, "body: Input should be a valid dictionary"),
    # price: every kind of bad close, named by its index
    (PRICE, with_last_close("NaN"), 422, "body.prices.63: Input should be a finite number (got NaN)"),
    (PRICE, with_last_close("Infinity"), 422, "body.prices.63: Input should be a finite number (got Infinity)"),
    (PRICE, with_last_close("-Infinity"), 422, "body.prices.63: Input should be a finite number (got -Infinity)"),
    (PRICE, with_last_close('"NaN"'), 422, 'body.prices.63: Input should be a valid number (got "NaN")'),
    (PRICE, with_last_close('"Infinity"'), 422, 'body.prices.63: Input should be a valid number (got "Infinity")'),
    (PRICE, with_last_close('"-inf"'), 422, 'body.prices.63: Input should be a valid number (got "-inf")'),
    (PRICE, with_last_close("1e400"), 422, "body.prices.63: Input should be a finite number (got Infinity)"),
    (PRICE, with_last_close('"101.5"'), 422, 'body.prices.63: Input should be a valid number (got "101.5")'),
    (PRICE, with_last_close("null"), 422, "body.prices.63: Input should be a valid number (got null)"),
    (PRICE, with_last_close("true"), 422, "body.prices.63: Input should be a valid number (got true)"),
    (PRICE, with_last_close("0"), 422, "prices[63] = 0.0: every close must be a finite number > 0"),
    (PRICE, with_last_close("-5"), 422, "prices[63] = -5.0: every close must be a finite number > 0"),
    (PRICE, with_last_close("1e300"), 422, "prices[63] = 1e+300: every close must be between"),
    # closes before the model's window too: they were neither checked nor refused, and the forecast journaled
    (PRICE, {"symbol": "SPX", "prices": [-5.0, *closes()]}, 422, "prices[0] = -5.0: every close must be a finite"),
    (PRICE, {"symbol": "SPX", "prices": [1e300, *closes()]}, 422, "prices[0] = 1e+300: every close must be"),
    (PRICE, with_last_close("1e-300"), 422, "prices[63] = 1e-300: every close must be between"),
    (PRICE, {"symbol": "SPX", "prices": []}, 422, "got 0 closes, the model needs at least 64"),
    # both problems at once: the bad close was said only once enough closes came (a new user's walkthrough)
    (PRICE, {"symbol": "SPX", "prices": [1, -2]}, 422, "64 (its context length); and prices[1] = -2.0 is"),
    (PRICE, {"symbol": "SPX", "prices": "100"}, 422, "body.prices: Input should be a valid list"),
    (PRICE, {"prices": closes()}, 422, "body.symbol: Field required"),
    (PRICE, {"symbol": ["SPX"], "prices": closes()}, 422, "body.symbol: Input should be a valid string"),
    (PRICE, {"symbol": "S" * 129, "prices": closes()}, 422, "body.symbol: must be at most 128 characters"),
    (PRICE, {"symbol": "SPX", "prices": closes(), "interval": 15}, 422, "body.interval: Input should be a valid"),
    (PRICE, {"symbol": "SPX", "prices": closes(), "interval": "7m"}, 422, "interval '7m' is unknown; known:"),
    # ignored, a horizon of 5 was answered with the model's steps (a new user's walkthrough)
    (PRICE, {"symbol": "SPX", "prices": closes(), "horizon": 5}, 422, "horizon 5 is not the model's: it"),
    (PRICE, {"symbol": "SPX", "prices": closes(), "horizon": "4"}, 422, "body.horizon: Input should be a valid"),
    (PRICE, {"symbol": "SPX", "prices": closes(), "interval": "15m"}, 422, "it was trained on 1d bars"),
    (PRICE, {"symbol": "A/B"}, 422, "A/B: symbol 'A/B' cannot name a cache file; use a ticker such as AAPL"),
    (BATCH, {"requests": []}, 422, "requests is empty: send at least one"),
    (BATCH, {"requests": {"symbol": "SPX"}}, 422, "body.requests: Input should be a valid list"),
    (BATCH, {"requests": ["SPX"]}, 422, "body.requests.0: Input should be a valid dictionary"),
    (BATCH, {"symbols": ["SPX"]}, 422, "body.requests: Field required"),
    # one forecast's body on the batch route said only "body.requests: Field required" (a new user's walkthrough)
    (BATCH, {"symbol": "SPX", "prices": closes()}, 422, 'requests is missing: this route takes {"requests"'),
    (BATCH, {"requests": [{"symbol": "A", "prices": closes()}] * 9}, 422, "9 requests, more than the limit of 8"),
    (
        BATCH,
        {"requests": [{"symbol": "A", "prices": closes()}, {"symbol": "B", "prices": closes(0.0)}]},
        422,
        "requests[1] (B): prices[63] = 0.0",
    ),
    # trades
    (TRADE, {"profit_loss": 1.0}, 422, "body.strategy_name: Field required"),
    (TRADE, {"strategy_name": 5, "won": True}, 422, "body.strategy_name: Input should be a valid string (got 5)"),
    (
        TRADE,
        {"strategy_name": "s", "profit_loss": "42.5"},
        422,
        "body.profit_loss: Input should be a valid number",
    ),
    (
        TRADE,
        '{"strategy_name": "s", "profit_loss": NaN}',
        422,
        "body.profit_loss: Input should be a finite number",
    ),
    (TRADE, {"strategy_name": "s", "profit_loss": 1e200}, 422, "profit_loss 1e+200 is beyond ±1e+15"),
    (TRADE, {"strategy_name": "s", "won": "true"}, 422, 'body.won: Input should be a valid boolean (got "true")'),
    (TRADE, {"strategy_name": "s", "won": 1}, 422, "body.won: Input should be a valid boolean (got 1)"),
    (TRADE, {**OK_TRADE, "closed_at": 1_700_000_000}, 422, "body.closed_at: must be an ISO 8601"),
    (
        TRADE,
        {**OK_TRADE, "closed_at": "yesterday"},
        422,
        "body.closed_at: 'yesterday' is not an ISO 8601 date-time",
    ),
    # pydantic's reason alone ("invalid character in year") did not say which form to send (a new user's review)
    (
        TRADE,
        {**OK_TRADE, "closed_at": "24/11/2026"},
        422,
        "(invalid character in year); send e.g. 2026-11-24T15:30:00Z",
    ),
    # one message, not the union's two (".str: ...; .int: ...": a new user's walkthrough)
    (TRADE, {**OK_TRADE, "trade_id": 1.5}, 422, "trade_id: trade_id must be an integer or a string (got 1.5)"),
    (TRADE, {**OK_TRADE, "trade_id": 1017.0}, 422, "an integer or a string: send 1017 (got 1017.0)"),
    (TRADE, {**OK_TRADE, "trade_id": True}, 422, "trade_id: trade_id must be an integer or a string (got true)"),
    (TRADE, {"strategy_name": "s"}, 422, "give profit_loss, won, or both"),
    (
        TRADE,
        {"strategy_name": "s", "won": True, "profit_loss": -5.0},
        422,
        "won=True contradicts profit_loss=-5.0",
    ),
    # a misspelt field is named, not ignored (ignored, a retried trade counted twice: a probe); others are ignored
    (
        TRADE,
        {"strategy_name": "s", "won": True, "tradeId": 7},
        422,
        "unknown field 'tradeId': did you mean 'trade_id'?",
    ),
    (TEXTS, {"texts": ["x"], "usecache": False}, 422, "unknown field 'usecache': did you mean 'use_cache'?"),
    (PRICE, {"symbol": "SPX", "closes": [1.0] * 64}, 422, "unknown field 'closes': did you mean 'prices'?"),
    (TEXTS, {"texts": ["x"], "cache": False}, 422, "unknown field 'cache': did you mean 'use_cache'?"),
    (TEXTS, {"texts": ["x"], "use_cach": False}, 422, "unknown field 'use_cach': did you mean 'use_cache'?"),
    # a name standing in for a required field that is missing (a bare "Field required" before: a probe)
    (TEXTS, {"text": ["x"]}, 422, "unknown field 'text': did you mean 'texts'?"),
    (TRADE, {"strategy": "s", "won": True}, 422, "unknown field 'strategy': did you mean 'strategy_name'?"),
    (TRADE, {"strategy_name": "s", "won": True, "trade_i": 7}, 422, "unknown field 'trade_i': did you mean"),
    (PRICE, {"symbol": "SPX", "prics": [1.0] * 64}, 422, "unknown field 'prics': did you mean 'prices'?"),
    (
        BATCH,
        {"requests": [{"symbol": "A", "Prices": [1.0]}]},
        422,
        "unknown field 'Prices': did you mean 'prices'?",
    ),
    # ... or for a list field that is missing, given a list (ignored, `price` fetched bars: a 503 from Yahoo)
    (PRICE, {"symbol": "SPX", "price": closes()}, 422, "body: unknown field 'price': did you mean 'prices'?"),
    (BATCH, {"requests": [{"symbol": "A", "price": closes()}]}, 422, "unknown field 'price': did you mean"),
    # "pnl" ignored recorded a trade without its P&L, or answered only "give profit_loss, won, or both"
    (TRADE, {"strategy_name": "s", "pnl": 42.5}, 422, "unknown field 'pnl': did you mean 'profit_loss'?"),
    (TRADE, {"strategy_name": "s", "won": True, "pnl": 4}, 422, "unknown field 'pnl': did you mean"),
    # ... in any case, as a field's own name is: "PNL" was ignored (the trade learnt without its P&L, for good)
    (TRADE, {"strategy_name": "s", "won": False, "PNL": -4}, 422, "field 'PNL': did you mean 'profit_loss'?"),
    (TEXTS, {"texts": ["ok"], "Cache": False}, 422, "unknown field 'Cache': did you mean 'use_cache'?"),
    (PRICE, {"symbol": "SPX", "Closes": closes()}, 422, "unknown field 'Closes': did you mean 'prices'?"),
    (PRICE, {"symbol": "SPX", "prices": closes(), "Time-Stamps": []}, 422, "did you mean 'bar_times'?"),
    # the body itself
    (TRADE, '{"strategy_name": "s",', 422, "body: invalid JSON at character 22: Expecting property name"),
    # a key named twice: a parser keeps the last, and {"profit_loss": 5, "profit_loss": -5} was learnt as a loss
    (
        TRADE,
        '{"strategy_name": "s", "profit_loss": 5, "profit_loss": -5}',
        422,
        "body: invalid JSON at character 41: duplicate key 'profit_loss': send each field once",
    ),
    (TRADE, "[" * 100_000, 422, "body: cannot be read as JSON: maximum recursion depth exceeded"),
    (TRADE, b'{"strategy_name": "\xff", "won": true}', 422, "body: cannot be read as JSON: 'utf-8' codec can't"),
    (TRADE, "", 422, "body: empty: send a JSON object (Content-Type: application/json)"),
]


def assert_refused(client: TestClient, spy: SpyBackend, send: Any, status: int, fragment: str) -> None:
    """`send()` gets `status` with `fragment` in its detail, and leaves no journal row and no model call."""
    before, asked = journal_rows(client), len(spy.seen)
    response = send()
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"], response.json()
    assert journal_rows(client) == before  # nothing written, not even half
    assert len(spy.seen) == asked  # no model was asked anything


@pytest.mark.parametrize(("path", "body", "status", "fragment"), CASES)
def test_bad_bodies_are_refused_with_a_reason_before_any_model_or_journal_sees_them(
    client: TestClient, spy: SpyBackend, path: str, body: Any, status: int, fragment: str
):
    def send() -> Any:
        if isinstance(body, (str, bytes)):
            return client.post(path, content=body, headers={"content-type": "application/json"})
        return client.post(path, json=body)

    assert_refused(client, spy, send, status, fragment)


JSON_TRADE = '{"strategy_name": "s", "won": true}'
GZIP_JSON = {"content-type": "application/json", "content-encoding": "gzip"}
# (method, path, request arguments, status, what the detail must say): everything that is not a body's content
REQUESTS: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("POST", TRADE, {"content": JSON_TRADE, "headers": {"content-type": "text/plain"}}, 415, "'text/plain' is"),
    ("POST", TRADE, {"content": JSON_TRADE}, 415, "no Content-Type: send the body as JSON"),
    ("POST", TRADE, {"data": {"strategy_name": "s", "won": "true"}}, 415, "'application/x-www-form-urlencoded'"),
    # a compressed body was read as text: a 422 "'utf-8' codec can't decode byte 0x8b"
    (
        "POST",
        TEXTS,
        {"content": gzip.compress(b'{"texts": ["ok"]}'), "headers": GZIP_JSON},
        415,
        "Content-Encoding 'gzip' is not supported: send the body uncompressed",
    ),
    # Starlette's bare "Method Not Allowed" / "Not Found" did not say what to send (a new user's review)
    ("GET", PRICE, {}, 405, f"GET {PRICE}: this route takes POST; see /docs"),
    ("GET", "/", {}, 404, "no route GET /: the routes are listed at /docs"),
    ("GET", "/health/", {}, 404, "without the trailing slash: /health:"),
    # it advised /price/evaluate, itself a 404 (a new user's walkthrough)
    ("GET", "/price/evaluate/", {}, 404, "no route GET /price/evaluate/; the route is /price/evaluate/{symbol}:"),
    ("GET", "/bayesian/weights?method=best", {}, 422, "query.method: Input should be 'mean', 'thompson' or 'pnl'"),
    ("GET", "/bayesian/all-stats?method=", {}, 422, "query.method: Input should be 'mean', 'thompson' or 'pnl'"),
    ("POST", "/bayesian/sync-from-database?days=0", {}, 422, "query.days: Input should be greater than or equal"),
    ("POST", "/bayesian/sync-from-database?days=ten", {}, 422, "query.days: Input should be a valid integer"),
    ("POST", "/bayesian/sync-from-database?days=99999", {}, 422, "days must be between 1 and 3650, got 99999"),
    ("GET", "/price/evaluate/SPX?days=-1", {}, 422, "query.days: Input should be greater than or equal to 1"),
    ("GET", "/price/evaluate/SPX?days=1.5", {}, 422, "query.days: Input should be a valid integer"),
    ("GET", "/price/evaluate/%20", {}, 422, "path.symbol: must not be empty or blank"),
    ("GET", "/price/evaluate/.hidden", {}, 422, "path.symbol: symbol '.hidden' cannot name a cache file"),
    (
        "GET",
        "/price/evaluate/A%07B",
        {},
        422,
        "path.symbol: must contain only visible characters: U+0007 is not (found '\\x07'",
    ),
    ("POST", "/admin/models/finbert/reload", {}, 422, "model 'finbert' cannot be reloaded; reloadable: patchtst"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "fragment"), REQUESTS)
def test_bad_requests_are_refused_with_a_reason(
    client: TestClient, spy: SpyBackend, method: str, path: str, kwargs: dict[str, Any], status: int, fragment: str
):
    assert_refused(client, spy, lambda: client.request(method, path, **kwargs), status, fragment)


def test_a_streamed_body_is_cut_off_at_the_limit(client: TestClient, spy: SpyBackend):
    def streamed() -> Iterator[bytes]:  # no Content-Length: the limit is counted while the body arrives
        yield b'{"texts": ["'
        for _ in range(1100):
            yield b"x" * 1024
        yield b'"]}'

    def send() -> Any:
        return client.post(TEXTS, content=streamed(), headers={"content-type": "application/json"})

    assert_refused(client, spy, send, 413, "exceeds the limit of 1048576 bytes")


# Valid input, however unusual: headlines come in every script, with emoji, and scraped ones carry control and
# format characters. Those are dropped (the tokenizer drops them too), so each text is scored as it reads.
UNUSUAL = {
    "Äpfel steigen — Gewinn übertrifft Erwartungen": "Äpfel steigen — Gewinn übertrifft Erwartungen",
    "トヨタ株が上昇": "トヨタ株が上昇",
    "مؤشر الأسهم يرتفع": "مؤشر الأسهم يرتفع",
    "Cafe\u0301 chain rallies": "Café chain rallies",  # decomposed: NFC
    "Stocks 📈🚀 rally; 👨\u200d👩\u200d👧 office buys": "Stocks 📈🚀 rally; 👨👩👧 office buys",
    "NUL\x00 and ESC\x1b[31m in a scraped line": "NUL and ESC[31m in a scraped line",
    "\ufeffzero\u200bwidth space": "zerowidth space",
    "tab\tand\r\nnewlines\u2028too": "tab and newlines too",
    "broken emoji \ud83d here": "broken emoji here",  # lone surrogate: not UTF-8, so no tokenizer or SQLite
}


def test_unicode_emoji_and_control_characters_are_scored_as_they_read(client: TestClient, spy: SpyBackend):
    asked = len(spy.seen)
    body = json.dumps({"texts": list(UNUSUAL), "symbol": "7203.T", "use_cache": False})  # ASCII: surrogates too
    response = client.post(TEXTS, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == len(UNUSUAL)
    # each text reaches the model as it reads (shortest first: length bucketing), and is journaled in request order
    assert sorted(spy.texts(since=asked)) == sorted(UNUSUAL.values())
    journal_rows(client)  # flushed
    with closing(sqlite3.connect(client.app.state.db_path)) as conn:  # type: ignore[attr-defined]
        stored = conn.execute("SELECT text FROM sentiment_predictions ORDER BY id DESC LIMIT ?", (len(UNUSUAL),))
        assert [row[0] for row in stored][::-1] == list(UNUSUAL.values())
    spy.assert_clean(since=asked)


def test_unknown_symbols(client: TestClient, spy: SpyBackend):
    """A symbol is a label where the caller sends the data (texts, closes): any name is answered. Where bars
    must be fetched, an unknown one gets 503 with the reason: offline, "unknown" and "unreachable" are one."""
    asked = len(spy.seen)
    texts = client.post(TEXTS, json={"texts": ["Shares rise"], "symbol": "NOSUCH"})
    assert texts.status_code == 200, texts.text
    forecast = client.post(PRICE, json={"symbol": "NOSUCH", "prices": closes()})
    assert forecast.status_code == 200 and forecast.json()["symbol"] == "NOSUCH"
    evaluation = client.get("/price/evaluate/NOSUCH")
    assert evaluation.status_code == 200 and evaluation.json()["count"] == 0

    def fetch_one() -> Any:
        return client.post(PRICE, json={"symbol": "NOSUCH"})

    def fetch_in_batch() -> Any:  # all or nothing: the good request is not forecast either
        return client.post(BATCH, json={"requests": [{"symbol": "SPX", "prices": closes()}, {"symbol": "NOSUCH"}]})

    assert_refused(client, spy, fetch_one, 503, "NOSUCH: no recent 1d bars: no data from Yahoo Finance")
    assert_refused(client, spy, fetch_in_batch, 503, "requests[1] (NOSUCH): no recent 1d bars")
    assert fetch_one().json()["error"] == "data_unavailable"
    detail = fetch_one().json()["detail"]  # advice an HTTP caller can take, not the command line's --source
    assert '"prices": the last' in detail and "--source" not in detail, detail
    spy.assert_clean(since=asked)


# -- issue 15: what an independent probe got a 500 for, and shapes like it ----------------------------
SURROGATE, ZERO_WIDTH = "\ud800", "\u200b"
NOT_TEXT = "Input should be a valid string, unable to parse raw data as a unicode string"  # pydantic's, strict str


def raw(body: dict[str, Any]) -> str:
    """JSON in ASCII, so that a lone surrogate travels as the escape \\ud800 (it has no UTF-8 form)."""
    return json.dumps(body)


PROBE_CASES: list[tuple[str, Any, int, str]] = [
    (
        TEXTS,
        raw({"texts": [SURROGATE]}),
        422,
        "texts[0] is empty or only whitespace (control, format and unpaired",
    ),
    (
        TRADE,
        raw({**OK_TRADE, "trade_id": SURROGATE}),
        422,
        "body.trade_id: must contain only visible",
    ),
    (
        TRADE,
        raw({**OK_TRADE, "trade_id": ZERO_WIDTH}),
        422,
        "body.trade_id: must contain only visible",
    ),
    (TRADE, raw({**OK_TRADE, "trade_id": "7\x00"}), 422, "body.trade_id: must contain only visible"),
    (TRADE, raw({**OK_TRADE, "trade_id": "\x00"}), 422, "found '\\x00': a control character"),
    (TRADE, raw({"strategy_name": SURROGATE, "won": True}), 422, f"body.strategy_name: {NOT_TEXT}"),
    (TRADE, raw({"strategy_name": f"a{SURROGATE}", "won": True}), 422, f"body.strategy_name: {NOT_TEXT}"),
    (TRADE, raw({**OK_TRADE, "closed_at": SURROGATE}), 422, f"body.closed_at: {NOT_TEXT}"),
    (
        TRADE,
        {**OK_TRADE, "closed_at": "0001-01-01T00:00:00+14:00"},
        422,
        "body.closed_at: 0001-01-01T00:00:00+14:00 is outside 0001-01-01T00:00:00Z to 9999-12-31",
    ),
    (TRADE, {**OK_TRADE, "closed_at": "9999-12-31T23:59:59-14:00"}, 422, "is outside 0001-01-01T00:00:00Z to"),
    (TRADE, {**OK_TRADE, "closed_at": "9999-12-31T23:59:59+14:00"}, 422, "9999-12-31T09:59:59+00:00 is in the"),
    (TEXTS, raw({"texts": ["ok"], "symbol": SURROGATE}), 422, f"body.symbol: {NOT_TEXT}"),
    (TEXTS, raw({"texts": [SURROGATE]}), 422, "texts[0] is empty or only whitespace"),
    (PRICE, raw({"symbol": SURROGATE, "prices": closes()}), 422, f"body.symbol: {NOT_TEXT}"),
    (BATCH, raw({"requests": [{"symbol": SURROGATE}]}), 422, f"body.requests.0.symbol: {NOT_TEXT}"),
]


@pytest.mark.parametrize(("path", "body", "status", "fragment"), PROBE_CASES)
def test_what_the_probe_sent_is_refused_with_a_reason(
    client: TestClient, spy: SpyBackend, path: str, body: Any, status: int, fragment: str
):
    test_bad_bodies_are_refused_with_a_reason_before_any_model_or_journal_sees_them(
        client, spy, path, body, status, fragment
    )


def test_a_body_that_stops_arriving_gets_408_and_nothing_of_it_is_used(settings: Settings):
    """The app's side of the body deadline (gateway/middleware.py); a real server closing the connection, and
    slow request heads, are tests/harness/test_reliability.py's."""
    from tests.fakes import FakeBackend, post_scope

    app = create_app(settings.model_copy(update={"http_body_timeout_s": 0.3}), FakeBackend())
    scope = post_scope(
        "/bayesian/update", [(b"content-type", b"application/json"), (b"content-length", b"60"), (b"host", b"t")]
    )
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not sent and not getattr(receive, "once", False):
            receive.once = True  # type: ignore[attr-defined]
            return {"type": "http.request", "body": b'{"strategy_name": "s", ', "more_body": True}
        await asyncio.sleep(3600)  # the rest never comes
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with TestClient(app) as client:  # the lifespan: journal and services up
        began = asyncio.run(_timed(app(scope, receive, send)))  # type: ignore[arg-type]
        stats = client.get("/bayesian/all-stats").json()["strategies"]
        metrics = client.get("/metrics").text
    assert 0.3 <= began < 10.0  # after the 0.3 s deadline, not never (a busy machine may be late to it)
    start, body = sent[0], json.loads(sent[1]["body"])
    assert start["status"] == 408 and (b"connection", b"close") in start["headers"]
    assert body["error"] == "request_timeout"
    assert "not complete after 0.3 s (setting http_body_timeout_s): 23 bytes of the 60 declared" in body["detail"]
    assert len(sent) == 2  # the app's own answer to the cut body is dropped
    assert stats == []
    assert 'investiq_errors_total{kind="request_timeout"} 1.0' in metrics
    assert 'route="/bayesian/update",status="408"' in metrics


async def _timed(call: Any) -> float:
    began = time.monotonic()
    await call
    return time.monotonic() - began


def test_fields_the_gateway_does_not_know_are_ignored_unless_they_look_like_a_misspelling(
    client: TestClient, spy: SpyBackend
):
    """The agent may send more than the gateway reads (its own fields): those are ignored; a field beside the one
    it resembles is not a misspelling either."""
    more = {"strategy_name": "s", "profit_loss": 1.0, "symbol": "SPX", "side": "long", "entry_price": 10.5}
    assert client.post(TRADE, json=more).status_code == 200
    both = {"strategy_name": "s", "profit_loss": 1.0, "trade_id": 8, "tradeId": 8}
    assert client.post(TRADE, json=both).json()["counted"] is True
    assert client.post(TEXTS, json={"texts": ["Shares rise"], "source": "rss", "feed_id": 3}).status_code == 200
    # A name extending a known one, or cut from it, is a field of the agent's own (422 before: a probe).
    assert client.post(TEXTS, json={"texts": ["Shares rise"], "symbols": ["SPX"]}).status_code == 200
    extended = {"strategy_name": "s", "won": True, "closed": True, "profit_loss_pct": 1.5}
    assert client.post(TRADE, json=extended).status_code == 200
    assert client.post(PRICE, json={"symbol": "SPX", "price": 401.5, "intervals": ["1d"]}).status_code != 422


# -- a badly typed array is told once, not once per item (512 string closes got a 73 KB 422, a 1 MB batch 32 MB) --


def refused(client: TestClient, spy: SpyBackend, path: str, body: Any, fragment: str) -> dict[str, Any]:
    """The 422 of `body`, checked as every bad body is, and small whatever the number of bad items."""
    answers: list[Any] = []

    def send() -> Any:
        answers.append(client.post(path, json=body))
        return answers[-1]

    assert_refused(client, spy, send, 422, fragment)
    assert len(answers[0].content) < 2048, len(answers[0].content)
    return dict(answers[0].json())


def test_a_badly_typed_array_is_told_once_with_the_count_and_the_first_value(client: TestClient, spy: SpyBackend):
    told = 'body.prices.*: 512 items: Input should be a valid number (got "500" at body.prices.0)'
    answer = refused(client, spy, PRICE, {"symbol": "SPX", "prices": ["500"] * 512}, told)
    assert answer["detail"] == told
    assert answer["errors"] == [{"field": "body.prices.*", "message": told.removeprefix("body.prices.*: ")}]


def test_a_batch_of_many_bad_windows_is_told_in_a_few_lines(client: TestClient, spy: SpyBackend):
    windows = [{"symbol": "SPX", "prices": ["500"] * 512}] * 250 + ["SPX"] * 100 + [{"prices": closes()}] * 3
    answer = refused(client, spy, BATCH, {"requests": windows}, "body.requests.*.prices.*: 128000 items: Input")
    assert answer["detail"].split("; ") == [
        'body.requests.*.prices.*: 128000 items: Input should be a valid number (got "500" at '
        "body.requests.0.prices.0)",
        "body.requests.*: 100 items: Input should be a valid dictionary or object to extract fields from "
        '(got "SPX" at body.requests.250)',
        "body.requests.*.symbol: 3 items: Field required (at body.requests.350.symbol)",
    ]
    assert [item["field"] for item in answer["errors"]] == [
        "body.requests.*.prices.*",
        "body.requests.*",
        "body.requests.*.symbol",
    ]


def test_at_most_twenty_problems_are_listed():
    many = [{"loc": ("body", f"field_{i}"), "type": "missing", "msg": "Field required"} for i in range(25)]
    detail, items = describe_validation(RequestValidationError(many))
    assert len(items) == 20 and items[-1] == {"field": "body.field_19", "message": "Field required"}
    assert detail.endswith("body.field_19: Field required; ... and 5 more"), detail


def test_problems_alike_in_place_but_not_in_reason_are_each_told():
    """Two windows of a batch refused for different reasons were told as '2 items' of the first: the second
    window's own problem was never shown."""
    errors = [
        {"loc": ("body", "requests", 0), "type": "value_error", "msg": "Value error, unknown field 'price'"},
        {"loc": ("body", "requests", 1), "type": "value_error", "msg": "Value error, last_bar_time needs prices"},
    ]
    detail, items = describe_validation(RequestValidationError(errors))
    assert [item["field"] for item in items] == ["body.requests.0", "body.requests.1"]
    assert "unknown field 'price'" in detail and "last_bar_time needs prices" in detail


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "null"),
        (False, "false"),
        ("101.5", '"101.5"'),
        (float("nan"), "NaN"),
        ([1, None, {"a": True}], '[1, null, {"a": true}]'),
        ("café", '"café"'),
        ("a\u200bb", '"a\\u200bb"'),  # invisible: escaped, not printed as if it were not there
        ("\ud800", '"\\ud800"'),  # a lone surrogate: the answer must still encode as UTF-8
        ("two\nlines", '"two\\nlines"'),
        (b"\xff", "b'\\xff'"),  # not JSON: Python's repr
    ],
)
def test_a_refused_value_is_shown_as_the_json_the_client_sent(value: Any, shown: str) -> None:
    """A new user whose client sent null read "(got None)" as the server's fault (a walkthrough)."""
    assert as_sent(value) == shown
    shown.encode()
