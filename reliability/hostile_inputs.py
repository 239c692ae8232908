"""Promise 4 (b), the input shapes an independent probe got 500s with (issue 15): a lone surrogate in every
string field of every body, extreme close times, invisible characters in trade ids, a trade id repeated across
strategies, an integer id and its text; each answer's status (`python -m reliability.hostile`,
reliability/hostile.py)."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import httpx

STRING_FIELDS: dict[str, tuple[dict[str, Any], list[tuple[str | int, ...]]]] = {
    "/sentiment/predict": ({"texts": ["Shares rise"], "symbol": "AAPL"}, [("texts", 0), ("symbol",)]),
    "/price/predict": ({"symbol": "SPX", "prices": None, "interval": "1d"}, [("symbol",), ("interval",)]),
    "/price/batch_predict": (
        {"requests": [{"symbol": "SPX", "prices": None, "interval": "1d"}]},
        [("requests", 0, "symbol"), ("requests", 0, "interval")],
    ),
    "/bayesian/update": (
        {"strategy_name": "s", "won": True, "closed_at": "2025-01-01T00:00:00Z", "trade_id": "x"},
        [("strategy_name",), ("closed_at",), ("trade_id",)],
    ),
}
SURROGATES = ["\ud800", "\udfff", "a\ud800b", "\udc00\ud800", "Shares \ud83d rise"]
INVISIBLE = ["\u200b", "\x00", "7\x00", "\u202e42", "\ufeff42", "a\u2028b", "\ue000", "\x1b[31m"]
OFFSETS = ["-14:00", "+14:00", "-00:01", "+00:01", "Z", ""]
DATES = [
    "0001-01-01T00:00:00",
    "0001-01-01T13:59:59",
    "0001-01-02T00:00:00",
    "9999-12-31T23:59:59",
    "9999-12-31T10:00:00",
]


def hostile_requests(context: int, run: str) -> list[tuple[str, str, str]]:
    """(shape, path, raw JSON body): ASCII JSON, so that lone surrogates travel as escapes."""
    out = []
    for path, (valid, fields) in STRING_FIELDS.items():
        for where in fields:
            for value in SURROGATES:
                body = json.loads(json.dumps(valid))
                for req in [body, *body.get("requests", [])]:
                    if "prices" in req:
                        req["prices"] = [100.0 + i % 7 for i in range(context)]
                target = body
                for step in where[:-1]:
                    target = target[step]
                target[where[-1]] = value
                out.append((f"surrogate in {path} {'.'.join(map(str, where))}", path, json.dumps(body)))
    for date in DATES:
        for offset in OFFSETS:
            body = {"strategy_name": f"dates-{run}", "won": True, "closed_at": date + offset}
            out.append(("extreme close time", "/bayesian/update", json.dumps(body)))
    for i, value in enumerate(INVISIBLE):
        body = {"strategy_name": f"ids-{run}", "won": True, "trade_id": value}
        out.append(("invisible character in trade_id", "/bayesian/update", json.dumps(body)))
        body = {"strategy_name": f"ids-{run}", "won": True, "trade_id": f"{run}-{i}{value}"}
        out.append(("invisible character in trade_id", "/bayesian/update", json.dumps(body)))
    base = abs(hash(run)) % 10**9 * 1000
    for name, trade_id in [
        ("a", base),
        ("a", base),
        ("b", base),
        ("b", str(base)),
        ("fresh", base),
        ("b", base + 1),
        ("a", base + 1),
    ]:
        # one outcome per id: a retry that told another one would be refused for that, not for its strategy
        body = {"strategy_name": f"repeat-{run}-{name}", "won": str(trade_id) == str(base), "trade_id": trade_id}
        out.append(("trade_id repeated across strategies", "/bayesian/update", json.dumps(body)))
    for trade_id in (base + 7, str(base + 7), f"0{base + 7}"):
        body = {"strategy_name": f"repeat-{run}-a", "won": True, "trade_id": trade_id}
        out.append(("integer id and its text", "/bayesian/update", json.dumps(body)))
    return out


def run_hostile_input(base_url: str, context: int) -> dict[str, Any]:
    run = f"{time.time_ns():x}"
    by_shape: dict[str, Counter[str]] = {}
    examples: dict[str, str] = {}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for shape, path, body in hostile_requests(context, run):
            group = shape.rsplit(" ", 1)[0] if shape.startswith("surrogate") else shape
            try:
                r = client.post(path, content=body, headers={"content-type": "application/json"})
            except httpx.TransportError as exc:  # the server dropped the connection instead of answering
                by_shape.setdefault(group, Counter())["no answer"] += 1
                examples.setdefault(f"no answer {shape}", f"{type(exc).__name__}: {exc}")
                continue
            by_shape.setdefault(group, Counter())[str(r.status_code)] += 1
            if r.status_code >= 400:
                examples.setdefault(f"{shape} {r.status_code}", r.json().get("detail", r.text)[:200])
        health = client.get("/bayesian/health").json()["status"]
        stats = client.get("/bayesian/all-stats").status_code
    total = sum((c for c in by_shape.values()), Counter())
    fivexx = sum(n for status, n in total.items() if status.startswith("5") or status == "no answer")
    return {
        "requests": sum(total.values()),
        "statuses": dict(total),
        "by_shape": {k: dict(v) for k, v in by_shape.items()},
        "examples": examples,
        "status_5xx": fivexx,
        "bayesian_health_after": health,
        "all_stats_after": stats,
        "passed": fivexx == 0 and health == "healthy" and stats == 200,
    }
