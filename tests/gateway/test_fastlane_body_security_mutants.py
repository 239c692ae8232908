"""Kill tests of a mutation audit of the gateway's fast lane (gateway/fastlane.py), JSON bodies
(gateway/json_body.py), query checks (gateway/query.py) and API key and health paths (gateway/security.py): each
fails with the mutant its docstring names applied, and passes on the code as it is. They drive the modules
directly: `install` on a small FastAPI app, the lane's `matches` on ASGI scopes the test writes, `_read_body` on a
`receive` the test holds, the request classes and dependencies on hand-built requests; no server, no clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from starlette.routing import Match
from starlette.types import Message

from gateway import fastlane
from gateway.fastlane import FastLane
from gateway.json_body import UniqueKeysJsonRequest
from gateway.query import checked_query, query_names
from gateway.security import check_api_key, guard, is_health_path, key_accepted, provided_key, require_api_key
from investiq.core.errors import InvalidInputError
from tests.gateway.test_fastlane import Body, _state, fine

KEY = "the-key"


def app_with(
    endpoint: Any, *, method: str = "post", max_body_size: int | None = None, in_include: bool = False
) -> FastAPI:
    """An app that checks the key app-wide and includes one router with `endpoint` on `method /x`, with a body
    limit on the route, or on the router's include when `in_include`."""
    app = FastAPI(dependencies=[Depends(require_api_key)])
    router = APIRouter()
    getattr(router, method)("/x", max_body_size=None if in_include else max_body_size)(endpoint)
    app.include_router(router, max_body_size=max_body_size if in_include else None)
    app.state.api_key, app.state.api_key_env = None, "ML_API_KEY"
    return app


def lane_of(app: FastAPI) -> FastLane:
    fastlane.install(app, fine)
    lane = app.router.routes[0]
    assert isinstance(lane, FastLane)
    return lane


def scope_for(app: FastAPI, **changes: Any) -> dict[str, Any]:
    """A valid JSON POST /x to `app`, with `changes` applied."""
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/x",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "app": app,
    }
    return {**scope, **changes}


def receiving(*messages: Message) -> Callable[[], Any]:
    """A `receive` giving `messages`, then http.disconnect for ever."""
    pending = list(messages)

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    return receive


# --- fastlane.install: the lane takes only routes it serves exactly as FastAPI would ---


def test_install_refuses_a_put_route():
    """Mutant: the `methods != {"POST"}` check dropped from install: a lane on a PUT route (its matches takes POST
    only) would answer a POST that FastAPI answers 405, running the endpoint for a method it does not take."""
    with pytest.raises(TypeError, match="one POST route"):
        fastlane.install(app_with(fine, method="put"), fine)


@pytest.mark.parametrize("where", ["route", "include"])
def test_install_refuses_a_route_with_a_body_limit_of_its_own(where: str):
    """Mutant: `context.max_body_size or route.max_body_size` dropped from install's refusal: the lane reads the
    whole body itself, so a route limited to 10 bytes would take a body of any size (no 413)."""
    app = app_with(fine, max_body_size=10, in_include=where == "include")
    with pytest.raises(TypeError, match="body limits"):
        fastlane.install(app, fine)


async def _two(request: Request, extra: int = 0) -> Any:
    return extra


def _sync(request: Request) -> Any:
    return None


async def _not_a_request(state: int) -> Any:
    return state


async def with_two(body: Body, x: Annotated[Any, Depends(_two)]) -> Response:
    return Response()


async def with_sync(body: Body, x: Annotated[Any, Depends(_sync)]) -> Response:
    return Response()


async def with_not_a_request(body: Body, x: Annotated[Any, Depends(_not_a_request)]) -> Response:
    return Response()


async def with_two_marks(body: Body, x: Annotated[Any, Depends(_state), Depends(_two)]) -> Response:
    return Response()


async def with_two_bodies(body: Body, other: Body) -> Response:
    return Response()


@pytest.mark.parametrize(
    "endpoint",
    [with_two, with_sync, with_not_a_request, with_two_marks, with_two_bodies],
    ids=lambda e: e.__name__,
)
def test_install_refuses_a_dependency_the_lane_could_not_call_with_the_request_alone(endpoint: Any):
    """Mutants in _signature/_takes_the_request_alone: `len(parameters) != 1` as `< 1` (with_two), the coroutine
    check dropped (with_sync: the lane would await None, a 500), the `is Request` type check loosened
    (with_not_a_request: the dependency would get a Request for an int), `len(depends) == 1` as `>= 1`
    (with_two_marks: the second Depends silently ignored), `and body is None` dropped (with_two_bodies: the
    second model taken for the whole body, the first never filled). Each is a request FastAPI answers one way and
    the lane another, or a 500."""
    with pytest.raises(TypeError, match="neither its body nor a dependency"):
        fastlane.install(app_with(endpoint), endpoint)


# --- FastLane.matches and its helpers ---


