"""Per-client rate limit: a token bucket per API key (per client address without a valid key), 429 when empty.

Each request takes one token; a bucket holds at most `burst` tokens and refills at `per_minute / 60`
tokens a second. Health checks and /metrics with the key (or none set) never take one: throttling them would
blind the operator exactly while a client floods the gateway. /metrics with a wrong key takes one: it answered
401 to 1,155 guesses a second, unthrottled (a review).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import error_body
from gateway.metrics import Metrics
from gateway.middleware import name_route, route_templates
from gateway.security import is_health_path, key_accepted, key_matches, provided_key

MAX_BUCKETS = 10_000  # distinct clients tracked at once; beyond that the least recently seen is forgotten


@dataclass
class _Bucket:
    tokens: float
    at: float  # clock reading when `tokens` was last brought up to date (s)


class RateLimiter:
    """Token buckets by client identity. `clock` is monotonic seconds, injectable so tests need no sleeps.

    Memory is bounded: buckets are kept in least-recently-used order, a bucket idle long enough to be
    full again is dropped (a fresh one is the same), and at most `max_buckets` are kept.
    """

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        self.per_second = per_minute / 60.0
        self.per_minute = per_minute
        self.burst = burst
        self.clock = clock
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, identity: str) -> float:
        """Take a token for `identity`: 0.0 if allowed, else the seconds until one is available (> 0)."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        bucket = self._buckets.pop(identity, None)
        if bucket is None:
            bucket = _Bucket(float(self.burst), now)
        else:  # max(0, ...): a clock that steps back must not drain the bucket
            elapsed = max(0.0, now - bucket.at)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.per_second)
            bucket.at = now
        self._buckets[identity] = bucket  # most recently used last
        self._evict(now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.per_second

    def _evict(self, now: float) -> None:
        refill_s = self.burst / self.per_second
        while self._buckets:
            identity, oldest = next(iter(self._buckets.items()))
            if len(self._buckets) <= self.max_buckets and now - oldest.at < refill_s:
                return
            del self._buckets[identity]


def client_identity(scope: Scope, api_key: str | None) -> str:
    """Who a request is charged to: the key's fingerprint when it sent the right key, else its address.

    Only the valid key gets a bucket of its own: a client cycling random wrong keys must not get a
    fresh burst each time. The key itself is never stored: a truncated SHA-256 names its bucket.
    """
    provided = provided_key(scope)
    if api_key is not None and provided is not None and key_matches(api_key, provided):
        return "key:" + hashlib.sha256(provided).hexdigest()[:16]
    client = scope.get("client")
    return f"addr:{client[0] if client else 'unknown'}"


class RateLimitMiddleware:
    """Answers 429 (`rate_limited`, with Retry-After in whole seconds) when the client's bucket is empty."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, metrics: Metrics) -> None:
        self.app = app
        self.limiter = limiter
        self.metrics = metrics
        self.templates: list[tuple[re.Pattern[str], str]] | None = None  # the app's, at the first 429

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not self.limiter.enabled or is_health_path(path):
            await self.app(scope, receive, send)
            return
        # The app's own copy of the key (gateway/app.py), the one require_api_key checks against.
        key = scope["app"].state.api_key
        if path == "/metrics" and key_accepted(key, scope):  # a scrape that guesses keys pays as any request
            await self.app(scope, receive, send)
            return
        identity = client_identity(scope, key)
        wait_s = self.limiter.take(identity)
        if wait_s == 0.0:
            await self.app(scope, receive, send)
            return
        self.metrics.count_error("rate_limited")  # answered here, never seen by the exception handlers
        if self.templates is None:
            self.templates = route_templates(scope["app"])
        name_route(scope, self.templates)  # for the request's metrics and access line
        retry_after = max(1, math.ceil(wait_s))
        limiter = self.limiter
        body = error_body(
            "rate_limited",
            f"more than {limiter.per_minute:g} requests per minute (burst {limiter.burst}) from this client; "
            f"retry after {retry_after} s (settings rate_limit_per_minute, rate_limit_burst)",
        )
        payload = json.dumps(body).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"retry-after", str(retry_after).encode()),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
