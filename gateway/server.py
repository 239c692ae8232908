"""The HTTP server: uvicorn's h11 protocol with deadlines on reading a request.

uvicorn (0.54) bounds only the wait *between* requests of a keep-alive connection (`timeout_keep_alive`):
a client that connects and says nothing, sends its headers a byte a second (slowloris), or stops halfway
through its body keeps its connection, its file descriptor and its buffers for as long as it likes. Its other
options do not help: `h11_max_incomplete_event_size` bounds the size of a request head, not its time,
`limit_concurrency` answers 503 to everyone once slow clients hold the connections, and
`timeout_graceful_shutdown` only acts at shutdown. So this subclass of its h11 protocol adds two deadlines:

- the head (request line and headers) must be complete within `http_header_timeout_s` of the connection's
  first byte (of connecting, for a new connection); a client that sent part of one gets a 408, a silent one
  is just closed, as an idle keep-alive connection is;
- the body must be complete within `http_body_timeout_s` of the head. The app answers that one itself
  (gateway/middleware.py, BodyLimitMiddleware: a 408 with a request id, an access line and a metric); the
  protocol closes the connection at twice the deadline (at least one second later) if the app did not, e.g.
  when the route never reads its body and the client keeps sending one after the answer. The margin is wide
  so that, however late a busy event loop runs the app's timer, the two never answer the same request.

Either way the connection is closed, so its descriptor and buffers are returned at once. Time the app
spends answering is not bounded here: reading is.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("gateway.server")
MIN_BODY_GRACE_S = 1.0
TIMEOUT_KIND = "request_timeout"  # the error kind of every 408, in bodies and in investiq_errors_total


def timeout_body(detail: str) -> bytes:
    return json.dumps({"error": TIMEOUT_KIND, "detail": detail}).encode()


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's H11Protocol with a deadline for the request head and one for the body (`deadline_protocol`
    makes the subclass with the configured seconds: uvicorn makes one protocol object per connection)."""

    header_timeout_s: ClassVar[float] = 10.0
    body_timeout_s: ClassVar[float] = 30.0
    on_timeout: ClassVar[tuple[Callable[[str], None], ...]] = ()  # each called with TIMEOUT_KIND (a metric)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase: str | None = None  # "head", "body", "idle" (keep-alive: uvicorn's timer) or None
        self._deadline: asyncio.TimerHandle | None = None

    # -- the protocol's events, each followed by a look at where the request stands -----------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._track()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._track()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._track()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    # -- deadlines ------------------------------------------------------------------------------
    def _track(self) -> None:
        """Arm the deadline of the phase the request is in, when it changes (a phase's deadline runs from
        its start, however the bytes trickle in)."""
        if self.transport is None or self.transport.is_closing():
            self._cancel()
            return
        state = self.conn.their_state
        if state is h11.IDLE:  # between requests: uvicorn's keep-alive timer, until the next request's first byte
            phase: str | None = "idle" if self.timeout_keep_alive_task is not None else "head"
        elif state is h11.SEND_BODY:
            phase = "body"
        else:  # the request is in (the app is answering), or the connection is ending
            phase = None
        if phase == self._phase:
            return
        self._cancel()
        self._phase = phase
        if phase == "head":
            self._deadline = self.loop.call_later(self.header_timeout_s, self._head_timed_out)
        elif phase == "body":
            grace = max(self.body_timeout_s, MIN_BODY_GRACE_S)  # the app's deadline comes first
            self._deadline = self.loop.call_later(self.body_timeout_s + grace, self._body_timed_out)

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._phase = None

    def _head_timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        pending, _ = self.conn.trailing_data  # bytes of a request head that is not complete
        if pending:
            detail = (
                f"the request line and headers were not complete after {self.header_timeout_s:g} s "
                f"(setting http_header_timeout_s; {len(pending)} bytes arrived)"
            )
            self._closing(detail)
            self.transport.write(_raw_408(timeout_body(detail)))
        self.transport.close()

    def _body_timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        detail = (
            f"the request body was not complete {self.body_timeout_s:g} s after its headers "
            "(setting http_body_timeout_s), and the app did not answer"
        )
        self._closing(detail)
        if cycle is not None and not cycle.response_complete:
            # What losing the connection does, at once: the app reads a disconnect, and whatever it still sends
            # is dropped (it must not write into this answer, nor start one of its own after it).
            cycle.disconnected = True
            cycle.message_event.set()
        if cycle is not None and not cycle.response_started:
            # The app has not answered and is not reading: answer for it.
            headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
            body = timeout_body(detail)
            headers.append((b"content-length", str(len(body)).encode()))
            try:
                self.transport.write(self.conn.send(h11.Response(status_code=408, headers=headers)) or b"")
                self.transport.write(self.conn.send(h11.Data(data=body)) or b"")
                self.transport.write(self.conn.send(h11.EndOfMessage()) or b"")
            except h11.LocalProtocolError:
                pass  # h11 will not send it in this state: closing says enough
        self.transport.close()

    def _closing(self, detail: str) -> None:
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.info("closing the connection of %s: %s", client, detail)
        for hook in self.on_timeout:
            hook(TIMEOUT_KIND)


def _raw_408(body: bytes) -> bytes:
    """A 408 written without h11, which cannot answer a request whose head it has not seen."""
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def deadline_protocol(
    header_timeout_s: float, body_timeout_s: float, on_timeout: Callable[[str], None] | None = None
) -> type[DeadlineH11Protocol]:
    """The protocol class to give uvicorn (`http=`), with these deadlines; `on_timeout(kind)` is called for
    every connection closed by one (the gateway counts them in investiq_errors_total)."""
    attributes = {
        "header_timeout_s": header_timeout_s,
        "body_timeout_s": body_timeout_s,
        "on_timeout": () if on_timeout is None else (on_timeout,),
    }
    return type("ConfiguredDeadlineH11Protocol", (DeadlineH11Protocol,), attributes)
