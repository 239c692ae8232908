"""harness.processes.start_triton (and LocalTriton, which goes through it): ports that TritonPorts.free picked are
free only when picked. Another test worker's server may bind one before this Triton does: `start` refuses it up
front, or the server exits with "already in use" in its log (bound after that check), or, where the port is the
metrics one, exits about a second after it said ready; and another Triton on the HTTP port answers this one's
readiness while it still loads. Each time the server is started again on other ports; ports the caller gave are
kept. The stand-in tritonserver of tests/ops/test_triton_server_mutants.py runs in all but the last two tests,
which run the real one (skipped where there is none, as the other Triton tests are)."""

from __future__ import annotations

import http.server
import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from gateway.backends.triton_admin import ADMIN_TOKEN_ENV, TOKEN_FILE
from harness.processes import LocalTriton, start_triton
from investiq.core.ports import free_ports
from investiq.ops import pidfile
from investiq.ops.triton_server import TritonError, TritonPorts, missing, stop
from tests.ops.test_triton_server_mutants import TOKEN, fake_server

NAMES = ("http", "grpc", "metrics")


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path, Path]]:
    """A stand-in environment, an empty repository and a work directory holding TOKEN's file: (env, repo, work).
    Any stand-in of this test still running is killed at the end."""
    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)
    env = fake_server(tmp_path / "venv", {"token": TOKEN})
    repo, work = tmp_path / "repo", tmp_path / "work"
    repo.mkdir()
    work.mkdir()
    (work / TOKEN_FILE).write_text(TOKEN + "\n")
    try:
        yield env, repo, work
    finally:
        stop(work, 5.0)
        program = str(tmp_path / "venv")
        for pid in map(int, filter(str.isdigit, os.listdir("/proc"))):
            if any(program in arg for arg in pidfile.arguments(pid) or []):
                with suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)


def picks_first(monkeypatch: pytest.MonkeyPatch, first: TritonPorts) -> list[TritonPorts]:
    """TritonPorts.free returns `first` once, then fresh ports; the list of what it returned."""
    real = TritonPorts.free.__func__  # type: ignore[attr-defined]
    given: list[TritonPorts] = []

    def free(cls: type[TritonPorts]) -> TritonPorts:
        given.append(first if not given else real(cls))
        return given[-1]

    monkeypatch.setattr(TritonPorts, "free", classmethod(free))
    return given


def held(holder: socket.socket) -> TritonPorts:
    """Ports whose HTTP one `holder` holds (bound and listening, as another server's)."""
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    grpc, metrics = free_ports(2)
    return TritonPorts(holder.getsockname()[1], grpc, metrics)


def serves(pid: int, ports: TritonPorts) -> bool:
    return all(pidfile.bound(pid, getattr(ports, name)) for name in NAMES)


def test_a_picked_port_another_server_holds_is_picked_again(
    standin: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    env, repo, work = standin
    with socket.socket() as holder:
        taken = held(holder)
        picked = picks_first(monkeypatch, taken)
        pid, ports = start_triton(repo, work, wait_s=20.0, server_env=env)
        assert picked[0] == taken and ports == picked[-1] and ports.http != taken.http
        assert serves(pid, ports)


@pytest.mark.parametrize("name", NAMES)
def test_a_picked_port_taken_after_start_checked_it_is_picked_again(
    standin: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Bound after `start` checked the ports (its check sees nothing here): the stand-in exits with "Address
    already in use" (the metrics port's after HTTP answered, as the real server's)."""
    env, repo, work = standin
    monkeypatch.setattr(TritonPorts, "taken", lambda _: [])
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        one, two = free_ports(2)
        others = [n for n in NAMES if n != name]
        ports = dict(zip(others, (one, two), strict=True)) | {name: holder.getsockname()[1]}
        taken = TritonPorts(**ports)
        picks_first(monkeypatch, taken)
        pid, got = start_triton(repo, work, wait_s=20.0, server_env=env)
        assert getattr(got, name) != getattr(taken, name) and serves(pid, got)
    assert "address already in use" in (work / "triton.log").read_text().lower()


def test_another_servers_readiness_on_the_picked_http_port_is_not_taken_for_this_ones(
    standin: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another Triton bound the picked HTTP port after the check: it answers /v2/health/ready while this one
    starts, and `start` returns the PID of a server that is about to exit."""

    class Ready(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    env, repo, work = standin
    monkeypatch.setattr(TritonPorts, "taken", lambda _: [])
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        grpc, metrics = free_ports(2)
        taken = TritonPorts(other.server_address[1], grpc, metrics)
        picks_first(monkeypatch, taken)
        pid, ports = start_triton(repo, work, wait_s=20.0, server_env=env)
        assert ports.http != taken.http and serves(pid, ports)
    finally:
        other.shutdown()
        other.server_close()


def test_ports_the_caller_gave_are_kept_when_taken(
    standin: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    env, repo, work = standin
    with socket.socket() as holder:
        given = held(holder)
        with pytest.raises(TritonError, match=f"HTTP port {given.http} .*already in use"):
            start_triton(repo, work, given, wait_s=20.0, server_env=env)
        monkeypatch.setattr(TritonPorts, "taken", lambda _: [])  # bound after the check: the server exits
        with pytest.raises(TritonError, match="exited with 1"):
            start_triton(repo, work, given, wait_s=20.0, server_env=env)
    assert not (work / "triton.pid").exists()


# -- the real tritonserver, through LocalTriton ---------------------------------------------------------------


@pytest.fixture
def real(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """An empty repository (the server is ready in a second or two) and a work directory: (repo, work); the server
    stopped at the end."""
    if (reason := missing()) is not None:
        pytest.skip(reason)
    (tmp_path / "repo").mkdir()
    try:
        yield tmp_path / "repo", tmp_path / "work"
    finally:
        stop(tmp_path / "work", 10.0)


def test_a_real_triton_on_a_picked_http_port_another_server_holds_moves(
    real: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as holder:
        taken = held(holder)
        picks_first(monkeypatch, taken)
        triton = LocalTriton(*real)
        triton.start()
        assert triton.ports.http != taken.http and triton.url == f"127.0.0.1:{triton.ports.grpc}"
        assert serves(pidfile.read(triton.work / "triton.pid", "tritonserver") or 0, triton.ports)


def test_a_real_triton_whose_picked_metrics_port_is_taken_after_the_check_moves(
    real: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real server binds its metrics port after its HTTP port answers ready: `start` returned, and the server
    exited about a second later ("failed to start Metrics service: ... already in use")."""
    monkeypatch.setattr(TritonPorts, "taken", lambda _: [])
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        http, grpc = free_ports(2)
        taken = TritonPorts(http, grpc, holder.getsockname()[1])
        picks_first(monkeypatch, taken)
        triton = LocalTriton(*real)
        triton.start()
        assert triton.ports.metrics != taken.metrics
        assert serves(pidfile.read(triton.work / "triton.pid", "tritonserver") or 0, triton.ports)
    assert "failed to start metrics service" in (triton.work / "triton.log").read_text().lower()
