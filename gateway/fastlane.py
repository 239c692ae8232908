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
FastAPI's routing with the body replayed: every error stays FastAPI's own answer. A well-formed request the lane
declines (a wrong key) is parsed twice; the agent's requests are not. Exceptions of the endpoint reach the app's
exception handlers as they do from FastAPI's routes (the router is inside Starlette's ExceptionMiddleware). The
matched route is the endpoint's `APIRoute`, so metrics and access lines name it as before. The middleware (request
id, metrics, rate limit, body limit) is outside the router and sees every request. Measured in
benchmarks/results/gateway_profile.md ("The fast lane").

Endpoints eligible: `async def f(body: <a pydantic model>, <name>: Annotated[T, Depends(g)], ...) -> Response`,
with each `g` an `async def g(request: Request)`, on a router included in the app without a prefix. `install`
refuses any other shape, and any route that FastAPI would give a check besides the app-wide API key (a router's or
a route's own dependencies, a body size limit of its own), so that the lane skips only the work, never a check.
While `app.dependency_overrides` holds anything (tests), the lane declines every request.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any, get_args, get_origin, get_type_hints

import pydantic_core
from fastapi import FastAPI, Request, Response
from fastapi.params import Depends
from fastapi.routing import APIRoute, APIRouter
from pydantic import BaseModel
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Message, Receive, Scope, Send

from gateway.query import checked_query, query_names
from gateway.security import key_accepted, require_api_key

Dependency = Callable[[Request], Awaitable[Any]]
_DECLINED = "investiq.fast_lane_declined"  # set on a scope the lane handed to FastAPI's routing


def install(app: FastAPI, endpoint: Callable[..., Awaitable[Any]]) -> None:
    """Serve `endpoint`'s valid requests through the fast lane (first in the app's routes)."""
    found = [(context, router, route) for context, router, route in _included(app) if route.endpoint is endpoint]
    if len(found) != 1 or found[0][2].methods != {"POST"}:
        raise TypeError(
            f"{endpoint.__name__} is not the endpoint of one POST route of a router the app includes (read as "
            "FastAPI 0.165 keeps included routers: a newer FastAPI may need gateway/fastlane.py updated)"
        )
    context, router, route = found[0]
    checks = [dependency.dependency for dependency in context.dependencies]
    if checks == [require_api_key, checked_query] and not query_names(route):
        checks = checks[:1]  # a route that reads no query parameter has none to misspell
    own = [*router.dependencies, *route.dependencies]
    if context.prefix or checks != [require_api_key] or own or context.max_body_size or route.max_body_size:
        raise TypeError(
            f"the fast lane checks the API key only, on a router included without a prefix; {route.path} has "
            f"prefix {context.prefix!r}, dependencies {checks + own}, body limits "
            f"{context.max_body_size}/{route.max_body_size}"
        )
    app.router.routes.insert(0, FastLane(app.router, route, *_signature(endpoint)))


def _included(app: FastAPI) -> Iterator[tuple[Any, APIRouter, APIRoute]]:
    """(include context, router, route) for each route of each router the app includes. FastAPI (0.165) keeps an
    included router with its include context (prefix, dependencies, limits): every check it makes on the route."""
    for included in app.router.routes:
        context, router = getattr(included, "include_context", None), getattr(included, "original_router", None)
        if context is not None and isinstance(router, APIRouter):
            yield from ((context, router, route) for route in router.routes if isinstance(route, APIRoute))


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
    """Takes `POST route.path` when `matches` finds the key and the content type right; `handle` answers it through
    the endpoint, or hands it to `router` (the app's own) when the body does not validate."""

    def __init__(
        self,
        router: APIRouter,
        route: APIRoute,
        body_name: str,
        model: type[BaseModel],
        resolvers: dict[str, Dependency],
    ) -> None:
        self.router = router
        self.route = route
        self.path = self.path_format = route.path
        self.body_name = body_name
        self.model = model
        self.resolvers = resolvers  # {parameter: the dependency that gives its argument from the request}
        self.endpoint = route.endpoint

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # Mounted under a root path, FastAPI's routing strips it from the path: the lane leaves that to FastAPI.
        taken = (
            scope["type"] == "http"
            and scope["path"] == self.path
            and scope["method"] == "POST"
            and not scope.get("root_path")
            and _DECLINED not in scope
            and not scope["app"].dependency_overrides
            and _is_json(scope)
            and key_accepted(scope["app"].state.api_key, scope)
        )
        if not taken:
            return Match.NONE, {}
        return Match.FULL, {"route": self.route, "endpoint": self.endpoint, "path_params": {}}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)  # the APIRoute behind it answers for the name

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        received, body = await _read_body(receive)
        replayed = _replay(received, receive)
        try:
            valid = None if body is None else self.model.model_validate(pydantic_core.from_json(body))
        except ValueError:  # not JSON to pydantic-core, or invalid (ValidationError): FastAPI's route answers
            valid = None
        if valid is None:
            scope[_DECLINED] = True
            await self.router.app(scope, replayed, send)
            return
        request = Request(scope, replayed)
        arguments: dict[str, Any] = {self.body_name: valid}
        for name, resolve in self.resolvers.items():
            arguments[name] = await resolve(request)
        response: Response = await self.endpoint(**arguments)
        await response(scope, receive, send)


def _is_json(scope: Scope) -> bool:
    """The first Content-Type (as Starlette's `Headers.get` reads it) is application/json, any parameters."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bool(value.split(b";")[0].strip().lower() == b"application/json")
    return False


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
    pending = iter(received)

    async def replayed() -> Message:
        message = next(pending, None)
        return message if message is not None else await receive()

    return replayed
