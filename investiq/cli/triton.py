"""`investiq triton start|stop|status`: a local Triton server without Docker."""

from __future__ import annotations

import json
from pathlib import Path

import click

from investiq.cli.options import ListedGroup, config_option, settings_from
from investiq.core.settings import Settings
from investiq.ops.triton_server import TritonPorts, work_dir


@click.group(cls=ListedGroup)
def triton() -> None:
    """A local Triton server (the tritonserver of nvidia-pytriton, cpu flavour), without Docker."""


def _triton(config: Path | None) -> tuple[Settings, TritonPorts, Path]:
    settings = settings_from(config)
    return settings, TritonPorts.from_settings(settings), work_dir(settings)


@triton.command("start")
@config_option
def triton_start(config: Path | None) -> None:
    """Start tritonserver on the model repository; wait until /v2/health/ready, then name each model that is not
    ready (the server runs without it). Log: LOGS_DIR/triton/triton.log."""
    from investiq.ops.triton_server import TritonError, configured, log_path, models, not_ready, start

    settings, ports, work = _triton(config)
    try:
        if settings.model_repository.is_dir() and (given := configured(settings.model_repository)):
            click.echo(f"gave {', '.join(given)} the checkout's Triton config (the exports had none)")
        pid = start(settings.model_repository, ports, work, server_env=settings.triton_env)
    except TritonError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Triton ready (PID {pid}): HTTP :{ports.http}, gRPC :{ports.grpc}, metrics :{ports.metrics}")
    if failed := not_ready(models(ports)):
        click.echo(f"but {len(failed)} model(s) failed to load and do not serve (see {log_path(work)}):")
        for model, reason in sorted(failed.items()):
            click.echo(f"  {model}: {reason}")
    click.echo("serve through it with: investiq serve --backend triton")


@triton.command("stop")
@config_option
def triton_stop(config: Path | None) -> None:
    """Stop the local Triton server (SIGTERM, then SIGKILL after 30 s). Exits 1, naming it, where none started by
    `investiq triton start` runs but another Triton answers on the settings' HTTP port (compose's, or one started
    from another directory): it said only "not running", and `triton start` then found the port taken."""
    from investiq.ops.triton_server import ready, stop

    _, ports, work = _triton(config)
    if stop(work):
        click.echo("stopped")
    elif ready(ports):
        raise click.ClickException(
            f"no Triton started by `investiq triton start` runs, but another one answers on HTTP port "
            f"{ports.http}; stop it where it was started (`docker compose down` for compose's, its own "
            "`investiq triton stop` with the settings it was started with, or the process that holds the port)"
        )
    else:
        click.echo("Triton was not running")


@triton.command("status")
@config_option
def triton_status(config: Path | None) -> None:
    """Whether the local Triton server runs, is ready, and which models of its repository are ready (and why not);
    exits 1 unless it runs with every model ready."""
    from investiq.ops.triton_server import log_path, models, not_ready, ready, running

    _, ports, work = _triton(config)
    pid, up, found = running(work), ready(ports), models(ports)
    failed = not_ready(found)
    served = {model: why is None for model, why in (found or {}).items()}
    report: dict[str, object] = {"pid": pid, "ready": up, "models": served}
    if failed:
        report |= {"not_ready": failed, "log": str(log_path(work))}
    click.echo(json.dumps(report, indent=2))
    if pid is None or not up or found is None or failed:
        raise SystemExit(1)
