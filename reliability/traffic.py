"""The load: concurrent clients sending the agent's three questions, each request carrying a key of
its own so that its journal row can be found (reliability/audit.py):

    sentiment   the text ends with the key          -> sentiment_predictions.text
    price       the symbol is the key               -> price_predictions.symbol
    bayesian    the trade_id is the key             -> bayesian_events.trade_id
"""

from __future__ import annotations

import http.client
import itertools
import json
import secrets
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from harness.results import PERCENTILES, percentiles

PATHS = {"sentiment": "/sentiment/predict", "price": "/price/predict", "bayesian": "/bayesian/update"}
STRATEGIES = ("momentum", "mean_reversion", "breakout", "news")
HEADLINES = (
    "Stocks rally as earnings beat estimates",
    "Profit warning sends shares lower",
    "The central bank holds rates steady",
    "Record revenue lifts the outlook",
)


def key_prefix(run: str) -> str:
    """The start of every key of the run `run` (a price request's symbol, a headline's last word, a trade id): in
    upper case, as the journal keeps a symbol."""
    return f"R{run}N".upper()


@dataclass(frozen=True)
class Outcome:
    endpoint: str
    key: str
    status: int | None  # None: no HTTP answer (connection refused or cut)
    started: float  # time.monotonic() when sent
    latency_ms: float
    detail: str  # the body (or the exception) of anything but a 200, shortened


class Traffic:
    """Request bodies with unique keys. One instance per run: keys never repeat within it, and the
    random run id keeps runs on the same journal apart."""

    def __init__(self, context_length: int, seed: int = 0) -> None:
        from export.patchtst import sample_windows

        self.run = secrets.token_hex(3)
        self._count = itertools.count()
        self._windows = [[float(x) for x in w[:, 0]] for w in sample_windows(16, context_length, seed=seed)]
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()  # clients are threads
        self.updates: dict[str, dict[str, Any]] = {}  # trade_id -> body of each Bayesian update, to retry

    def request(self, endpoint: str) -> tuple[str, dict[str, Any], str]:
        """(path, JSON body, key) of one new request."""
        with self._lock:
            return self._request(endpoint)

    def _request(self, endpoint: str) -> tuple[str, dict[str, Any], str]:
        n = next(self._count)
        key = f"{key_prefix(self.run)}{n}"
        if endpoint == "sentiment":
            body: dict[str, Any] = {"texts": [f"{HEADLINES[n % len(HEADLINES)]} {key}"], "symbol": "REL"}
        elif endpoint == "price":
            body = {"symbol": key, "prices": self._windows[n % len(self._windows)]}
        else:
            pnl = round(float(self._rng.normal(5.0, 50.0)), 2) or 0.01  # never 0: won follows its sign
            body = {"strategy_name": STRATEGIES[n % len(STRATEGIES)], "trade_id": key, "profit_loss": pnl}
            body["won"] = pnl > 0
            self.updates[key] = body
        return PATHS[endpoint], body, key


def drive(
    url: str,
    traffic: Traffic,
    mix: Sequence[str],
    clients: int,
    *,
    seconds: float | None = None,
    stop: Callable[[], bool] | None = None,
    timeout_s: float = 30.0,
) -> list[Outcome]:
    """`clients` concurrent clients, each sending the endpoints of `mix` in turn (shifted by client so
    that all kinds are in flight at once), one request at a time on its own keep-alive connection,
    until `seconds` pass or `stop()`, but not before each client has sent every endpoint once (a
    short run on a slow machine still measures each).

    Threads with http.client rather than an asyncio client: measured here, one shared httpx.AsyncClient
    served 64 clients at under a tenth of the rate the gateway sustains (the client was the bottleneck),
    while threads cost the client about 0.2 ms of CPU per request.
    """
    deadline = time.monotonic() + seconds if seconds is not None else float("inf")
    address = urlsplit(url)
    results: list[list[Outcome]] = [[] for _ in range(clients)]

    def client(i: int) -> None:
        conn: http.client.HTTPConnection | None = None
        for k in itertools.count(i):
            done = time.monotonic() >= deadline or (stop is not None and stop())
            if done and k - i >= len(mix):
                break
            endpoint = mix[k % len(mix)]
            path, body, key = traffic.request(endpoint)
            began = time.monotonic()
            try:
                conn = conn or http.client.HTTPConnection(address.hostname or "", address.port, timeout=timeout_s)
                conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
                response = conn.getresponse()
                text = response.read().decode(errors="replace")
            except (OSError, http.client.HTTPException) as exc:  # refused, reset, cut: no answer
                results[i].append(Outcome(endpoint, key, None, began, _ms(began), type(exc).__name__))
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)  # do not spin on a refused connection
                continue
            detail = "" if response.status == 200 else text[:300]
            results[i].append(Outcome(endpoint, key, response.status, began, _ms(began), detail))
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,), name=f"client-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [o for per_client in results for o in per_client]


def _ms(began: float) -> float:
    return (time.monotonic() - began) * 1000


def summarize(outcomes: Sequence[Outcome], seconds: float) -> dict[str, dict[str, Any]]:
    """Per endpoint: requests, statuses, answers per second, latency percentiles of the 200s."""
    by: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by[o.endpoint].append(o)
    out: dict[str, dict[str, Any]] = {}
    for endpoint, items in sorted(by.items()):
        statuses = Counter("none" if o.status is None else str(o.status) for o in items)
        ok = [o.latency_ms for o in items if o.status == 200]
        out[endpoint] = {
            "requests": len(items),
            "ok": len(ok),
            "status_5xx": sum(n for s, n in statuses.items() if s.startswith("5")),
            "no_answer": statuses.get("none", 0),
            "statuses": dict(statuses),
            "ok_per_s": round(len(ok) / seconds, 1) if seconds > 0 else None,
            **(percentiles(ok, digits=2) if ok else dict.fromkeys(PERCENTILES)),
        }
    return out