def test_the_lane_takes_only_a_post_at_its_own_root():
    """Mutants: the method check or the root_path check dropped from matches: a PUT with a valid body would be
    answered by the endpoint instead of FastAPI's 405, and under a root path (mounted) the lane would take a path
    FastAPI strips first."""
    app = app_with(fine)
    lane = lane_of(app)
    assert lane.matches(scope_for(app))[0] is Match.FULL
    assert lane.matches(scope_for(app, method="PUT"))[0] is Match.NONE
    assert lane.matches(scope_for(app, root_path="/v1"))[0] is Match.NONE
    assert lane.matches(scope_for(app, path="/y"))[0] is Match.NONE


def test_a_content_type_with_spaces_before_its_parameters_is_json():
    """Mutant: `.strip()` dropped from _is_json: `application/json ; charset=utf-8`, which FastAPI reads as JSON,
    would miss the lane (every such client pays FastAPI's routing)."""
    app = app_with(fine)
    lane = lane_of(app)
    spaced = scope_for(app, headers=[(b"content-type", b"application/json ; charset=utf-8")])
    assert lane.matches(spaced)[0] is Match.FULL


def test_a_body_message_without_more_body_is_the_whole_body():
    """Mutant: `message.get("more_body", False)` defaulting to True: ASGI says a missing more_body means the last
    chunk; the lane would wait for more, read the disconnect and decline a valid request."""
    received, body = asyncio.run(fastlane._read_body(receiving({"type": "http.request", "body": b'{"n": 1}'})))
    assert body == b'{"n": 1}' and len(received) == 1


def test_the_lane_answers_a_valid_body_through_the_endpoint_with_its_dependencies():
    """Mutants: the body joined from the last chunk only, the declined request not replayed, or the declined
    mark dropped (the router sends the request back to the lane for ever): drives handle with a body in two
    chunks and records what reaches the endpoint and the client."""
    app = app_with(fine)
    lane = lane_of(app)
    seen: list[Any] = []

    async def endpoint(body: Body, state: Any) -> Response:
        seen.append((body, state))
        return Response(b"ok", status_code=201)

    lane.endpoint = endpoint
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    chunks = receiving(
        {"type": "http.request", "body": b'{"n"', "more_body": True}, {"type": "http.request", "body": b": 7}"}
    )
    asyncio.run(lane.handle(scope_for(app), chunks, send))
    assert seen == [(Body(n=7), app.state)]
    assert sent[0]["status"] == 201 and sent[1]["body"] == b"ok"


# --- json_body: a duplicate key ---


def unique_keys_request(body: bytes) -> UniqueKeysJsonRequest:
    return UniqueKeysJsonRequest(
        {"type": "http", "method": "POST", "path": "/", "headers": []},
        receiving({"type": "http.request", "body": body, "more_body": False}),
    )


@pytest.mark.parametrize(
    ("body", "duplicate"),
    [
        (b'{"\\u0061": 1, "a": 2}', b'"a": 2'),  # the first written escaped: -1, then 0 (no real place)
        (b'{"strategy_name": "profit_loss", "profit_loss": 5, "profit_loss": -5}', b'"profit_loss": -5'),
        (b'{"a": {"x": 1}, "b": {"x": 1, "x": 2}}', b'"x": 2'),
        (b'[{"x": [1, {"y": "}"}]}, {"x": 1,\n "x" : 2}]', b'"x" : 2'),
    ],
)
def test_a_duplicate_key_is_refused_at_its_own_position(body: bytes, duplicate: bytes):
    """Mutant: `max(at, 0)` as `at` ("at character -1" where the first of the two keys was written escaped);
    and a bug the audit found (each of the last three failed before): the 422 gave the second place the quoted
    key appeared in the text, which was a value (a strategy named "profit_loss") or another object's key."""
    request = unique_keys_request(body)
    with pytest.raises(json.JSONDecodeError) as refused:
        asyncio.run(request.json())
    assert body[refused.value.pos :].startswith(duplicate) and "duplicate key" in refused.value.msg


def test_a_refused_body_stays_refused_when_read_again():
    """Mutant: `del self._json` dropped: after the refusal, a second read (a handler or dependency reading the
    body again) got the last-wins value, the client's first value dropped without a word."""
    request = unique_keys_request(b'{"profit_loss": 5, "profit_loss": -5}')
    for _ in range(2):
        with pytest.raises(json.JSONDecodeError, match="duplicate key 'profit_loss'"):
            asyncio.run(request.json())


# --- query: misspelt or repeated query parameters ---


def _paging(limit: int = 10) -> int:
    return limit


def query_app() -> FastAPI:
    app = FastAPI()

    @app.get("/r")
    def read(days: int = 1, page: Annotated[int, Depends(_paging)] = 0) -> int:
        return days

    return app


def check_query(query: bytes) -> None:
    app = query_app()
    route = app.router.routes[-1]
    scope = {"type": "http", "method": "GET", "path": "/r", "headers": [], "query_string": query, "route": route}
    asyncio.run(checked_query(Request(scope)))


