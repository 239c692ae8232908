"""Security (issue 7, point 5): the key guards every route but the health checks and never leaks, a
per-client rate limit answers 429, the default bind is loopback, and hostile names are data, never code."""

from __future__ import annotations

import asyncio
import hmac
import importlib
import io
import logging
import pkgutil
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import yaml
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import SecretStr

import gateway.routes
from gateway.app import create_app
from gateway.logs import JsonFormatter
from gateway.ratelimit import RateLimiter
from investiq.cli.main import main
from investiq.core.journal import open_journal
from investiq.core.names import ticker
from investiq.core.settings import Settings
from investiq.ops.bootstrap import is_loopback
from tests.conftest import root_logging
from tests.fakes import Clock, FakeBackend, post_scope

KEY = "sk-live-7Hq2Zr9WmX4cTb1N"
NEAR_MISS = KEY[:-1] + "M"  # a wrong key that could be someone's real one: it must not be logged either
HEALTH = {"/health", "/sentiment/health", "/price/health", "/bayesian/health", "/health/live", "/health/ready"}
# FastAPI's docs: the only routes outside the schema; behind the key when one is set, as every route but health.
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def app_for(settings: Settings, key: str | None = KEY, **update: Any) -> Any:
    update = {"sentiment_model": "lexicon", "price_resolve_every_s": 0, **update}
    if key is not None:
        update["api_key"] = SecretStr(key)
    return create_app(settings.model_copy(update=update), FakeBackend())


def operations(schema: dict[str, Any]) -> list[tuple[str, str]]:
    return [(method.upper(), path) for path, ops in schema["paths"].items() for method in ops]


# -- the key guards every route -------------------------------------------------------------------


def test_every_route_in_the_schema_but_health_needs_the_key(settings: Settings):
    app = app_for(settings)
    ops = operations(app.openapi())
    assert {path for _, path in ops if "/health" in path} == HEALTH  # a new health route is a decision
    checked = []
    with TestClient(app) as client:
        for method, path in ops:
            # "health" as a path parameter must not pass for a health check (GET /price/evaluate/health).
            for url in {re.sub(r"\{\w+\}", value, path) for value in ("AAPL", "health")}:
                missing = client.request(method, url)
                wrong = client.request(method, url, headers={"X-API-Key": NEAR_MISS})
                right = client.request(method, url, headers={"X-API-Key": KEY})
                assert right.status_code != 401, (method, url, right.text)
                if path in HEALTH:  # 200, or 503 with the report when unhealthy (no price model here), key or not
                    assert missing.status_code == wrong.status_code == right.status_code, (method, url)
                    continue
                assert (missing.status_code, wrong.status_code) == (401, 401), (method, url)
                assert missing.json()["error"] == wrong.json()["error"] == "unauthorized"
                assert "missing API key" in missing.json()["detail"] and "wrong API key" in wrong.json()["detail"]
                assert NEAR_MISS not in wrong.text and KEY not in wrong.text
                checked.append((method, url))
    assert len(checked) >= 13, checked  # 11 protected operations today; two have a path parameter, filled twice


def test_without_the_key_a_bad_body_is_401_not_what_is_wrong_with_it(settings: Settings):
    """FastAPI parses a body before dependencies run: the key must be checked first, or a caller without it
    learns about its JSON (422, 415) instead of being told to send the key."""
    app = app_for(settings)
    posts = [path for method, path in operations(app.openapi()) if method == "POST" and "{" not in path]
    bodies = [
        ({"content-type": "application/json"}, b'{"strategy_name": "k",'),
        ({"content-type": "text/plain"}, b"hello"),
        ({"content-type": "application/json"}, b""),
    ]
    with TestClient(app) as client:
        for path in posts:
            for headers, body in bodies:
                missing = client.post(path, content=body, headers=headers)
                assert missing.status_code == 401, (path, body, missing.text)
                keyed = client.post(path, content=body, headers={**headers, "X-API-Key": KEY})
                assert keyed.status_code != 401, (path, body)
    assert {"/bayesian/update", "/sentiment/predict", "/price/predict"} <= set(posts)


