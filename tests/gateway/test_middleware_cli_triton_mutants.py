"""Mutation audit of the gateway's pure ASGI middleware (gateway/middleware.py) and of `investiq triton
start|stop|status` (investiq/cli/triton.py): each test fails with the mutant its docstring names applied, and
passes on the code as it is. The middleware is driven directly as an ASGI app around a small inner app, with
recording send and receive callables (no server); the body deadline runs on a clock the test holds (the module's
`time` replaced), and a chunk that arrives "late" is one the fake client hands over only after a few turns of the
event loop, never after a sleep. The CLI runs in click's CliRunner with the layer below it
(investiq.ops.triton_server) replaced by recording fakes: no tritonserver, no network."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner, Result
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import middleware
from gateway.metrics import Metrics
from gateway.middleware import (
    BodyLimitMiddleware,
    HostGuardMiddleware,
    MetricsMiddleware,
    RequestContextMiddleware,
)
from investiq.cli.main import main
from investiq.ops import triton_server
from investiq.ops.triton_server import TritonError, TritonPorts

LIMIT = 10  # bytes, the body limit of every BodyLimitMiddleware here
LATE = 20  # event loop turns the fake client takes to hand over a chunk: long after an expired deadline fires


def scope_of(
    method: str = "GET",
    path: str = "/thing",
    headers: list[tuple[bytes, bytes]] | None = None,
    api_key: str | None = None,
    allowed_hosts: frozenset[str] | None = None,
) -> Scope:
    """An HTTP scope as the server gives it, with the app's state the middleware reads."""
    app = SimpleNamespace(state=SimpleNamespace(api_key=api_key, allowed_hosts=allowed_hosts))
    return {"type": "http", "method": method, "path": path, "headers": headers or [], "app": app}


class Client:
    """The server's side: hands over `chunks` (the last without more_body), each after `delays[i]` loop turns,
    then a disconnect; records every message the middleware sends and each receive it makes."""

    def __init__(self, chunks: list[bytes] | None = None, delays: list[int] | None = None) -> None:
        self.chunks = list(chunks or [b""])
        self.delays = list(delays or [0] * len(self.chunks))
        self.sent: list[Message] = []
        self.receives = 0
        self.before_receive: Callable[[int], None] = lambda n: None  # called with the receive's number

    async def receive(self) -> Message:
        self.receives += 1
        self.before_receive(self.receives)
        if not self.chunks:
            for _ in range(LATE):
                await asyncio.sleep(0)
            return {"type": "http.disconnect"}
        for _ in range(self.delays.pop(0)):
            await asyncio.sleep(0)
        body = self.chunks.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(self.chunks)}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    def statuses(self) -> list[int]:
        return [m["status"] for m in self.sent if m["type"] == "http.response.start"]

    def headers(self) -> dict[bytes, bytes]:
        (start,) = [m for m in self.sent if m["type"] == "http.response.start"]
        return dict(start["headers"])

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")

    def error(self) -> dict[str, str]:
        parsed: dict[str, str] = json.loads(self.body())
        return parsed


def run(app: ASGIApp, scope: Scope, client: Client) -> Client:
    async def call() -> None:
        await app(scope, client.receive, client.send)

    asyncio.run(call())
    return client


def answering(status: int = 200, body: bytes = b"ok", read: bool = True) -> ASGIApp:
    """An app that reads the whole body (when `read`) and answers `status`."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while read:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": body})

    return app


async def raising(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("the app failed before answering")


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def one(self) -> logging.LogRecord:
        (record,) = self.records
        return record


@pytest.fixture
def access() -> Iterator[Records]:
    """The access lines RequestContextMiddleware writes."""
    handler, logger = Records(), logging.getLogger("gateway.access")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class Clock:
    """The middleware module's `time`: perf_counter and monotonic read `now`, which the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def perf_counter(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    held = Clock()
    monkeypatch.setattr(middleware, "time", held)
    return held


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def errors(metrics: Metrics, kind: str) -> float | None:
    return sample(metrics, "investiq_errors_total", kind=kind)


# --- RequestContextMiddleware, MetricsMiddleware ---------------------------------------------------------------


