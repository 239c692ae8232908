"""How FinBERT's cost grows with the work: INT8 ONNX Runtime in-process by batch size and by text length,
and a real `investiq serve` gateway by client concurrency.

In-process: the gateway's own session (gateway/backends/embedded.py `ort_session`) and Encoder, tokenization
and softmax included, one call at a time; per point p50/p99 of the call and texts/s = texts / total time.
Batches are drawn from the committed headlines; the length sweep uses texts built to tokenize to exactly
n tokens ([CLS] and [SEP] included). Concurrency: N clients, each one keep-alive HTTP/1.1 connection
(asyncio streams and a hand-written request: the leanest client, since it shares the cores with the
server), one headline per request, cache off, for a fixed time per point; the gateway's default
micro-batching merges concurrent requests.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.common import Streams, closed_loop, gateway, record, request, request_head
from benchmarks.finbert import headlines, timed
from gateway.backends.embedded import ort_session
from harness.results import describe, machine, percentiles
from investiq.core.finbert import ATTENTION_MASK, OUTPUT, Encoder, FinbertMeta, finbert_dir, model_file, softmax

CLIENT = "asyncio streams, one keep-alive HTTP/1.1 connection per client"


def _point(fn: Callable[[], object], texts: int, seconds: float) -> dict[str, float]:
    """Calls `fn` (one call = `texts` texts) for about `seconds`: p50/p99 ms and texts/s."""
    once = timed(fn, 1)[0] / 1000  # after its own warm-up call
    lat = timed(fn, max(5, int(seconds / max(once, 1e-6))))
    return {**percentiles(lat), "texts_per_s": texts * len(lat) / (sum(lat) / 1000)}


def texts_of_length(encoder: Encoder, words_from: Sequence[str], tokens: int, count: int) -> list[str]:
    """`count` texts of words taken in order from `words_from`, each exactly `tokens` tokens long.
    Only words that are one token on their own are used, so n - 2 of them make n with [CLS] and [SEP]."""
    words = list(dict.fromkeys(w for t in words_from for w in t.split() if w.isalpha()))
    single = [w for w, m in zip(words, encoder(words)[ATTENTION_MASK].sum(1), strict=True) if m == 3]
    if not single or not 3 <= tokens <= encoder.max_tokens:
        raise ValueError(f"cannot build {tokens}-token texts (limit {encoder.max_tokens}, {len(single)} words)")
    stream = [single[i % len(single)] for i in range(count * tokens)]
    texts = [" ".join(stream[i * tokens : i * tokens + tokens - 2]) for i in range(count)]
    got = encoder(texts)[ATTENTION_MASK].sum(1)
    if not (got == tokens).all():
        raise ValueError(f"built texts of {sorted(set(got.tolist()))} tokens instead of {tokens}")
    return texts


def in_process(
    repo: Path, batch_sizes: Sequence[int], lengths: Sequence[int], length_batch: int, seconds: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rows by batch size, rows by text length), INT8 FinBERT from `repo` in this process."""
    if not batch_sizes and not lengths:
        return [], []  # e.g. gpu.sh, whose repository need not hold the INT8 variant
    directory = finbert_dir(repo)
    limit = FinbertMeta.load(directory).max_length
    if any(n > limit for n in lengths):
        raise ValueError(f"lengths {list(lengths)} exceed the model's {limit} positions")
    encoder = Encoder(directory, min(limit, max([128, *lengths])))
    session = ort_session(model_file(directory, "int8"))

    def infer(batch: list[str]) -> object:
        return softmax(session.run([OUTPUT], encoder(batch))[0])

    def next_batch(size: int, texts: Iterator[str]) -> object:
        return infer([next(texts) for _ in range(size)])

    corpus = headlines()
    by_batch = []
    for b in batch_sizes:
        row = _point(partial(next_batch, b, itertools.cycle(corpus)), b, seconds)
        by_batch.append({"batch_size": b, **row})
        print(json.dumps(by_batch[-1]))
    by_length = []
    for n in lengths:
        texts = texts_of_length(encoder, corpus, n, length_batch)
        row = _point(partial(infer, texts), length_batch, seconds)
        by_length.append({"tokens": n, "batch_size": length_batch, **row, "tokens_per_s": row["texts_per_s"] * n})
        print(json.dumps(by_length[-1]))
    return by_batch, by_length


