"""The API docs pages say why they are blank when their scripts cannot load.

FastAPI's /docs (Swagger UI) and /redoc pages load their scripts from a CDN (cdn.jsdelivr.net): offline, or behind
a proxy that blocks it, the page stayed blank, without a word. Each page now ends with a check of the global its
script defines; where it is missing, the page says what happened and where the same description is."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

# The global each page's CDN script defines: missing, the script did not load
GLOBALS = {"docs": "SwaggerUIBundle", "redoc": "Redoc"}


def note(openapi_url: str) -> str:
    """What a page whose scripts did not load shows (HTML)."""
    return (
        '<p style="font-family: sans-serif; margin: 2em">These docs load their scripts from cdn.jsdelivr.net, '
        "which this browser could not reach (offline, or blocked by a proxy?). The same description of every "
        f'route is the OpenAPI document at <a href="{openapi_url}">{openapi_url}</a>; the README\'s API section '
        "lists the routes with examples.</p>"
    )


def check(global_name: str, openapi_url: str) -> str:
    """The script that shows `note` where `global_name` is not defined once the page's scripts have run."""
    shown = json.dumps(note(openapi_url))
    return (
        f"<script>if (typeof {global_name} === 'undefined') "
        f"document.body.insertAdjacentHTML('afterbegin', {shown});</script>"
    )


def saying_when_offline(
    page: Callable[[Request], Awaitable[Response]], global_name: str, openapi_url: str
) -> Callable[[Request], Awaitable[Response]]:
    """`page` (FastAPI's docs endpoint) with `check` before its closing body tag."""

    async def checked(request: Request) -> Response:
        response = await page(request)
        html = bytes(response.body).decode()
        return HTMLResponse(html.replace("</body>", check(global_name, openapi_url) + "\n</body>", 1))

    return checked
