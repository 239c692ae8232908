"""`investiq`: the command line of the stack. Thin: it loads settings and calls the packages."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from investiq import __version__
from investiq.settings import Settings, SettingsError, load_settings, render_defaults

F = TypeVar("F", bound=Callable[..., Any])


_FILE = click.Path(path_type=Path, dir_okay=False)
config_option = click.option(
    "--config",
    type=_FILE,
    default=None,
    help="Settings file (default: ./config.yaml if present, or $INVESTIQ_CONFIG).",
)
db_option = click.option(
    "--db", "db_path", type=_FILE, default=None, help="SQLite journal (overrides db_path / INVESTIQ_DB_PATH)."
)


def server_options(func: F) -> F:
    """The options shared by `up` and `serve`."""
    func = click.option(
        "--log-level",
        default="info",
        show_default=True,
        type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    )(func)
    func = click.option(
        "--backend",
        type=click.Choice(["embedded", "triton"]),
        default=None,
        help="Inference backend (overrides `backend`).",
    )(func)
    func = db_option(func)
    func = click.option("--port", type=int, default=None, help="TCP port (default 8080).")(func)
    func = click.option("--host", default=None, help="Interface to bind (default 127.0.0.1).")(func)
    return config_option(func)


def settings_from(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, overrides)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


@click.group(name="investiq", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="investiq")
def main() -> None:
    """InvestIQ ML: sentiment, price direction and strategy weights for a trading agent.

    Settings come from config.yaml, then INVESTIQ_* environment variables, then flags.
    Start with `investiq up`; every command has --help.
    """


@main.command()
@server_options
def serve(config: Path | None, log_level: str, **flags: Any) -> None:
    """Serve the gateway (HTTP API on HOST:PORT, journal in the SQLite file)."""
    _serve(settings_from(config, **flags), log_level)


@main.command()
@server_options
def up(config: Path | None, log_level: str, **flags: Any) -> None:
    """Prepare what is missing (journal, FinBERT export when its weights are at hand), then serve."""
    settings = settings_from(config, **flags)
    version = _init_journal(settings)
    click.echo(f"journal ready: {settings.db_path} (schema version {version})")
    _prepare_finbert(settings)
    _prepare_patchtst(settings)
    _serve(settings, log_level)


def _prepare_finbert(settings: Settings) -> None:
    """Export FinBERT if it is wanted, missing, and its weights can be had; else say why not."""
    from investiq.artifacts import META
    from investiq.finbert import weights_reachable

    target = settings.model_repository / "finbert_model" / "1"
    if settings.sentiment_model != "finbert" or (target / META).is_file():
        return
    fallback = "sentiment is served by the VADER lexicon until FinBERT is exported"
    try:
        import torch  # noqa: F401  (the `train` extra)
    except ImportError:
        click.echo(f"FinBERT is not exported and PyTorch is missing (pip install -e '.[train]'): {fallback}")
        return
    reason = weights_reachable(settings.finbert_model)
    if reason is not None:
        click.echo(f"FinBERT is not exported: {reason}. {fallback} (see `investiq export finbert --help`)")
        return
    from export.finbert import ExportError, WeightsError, export_finbert

    click.echo(f"exporting FinBERT from {settings.finbert_model} (first start only)")
    try:
        export_finbert(
            settings.finbert_model, settings.model_repository, quantize=settings.quantize, log=click.echo
        )
    except (ExportError, WeightsError) as exc:
        click.echo(f"FinBERT export failed: {exc}. {fallback}")


def _serve(settings: Settings, log_level: str) -> None:
    import uvicorn

    from gateway import create_app
    from gateway.logs import configure_logging
    from gateway.wiring import StartupError, build_backend

    configure_logging(log_level, settings.log_format)  # first: loading the backend may log warnings
    _init_journal(settings)  # clear errors before uvicorn starts, not a traceback inside it
    try:
        backend = build_backend(settings)
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None
    key = "on (X-API-Key required)" if settings.api_key else f"off (set {settings.api_key_env} to enable)"
    click.echo(
        f"InvestIQ gateway {__version__} on http://{settings.host}:{settings.port}  "
        f"journal={settings.db_path}  api key {key}"
    )
    # log_config=None: uvicorn keeps its hands off logging, so its lines go through our handler;
    # access_log=False: RequestContextMiddleware writes the one access line per request (with its id).
    uvicorn.run(
        create_app(settings, backend),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        log_config=None,
        access_log=False,
    )


def _init_journal(settings: Settings) -> int:
    from gateway.journal import JournalError, migrate, open_journal

    try:
        conn = open_journal(settings.db_path, settings.db_busy_timeout_ms)
    except JournalError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        return migrate(conn)
    finally:
        conn.close()


def _prepare_patchtst(settings: Settings) -> None:
    """Train a quick first PatchTST (configured source, else the offline sample) and export it."""
    from investiq.versions import serving

    if serving(settings.model_repository, "patchtst") is not None:
        return
    try:
        from investiq.cli_patchtst import quick_model
    except ImportError as exc:
        click.echo(
            f"PatchTST is not exported and {exc.name} is missing (pip install -e '.[train]'): /price is down"
        )
        return
    quick_model(settings)


@main.group()
def db() -> None:
    """The SQLite journal shared with the Rust agent."""


@db.command("init")
@config_option
@db_option
def db_init(config: Path | None, db_path: Path | None) -> None:
    """Create the journal's tables, or migrate them to the latest schema."""
    settings = settings_from(config, db_path=db_path)
    version = _init_journal(settings)
    click.echo(f"{settings.db_path}: schema version {version}")


