"""`investiq`: the command line of the stack. Thin: it loads settings and calls the packages."""

from __future__ import annotations

import json
import logging
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


@click.group(
    name="investiq", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
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
    """Prepare whatever is missing (journal tables), then serve: the one-command start."""
    settings = settings_from(config, **flags)
    version = _init_journal(settings)
    click.echo(f"journal ready: {settings.db_path} (schema version {version})")
    _serve(settings, log_level)


def _serve(settings: Settings, log_level: str) -> None:
    import uvicorn

    from gateway import create_app
    from gateway.wiring import StartupError, build_backend

    _init_journal(settings)  # clear errors before uvicorn starts, not a traceback inside it
    try:
        backend = build_backend(settings)
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    key = "on (X-API-Key required)" if settings.api_key else f"off (set {settings.api_key_env} to enable)"
    click.echo(
        f"InvestIQ gateway {__version__} on http://{settings.host}:{settings.port}  "
        f"journal={settings.db_path}  api key {key}"
    )
    uvicorn.run(create_app(settings, backend), host=settings.host, port=settings.port, log_level=log_level)


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


@main.group()
def export() -> None:
    """Export trained networks to validated ONNX in the model repository (needs the `train` extra)."""


@export.command("finbert")
@config_option
@click.option(
    "--source", default=None, help="Hugging Face model id or directory (default: setting finbert_model)."
)
@click.option(
    "--repository",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Model repository (default: setting model_repository).",
)
@click.option(
    "--quantize/--no-quantize", default=None, help="Also write the INT8 variant (default: setting quantize)."
)
def export_finbert_command(
    config: Path | None, source: str | None, repository: Path | None, quantize: bool | None
) -> None:
    """FinBERT -> ONNX fp32 (+ dynamic INT8), validated against PyTorch, installed atomically
    into REPOSITORY/finbert_model/1 with its tokenizer and label order."""
    settings = settings_from(config, model_repository=repository, quantize=quantize)
    from export.finbert import ExportError, WeightsError, export_finbert

    try:
        export_finbert(
            source or settings.finbert_model,
            settings.model_repository,
            quantize=settings.quantize,
            log=click.echo,
        )
    except (ExportError, WeightsError) as exc:
        raise click.ClickException(str(exc)) from None


@main.group()
def train() -> None:
    """Train or fine-tune the networks (needs the `train` extra)."""


@train.command("finbert")
@click.option(
    "--dataset",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="CSV with columns text,label (positive, negative, neutral).",
)
@click.option(
    "--output-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("models/finbert-tuned"),
    show_default=True,
    help="Where the fine-tuned Hugging Face directory goes.",
)
@click.option(
    "--base", default="ProsusAI/finbert", show_default=True, help="Model id or directory to start from."
)
@click.option("--epochs", type=click.IntRange(1), default=3, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=16, show_default=True)
@click.option("--learning-rate", type=click.FloatRange(0, min_open=True), default=2e-5, show_default=True)
@click.option("--val-fraction", type=click.FloatRange(0, 0.9, min_open=True), default=0.2, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def train_finbert_command(
    dataset: Path,
    output_dir: Path,
    base: str,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    val_fraction: float,
    seed: int,
) -> None:
    """Fine-tune FinBERT: stratified split, accuracy and macro-F1 per epoch, best epoch saved."""
    from investiq.finbert import WeightsError
    from training.finbert import DatasetError, TrainConfig, fine_tune

    config = TrainConfig(
        base=base,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        val_fraction=val_fraction,
        seed=seed,
    )
    try:
        fine_tune(dataset, output_dir, config, log=click.echo)
    except (DatasetError, WeightsError) as exc:
        raise click.ClickException(str(exc)) from None
