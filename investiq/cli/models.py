"""`investiq export|train|bench`: the commands that need the `train` extra (PyTorch, transformers)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import click

from investiq.cli.options import ListedGroup, config_option, settings_from
from investiq.core.artifacts import METRICS
from investiq.core.atomic import foreign_to
from training.finbert import FinetuneConfig, fine_tune


def _default(name: str) -> str:
    return f"(default: {getattr(FinetuneConfig, name)})"


@click.group(cls=ListedGroup)
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
    from export.finbert import export_finbert
    from investiq.ops.service import running

    settings = settings_from(config, model_repository=repository, quantize=quantize)
    export_finbert(
        source or settings.finbert_model, settings.model_repository, quantize=settings.quantize, log=click.echo
    )
    # A gateway reads FinBERT at start only: one already running kept answering with the lexicon (or the old
    # FinBERT) and said "run `investiq export finbert`" after it was done (a new user's review).
    pid = running(settings)
    click.echo(
        f"the gateway running now (PID {pid}) serves it after a restart: `investiq stop && investiq start`"
        if pid is not None
        else "a gateway serves it from its next start (one started by hand: restart it)"
    )


@click.group(cls=ListedGroup)
def train() -> None:
    """Train or fine-tune the networks (needs the `train` extra)."""


@train.command("finbert")
@config_option
@click.option(
    "--dataset",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="Labeled texts (label: positive, negative or neutral), in any form `investiq evaluate finbert --csv` "
    "reads: a CSV with a text,label header, or Financial PhraseBank's all-data.csv or Sentences_*.txt as "
    "published. Each text counts once.",
)
@click.option(
    "--output-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where the fine-tuned Hugging Face directory goes (default: MODELS_DIR/finbert-tuned).",
)
@click.option("--base", default=None, help="Model id or directory to start from (default: setting finbert_model).")
@click.option(
    "--epochs", type=click.IntRange(1), default=None, help=f"Passes over the training split {_default('epochs')}"
)
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=None,
    help=f"Texts per optimisation step {_default('batch_size')}",
)
@click.option(
    "--learning-rate",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help=f"AdamW learning rate {_default('learning_rate')}",
)
@click.option(
    "--val-fraction",
    type=click.FloatRange(0, 0.9, min_open=True),
    default=None,
    help=f"Share of each label held out for validation {_default('val_fraction')}",
)
@click.option(
    "--seed", type=int, default=None, help=f"Seed of the split, the shuffling and dropout {_default('seed')}"
)
def train_finbert_command(
    config: Path | None, dataset: Path, output_dir: Path | None, base: str | None, **hyper: Any
) -> None:
    """Fine-tune FinBERT: stratified split, accuracy and macro-F1 per epoch, best epoch saved."""
    settings = settings_from(config)
    chosen = {k: v for k, v in hyper.items() if v is not None}
    tuning = FinetuneConfig(base=base or settings.finbert_model, **chosen)
    out = output_dir or settings.models_dir / "finbert-tuned"
    # a Hugging Face model folder holds config.json; one this command wrote, metrics.json too (`--output-dir
    # models/finbert` would have replaced the downloaded base model)
    if (problem := foreign_to(out, "config.json", lambda folder: (folder / METRICS).is_file())) is not None:
        raise click.BadParameter(problem, param_hint="--output-dir")
    fine_tune(dataset, out, tuning, log=click.echo)


@click.group(cls=ListedGroup)
def evaluate() -> None:
    """Evaluate models on held-out data against baselines (patchtst needs the `train` extra)."""


WORK_DIR = click.option(
    "--work-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where the benchmark models and their exports are kept between runs (default: MODELS_DIR/bench).",
)
OUT = click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("benchmarks/results"),
    show_default=True,
    help="Results folder (JSON, markdown, PNG).",
)


def _work_dir(given: Path | None) -> Path:
    return given or settings_from(None).models_dir / "bench"


@click.group(cls=ListedGroup, invoke_without_command=True)
@OUT
@WORK_DIR
@click.option("--seconds", type=click.FloatRange(0.5), default=5.0, show_default=True, help="Per sweep point.")
@click.option("--runs", type=click.IntRange(20), default=300, show_default=True, help="Calls per latency row.")
@click.option("--triton/--no-triton", default=True, show_default=True, help="Include embedded vs local Triton.")
@click.pass_context
def bench(ctx: click.Context, out: Path, work_dir: Path | None, seconds: float, runs: int, triton: bool) -> None:
    """Benchmarks that print figures and record them (benchmarks/results/); not tests.

    Without a subcommand: all of them in one run (FinBERT paths, scaling, gateway overhead and
    PatchTST, embedded vs Triton, GEMM headroom), then plots and summary.md against the targets."""
    if ctx.invoked_subcommand is None:
        from benchmarks.suite import run

        run(out, _work_dir(work_dir), seconds, runs, triton)


@bench.command("summary")
@OUT
def bench_summary(out: Path) -> None:
    """summary.md against the targets, from the results already in --out (after a single benchmark rewrote one
    of them: a summary left as it was said "missed" of a figure its results said met)."""
    from benchmarks.suite import SOURCES, write_summary

    if missing := [name for name in SOURCES if not (out / name).is_file()]:  # a FileNotFoundError traceback
        runs = ", ".join(
            f"`{shlex.join(['investiq', 'bench', Path(name).stem, '--out', str(out)])}`" for name in missing
        )
        raise click.ClickException(f"{out} has no {', '.join(missing)}: run {runs} first (or `investiq bench`)")
    write_summary(out)


@bench.command("finbert")
@click.option(
    "--source", default=None, help="Real FinBERT directory or id (default: BERT-base shape, random weights)."
)
@click.option(
    "--runs", type=click.IntRange(10), default=200, show_default=True, help="Single-text calls per path."
)
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=32,
    show_default=True,
    help="Texts per call in the throughput column.",
)
@click.option("--concurrency", type=click.IntRange(1), default=16, show_default=True, help="HTTP clients at once.")
@WORK_DIR
@OUT
def bench_finbert(
    source: str | None, runs: int, batch_size: int, concurrency: int, work_dir: Path | None, out: Path
) -> None:
    """PyTorch eager vs ONNX Runtime fp32 vs INT8 vs the HTTP gateway: p50/p99 and texts/s, in one run."""
    from benchmarks.finbert import run

    run(source, _work_dir(work_dir), runs, batch_size, concurrency, out)


@bench.command("patchtst")
@click.option(
    "--runs", type=click.IntRange(8), default=200, show_default=True, help="Single-window calls per runtime."
)
@click.option("--batch", type=click.IntRange(1), default=256, show_default=True, help="Windows per batched call.")
@click.option(
    "--batch-runs", type=click.IntRange(1), default=12, show_default=True, help="Batched calls per runtime."
)
@WORK_DIR
@OUT
def bench_patchtst(runs: int, batch: int, batch_runs: int, work_dir: Path | None, out: Path) -> None:
    """PatchTST runtimes side by side on this CPU: 1-window latency, windows/s and accuracy against PyTorch.

    The graph exported before issue 18 vs today's portable and fused graphs, thread settings, INT8 and OpenVINO
    (when installed), each at one window and at --batch; then the per-operator profile (patchtst.md,
    patchtst_profile.md)."""
    from benchmarks.patchtst import run

    run(_work_dir(work_dir), runs, batch, batch_runs, out)


@bench.command("gateway")
@click.option("--runs", type=click.IntRange(20), default=300, show_default=True, help="Calls per row.")
@click.option(
    "--against",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Another checkout of this project (e.g. `git worktree add ../before HEAD~1`): its gateway runs beside "
    "this one on the same models, and one headline and one window are timed on both in alternating blocks.",
)
@WORK_DIR
@OUT
def bench_gateway(runs: int, against: Path | None, work_dir: Path | None, out: Path) -> None:
    """The gateway's own cost: its overhead per request, concurrency against batching, the journal's cost.

    The overhead is the HTTP round trip minus model time; then PatchTST single and 500 windows in one call
    (in-process and over HTTP), 16 clients against batched headlines, price forecasts beside bursts of
    headlines, and the journal's cost per prediction; with --against, this checkout's round trips against
    another's, side by side (a change too small to see between two runs)."""
    from benchmarks.gateway import run

    run(_work_dir(work_dir), runs, out, against.resolve() if against else None)


