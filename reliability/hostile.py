"""Promise 4: a hostile or broken client gets a 4xx that says why, or its connection closed in time; never a
500, never a connection (and its file descriptor) held for as long as it likes, never lost evidence.

    python -m reliability.hostile [--slow-heads 200] [--half-bodies 5000] [--unread-bodies 200] [--silent 200]

Against one real `investiq serve` (its deadlines: http_header_timeout_s, http_body_timeout_s):
(a) slow and stalled clients: connections sending their request head one byte a second (slowloris), sending
    a head and half a body and then nothing, dribbling a body to a route that never reads one (after its
    answer), and connecting and saying nothing, all at once, while a steady client keeps calling; measured:
    how long until the server closed each and what it said (408, or nothing), the server's open file
    descriptors and RSS before, at the peak and after, the steady client's answers;
(b) the input shapes an independent probe got 500s with (issue 15): a lone surrogate in every string field of
    every body, close times in the years 1 and 9999 with offsets of -14:00 to +14:00, invisible characters in
    trade ids, a trade id repeated across strategies, an integer id and its text: each answer's status;
(c) the README's /bayesian examples in order: the posterior of `momentum` before and after the sync.
Results: reliability/results/hostile.{json,md}.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

from harness.results import machine, percentiles, table
from reliability import results
from reliability.processes import gateway_process
from reliability.runs import add_common, script_parser, workspace

ROOT = Path(__file__).resolve().parents[1]
SLOW_HEAD = (
    b"POST /bayesian/update HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    + b"X-Pad: "
    + b"a" * 4000
)
HALF_BODY = b'{"strategy_name": "stalled", "profit_loss": 1.0, "note": "'
UNREAD_HEAD = b"GET /bayesian/weights HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n"
KINDS = ("slow head", "half body", "unread body", "silent")


# -- (a) slow and stalled clients ---------------------------------------------------------------------


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_targets(pid: int) -> Counter[str]:
    """What the process's descriptors point at, sockets and pipes by kind (their inode numbers dropped)."""
    out: Counter[str] = Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        out[re.sub(r":\[\d+\]$", "", target)] += 1
    return out


def rss_mb(pid: int) -> float:
    found = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return round(int(found.group(1)) / 1024, 1) if found else float("nan")


