"""The gateway's own cost and PatchTST's speed, side by side in one run.

    investiq bench gateway

- Gateway overhead = p50 of the HTTP round trip minus p50 of the same model call made in-process
  (the gateway's own ONNX Runtime session options, and the FinBERT runtime its /health reports): FinBERT with one
  headline (cache off) and PatchTST with one window of closes. The client is one keep-alive HTTP/1.1
  connection written by hand (benchmarks/common.py `request`), so the figure is the server's cost, not a client
  library's;
  what is left includes the client's own parsing and the kernel's loopback, on the same two cores.
  A route that runs no model (`GET /sentiment/health`) gives the floor of the HTTP stack itself.
- PatchTST (the PatchTST/64 shape, context 512, horizon 12): one window, and 500 symbols in one
  call, in-process and through `/price/batch_predict`, in windows/s.
- Many clients against batched requests: 16 clients with one headline per request (each its own
  keep-alive connection, a closed loop) against one client sending 32 headlines per request, in texts/s,
  in alternating segments; the micro-batcher should make the first as cheap per text as the second.
  The bound on that ratio is measured too: the same scorer in-process fed batches of 16, over HTTP's rate
  for batches of 32.
- Price forecasts while headlines are scored: one window every 20 ms beside bursts of 32 headlines back to back,
  against each alone: the window's p50/p99 and what the windows cost the bursts.
- Garbage collection: the pauses the running gateway's collections took during the run (its
  investiq_gc_pause_seconds, by generation), and one full collection in a process holding the gateway with
  its models loaded, with start-up's objects frozen (as served: gateway/heap.py) and not, alternating.
- Journal: what logging one prediction costs the writer thread (rows committed per second, one
  row per job as the gateway queues them, and the gateway's batching of many rows per commit).
- With `--against DIR` (another checkout, e.g. a `git worktree` of the commit before): its gateway is started
  beside this one, on the same models, and one headline and one window are timed on both in alternating blocks:
  both p50s and their difference. On a machine whose speed drifts between runs minutes apart, this is what
  shows a change of a few tenths of a millisecond (benchmarks/results/gateway_profile.md, "The fast lane").
  The pair is started twice, this one first and then the other first, and the difference is the mean of the
  two: the gateway started second answered one headline 0.2 ms faster (a checkout against a copy of itself,
  AMX Xeon, 2026-12-04: +0.27 ms with this one started first, -0.21 ms with it second), a bias one order alone
  puts into the difference.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import Streams, closed_loop, gateway, record, request, request_head
from benchmarks.finbert import headlines
from gateway.backends.embedded import load_patchtst, ort_session, patchtst_dir
from harness.results import describe, machine, percentiles
from investiq.core.finbert import MAX_TOKENS, OUTPUT, Encoder, finbert_dir, softmax
from investiq.core.finbert_runtime import DEFAULT, open_runtime
from investiq.core.patchtst import INPUT, OUTPUTS, PatchTSTMeta

SYMBOLS = 500
CLIENTS = 16  # one headline per request each
BATCH = 32  # headlines per request of the one batching client (the gateway's sentiment_batch_size)
SEGMENT_S = 4.0  # per throughput segment; ROUNDS of each, alternating
ROUNDS = 3


def prepare_patchtst(work: Path) -> None:
    """A PatchTST/64-shaped model exported into work/repo (built once, and again when export/patchtst.py is
    newer than the export: a new export may write new graphs): one short epoch on the sample bars; its speed
    does not depend on how well it forecasts."""
    import export.patchtst as exporter
    from investiq.core.market import SAMPLE_DAYS, as_series, load_bars
    from investiq.core.patchtst import TrainConfig
    from training.patchtst import train

    repo, model = work / "repo", work / "patchtst-bench"
    artifact = patchtst_dir(repo) / "artifact.json"
    if artifact.is_file() and artifact.stat().st_mtime >= Path(exporter.__file__).stat().st_mtime:
        return
    config = TrainConfig(
        symbols=("SPX",), source="sample", days=SAMPLE_DAYS, interval="1d", epochs=1, window_stride=64
    )
    series = as_series(load_bars("sample", ("SPX",), days=SAMPLE_DAYS, interval="1d", cache_dir=work / "data"))
    train(series, config, model, log=print)
    exporter.export_patchtst(model, repo, log=print)


def closes(count: int, context: int, seed: int = 0) -> np.ndarray[Any, np.dtype[np.float32]]:
    rng = np.random.default_rng(seed)
    return np.asarray(100 * np.exp(np.cumsum(rng.normal(0, 0.01, (count, context)), axis=1)), dtype=np.float32)


WINDOW_EVERY_S = 0.02  # the price client's pause between windows in `mixed_load`
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


AGAINST_CALLS = ("finbert_single", "patchtst_single")
AGAINST_BLOCK = 40  # requests to one server before the other's turn
AGAINST_BLOCKS = 16  # at least, per server: the machine's drift averages out over many turns


async def against(servers: dict[str, str], context: int, runs: int) -> dict[str, Any]:
    """Per call of AGAINST_CALLS: the round trip's percentiles on each of two gateways up at once ({side: base
    URL}), one request at a time on a keep-alive connection to each, in alternating blocks of AGAINST_BLOCK (at
    least AGAINST_BLOCKS blocks and `runs` requests per server), and the difference of the two p50s (first side
    minus second). Both servers should be equally fresh: one that has served a whole benchmark carries its
    journal and heap into the comparison."""
    found: dict[str, Any] = {}
    addresses = {side: base.removeprefix("http://").split(":") for side, base in servers.items()}
    calls = {side: http_calls(host, context) for side, (host, _) in addresses.items()}
    for name in AGAINST_CALLS:
        conns = {side: await asyncio.open_connection(host, int(port)) for side, (host, port) in addresses.items()}
        lat: dict[str, list[float]] = {side: [] for side in servers}
        try:
            for block in range(-1, max(AGAINST_BLOCKS, -(-runs // AGAINST_BLOCK))):  # block -1 warms up, untimed
                for side in list(conns)[:: 1 if block % 2 == 0 else -1]:
                    head, bodies = calls[side][name]
                    for k in range(AGAINST_BLOCK):
                        begin = time.perf_counter()
                        await request(conns[side], head, bodies[k % len(bodies)])
                        if block >= 0:
                            lat[side].append((time.perf_counter() - begin) * 1000)
        finally:
            for conn in conns.values():
                conn[1].close()
        first, second = (percentiles(lat[side]) for side in servers)
        found[name] = dict(zip(servers, (first, second), strict=True))
        found[name]["p50_difference_ms"] = first["p50_ms"] - second["p50_ms"]
    return found


def both_orders(orders: list[dict[str, Any]]) -> dict[str, Any]:
    """`against`'s figures with this gateway started first, then with the other started first: per call both, and
    the mean of their p50 differences, in which the start order's bias cancels (module docstring)."""
    this_first, against_first = orders
    return {
        name: {
            "this_first": this_first[name],
            "against_first": against_first[name],
            "p50_difference_ms": (this_first[name]["p50_difference_ms"] + against_first[name]["p50_difference_ms"])
            / 2,
        }
        for name in this_first
    }


async def request_once(host: str, port: str, head: bytes, body: bytes) -> bytes:
    conn = await asyncio.open_connection(host, int(port))
    try:
        return await request(conn, head, body)
    finally:
        conn[1].close()


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


def collections_in_run(base: str) -> dict[str, dict[str, float]]:
    """{generation: {count, sum_ms}}: the running gateway's collections so far (its /metrics)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(httpx.get(f"{base}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name in ("investiq_gc_pause_seconds_count", "investiq_gc_pause_seconds_sum"):
                figures = found.setdefault(sample.labels["generation"], {})
                if sample.name.endswith("_count"):
                    figures["count"] = sample.value
                else:
                    figures["sum_ms"] = sample.value * 1000
    return found


def full_collection(repo: Path) -> dict[str, float]:
    """One full collection's pause, frozen (as served) and not, in a child process that holds only the
    gateway app with its models loaded (this process holds the benchmark's own objects too)."""
    call = f"g.full_collection_here(pathlib.Path({str(repo)!r}))"
    code = f"import json, pathlib, benchmarks.gateway as g; print(json.dumps({call}))"
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)  # noqa: S603
    figures: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return figures


def full_collection_here(repo: Path, repeats: int = 5) -> dict[str, float]:
    import gc
    import statistics

    from gateway.app import create_app
    from investiq.core.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            model_repository=repo, db_path=Path(tmp, "p.db"), data_dir=Path(tmp, "data"), price_resolve_every_s=0
        )
        app = create_app(settings)

        async def measure() -> dict[str, float]:
            frozen: list[float] = []
            unfrozen: list[float] = []
            async with app.router.lifespan_context(app):  # start-up's objects are frozen from here on
                objects = gc.get_freeze_count() + len(gc.get_objects())
                for _ in range(repeats):
                    start = time.perf_counter()
                    gc.collect()
                    frozen.append((time.perf_counter() - start) * 1000)
                    gc.unfreeze()
                    start = time.perf_counter()
                    gc.collect()
                    unfrozen.append((time.perf_counter() - start) * 1000)
                    gc.freeze()
            return {
                "objects": float(objects),
                "frozen_ms": statistics.median(frozen),
                "unfrozen_ms": statistics.median(unfrozen),
            }

        return asyncio.run(measure())