@bench.command("scaling")
@click.option("--seconds", type=click.FloatRange(0.5), default=5.0, show_default=True, help="Per point.")
@WORK_DIR
@OUT
def bench_scaling(seconds: float, work_dir: Path | None, out: Path) -> None:
    """FinBERT INT8 throughput and p50/p99 by batch size (1-64) and text length (8-128 tokens) in-process,
    and through the gateway by client concurrency (1-64)."""
    from benchmarks.finbert import prepare_in_child
    from benchmarks.scaling import run

    _, repo = prepare_in_child(None, _work_dir(work_dir))
    run(repo, seconds=seconds, out=out)


@bench.command("gemm")
@OUT
def bench_gemm(out: Path) -> None:
    """The machine's matrix-multiply peak (numpy fp32, ONNX Runtime fp32 and INT8) and, from OUT/finbert.json
    when present, the share of it each FinBERT path achieves."""
    from benchmarks import gemm, plots

    gemm.run(plots.load(out / "finbert.json"), out=out)


@bench.command("backends")
@config_option
@click.option(
    "--repository",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Model repository with FinBERT and PatchTST exported (default: setting model_repository).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1),
    multiple=True,
    default=(1, 4, 16),
    show_default=True,
    help="Clients at once, one sweep point each (repeat the option).",
)
@click.option("--seconds", type=click.FloatRange(1), default=10.0, show_default=True, help="Per point.")
@OUT
def bench_backends(
    config: Path | None, repository: Path | None, concurrency: tuple[int, ...], seconds: float, out: Path
) -> None:
    """Embedded ONNX Runtime vs a local Triton (started here), by concurrency: requests/s, p50/p95/p99."""
    from benchmarks.backends import run

    settings = settings_from(config, model_repository=repository)
    run(settings.model_repository, list(concurrency), seconds, out, settings.logs_dir / "triton-bench")
