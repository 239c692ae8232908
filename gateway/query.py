"""Query parameters: one that looks like a misspelling of a parameter the route reads, or one the route reads
given twice, is refused."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from gateway.schemas.common import misspelling_of
from investiq.core.errors import InvalidInputError


async def checked_query(request: Request) -> None:
    """App-wide dependency: a query parameter that looks like a misspelling of one the route reads is a 422
    naming both, as a body's field is (gateway/schemas/common.py): `?methods=pnl` answered the default method,
    200, unsaid (a new user's walkthrough). Other names are ignored, as a body's are. One the route reads given
    twice with two values is a 422, as a body's key given twice is: the last won, so `?days=7&days=3650` synced
    ten years and `?method=bogus&method=mean` hid the bogus one (a review). The same value twice is taken (a
    client merging its default with a caller's value sends it so; another review)."""
    route = request.scope.get("route")
    if not request.query_params or route is None or not hasattr(route, "dependant"):
        return
    names = query_names(route)
    for key in request.query_params:
        if key not in names and (meant := misspelling_of(key, names)) is not None:
            raise InvalidInputError(f"unknown query parameter {key[:40]!r}: did you mean {meant!r}?")
        if key in names and len(set(given := request.query_params.getlist(key))) > 1:  # the same twice: one
            shown = [value[:40] for value in given[:4]]
            raise InvalidInputError(f"query parameter {key!r} given {len(given)} times ({shown}): give one value")


def query_names(route: Any) -> frozenset[str]:
    """The query parameters a route reads, its dependencies' included (looked up each time: only a request that
    has a query asks, and routes are not hashable)."""
    names: set[str] = set()
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        names |= {p.alias for p in dependant.query_params}
        pending += dependant.dependencies
    return frozenset(names)
