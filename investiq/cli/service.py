"""`investiq start|stop|status`: the stack in the background, without systemd (see deploy/systemd for it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from investiq.cli.options import config_option, server_options, settings_from
from investiq.ops import service, serving, triton_server


@click.command()
@server_options
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(min=1),
    default=service.START_WAIT_S,
    show_default=True,
    help="Seconds to wait for the gateway (and Triton) to answer.",
)
def start(config: Path | None, log_level: str, wait_s: float, **flags: Any) -> None:
    """Start the gateway in the background (`investiq serve` with these flags), with the local Triton
    first when the backend is triton; return once GET /health answers. Logs and PID file: LOGS_DIR."""
    settings = settings_from(config, **flags)
    try:
        started = service.start(settings, config, log_level, wait_s, echo=click.echo)
    except service.ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    if started.triton_pid is not None:
        log = triton_server.work_dir(settings) / "triton.log"
        click.echo(f"Triton running (PID {started.triton_pid}), log: {log}")
    click.echo(f"gateway running (PID {started.pid}) on {started.url}")
    click.echo(f"log: {started.log}; stop with `investiq stop`, check with `investiq status`")


@click.command()
@config_option
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0),
    default=service.STOP_WAIT_S,
    show_default=True,
    help="Seconds to wait after SIGTERM before SIGKILL.",
)
def stop(config: Path | None, timeout_s: float) -> None:
    """Stop the gateway that `investiq start` started (SIGTERM: requests drain and queued journal writes
    are flushed; SIGKILL after --timeout), then the local Triton if that start started it (one it found
    running is left: `investiq triton stop`). A gateway of `investiq up` or `serve` stops with Ctrl-C in its
    terminal: then `stop` names it, and exits 1 when it serves on the port `start` would take, so that
    `investiq stop && investiq start` stops there, not at start's "something already listens" (a new user's
    walkthrough)."""
    settings = settings_from(config)
    stopped = service.stop(settings, timeout_s)
    if stopped.gateway_pid is None and not stopped.triton:
        others = {r["url"]: r["pid"] for r in serving.serving_gateways(settings)}
        # a gateway of a version before serving_record records nothing: found where the settings say it serves
        if not others and service.health(serving.gateway_url(settings), 2.0) is not None:
            others = {serving.gateway_url(settings): serving.foreground_pid(settings)}
        for url, pid in others.items():
            how = f"Ctrl-C in its terminal, or `kill -TERM {pid}`" if pid is not None else "Ctrl-C in its terminal"
            click.echo(
                f"not running: no gateway started by `investiq start`; the one answering on "
                f"{url} (`investiq up` or `serve`) stops with {how}"
            )
        if not others:
            click.echo("not running")
            return
        if any(urlsplit(url).port == settings.port for url in others):  # on start's port: a start would fail
            raise SystemExit(1)
    if stopped.gateway_pid is not None:
        how = "stopped" if stopped.graceful else f"killed after {timeout_s:.0f} s (journal writes may be lost)"
        click.echo(f"gateway (PID {stopped.gateway_pid}) {how}")
    if stopped.triton:
        click.echo("Triton stopped")
    if stopped.triton_left is not None:
        click.echo(
            f"Triton (PID {stopped.triton_left}) left running: `investiq start` found it running, did not start "
            "it; `investiq triton stop` stops it"
        )


@click.command()
@config_option
@click.option("--host", default=None, help="Look for a gateway on this interface (default: setting host).")
@click.option("--port", type=int, default=None, help="Look for a gateway on this port (default: setting port).")
def status(config: Path | None, host: str | None, port: int | None) -> None:
    """The gateway (PID, URL, /health status) and the local Triton when the backend is triton, as JSON:
    the gateway `investiq start` started, else one that `investiq up` or `serve` runs in a terminal
    where the settings (or --host/--port) say it serves. Exit status 0 when all of it runs and answers and the
    gateway's /health is not "unhealthy" (the journal or the Bayesian service down), 1 otherwise."""
    explicit = host is not None or port is not None
    report, ok = service.status(settings_from(config, host=host, port=port), use_record=not explicit)
    click.echo(json.dumps(report, indent=2))
    if not ok:
        raise SystemExit(1)