def test_a_fresh_request_id_is_always_32_hex_digits(monkeypatch: pytest.MonkeyPatch):
    """Mutant: new_request_id's `:032x` -> `:x`: an id whose random bits start with zeros came out shorter than
    32 digits (1 in 16 ids), which log searches and clients that check uuid4().hex's form reject."""
    monkeypatch.setattr(random, "getrandbits", lambda bits: 0xABC)
    client = run(RequestContextMiddleware(answering()), scope_of(), Client())
    assert client.headers()[b"x-request-id"] == b"0" * 29 + b"abc"


def test_an_app_that_raises_is_logged_and_counted_as_a_500(access: Records):
    """Mutants: the access line's `status = 500` default, or MetricsMiddleware's, -> 200: a request whose handler
    raised before answering (the client gets a 500) was logged at INFO as a 200, or counted as one."""
    metrics = Metrics()
    app = RequestContextMiddleware(MetricsMiddleware(raising, metrics))
    with pytest.raises(RuntimeError):
        run(app, scope_of(), Client())
    record = access.one()
    assert (record.levelno, record.__dict__["status"]) == (logging.ERROR, 500)
    count = "investiq_http_requests_total"
    assert sample(metrics, count, method="GET", route="unmatched", status="500") == 1


@pytest.mark.parametrize(("status", "level"), [(500, logging.ERROR), (400, logging.WARNING), (399, logging.INFO)])
def test_the_access_line_level_follows_the_status_class(access: Records, status: int, level: int):
    """Mutants: `status >= 500` -> `> 500`, `status >= 400` -> `> 400`, or the level always INFO: a 500 (or a 400)
    vanished from a gateway run at --log-level error (or warning), the very lines an operator keeps."""
    run(RequestContextMiddleware(answering(status)), scope_of(), Client())
    assert access.one().levelno == level


def test_a_head_request_is_logged_counted_and_answered_as_head(access: Records):
    """Mutants: the access line's method read from the app's copy (GET), MetricsMiddleware counting the scope's
    method instead of SENT_METHOD, SENT_METHOD not put in the copy, or the HEAD body no longer stripped: a load
    balancer's HEAD probes showed up as GETs in the log and the metrics, or got a body they must not."""
    metrics = Metrics()
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["method"])
        await answering(body=b"ok")(scope, receive, send)

    client = run(RequestContextMiddleware(MetricsMiddleware(app, metrics)), scope_of("HEAD"), Client())
    assert seen == ["GET"]  # HEAD is GET without its body
    assert client.body() == b"" and client.headers()[b"content-length"] == b"2"
    assert access.one().__dict__["method"] == "HEAD"
    count = "investiq_http_requests_total"
    assert sample(metrics, count, method="HEAD", route="unmatched", status="200") == 1
    assert sample(metrics, count, method="GET", route="unmatched", status="200") is None


def test_durations_are_measured_from_the_requests_start_in_their_units(access: Records, clock: Clock):
    """Mutants: duration_ms without the `* 1000` (seconds logged as milliseconds), or MetricsMiddleware
    observing `perf_counter()` instead of `perf_counter() - start`: a 250 ms request logged as 0.25 ms, or
    timed as the process's clock reading (every latency panel at the far end)."""
    metrics = Metrics()

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        clock.now += 0.25
        await answering()(scope, receive, send)

    run(RequestContextMiddleware(MetricsMiddleware(slow, metrics)), scope_of(), Client())
    assert access.one().__dict__["duration_ms"] == 250.0
    latency = "investiq_http_request_duration_seconds_sum"
    assert sample(metrics, latency, method="GET", route="unmatched") == 0.25


def test_a_request_outside_every_route_is_labelled_unmatched(access: Records):
    """Mutant: route_of's fallback "unmatched" -> "": 404s and requests answered before routing were logged and
    counted with an empty route, which dashboards drop."""
    run(RequestContextMiddleware(answering(404)), scope_of(path="/nowhere"), Client())
    assert access.one().__dict__["route"] == "unmatched"


# --- HostGuardMiddleware -----------------------------------------------------------------------------------------


def test_a_misdirected_request_is_counted_and_its_host_cut_in_the_answer():
    """Mutants: the 421's count_error dropped, or the Host quoted whole (`host[:80]` -> `host`): a DNS rebinding
    attempt left no trace in investiq_errors_total, or a client's megabyte Host came back in the body."""
    metrics = Metrics()
    host = "evil.example." + "x" * 200
    scope = scope_of(headers=[(b"host", host.encode())], allowed_hosts=frozenset({"localhost"}))
    client = run(HostGuardMiddleware(answering(), metrics), scope, Client())
    assert client.statuses() == [421]
    assert errors(metrics, "misdirected_request") == 1
    assert f"Host {host[:80]!r} is not this gateway's" in client.error()["detail"]


