"""The embedded backend vs a local Triton (cpu flavour), side by side in one run, by concurrency.

    investiq bench backends [--concurrency 1 4 16] [--seconds 10]

A Python load generator for hosts without perf_analyzer: N asyncio clients send single-headline
FinBERT requests and single-window PatchTST requests through the inference interface (the same
calls the gateway makes) for a fixed time; reported per backend and concurrency: requests/s and
latency p50/p95/p99. Uses the models exported in the model repository; starts Triton itself.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import closed_loop, record
from benchmarks.finbert import headlines
from gateway.backends.base import InferenceBackend, Tensors
from gateway.backends.embedded import EmbeddedBackend, patchtst_dir
from gateway.backends.triton import TritonBackend
from harness.processes import start_triton
from harness.results import machine, percentiles
from investiq.core.finbert import TEXT_INPUT
from investiq.core.patchtst import PatchTSTMeta
from investiq.ops.triton_server import stop


async def load(
    backend: InferenceBackend, model: str, requests: list[Tensors], clients: int, seconds: float
) -> dict[str, float]:
    latencies, elapsed = await closed_loop(
        lambda _, k: backend.infer(model, requests[k % len(requests)]), clients, seconds
    )
    return {"requests_per_s": len(latencies) / elapsed, **percentiles(latencies)}


def workloads(repository: Path) -> dict[str, list[Tensors]]:
    from export.patchtst import sample_windows

    texts = headlines()
    context = PatchTSTMeta.load(patchtst_dir(repository)).context_length
    windows = sample_windows(64, context)
    return {
        "finbert": [{TEXT_INPUT: np.array([t], dtype=object)} for t in texts],
        "patchtst": [{"past_values": windows[i : i + 1]} for i in range(len(windows))],
    }


def run(repository: Path, concurrency: list[int], seconds: float, out: Path, work: Path) -> dict[str, Any]:
    jobs = workloads(repository)
    _, ports = start_triton(repository, work)  # on free ports, beside any other Triton: the stack's own, a test's
    results: dict[str, Any] = {
        "machine": machine(),
        "seconds_per_point": seconds,
        "rows": [],
    }
    try:
        backends: dict[str, InferenceBackend] = {
            "embedded": EmbeddedBackend(repository),
            "triton (cpu flavour, gRPC)": TritonBackend(f"127.0.0.1:{ports.grpc}", 60),
        }

        async def sweep() -> None:
            for model, requests in jobs.items():
                for clients in concurrency:
                    for name, backend in backends.items():
                        await load(backend, model, requests, clients, 1.0)  # warm-up
                        row = {
                            "model": model,
                            "backend": name,
                            "clients": clients,
                            **await load(backend, model, requests, clients, seconds),
                        }
                        print(json.dumps(row))
                        results["rows"].append(row)
            for backend in backends.values():
                await backend.close()

        asyncio.run(sweep())
    finally:
        stop(work)
    record(out, "backends", results, render(results))
    return results


def render(results: dict[str, Any]) -> str:
    lines = [
        "# Embedded ONNX Runtime vs local Triton (cpu flavour)",
        "",
        f"{results['machine']['processor']}, Python {results['machine']['python']}; "
        f"{results['seconds_per_point']} s per point, one request = one headline or one window. "
        "Reproduce: `investiq bench backends`.",
        "",
        "| model | clients | backend | requests/s | p50 ms | p95 ms | p99 ms | Triton / embedded |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows = results["rows"]
    for r in rows:
        base = next(
            x
            for x in rows
            if x["model"] == r["model"] and x["clients"] == r["clients"] and x["backend"] == "embedded"
        )
        ratio = "" if r["backend"] == "embedded" else f"{r['requests_per_s'] / base['requests_per_s']:.2f}x"
        lines.append(
            f"| {r['model']} | {r['clients']} | {r['backend']} | {r['requests_per_s']:.0f} | "
            f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {ratio} |"
        )
    return "\n".join(lines) + "\n"
