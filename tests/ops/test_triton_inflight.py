"""Calls in flight to a real tritonserver (nvidia-pytriton, cpu flavour) keep its instances busy
(issue 16, part 1). The model is a stand-in that sleeps per execution, so that the measurement is
about concurrency, not about this machine's cores: 2 instances must answer the sentiment service's
16 clients about twice as fast as 1, which they cannot when one batch at a time goes to Triton."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from gateway.backends.triton import TritonBackend
from gateway.metrics import Metrics
from gateway.services.scorers import FinbertScorer
from gateway.services.sentiment import SentimentLimits, SentimentService
from harness import standin_finbert
from harness.processes import start_triton
from investiq.core.finbert import FINBERT, LABELS
from investiq.core.journal import JournalWriter, open_journal
from investiq.ops.triton_server import missing, stop

if (reason := missing()) is not None:  # the `triton` extra, in .venv-triton (numpy<2) or here
    pytest.skip(reason, allow_module_level=True)
SLEEP_S = 0.1  # per execution: one batch, whatever its size
CLIENTS, ROUNDS = 16, 4


def repository(root: Path, instances: int) -> Path:
    return standin_finbert.repository(
        root / f"repo{instances}", instances=instances, max_batch=64, sleep_s=SLEEP_S
    )


def throughput(url: str, db: Path, max_inflight: int) -> tuple[float, int]:
    """Texts per second answered to CLIENTS clients sending one headline each, ROUNDS times; and the
    number of backend calls they took."""
    open_journal(db, 5000).close()
    writer = JournalWriter(db, 5000)
    writer.start()
    calls: list[int] = []

    async def run() -> float:
        backend = TritonBackend(url, 30.0)
        scorer = FinbertScorer(
            backend,
            list(LABELS),
            "stand-in",
            max_batch=4,
            max_wait_s=0,
            on_batch=calls.append,
            max_inflight=max_inflight,
        )
        service = SentimentService(scorer, writer, Metrics(), limits=SentimentLimits(), cache_size=0)
        try:
            await service.predict(["warm-up"], None, use_cache=False)
            calls.clear()

            async def client(i: int) -> None:
                for r in range(ROUNDS):
                    await service.predict([f"headline {i} {r}"], None, use_cache=False)

            began = time.perf_counter()
            await asyncio.gather(*(client(i) for i in range(CLIENTS)))
            return CLIENTS * ROUNDS / (time.perf_counter() - began)
        finally:
            await scorer.close()
            await backend.close()

    try:
        return asyncio.run(run()), len(calls)
    finally:
        writer.close()


def test_two_instances_double_throughput_only_with_calls_in_flight(tmp_path: Path):
    rates: dict[tuple[int, int], float] = {}
    for instances in (1, 2):
        work = tmp_path / f"work{instances}"
        work.mkdir()
        _, ports = start_triton(repository(tmp_path, instances), work)
        try:
            url = f"127.0.0.1:{ports.grpc}"
            for inflight in (1, 4):
                rate, calls = throughput(url, tmp_path / f"j{instances}{inflight}.db", inflight)
                rates[instances, inflight] = rate
                assert calls < CLIENTS * ROUNDS  # still micro-batched (max_batch 4)
        finally:
            stop(work)
    print({f"{i} instance(s), {n} in flight": round(r, 1) for (i, n), r in rates.items()})
    assert rates[2, 4] >= 1.6 * rates[1, 4], rates  # the second instance works
    assert rates[2, 1] < 1.3 * rates[1, 1], rates  # one batch at a time: the second instance idles


def executions(grpc_port: int) -> int:
    """How many batches the server's FINBERT model has executed (Triton's statistics)."""
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc_port}")
    try:
        stats = client.get_inference_statistics(FINBERT)
        return sum(int(model.execution_count) for model in stats.model_stats)
    finally:
        client.close()


def test_one_target_with_two_servers_spreads_calls_over_both(tmp_path: Path):
    """A target that resolves to several Triton servers (a headless Service in Kubernetes; here gRPC's
    static list of addresses) is balanced per call: both servers execute, together at ~2x one."""
    servers = []
    try:
        for i in range(2):
            work = tmp_path / f"server{i}"
            work.mkdir()
            _, ports = start_triton(repository(tmp_path / work.name, 1), work)
            servers.append((ports, work))
        alone, _ = throughput(f"127.0.0.1:{servers[0][0].grpc}", tmp_path / "alone.db", 4)
        before = [executions(ports.grpc) for ports, _ in servers]
        target = "ipv4:" + ",".join(f"127.0.0.1:{ports.grpc}" for ports, _ in servers)
        both, _ = throughput(target, tmp_path / "both.db", 4)
        after = [executions(ports.grpc) for ports, _ in servers]
    finally:
        for _, work in servers:
            stop(work)
    print({"one server": round(alone, 1), "two behind one target": round(both, 1), "executions": after})
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)  # both served calls
    assert both >= 1.6 * alone, (alone, both)