# --- BodyLimitMiddleware -----------------------------------------------------------------------------------------


def test_a_content_length_that_is_no_number_is_not_a_crash():
    """Mutant: the Content-Length's `isdigit()` check dropped: `int(b"12abc")` raised, and a malformed header got
    a 500 instead of the app's own answer."""
    scope = scope_of("POST", headers=[(b"content-length", b"12abc")])
    client = run(BodyLimitMiddleware(answering(), LIMIT, Metrics()), scope, Client([b"hi"]))
    assert client.statuses() == [200]


def test_a_413_names_the_size_and_is_counted_once_however_often_the_app_reads():
    """A request without the key whose oversized body something reads anyway (its 413 waits for that read).
    Mutants: the 413's count_error dropped, its detail naming the limit where the size belongs, receive after a
    rejection no longer answering disconnect at once (a second 413 sent on the same response), or the error body
    no longer JSON: the client could not tell how far over it was, or read the answer at all."""
    metrics = Metrics()
    reads: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        reads.extend([await receive(), await receive()])

    client = Client([b"x" * 50])
    scope = scope_of("POST", headers=[(b"content-length", b"50")], api_key="secret")  # sent without the key
    run(BodyLimitMiddleware(app, LIMIT, metrics), scope, client)
    assert client.statuses() == [413] and client.headers()[b"content-type"] == b"application/json"
    assert client.error()["detail"].startswith("request body of 50 bytes or more exceeds the limit of 10 bytes")
    assert errors(metrics, "payload_too_large") == 1
    assert reads == [{"type": "http.disconnect"}] * 2 and client.receives == 0


def test_a_body_streamed_in_small_chunks_is_measured_as_a_whole():
    """Mutant: `seen += len(chunk)` -> `seen = len(chunk)`: a client that streams its body in chunks under the
    limit (chunked encoding, no Content-Length) could send any size."""
    scope = scope_of("POST", headers=[(b"transfer-encoding", b"chunked")])
    client = run(BodyLimitMiddleware(answering(), LIMIT, Metrics()), scope, Client([b"x" * 6, b"x" * 6, b"x"]))
    assert client.statuses() == [413]
    assert client.error()["detail"].startswith("request body of 12 bytes or more")


def test_an_app_that_answers_before_reading_an_oversized_body_sends_one_response():
    """Mutants: the streamed 413 sent even after the app started its answer (`if not started` -> always), the
    started flag reset by a body message, or the app's sends after the rejection no longer dropped: a second
    response start on one request (the server aborts the connection) or the rest of a cut answer."""
    statuses: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        while (message := await receive())["type"] == "http.request" and message["more_body"]:
            pass
        statuses.append(message)
        await send({"type": "http.response.body", "body": b"rest"})

    client = run(BodyLimitMiddleware(app, LIMIT, Metrics()), scope_of("POST"), Client([b"x" * 6, b"x" * 6, b""]))
    assert statuses == [{"type": "http.disconnect"}]
    assert client.statuses() == [200] and client.body() == b"part"


def test_a_body_that_trickles_in_past_its_deadline_is_408(clock: Clock):
    """Mutants: each chunk given the whole `timeout_s` (`deadline - monotonic()` -> `timeout_s`), the 408's
    count_error dropped, its detail without the declared size, or the 408 without `connection: close`: a client
    sending a byte just before each timeout held a connection for ever (slowloris), unseen, and the server kept
    the connection open for a request it had given up on."""
    metrics = Metrics()
    client = Client([b"x", b"y", b"z"], delays=[0, LATE, LATE])
    client.before_receive = lambda n: setattr(clock, "now", clock.now + 6)  # 6 s between chunks, 10 s allowed
    scope = scope_of("POST", headers=[(b"content-length", b"3")])
    run(BodyLimitMiddleware(answering(), LIMIT, metrics, timeout_s=10), scope, client)
    assert client.statuses() == [408]
    assert client.headers()[b"connection"] == b"close"
    assert client.error()["detail"] == (
        "the request body was not complete after 10 s (setting http_body_timeout_s): 2 bytes of the 3 declared "
        "arrived"
    )
    assert errors(metrics, "request_timeout") == 1


