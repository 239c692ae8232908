"""`investiq train|evaluate|export patchtst`: the price model's command line (logic: investiq/ops/patchtst.py)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import click

from investiq.cli.options import config_option, csv_option, data_options, model_dir_option, settings_from
from investiq.core.artifacts import META, METRICS
from investiq.core.atomic import foreign_to
from investiq.core.market import Source
from investiq.core.patchtst import ONNX_FILE, TrainConfig
from investiq.ops import patchtst as ops
from investiq.ops.lifecycle import RolloutError, exclusive, export_and_serve


def _default(name: str) -> str:
    return f"(default: {getattr(TrainConfig, name)})"


def _trained_here(folder: Path) -> bool:
    """`folder` is an earlier output of `train patchtst` (its metrics.json, no exported graph)."""
    return (folder / METRICS).is_file() and not (folder / ONNX_FILE).exists()


@click.command("patchtst")
@config_option
@data_options
@click.option(
    "--epochs",
    type=click.IntRange(1),
    default=None,
    help="Most epochs (early stopping applies) " + _default("epochs"),
)
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=None,
    help="Windows per optimisation step " + _default("batch_size"),
)
@click.option(
    "--learning-rate",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="AdamW learning rate " + _default("learning_rate"),
)
@click.option(
    "--context-length",
    type=click.IntRange(16),
    default=None,
    help="Bars the model sees " + _default("context_length"),
)
@click.option(
    "--prediction-length",
    type=click.IntRange(1),
    default=None,
    help="Bars it forecasts " + _default("prediction_length"),
)
@click.option(
    "--patience", type=click.IntRange(1), default=None, help="Early-stopping patience " + _default("patience")
)
@click.option(
    "--window-stride",
    type=click.IntRange(1),
    default=None,
    help="Use every k-th training window (faster on long daily histories) " + _default("window_stride"),
)
@click.option(
    "--output-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where the trained model goes (default: MODELS_DIR/patchtst).",
)
def train_patchtst(
    config: Path | None,
    symbols: tuple[str, ...],
    source: Source | None,
    csv_path: Path | None,
    days: int | None,
    interval: str | None,
    output_dir: Path | None,
    **hyper: Any,
) -> None:
    """Train PatchTST (paper's PatchTST/64 shape) with a chronological split and early stopping.

    Training, validation and test follow one another at dates shared by every symbol (by default validation
    from where the last 30% of all the symbols' bars begin, test from the last 15%), so no symbol validates on
    days another trained on.

    With several GPUs visible, it restarts itself under torchrun: data-parallel over all of them."""
    command = ops.torchrun_command(sys.argv[1:])
    if command is not None:
        click.echo("several GPUs visible: data-parallel training under torchrun")
        raise SystemExit(ops.relaunch(command))
    settings = settings_from(config)
    bars = ops.choose_bars(settings, source, symbols, days, interval, csv_path, log=click.echo)
    out = ops.model_dir(settings, output_dir)
    # before the training, not after it; an exported version holds artifact.json too (`--output-dir
    # model_repository/patchtst/2` would have replaced a version Triton serves, a review)
    if (problem := foreign_to(out, META, _trained_here)) is not None:
        raise click.BadParameter(problem, param_hint="--output-dir")
    metrics = ops.train_model(settings, ops.config_for(bars, **hyper), out, click.echo)
    curve = metrics.get("curve") or []
    if curve:  # the weights kept are the best epoch's, not the last one's
        best = min(curve, key=lambda epoch: epoch["val_loss"])
        click.echo(f"best validation loss {best['val_loss']:.3e} at epoch {best['epoch']} of {len(curve)} (kept)")
    where = shlex.quote(str(out))
    click.echo(
        f"next: judge it with `investiq evaluate patchtst --model-dir {where}`, serve it with "
        f"`investiq export patchtst --model-dir {where}` (a running gateway switches to it)"
    )


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
@click.option(
    "--allow-short/--long-only",
    default=False,
    show_default=True,
    help="Backtest: short when P(up) < 0.5 (else flat; flat at exactly 0.5, no call).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Report folder (default: MODEL_DIR/evaluation).",
)
@csv_option(
    help="The CSV of a model trained from one (default: the file recorded at training).",
)
@click.option(
    "--garch-dist",
    type=click.Choice(["t", "normal"]),
    default="t",
    show_default=True,
    help="Innovations of the GARCH(1,1) interval baseline: Student-t or Normal.",
)
def evaluate_patchtst(
    config: Path | None,
    model_dir: Path | None,
    cost_bps: float,
    allow_short: bool,
    out: Path | None,
    csv_path: Path | None,
    garch_dist: str,
) -> None:
    """Judge a trained PatchTST on its held-out test bars against naive baselines, per symbol and pooled.

    \b
    Writes into --out (default MODEL_DIR/evaluation):
      report.md     a headline (pooled MAE ratio to the random walk with its 95% CI, symbols
                    significantly worse than it, Brier skill, 80%/90% coverage vs nominal and
                    GARCH, hit rate vs always-up, what validation chose), what cleaning
                    the bars found (split-like jumps, rows dropped, gaps), then the tables
      report.json   every figure: point error (MAE/MSE ratios to the random walk and drift,
                    paired block-bootstrap CIs), P(up) Brier score and skill vs the served
                    base and the training up-rate, reliability bins, interval coverage and width by step for the
                    model, GARCH(1,1) and the empirical-volatility random walk, pinball loss,
                    direction hit rates (sign of the median, P(up) > 0.5) with
                    Pesaran-Timmermann, and the backtest of the one-step P(up) call
      *.png         mae_ratio and brier_skill (forest plots, one row per symbol), coverage
                    (by horizon step, with nominal lines), reliability (h1 and hH), hit_rate,
                    equity (small multiples vs buy-and-hold, net of costs)
    """
    from training.evaluate_report import render

    settings = settings_from(config)
    directory = ops.model_dir(settings, model_dir)
    report = ops.evaluate_model(settings, directory, cost_bps, allow_short, out, click.echo, csv_path, garch_dist)
    click.echo(headline(render(report)))


def headline(markdown: str) -> str:
    """The report up to its first table section: the headline and the bars met, and the data warnings where there
    are any; report.md holds the tables (all 131 lines of them on four symbols went to the terminal)."""
    sections = markdown.split("\n## ")
    first = 3 if len(sections) > 2 and sections[2].startswith("Data warnings") else 2
    shown = "\n## ".join(sections[:first])
    return shown if len(sections) <= first else shown.rstrip() + "\n\n(the tables are in report.md)"


@click.command("patchtst")
@config_option
@model_dir_option
@click.option(
    "--repository",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Model repository (default: setting model_repository).",
)
def export_patchtst(config: Path | None, model_dir: Path | None, repository: Path | None) -> None:
    """PatchTST -> ONNX (dynamic batch), validated against PyTorch, installed as the next numbered version.

    It goes to REPOSITORY/patchtst/<n> (numbers are never reused; re-exporting the serving weights replaces that
    version); the newest version serves: a running gateway switches to it (as `investiq models promote` does),
    else it serves from the next start."""
    settings = settings_from(config, model_repository=repository)
    directory = ops.model_dir(settings, model_dir)
    try:  # as `models promote` does, under its lock: the running gateway serves it now, or it must load
        with exclusive(settings):
            export_and_serve(settings, lambda: ops.export_model(settings, directory, click.echo), click.echo)
    except RolloutError as exc:
        raise click.ClickException(
            f"exported, but the stack refused it (a new version was retired again, above): {exc}. `investiq "
            "models list` shows the versions; `investiq models promote` serves another"
        ) from None
