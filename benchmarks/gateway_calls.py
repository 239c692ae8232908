"""The calls the gateway benchmark times, in-process and through the gateway: one headline, one window of
closes, SYMBOLS windows in one call, and a route that runs no model; and their latencies side by side, in
alternating blocks (`investiq bench gateway`, benchmarks/gateway.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import request, request_head
from benchmarks.finbert import headlines
from gateway.backends.embedded import load_patchtst, ort_session, patchtst_dir
from harness.results import percentiles
from investiq.core.finbert import MAX_TOKENS, OUTPUT, Encoder, finbert_dir, softmax
from investiq.core.finbert_runtime import DEFAULT, open_runtime
from investiq.core.patchtst import INPUT, OUTPUTS

SYMBOLS = 500


def closes(count: int, context: int, seed: int = 0) -> np.ndarray[Any, np.dtype[np.float32]]:
    rng = np.random.default_rng(seed)
    return np.asarray(100 * np.exp(np.cumsum(rng.normal(0, 0.01, (count, context)), axis=1)), dtype=np.float32)


BLOCKS = 6  # in-process and HTTP calls alternate in blocks, so that drift on a shared VM hits both alike


def local_calls(repo: Path, finbert_runtime: str) -> tuple[dict[str, Callable[[int], object]], int]:
    """The model calls alone, as the gateway makes them (its session options and providers, FinBERT on the
    runtime the gateway serves, tokenizer, softmax); call(k) runs the k-th workload item. Also the PatchTST
    context length."""
    texts = headlines()
    directory = finbert_dir(repo)
    finbert, encoder = open_runtime(directory, finbert_runtime, ort_session), Encoder(directory, MAX_TOKENS)
    meta, patchtst = load_patchtst(patchtst_dir(repo))
    x = closes(SYMBOLS, meta.context_length)[..., None]
    calls: dict[str, Callable[[int], object]] = {
        "finbert_single": lambda k: softmax(finbert.run([OUTPUT], encoder([texts[k % len(texts)]]))[0]),
        "patchtst_single": lambda k: patchtst.run(list(OUTPUTS), {INPUT: x[k % SYMBOLS][None]}),
        "patchtst_batch": lambda k: patchtst.run(list(OUTPUTS), {INPUT: x}),
    }
    return calls, meta.context_length


def http_calls(host: str, context: int) -> dict[str, tuple[bytes, list[bytes]]]:
    """The same calls through the gateway: (request head, bodies); plus a route that runs no model."""
    texts = headlines()
    windows = closes(SYMBOLS, context)
    one = [json.dumps({"symbol": f"S{i}", "prices": w.tolist()}).encode() for i, w in enumerate(windows)]
    many = json.dumps({"requests": [{"symbol": f"S{i}", "prices": w.tolist()} for i, w in enumerate(windows)]})
    return {
        "health (no model)": (request_head("GET", "/sentiment/health", host), [b""]),
        "finbert_single": (
            request_head("POST", "/sentiment/predict", host),
            [json.dumps({"texts": [t], "use_cache": False}).encode() for t in texts],
        ),
        "patchtst_single": (request_head("POST", "/price/predict", host), one),
        "patchtst_batch": (request_head("POST", "/price/batch_predict", host), [many.encode()]),
    }


def served_finbert_runtime(base: str) -> str:
    """The FinBERT runtime the gateway at `base` serves, as its /health reports it (its own settings and CPU)."""
    import httpx

    inference = httpx.get(f"{base}/health", timeout=30).json()["components"]["inference"]
    return str(inference.get("finbert_runtime") or DEFAULT)


async def side_by_side(
    repo: Path, base: str, runs: int, finbert_runtime: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(in-process, HTTP) latency stats per call, measured in alternating blocks on one keep-alive
    connection, one call at a time; the gateway sits idle while the in-process block runs."""
    local, context = local_calls(repo, finbert_runtime)
    host, port = base.removeprefix("http://").split(":")
    remote = http_calls(host, context)
    lat: dict[str, dict[str, list[float]]] = {"local": {}, "http": {}}
    for name, (head, bodies) in remote.items():
        n = max(BLOCKS, runs // 20) if name == "patchtst_batch" else runs
        for warm in range(3):  # both paths warm
            await request_once(host, port, head, bodies[warm % len(bodies)])
            if name in local:
                local[name](warm)
        for block in range(BLOCKS):
            ks = range(block * n // BLOCKS, (block + 1) * n // BLOCKS)
            if name in local:
                for k in ks:
                    begin = time.perf_counter()
                    local[name](k)
                    lat["local"].setdefault(name, []).append((time.perf_counter() - begin) * 1000)
            # A connection per block: an in-process block of batches outlasts the server's keep-alive (5 s)
            # on a busy machine, and a closed connection would end the run with a broken pipe.
            conn = await asyncio.open_connection(host, int(port))
            try:
                for k in ks:
                    begin = time.perf_counter()
                    await request(conn, head, bodies[k % len(bodies)])
                    lat["http"].setdefault(name, []).append((time.perf_counter() - begin) * 1000)
            finally:
                conn[1].close()
    stats = {side: {name: percentiles(v) for name, v in by.items()} for side, by in lat.items()}
    for side in stats.values():
        side["patchtst_batch"]["windows_per_s"] = SYMBOLS * 1000 / side["patchtst_batch"]["p50_ms"]
    return stats["local"], stats["http"]


async def request_once(host: str, port: str, head: bytes, body: bytes) -> bytes:
    conn = await asyncio.open_connection(host, int(port))
    try:
        return await request(conn, head, body)
    finally:
        conn[1].close()