def test_waiting_for_a_disconnect_after_a_complete_body_is_not_timed(clock: Clock):
    """Mutants: `deadline is None or complete` -> `deadline is None`, or the body never marked complete: an app
    that listens for the client's disconnect after reading the body (a streaming answer) had its answer cut and a
    408 sent once the deadline passed, though the body was all there."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["more_body"] is False
        clock.now += 60  # the answer takes a while; the body deadline (10 s) has long passed
        assert (await receive())["type"] == "http.disconnect"
        await answering(read=False)(scope, receive, send)

    client = run(BodyLimitMiddleware(app, LIMIT, Metrics(), timeout_s=10), scope_of("POST"), Client([b"abc"]))
    assert client.statuses() == [200]


@pytest.mark.parametrize(
    "headers",
    [
        [(b"transfer-encoding", b"chunked"), (b"content-encoding", b"gzip")],
        [(b"content-length", b"3"), (b"content-encoding", b"GZip")],
    ],
)
def test_a_compressed_body_is_415_however_it_is_framed(headers: list[tuple[bytes, bytes]]):
    """Mutant: the `transfer-encoding` check dropped from _content_encoding: a chunked gzip body (no
    Content-Length, as curl --data-binary @- sends it) reached the app and was read as text (a 422 about byte
    0x8b)."""
    client = run(BodyLimitMiddleware(answering(), LIMIT, Metrics()), scope_of("POST", headers=headers), Client())
    assert client.statuses() == [415]
    assert client.error()["error"] == "unsupported_media_type"


@pytest.mark.parametrize("coding", [b"IDENTITY", b"identity, ", b", identity"])
def test_identity_in_any_case_and_an_empty_list_item_are_no_coding(coding: bytes):
    """Mutants: the codings no longer lower-cased, or an empty list item taken for a coding
    (`c not in (b"identity", b"")` -> `c != b"identity"`): a body a client marked `IDENTITY`, or `identity, `
    (HTTP lists may hold empty items), was refused 415 as compressed."""
    scope = scope_of("POST", headers=[(b"content-length", b"2"), (b"content-encoding", coding)])
    client = run(BodyLimitMiddleware(answering(), LIMIT, Metrics()), scope, Client([b"hi"]))
    assert client.statuses() == [200]


def test_a_health_checks_oversized_body_is_413_at_once_even_without_the_key():
    """Mutant: `not is_health_path(...)` dropped from _refused_for_its_key: health checks take no key, yet a
    keyless health request with an oversized body was passed on unread as if it would be refused 401."""
    called: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(scope["path"])

    scope = scope_of("POST", "/health", headers=[(b"content-length", b"50")], api_key="secret")
    client = run(BodyLimitMiddleware(app, LIMIT, Metrics()), scope, Client([b"x" * 50]))
    assert client.statuses() == [413] and called == []


# --- investiq/cli/triton.py --------------------------------------------------------------------------------------


class FakeTriton:
    """investiq.ops.triton_server's functions that `investiq triton` calls, recording their calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.given: list[str] = []
        self.fail: str | None = None
        self.index: dict[str, str | None] | None = {"finbert": None}
        self.pid: int | None = 4242
        self.up = True
        self.stopped = True

    def configured(self, repository: Path) -> list[str]:
        self.calls.append(("configured", repository))
        return self.given

    def start(self, repository: Path, ports: TritonPorts, work: Path, server_env: Path | None = None) -> int:
        self.calls.append(("start", (repository, ports, work, server_env)))
        if self.fail:
            raise TritonError(self.fail)
        return 4242

    def models(self, ports: TritonPorts) -> dict[str, str | None] | None:
        return self.index

    def running(self, work: Path) -> int | None:
        return self.pid

    def ready(self, ports: TritonPorts) -> bool:
        return self.up

    def stop(self, work: Path) -> bool:
        return self.stopped


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeTriton:
    faked = FakeTriton()
    for name in ("configured", "start", "models", "running", "ready", "stop"):
        monkeypatch.setattr(triton_server, name, getattr(faked, name))
    return faked


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "repo").mkdir()
    (tmp_path / "env").mkdir()
    path = tmp_path / "config.yaml"
    path.write_text(
        f"model_repository: {tmp_path / 'repo'}\nlogs_dir: {tmp_path / 'logs'}\ntriton_env: {tmp_path / 'env'}\n"
        "triton_url: 127.0.0.1:9101\ntriton_http_port: 9100\ntriton_metrics_port: 9102\n"
    )
    return path


def cli(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["triton", *args, "--config", str(config)])


