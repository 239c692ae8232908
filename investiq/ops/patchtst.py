"""The price model's operations: which bars, train, evaluate, export, and the quick first model of `up`.

Every default comes from `Settings` (the price_* fields: the bars `investiq up` trains on) or from
`TrainConfig` (model and optimisation), never from the command line, so `up`, `train patchtst`,
`evaluate patchtst` and `retrain` agree. PyTorch is imported only by the functions that train.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from investiq.core.artifacts import META, METRICS
from investiq.core.bar_files import csv_outline
from investiq.core.errors import DataError
from investiq.core.market import SAMPLE_DAYS, SAMPLE_INTERVAL, SAMPLE_SYMBOLS, Source, as_series, load_bars
from investiq.core.patchtst import PATCHTST, QUICK_WINDOW_STRIDE, PatchTSTMeta, TrainConfig, config_from
from investiq.core.settings import Settings
from investiq.core.versions import retired_root
from investiq.core.yahoo import YahooError

Log = Callable[[str], None]
Series = dict[str, tuple[Any, Any]]  # symbol -> (closes float64 [n], bar times [n])


@dataclass(frozen=True)
class Bars:
    """Which bars a model is trained and judged on."""

    source: Source
    symbols: tuple[str, ...]
    days: int
    interval: str
    csv_path: Path | None = None


# The offline sample (daily S&P 500 and NASDAQ, 1999-2018): all of it, daily.
SAMPLE = Bars("sample", tuple(SAMPLE_SYMBOLS), SAMPLE_DAYS, SAMPLE_INTERVAL)


def _same_file(a: Path | None, b: Path | None) -> bool:
    if a is None or b is None:
        return a is b
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a == b


def choose_bars(
    settings: Settings,
    source: Source | None = None,
    symbols: tuple[str, ...] = (),
    days: int | None = None,
    interval: str | None = None,
    csv_path: Path | None = None,
    log: Log = print,
) -> Bars:
    """The bars named on the command line, the rest from the price_* settings. Symbols may be repeated
    or space/comma separated. The sample is daily and used whole; without symbols it is SPX and NASDAQ. A CSV
    chosen on the command line (the settings name another source, or another file) is the file's to describe: every
    symbol in it, all of its history, and the interval its bars are spaced at, unless given (logged)."""
    if csv_path is not None and source not in (None, "csv"):
        raise DataError(f"--csv {csv_path} names a bar file, --source {source} another source: drop one of them")
    # a file named on the command line is the source meant (it was ignored: Yahoo's bars of the settings' symbols)
    chosen = "csv" if csv_path is not None else source or settings.price_source
    flat = tuple(part for s in symbols for part in s.replace(",", " ").split())
    if chosen == "sample":  # daily bars, used whole: --interval 15m or --days 30 trained on them without a word
        if interval not in (None, SAMPLE_INTERVAL):
            raise DataError(
                f"the sample holds {SAMPLE_INTERVAL} bars: --interval {interval} takes csv or yfinance bars"
            )
        if days is not None and days < SAMPLE_DAYS:
            raise DataError(f"the sample is used whole: --days {days} cuts csv or yfinance bars (drop --days)")
        given = flat or (tuple(settings.price_symbols) if settings.price_source == "sample" else ())
        return replace(SAMPLE, symbols=given or SAMPLE.symbols, days=max(days or 0, SAMPLE_DAYS))
    path = csv_path or settings.price_csv
    # the settings describe a file only where they name it: with price_source csv, another --csv FILE trained on
    # the settings' symbols, interval and 60 days ("no rows for SPY", an audit)
    described = settings.price_source == "csv" and _same_file(path, settings.price_csv)
    if chosen == "csv" and not described and path is not None:
        # the file's outline only where something is not given: with --symbols and --interval, its history was
        # still price_days' 60 days (a review: --csv FILE --symbols X --interval 1d trained on 60 days of FILE)
        found, spacing = csv_outline(path, flat) if not (flat and interval) else (flat, interval)
        log(
            f"{path}: {' '.join(flat or found)} ({'as given' if flat else 'every symbol in the file'}), "
            f"{interval or spacing} bars ({'as given' if interval else 'as the file is spaced'}), "
            f"{f'the last {days} days' if days and days < SAMPLE_DAYS else 'all of its history'}"
        )
        return Bars(chosen, flat or found, days or SAMPLE_DAYS, interval or spacing, path)
    return Bars(
        chosen,
        flat or tuple(settings.price_symbols),
        days or settings.price_days,
        interval or settings.price_interval,
        csv_path or settings.price_csv,
    )


def bars_of(config: TrainConfig) -> Bars:
    """The bars a model about to be trained asks for, as given: load_bars says what is missing (no CSV path)."""
    csv_path = Path(config.csv_path) if config.csv_path else None
    return Bars(config.source, config.symbols, config.days, config.interval, csv_path)  # type: ignore[arg-type]


def trained_bars(config: TrainConfig, csv_path: Path | None = None) -> Bars:
    """The bars a model was trained on, from its recorded configuration (`csv_path` overrides the file). DataError
    for a `csv_path` given for a model trained on other bars (the sample, Yahoo): it was silently ignored, and the
    model judged on its own bars (a review); as `retrain --csv`, refused."""
    bars = bars_of(config)
    if csv_path is not None and config.source != "csv":
        raise DataError(
            f"--csv is for a model trained from a CSV file; this one was trained on {config.source} bars of "
            f"{' '.join(config.symbols)}, and is judged on their held-out part: evaluate without --csv, or train "
            f"a model on the file (`investiq train patchtst --csv {csv_path}`) and evaluate that"
        )
    recorded = bars.csv_path
    if config.source == "csv" and csv_path is None and recorded is None:
        raise DataError("the model was trained from a CSV file that it did not record: pass it with --csv")
    if config.source == "csv" and csv_path is None and recorded is not None and not recorded.is_file():
        raise DataError(f"the model was trained from {recorded}, which is not there now: pass the file with --csv")
    return replace(bars, csv_path=csv_path or recorded)


def load_series(settings: Settings, bars: Bars, log: Log) -> Series:
    """The closes of `bars`, cleaned; what cleaning dropped is logged per symbol."""
    return loaded_series(settings, bars, log)[0]


# Symbols whose cleaning is logged line by line; past it, only those with rows dropped or a jump, and a total.
MAX_CLEANING_LINES = 10


def loaded_series(settings: Settings, bars: Bars, log: Log) -> tuple[Series, dict[str, list[str]]]:
    """load_series, and per symbol the warnings of its cleaning (CleaningReport.warnings) where it has any: what
    an evaluation report must say (a 100x unadjusted split flipped a verdict, and was only logged)."""
    loaded = load_bars(
        bars.source,
        bars.symbols,
        days=bars.days,
        interval=bars.interval,
        cache_dir=settings.data_dir / "bars",
        csv_path=bars.csv_path,
    )
    reports = [report for _, report in loaded.values()]
    many = len(reports) > MAX_CLEANING_LINES
    for report in reports:
        if not many or report.rows_out < report.rows_in or report.jumps or report.close_column:
            log(str(report))
    if many:  # a line a symbol: 100 lines of "0 dropped" on a 100-symbol file (an audit of scale)
        rows_in, kept = sum(r.rows_in for r in reports), sum(r.rows_out for r in reports)
        log(f"{len(reports)} symbols: {rows_in} rows in, {kept} kept (each named above where rows were dropped)")
    warned = {s: report.warnings() for s, (_, report) in loaded.items()}
    return as_series(loaded), {s: said for s, said in warned.items() if said}


def model_dir(settings: Settings, given: Path | None = None) -> Path:
    """Where `train patchtst` writes and `evaluate`/`export patchtst` read by default."""
    return given or settings.models_dir / PATCHTST


def config_for(bars: Bars, **hyper: Any) -> TrainConfig:
    """A TrainConfig for these bars; hyperparameters given as None keep TrainConfig's defaults."""
    chosen = {k: v for k, v in hyper.items() if v is not None}
    # absolute: evaluate, retrain and the gate read the same file from wherever they are run
    csv = str(bars.csv_path.resolve()) if bars.source == "csv" and bars.csv_path else None
    return TrainConfig(
        symbols=bars.symbols, source=bars.source, days=bars.days, interval=bars.interval, csv_path=csv, **chosen
    )