@db.command("status")
@config_option
@db_option
def db_status(config: Path | None, db_path: Path | None) -> None:
    """Print the journal's schema version, journal mode, integrity and row counts as JSON."""
    from gateway.journal import JournalError, connect
    from gateway.journal.schema import status

    settings = settings_from(config, db_path=db_path)
    if not settings.db_path.is_file():
        raise click.ClickException(f"no journal at {settings.db_path}: create it with `investiq db init`")
    try:
        conn = connect(settings.db_path, settings.db_busy_timeout_ms, readonly=True)
    except JournalError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        click.echo(json.dumps({"path": str(settings.db_path), **status(conn)}, indent=2))
    finally:
        conn.close()


@main.command()
@config_option
@db_option
def resolve(config: Path | None, db_path: Path | None) -> None:
    """Score past price forecasts whose horizon has passed against the market (the gateway also does
    this every price_resolve_every_s seconds)."""
    from gateway.journal import JournalWriter
    from gateway.services.resolver import resolve_due
    from training.data import BarCache, fetch_yfinance

    settings = settings_from(config, db_path=db_path)
    _init_journal(settings)
    writer = JournalWriter(settings.db_path, settings.db_busy_timeout_ms)
    writer.start()
    try:
        report = resolve_due(settings.db_path, writer, BarCache(settings.data_dir / "bars"), fetch_yfinance)
    finally:
        writer.close()
    click.echo(f"resolved {report.resolved} forecasts; {report.waiting} due but waiting for bars")
    for symbol, reason in report.errors.items():
        click.echo(f"  {symbol}: {reason}")


@main.group()
def config() -> None:
    """Inspect settings."""


@config.command("show")
@config_option
def config_show(config: Path | None) -> None:
    """Print the effective settings (file < environment) as JSON; the API key is never shown."""
    settings = settings_from(config)
    values = settings.model_dump(mode="json")
    values["api_key"] = "set" if settings.api_key else None
    click.echo(json.dumps(values, indent=2))


@config.command("defaults")
def config_defaults() -> None:
    """Print every setting with its default and description (the committed config.yaml)."""
    click.echo(render_defaults(), nl=False)


def _register() -> None:
    from investiq.cli_lifecycle import models, retrain
    from investiq.cli_models import bench, evaluate, export, train
    from investiq.cli_patchtst import evaluate_patchtst, export_patchtst, train_patchtst
    from investiq.cli_report import report
    from investiq.cli_service import start, status, stop
    from investiq.cli_triton import triton

    for command in (start, stop, status, report):
        main.add_command(command)
    train.add_command(train_patchtst)
    evaluate.add_command(evaluate_patchtst)
    export.add_command(export_patchtst)
    for group in (export, train, evaluate, bench, triton, models, retrain):
        main.add_command(group)


_register()
