"""Observability of the gateway: JSON logs with request ids and models, X-Request-ID, errors by kind."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from pydantic import SecretStr

from gateway.app import create_app
from gateway.logs import JsonFormatter, configure_logging
from investiq.core.ports import free_port
from investiq.core.settings import Settings
from tests.conftest import root_logging
from tests.fakes import FakeBackend

KEY = "observability-key"
UUID_HEX = re.compile(r"[0-9a-f]{32}")


class Lines(logging.Handler):
    """Formats each record as it is emitted (in the request's task, where its context is) and keeps the JSON."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def access(self) -> list[dict[str, Any]]:
        entries = [json.loads(line) for line in self.lines]
        return [e for e in entries if e["logger"] == "gateway.access"]


@pytest.fixture
def logged() -> Iterator[Lines]:
    handler = Lines()
    with root_logging(handler, logging.INFO):
        yield handler


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    """The lexicon answers sentiment (a real scorer with a real version); the fake backend serves the rest."""
    with TestClient(create_app(settings.model_copy(update={"sentiment_model": "lexicon"}), FakeBackend())) as c:
        yield c


def test_access_lines_carry_request_id_route_status_and_model(app_client: TestClient, logged: Lines):
    response = app_client.post(
        "/sentiment/predict", json={"texts": ["Profits soar"]}, headers={"X-Request-ID": "agent-7.a_b-c"}
    )
    assert response.status_code == 200
    body = response.json()
    app_client.post("/bayesian/update", json={"strategy_name": "s", "profit_loss": 1.0})
    sentiment, bayesian = logged.access()
    assert sentiment["request_id"] == "agent-7.a_b-c"
    assert sentiment["message"] == "request" and sentiment["level"] == "INFO"
    assert (sentiment["method"], sentiment["route"], sentiment["status"]) == ("POST", "/sentiment/predict", 200)
    assert body["model"] == "lexicon" and body["model_version"]
    assert (sentiment["model"], sentiment["model_version"]) == (body["model"], body["model_version"])
    assert sentiment["duration_ms"] >= 0
    assert datetime.fromisoformat(sentiment["time"].replace("Z", "+00:00")).tzinfo == timezone.utc
    assert bayesian["route"] == "/bayesian/update" and bayesian["model"] == "bayesian"
    assert "model_version" not in bayesian  # unknown fields are left out, not null
    assert UUID_HEX.fullmatch(bayesian["request_id"])


def test_failed_requests_log_at_warning_with_the_template_not_the_raw_path(app_client: TestClient, logged: Lines):
    app_client.get("/price/evaluate/AAPL", params={"days": 0})
    app_client.get("/no/such/path")
    evaluate, missing = logged.access()
    assert (evaluate["route"], evaluate["path"], evaluate["status"]) == (
        "/price/evaluate/{symbol}",
        "/price/evaluate/AAPL",
        422,
    )
    assert evaluate["level"] == "WARNING"
    assert (missing["route"], missing["status"]) == ("unmatched", 404)


@pytest.mark.parametrize("sent", ["has space", "x" * 65, "", "a/b", "new\nline", "café"])
def test_a_bad_request_id_is_replaced(app_client: TestClient, logged: Lines, sent: str):
    response = app_client.get("/bayesian/weights", headers={b"X-Request-ID": sent.encode()})
    assert response.status_code == 200
    echoed = response.headers["X-Request-ID"]
    assert UUID_HEX.fullmatch(echoed)
    assert [e["request_id"] for e in logged.access()] == [echoed]


def test_a_good_request_id_is_echoed_and_fresh_ones_differ(app_client: TestClient):
    good = "A" * 64
    assert app_client.get("/health", headers={"X-Request-ID": good}).headers["X-Request-ID"] == good
    first, second = (app_client.get("/health").headers["X-Request-ID"] for _ in range(2))
    assert first != second


def test_errors_are_counted_by_kind(settings: Settings):
    keyed = settings.model_copy(
        update={"api_key": SecretStr(KEY), "max_body_bytes": 2048, "sentiment_model": "lexicon"}
    )
    app = create_app(keyed, FakeBackend())

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    auth = {"X-API-Key": KEY}
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/bayesian/weights").status_code == 401
        bad = client.post("/bayesian/update", json={"strategy_name": "s", "profit_loss": "x"}, headers=auth)
        assert bad.status_code == 422
        blank = client.post("/sentiment/predict", json={"texts": ["  "]}, headers=auth)
        assert (blank.status_code, blank.json()["error"]) == (422, "invalid_input")
        big = client.post("/bayesian/update", content=b"x" * 4000, headers=auth)
        assert big.status_code == 413
        assert client.post("/price/predict", json={"symbol": "AAPL"}, headers=auth).status_code == 503
        assert client.get("/no/such/path", headers=auth).status_code == 404
        crash = client.get("/boom", headers={**auth, "X-Request-ID": "crash-1"})
        assert crash.status_code == 500
        assert crash.headers["X-Request-ID"] == "crash-1" and "crash-1" in crash.json()["detail"]
        assert "a bug" not in crash.text  # the traceback is for the log, not the client
        text = client.get("/metrics", headers=auth).text
    counted = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r'^investiq_errors_total\{kind="(\w+)"\} (\S+)$', text, re.M)
    }
    assert counted == {
        "unauthorized": 1.0,
        "validation": 1.0,
        "invalid_input": 1.0,
        "payload_too_large": 1.0,
        "model_not_ready": 1.0,
        "not_found": 1.0,
        "internal_error": 1.0,
    }


