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

import asyncio
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks.common import gateway, record
from benchmarks.gateway_against import against, both_orders, render_against
from benchmarks.gateway_calls import BLOCKS, SYMBOLS, served_finbert_runtime, side_by_side
from benchmarks.gateway_gc import collections_in_run, full_collection
from benchmarks.gateway_journal import journal_cost
from benchmarks.gateway_load import (
    BATCH,
    CLIENTS,
    ROUNDS,
    SEGMENT_S,
    batches_in_process,
    clients_bound,
    clients_vs_batched,
    mixed_load,
    render_mixed,
)
from gateway.backends.embedded import patchtst_dir
from harness.results import describe, machine
from investiq.core.patchtst import PatchTSTMeta


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
