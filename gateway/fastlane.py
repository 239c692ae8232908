"""The fast lane: a valid request to a hot route skips FastAPI's routing and dependency solver.

One headline's answer is what the agent waits on most, and FastAPI (0.165) spends more of the event loop's time
on matching the path through the included routers and solving the route's dependencies than the route itself
does. `install(app, endpoint)` puts a route in front of the app's router that takes `POST <the endpoint's
path>` when the request is one the endpoint will simply answer:
- the API key is accepted (or none is set), checked as gateway/security.py checks it;
- the Content-Type is `application/json`;
- the body parses and validates against the endpoint's body model.
It then resolves the endpoint's dependencies (each a function of the request alone: gateway/deps.py) and calls
the endpoint, whose `Response` is the answer, so the route's own code (scoring, journaling, logs) runs as
before. Everything else, a missing key, another content type, a body that does not parse or validate, goes to
FastAPI's routing with the body replayed: every error stays FastAPI's own answer, byte for byte. Exceptions of
the endpoint reach the app's exception handlers as they do from FastAPI's routes (the router is inside
Starlette's ExceptionMiddleware). The matched route is the endpoint's `APIRoute`, so metrics and access lines
name it as before. Measured in benchmarks/results/gateway_profile.md ("The fast lane").

Endpoints eligible: `async def f(body: <a pydantic model>, <name>: Annotated[T, Depends(g)], ...) -> Response`,
with each `g` an `async def g(request: Request)`. `install` refuses any other shape, and an app whose
app-wide dependencies are anything but the API key check, so that the lane can never skip a check FastAPI
would make.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, get_args, get_origin, get_type_hints

import pydantic_core
from fastapi import FastAPI, Request, Response
from fastapi.params import Depends
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Message, Receive, Scope, Send

from gateway.security import HEADER, key_matches, require_api_key

Dependency = Callable[[Request], Awaitable[Any]]
_KEY = HEADER.lower().encode()
_DECLINED = "investiq.fast_lane_declined"  # set on a scope the lane handed to FastAPI's routing


def install(app: FastAPI, endpoint: Callable[..., Awaitable[Any]]) -> None:
    """Serve `endpoint`'s valid requests through the fast lane (first in the app's routes)."""
    app_wide = [dependency.dependency for dependency in app.router.dependencies]
    if app_wide != [require_api_key]:
        raise TypeError(f"the fast lane checks the API key only; the app also depends on {app_wide}")
    routes = [route for route in _api_routes(app.router.routes) if route.endpoint is endpoint]
    if len(routes) != 1 or routes[0].methods != {"POST"}:
        raise TypeError(f"{endpoint.__name__} is not the endpoint of exactly one POST route of the app")
    app.router.routes.insert(0, FastLane(routes[0], *_signature(endpoint)))


def _api_routes(routes: list[BaseRoute]) -> list[APIRoute]:
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):  # FastAPI's included router: its routes, paths unprefixed here
            found.extend(_api_routes(route.original_router.routes))
    return found


def _signature(endpoint: Callable[..., Any]) -> tuple[str, type[BaseModel], dict[str, Dependency]]:
    """(the body parameter's name, its model, {parameter: dependency}); TypeError for any other shape."""
    hints = get_type_hints(endpoint, include_extras=True)
    if not (isinstance(hints.get("return"), type) and issubclass(hints["return"], Response)):
        raise TypeError(f"{endpoint.__name__} must return a Response to be served by the fast lane")
    body: tuple[str, type[BaseModel]] | None = None
    dependencies: dict[str, Dependency] = {}
    for name in inspect.signature(endpoint).parameters:
        hint = hints[name]
        if isinstance(hint, type) and issubclass(hint, BaseModel) and body is None:
            body = (name, hint)
            continue
        marks = get_args(hint)[1:] if get_origin(hint) is Annotated else ()
        depends = [mark for mark in marks if isinstance(mark, Depends)]
        function = depends[0].dependency if len(depends) == 1 else None
        if function is None or not _takes_the_request_alone(function):
            raise TypeError(
                f"{endpoint.__name__}'s parameter {name!r} is neither its body nor a dependency on the request"
            )
        dependencies[name] = function
    if body is None:
        raise TypeError(f"{endpoint.__name__} takes no body model")
    return body[0], body[1], dependencies


def _takes_the_request_alone(function: Callable[..., Any]) -> bool:
    parameters = list(inspect.signature(function).parameters)
    if not inspect.iscoroutinefunction(function) or len(parameters) != 1:
        return False
    return get_type_hints(function).get(parameters[0]) is Request


class FastLane(BaseRoute):
    def __init__(
        self, route: APIRoute, body_name: str, model: type[BaseModel], dependencies: dict[str, Dependency]
    ) -> None:
        self.route = route
        self.path = route.path
        self.body_name = body_name
        self.model = model
        self.dependencies = dependencies
        self.endpoint = route.endpoint

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        taken = (
            scope["type"] == "http"
            and scope["path"] == self.path
            and scope["method"] == "POST"
            and _DECLINED not in scope
            and _json_with_the_key(scope)
        )
        if not taken:
            return Match.NONE, {}
        return Match.FULL, {"route": self.route, "endpoint": self.endpoint, "path_params": {}}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)  # the APIRoute behind it answers for the name

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        received, body = await _read_body(receive)
        valid = None
        if body is not None:
            try:
                valid = self.model.model_validate(pydantic_core.from_json(body))
            except (ValueError, ValidationError):  # FastAPI's routing answers it, with the standard library's view
                valid = None
        if valid is None:
            scope[_DECLINED] = True
            await scope["router"].app(scope, _replay(received, receive), send)
            return
        request = Request(scope, receive)
        arguments: dict[str, Any] = {self.body_name: valid}
        for name, dependency in self.dependencies.items():
            arguments[name] = await dependency(request)
        response: Response = await self.endpoint(**arguments)
        await response(scope, receive, send)


def _json_with_the_key(scope: Scope) -> bool:
    expected: str | None = scope["app"].state.api_key
    provided = content_type = None
    for name, value in scope["headers"]:  # the first of each, as Starlette's `Headers.get` reads them
        if name == _KEY and provided is None:
            provided = value
        elif name == b"content-type" and content_type is None:
            content_type = value
    if content_type is None or content_type.split(b";")[0].strip().lower() != b"application/json":
        return False
    return expected is None or (provided is not None and key_matches(expected, provided))


async def _read_body(receive: Receive) -> tuple[list[Message], bytes | None]:
    """(the messages read, the whole body; None when the client left first)."""
    received: list[Message] = []
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return received, None
        if not message.get("more_body", False):
            return received, b"".join(m.get("body", b"") for m in received)


def _replay(received: list[Message], receive: Receive) -> Receive:
    """`receive` as it was before the lane read from it: the messages read first, then the client's own."""
    pending = list(received)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed
