"""The gateway under load: CLIENTS clients x 1 headline against one client x BATCH headlines per request, the
bound on their ratio (the same scorer in-process), price forecasts beside bursts of headlines, and the lines
of the last one's table (`investiq bench gateway`, benchmarks/gateway.py)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import Streams, closed_loop, request, request_head
from benchmarks.finbert import headlines
from benchmarks.gateway_calls import closes
from harness.results import percentiles

CLIENTS = 16  # one headline per request each
BATCH = 32  # headlines per request of the one batching client (the gateway's sentiment_batch_size)
SEGMENT_S = 4.0  # per throughput segment; ROUNDS of each, alternating
ROUNDS = 3
WINDOW_EVERY_S = 0.02  # the price client's pause between windows in `mixed_load`


async def clients_vs_batched(base: str) -> dict[str, Any]:
    """Texts/s of CLIENTS clients x 1 headline and of 1 client x BATCH headlines per request (cache off),
    in ROUNDS alternating segments of SEGMENT_S each; medians over the rounds."""
    texts = headlines()
    host, port = base.removeprefix("http://").split(":")
    head = request_head("POST", "/sentiment/predict", host)
    one = [json.dumps({"texts": [t], "use_cache": False}).encode() for t in texts]
    many = [
        json.dumps({"texts": [texts[(i + j) % len(texts)] for j in range(BATCH)], "use_cache": False}).encode()
        for i in range(0, len(texts), BATCH)
    ]
    shapes = {"clients": (CLIENTS, one, 1), "batched": (1, many, BATCH)}
    rates: dict[str, list[float]] = {name: [] for name in shapes}
    p50: dict[str, list[float]] = {name: [] for name in shapes}
    for _ in range(ROUNDS):
        for name, (clients, bodies, per_request) in shapes.items():
            conns = [await asyncio.open_connection(host, int(port)) for _ in range(clients)]
            try:

                async def call(i: int, k: int, conns: list[Streams] = conns, bodies: list[bytes] = bodies) -> None:
                    await request(conns[i], head, bodies[k % len(bodies)])

                await closed_loop(call, clients, 0.5)  # every connection warm, the batcher in its steady state
                latencies, elapsed = await closed_loop(call, clients, SEGMENT_S)
            finally:
                for _, writer in conns:
                    writer.close()
            rates[name].append(len(latencies) * per_request / elapsed)
            p50[name].append(percentiles(latencies)["p50_ms"])
    out: dict[str, Any] = {
        name: {
            "texts_per_s": float(np.median(rates[name])),
            "p50_ms": float(np.median(p50[name])),
            "rounds": rates[name],
        }
        for name in shapes
    }
    out["ratio"] = out["clients"]["texts_per_s"] / out["batched"]["texts_per_s"]
    return out


async def mixed_load(base: str, context: int) -> dict[str, Any]:
    """Price forecasts while headlines are scored: one client asking for one window every WINDOW_EVERY_S, one
    sending bursts of BATCH headlines back to back (cache off), and each alone, in ROUNDS alternating segments of
    SEGMENT_S; medians. The window's latency beside the bursts against alone, and what the windows cost the
    bursts (`burst_ms_per_window`: the share of the bursts' time lost against bursts alone, per window answered
    beside them, in ms)."""
    texts = headlines()
    host, port = base.removeprefix("http://").split(":")
    news_head, price_head = (
        request_head("POST", "/sentiment/predict", host),
        request_head("POST", "/price/predict", host),
    )
    bursts = [
        json.dumps({"texts": [texts[(i + j) % len(texts)] for j in range(BATCH)], "use_cache": False}).encode()
        for i in range(0, len(texts), BATCH)
    ]
    windows = [
        json.dumps({"symbol": f"S{i}", "prices": w.tolist()}).encode() for i, w in enumerate(closes(8, context))
    ]

    async def segment(news: bool, prices: bool) -> tuple[float, list[float], float]:
        """(headlines/s, window latencies in ms, windows/s), each client timed over its own requests."""
        deadline = time.perf_counter() + SEGMENT_S
        done, latencies, spans = 0, list[float](), {"news": 1.0, "prices": 1.0}

        async def burst_client() -> None:
            nonlocal done
            conn = await asyncio.open_connection(host, int(port))
            start = time.perf_counter()
            try:
                while time.perf_counter() < deadline:
                    await request(conn, news_head, bursts[done // BATCH % len(bursts)])
                    done += BATCH
            finally:
                spans["news"] = time.perf_counter() - start
                conn[1].close()

        async def window_client() -> None:
            conn = await asyncio.open_connection(host, int(port))
            start = time.perf_counter()
            try:
                while time.perf_counter() < deadline:
                    begin = time.perf_counter()
                    await request(conn, price_head, windows[len(latencies) % len(windows)])
                    latencies.append((time.perf_counter() - begin) * 1000)
                    await asyncio.sleep(WINDOW_EVERY_S)
            finally:
                spans["prices"] = time.perf_counter() - start
                conn[1].close()

        await asyncio.gather(*([burst_client()] if news else []), *([window_client()] if prices else []))
        return done / spans["news"], latencies, len(latencies) / spans["prices"]

    shapes = {"windows alone": (False, True), "bursts alone": (True, False), "both": (True, True)}
    rounds: dict[str, list[tuple[float, list[float], float]]] = {name: [] for name in shapes}
    await segment(True, True)  # warm
    for _ in range(ROUNDS):
        for name, (news, prices) in shapes.items():
            rounds[name].append(await segment(news, prices))

    def p(name: str, q: int) -> float:  # a client sends at least once before its deadline: never empty
        return float(np.median([np.percentile(lat, q) for _, lat, _ in rounds[name]]))

    alone, beside = (float(np.median([rate for rate, _, _ in rounds[n]])) for n in ("bursts alone", "both"))
    answered = float(np.median([rate for _, _, rate in rounds["both"]]))  # windows/s beside the bursts
    return {
        "window_p50_ms": {"alone": p("windows alone", 50), "beside_bursts": p("both", 50)},
        "window_p99_ms": {"alone": p("windows alone", 99), "beside_bursts": p("both", 99)},
        "bursts_texts_per_s": {"alone": alone, "beside_windows": beside},
        "windows_per_s_beside_bursts": answered,
        "burst_ms_per_window": (1 - beside / alone) * 1000 / answered,
    }


def clients_bound(pairs: dict[str, Any]) -> float | None:
    """The most CLIENTS lock-step clients over HTTP can reach of HTTP's batched rate (`clients_vs_batched` of
    a run): the same scorer fed batches of CLIENTS in-process, over HTTP's batched rate; None where the run did
    not measure it. In-process CLIENTS over in-process BATCH, shown before, is no bound on a ratio whose other
    arm is HTTP's (a review: 0.87 where this was 0.956)."""
    alone = pairs.get("in_process", {}).get("clients", {}).get("texts_per_s")
    return float(alone / pairs["batched"]["texts_per_s"]) if alone else None


def batches_in_process(repo: Path) -> dict[str, Any]:
    """The bound on `clients_vs_batched`: texts/s of the gateway's own scorer and backend in this process (no
    HTTP, no event loop between requests), fed batches of CLIENTS headlines (what CLIENTS lock-step clients
    give the micro-batcher at most) and of BATCH, in ROUNDS alternating segments of SEGMENT_S; medians. A
    gateway that cost nothing would bring CLIENTS clients x 1 headline to `ratio` of the batched rate."""
    from benchmarks.finbert import served_scorer

    texts = headlines()
    sizes = {"clients": CLIENTS, "batched": BATCH}
    rates: dict[str, list[float]] = {name: [] for name in sizes}
    with served_scorer(repo, BATCH) as (score, _):
        for _ in range(ROUNDS):
            for name, size in sizes.items():
                batches = [[texts[(i + j) % len(texts)] for j in range(size)] for i in range(0, len(texts), size)]
                score(batches[0])
                done, start = 0, time.perf_counter()
                while time.perf_counter() - start < SEGMENT_S:
                    score(batches[done % len(batches)])
                    done += 1
                rates[name].append(done * size / (time.perf_counter() - start))
    out: dict[str, Any] = {name: {"texts_per_s": float(np.median(r)), "rounds": r} for name, r in rates.items()}
    out["ratio"] = out["clients"]["texts_per_s"] / out["batched"]["texts_per_s"]
    return out


def render_mixed(m: dict[str, Any]) -> list[str]:
    """The lines of `mixed_load`'s table."""
    return [
        "",
        f"Price forecasts while headlines are scored: one client asking for one window every "
        f"{WINDOW_EVERY_S * 1000:.0f} ms, one sending bursts of {BATCH} headlines back to back (cache off), "
        f"and each alone; median of {ROUNDS} alternating segments of {SEGMENT_S:g} s:",
        "",
        "| | alone | beside the other |",
        "| --- | ---: | ---: |",
        *(
            f"| one window, p{q} ms | {m[f'window_p{q}_ms']['alone']:.1f} | "
            f"{m[f'window_p{q}_ms']['beside_bursts']:.1f} |"
            for q in (50, 99)
        ),
        f"| bursts, headlines/s | {m['bursts_texts_per_s']['alone']:.0f} | "
        f"{m['bursts_texts_per_s']['beside_windows']:.0f} |",
        "",
        f"- each window answered beside the bursts ({m['windows_per_s_beside_bursts']:.0f}/s) cost them "
        f"**{m['burst_ms_per_window']:.1f} ms** of their time (the models run on threads of their own and "
        "share the cores: gateway/backends/embedded.py)",
    ]