def journal_cost(rows: int) -> dict[str, float]:
    """Rows per second the writer thread commits: one row per job (a single-headline request) and
    many rows per job (a 32-headline request), on a fresh journal file; every job its own commit (no
    journal_log_delay_ms, whose wait would dominate a burst of rows): the writer's worst case."""
    from investiq.core.journal import JournalWriter, open_journal
    from investiq.core.journal.predictions import SentimentRow, insert_sentiment

    def row(i: int) -> SentimentRow:
        now = datetime.now(timezone.utc).isoformat()
        p = (0.05, 0.05, 0.9)
        return SentimentRow(now, "BENCH", f"headline {i}", "neutral", 0.9, 0.0, *p, "bench", "v", 1.0, False)

    out = {}
    for per_job in (1, 32):
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "journal.db"
            open_journal(db).close()
            writer = JournalWriter(db)
            writer.start()
            start = time.perf_counter()
            for j in range(0, rows, per_job):
                writer.log(insert_sentiment([row(i) for i in range(j, j + per_job)]))
            writer.close()  # drains the queue: every row committed
            elapsed = time.perf_counter() - start
        out[f"rows_per_s_{per_job}_per_request"] = rows / elapsed
        out[f"us_per_row_{per_job}_per_request"] = elapsed / rows * 1e6
    return out


def run(work: Path, runs: int, out: Path | None, other: Path | None = None) -> dict[str, Any]:
    from benchmarks.finbert import prepare_in_child

    prepare_in_child(None, work)
    code = f"import pathlib, benchmarks.gateway as g; g.prepare_patchtst(pathlib.Path({str(work)!r}))"
    subprocess.run([sys.executable, "-c", code], check=True)  # noqa: S603 (our own interpreter and code)
    repo = work / "repo"
    # 500 windows of 512 closes are ~5 MB of JSON: above the default 1 MB body limit (max_body_bytes),
    # which lets ~100 such windows through per call; the agent normally sends symbols, not closes.
    env = {"INVESTIQ_PRICE_RESOLVE_EVERY_S": "0", "INVESTIQ_MAX_BODY_BYTES": str(16 * 2**20)}
    with gateway(repo, env=env) as base:
        runtime = served_finbert_runtime(base)
        local, http = asyncio.run(side_by_side(repo, base, runs, runtime))
        throughput = asyncio.run(clients_vs_batched(base))
        mixed = asyncio.run(mixed_load(base, PatchTSTMeta.load(patchtst_dir(repo)).context_length))
        collections = collections_in_run(base)
        throughput["in_process"] = batches_in_process(repo)  # the gateway idles meanwhile
    if other is not None:  # two fresh gateways, the other running that checkout's code (python -m investiq there)
        context = PatchTSTMeta.load(patchtst_dir(repo)).context_length
        orders = []
        for this_first in (True, False):  # both start orders: the second started answers faster (module docstring)
            with ExitStack() as stack:
                started = {}
                for side in ("this", "against") if this_first else ("against", "this"):
                    started[side] = stack.enter_context(
                        gateway(repo, env=env, cwd=other if side == "against" else None)
                    )
                orders.append(
                    asyncio.run(against({"this": started["this"], "against": started["against"]}, context, runs))
                )
        compared = both_orders(orders)
    result = {
        "machine": machine(),
        "runs": runs,
        "symbols_per_batch": SYMBOLS,
        "finbert_runtime": runtime,
        "in_process": local,
        "http": http,
        "overhead_p50_ms": {
            name: http[name]["p50_ms"] - local[name]["p50_ms"]
            for name in ("finbert_single", "patchtst_single", "patchtst_batch")
        },
        "clients_vs_batched": throughput,
        "mixed_load": mixed,
        "journal": journal_cost(2000),
        "collections": {"in_run": collections, "full": full_collection(repo)},
    }
    if other is not None:
        result["against"] = {"checkout": str(other), "calls": compared}
    record(out, "gateway", result, render(result))
    return result


