"""`investiq triton start|stop|status`: a local Triton server without Docker."""

from __future__ import annotations

import json
from pathlib import Path

import click

from investiq.cli.options import config_option, settings_from
from investiq.core.finbert import FINBERT, FINBERT_MODEL
from investiq.core.patchtst import PATCHTST
from investiq.core.settings import Settings
from investiq.ops.triton_server import TritonPorts, work_dir


@click.group()
def triton() -> None:
    """A local Triton server (the tritonserver of nvidia-pytriton, cpu flavour), without Docker."""


def _triton(config: Path | None) -> tuple[Settings, TritonPorts, Path]:
    settings = settings_from(config)
    return settings, TritonPorts.from_settings(settings), work_dir(settings)


@triton.command("start")
@config_option
def triton_start(config: Path | None) -> None:
    """Start tritonserver on the model repository; wait until /v2/health/ready. Log: LOGS_DIR/triton/triton.log."""
    from investiq.ops.triton_server import TritonError, start

    settings, ports, work = _triton(config)
    try:
        pid = start(settings.model_repository, ports, work, server_env=settings.triton_env)
    except TritonError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Triton ready (PID {pid}): HTTP :{ports.http}, gRPC :{ports.grpc}, metrics :{ports.metrics}")
    click.echo("serve through it with: investiq serve --backend triton")


@triton.command("stop")
@config_option
def triton_stop(config: Path | None) -> None:
    """Stop the local Triton server (SIGTERM, then SIGKILL after 30 s)."""
    from investiq.ops.triton_server import stop

    _, _, work = _triton(config)
    click.echo("stopped" if stop(work) else "Triton was not running")


@triton.command("status")
@config_option
def triton_status(config: Path | None) -> None:
    """Whether the local Triton server runs, is ready, and which models are ready."""
    from investiq.ops.triton_server import ready, running

    _, ports, work = _triton(config)
    pid = running(work)
    models = {m: ready(ports, m) for m in (FINBERT, FINBERT_MODEL, PATCHTST)}
    click.echo(json.dumps({"pid": pid, "ready": ready(ports), "models": models}, indent=2))
    if pid is None:
        raise SystemExit(1)