class Peer:
    """One raw connection: what it sent, when the server closed it, and the status line it got (if any)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.started: float | None = None  # when its deadline should start: connected, or the head sent
        self.closed_after: float | None = None
        self.status: int | None = None
        self.error: str | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def run(self, port: int, byte_interval_s: float, connect: asyncio.Semaphore) -> None:
        dribble: asyncio.Task[None] | None = None
        try:
            async with connect:
                reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
            self.started = time.monotonic()
            if self.kind == "half body":
                body = HALF_BODY + b"x" * 40
                head = (
                    b"POST /bayesian/update HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n" % (len(body) * 2)
                )
                self.writer.write(head + body)
                await self.writer.drain()
                self.started = time.monotonic()  # the body deadline runs from the head
            elif self.kind == "unread body":  # a body to a route that never reads it, a byte at a time
                self.writer.write(UNREAD_HEAD)
                await self.writer.drain()
                self.started = time.monotonic()
            if self.kind in ("slow head", "unread body"):
                dribble = asyncio.create_task(self._dribble(byte_interval_s))
            # The answer's first bytes as soon as they come (a reset when the server closes, e.g. on the bytes a
            # client keeps sending, would lose what read() had buffered), then the close itself.
            answer = await reader.read(65536)
            first = answer.split(b"\r\n", 1)[0].split()
            self.status = int(first[1]) if len(first) > 1 and first[1].isdigit() else None
            while answer:
                answer = await reader.read(65536)
            self.closed_after = time.monotonic() - self.started
        except (ConnectionError, OSError) as exc:
            if self.started is not None and self.closed_after is None:
                self.closed_after = time.monotonic() - self.started
            self.error = type(exc).__name__
        finally:
            if dribble is not None:
                dribble.cancel()

    async def _dribble(self, interval_s: float) -> None:
        assert self.writer is not None
        try:
            for byte in SLOW_HEAD:
                self.writer.write(bytes([byte]))
                await self.writer.drain()
                await asyncio.sleep(interval_s)
        except (ConnectionError, OSError):
            pass  # closed by the server: what the reader records

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _steady(base: str, stop: asyncio.Event) -> list[tuple[int, float]]:
    """A well-behaved client calling throughout: (status, ms) of each call."""
    out: list[tuple[int, float]] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        i = 0
        while not stop.is_set():
            began = time.perf_counter()
            try:
                if i % 2:
                    r = await client.post("/bayesian/update", json={"strategy_name": "steady", "won": i % 4 == 1})
                else:
                    r = await client.get("/bayesian/weights")
                out.append((r.status_code, (time.perf_counter() - began) * 1000))
            except httpx.HTTPError:
                out.append((0, (time.perf_counter() - began) * 1000))
            i += 1
            await asyncio.sleep(0.05)
    return out


async def _storm(
    pid: int, port: int, counts: dict[str, int], byte_interval_s: float, max_wait_s: float
) -> dict[str, Any]:
    peers = [Peer(kind) for kind in KINDS for _ in range(counts[kind])]
    connect = asyncio.Semaphore(256)
    samples: list[tuple[float, int]] = []
    stop = asyncio.Event()
    began = time.monotonic()

    async def sample() -> None:
        while not stop.is_set():
            samples.append((time.monotonic() - began, open_fds(pid)))
            await asyncio.sleep(0.2)

    sampler = asyncio.create_task(sample())
    steady = asyncio.create_task(_steady(f"http://127.0.0.1:{port}", stop))
    tasks = [asyncio.create_task(p.run(port, byte_interval_s, connect)) for p in peers]
    _, pending = await asyncio.wait(tasks, timeout=max_wait_s)
    still_open = sum(1 for p in peers if p.started is not None and p.closed_after is None)
    waited = time.monotonic() - began
    for task in pending:
        task.cancel()
    for p in peers:
        p.close()  # the client gives up: what is left must be returned now
    await asyncio.sleep(1.0)
    stop.set()
    calls = await steady
    await sampler
    return {
        "peers": peers,
        "still_open_at_max_wait": still_open,
        "waited_s": round(waited, 2),
        "fd_samples": samples,
        "steady": calls,
    }


def run_slow_clients(
    repository: Path,
    work: Path,
    counts: dict[str, int],
    *,
    header_timeout_s: float | None = None,
    body_timeout_s: float | None = None,
    byte_interval_s: float = 1.0,
    max_wait_s: float = 60.0,
    slack_s: float = 5.0,
) -> dict[str, Any]:
    """(a): the storm against a fresh gateway. `passed`: every connection closed by the server within its
    deadline + `slack_s`, the descriptors back to where they were, and the steady client answered 200."""
    gateway = gateway_process(work / "slow-clients.db", repository, work, log_name="gateway-slow-clients.log")
    extra = {"INVESTIQ_HTTP_HEADER_TIMEOUT_S": header_timeout_s, "INVESTIQ_HTTP_BODY_TIMEOUT_S": body_timeout_s}
    gateway.env.update({k: str(v) for k, v in extra.items() if v is not None})
    with gateway:
        gateway.start()
        for i in range(20):  # warm: the first requests open what every later one reuses (the journal's WAL)
            gateway.get("/bayesian/weights")
            gateway.post("/bayesian/update", {"strategy_name": "steady", "won": i % 2 == 0})
        targets_before = fd_targets(gateway.pid)
        fds_before, rss_before = open_fds(gateway.pid), rss_mb(gateway.pid)
        storm = asyncio.run(_storm(gateway.pid, gateway.port, counts, byte_interval_s, max_wait_s))
        fds_after, rss_after = open_fds(gateway.pid), rss_mb(gateway.pid)
        added = fd_targets(gateway.pid) - targets_before
        health = gateway.get("/health").status_code
        metrics = gateway.get("/metrics").text
    header_s = header_timeout_s if header_timeout_s is not None else 10.0
    body_s = body_timeout_s if body_timeout_s is not None else 30.0
    # A body nobody reads is the server's to cut off: at twice the body deadline (gateway/server.py).
    limit = {"slow head": header_s, "half body": body_s, "unread body": 2 * body_s, "silent": header_s}
    kinds = {}
    for kind in KINDS:
        mine = [p for p in storm["peers"] if p.kind == kind]
        closed = [p.closed_after for p in mine if p.closed_after is not None]
        kinds[kind] = {
            "connections": len(mine),
            "deadline_s": limit[kind],
            "closed_by_server": len(closed),
            "answered_408": sum(1 for p in mine if p.status == 408),
            "closed_without_answer": sum(1 for p in mine if p.closed_after is not None and p.status is None),
            "other_status": dict(Counter(str(p.status) for p in mine if p.status not in (None, 408))),
            "not_connected": sum(1 for p in mine if p.started is None),
            "closed_after_s": percentiles(closed, 2) if closed else None,
            "in_time": sum(1 for s in closed if s <= limit[kind] + slack_s),
        }
    steady = storm["steady"]
    statuses = Counter(str(status) for status, _ in steady)
    timeouts = re.search(r'^investiq_errors_total\{kind="request_timeout"\} (\S+)$', metrics, re.MULTILINE)
    data = {
        "slack_s": slack_s,
        "header_timeout_s": header_s,
        "body_timeout_s": body_s,
        "byte_interval_s": byte_interval_s,
        "max_wait_s": max_wait_s,
        "kinds": kinds,
        "still_open_at_max_wait": storm["still_open_at_max_wait"],
        "fds_before": fds_before,
        "fds_peak": max(n for _, n in storm["fd_samples"]),
        "fds_after": fds_after,
        "fds_added": dict(added),  # what is open after that was not before
        "sockets_before": targets_before["socket"],
        "sockets_after": targets_before["socket"] + added["socket"],
        "rss_mb_before": rss_before,
        "rss_mb_after": rss_after,
        "steady_calls": len(steady),
        "steady_statuses": dict(statuses),
        "steady_latency_ms": percentiles([ms for _, ms in steady], 1) if steady else None,
        "metrics_request_timeouts": float(timeouts.group(1)) if timeouts else 0.0,
        "health_after": health,
    }
    data["passed"] = (
        all(k["in_time"] == k["connections"] for k in kinds.values())
        and data["still_open_at_max_wait"] == 0
        and data["sockets_after"] <= data["sockets_before"]
        and set(statuses) == {"200"}
        and health == 200
    )
    return data


# -- (b) the input shapes that were 500s ----------------------------------------------------------------

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


# -- (c) the README's examples in order -----------------------------------------------------------------


def readme_bayesian_examples(readme: Path = ROOT / "README.md") -> list[tuple[str, str, dict[str, Any] | None]]:
    """(method, path with query, JSON body) of every curl example of /bayesian in the README, in order."""
    commands = re.sub(r"\\\n\s*", " ", readme.read_text(encoding="utf-8"))  # continuation lines joined
    examples = []
    for line in commands.splitlines():
        if not line.startswith("curl ") or "/bayesian/" not in line:
            continue
        words = shlex.split(line)
        method = words[words.index("-X") + 1] if "-X" in words else "GET"
        url = next(w for w in words if w.startswith("localhost:8080/"))
        body = json.loads(words[words.index("-d") + 1]) if "-d" in words else None
        examples.append((method, url.removeprefix("localhost:8080"), body))
    return examples


def state_row(db: Path, name: str) -> tuple[Any, ...] | None:
    with closing(sqlite3.connect(db)) as conn:
        row = conn.execute("SELECT * FROM bayesian_state WHERE strategy_name = ?", (name,)).fetchone()
    return None if row is None else tuple(row)


def run_readme(request: Callable[..., httpx.Response], db: Path) -> dict[str, Any]:
    steps = []
    before_sync = after_sync = None
    synced = False
    for method, path, body in readme_bayesian_examples():
        r = request(method, path, json=body)
        stats = request("GET", "/bayesian/all-stats").json()["strategies"]
        momentum = next((s for s in stats if s["strategy_name"] == "momentum"), None)
        step = {"call": f"{method} {path}", "status": r.status_code}
        step["momentum_samples"] = None if momentum is None else momentum["total_samples"]
        if "sync-from-database" in path:
            synced, after_sync = True, state_row(db, "momentum")
            step["sync"] = r.json()
        elif not synced:
            before_sync = state_row(db, "momentum")
        steps.append(step)
    return {
        "steps": steps,
        "momentum_state_before_sync": before_sync,
        "momentum_state_after_sync": after_sync,
        "passed": synced
        and before_sync is not None
        and before_sync == after_sync
        and all(s["status"] == 200 and s["momentum_samples"] == 1 for s in steps),
    }


def run_inputs(repository: Path, work: Path) -> dict[str, Any]:
    """(b) and (c) against one fresh gateway."""
    from harness.tiny_repository import context_length

    gateway = gateway_process(work / "hostile.db", repository, work, log_name="gateway-hostile.log")
    with gateway:
        gateway.start()
        readme = run_readme(gateway.request, gateway.db)
        inputs = run_hostile_input(gateway.url, context_length(repository))
        log = gateway.log_tail(200_000)
    inputs["tracebacks_in_log"] = log.count("Traceback")
    inputs["passed"] = inputs["passed"] and inputs["tracebacks_in_log"] == 0
    return {"readme": readme, "inputs": inputs}


# -- the script -------------------------------------------------------------------------------------------


def markdown(data: dict[str, Any]) -> list[str]:
    lines = ["# Hostile clients: slow, stalled, and the inputs that were 500s", ""]
    if "slow" in data:
        s = data["slow"]
        lines += [
            f"## (a) Slow and stalled clients, all at once (http_header_timeout_s {s['header_timeout_s']:g}, "
            f"http_body_timeout_s {s['body_timeout_s']:g}; slowloris: one byte per {s['byte_interval_s']:g} s)",
            "",
        ]
        head = ["client", "connections", "deadline s", "closed by the server", f"within +{s['slack_s']:g} s"]
        head += ["answered 408", "answered otherwise", "closed silently", "closed after s (p50 / max)"]
        body = []
        for kind, k in s["kinds"].items():
            after = k["closed_after_s"]
            body.append(
                [
                    kind,
                    k["connections"],
                    k["deadline_s"],
                    k["closed_by_server"],
                    k["in_time"],
                    k["answered_408"],
                    ", ".join(f"{n}× {st}" for st, n in k["other_status"].items()) or None,
                    k["closed_without_answer"],
                    f"{after['p50_ms']} / {after['max_ms']}" if after else None,
                ]
            )
        lines += [*table(head, body), ""]
        lat = s["steady_latency_ms"] or {}
        still = {Path(target).name: n for target, n in s["fds_added"].items()}  # the journal, by its name
        lines += [
            f"- Still open after waiting {s['max_wait_s']:g} s: **{s['still_open_at_max_wait']}**.",
            f"- Server's open file descriptors: {s['fds_before']} before, {s['fds_peak']} at the peak, "
            f"**{s['fds_after']} after** (1 s after the clients let go; sockets {s['sockets_before']} before, "
            f"**{s['sockets_after']} after**; opened meanwhile and still open: {still or 'none'}); RSS "
            f"{s['rss_mb_before']} MB before, {s['rss_mb_after']} MB after.",
            f"- A steady client meanwhile: {s['steady_calls']} calls, statuses {s['steady_statuses']}, latency "
            f"p50 {lat.get('p50_ms')} ms, p99 {lat.get('p99_ms')} ms, max {lat.get('max_ms')} ms.",
            f'- `investiq_errors_total{{kind="request_timeout"}}`: {s["metrics_request_timeouts"]:g}; '
            f"/health after: {s['health_after']}.",
            f"- Held: {'yes' if s['passed'] else 'NO'}.",
            "",
        ]
    if "inputs" in data:
        i = data["inputs"]
        lines += ["## (b) The input shapes that were 500s", ""]
        head = ["shape", "answers"]
        body = [
            [shape, ", ".join(f"{n}× {st}" for st, n in sorted(c.items()))] for shape, c in i["by_shape"].items()
        ]
        lines += [*table(head, body), ""]
        lines += [
            f"- {i['requests']} requests: {i['statuses']}; **5xx or no answer: {i['status_5xx']}**; tracebacks in "
            f"the gateway log: {i['tracebacks_in_log']}; /bayesian/health after: {i['bayesian_health_after']}.",
            "- Examples of the answers:",
            *[f"  - {k}: `{v}`" for k, v in sorted(i["examples"].items())[:12]],
            f"- Held: {'yes' if i['passed'] else 'NO'}.",
            "",
        ]
    if "readme" in data:
        r = data["readme"]
        lines += ["## (c) The README's /bayesian examples, in order", ""]
        lines += [
            *table(
                ["call", "status", "momentum's trades"],
                [[s["call"], s["status"], s["momentum_samples"]] for s in r["steps"]],
            ),
            "",
        ]
        lines += [
            f"- momentum's row of `bayesian_state` before the sync equals the one after: "
            f"{r['momentum_state_before_sync'] == r['momentum_state_after_sync']}.",
            f"- Held: {'yes' if r['passed'] else 'NO'}.",
            "",
        ]
    lines += [f"**All promises held: {'yes' if data['passed'] else 'NO'}.**"]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = script_parser("hostile", __doc__)
    parser.add_argument("--only", nargs="+", choices=["slow", "inputs"], default=["slow", "inputs"])
    parser.add_argument("--slow-heads", type=int, default=200, help="slowloris connections")
    parser.add_argument("--half-bodies", type=int, default=5000, help="connections stalled halfway through a body")
    parser.add_argument(
        "--unread-bodies", type=int, default=200, help="bodies dribbled to a route that reads none"
    )
    parser.add_argument("--silent", type=int, default=200, help="connections that send nothing")
    parser.add_argument("--header-timeout", type=float, help="http_header_timeout_s (default: the setting's)")
    parser.add_argument("--body-timeout", type=float, help="http_body_timeout_s (default: the setting's)")
    parser.add_argument("--byte-interval", type=float, default=1.0, help="seconds between a slowloris's bytes")
    parser.add_argument("--max-wait", type=float, default=90.0, help="longest wait for the server to close them")
    add_common(parser, quick="20/100/20/20 connections, 1 s deadlines, 10 s wait")
    args = parser.parse_args(argv)
    if args.quick:
        args.slow_heads, args.half_bodies, args.unread_bodies, args.silent = 20, 100, 20, 20
        args.header_timeout = args.body_timeout = 1.0
        args.byte_interval, args.max_wait = 0.25, 10.0
    began, host = time.monotonic(), machine()
    counts = {
        "slow head": args.slow_heads,
        "half body": args.half_bodies,
        "unread body": args.unread_bodies,
        "silent": args.silent,
    }
    data: dict[str, Any] = {}
    with workspace(args) as (repository, work, models):
        if "slow" in args.only:
            data["slow"] = run_slow_clients(
                repository,
                work,
                counts,
                header_timeout_s=args.header_timeout,
                body_timeout_s=args.body_timeout,
                byte_interval_s=args.byte_interval,
                max_wait_s=args.max_wait,
            )
        if "inputs" in args.only:
            data.update(run_inputs(repository, work))
    data["passed"] = all(data[k]["passed"] for k in ("slow", "inputs", "readme") if k in data)
    data = {"machine": host, "command": results.command(), "seconds": time.monotonic() - began, **data}
    data["models"] = models
    name = "hostile" if len(args.only) == 2 else f"hostile-{args.only[0]}"
    return results.report(args.out, name, data, markdown(data))


if __name__ == "__main__":
    raise SystemExit(main())