@pytest.fixture
def root_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def test_configure_logging_writes_one_json_object_per_line(root_restored: None):
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    configure_logging("info", "json", stream=stream)  # a second call replaces its handler: no doubled lines
    logging.getLogger("gateway.test").debug("not at info")
    logging.getLogger("gateway.test").info("ready", extra={"path": Path("/x"), "count": 3})
    logging.getLogger("uvicorn.error").warning("from uvicorn")
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        logging.getLogger("gateway.test").exception("it broke")
    ready, uvicorn, broke = (json.loads(line) for line in stream.getvalue().splitlines())
    assert ready == {
        **ready,
        "level": "INFO",
        "logger": "gateway.test",
        "message": "ready",
        "path": "/x",
        "count": 3,
    }
    assert (uvicorn["logger"], uvicorn["message"]) == ("uvicorn.error", "from uvicorn")
    assert broke["level"] == "ERROR" and "ZeroDivisionError" in broke["exception"]
    assert broke["exception"].startswith("Traceback")


def test_text_format_keeps_the_request_fields(root_restored: None, settings: Settings):
    stream = io.StringIO()
    configure_logging("info", "text", stream=stream)
    with TestClient(create_app(settings.model_copy(update={"sentiment_model": "lexicon"}), FakeBackend())) as c:
        c.get("/bayesian/weights", headers={"X-Request-ID": "txt-1"})
    (line,) = [line for line in stream.getvalue().splitlines() if "gateway.access" in line]
    assert "INFO gateway.access: request" in line
    assert "request_id=txt-1" in line and "route=/bayesian/weights" in line and "status=200" in line


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_logs_text_to_a_terminal_and_json_elsewhere(root_restored: None) -> None:
    """`investiq up` printed its steps as text, then the gateway's lines as JSON objects in the same terminal (a
    new user's walkthrough): auto, the default, writes text where a person reads and JSON where a program does."""
    assert Settings().log_format == "auto"
    closed = io.StringIO()
    closed.close()
    for stream, formatter in ((_Terminal(), "TextFormatter"), (io.StringIO(), "JsonFormatter"), (closed, "Json")):
        handler = configure_logging("info", "auto", stream=stream)
        assert type(handler.formatter).__name__.startswith(formatter), (stream, handler.formatter)
    assert isinstance(configure_logging("info", "json", stream=_Terminal()).formatter, JsonFormatter)  # as chosen


def test_a_path_cannot_write_a_line_of_its_own_into_the_text_log(root_restored: None, settings: Settings):
    """The path is the client's, percent-decoded: `%0a` began a forged access line (a review)."""
    stream = io.StringIO()
    configure_logging("info", "text", stream=stream)
    forged = "2026-12-06T06:40:00.000Z INFO gateway.access: request request_id=forged status=200"
    with TestClient(create_app(settings.model_copy(update={"sentiment_model": "lexicon"}), FakeBackend())) as c:
        c.get("/x%0a" + forged.replace(" ", "%20"))
    lines = stream.getvalue().splitlines()
    assert not any(line.startswith("2026-12-06T06:40:00.000Z") for line in lines), lines
    assert any("path=/x\\n2026-12-06T06:40:00.000Z" in line for line in lines), lines


