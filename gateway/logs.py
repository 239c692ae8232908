"""Structured logs: one JSON object per line, each carrying the id, model and version of its request.

`RequestContextMiddleware` (gateway/middleware.py) starts a `RequestContext` for every request;
routes `annotate` it with the model that answered; the formatters read it, so any line logged
while a request is served (a backend warning, uvicorn's traceback of a crash) can be joined
to that request's access line by its `request_id`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Any, Literal

REQUEST_ID_HEADER = "X-Request-ID"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
HANDLER_NAME = "investiq"  # marks the handler `configure_logging` installed, so that a second call replaces it

# Attributes every LogRecord has; whatever else a record carries came from `extra=` and is logged as a field.
# uvicorn adds `color_message` (the message with ANSI colours): the plain one is enough.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}


@dataclass
class RequestContext:
    """What the log lines of one request share.

    Mutable on purpose: a route annotates the object the middleware created, and a copied context
    (a worker thread running a sync dependency) still points at that same object.
    """

    request_id: str
    model: str | None = None
    model_version: str | None = None


_request: ContextVar[RequestContext | None] = ContextVar("investiq_request", default=None)


def start_request(request_id: str) -> RequestContext:
    """Begin the context of a new request in the current task; replaces whatever an earlier one left."""
    context = RequestContext(request_id)
    _request.set(context)
    return context


def current_request() -> RequestContext | None:
    return _request.get()


def annotate(*, model: str | None = None, model_version: str | None = None) -> None:
    """Name the model (and its version) answering the current request; does nothing outside a request."""
    context = _request.get()
    if context is None:
        return
    if model is not None:
        context.model = model
    if model_version is not None:
        context.model_version = model_version


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The request context's fields, then the record's `extra=` fields (which win); None values dropped.

    The context is read when the record is formatted, which a StreamHandler does in the task that logged.
    """
    fields: dict[str, Any] = {}
    context = _request.get()
    if context is not None:
        fields.update(request_id=context.request_id, model=context.model, model_version=context.model_version)
    fields.update((key, value) for key, value in vars(record).items() if key not in _STANDARD)
    return {key: value for key, value in fields.items() if value is not None}


def _utc_time(record: logging.LogRecord) -> str:
    stamp = datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601 UTC), level, logger, message, request fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc_time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **record_fields(record),
        }
        if record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: an `extra=` value that JSON cannot hold (a Path, a datetime) must not lose the line.
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """For people at a terminal: `time LEVEL logger: message key=value ...`, the same fields as the JSON."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_utc_time(record)} {record.levelname} {record.name}: {record.getMessage()}"
        fields = " ".join(f"{key}={_one_line(value)}" for key, value in record_fields(record).items())
        if fields:
            line += " " + fields
        if record.exc_info:
            line += "\n" + (record.exc_text or self.formatException(record.exc_info))
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _one_line(value: object) -> str:
    """A field's value with its control characters escaped: the path is the client's, percent-decoded, and
    `/x%0a2026-... INFO gateway.access: request ... status=200` wrote a forged line into the text log (a review;
    JSON escapes them)."""
    return _CONTROL.sub(lambda m: ascii(m.group())[1:-1], str(value))


def configure_logging(
    level: str, fmt: Literal["auto", "json", "text"], stream: IO[str] | None = None
) -> logging.Handler:
    """One root handler (stderr unless `stream`) in `fmt`; uvicorn's loggers and Python warnings go through it.
    "auto" is text on a terminal and JSON elsewhere: `investiq up` printed its steps as text, then the gateway's
    lines as JSON objects, in one terminal (a new user's walkthrough).

    Other handlers on the root logger (a test's capture) are left alone. Returns the handler installed.
    """
    target = stream if stream is not None else sys.stderr
    if fmt == "auto":
        fmt = "text" if _terminal(target) else "json"
    handler = logging.StreamHandler(target)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in UVICORN_LOGGERS:
        # Handlers a log config gave them would print a second, non-JSON copy of each line.
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.captureWarnings(True)  # a library's warnings.warn would otherwise print raw text to stderr
    return handler


def _terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
