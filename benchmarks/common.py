"""What every benchmark shares: the machine it ran on, latency percentiles, a closed-loop load driver and
a real `investiq serve` gateway to measure through."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from investiq.ports import free_port

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def machine() -> dict[str, object]:
    """Where the figures were taken: they mean little without it (recorded in every result file)."""
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "vector_extensions": _vector_extensions(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "host": platform.node(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # not Linux
        pass
    return platform.processor() or platform.machine()


# The instruction sets that decide matrix-multiply speed: INT8 is only much faster than fp32 with
# VNNI (or AMX); on an AVX2-only CPU the two run at about the same speed.
VECTOR_EXTENSIONS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def _vector_extensions() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return [x for x in VECTOR_EXTENSIONS if x in flags]


def describe(m: dict[str, object]) -> str:
    """One line for captions and tables, e.g. '2 CPUs (AMD EPYC; avx2, avx512_vnni), Python 3.11.7'."""
    model = m.get("cpu_model") or m.get("processor")
    extensions = m.get("vector_extensions")
    if isinstance(extensions, list) and extensions:
        model = f"{model}; {', '.join(extensions)}"
    return f"{m.get('cpu_count', '?')} CPUs ({model}), Python {m.get('python', '?')}"


def latency_stats(latencies_ms: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 in ms of per-call latencies (ms)."""
    lat = np.asarray(latencies_ms, dtype=np.float64)
    return {f"p{q}_ms": float(np.percentile(lat, q)) for q in (50, 95, 99)}


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
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / f"{name}.md").write_text(text)


@contextmanager
def gateway(
    repo: Path, *, port: int | None = None, env: dict[str, str] | None = None, ready_s: float = 120
) -> Iterator[str]:
    """A real `investiq serve` process (FinBERT INT8 from `repo`, a throw-away journal) for the duration;
    yields its base URL once a prediction has come back from FinBERT. `env` adds settings, e.g.
    INVESTIQ_BACKEND=triton. Its stderr is kept so that a server that dies says why."""
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        child_env = {
            **os.environ,
            "INVESTIQ_MODEL_REPOSITORY": str(repo),
            "INVESTIQ_QUANTIZE": "true",
            "INVESTIQ_SENTIMENT_MODEL": "finbert",
            "INVESTIQ_DATA_DIR": f"{tmp}/data",
            **(env or {}),
        }
        child_env.pop("ML_API_KEY", None)  # a private server on 127.0.0.1: the clients send no key
        command = [sys.executable, "-m", "investiq", "serve", "--port", str(port), "--db", f"{tmp}/bench.db"]
        with open(f"{tmp}/stderr", "wb") as stderr:
            server = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                [*command, "--log-level", "warning"], env=child_env, stdout=subprocess.DEVNULL, stderr=stderr
            )
        try:
            _wait_for_finbert(base, server, Path(f"{tmp}/stderr"), ready_s)
            yield base
        finally:
            server.terminate()
            server.wait(30)


def _wait_for_finbert(base: str, server: subprocess.Popen[bytes], stderr: Path, ready_s: float) -> None:
    """Poll with a real prediction rather than /health: with a Triton backend the gateway is up before
    the models are, and the first answer also pays any warm-up."""
    import httpx

    body = {"texts": ["warm-up"], "use_cache": False}
    deadline = time.monotonic() + ready_s
    with httpx.Client(timeout=30) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                tail = stderr.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"investiq serve exited with {server.returncode}:\n{tail}")
            try:
                response = client.post(f"{base}/sentiment/predict", json=body)
                if response.status_code == 200 and response.json()["model"] == "finbert":
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"the gateway at {base} did not answer with FinBERT within {ready_s:.0f} s")


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