def test_start_names_its_ports_the_models_it_configured_and_the_failed_ones_in_order(
    fake: FakeTriton, config: Path, tmp_path: Path
):
    """Mutants: the HTTP and gRPC ports swapped in "Triton ready", the models given a config printed as a list's
    repr, the failed models in the server's order instead of sorted, the log named by its folder, the
    triton_env setting not passed to start, or the closing hint dropped: an operator dialled the wrong port,
    looked for the log in the wrong place, or started the pip server from the wrong environment."""
    fake.given = ["finbert", "patchtst"]
    fake.index = {"zeta": "Internal: no weights", "finbert": None, "alpha": "UNAVAILABLE"}
    result = cli(config, "start")
    assert result.exit_code == 0, result.output
    log = tmp_path / "logs" / "triton" / "triton.log"
    assert result.output == (
        "gave finbert, patchtst the checkout's Triton config (the exports had none)\n"
        "Triton ready (PID 4242): HTTP :9100, gRPC :9101, metrics :9102\n"
        f"but 2 model(s) failed to load and do not serve (see {log}):\n"
        "  alpha: UNAVAILABLE\n"
        "  zeta: Internal: no weights\n"
        "serve through it with: investiq serve --backend triton\n"
    )
    ((_, (repository, _ports, work, server_env)),) = [c for c in fake.calls if c[0] == "start"]
    assert (repository, work, server_env) == (tmp_path / "repo", tmp_path / "logs" / "triton", tmp_path / "env")


def test_start_that_fails_says_why_and_exits_1(fake: FakeTriton, config: Path):
    """Mutant: the TritonError turned into a bare exit 1 (`raise SystemExit(1)`): `triton start` failed without a
    word of why (a port taken, the server not installed)."""
    fake.fail = "HTTP port 9100 is taken (PID 77: nginx)"
    result = cli(config, "start")
    assert result.exit_code == 1
    assert "Error: HTTP port 9100 is taken (PID 77: nginx)" in result.output


@pytest.mark.parametrize(("stopped", "said"), [(True, "stopped\n"), (False, "Triton was not running\n")])
def test_stop_says_whether_it_stopped_a_server(fake: FakeTriton, config: Path, stopped: bool, said: str):
    """Mutant: the two messages of `triton stop` swapped: it said "stopped" when nothing ran."""
    fake.stopped, fake.up = stopped, False
    result = cli(config, "stop")
    assert (result.exit_code, result.output) == (0, said)


def test_stop_names_another_triton_that_answers_on_the_port_and_exits_1(fake: FakeTriton, config: Path):
    """A Triton this work directory did not start (compose's, or one started with other settings) answering on the
    settings' HTTP port: `triton stop` said only "Triton was not running" and exited 0, and `triton start` then
    found the port taken (noticed in a review of stop 68)."""
    fake.stopped, fake.up = False, True
    result = cli(config, "stop")
    assert result.exit_code == 1
    assert "another one answers on HTTP port" in result.output and "docker compose down" in result.output


def test_status_of_a_server_with_every_model_ready_exits_0_and_lists_them(fake: FakeTriton, config: Path):
    """Mutants: the served flags inverted (`why is None` -> `is not None`), or not_ready and the log reported
    even when no model failed: a script reading `models` saw every ready model as failed."""
    fake.index = {"finbert": None, "patchtst": None}
    result = cli(config, "status")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"pid": 4242, "ready": True, "models": {"finbert": True, "patchtst": True}}


@pytest.mark.parametrize(
    ("pid", "up", "index"),
    [
        (None, True, {"finbert": None}),  # another server answers: not the one `triton start` runs
        (4242, False, {"finbert": None}),
        (4242, True, None),  # the repository index did not answer
        (4242, True, {"finbert": None, "patchtst": "UNAVAILABLE"}),
    ],
)
def test_status_exits_1_unless_it_runs_ready_with_every_model_ready(
    fake: FakeTriton, config: Path, pid: int | None, up: bool, index: dict[str, str | None] | None
):
    """Mutants: each of `pid is None`, `not up`, `found is None` and `failed` dropped from the exit condition: a
    deploy script that waits on `investiq triton status` went on with no server of its own, a server not ready,
    an index it could not read, or a model that failed to load."""
    fake.pid, fake.up, fake.index = pid, up, index
    result = cli(config, "status")
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert (report["pid"], report["ready"]) == (pid, up)
