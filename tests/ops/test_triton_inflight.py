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
from investiq.core.finbert import FINBERT, LABELS
from investiq.core.journal import JournalWriter, open_journal
from investiq.ops.triton_server import TritonPorts, missing, start, stop

if (reason := missing()) is not None:  # the `triton` extra, in .venv-triton (numpy<2) or here
    pytest.skip(reason, allow_module_level=True)
SLEEP_S = 0.1  # per execution: one batch, whatever its size
CLIENTS, ROUNDS = 16, 4

MODEL = f"""
import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        time.sleep({SLEEP_S})
        out = []
        for request in requests:
            n = len(pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy())
            p = np.tile(np.array([[0.6, 0.1, 0.3]], dtype=np.float32), (n, 1))
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor("probabilities", p)]))
        return out
"""

CONFIG = """
name: "{name}"
backend: "python"
max_batch_size: 64
input [{{ name: "TEXT", data_type: TYPE_STRING, dims: [ 1 ] }}]
output [{{ name: "probabilities", data_type: TYPE_FP32, dims: [ 3 ] }}]
instance_group [{{ kind: KIND_CPU, count: {count} }}]
"""


def repository(root: Path, instances: int) -> Path:
    repo = root / f"repo{instances}"
    (repo / FINBERT / "1").mkdir(parents=True)
    (repo / FINBERT / "1" / "model.py").write_text(MODEL)
    (repo / FINBERT / "config.pbtxt").write_text(CONFIG.format(name=FINBERT, count=instances))
    return repo


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
        ports, work = TritonPorts.free(), tmp_path / f"work{instances}"
        work.mkdir()
        start(repository(tmp_path, instances), ports, work)
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
