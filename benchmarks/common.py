"""What every benchmark shares: a closed-loop load driver, a hand-written HTTP client, and a real
`investiq serve` gateway (harness/processes.py) to measure through. The machine a run was on and its
percentiles: harness/results.py."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.processes import GatewayProcess
from harness.results import write

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def closed_loop(
    call: Callable[[int, int], Awaitable[object]], clients: int, seconds: float
) -> tuple[list[float], float]:
    """`clients` coroutines, each sending its next request as soon as the previous one answered, for
    `seconds`. `call(client, k)`: client index and request number (k = client, client + clients, ...),
    so that together they walk through a workload in order. Returns (latencies in ms, elapsed s)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client(i: int) -> None:
        k = i
        while time.perf_counter() < deadline:
            begin = time.perf_counter()
            await call(i, k)
            latencies.append((time.perf_counter() - begin) * 1000)
            k += clients

    start = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, time.perf_counter() - start


def record(out: Path | None, name: str, result: dict[str, Any], text: str) -> None:
    """Print a benchmark's table and, with `out`, write out/NAME.json (figures) and out/NAME.md (table)."""
    print(text)
    if out is not None:
        write(out, name, result, text)


def answers_with_finbert(server: GatewayProcess) -> bool:
    """Readiness by a real prediction rather than /health: with a Triton backend the gateway is up before
    the models are, and the first answer also pays any warm-up."""
    response = server.post("/sentiment/predict", {"texts": ["warm-up"], "use_cache": False}, 30)
    return response.status_code == 200 and response.json()["model"] == "finbert"


@contextmanager
def gateway(
    repo: Path,
    *,
    port: int | None = None,
    env: dict[str, str] | None = None,
    ready_s: float = 120,
    cwd: Path | None = None,
) -> Iterator[str]:
    """A real `investiq serve` process (FinBERT INT8 from `repo`, a throw-away journal) for the duration;
    yields its base URL once a prediction has come back from FinBERT. `env` adds settings, e.g.
    INVESTIQ_BACKEND=triton; `cwd` runs it there (another checkout: `python -m investiq` imports that
    checkout's code). Its output is kept so that a server that dies says why."""
    with tempfile.TemporaryDirectory() as tmp:
        child_env = {
            **os.environ,
            "INVESTIQ_MODEL_REPOSITORY": str(repo.resolve()),  # absolute: `cwd` may be another checkout
            "INVESTIQ_QUANTIZE": "true",
            "INVESTIQ_SENTIMENT_MODEL": "finbert",
            "INVESTIQ_DATA_DIR": f"{tmp}/data",
            **(env or {}),
        }
        child_env.pop("ML_API_KEY", None)  # a private server on 127.0.0.1: the clients send no key
        db, log = Path(tmp, "bench.db"), Path(tmp, "gateway.log")
        with GatewayProcess(db, log, env=child_env, cwd=cwd, port=port) as server:
            server.start(ready_s, ready=answers_with_finbert)
            yield server.url


def request_head(method: str, path: str, host: str) -> bytes:
    """The request line and headers for `request`, up to the Content-Length value it appends."""
    headers = f"Host: {host}\r\nContent-Type: application/json\r\nContent-Length: "
    return f"{method} {path} HTTP/1.1\r\n{headers}".encode()


async def request(conn: Streams, head: bytes, body: bytes) -> bytes:
    """One request on a keep-alive connection (`head` ends with "Content-Length: "); the response body,
    read whole; RuntimeError unless 200."""
    reader, writer = conn
    writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
    await writer.drain()
    status = await reader.readline()
    length = None
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise RuntimeError(f"response without content-length: {status!r}")
    payload = await reader.readexactly(length)
    if not status.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"{status.decode().strip()}: {payload[:300].decode(errors='replace')}")
    return payload