def test_no_route_hides_from_that_walk(settings: Settings):
    """Routes left out of the schema would escape the walk above: every router's route must be in it."""
    app = app_for(settings)
    in_schema = set(operations(app.openapi()))
    declared = set()
    for module in pkgutil.iter_modules(gateway.routes.__path__):
        router = importlib.import_module(f"gateway.routes.{module.name}").router
        declared |= {(method, route.path) for route in router.routes for method in route.methods}
    assert declared == in_schema
    schema_paths = {path for _, path in in_schema}
    on_the_app = {route.path for route in app.routes if getattr(route, "path", None)}
    assert on_the_app - schema_paths == DOCS  # routes added on the app itself, outside every router
    with TestClient(app) as client:
        assert all(client.get(path, headers={"X-API-Key": KEY}).status_code == 200 for path in DOCS)


def test_the_docs_need_the_key_when_one_is_set(settings: Settings):
    """/docs, /redoc and /openapi.json answered 200 without the key: FastAPI serves them outside the app's
    dependencies. The contract is every route but the health checks; without a key set nothing changes."""
    with TestClient(app_for(settings)) as client:
        for path in sorted(DOCS):
            missing = client.get(path)
            wrong = client.get(path, headers={"X-API-Key": NEAR_MISS})
            assert (missing.status_code, wrong.status_code) == (401, 401), path
            assert missing.json()["error"] == "unauthorized" and KEY not in missing.text
            right = client.get(path, headers={"X-API-Key": KEY})
            assert right.status_code == 200, path
        assert "/bayesian/update" in client.get("/openapi.json", headers={"X-API-Key": KEY}).json()["paths"]
        assert "swagger-ui" in client.get("/docs", headers={"X-API-Key": KEY}).text
    with TestClient(app_for(settings, key=None)) as client:
        assert all(client.get(path).status_code == 200 for path in DOCS)


def test_without_the_key_an_oversized_body_is_401_and_never_read(settings: Settings):
    """A key-protected route without the key is a 401 before anything else is checked, the body's size included
    (it was a 413 by Content-Length); with the key, the limit answers 413 as before; no byte is read first."""
    app = app_for(settings, max_body_bytes=2048)
    big = {"strategy_name": "s", "profit_loss": 1.0, "pad": "x" * 4000}
    with TestClient(app) as client:
        for headers in ({}, {"X-API-Key": NEAR_MISS}):
            refused = client.post("/bayesian/update", json=big, headers=headers)
            assert refused.status_code == 401, refused.text
            streamed = client.post("/bayesian/update", content=iter([b"x" * 1000] * 4), headers=headers)
            assert streamed.status_code == 401, streamed.text
        keyed = client.post("/bayesian/update", json=big, headers={"X-API-Key": KEY})
        assert (keyed.status_code, keyed.json()["error"]) == (413, "payload_too_large")
        assert client.post("/health", json=big).status_code == 413  # no key needed there: the size decides

        async def call(headers: list[tuple[bytes, bytes]]) -> tuple[int, int]:
            """(status, how many times the app asked for the body) of a 1 GB Content-Length, sent directly."""
            asked, sent = 0, []

            async def receive() -> dict[str, Any]:
                nonlocal asked
                asked += 1
                return {"type": "http.request", "body": b"x" * 4096, "more_body": True}

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            scope = post_scope(
                "/price/predict",
                [(b"content-type", b"application/json"), (b"content-length", b"1000000000"), *headers],
            )
            await app(scope, receive, send)
            return sent[0]["status"], asked

        assert asyncio.run(call([])) == (401, 0)
        assert asyncio.run(call([(b"x-api-key", KEY.encode())])) == (413, 0)