def train_model(settings: Settings, config: TrainConfig, output_dir: Path, log: Log) -> dict[str, Any]:
    """Load the bars of `config`, train into `output_dir`; the training metrics. DataError on too few bars."""
    return _train(load_series(settings, bars_of(config), log), config, output_dir, log)


def _train(
    series: Series, config: TrainConfig, output_dir: Path, log: Log, budget_s: float | None = None
) -> dict[str, Any]:
    from training.patchtst import train

    try:
        return train(series, config, output_dir, log=log, budget_s=budget_s)
    except ValueError as exc:  # too few bars for the context, horizon and split
        raise DataError(str(exc)) from None


def train_or_baseline(
    series: Series, config: TrainConfig, output_dir: Path, log: Log, budget_s: float | None = None
) -> None:
    """Train into `output_dir` within `budget_s`; if torch fails (out of memory, a NaN), the random-walk
    baseline instead, its artifact saying why: either way a model that serves an honest forecast."""
    try:
        _train(series, config, output_dir, log, budget_s=budget_s)
    except (RuntimeError, MemoryError, FloatingPointError) as exc:  # torch's failures
        from training.patchtst import baseline

        baseline(series, config, output_dir, f"training failed: {type(exc).__name__}: {exc}", log)


def with_history(series: Series, bars: Bars, log: Log) -> tuple[Series, Bars]:
    """The symbols of `bars` that have the history the quick first model needs (`up`'s PatchTST shape), with a
    warning naming the others and what they lack; DataError when none has. `up` takes no --symbols: it says
    which settings give the bars instead of `investiq train`'s options."""
    from training.windows import TooFewBars, symbol_splits

    try:
        symbol_splits(series, config_for(bars))
    except TooFewBars as exc:
        short = ", ".join(s for s in bars.symbols if s not in exc.enough)
        fewest = "" if len(bars.symbols) - len(exc.enough) == 1 else " at the fewest"
        counts = f"{exc.bars}{fewest}, ~{exc.need} needed"
        lacking = f"{short}: too few {bars.interval} bars for a first PatchTST ({counts})"
        if not exc.enough:
            raise DataError(f"{lacking}; give more history (settings price_days, or a longer price_csv)") from None
        log(
            f"warning: {lacking}; the first PatchTST trains on {', '.join(exc.enough)} only. Forecasts for "
            f"{short} need more history (settings price_days, or a longer price_csv), then `investiq retrain`"
        )
        return {s: series[s] for s in exc.enough}, replace(bars, symbols=exc.enough)
    return series, bars


