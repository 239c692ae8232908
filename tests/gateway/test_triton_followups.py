"""What an audit of the Triton serving path found after the reviews: a PatchTST version the gateway cannot read
reported ready everywhere while every forecast was a 503; a Triton server draining behind a balanced target failed
requests the other server could answer; and `investiq triton start` bound 127.0.0.1 for a gateway at [::1].

Fakes stand in for the layer below (the backend, tritonclient's client): what is tested is the gateway's own logic.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.backends.triton import OUTPUTS, TritonBackend
from gateway.backends.triton_errors import UNKNOWN_MODEL
from gateway.metrics import Metrics
from gateway.services.price import PriceService
from gateway.services.scorers import LexiconScorer
from gateway.wiring import align_triton
from investiq.core.bar_cache import BarCache
from investiq.core.errors import ModelNotReadyError
from investiq.core.finbert import FINBERT
from investiq.core.patchtst import PATCHTST, QUANTILE_LEVELS, PatchTSTMeta
from investiq.core.settings import Settings
from investiq.core.versions import version_dir
from tests.fakes import FakeBackend

KEY = {"X-API-Key": "k"}

# A version the gateway cannot read: readiness, /health and the metric said ready, every forecast a 503.


def repository_with_version_1(tmp_path: Path) -> Path:
    """A model repository holding patchtst version 1 only (its artifact, no graph: the backend is a fake)."""
    repo = tmp_path / "repo"
    meta = PatchTSTMeta(
        "w1", 8, 2, "1d", "log_return", ["X"], "sample", "2020-01-01", quantile_levels=list(QUANTILE_LEVELS)
    )
    version_dir(repo, PATCHTST, 1).mkdir(parents=True)
    meta.save(version_dir(repo, PATCHTST, 1))
    return repo


def settings_for(tmp_path: Path) -> Settings:
    return Settings(
        model_repository=repository_with_version_1(tmp_path),
        models_dir=tmp_path / "models",
        data_dir=tmp_path / "data",
        db_path=tmp_path / "portfolio.db",
        price_resolve_every_s=0,
        api_key="k",
    )


class Shared(FakeBackend):
    """A backend shared with other gateways (Triton) that serves version `serving` of PatchTST instead of the one
    asked about (None: that one still serves), and calls every model ready, as Triton does for any version."""

    def __init__(self, serving: int | None) -> None:
        super().__init__()
        self.serving = serving

    async def serving_version(self, model: str, version: int) -> int | None:
        return self.serving


@pytest.mark.parametrize("serving", [2, None])
def test_a_patchtst_version_the_gateway_cannot_read_is_not_ready_in_readiness_health_and_metrics(
    tmp_path: Path, serving: int | None
):
    """Triton on another copy of the repository serves version 2, which this gateway's lacks: /price/health was
    unhealthy, and every forecast a 503, while /health/ready listed patchtst true, /health's inference component
    was healthy with it, and investiq_backend_ready{task="price"} was 1, so the alert on it never fired (an
    audit). Readiness itself still follows the journal: a model that cannot answer does not decide it."""
    unreadable = serving is not None
    with TestClient(create_app(settings_for(tmp_path), backend=Shared(serving))) as client:
        ready = client.get("/health/ready")
        inference = client.get("/health").json()["components"]["inference"]
        metrics = client.get("/metrics", headers=KEY).text
        price = client.get("/price/health").json()
    assert ready.status_code == 200 and ready.json()["ready"] is True, ready.text
    assert ready.json()["models"] == {"lexicon": True, PATCHTST: not unreadable}, ready.text
    assert inference["models"] == {PATCHTST: not unreadable}, inference
    assert inference["status"] == ("degraded" if unreadable else "healthy"), inference
    cannot = "the backend serves version 2 of patchtst, which this gateway cannot read"
    assert (cannot in inference.get("reason", "")) is unreadable, inference
    assert f'investiq_backend_ready{{task="price"}} {float(not unreadable)}' in metrics, metrics
    assert (price["status"] == "unhealthy") is unreadable, price  # as before: /price/health said so already


def price_service(tmp_path: Path, backend: Any) -> PriceService:
    """Version 1 read, with no journal: align_triton reads only the version."""
    repo = repository_with_version_1(tmp_path)
    meta = PatchTSTMeta.load(version_dir(repo, PATCHTST, 1))
    journal: Any = None
    return PriceService(
        backend, meta, journal, Metrics(), BarCache(tmp_path), lambda *_: None, max_batch=8, repository_version=1
    )


@pytest.mark.parametrize("serving", [2, None])
def test_start_up_names_both_versions_where_triton_loaded_another_than_the_gateway_reads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, serving: int | None
):
    """The start-up logged "Triton serves patchtst from the files this gateway reads" after having Triton load
    the newest version of its own repository, version 2, while this gateway reads version 1 (an audit)."""

    class Triton(Shared):
        name = "triton"

    backend = Triton(serving)
    sentiment = SimpleNamespace(scorer=LexiconScorer())
    with caplog.at_level(logging.INFO, logger="gateway.wiring"):
        asyncio.run(align_triton(backend, sentiment, price_service(tmp_path, backend)))  # type: ignore[arg-type]
    assert backend.reloaded == [PATCHTST]
    claimed = "Triton serves patchtst from the files this gateway reads" in caplog.text
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    if serving is None:
        assert claimed and not warned, caplog.text
    else:
        assert not claimed, caplog.text
        (warning,) = warned
        assert "Triton serves version 2 of patchtst, not version 1, which this gateway reads" in warning.message


# A Triton server draining behind a balanced target: it answers "unknown model" while the others serve it.

DRAINING = {
    PATCHTST: f"{UNKNOWN_MODEL}: 'patchtst' version 1 is not at ready state",  # Triton 2.51's words
    FINBERT: f"{UNKNOWN_MODEL}: 'finbert' has no available versions",
}
INPUTS = {
    PATCHTST: {"past_values": np.zeros((1, 8, 1), np.float32)},
    FINBERT: {"TEXT": np.array([["up"]], object)},
}


class Server:
    """A tritonclient.grpc.aio client of one server's own channel, which answers where `serving` names it, or of
    the balanced channel (`address` the target), whose calls all reach a draining server here: the worst case of
    round robin with calls in flight beside it. Every call is recorded in `calls`, by address."""

    def __init__(self, address: str, serving: set[str], calls: list[str]) -> None:
        self.address, self.serving, self.calls = address, serving, calls

    async def infer(self, model: str, inputs: Any, **kwargs: Any) -> Any:
        from tritonclient.utils import InferenceServerException

        self.calls.append(self.address)
        if self.address not in self.serving:
            raise InferenceServerException(DRAINING[model], status="StatusCode.NOT_FOUND")
        return SimpleNamespace(as_numpy=lambda name: np.zeros((1, 3), np.float32))

    async def close(self) -> None:
        pass


def backend_over(target: str, serving: set[str], calls: list[str]) -> TritonBackend:
    """A backend on `target` whose channels are `Server`s."""
    grpcclient = pytest.importorskip("tritonclient.grpc.aio")
    backend = TritonBackend(target, 5.0)
    backend._grpc = SimpleNamespace(
        InferenceServerClient=lambda address, **_: Server(address, serving, calls),
        InferInput=grpcclient.InferInput,
        InferRequestedOutput=grpcclient.InferRequestedOutput,
    )
    return backend


def infer(backend: TritonBackend, model: str, version: int | None = None, times: int = 1) -> list[Any]:
    async def run() -> list[Any]:
        try:
            return [await backend.infer(model, INPUTS[model], version) for _ in range(times)]
        finally:
            await backend.close()

    return asyncio.run(run())


A, B = "127.0.0.1:8001", "127.0.0.1:8002"
TWO = f"ipv4:{A},{B}"


@pytest.mark.parametrize("model", [PATCHTST, FINBERT])
def test_an_answer_that_a_server_behind_a_balanced_target_does_not_serve_the_model_is_sent_to_the_others(
    model: str,
):
    """SIGTERM to one of two Triton servers (a rolling restart, a node drain): it keeps its gRPC port open and
    answers "unknown model" for 1-3 s, and 90 of 1,658 requests got a 503 though the other server was ready (an
    audit). Sent again to each other server in turn, on its own channel: sent again on the balanced channel, a
    call reached the draining server again as often as not while other calls were in flight."""
    calls: list[str] = []
    version = 1 if model == PATCHTST else None  # forecasts are pinned to the version the gateway reads
    answers = infer(backend_over(TWO, {A}, calls), model, version, times=4)
    assert [set(a) for a in answers] == [set(OUTPUTS[model])] * 4
    # each from the next server in turn: A at once, or B (draining) and then A
    assert calls == [TWO, B, A, TWO, A, TWO, B, A, TWO, A], calls


def test_a_model_no_server_serves_is_a_503_after_three_calls_and_with_one_server_at_once():
    """The calls are bounded (a model unloaded everywhere is a 503 naming it, not a call to every pod), and one
    server is asked once: a model unloaded there is a 503 at once, as before."""
    three = f"{TWO},127.0.0.1:8003"
    for target, sent in ((three, 3), (TWO, 3), (A, 1)):
        calls: list[str] = []
        with pytest.raises(ModelNotReadyError, match="has no ready model 'finbert'"):
            infer(backend_over(target, set(), calls), FINBERT)
        assert len(calls) == sent and len(set(calls)) == sent, (target, calls)


def test_a_dns_name_is_the_servers_the_latest_readiness_check_found():
    """A headless Service's name: the servers the latest readiness check resolved it to (an ipv4: list names them
    itself); not looked up yet, one address, or host:port: one server, asked once."""
    calls: list[str] = []
    pods = backend_over("dns:///triton-pods:8001", {B}, calls)
    with pytest.raises(ModelNotReadyError):
        infer(pods, FINBERT)
    assert calls == ["dns:///triton-pods:8001"]
    pods._channel_servers = frozenset({A, B})  # as `ready` finds them
    assert set(infer(pods, FINBERT)[0]) == set(OUTPUTS[FINBERT])
    assert calls[1:] == ["dns:///triton-pods:8001", B]


# `investiq triton start` for a gateway at [::1]: it bound Triton to 127.0.0.1 and said it was ready.


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this host")
def test_triton_for_a_gateway_at_the_ipv6_loopback_listens_there_and_is_asked_there():
    """triton_url [::1]:port: `is_local` took it, `start` bound all three ports to 127.0.0.1, which the gateway at
    [::1] cannot reach, and called the server ready (an audit). It binds ::1 now, in the forms tritonserver 2.51
    reads (a start with each showed them), checks and asks there. A stand-in for Triton's HTTP port answers."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from investiq.ops.triton_server import TritonPorts, is_local, ready

    class Ready(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/v2/health/ready" else 404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    class IPv6(HTTPServer):
        address_family = socket.AF_INET6

    with IPv6(("::1", 0), Ready) as http:
        threading.Thread(target=http.serve_forever, daemon=True).start()
        try:
            port = http.server_address[1]
            settings = Settings(triton_url="[::1]:9001", triton_http_port=port)
            ports = TritonPorts.from_settings(settings)
            assert is_local(settings) and (ports.address, ports.grpc, ports.http) == ("::1", 9001, port)
            assert ports.address_flags() == [
                "--http-address=ipv6:::1",
                "--grpc-address=[::1]",
                "--metrics-address=ipv6:::1",
            ]
            assert ready(ports)  # asked at [::1], where it listens
            assert any(f"HTTP port {port}" in taken for taken in ports.taken())  # checked there too
        finally:
            http.shutdown()
    loopback = TritonPorts.from_settings(Settings(triton_url="127.0.0.1:9001"))
    assert loopback.address_flags()[1] == "--grpc-address=127.0.0.1" and loopback.local == "127.0.0.1"


def test_a_random_walk_baseline_says_so_briefly_and_gives_its_calibration_record_beside(tmp_path: Path) -> None:
    """/price/health's reason for a served random-walk baseline held the calibration's whole record (about 1,500
    characters in a real one): the reason now names its first part, shortened, and the record is its own field,
    `calibration_rule` (an untrained baseline's cause, its first part, is still said: test_quick_model.py)."""
    service = price_service(tmp_path, SimpleNamespace())
    assert service.meta is not None
    rule = "calibrated on 900 validation windows: median = the random walk: " + "the evidence, " * 100
    service.meta = replace(service.meta, calibration={"alpha": 0.0, "slope": 0.0, "spread": 0.0, "rule": rule})
    health = service.health()
    assert health["status"] == "degraded" and health["calibration_rule"] == rule
    reason = str(health["reason"])
    assert "random-walk baseline" in reason and "calibration_rule" in reason and len(reason) < 500
    assert "median = the random walk" in reason and reason.count("the evidence") < 20  # its start, shortened