def test_the_key_is_compared_in_constant_time(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    with TestClient(app_for(settings)) as client:
        assert client.get("/bayesian/weights", headers={"X-API-Key": NEAR_MISS}).status_code == 401
        assert client.get("/bayesian/weights", headers={"X-API-Key": KEY}).status_code == 200
        assert calls == [(NEAR_MISS.encode(), KEY.encode()), (KEY.encode(), KEY.encode())]
        monkeypatch.setattr(hmac, "compare_digest", lambda a, b: False)  # it alone decides: no `==` first
        assert client.get("/bayesian/weights", headers={"X-API-Key": KEY}).status_code == 401


def test_a_non_ascii_key_is_compared_byte_for_byte(settings: Settings):
    key = "clé-🔑-secret"
    with TestClient(app_for(settings, key=key)) as client:
        assert client.get("/bayesian/weights", headers={"X-API-Key": key.encode()}).status_code == 200
        assert client.get("/bayesian/weights", headers={"X-API-Key": b"cl\xe9-secret"}).status_code == 401


def test_no_path_is_redirected_and_no_answer_echoes_the_host(settings: Settings):
    """Starlette's trailing-slash 307 answered before the key check, with a Location built from the Host header
    (an open redirect to wherever the client's Host said). Redirects are off: a path with a trailing slash is
    not a route (404), with the key or without."""
    app = app_for(settings)
    paths = sorted({re.sub(r"\{\w+\}", "AAPL", path) for _, path in operations(app.openapi())} | DOCS)
    with TestClient(app, follow_redirects=False) as client:
        for path in paths:
            for variant in (f"{path}/", f"{path}//", f"{path}/?x=1"):
                for key in ({}, {"X-API-Key": KEY}):
                    for method in ("GET", "POST"):
                        answer = client.request(method, variant, headers={"Host": "evil.example", **key})
                        assert answer.status_code == 404, (method, variant, answer.status_code)
                        assert "location" not in answer.headers and "evil.example" not in answer.text
        assert client.get("/bayesian/weights", headers={"X-API-Key": KEY}).status_code == 200  # as routed


# -- the key never leaks --------------------------------------------------------------------------


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every record of the gateway's side at DEBUG, formatted as its JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(lambda record: not record.name.startswith("httpx"))  # the test's client, not the gateway
    with root_logging(handler, logging.DEBUG):
        yield stream


def leaky_requests(request: Any) -> list[httpx.Response]:
    """The right key, a near miss and none; the key in a query string, a stored text and an invalid body."""
    right, wrong = {"X-API-Key": KEY}, {"X-API-Key": NEAR_MISS}
    return [
        request("GET", "/bayesian/weights", headers=wrong),
        request("GET", "/bayesian/weights"),
        request("GET", f"/bayesian/weights?api_key={KEY}", headers=right),
        request("POST", "/sentiment/predict", json={"texts": [f"my key is {KEY}"]}, headers=right),
        request("POST", "/bayesian/update", json={"strategy_name": "s", "profit_loss": KEY}, headers=right),
        request("POST", "/bayesian/update", json={"strategy_name": "s", "profit_loss": 1}, headers=wrong),
    ]


def test_the_key_never_reaches_logs_metrics_or_error_bodies(settings: Settings, log_lines: io.StringIO):
    app = app_for(settings, rate_limit_per_minute=1.0, rate_limit_burst=3)
    app.state.rate_limiter.clock = Clock(0.0)
    with TestClient(app) as client:
        responses = leaky_requests(client.request)
        limited = client.get("/bayesian/weights", headers={"X-API-Key": KEY})
        metrics = client.get("/metrics", headers={"X-API-Key": KEY}).text
    assert [r.status_code for r in responses] == [401, 401, 200, 200, 422, 401]
    assert limited.status_code == 429
    for response in [*responses[:2], responses[5], limited]:
        assert KEY not in response.text and NEAR_MISS not in response.text
    assert KEY not in metrics and 'investiq_errors_total{kind="rate_limited"} 1.0' in metrics
    logged = log_lines.getvalue()
    assert len([line for line in logged.splitlines() if '"gateway.access"' in line]) == 8  # capture works
    assert KEY not in logged and NEAR_MISS not in logged


def test_a_real_server_never_logs_the_key_and_limits_it(serve: Any, tmp_path: Path):
    env = {
        "ML_API_KEY": KEY,
        "INVESTIQ_SENTIMENT_MODEL": "lexicon",
        "INVESTIQ_PRICE_RESOLVE_EVERY_S": "0",
        "INVESTIQ_MODEL_REPOSITORY": str(tmp_path / "repo"),
        "INVESTIQ_DATA_DIR": str(tmp_path / "data"),
        "INVESTIQ_RATE_LIMIT_PER_MINUTE": "0.5",  # one token per 120 s: none comes back during the test
        "INVESTIQ_RATE_LIMIT_BURST": "5",
    }
    server = serve(tmp_path / "portfolio.db", env)
    responses = leaky_requests(server.request)  # 3 of the key's 5 tokens; wrong keys pay by address
    assert [r.status_code for r in responses] == [401, 401, 200, 200, 422, 401]
    right = {"X-API-Key": KEY}
    statuses = [server.request("GET", "/bayesian/weights", headers=right).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = server.request("GET", "/bayesian/weights", headers=right)
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 120
    assert server.request("GET", "/health").status_code == 200  # never limited
    assert server.request("GET", "/bayesian/weights").status_code == 401  # its own bucket: not empty
    metrics = server.request("GET", "/metrics", headers=right).text
    assert KEY not in metrics and 'investiq_errors_total{kind="rate_limited"} 2.0' in metrics
    # counted and logged by the route they were for (they were all "unmatched": which route was flooded?)
    assert 'investiq_http_requests_total{method="GET",route="/bayesian/weights",status="429"} 2.0' in metrics
    server.stop()
    logged = (tmp_path / "server.log").read_text()
    assert "api key on" in logged  # the start-up line says so, without the key
    assert (
        len(re.findall(r'"route": "/bayesian/weights", "path": "/bayesian/weights", "status": 429', logged)) == 2
    )
    assert KEY not in logged and NEAR_MISS not in logged


# -- the rate limit -------------------------------------------------------------------------------


def test_the_rate_limit_answers_429_and_refills_with_the_clock(settings: Settings):
    app = app_for(settings, key=None, rate_limit_per_minute=6.0, rate_limit_burst=3)  # a token per 10 s
    clock = app.state.rate_limiter.clock = Clock(1000.0)
    with TestClient(app) as client, TestClient(app, client=("10.0.0.2", 4000)) as other:
        assert [client.get("/bayesian/weights").status_code for _ in range(3)] == [200, 200, 200]
        limited = client.get("/bayesian/weights", headers={"X-Request-ID": "over-1"})
        assert (limited.status_code, limited.headers["Retry-After"]) == (429, "10")
        assert limited.json() == {"error": "rate_limited", "detail": limited.json()["detail"]}
        assert (
            "retry after 10 s" in limited.json()["detail"] and "rate_limit_per_minute" in limited.json()["detail"]
        )
        assert limited.headers["X-Request-ID"] == "over-1"  # inside the request context: an access line too
        assert other.get("/bayesian/weights").status_code == 200  # another address, another bucket
        clock.now += 9.5
        assert client.get("/bayesian/weights").headers["Retry-After"] == "1"  # rounded up, never 0
        clock.now += 0.5
        assert [client.get("/bayesian/weights").status_code for _ in range(2)] == [200, 429]
        clock.now += 3600  # a long pause refills to the burst, not beyond
        assert [client.get("/bayesian/weights").status_code for _ in range(4)] == [200, 200, 200, 429]
        for path in [*HEALTH, "/metrics"]:
            assert all(client.get(path).status_code in (200, 503) for _ in range(5)), path  # never 429
        metrics = client.get("/metrics").text
    assert 'investiq_errors_total{kind="rate_limited"} 4.0' in metrics
    assert 'investiq_http_requests_total{method="GET",route="/bayesian/weights",status="429"} 4.0' in metrics


def test_with_a_key_wrong_keys_share_their_address_bucket(settings: Settings):
    """Cycling random keys buys no fresh bursts; the holder of the right key keeps its own bucket."""
    app = app_for(settings, rate_limit_per_minute=1.0, rate_limit_burst=2)
    app.state.rate_limiter.clock = Clock(0.0)
    with TestClient(app) as client:
        guesses = [client.get("/bayesian/weights", headers={"X-API-Key": f"guess-{i}"}) for i in range(4)]
        assert [r.status_code for r in guesses] == [401, 401, 429, 429]
        assert client.get("/bayesian/weights", headers={"X-API-Key": KEY}).status_code == 200


def test_the_limiter_keeps_bounded_memory():
    clock = Clock(0.0)
    limiter = RateLimiter(60.0, 5, clock=clock, max_buckets=100)  # full again 5 s after the last request
    assert limiter.take("hog") == 0.0
    for i in range(1000):
        limiter.take(f"addr:{i}")
    assert len(limiter) == 100
    clock.now += 5.0
    limiter.take("late")
    assert len(limiter) == 1  # every idle bucket was full again: forgetting it changes nothing
    for _ in range(5):
        limiter.take("busy")
    for i in range(50):  # under the cap, a drained bucket is kept however many others come
        limiter.take(f"other:{i}")
    assert limiter.take("busy") == pytest.approx(1.0)
    assert RateLimiter(0.0, 5).take("anyone") == 0.0  # 0 per minute: off


# -- loopback by default --------------------------------------------------------------------------


def test_the_default_bind_is_loopback():
    assert Settings().host == "127.0.0.1"
    assert yaml.safe_load(Path("config.yaml").read_text())["host"] == "127.0.0.1"
    assert Settings().rate_limit_per_minute == 0  # off unless asked for: see investiq/core/settings.py
    for command in ("serve", "up"):
        assert "127.0.0.1 as shipped" in " ".join(CliRunner().invoke(main, [command, "--help"]).output.split())


# -- hostile names are stored and returned verbatim -----------------------------------------------

HOSTILE = [
    "'; DROP TABLE trades; --",
    '" OR 1=1 --',
    "x'); DELETE FROM bayesian_state; --",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "%00",
    "名前 📈🚀",
    ("'; DROP TABLE bayesian_events; --" * 4)[:128],  # the longest name allowed
]
REJECTED = {  # what the Name type refuses, with the words its 422 says it with
    # right-to-left override: makes a name read as another in logs
    "\u202eevil": "U+202E RIGHT-TO-LEFT OVERRIDE is not (found '\\u202e': a format character",
    "a\x00b": "U+0000 is not (found '\\x00': a control character)",
    "a\u2028b": "U+2028 LINE SEPARATOR is not (found '\\u2028': a line separator)",  # breaks a log line
    "\ue000x": "U+E000 is not (found '\\ue000': a private-use character",  # shows as nothing, or anything
    "x" * 129: "at most 128 characters",
}


def snapshot(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        tables = [name for kind, name, _ in schema if kind == "table" and not name.startswith("sqlite_")]
        counts = {name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in tables}
        trades = conn.execute("SELECT * FROM trades ORDER BY id").fetchall()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    return {"schema": schema, "counts": counts, "trades": trades, "version": version}


def test_hostile_names_are_data_never_code(settings: Settings, db_path: Path):
    open_journal(db_path, 5000).close()
    with sqlite3.connect(db_path) as conn:
        conn.executemany(
            "INSERT INTO trades (symbol, strategy_name, side, quantity, entry_price, opened_at) "
            "VALUES (?, ?, 'buy', 1, 100, '2026-01-02T15:00:00Z')",
            [("AAPL", "momentum"), ("SPY", "mean_reversion"), ("QQQ", "momentum")],
        )
    before = snapshot(db_path)
    with TestClient(app_for(settings, key=None)) as client:
        for i, name in enumerate(HOSTILE):
            scored = client.post("/sentiment/predict", json={"texts": [f"headline {i}"], "symbol": name})
            assert scored.status_code == 200, (name, scored.text)
            learnt = client.post("/bayesian/update", json={"strategy_name": name, "profit_loss": i - 3.5})
            assert learnt.status_code == 200, (name, learnt.text)
            assert learnt.json()["strategy"]["strategy_name"] == name
            # A slash cannot be in a path segment, and Starlette's TestClient decodes a path twice ("%2500"
            # arrives as NUL): those two aside, the evaluation echoes the symbol it was given, as a ticker.
            if "/" not in name and "%" not in name:
                evaluated = client.get(f"/price/evaluate/{quote(name, safe='')}")
                assert (evaluated.status_code, evaluated.json().get("symbol")) == (200, ticker(name)), (
                    evaluated.text
                )
        for name, reason in REJECTED.items():
            for path, body in [
                ("/sentiment/predict", {"texts": ["headline"], "symbol": name}),
                ("/bayesian/update", {"strategy_name": name, "profit_loss": 1.0}),
            ]:
                refused = client.post(path, json=body)
                assert (refused.status_code, refused.json()["error"]) == (422, "invalid_input"), refused.text
                assert reason in refused.json()["detail"] and ("symbol" in refused.json()["detail"]) == (
                    path == "/sentiment/predict"
                )
        assert set(client.get("/bayesian/weights").json()["weights"]) == set(HOSTILE)
        stats = client.get("/bayesian/all-stats").json()["strategies"]
        assert sorted(s["strategy_name"] for s in stats) == sorted(HOSTILE)
    after = snapshot(db_path)  # the app is closed: its writer has committed every queued prediction
    with sqlite3.connect(db_path) as conn:
        symbols = [row[0] for row in conn.execute("SELECT symbol FROM sentiment_predictions ORDER BY id")]
        events = [row[0] for row in conn.execute("SELECT strategy_name FROM bayesian_events ORDER BY id")]
        states = {row[0] for row in conn.execute("SELECT strategy_name FROM bayesian_state")}
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert symbols == [ticker(name) for name in HOSTILE] and events == HOSTILE and states == set(HOSTILE)
    assert (after["schema"], after["trades"], after["version"]) == (
        before["schema"],
        before["trades"],
        before["version"],
    )
    grown = {
        "sentiment_predictions": len(HOSTILE),
        "bayesian_events": len(HOSTILE),
        "bayesian_state": len(HOSTILE),
    }
    assert after["counts"] == {name: count + grown.get(name, 0) for name, count in before["counts"].items()}


def test_a_gateway_on_every_interface_without_a_key_says_so(serve: Any, tmp_path: Path):
    """The image listens on 0.0.0.0: `docker run -p 8080:8080` served journal writes and model reloads to anyone
    who reached the port, with no word in its log (a review). A warning names the way out."""
    env = {
        "INVESTIQ_HOST": "0.0.0.0",
        "INVESTIQ_API_KEY_ENV": "NO_KEY_IN_THIS_TEST",
        "INVESTIQ_SENTIMENT_MODEL": "lexicon",
    }
    server = serve(tmp_path / "p.db", env | {"INVESTIQ_MODEL_REPOSITORY": str(tmp_path / "repo")})
    server.stop()
    assert "listening on 0.0.0.0 without an API key" in server.log_path.read_text()
    assert [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "::", "gateway")] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]


def test_a_429_names_the_route_its_path_takes(settings: Settings):
    """The limit answers before routing; its 429s are counted under the template the path takes, a path parameter's
    included, whatever the method; a path no route takes stays "unmatched"."""
    app = app_for(settings, key=None, rate_limit_per_minute=1.0, rate_limit_burst=1)
    with TestClient(app) as client:
        for method, path in [
            ("GET", "/price/evaluate/AAPL"),
            ("DELETE", "/price/evaluate/MSFT"),
            ("GET", "/nope"),
        ]:
            client.request(method, path)
        metrics = client.get("/metrics").text
    counted = re.findall(
        r'investiq_http_requests_total\{method="(\w+)",route="([^"]+)",status="429"\} (\S+)', metrics
    )
    assert sorted(counted) == [("DELETE", "/price/evaluate/{symbol}", "1.0"), ("GET", "unmatched", "1.0")]


def test_a_401_names_the_variable_the_key_is_read_from(settings: Settings):
    """It said ML_API_KEY whatever api_key_env named (a review)."""
    with TestClient(app_for(settings, api_key_env="TRADER_KEY")) as client:
        refused = client.get("/bayesian/weights")
    assert refused.status_code == 401 and refused.json()["detail"].endswith("configured in TRADER_KEY")


def test_metrics_with_a_wrong_key_pays_the_rate_limit(settings: Settings):
    """/metrics skipped the limiter whatever key it carried: 1,155 key guesses a second, each a 401 (a review).
    With the right key a scrape never takes a token."""
    app = app_for(settings, rate_limit_per_minute=1.0, rate_limit_burst=3)
    with TestClient(app) as client:
        guesses = [client.get("/metrics", headers={"X-API-Key": f"guess-{n}"}).status_code for n in range(6)]
        scrapes = [client.get("/metrics", headers={"X-API-Key": KEY}).status_code for _ in range(6)]
    assert guesses == [401, 401, 401, 429, 429, 429] and scrapes == [200] * 6


def test_a_keyless_gateway_on_loopback_answers_only_requests_addressed_to_it(serve: Any, tmp_path: Path):
    """A web page open on the agent's machine can have its own name resolve to 127.0.0.1 (DNS rebinding) and post
    fake trades to a keyless gateway there (a review: 200, counted). The browser sends the page's name as Host:
    refused, 421; localhost's names and those of the setting allowed_hosts are answered."""
    env = {
        "INVESTIQ_API_KEY_ENV": "NO_KEY_IN_THIS_TEST",
        "INVESTIQ_SENTIMENT_MODEL": "lexicon",
        "INVESTIQ_PRICE_RESOLVE_EVERY_S": "0",
        "INVESTIQ_MODEL_REPOSITORY": str(tmp_path / "repo"),
        "INVESTIQ_DATA_DIR": str(tmp_path / "data"),
        "INVESTIQ_ALLOWED_HOSTS": '["proxy.internal"]',
    }
    server = serve(tmp_path / "portfolio.db", env)
    trade = {"strategy_name": "momentum", "won": False, "profit_loss": -500.0, "trade_id": "rebind-1"}
    rebound = server.request(
        "POST", "/bayesian/update", json=trade, headers={"Host": f"attacker.example:{server.port}"}
    )
    assert rebound.status_code == 421 and rebound.json()["error"] == "misdirected_request", rebound.text
    assert "allowed_hosts" in rebound.json()["detail"]
    for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}", f"[::1]:{server.port}", "proxy.internal"):
        assert server.request("GET", "/bayesian/weights", headers={"Host": host}).status_code == 200, host
    assert server.request("GET", "/bayesian/all-stats").json()["strategies"] == []  # the trade was not learnt