async def sweep_concurrency(
    base_url: str, texts: Sequence[str], concurrency: Sequence[int], seconds: float, warmup_s: float = 1.0
) -> list[dict[str, Any]]:
    """Per client count: p50/p95/p99 ms and texts/s of single-headline requests to /sentiment/predict."""
    host, port = base_url.removeprefix("http://").split(":")
    head = request_head("POST", "/sentiment/predict", host)
    bodies = [json.dumps({"texts": [t], "use_cache": False}).encode() for t in texts]
    rows = []
    for clients in concurrency:
        conns = [await asyncio.open_connection(host, int(port)) for _ in range(clients)]
        try:

            async def call(i: int, k: int, conns: list[Streams] = conns) -> None:
                await request(conns[i], head, bodies[k % len(bodies)])

            await closed_loop(call, clients, warmup_s)
            latencies, elapsed = await closed_loop(call, clients, seconds)
        finally:
            for _, writer in conns:
                writer.close()
        rows.append({"clients": clients, **percentiles(latencies), "texts_per_s": len(latencies) / elapsed})
        print(json.dumps(rows[-1]))
    return rows


def run(
    repo: Path,
    *,
    batch_sizes: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
    lengths: Sequence[int] = (8, 16, 32, 64, 128),
    length_batch: int = 16,
    concurrency: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
    seconds: float = 5.0,
    gateway_env: dict[str, str] | None = None,
    out: Path | None = None,
) -> dict[str, Any]:
    """All three sweeps (an empty sequence skips one) on the FinBERT exported in `repo`; `gateway_env`
    adds gateway settings (e.g. INVESTIQ_BACKEND=triton, INVESTIQ_TRITON_URL=...). Writes scaling.json
    and scaling.md to `out`. Rows: p50_ms, p99_ms (and p95_ms, max_ms), texts_per_s, plus the swept value."""
    meta = FinbertMeta.load(finbert_dir(repo))
    by_batch, by_length = in_process(repo, batch_sizes, lengths, length_batch, seconds)
    by_clients: list[dict[str, Any]] = []
    if concurrency:
        with gateway(repo, env=gateway_env) as base:
            by_clients = asyncio.run(sweep_concurrency(base, headlines(), concurrency, seconds))
    result = {
        "machine": machine(),
        "model": {"source": meta.source, "version": meta.version},
        "seconds_per_point": seconds,
        "length_batch": length_batch,
        "gateway": {"settings": gateway_env or {}, "client": CLIENT},
        "batch": by_batch,
        "length": by_length,
        "concurrency": by_clients,
    }
    record(out, "scaling", result, render(result))
    return result


def render(result: dict[str, Any]) -> str:
    lines = [
        "# FinBERT: how cost grows with the work",
        "",
        f"{describe(result['machine'])}; model {result['model']['source']} ({result['model']['version']}); "
        f"about {result['seconds_per_point']} s per point.",
    ]
    backend = result["gateway"]["settings"].get("INVESTIQ_BACKEND", "embedded (ONNX Runtime INT8)")
    client = result["gateway"]["client"]
    tables = (
        ("batch", "batch_size", "In-process ONNX Runtime INT8, committed headlines, by batch size"),
        (
            "length",
            "tokens",
            f"In-process ONNX Runtime INT8, {result['length_batch']} texts of n tokens per call, by length",
        ),
        ("concurrency", "clients", f"Gateway over HTTP, backend {backend}, by clients ({client})"),
    )
    for key, column, title in tables:
        if result[key]:
            lines += ["", f"## {title}", "", f"| {column} | p50 ms | p99 ms | texts/s |", "|" + " ---: |" * 4]
            for r in result[key]:
                lines.append(f"| {r[column]} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['texts_per_s']:.0f} |")
    return "\n".join(lines) + "\n"
