"""Garbage collection in the gateway: the pauses a running gateway's collections took (its /metrics), and
one full collection in a process holding the gateway with its models loaded, frozen as served and not
(`investiq bench gateway`, benchmarks/gateway.py)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


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
    code = f"import json, pathlib, benchmarks.gateway_gc as g; print(json.dumps({call}))"
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
