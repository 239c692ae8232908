"""The gateway of the reliability runs: `investiq serve` (harness/processes.py) configured only by the
environment given here."""

from __future__ import annotations

import os
from pathlib import Path

from harness.processes import ROOT, GatewayProcess, isolated_env


def gateway_process(
    db: Path,
    repository: Path,
    work: Path,
    *,
    backend: str = "embedded",
    triton_url: str | None = None,
    log_name: str = "gateway.log",
    settings: dict[str, str] | None = None,
) -> GatewayProcess:
    """A gateway (not started) on `db`, serving `repository`, with its files and log in `work`.

    It runs in `work` (no config.yaml there), so a developer's config cannot change what is
    measured; the API key variable is removed, and the price resolver is off (it would call Yahoo). `settings`
    adds INVESTIQ_* variables.
    """
    env = isolated_env(
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        INVESTIQ_MODEL_REPOSITORY=str(repository.resolve()),
        INVESTIQ_BACKEND=backend,
        INVESTIQ_PRICE_RESOLVE_EVERY_S="0",
        INVESTIQ_DATA_DIR=str(work / "data"),
        INVESTIQ_LOGS_DIR=str(work / "logs"),
    )
    if triton_url is not None:
        env["INVESTIQ_TRITON_URL"] = triton_url
    env.update(settings or {})
    return GatewayProcess(db, work / log_name, env=env, cwd=work)
