"""`investiq train|evaluate|export patchtst`: the price model's command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from investiq.cli import config_option, settings_from
from investiq.settings import Settings
from investiq.versions import retired_root

SOURCES = ["yfinance", "csv", "sample"]
model_dir_option = click.option(
    "--model-dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=Path("models/patchtst"),
    show_default=True,
    help="The trained model (written by `investiq train patchtst`).",
)


def load_series(
    source: str, symbols: tuple[str, ...], days: int, interval: str, cache_dir: Path, csv_path: Path | None
) -> dict[str, tuple[Any, Any]]:
    """symbol -> (closes float64 [n], timestamps [n]); cleaning reported per symbol."""
    from training.data import DataError, as_series, load_bars

    try:
        bars = load_bars(
            source,  # type: ignore[arg-type]
            symbols,
            days=days,
            interval=interval,
            cache_dir=cache_dir,
            csv_path=csv_path,
        )
    except DataError as exc:
        raise click.ClickException(str(exc)) from None
    for _, report in bars.values():
        click.echo(str(report))
    return as_series(bars)


def data_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--symbols",
                multiple=True,
                default=None,
                help="Symbols, repeated or space-separated (default: SPY QQQ AAPL; sample: SPX NASDAQ).",
            ),
            click.option(
                "--source",
                type=click.Choice(SOURCES),
                default="yfinance",
                show_default=True,
                help="yfinance (cached, incremental), csv (--csv) or sample (real daily S&P 500 / NASDAQ "
                "bars shipped with the `arch` package; offline).",
            ),
            click.option(
                "--csv",
                "csv_path",
                type=click.Path(path_type=Path, dir_okay=False, exists=True),
                default=None,
                help="CSV with timestamp,open,high,low,close,volume (and optionally symbol).",
            ),
            click.option("--days", type=click.IntRange(1), default=60, show_default=True, help="History to use."),
            click.option("--interval", default="15m", show_default=True, help="Bar interval (sample: always 1d)."),
        ]
    ):
        func = option(func)
    return func


def resolve_symbols(symbols: tuple[str, ...], source: str) -> tuple[str, ...]:
    flat = tuple(part for s in symbols for part in s.replace(",", " ").split())
    if flat:
        return flat
    return ("SPX", "NASDAQ") if source == "sample" else ("SPY", "QQQ", "AAPL")


@click.command("patchtst")
@config_option
@data_options
@click.option("--epochs", type=click.IntRange(1), default=50, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--learning-rate", type=click.FloatRange(0, min_open=True), default=1e-4, show_default=True)
@click.option("--context-length", type=click.IntRange(16), default=512, show_default=True)
@click.option("--prediction-length", type=click.IntRange(1), default=12, show_default=True)
@click.option("--transform", type=click.Choice(["log_price", "price"]), default="log_price", show_default=True)
@click.option("--patience", type=click.IntRange(1), default=5, show_default=True, help="Early-stopping patience.")
@click.option(
    "--window-stride",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Use every k-th training window (faster on long daily histories).",
)
@click.option(
    "--output-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("models/patchtst"),
    show_default=True,
)
def train_patchtst(
    config: Path | None,
    symbols: tuple[str, ...],
    source: str,
    csv_path: Path | None,
    days: int,
    interval: str,
    output_dir: Path,
    **hyper: Any,
) -> None:
    """Train PatchTST (paper's PatchTST/64 shape) with a chronological split and early stopping.

    With several GPUs visible, it restarts itself under torchrun: data-parallel over all of them."""
    import os
    import subprocess
    import sys

    import torch

    from training.patchtst import TrainConfig, train

    gpus = torch.cuda.device_count()
    if gpus > 1 and "WORLD_SIZE" not in os.environ:
        click.echo(f"{gpus} GPUs visible: data-parallel training under torchrun")
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={gpus}",
            "-m",
            "investiq",
            *sys.argv[1:],
        ]
        raise SystemExit(subprocess.call(cmd))  # noqa: S603 (our own interpreter and arguments)

    settings = settings_from(config)
    if source == "sample":
        interval, days = "1d", max(days, 36500)
    symbols = resolve_symbols(symbols, source)
    series = load_series(source, symbols, days, interval, settings.data_dir / "bars", csv_path)
    cfg = TrainConfig(symbols=symbols, source=source, days=days, interval=interval, **hyper)
    try:
        metrics = train(series, cfg, output_dir, log=click.echo)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"best validation loss {metrics['best_val_loss']:.3e} after {metrics['epochs_run']} epochs")


@click.command("patchtst")
@config_option
@model_dir_option
@click.option(
    "--cost-bps",
    type=click.FloatRange(0),
    default=5.0,
    show_default=True,
    help="Trading cost per unit of turnover, basis points.",
)
@click.option("--allow-short/--long-only", default=False, show_default=True, help="Short on a down signal.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Report folder (default: MODEL_DIR/evaluation).",
)
def evaluate_patchtst(
    config: Path | None, model_dir: Path, cost_bps: float, allow_short: bool, out: Path | None
) -> None:
    """Walk-forward evaluation on the held-out test bars against naive baselines: report.md/.json + PNGs."""
    from training.evaluate import evaluate, render
    from training.patchtst import load_forecaster

    settings = settings_from(config)
    forecaster, meta = load_forecaster(model_dir)
    trained = json.loads((model_dir / "metrics.json").read_text())["config"]
    series = load_series(
        trained["source"],
        tuple(trained["symbols"]),
        trained["days"],
        trained["interval"],
        settings.data_dir / "bars",
        None if trained["source"] != "csv" else Path(trained["csv_path"]),
    )
    split = {k: trained[k] for k in ("val_fraction", "test_fraction")}
    report = evaluate(
        forecaster,
        meta,
        {s: c for s, (c, _) in series.items()},
        split,
        out or model_dir / "evaluation",
        cost_bps,
        allow_short,
    )
    click.echo(render(report))


@click.command("patchtst")
@config_option
@model_dir_option
@click.option(
    "--repository",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Model repository (default: setting model_repository).",
)
def export_patchtst(config: Path | None, model_dir: Path, repository: Path | None) -> None:
    """PatchTST -> ONNX (dynamic batch), validated against PyTorch, into REPOSITORY/patchtst/1."""
    from export.patchtst import ExportError
    from export.patchtst import export_patchtst as run

    settings = settings_from(config, model_repository=repository)
    try:
        run(model_dir, settings.model_repository, log=click.echo, retired=retired_root(settings.models_dir))
    except ExportError as exc:
        raise click.ClickException(str(exc)) from None


def quick_model(settings: Settings) -> None:
    """What `investiq up` does without a price model: a short training run, then export.

    The PatchTST/64 shape with few epochs and every 8th window: a model to serve and replace, not to
    trust (`investiq evaluate patchtst` says how it does). Offline, it falls back to the sample bars."""
    from export.patchtst import export_patchtst as run_export
    from investiq.artifacts import META
    from training.data import DataError, load_bars
    from training.patchtst import TrainConfig, train

    model_dir = settings.models_dir / "patchtst"
    if (model_dir / META).is_file():
        click.echo(f"exporting the trained PatchTST in {model_dir}")
        run_export(model_dir, settings.model_repository, log=click.echo, retired=retired_root(settings.models_dir))
        return
    source, symbols, interval, days = (
        settings.price_source,
        tuple(settings.price_symbols),
        settings.price_interval,
        settings.price_days,
    )
    try:
        load_bars(
            source,
            symbols,
            days=days,
            interval=interval,
            cache_dir=settings.data_dir / "bars",
            csv_path=settings.price_csv,
        )
    except DataError as exc:
        click.echo(
            f"warning: {exc}\nwarning: training the first PatchTST on the offline sample (daily S&P 500 "
            "and NASDAQ bars, 1999-2018) instead: forecasts of other symbols need a retrain on their data"
        )
        source, symbols, interval, days = "sample", ("SPX", "NASDAQ"), "1d", 36500
    click.echo(f"training a quick first PatchTST on {source} {', '.join(symbols)} {interval} (a minute or two)")
    series = load_series(source, symbols, days, interval, settings.data_dir / "bars", settings.price_csv)
    # patience is moot within 2 epochs, but `investiq retrain` trains with this model's configuration
    # (and more epochs): 3, as in the reference run of reports/patchtst-sample, not 1.
    cfg = TrainConfig(
        symbols=symbols, source=source, days=days, interval=interval, epochs=2, patience=3, window_stride=8
    )
    train(series, cfg, model_dir, log=click.echo)
    run_export(model_dir, settings.model_repository, log=click.echo, retired=retired_root(settings.models_dir))
