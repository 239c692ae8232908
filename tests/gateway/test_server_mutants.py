"""Kill tests of a mutation audit of the HTTP server's protocol (gateway/server.py): each fails with the mutant its
docstring names applied, and passes on the code as it is. They drive one DeadlineProtocol object directly: bytes in
through `data_received`, answers out of a fake transport, and its timers on a clock the test turns by hand (no
server, no socket, no sleep: the deadlines fire when the test says, whatever the machine's speed). The app runs on
a real event loop, settled after each step. The same protocol on a real uvicorn: tests/gateway/test_server.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from gateway import server as protocol_module
from gateway.server import (
    HEAD_TOO_LARGE_KIND,
    LINGER_S,
    MALFORMED_KIND,
    MAX_HEAD_BYTES,
    TIMEOUT_KIND,
    DeadlineProtocol,
    deadline_protocol,
)
from tests.gateway.test_server import app as echo_app
from tests.gateway.test_server import request, responses

HEADER_S = 5.0
BODY_S = 3.0
BACKSTOP_S = BODY_S + max(BODY_S, protocol_module.MIN_BODY_GRACE_S)  # where the protocol cuts a body off
KEEP_ALIVE_S = 60.0  # uvicorn's wait between requests: far after every deadline here
LINGER_DOCUMENTED_S = 1.0  # the module's docstring: a refused connection is closed within LINGER_S = 1 s


class Timer:
    """A timer of `Clock`: `cancel` as asyncio's."""

    def __init__(self, when: float, callback: Callable[..., None], args: tuple[Any, ...]) -> None:
        self.when, self.callback, self.args = when, callback, args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    """The protocol's loop: its timers wait for `advance`; its tasks (the app) run on a real loop, settled by
    hand."""

    def __init__(self, real: asyncio.AbstractEventLoop) -> None:
        self.real = real
        self.now = 0.0
        self.timers: list[Timer] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> Timer:
        timer = Timer(self.now + delay, callback, args)
        self.timers.append(timer)
        return timer

    def create_task(self, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        return self.real.create_task(coro, **kwargs)

    def settle(self) -> None:
        """Let the app run until it waits for something."""
        for _ in range(20):
            self.real.run_until_complete(asyncio.sleep(0))

    def advance(self, seconds: float) -> None:
        """Run, in order, every timer due within `seconds` from now (the app settled after each)."""
        end = self.now + seconds
        while due := sorted((t for t in self.timers if not t.cancelled and t.when <= end), key=lambda t: t.when):
            timer = due[0]
            self.timers.remove(timer)
            self.now = timer.when
            timer.callback(*timer.args)
            self.settle()
        self.now = end

    def armed(self) -> list[float]:
        """In how many seconds each live timer fires."""
        return sorted(t.when - self.now for t in self.timers if not t.cancelled)


class Transport:
    """What the protocol writes, and whether it closed, ended its half (write_eof) or paused reading."""

    def __init__(self, can_write_eof: bool = True) -> None:
        self.out = bytearray()
        self.closed = self.eof = self.paused = False
        self._can_write_eof = can_write_eof

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def write(self, data: bytes) -> None:
        if self.eof:  # as asyncio's and uvloop's transports
            raise RuntimeError("Cannot call write() after write_eof()")
        self.out += data

    def write_eof(self) -> None:
        if not self._can_write_eof:  # a TLS transport
            raise NotImplementedError("write_eof")
        self.eof = True

    def can_write_eof(self) -> bool:
        return self._can_write_eof

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def answers(self) -> list[tuple[int, dict[str, Any]]]:
        return responses(bytes(self.out))


class Connection:
    """One connection to a DeadlineProtocol over `Transport`, on `Clock`."""

    def __init__(self, clock: Clock, app: Any, can_write_eof: bool = True, header_s: float = HEADER_S) -> None:
        self.kinds: list[str] = []
        cls = deadline_protocol(header_s, BODY_S, on_timeout=self.kinds.append)
        config = uvicorn.Config(
            app, http=cls, lifespan="off", log_config=None, access_log=False, timeout_keep_alive=int(KEEP_ALIVE_S)
        )
        self.clock = clock
        self.protocol: DeadlineProtocol = cls(config=config, server_state=ServerState(), app_state={}, _loop=clock)
        self.transport = Transport(can_write_eof)
        self.protocol.connection_made(self.transport)  # type: ignore[arg-type]

    def send(self, data: bytes) -> None:
        self.protocol.data_received(data)
        self.clock.settle()


class Gate:
    """An app: /wait answers once the test opens the gate (its body unread till then); /early answers at once
    without reading its body, /late the same once the gate opens; /stream starts an answer, then waits for the
    disconnect; every other path as tests/gateway/test_server.py's."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.disconnected: list[str] = []  # the paths whose app read a disconnect

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope["path"]
        if path in ("/wait", "/late"):
            await self.open.wait()
        if path in ("/early", "/late", "/stream"):
            start = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
            await send(start)
            await send(
                {
                    "type": "http.response.body",
                    "body": b"{" if path == "/stream" else b"{}",
                    "more_body": path == "/stream",
                }
            )
            if path != "/stream":
                return
        if path in ("/stream", "/hang"):
            while (await receive())["type"] != "http.disconnect":
                pass
            self.disconnected.append(path)
            return
        await echo_app(scope, receive, send)


@pytest.fixture
def clock() -> Iterator[Clock]:
    real = asyncio.new_event_loop()
    clock = Clock(real)
    yield clock
    for task in asyncio.all_tasks(real):
        task.cancel()
    real.run_until_complete(asyncio.sleep(0))
    real.close()


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def conn(clock: Clock, gate: Gate) -> Connection:
    return Connection(clock, gate)


def head(size: int, path: str = "/a", body: bytes = b"") -> bytes:
    """A request whose head (request line, headers, blank line) is exactly `size` bytes, then `body`."""
    start = b"POST %s HTTP/1.1\r\nHost: t\r\ncontent-length: %d\r\nx-pad: " % (path.encode(), len(body))
    return start + b"a" * (size - len(start) - 4) + b"\r\n\r\n" + body


def refused(conn: Connection) -> tuple[int, dict[str, Any]]:
    """The one answer on the connection: a refusal."""
    ((status, body),) = conn.transport.answers()
    return status, body


# -- the bound on a head's size -----------------------------------------------------------------------------------


def test_a_head_of_exactly_the_bound_is_served_one_byte_more_is_refused(clock: Clock, gate: Gate):
    """server.py:data_received, `size > MAX_HEAD_BYTES` made `>=` (a head of exactly 16 KiB refused); _head_size,
    the blank line's 4 bytes left out of the count (a head 1-3 bytes past the bound served); or the body that
    follows the head in the same read counted as head (a head just under the bound, with a body, refused)."""
    exact = Connection(clock, gate)
    exact.send(head(MAX_HEAD_BYTES, body=b"12"))
    assert exact.transport.answers() == [(200, {"path": "/a", "body": 2})]
    over = Connection(clock, gate)
    over.send(head(MAX_HEAD_BYTES + 1))
    assert refused(over)[0] == 431 and over.kinds == [HEAD_TOO_LARGE_KIND]


def test_a_head_sent_in_small_reads_is_bounded_by_its_total(conn: Connection):
    """server.py:_head_size, `self._head_bytes += len(data)` made `=` (only the last read counted: a slowloris head
    of any size, each read under 16 KiB, went through)."""
    piece = b"x-pad: " + b"a" * 5000 + b"\r\n"
    conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n")
    for _ in range(4):
        conn.send(piece)
    status, body = refused(conn)
    assert status == 431 and body["error"] == HEAD_TOO_LARGE_KIND
    assert conn.transport.closed or conn.transport.eof


def test_keep_alive_requests_each_get_the_whole_bound(conn: Connection):
    """server.py:on_headers_complete, `self._head_bytes = 0` dropped (the heads of one keep-alive connection
    summed: its third 6 KB request refused with a 431)."""
    for i in range(4):
        conn.send(head(6000, f"/r{i}"))
    assert [status for status, _ in conn.transport.answers()] == [200] * 4


def test_a_body_ending_in_half_a_blank_line_does_not_shrink_the_next_heads_count(conn: Connection):
    """server.py:on_headers_complete, `self._head_tail = b""` dropped (the last bytes of a body taken for the start
    of the next head's blank line: a 20 KB head right after it counted as one byte, and served)."""
    conn.send(request("/a", b"abc\r\n\r"))
    assert conn.transport.answers() == [(200, {"path": "/a", "body": 6})]
    conn.send(b"\n" + head(20_000))
    assert conn.transport.answers()[1][0] == 431


def test_the_rest_of_a_body_the_app_answered_early_is_not_counted_as_a_head(conn: Connection):
    """server.py:on_response_complete, `and self._reading == "done"` dropped (an answer given before the body was
    read switched the connection to reading a head: the rest of the body counted as one, a 431 after the 200)."""
    conn.send(b"POST /early HTTP/1.1\r\nHost: t\r\ncontent-length: 40000\r\n\r\n" + b"y" * 100)
    conn.send(b"y" * 20_000)
    conn.send(b"y" * 19_900 + request("/next"))
    assert [status for status, _ in conn.transport.answers()] == [200, 200]
    assert conn.kinds == []


# -- the head's deadline ------------------------------------------------------------------------------------------


def test_a_head_trickling_in_byte_by_byte_is_cut_at_its_deadline(conn: Connection):
    """server.py:_track, `if phase == self._phase: return` dropped (the deadline re-armed at every read: a
    slowloris sending one byte a second kept its connection for ever)."""
    conn.send(b"GET / HTTP/1.1\r\n")
    for _ in range(int(HEADER_S) + 2):
        conn.clock.advance(1.0)
        if conn.transport.eof or conn.transport.closed:
            break
        conn.send(b"x")
    status, body = refused(conn)
    assert status == 408 and body["error"] == TIMEOUT_KIND


def test_a_head_begun_behind_an_answered_request_has_its_deadline(conn: Connection):
    """server.py:_track, `self._head_started or` dropped (a head begun in the read of the request before it: once
    that one was answered, uvicorn's keep-alive timer replaced its deadline, and it stalled unanswered for a
    minute)."""
    conn.send(request("/a") + b"GET /b HTTP/1.1\r\nHost")
    conn.clock.advance(HEADER_S + 0.1)
    assert [status for status, _ in conn.transport.answers()] == [200, 408]
    assert "http_header_timeout_s" in conn.transport.answers()[1][1]["detail"]


def test_an_idle_keep_alive_connection_is_left_to_uvicorns_timer(conn: Connection):
    """server.py:on_headers_complete, `self._head_started = False` dropped (after its first answer, a keep-alive
    connection that said nothing more got a 408 at the head's deadline, an error counted, instead of a silent close
    at the keep-alive timeout)."""
    conn.send(request("/a"))
    conn.clock.advance(HEADER_S * 2)
    assert len(conn.transport.answers()) == 1 and not conn.transport.closed
    conn.clock.advance(KEEP_ALIVE_S)
    assert conn.transport.is_closing() and len(conn.transport.answers()) == 1 and conn.kinds == []


def test_a_pipelined_request_the_app_is_answering_is_not_cut_by_a_head_deadline(conn: Connection, gate: Gate):
    """server.py:on_response_complete, `waiting and` dropped (the answer to a request let the one read behind it
    start, and armed a head deadline over it: an app slower than http_header_timeout_s had its connection closed
    without its answer)."""
    conn.send(request("/a") + request("/wait", b"xy"))
    conn.clock.advance(HEADER_S * 2)
    gate.open.set()
    conn.clock.settle()
    assert conn.transport.answers() == [(200, {"path": "/a", "body": 0}), (200, {"path": "/wait", "body": 2})]
    assert not conn.transport.closed


# -- the body's deadline and the app's time -----------------------------------------------------------------------


def test_time_the_app_spends_answering_is_not_bounded(conn: Connection, gate: Gate):
    """server.py:on_message_complete, `self._reading = "done"` dropped (the body's deadline kept running while the
    app answered: a route slower than twice http_body_timeout_s got a 408 and a closed connection)."""
    conn.send(request("/wait", b"12"))
    conn.clock.advance(BACKSTOP_S * 3)
    gate.open.set()
    conn.clock.settle()
    assert conn.transport.answers() == [(200, {"path": "/wait", "body": 2})]
    assert not conn.transport.closed and conn.kinds == []


def test_a_stalled_body_is_cut_at_twice_its_deadline_and_not_before(conn: Connection):
    """server.py:_track, `max(self.body_timeout_s, MIN_BODY_GRACE_S)` made `min` (the protocol's cut came before
    twice the deadline, where it may answer the same request as the app's own 408)."""
    conn.send(b"POST /hang HTTP/1.1\r\nHost: t\r\ncontent-length: 100\r\n\r\n" + b"x" * 10)
    conn.clock.advance(BACKSTOP_S - 0.01)
    assert conn.transport.out == b"" and not conn.transport.closed
    conn.clock.advance(0.02)
    assert refused(conn)[0] == 408 and conn.kinds == [TIMEOUT_KIND]


def test_a_stalled_body_whose_answer_has_begun_is_closed_without_a_second_answer(conn: Connection, gate: Gate):
    """server.py:_body_timed_out, `if self._stop_the_app()` made `if True` or _stop_the_app returning True (a 408
    written into the middle of the app's answer), `self._closing(...)` dropped (the cut neither logged nor
    counted), or `self.transport.close()` dropped (the connection held)."""
    conn.send(b"POST /stream HTTP/1.1\r\nHost: t\r\ncontent-length: 100\r\n\r\n" + b"x" * 10)
    conn.clock.advance(BACKSTOP_S + 0.1)
    assert b"408" not in conn.transport.out and conn.transport.out.startswith(b"HTTP/1.1 200")
    assert conn.transport.closed and conn.kinds == [TIMEOUT_KIND]
    assert gate.disconnected == ["/stream"]  # the app was told at once


def test_an_app_that_answers_after_the_cut_writes_nothing(
    conn: Connection, gate: Gate, caplog: pytest.LogCaptureFixture
):
    """server.py:_stop_the_app, `cycle.disconnected = True` dropped (an app that answered a request after the
    protocol's 408 wrote into the closed half of the connection: "Cannot call write() after write_eof()", an ERROR
    with a traceback)."""
    conn.send(b"POST /late HTTP/1.1\r\nHost: t\r\ncontent-length: 100\r\n\r\n" + b"x" * 10)
    conn.clock.advance(BACKSTOP_S + 0.1)
    with caplog.at_level(logging.ERROR):
        gate.open.set()
        conn.clock.settle()
    assert [status for status, _ in conn.transport.answers()] == [408]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_a_refusal_resumes_reading_paused_by_flow_control(conn: Connection):
    """server.py:_refuse, `self.transport.resume_reading()` dropped (a body past uvicorn's high-water mark, unread
    by the app, paused reading: the lingering close then read nothing, and the client's further bytes met a reset
    that could destroy the 408)."""
    conn.send(b"POST /wait HTTP/1.1\r\nHost: t\r\ncontent-length: 200000\r\n\r\n" + b"x" * 70_000)
    assert conn.transport.paused
    conn.clock.advance(BACKSTOP_S + 0.1)
    assert refused(conn)[0] == 408 and not conn.transport.paused


def test_the_app_answering_a_request_hears_of_a_hang_up_behind_pipelined_ones(conn: Connection, gate: Gate):
    """server.py:connection_lost, `cycle.message_event.set()` dropped (the app answering a request, waiting for its
    body or a disconnect, was never woken when the client hung up behind pipelined requests: its task never
    ended)."""
    conn.send(b"POST /hang HTTP/1.1\r\nHost: t\r\ncontent-length: 2\r\n\r\nab" + request("/b") + request("/c"))
    conn.protocol.connection_lost(None)
    conn.clock.settle()
    assert gate.disconnected == ["/hang"]


# -- refusals: the answer, the lingering close --------------------------------------------------------------------


def test_a_refusal_ends_the_servers_half_then_closes_within_a_second(conn: Connection):
    """server.py:_refuse, `self.transport.write_eof()` dropped (the client waited for the end of the answer until
    the close), the `call_later(LINGER_S, close)` dropped (a client that never closed its half held the connection
    for ever) or LINGER_S raised (held longer than the second the module documents); data_received, the `return`
    after the 431 dropped (the refused head parsed anyway: its app ran, and its answer met the closed half)."""
    conn.send(head(MAX_HEAD_BYTES + 100))
    assert refused(conn)[0] == 431 and conn.transport.eof and not conn.transport.closed
    conn.clock.advance(LINGER_DOCUMENTED_S)
    assert conn.transport.closed


def test_bytes_after_a_refusal_are_dropped(conn: Connection):
    """server.py:_refuse, `self._lingering = True` dropped (what still arrived after a 431 was read as a head
    again: a second refusal written after the end of the answer, "Cannot call write() after write_eof()")."""
    conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n")
    conn.send(b"x-pad: " + b"a" * MAX_HEAD_BYTES + b"\r\n")
    conn.send(b"x-pad: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n")
    assert refused(conn)[0] == 431 and conn.kinds == [HEAD_TOO_LARGE_KIND]


def test_a_refusal_is_not_followed_by_a_head_deadline_shorter_than_the_linger(clock: Clock, gate: Gate):
    """server.py:_track, `or self._lingering` dropped (after a 431, the head's deadline armed again: with
    http_header_timeout_s under LINGER_S a second answer, a 408, was written after the end of the first)."""
    conn = Connection(clock, gate, header_s=LINGER_S / 2)
    conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n")
    conn.send(b"x-pad: " + b"a" * MAX_HEAD_BYTES + b"\r\n")
    clock.advance(LINGER_S)
    assert refused(conn)[0] == 431 and conn.kinds == [HEAD_TOO_LARGE_KIND] and conn.transport.closed


def test_a_refusal_over_a_transport_that_cannot_end_its_half_closes_at_once(clock: Clock, gate: Gate):
    """server.py:_refuse, the `can_write_eof()` check dropped (over TLS, write_eof raised NotImplementedError
    inside data_received instead of the 431 and a close)."""
    conn = Connection(clock, gate, can_write_eof=False)
    conn.send(head(MAX_HEAD_BYTES + 100))
    assert refused(conn)[0] == 431 and conn.transport.closed


def test_a_refusal_says_connection_close_and_its_detail(conn: Connection):
    """_raw_response, `connection: close` dropped (a client kept the connection to send its next request into a
    closing one), or the 408's detail without how many bytes arrived."""
    conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n")
    conn.clock.advance(HEADER_S)
    answer_head = bytes(conn.transport.out).split(b"\r\n\r\n")[0].split(b"\r\n")
    assert b"connection: close" in answer_head
    assert "25 bytes arrived" in refused(conn)[1]["detail"]  # the request line and the Host header


def test_the_warning_of_a_refusal_names_the_request_id_of_its_answer(
    conn: Connection, caplog: pytest.LogCaptureFixture
):
    """server.py:_refuse, the request id left out of the log line, or a different one logged than answered (an
    operator could not find the line of the 408 a client reported)."""
    with caplog.at_level(logging.WARNING, logger="gateway.server"):
        conn.send(head(MAX_HEAD_BYTES + 100))
    answer_head = bytes(conn.transport.out).split(b"\r\n\r\n")[0]
    (request_id,) = [
        line.split(b": ")[1] for line in answer_head.split(b"\r\n") if line.startswith(b"x-request-id")
    ]
    (record,) = [r for r in caplog.records if r.name == "gateway.server"]
    assert f"(request id {request_id.decode()})" in record.getMessage()
    assert "127.0.0.1:40000" in record.getMessage()


def test_bytes_it_cannot_read_while_an_answer_is_under_way_close_with_a_count(conn: Connection, gate: Gate):
    """server.py:send_400_response, `self._closing(MALFORMED_KIND, ...)` dropped where the app had begun its answer
    (the connection closed, neither logged nor counted in investiq_errors_total)."""
    conn.send(b"POST /stream HTTP/1.1\r\nHost: t\r\ncontent-length: 0\r\n\r\n")
    conn.send(b"GET /x HTTP/9.9\r\nHost: t\r\n\r\n")
    assert conn.transport.closed and conn.kinds == [MALFORMED_KIND] and b"400" not in conn.transport.out


# -- requests pipelined behind one the app is answering (a bug the audit found, fixed) ----------------------------


def test_a_stalled_head_behind_a_slow_answer_is_refused_after_that_answer(
    conn: Connection, gate: Gate, caplog: pytest.LogCaptureFixture
):
    """The head deadline of a request pipelined behind one the app was still answering ran from its first byte:
    the 408 was written ahead of that answer (the client took it for its first request's), and the app's answer
    then raised "Cannot call write() after write_eof()". Its deadline now starts once that answer is complete."""
    with caplog.at_level(logging.ERROR):
        conn.send(request("/wait") + b"GET /b HTTP/1.1\r\nHost")
        conn.clock.advance(HEADER_S * 3)
        assert conn.transport.out == b"" and not conn.transport.closed
        gate.open.set()
        conn.clock.settle()
        assert conn.clock.armed()[0] == pytest.approx(HEADER_S)  # the next head's deadline, from now
        conn.clock.advance(HEADER_S + 0.1)
    answers = conn.transport.answers()
    assert [status for status, _ in answers] == [200, 408] and answers[0][1]["path"] == "/wait"
    assert conn.kinds == [TIMEOUT_KIND]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_a_body_queued_behind_a_slow_answer_has_its_deadline_from_that_answer(conn: Connection, gate: Gate):
    """uvicorn stops reading a pipelined request's body until the answer before it is complete; its body deadline
    ran meanwhile, and the protocol's 408 cut in ahead of that answer. It now runs from the answer's end."""
    conn.send(request("/wait") + b"POST /b HTTP/1.1\r\nHost: t\r\ncontent-length: 2\r\n\r\n")
    conn.clock.advance(BACKSTOP_S * 3)
    assert conn.transport.out == b"" and not conn.transport.closed
    gate.open.set()
    conn.clock.settle()
    conn.send(b"xy")
    assert conn.transport.answers() == [(200, {"path": "/wait", "body": 0}), (200, {"path": "/b", "body": 2})]
    assert not conn.transport.closed and conn.kinds == []


def test_a_head_too_large_behind_an_answer_under_way_closes_without_writing_into_it(conn: Connection, gate: Gate):
    """A head pipelined behind an answer the app had begun, arriving whole in one read, was not measured (the
    check looked at heads begun in an earlier read only), and one begun earlier got its 431 written into that
    answer (whose next write raised). Now measured, and, as bytes the parser cannot read, the connection is
    closed, logged and counted."""
    conn.send(b"POST /stream HTTP/1.1\r\nHost: t\r\ncontent-length: 0\r\n\r\n")
    conn.send(head(MAX_HEAD_BYTES + 1, path="/b"))
    assert conn.transport.closed and conn.kinds == [HEAD_TOO_LARGE_KIND] and b"431" not in conn.transport.out
    conn.clock.settle()
    assert gate.disconnected == ["/stream"]
