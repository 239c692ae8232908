"""/health/ready against a Triton that hangs (accepts connections, never answers: a wedged server, a half-dead
peer): the probe must answer within the kubelet's timeout, with the model not ready, not after the backend's
whole triton_timeout_s (5 s by default; the kubelet gives up after its timeoutSeconds and counts a failure)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.backends.triton import TritonBackend
from gateway.services.health import READY_DEADLINE_S
from investiq.core.finbert import FINBERT, LABELS, FinbertMeta
from investiq.core.settings import Settings
from tests.fakes import FakeBackend


@contextmanager
def hung_server() -> Iterator[int]:
    """A TCP server on localhost that accepts every connection and never sends a byte; its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.05)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:  # the timeout: look at `stop` again
                continue

    thread = threading.Thread(target=accept, name="hung-server", daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        server.close()


class NoStartReload(TritonBackend):
    """The real Triton backend minus the start-up reload (wiring.align_triton), which waits up to its own 120 s
    load timeout on a server that never answers: what is tested here is the probe, after start-up."""

    async def reload(self, model: str) -> None:
        return None


@pytest.fixture
def finbert_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wiring finds an exported FinBERT (its artifact record only): the gateway serves it through Triton."""
    meta = SimpleNamespace(labels=list(LABELS), version="v1")
    monkeypatch.setattr(FinbertMeta, "load", staticmethod(lambda directory: meta))


@pytest.mark.usefixtures("finbert_exported")
def test_ready_answers_fast_and_not_ready_when_triton_hangs(settings: Settings):
    """Measured before the bound: 5.0 s (triton_timeout_s) per /health/ready; the kubelet's default probe
    timeout is 1 s, so every probe failed while the gateway itself could serve. Now READY_DEADLINE_S."""
    settings = settings.model_copy(update={"backend": "triton", "triton_timeout_s": 5.0})
    with hung_server() as port:
        backend = NoStartReload(f"127.0.0.1:{port}", settings.triton_timeout_s)
        with TestClient(create_app(settings, backend)) as client:
            took = []
            for _ in range(2):  # the second on a channel whose first call was cut short
                began = time.perf_counter()
                ready = client.get("/health/ready")
                took.append(time.perf_counter() - began)
                assert ready.status_code == 200  # readiness follows the journal; the model is reported beside it
                assert ready.json() == {"ready": True, "journal": True, "models": {FINBERT: False}}
    print({"/health/ready s": [round(t, 3) for t in took]})
    # the bug held it the backend's whole 5 s timeout; 0.5 s of margin over the deadline was too little on a loaded
    # 2-core machine (0.59 s measured beside heavy tests), so the bound is READY_DEADLINE_S plus 2 s, far from 5 s
    assert max(took) < READY_DEADLINE_S + 2.0 < settings.triton_timeout_s, took
    assert min(took) >= READY_DEADLINE_S * 0.9, took  # it did wait for Triton, as long as the deadline


class SlowAlignment(FakeBackend):
    """A Triton backend whose start-up load (wiring.align_triton) takes `load_s`, as one of a wedged Triton or
    one still building TensorRT engines does (up to 120 s a model and server)."""

    name = "triton"

    def __init__(self, load_s: float) -> None:
        super().__init__()
        self.load_s, self.loaded = load_s, False

    async def reload(self, model: str) -> None:
        await asyncio.sleep(self.load_s)
        self.loaded = True


@pytest.mark.usefixtures("finbert_exported")
def test_the_gateway_is_live_while_triton_still_loads_its_models(settings: Settings):
    """Start-up waited for Triton to load every model, up to 120 s each: /health/live answered nothing for 122 s
    against a Triton that never answered, and the kubelet's liveness probe (about 75 s) killed the gateway over
    and over, the Bayesian routes with it (a review). The load runs beside serving now."""
    backend = SlowAlignment(load_s=1.0)
    with TestClient(create_app(settings.model_copy(update={"backend": "triton"}), backend)) as client:
        live = client.get("/health/live")
        assert live.status_code == 200 and not backend.loaded
        assert client.post("/bayesian/update", json={"strategy_name": "a", "won": True}).status_code == 200
        # not ready meanwhile: Triton may still answer with the model it had, under this gateway's labels
        ready = client.get("/health/ready")
        assert ready.json()["ready"] is False and "Triton is loading" in ready.json()["reason"], ready.text
        deadline = time.monotonic() + 60
        while not client.get("/health/ready").json()["ready"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/health/ready").json()["ready"] is True  # once every model loaded
        assert getattr(backend, "loaded") is True  # noqa: B009  (mypy narrowed it to False above)


class FailingAlignment(FakeBackend):
    name = "triton"

    async def reload(self, model: str) -> None:
        raise RuntimeError("a bug in the load")


@pytest.mark.usefixtures("finbert_exported")
def test_a_start_up_load_that_raises_is_logged(settings: Settings, caplog: pytest.LogCaptureFixture):
    """Run beside serving, what the load raised beyond InvestIQError went unseen (a review); at start-up it had
    stopped the gateway. Logged now, and the gateway serves."""
    with TestClient(create_app(settings.model_copy(update={"backend": "triton"}), FailingAlignment())) as client:
        deadline = time.monotonic() + 60
        while "a bug in the load" not in caplog.text and time.monotonic() < deadline:
            client.get("/health/live")
            time.sleep(0.05)
    assert "triton failed: RuntimeError('a bug in the load')" in caplog.text


@pytest.mark.usefixtures("finbert_exported")
def test_a_scrape_answers_within_prometheus_timeout_when_triton_hangs(settings: Settings):
    """/metrics asked the backend without a bound: 5.0 s a scrape on a hung Triton (12.0 at triton_timeout_s 12),
    past Prometheus' 10 s, and every series went stale, the backend alert's too (a review)."""
    settings = settings.model_copy(update={"backend": "triton", "triton_timeout_s": 30.0})
    with hung_server() as port:
        backend = NoStartReload(f"127.0.0.1:{port}", settings.triton_timeout_s)
        with TestClient(create_app(settings, backend)) as client:
            began = time.perf_counter()
            scraped = client.get("/metrics")
            took = time.perf_counter() - began
    assert scraped.status_code == 200 and 'investiq_backend_ready{task="sentiment"} 0.0' in scraped.text
    assert took < 10.0, took  # the scrape timeout; SCRAPE_DEADLINE_S is 2 s