def test_a_query_parameter_of_a_dependency_counts_as_one_the_route_reads():
    """Mutant: query_names not following the route's dependencies: a misspelt `limt`, read by a dependency,
    would answer the default page size, 200, unsaid; and a route with such a parameter would take the fast lane
    with no query check."""
    assert query_names(query_app().router.routes[-1]) == {"days", "limit"}
    with pytest.raises(InvalidInputError, match="unknown query parameter 'limt': did you mean 'limit'"):
        check_query(b"limt=5")


def test_a_repeated_parameter_is_refused_showing_four_values_cut_to_forty_characters():
    """Mutants: the values shown not cut to 4, or each not cut to 40 characters (a client echoed its own
    megabyte query in the 422), or the count given as the number of distinct values."""
    long = "9" * 100
    with pytest.raises(InvalidInputError) as refused:
        check_query(b"&".join(b"days=" + v.encode() for v in ["1", "1", long, "4", "5", "6"]))
    shown = ["1", "1", "9" * 40, "4"]
    assert str(refused.value) == f"query parameter 'days' given 6 times ({shown}): give one value"


def test_the_same_value_twice_or_an_unread_name_twice_is_taken():
    """Mutants: `set(given)` dropped (a client merging its default with the caller's value, `days=7&days=7`, was
    refused), or the `key in names` test dropped (`?utm=a&utm=b`, a name the route ignores, refused)."""
    check_query(b"days=7&days=7")
    check_query(b"utm=a&utm=b&days=3")


# --- security: health paths and the key ---


@pytest.mark.parametrize(
    ("path", "health"),
    [
        ("/health", True),
        ("/sentiment/health", True),
        ("/health/live", True),
        ("/health/ready", True),
        ("/health/deep", False),
        ("/healthz", False),
        ("/health/", False),
        ("/price/evaluate/health", False),
        ("/xhealth", False),
    ],
)
def test_only_health_checks_are_health_paths(path: str, health: bool):
    """Mutants: the probe names widened beyond live/ready, `fullmatch` as `match` (/healthz, /health/deep pass),
    or the service prefix allowed to span slashes: each lets such a route skip the key and the rate limit."""
    assert is_health_path(path) is health


def scoped(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "http", "headers": list(headers)}


def test_the_key_must_be_sent_whole_and_first():
    """Mutants: the comparison as a prefix test (`the-key-and-more` or a longer guess passes), or the last
    X-API-Key header read instead of the first (FastAPI's Headers.get reads the first)."""
    assert key_accepted(KEY, scoped((b"x-api-key", KEY.encode())))
    assert not key_accepted(KEY, scoped((b"x-api-key", KEY.encode() + b"-and-more")))
    assert not key_accepted(KEY, scoped((b"x-api-key", b"wrong"), (b"x-api-key", KEY.encode())))
    assert provided_key(scoped((b"x-api-key", b"first"), (b"x-api-key", b"second"))) == b"first"
    assert key_accepted(None, scoped())


def test_a_401_asks_for_the_key_scheme_and_says_what_was_wrong():
    """Mutants: the WWW-Authenticate header dropped (HTTP requires it on a 401), the status changed, or missing
    and wrong swapped."""
    for headers, reason in (((), "missing"), (((b"x-api-key", b"nope"),), "wrong")):
        with pytest.raises(HTTPException) as refused:
            check_api_key(KEY, scoped(*headers), "ML_API_KEY")
        assert refused.value.status_code == 401
        assert refused.value.headers == {"WWW-Authenticate": "APIKey"}
        assert str(refused.value.detail).startswith(f"{reason} API key: send header X-API-Key")
        assert "ML_API_KEY" in str(refused.value.detail) and KEY not in str(refused.value.detail)


def test_a_request_matched_to_no_route_still_needs_the_key():
    """Mutant: `template is None or` turned to `template is not None and`: a request with no matched route
    template (guard called without one) passed without the key."""
    app = FastAPI()
    app.state.api_key, app.state.api_key_env = KEY, "ML_API_KEY"
    request = Request({"type": "http", "method": "POST", "path": "/x", "headers": [], "app": app})
    with pytest.raises(HTTPException, match="missing API key"):
        guard(request, None)
    health = Request({"type": "http", "method": "GET", "path": "/health", "headers": [], "app": app})
    guard(health, "/health")  # a health check's template takes no key


def test_a_path_parameter_reading_health_does_not_skip_the_key():
    """Mutant: require_api_key judging the raw path instead of the matched route's template: GET /price/health
    (symbol "health" on /price/{symbol}) reads as a service's health check and was answered without the key."""
    app = FastAPI()
    app.state.api_key, app.state.api_key_env = KEY, "ML_API_KEY"

    @app.get("/price/{symbol}")
    def price(symbol: str) -> str:
        return symbol

    route = app.router.routes[-1]
    scope = {"type": "http", "method": "GET", "path": "/price/health", "headers": [], "app": app, "route": route}
    with pytest.raises(HTTPException, match="missing API key"):
        asyncio.run(require_api_key(Request(scope)))