def test_a_crash_under_uvicorn_logs_its_traceback_with_the_request_id(root_restored: None, settings: Settings):
    """The request context outlives the middleware on purpose: uvicorn logs the traceback after it returned."""
    stream = io.StringIO()
    configure_logging("warning", "json", stream=stream)
    app = create_app(settings.model_copy(update={"sentiment_model": "lexicon"}), FakeBackend())

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_config=None, access_log=False, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)  # a stuck server must not hang pytest's exit
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "uvicorn did not start within 60 s"
        response = httpx.get(f"http://127.0.0.1:{port}/boom", headers={"X-Request-ID": "crash-2"}, timeout=10)
    finally:
        server.should_exit = True
        thread.join(20)
    assert (response.status_code, response.headers["X-Request-ID"]) == (500, "crash-2")
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    (traceback,) = [e for e in entries if e["logger"] == "uvicorn.error" and "exception" in e]
    assert traceback["request_id"] == "crash-2" and "RuntimeError: a bug" in traceback["exception"]
    (access,) = [e for e in entries if e["logger"] == "gateway.access"]
    assert (access["request_id"], access["status"], access["level"]) == ("crash-2", 500, "ERROR")


def test_a_served_gateway_logs_json_lines_with_the_request_id(serve: Any, db_path: Path, tmp_path: Path):
    server = serve(db_path)  # `investiq serve --log-level warning`: failed requests still get their line
    sent = server.request(
        "POST", "/bayesian/update", json={"strategy_name": "s"}, headers={"X-Request-ID": "agent-run-42"}
    )
    assert sent.status_code == 422 and sent.headers["X-Request-ID"] == "agent-run-42"
    assert server.request("GET", "/bayesian/weights", headers={"X-Request-ID": "quiet-ok"}).status_code == 200
    server.stop()
    lines = (tmp_path / "server.log").read_text().splitlines()
    banner = [line for line in lines if line.startswith("InvestIQ gateway")]
    entries = [json.loads(line) for line in lines if line not in banner]  # everything else is JSON
    assert len(banner) == 1
    (access,) = [e for e in entries if e.get("request_id") == "agent-run-42"]
    assert access["logger"] == "gateway.access" and access["level"] == "WARNING"
    assert (access["route"], access["status"], access["model"]) == ("/bayesian/update", 422, "bayesian")
    assert not [e for e in entries if e.get("request_id") == "quiet-ok"]  # INFO, below --log-level warning


def test_head_on_a_served_gateway_keeps_the_connection(serve: Any, db_path: Path, tmp_path: Path):
    """HEAD was answered by telling the app (and uvicorn, whose scope it was) GET: uvicorn then waited for the body
    its Content-Length announced, logged "Response content shorter than Content-Length" for every HEAD and dropped
    the connection, so the next request on it was reset (a new user's walkthrough)."""
    import http.client

    server = serve(db_path)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        for _ in range(2):
            for method in ("HEAD", "GET"):
                connection.request(method, "/bayesian/weights")
                answer = connection.getresponse()
                body = answer.read()
                assert answer.status == 200, method
                assert (body == b"") == (method == "HEAD"), method
    finally:
        connection.close()
    server.stop()
    log = (tmp_path / "server.log").read_text()
    assert "Content-Length" not in log and "Traceback" not in log, log[-2000:]


def test_a_method_outside_https_usual_ones_is_counted_as_other(app_client: TestClient):
    """Each method llhttp accepts (PROPFIND, MKCOL, PURGE...) got series of its own on every route: any client,
    key or not, could grow /metrics 80-fold and each scrape to 200 ms (a review)."""
    for method in ("PROPFIND", "MKCOL", "PURGE"):
        assert app_client.request(method, "/health").status_code == 405
    text = app_client.get("/metrics").text
    assert "PROPFIND" not in text and "MKCOL" not in text and "PURGE" not in text
    assert 'investiq_http_requests_total{method="other",route="/health",status="405"} 3.0' in text
