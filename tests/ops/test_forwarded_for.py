"""The real `investiq serve` keys a key-less client's rate limit on its connection's address, whatever the
X-Forwarded-For it sends: uvicorn's default trusted that header from 127.0.0.1, where the agent and any other
local process connect from, so a client that sent a new address each request was never limited (a review: 4
requests at burst 2 gave 200 200 429 429, and with X-Forwarded-For 10.0.0.i, five 200s)."""

from __future__ import annotations

from pathlib import Path

from harness.processes import GatewayProcess, isolated_env


def test_a_forwarded_address_does_not_escape_the_rate_limit(tmp_path: Path):
    (tmp_path / "none.yaml").write_text("")  # an empty settings file: only the variables below
    env = isolated_env(
        INVESTIQ_MODEL_REPOSITORY=str(tmp_path / "repo"),
        INVESTIQ_DATA_DIR=str(tmp_path / "data"),
        INVESTIQ_PRICE_RESOLVE_EVERY_S="0",
        INVESTIQ_CONFIG=str(tmp_path / "none.yaml"),
        INVESTIQ_RATE_LIMIT_PER_MINUTE="1",
        INVESTIQ_RATE_LIMIT_BURST="2",
    )
    with GatewayProcess(tmp_path / "p.db", tmp_path / "server.log", env=env) as gateway:
        gateway.start(60)
        codes = [
            gateway.request("GET", "/bayesian/weights", headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code
            for i in range(4)
        ]
    assert codes == [200, 200, 429, 429]
