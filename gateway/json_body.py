"""Request bodies parsed by pydantic-core's JSON parser instead of the standard library's.

FastAPI parses a JSON body with `Request.json()` (Starlette: `json.loads`) before validating it. On the
largest body the agent sends, 500 price windows of 512 closes (~5 MB), that parse is most of what the
gateway adds to the model's time: 48 ms with `json.loads`, 10 ms with `pydantic_core.from_json` on this
machine (benchmarks/results/gateway_profile.md). Routers that take JSON bodies use `JsonRoute`, the
custom-request pattern of FastAPI's documentation.

What is accepted and what is refused stay exactly as before: a body the fast parser refuses (invalid
JSON, but also what the standard library alone accepts: a byte-order mark, UTF-16, a lone surrogate
escape) is parsed again by `json.loads`, whose result or error (FastAPI's 422 `json_invalid` with the
position) is the answer. Both give the same values for the same text, NaN and Infinity included
(tests/gateway/test_json_body.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

import pydantic_core
from fastapi import Request, Response
from fastapi.routing import APIRoute

from gateway.security import guard


class JsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = pydantic_core.from_json(body)
            except ValueError:
                self._json = json.loads(body)  # the standard library's answer, or its error
        return self._json


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


_SPACE = re.compile(r"[ \t\n\r]*")
_VALUE = json.JSONDecoder()


def _duplicate_at(text: str) -> int:
    """Where the first key an object names twice begins in `text` (valid JSON), 0 where that cannot be told.
    Found by walking the text, not by searching it: the second place the quoted key appeared was another
    object's key or a value ("profit_loss" as a strategy's name), and a key written with escapes was not found."""
    try:
        return _walk(text, 0)[1] or 0
    except (ValueError, IndexError, RecursionError):
        return 0


def _skip(text: str, i: int) -> int:
    """The first index at or after `i` that is not JSON's white space."""
    space = _SPACE.match(text, i)
    return space.end() if space else i


def _walk(text: str, i: int) -> tuple[int, int | None]:
    """The end of the value at `i`, and where the first duplicate key inside it begins (None: there is none)."""
    i = _skip(text, i)
    if text[i] not in "{[":
        return _VALUE.raw_decode(text, i)[1], None
    close, seen = ("}" if text[i] == "{" else "]"), set()
    i = _skip(text, i + 1)
    while text[i] != close:
        if close == "}":
            key, end = _VALUE.raw_decode(text, i)
            if key in seen:
                return end, i
            seen.add(key)
            i = _skip(text, end) + 1  # past the colon
        i, duplicate = _walk(text, i)
        if duplicate is not None:
            return i, duplicate
        i = _skip(text, i)
        if text[i] == ",":
            i = _skip(text, i + 1)
    return i + 1, None


class UniqueKeysJsonRequest(JsonRequest):
    """A body whose objects name a key twice is refused (422, json_invalid, naming the key): JSON parsers keep the
    last, so {"profit_loss": 5, "profit_loss": -5} was learnt as a loss of 5, the client's first value dropped
    without a word (a review). For the trades routes: their bodies are small, and parsed twice."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            value = await super().json()  # invalid JSON: its own error, as before
            body = await self.body()
            try:
                json.loads(body, object_pairs_hook=_unique)
            except _Duplicate as exc:
                del self._json
                text = body.decode("utf-8", "replace")
                message = f"duplicate key {exc.key!r}: send each field once"
                raise json.JSONDecodeError(message, text, _duplicate_at(text)) from None
            self._json = value
        return self._json


class JsonRoute(APIRoute):
    request_class: type[JsonRequest] = JsonRequest

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            if self.body_field is not None:
                guard(request, self.path)  # the key before the body: see security.guard
            return await handler(self.request_class(request.scope, request.receive))

        return route


class UniqueKeysJsonRoute(JsonRoute):
    request_class = UniqueKeysJsonRequest