def torchrun_command(argv: list[str]) -> list[str] | None:
    """With several GPUs visible, the command that reruns `argv` data-parallel under torchrun; else None."""
    import torch

    gpus = torch.cuda.device_count()
    if gpus < 2 or "WORLD_SIZE" in os.environ:
        return None
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={gpus}", "-m", "investiq", *argv]


def relaunch(command: list[str]) -> int:
    return subprocess.call(command)  # noqa: S603 (our own interpreter and arguments)


def evaluate_model(
    settings: Settings,
    directory: Path,
    cost_bps: float,
    allow_short: bool,
    out: Path | None,
    log: Log,
    csv_path: Path | None = None,
    garch_dist: str = "t",
) -> dict[str, Any]:
    """Walk-forward evaluation of a trained model on its own bars' held-out test part, against the random
    walk, GARCH(1,1) (`garch_dist`: "t" or "normal" innovations) and the empirical-volatility random walk;
    report.json, report.md and PNGs in `out` (default: MODEL_DIR/evaluation)."""
    from training.evaluate import evaluate, evaluation_splits
    from training.forecaster import load_forecaster, predict

    forecaster, meta = load_forecaster(directory)
    trained = json.loads((directory / METRICS).read_text())["config"]
    config = config_from(trained)
    series, warned = loaded_series(settings, trained_bars(config, csv_path), log)
    split = {"val_fraction": config.val_fraction, "test_fraction": config.test_fraction}
    splits = evaluation_splits(
        {s: c for s, (c, _) in series.items()}, meta, split, {s: t for s, (_, t) in series.items()}
    )
    origins, left_out = unseen_test_origins(series, splits, meta, log)
    closes = {s: c for s, (c, _) in series.items() if s in origins}
    target = out or directory / "evaluation"
    report = evaluate(
        lambda x: predict(forecaster, x),
        meta,
        closes,
        split,
        target,
        cost_bps,
        allow_short,
        "normal" if garch_dist == "normal" else "t",
        origins,
        left_out,
        times={s: t for s, (_, t) in series.items() if s in origins},  # annualised at the bars' own rate
        splits=splits,
        data_warnings=warned,
    )
    log(f"wrote report.md, report.json and plots to {target}")
    return report


