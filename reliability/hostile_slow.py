"""Promise 4 (a), slow and stalled clients: connections sending their request head one byte a second
(slowloris), sending a head and half a body and then nothing, dribbling a body to a route that never reads
one, and connecting and saying nothing, all at once against one real `investiq serve` while a steady client
keeps calling; how long until the server closed each and what it said, its descriptors and RSS
(`python -m reliability.hostile`, reliability/hostile.py)."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from harness.results import percentiles
from reliability.processes import gateway_process

SLOW_HEAD = (
    b"POST /bayesian/update HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    + b"X-Pad: "
    + b"a" * 4000
)
HALF_BODY = b'{"strategy_name": "stalled", "profit_loss": 1.0, "note": "'
UNREAD_HEAD = b"GET /bayesian/weights HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n"
KINDS = ("slow head", "half body", "unread body", "silent")


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
