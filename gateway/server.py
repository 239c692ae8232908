"""The HTTP server: uvicorn's httptools protocol with deadlines on reading a request, and a bound on its head.

uvicorn (0.54) bounds only the wait *between* requests of a keep-alive connection (`timeout_keep_alive`):
a client that connects and says nothing, sends its headers a byte a second (slowloris), or stops halfway
through its body keeps its connection, its file descriptor and its buffers for as long as it likes. Its other
options do not help: `h11_max_incomplete_event_size` bounds the size of a request head (h11 only), not its
time, `limit_concurrency` answers 503 to everyone once slow clients hold the connections, and
`timeout_graceful_shutdown` only acts at shutdown. So this subclass of its httptools protocol (llhttp, in C:
~0.1 ms less per request than h11's, benchmarks/results/gateway_profile.md) adds two deadlines and a size:

- the head (request line and headers) must be complete within `http_header_timeout_s` of the connection's
  first byte (of connecting, for a new connection); a client that sent part of one gets a 408, a silent one
  is just closed, as an idle keep-alive connection is;
- a head may not grow past `MAX_HEAD_BYTES` (h11's default, which the gateway had before): a 431, then close;
- the body must be complete within `http_body_timeout_s` of the head. The app answers that one itself
  (gateway/middleware.py, BodyLimitMiddleware: a 408 with a request id, an access line and a metric); the
  protocol closes the connection at twice the deadline (at least one second later) if the app did not, e.g.
  when the route never reads its body and the client keeps sending one after the answer. The margin is wide
  so that, however late a busy event loop runs the app's timer, the two never answer the same request;
- a request pipelined behind one the app is still answering has both deadlines start once that answer is
  complete (uvicorn answers in order, and stops reading until then).

Either way the connection is closed, so its descriptor and buffers are returned within `LINGER_S`. A refusal
(408 or 431) to a client that is still sending is a lingering close: the answer, then the end of the server's
half of the connection, then whatever still arrives is read and dropped until the client closes its half or
`LINGER_S` pass. Closed at once with unread bytes, the kernel answers the next ones with a reset, which can
destroy the answer before the client reads it. Time the app spends answering is not bounded here: reading is.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from gateway.logs import REQUEST_ID_HEADER
from gateway.middleware import new_request_id
from investiq.core.settings import Settings

_DEFAULTS = Settings.model_fields  # the settings' defaults, until deadline_protocol sets the configured ones

log = logging.getLogger("gateway.server")
MIN_BODY_GRACE_S = 1.0
LINGER_S = 1.0  # a refused connection's longest wait for the client to close after the answer
MAX_HEAD_BYTES = 16 * 1024  # h11's DEFAULT_MAX_INCOMPLETE_EVENT_SIZE: what uvicorn's h11 protocol allowed
TIMEOUT_KIND = "request_timeout"  # the error kind of every 408, in bodies and in investiq_errors_total
HEAD_TOO_LARGE_KIND = "head_too_large"  # the error kind of every 431
MALFORMED_KIND = "malformed_request"  # the error kind of a 400 for bytes the HTTP parser cannot read

Reading = Literal["head", "body", "done"]  # where the request being read stands ("done": the app answers)
_STATUS = {400: b"400 Bad Request", 408: b"408 Request Timeout", 431: b"431 Request Header Fields Too Large"}


def _error_body(kind: str, detail: str) -> bytes:
    return json.dumps({"error": kind, "detail": detail}).encode()


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's HttpToolsProtocol with a deadline for the request head, one for the body and a bound on the
    head's size (`deadline_protocol` makes the subclass with the configured seconds: uvicorn makes one
    protocol object per connection)."""

    header_timeout_s: ClassVar[float] = _DEFAULTS["http_header_timeout_s"].default
    body_timeout_s: ClassVar[float] = _DEFAULTS["http_body_timeout_s"].default
    on_timeout: ClassVar[tuple[Callable[[str], None], ...]] = ()  # each called with the error kind (a metric)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading: Reading = "head"
        self._head_started = False  # part of a head arrived (the parser began a message)
        self._head_bytes = 0  # bytes received while a head was being read (an upper bound on its size)
        self._head_tail = b""  # the last bytes of the head's previous read
        self._phase: str | None = None  # "head", "body", "idle" (keep-alive: uvicorn's timer) or None
        self._deadline: asyncio.TimerHandle | None = None
        self._lingering = False  # refused: the answer is sent, what still arrives is dropped until the close
        self._answering: RequestResponseCycle | None = None  # the cycle whose app runs (`_start_asgi_task`)

    # -- the transport's and the parser's events; after each batch of bytes, a look at the phase -------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._track()

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return
        if self._reading in ("head", "done"):  # "done": the bytes after a whole request begin the next head
            size = self._head_size(data)
            if size > MAX_HEAD_BYTES and not self.transport.is_closing():
                # before the parser sees it: a head that arrived whole in one read was complete (and the count
                # reset) by the time a check after parsing looked, and got through at any size (a review)
                detail = f"the request line and headers exceed {MAX_HEAD_BYTES} bytes ({size} arrived)"
                self._refuse_or_close(431, HEAD_TOO_LARGE_KIND, detail)
                self._track()
                return
        super().data_received(data)
        if self._reading == "head":  # a pipelined head begun in this read: its blank line may straddle the next
            self._head_tail = data[-3:]
        self._track()

    def _head_size(self, data: bytes) -> int:
        """The bytes of the head being read once `data` is in: up to its blank line where `data` holds it (the
        body may follow in the same read), else all that arrived."""
        seen = self._head_tail + data  # the blank line may straddle two reads
        self._head_bytes += len(data)
        self._head_tail = seen[-3:]
        end = seen.find(b"\r\n\r\n")
        return self._head_bytes if end < 0 else self._head_bytes - (len(seen) - end - 4)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading = "head"
        self._head_started = True

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._reading = "body"
        self._head_started = False
        self._head_bytes = 0
        self._head_tail = b""

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading = "done"

    def on_response_complete(self) -> None:
        waiting = not self.pipeline  # no request read ahead (pipelined) that this answer lets start
        super().on_response_complete()
        if waiting and self._reading == "done":
            self._reading = "head"
        self._track()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)
        # uvicorn marks only the newest request read (`self.cycle`) disconnected: behind pipelined requests that
        # is not the one answering, whose app then wrote to the closed transport, an ERROR with a traceback a
        # connection (a client that pipelined 100 requests, read none and hung up: a security audit).
        for cycle in (self._answering, *(queued for queued, _ in self.pipeline)):
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        self._answering = cycle
        super()._start_asgi_task(cycle, app)

    # -- deadlines ------------------------------------------------------------------------------
    def _track(self) -> None:
        """Arm the deadline of the phase the request is in, when it changes (a phase's deadline runs from
        its start, however the bytes trickle in)."""
        if self.transport is None or self.transport.is_closing() or self._lingering:
            self._cancel()
            return
        phase: str | None
        # the app is answering: this request, or one read before it
        if self._reading == "done" or self._behind_an_answer():
            phase = None
        elif self._reading == "body":
            phase = "body"
        elif self._head_started or self.timeout_keep_alive_task is None:
            phase = "head"
        else:  # between requests: uvicorn's keep-alive timer, until the next request's first byte
            phase = "idle"
        if phase == self._phase:
            return
        self._cancel()
        self._phase = phase
        if phase == "head":
            self._deadline = self.loop.call_later(self.header_timeout_s, self._head_timed_out)
        elif phase == "body":
            grace = max(self.body_timeout_s, MIN_BODY_GRACE_S)  # the app's deadline comes first
            self._deadline = self.loop.call_later(self.body_timeout_s + grace, self._body_timed_out)

    def _behind_an_answer(self) -> bool:
        """The request being read waits for the app to answer one read before it (pipelined): uvicorn answers in
        order and stops reading a pipelined request's body until then, so its deadlines start once that answer is
        complete. They ran from its first byte, and a 408 cut in ahead of the answer the app was still writing,
        which the client took for that request's and whose next write raised "Cannot call write() after
        write_eof()" (mutation round 9)."""
        answering = self._answering
        if answering is None or answering.response_complete:
            return False
        return self._reading == "head" or answering is not self.cycle  # a head has no cycle until it is complete

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._phase = None

    def _head_timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if not self._head_started:  # a silent connection
            self.transport.close()
            return
        self._refuse(
            408,
            TIMEOUT_KIND,
            f"the request line and headers were not complete after {self.header_timeout_s:g} s "
            f"(setting http_header_timeout_s; {self._head_bytes} bytes arrived)",
        )

    def _body_timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        detail = (
            f"the request body was not complete {self.body_timeout_s:g} s after its headers "
            "(setting http_body_timeout_s), and the app did not answer"
        )
        self._refuse_or_close(408, TIMEOUT_KIND, detail)

    def _stop_the_app(self) -> bool:
        """What losing the connection does, at once, to the request the app is on: it reads a disconnect, and
        whatever it still sends is dropped (it must not write into a refusal, nor start an answer after it). True
        where the app has not begun its answer: a refusal may be written (it was written after an answer in
        progress, whose next write then raised "Cannot call write() after write_eof()", a review)."""
        cycle = self.cycle  # uvicorn keeps the last request's, complete, until the next request's head is in
        if cycle is None or cycle.response_complete:
            return True  # nothing in the app's hands (after an answer, the 400 was not written: a second review)
        cycle.disconnected = True
        cycle.message_event.set()
        return not cycle.response_started

    def send_400_response(self, msg: str) -> None:
        """What the parser cannot read (a Content-Length that is no number, or beside Transfer-Encoding, a bad
        version, a space in a header name): a JSON error as every other answer, where uvicorn sent its text/plain
        "Invalid HTTP request received." (an audit acting as the agent)."""
        detail = (
            "not a well-formed HTTP/1.1 request: its request line, a header or its length (Content-Length, "
            "Transfer-Encoding) cannot be read"
        )
        # logged with the answer's request id, beside uvicorn's own line (which has none)
        self._refuse_or_close(400, MALFORMED_KIND, detail)

    def _refuse_or_close(self, status: int, kind: str, detail: str) -> None:
        """`_refuse` where the app has not begun an answer (`_stop_the_app`: a request pipelined before this may
        be in its hands); else close without writing, logged and counted."""
        if self._stop_the_app():
            self._refuse(status, kind, detail)
        else:
            self._closing(kind, detail)
            self.transport.close()

    def _refuse(self, status: int, kind: str, detail: str) -> None:
        """Answer `status` for the app (which has not seen the request, or stopped reading it) and close,
        lingering (see the module's docstring). The answer carries a request id, as every answer does, and the
        log line names it."""
        request_id = new_request_id()
        self._closing(kind, f"{detail} (request id {request_id})")
        self.transport.write(_raw_response(status, _error_body(kind, detail), request_id))
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self._cancel()
        self._lingering = True
        self.transport.write_eof()
        self.transport.resume_reading()  # uvicorn's flow control may have paused it while the app read slowly
        self.loop.call_later(LINGER_S, self.transport.close)  # a no-op once closed

    def _closing(self, kind: str, detail: str) -> None:
        """Log and count the refusal of kind `kind`."""
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.warning("closing the connection of %s: %s", client, detail)  # a refusal: shown at --log-level warning
        for hook in self.on_timeout:
            hook(kind)


def _raw_response(status: int, body: bytes, request_id: str) -> bytes:
    """A JSON error answer with `connection: close`, written to the transport directly: the app never saw the
    request, or has stopped reading it."""
    head = b"HTTP/1.1 " + _STATUS[status] + b"\r\ncontent-type: application/json\r\nconnection: close\r\n"
    head += REQUEST_ID_HEADER.lower().encode("ascii") + b": " + request_id.encode("ascii") + b"\r\n"
    return head + b"content-length: " + str(len(body)).encode("ascii") + b"\r\n\r\n" + body


def deadline_protocol(
    header_timeout_s: float, body_timeout_s: float, on_timeout: Callable[[str], None] | None = None
) -> type[DeadlineProtocol]:
    """The protocol class to give uvicorn (`http=`), with these deadlines; `on_timeout(kind)` is called for
    every connection closed by one, and every head refused as too large (the gateway counts them in
    investiq_errors_total)."""
    attributes = {
        "header_timeout_s": header_timeout_s,
        "body_timeout_s": body_timeout_s,
        "on_timeout": () if on_timeout is None else (on_timeout,),
    }
    return type("ConfiguredDeadlineProtocol", (DeadlineProtocol,), attributes)