def render(r: dict[str, Any]) -> str:
    local, http, over = r["in_process"], r["http"], r["overhead_p50_ms"]
    lines = [
        "# The gateway's own cost, and PatchTST",
        "",
        f"Machine: {describe(r['machine'])}. Reproduce: `investiq bench gateway`. One keep-alive HTTP/1.1",
        f"connection, one request at a time, {r['runs']} calls per row (batch: fewer), in {BLOCKS} blocks that",
        f"alternate with the same calls made in-process; batch = {r['symbols_per_batch']} windows. FinBERT runs "
        f"as the gateway serves it here: `{r.get('finbert_runtime', 'onnxruntime-int8')}` (its /health).",
        "",
        "| call | in-process p50 ms | HTTP p50 ms | HTTP p99 ms | overhead p50 ms |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| no model (GET /sentiment/health) | | {http['health (no model)']['p50_ms']:.2f} | "
        f"{http['health (no model)']['p99_ms']:.2f} | |",
    ]
    for name in ("finbert_single", "patchtst_single", "patchtst_batch"):
        lines.append(
            f"| {name} | {local[name]['p50_ms']:.2f} | {http[name]['p50_ms']:.2f} | {http[name]['p99_ms']:.2f} | "
            f"{over[name]:.2f} |"
        )
    t = r["clients_vs_batched"]
    lines += [
        "",
        f"FinBERT throughput, cache off, median of {ROUNDS} alternating segments of {SEGMENT_S:g} s:",
        "",
        "| load | texts/s | p50 ms per request |",
        "| --- | ---: | ---: |",
        f"| {CLIENTS} clients x 1 headline | {t['clients']['texts_per_s']:.0f} | {t['clients']['p50_ms']:.1f} |",
        f"| 1 client x {BATCH} headlines | {t['batched']['texts_per_s']:.0f} | {t['batched']['p50_ms']:.1f} |",
        "",
        f"- {CLIENTS} clients reach **{t['ratio']:.0%}** of the batched throughput",
    ]
    if (bound := clients_bound(t)) is not None:  # recorded since the in-process rates were measured
        b = t["in_process"]
        lines.append(
            f"- The bound: the gateway's scorer and backend in one process, no HTTP, batches of {CLIENTS} "
            f"headlines at {b['clients']['texts_per_s']:.0f} texts/s, over HTTP's "
            f"{t['batched']['texts_per_s']:.0f} for batches of {BATCH}: **{bound:.0%}**, the most {CLIENTS} "
            f"lock-step clients x 1 headline can reach through this gateway (in-process {BATCH} headlines a "
            f"batch: {b['batched']['texts_per_s']:.0f} texts/s, {b['ratio']:.0%} for batches of {CLIENTS}: each "
            "pass reads every weight however few texts it holds)"
        )
    if "mixed_load" in r:  # recorded since each model has a worker thread of its own
        lines += render_mixed(r["mixed_load"])
    j = r["journal"]
    lines += [
        "",
        f"- PatchTST, {r['symbols_per_batch']} windows in one call: "
        f"**{local['patchtst_batch']['windows_per_s']:,.0f} windows/s** in-process, "
        f"{http['patchtst_batch']['windows_per_s']:,.0f} windows/s through `/price/batch_predict`",
        f"- journal: {j['us_per_row_1_per_request']:.0f} µs per row when each request logs one row "
        f"({j['rows_per_s_1_per_request']:,.0f} rows/s), {j['us_per_row_32_per_request']:.0f} µs per row "
        f"at 32 rows per request; on the writer thread, never on the request's path",
    ]
    if "collections" in r:  # recorded since the gateway freezes start-up's objects (gateway/heap.py)
        c, full = r["collections"]["in_run"], r["collections"]["full"]
        runs = ", ".join(
            f"generation {g}: {c[g]['count']:.0f} taking {c[g]['sum_ms']:.0f} ms in all" for g in sorted(c)
        )
        lines += [
            f"- garbage collection in the gateway during this run: {runs}; one full collection with its models "
            f"loaded ({full['objects']:,.0f} objects) pauses it **{full['frozen_ms'] * 1000:.0f} µs** with "
            f"start-up's objects frozen, as served, against {full['unfrozen_ms']:.1f} ms not (median of 5, "
            "alternating)",
        ]
    if "against" in r:
        lines += render_against(r["against"], r["runs"])
    lines.append("")
    return "\n".join(lines)


def render_against(a: dict[str, Any], runs: int) -> list[str]:
    lines = [
        "",
        f"This checkout against `{a['checkout']}` (`--against`): two fresh gateways up at once on the same "
        f"models, one request at a time on a keep-alive connection to each, alternating blocks of "
        f"{AGAINST_BLOCK}, at least {max(runs, AGAINST_BLOCKS * AGAINST_BLOCK)} requests per server:",
        "",
        "started twice, this one first and then the other first; the difference is the mean of the two orders' "
        "(the gateway started second answers faster: benchmarks/gateway.py).",
        "",
        "| call | started first | this p50 ms | against p50 ms | difference | this p95 ms | against p95 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, c in a["calls"].items():
        for order, label in (("this_first", "this"), ("against_first", "against")):
            o = c[order]
            lines.append(
                f"| {name} | {label} | {o['this']['p50_ms']:.2f} | {o['against']['p50_ms']:.2f} | "
                f"{o['p50_difference_ms']:+.2f} ms | {o['this']['p95_ms']:.2f} | {o['against']['p95_ms']:.2f} |"
            )
        lines.append(f"| {name} | mean of both | | | **{c['p50_difference_ms']:+.2f} ms** | | |")
    return lines


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
