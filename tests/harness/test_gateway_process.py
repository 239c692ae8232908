"""harness.processes.GatewayProcess: a port that free_port picked is free only when picked. Another test worker's
server may bind it before the child does (about 1 in 14,000 per overlapping pick of two workers, a flakiness
audit): the child, which exits with "address already in use", is spawned again on another port; a port the
caller gave is not changed."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from harness.processes import GatewayError, GatewayProcess, isolated_env


def _env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "none.yaml").write_text("")  # an empty settings file: only the variables below
    return isolated_env(
        INVESTIQ_MODEL_REPOSITORY=str(tmp_path / "repo"),
        INVESTIQ_DATA_DIR=str(tmp_path / "data"),
        INVESTIQ_PRICE_RESOLVE_EVERY_S="0",
        INVESTIQ_CONFIG=str(tmp_path / "none.yaml"),
    )


def test_a_picked_port_taken_before_the_gateway_binds_it_is_picked_again(tmp_path: Path) -> None:
    with GatewayProcess(tmp_path / "p.db", tmp_path / "server.log", env=_env(tmp_path)) as gateway:
        taken = gateway.port
        with socket.socket() as holder:  # another process's server, bound first
            holder.bind(("127.0.0.1", taken))
            holder.listen()
            gateway.start(120)
            assert gateway.port != taken and gateway.url.endswith(f":{gateway.port}")
            assert gateway.get("/health").json()["status"] in ("healthy", "degraded")
        assert "address already in use" in (tmp_path / "server.log").read_text().lower()


def test_a_port_the_caller_gave_is_not_changed_when_taken(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with GatewayProcess(tmp_path / "p.db", tmp_path / "server.log", env=_env(tmp_path), port=port) as gateway:
            with pytest.raises(GatewayError, match="exited"):
                gateway.start(120)
            assert gateway.port == port
