"""JSON bodies parsed by pydantic-core (gateway/json_body.py): the same values as the standard
library for every body it accepts, the standard library's answer or error for every body it refuses.
The routes' error messages for bad JSON are held by tests/gateway/test_bad_input.py (real app)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import pytest

from gateway.json_body import JsonRequest

SAME = [
    b'{"texts": ["Apple beats estimates"], "use_cache": false}',
    b'{"a": NaN, "b": Infinity, "c": -Infinity, "d": 1e400, "e": 1e-400, "f": -0.0, "g": -0}',
    b'{"a": 123456789012345678901234567890, "b": 1E2, "c": 4.9e-324, "d": null, "e": true}',
    b'{"a": 1, "a": 2}',  # the last one wins in both
    b'{"a": "\\u00e9\\n\\"", "b": "caf\xc3\xa9"}',
    b'  {"nested": [[1, [2, {"x": []}]], {}]}  ',
    b'\xef\xbb\xbf{"a": 1}',  # a byte-order mark: only the standard library takes it
    b'{"a": "\\ud800"}',  # a lone surrogate escape: likewise
    '{"a": "UTF-16"}'.encode("utf-16"),  # likewise: json.loads detects the encoding of bytes
]
REFUSED = [b'{"strategy_name": "s",', b"[1, 2,]", b'{"a": 01}', b'{"a": 1}x', b"", b"nul"]


def request(body: bytes) -> JsonRequest:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return JsonRequest({"type": "http", "method": "POST", "path": "/", "headers": []}, receive)


def parse(body: bytes) -> Any:
    return asyncio.run(request(body).json())


@pytest.mark.parametrize("body", SAME)
def test_a_body_gets_the_values_the_standard_library_gives_it(body: bytes):
    assert repr(parse(body)) == repr(json.loads(body))  # repr: NaN is equal to itself there


@pytest.mark.parametrize("body", REFUSED)
def test_a_refused_body_raises_the_standard_librarys_error(body: bytes):
    with pytest.raises(json.JSONDecodeError) as ours:
        parse(body)
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(body)
    assert (ours.value.msg, ours.value.pos) == (theirs.value.msg, theirs.value.pos)


def test_floats_survive_exactly_and_the_fast_parser_reads_them(monkeypatch: pytest.MonkeyPatch):
    rng = np.random.default_rng(0)
    values = (rng.normal(0, 1, 20_000) * 10.0 ** rng.integers(-300, 300, 20_000)).tolist()
    body = json.dumps({"requests": [{"symbol": "S", "prices": values}]}).encode()
    expected = json.loads(body)

    def refuse(_: bytes) -> Any:
        raise AssertionError("the standard library parsed a body the fast parser takes")

    monkeypatch.setattr(json, "loads", refuse)  # the module json_body calls on a refusal
    assert parse(body) == expected