def unseen_test_origins(
    series: Series, splits: dict[str, Any], meta: PatchTSTMeta, log: Log
) -> tuple[dict[str, Any], dict[str, str]]:
    """(per symbol, its test origins in `splits` later than the last bar the model trained or validated on; the
    symbols left with none, and why). The test part is a share of the file as it is now: a file with more history
    than at training time moves it back over bars the model saw, whose forecasts would flatter it. Logs what it
    leaves out.

    One cut-off for every symbol, the last bar of any: markets move together, so a model that trained on NASDAQ
    in 2017 has seen S&P 500's 2017 too. Training splits every symbol at the same dates (calendar_splits), so
    this leaves out nothing of a file as it was at training time.
    """
    from training.evaluate import TOO_SHORT
    from training.windows import later_than

    seen = meta.seen_until()
    origins: dict[str, Any] = {}
    left_out: dict[str, str] = {}
    for symbol, (_, stamps) in series.items():
        if symbol not in splits:
            left_out[symbol] = TOO_SHORT
            continue
        test = splits[symbol].test
        kept = later_than(stamps, test, seen) if seen else test
        if len(kept) < len(test):
            log(
                f"{symbol}: {len(test) - len(kept)} of {len(test)} test origins are not later than {seen}, the "
                "last bar (of any symbol: markets move together) the model trained or validated on: left out"
            )
        if len(kept):
            origins[symbol] = kept
        else:
            left_out[symbol] = f"no test origin later than {seen}, the last bar the model trained or validated on"
    if not origins:
        raise DataError(
            f"no test origin in these bars is later than {seen}, the last bar the model trained or validated on: "
            "evaluate on bars that extend past it"
        )
    return origins, left_out


def export_model(settings: Settings, directory: Path, log: Log) -> None:
    """Export a trained model to ONNX, validated, as the newest version in the model repository."""
    from export.patchtst import export_patchtst

    export_patchtst(directory, settings.model_repository, log=log, retired=retired_root(settings.models_dir))


def quick_model(settings: Settings, log: Log) -> None:
    """What `investiq up` does without a price model: a short training run, then export.

    The PatchTST/64 shape with few epochs and every 8th window, within quick_train_budget_s: a model to
    serve and replace, not to trust. Validation decides what it serves (training/calibrate.calibrate):
    skill it does not confirm is not served, so this model may be the random-walk baseline, named
    so, until `investiq retrain` brings a better one through the gate; if training fails, that
    baseline is written untrained. Offline, it falls back to the sample bars."""
    directory = model_dir(settings)
    if (directory / META).is_file():
        log(f"exporting the trained PatchTST in {directory}")
        export_model(settings, directory, log)
        return
    bars = choose_bars(settings)
    try:
        series = load_series(settings, bars, log)
        series, bars = with_history(series, bars, log)
    except DataError as exc:
        # Yahoo's reason without its advice for `train patchtst` (--source), which `up` does not take
        reason = exc.reason if isinstance(exc, YahooError) else str(exc)
        log(
            f"warning: {reason}\nwarning: training the first PatchTST on the offline sample (daily S&P 500 "
            "and NASDAQ bars, 1999-2018) instead: forecasts of other symbols need a model trained on their "
            "data (`investiq train patchtst --source csv --csv FILE`, then `investiq export patchtst`)"
        )
        bars = SAMPLE
        series = load_series(settings, bars, log)
    names = ", ".join(bars.symbols)
    log(f"training a quick first PatchTST on {bars.source} {names} {bars.interval} (a minute or two)")
    # patience is moot within 2 epochs, but `investiq retrain` trains with this model's configuration
    # (and more epochs): 3, as in the reference run of reports/patchtst-sample, not 1.
    config = config_for(bars, epochs=2, patience=3, window_stride=QUICK_WINDOW_STRIDE)
    train_or_baseline(series, config, directory, log, budget_s=settings.quick_train_budget_s)
    export_model(settings, directory, log)
