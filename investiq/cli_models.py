"""`investiq export|train|bench`: the commands that need the `train` extra (PyTorch, transformers)."""

from __future__ import annotations

from pathlib import Path

import click

from investiq.cli import config_option, settings_from


@click.group()
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


@click.group()
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
@click.option("--base", default="ProsusAI/finbert", show_default=True, help="Model id or directory to start from.")
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


@click.group()
def evaluate() -> None:
    """Evaluate trained models on held-out data against baselines (needs the `train` extra)."""


@click.group()
def bench() -> None:
    """Benchmarks that print figures and record them (benchmarks/results/); not tests."""


@bench.command("finbert")
@click.option(
    "--source", default=None, help="Real FinBERT directory or id (default: BERT-base shape, random weights)."
)
@click.option(
    "--runs", type=click.IntRange(10), default=200, show_default=True, help="Single-text calls per path."
)
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)
@click.option("--concurrency", type=click.IntRange(1), default=16, show_default=True, help="HTTP clients at once.")
@click.option(
    "--work-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("models/bench"),
    show_default=True,
    help="Where the benchmark model and its export are kept between runs.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("benchmarks/results"),
    show_default=True,
)
def bench_finbert(
    source: str | None, runs: int, batch_size: int, concurrency: int, work_dir: Path, out: Path
) -> None:
    """PyTorch eager vs ONNX Runtime fp32 vs INT8 vs the HTTP gateway: p50/p99 and texts/s, in one run."""
    from benchmarks.finbert import run

    run(source, work_dir, runs, batch_size, concurrency, out)


@bench.command("gateway")
@click.option("--runs", type=click.IntRange(20), default=300, show_default=True, help="Calls per row.")
@click.option(
    "--work-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("models/bench"),
    show_default=True,
    help="Where the benchmark models and their export are kept between runs.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("benchmarks/results"),
    show_default=True,
)
def bench_gateway(runs: int, work_dir: Path, out: Path) -> None:
    """The gateway's own overhead (HTTP round trip minus model time), PatchTST single and 500 windows in
    one call (in-process and over HTTP), and the journal's cost per prediction."""
    from benchmarks.gateway import run

    run(work_dir, runs, out)


@bench.command("backends")
@config_option
@click.option(
    "--repository",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Model repository with FinBERT and PatchTST exported (default: setting model_repository).",
)
@click.option("--concurrency", type=click.IntRange(1), multiple=True, default=(1, 4, 16), show_default=True)
@click.option("--seconds", type=click.FloatRange(1), default=10.0, show_default=True, help="Per point.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("benchmarks/results"),
    show_default=True,
)
def bench_backends(
    config: Path | None, repository: Path | None, concurrency: tuple[int, ...], seconds: float, out: Path
) -> None:
    """Embedded ONNX Runtime vs a local Triton (started here), by concurrency: requests/s, p50/p95/p99."""
    from benchmarks.backends import run

    settings = settings_from(config, model_repository=repository)
    run(settings.model_repository, list(concurrency), seconds, out, Path("logs/triton-bench"))
