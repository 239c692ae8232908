"""`investiq retrain`: refresh the data, train a candidate, promote it only if it is not worse.

Steps (each logged to the console and to RUN/steps.jsonl, RUN = models/retrain/<UTC time>):
    backup    copy the serving version to RUN/backup
    data      refresh the bars the serving model was trained on (yfinance: only the new bars; a CSV: the file
              it recorded, or --csv). A symbol with no bars now is left out (a warning; report.json
              `symbols_left_out`): the candidate trains, and both models are judged, on the others. It fails
              when none is left, or when the bars end before the serving model's last bar (a file cut short)
    train     train a candidate with the serving model's configuration into RUN/candidate; not run when the
              candidate would train and validate on the very bars the serving model did (nothing new arrived)
    export    export it to ONNX, validated against PyTorch, into RUN/export (not yet served)
    gate      both ONNX graphs and the random walk forecast the same fresh hold-out (training/gate.py):
              the candidate passes unless it is significantly worse than the serving model or than
              the random walk (95% block-bootstrap intervals of the MAE ratios); report which rule decided.
              Too few fresh bar times: not enough evidence yet, nothing judged. Not run for a candidate with
              the serving model's very weights
    promote   install the candidate as the newest version and roll it out (investiq/ops/lifecycle.py)
    bayesian  re-sync the strategy weights from the agent's closed trades
Outcomes: promoted, rejected, not_enough_evidence, unchanged (nothing to promote); failed (RetrainError).
Nothing before `promote` touches the model repository, the running stack or the journal, so a
failure in those steps changes nothing; a refused rollout removes the new version again. A
candidate that does not pass the gate is kept in RUN for `investiq models promote RUN/export`.

SIGTERM (systemd's TimeoutStartSec, a shutdown) or SIGINT (Ctrl-C) stops the run where it stands, as a failed run
with its report (Stopped, "stopped by SIGTERM at step X"), except inside `promote` and `bayesian`: a promotion is
all or nothing, so the signal waits for the step to end, and a stop after `promote` rolls it back.
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from investiq.core.atomic import remove, staged
from investiq.core.errors import DataError, InvestIQError
from investiq.core.patchtst import PatchTSTMeta, TrainConfig, config_from
from investiq.core.report_json import REPORT_JSON
from investiq.core.settings import Settings
from investiq.core.versions import VersionError, serving, version_dir
from investiq.ops.lifecycle import MODEL, RolloutError, promote, prune_old, resync_bayesian, rollback
from investiq.ops.patchtst import Bars, Series, trained_bars

Log = Callable[[str], None]
Loaded = dict[str, tuple[Any, Any]]  # symbol -> (cleaned bars, CleaningReport), as load_bars returns them
UNCHANGED = "the serving model and the journal are as they were before"
AGAIN = "run `investiq retrain` again"
TIMEOUT_HINT = " (stopped by systemd's TimeoutStartSec? raise it in the unit)"  # SIGTERM's only, not Ctrl-C's


def again(signum: int) -> str:
    """What to do after a run `signum` stopped."""
    return AGAIN + (TIMEOUT_HINT if signum == signal.SIGTERM else "")


class RetrainError(InvestIQError):
    """A step failed; the message names it. The serving model and the journal are unchanged."""


class Stopped(RetrainError):
    """A signal (SIGTERM, SIGINT) stopped the run: a failed run, the serving model and the journal unchanged.
    `status` is the exit status of a process ended by that signal, by convention 128 + its number (143, 130)."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.status = 128 + signum


class _Terminated(BaseException):
    """Raised by the signal handler where the run may stop. A BaseException, like KeyboardInterrupt, so that
    no `except Exception` on its way (a download's retries) takes it for an ordinary error."""

    def __init__(self, signum: int, step: str) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {step!r}")
        self.signum = signum


class Steps:
    """Runs named steps, logging start, end, duration and outcome as JSON lines. Also the run's SIGTERM and
    SIGINT handler (`on_signal`): a step stops where it stands, unless it holds signals until it ends."""

    def __init__(self, run: Path, log: Log) -> None:
        self.run, self.log = run, log
        self.done: list[dict[str, Any]] = []
        self._file = run / "steps.jsonl"
        self.current = "start"
        self.signal: int | None = None  # the first signal received
        self._stoppable = False

    def record(self, **fields: Any) -> None:
        """Keep a step's entry, and append it to steps.jsonl. A write that fails (a full disk) is said, not raised:
        raised after the promote step had rolled its version out, it escaped as a bare OSError, past the re-sync
        and the report (a review)."""
        entry = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), **fields}
        self.done.append(entry)
        try:
            with self._file.open("a") as out:
                out.write(json.dumps(entry, default=str) + "\n")
        except OSError as exc:
            self.log(f"warning: cannot append to {self._file} ({exc}); the run goes on, its report has the steps")

    def on_signal(self, signum: int, _frame: object) -> None:
        """Stop the running step, or, within one that holds signals or between steps, remember the signal:
        the next step stops at its start. Later signals are ignored, so that the first one's report is written."""
        if self.signal is not None:
            return
        self.signal = signum
        if self._stoppable:
            raise _Terminated(signum, self.current)
        name = signal.Signals(signum).name
        self.log(f"== retrain: {name} received during {self.current!r}: the run stops before its next step")

    @contextmanager
    def step(self, name: str, hold_signals: bool = False) -> Iterator[None]:
        """Run one step; RetrainError when it fails, Stopped when a signal stops it (or came before it began)."""
        self.log(f"== retrain: {name}")
        self.current, start = name, time.perf_counter()
        try:
            if self.signal is not None:
                raise _Terminated(self.signal, name)
            self._stoppable = not hold_signals
            yield
            self._stoppable = False
        except _Terminated as exc:
            self._stoppable = False
            self._failed(name, start, str(exc), "stopped")
            raise Stopped(f"{exc}\n{UNCHANGED}; {again(exc.signum)}", exc.signum) from None
        except Exception as exc:
            self._stoppable = False
            self._failed(name, start, str(exc), "failed")
            raise RetrainError(f"step {name!r} failed: {exc}\n{UNCHANGED}") from exc
        self.record(step=name, status="ok", seconds=round(time.perf_counter() - start, 2))

    def _failed(self, name: str, start: float, error: str, status: str) -> None:
        self.record(step=name, status=status, seconds=round(time.perf_counter() - start, 2), error=error)
        self.log(f"== retrain: {name} {status.upper()}: {error}")


@contextmanager
def signals_to(steps: Steps) -> Iterator[None]:
    """SIGTERM and SIGINT (Ctrl-C) go to `steps` for the duration of the run, and the handlers before them are
    restored after: a Ctrl-C went past the steps as a KeyboardInterrupt, leaving a promoted version serving with no
    Bayesian re-sync or rollback, and a report without its outcome (a review). Only the main thread may set
    handlers: a run in another thread keeps the process's."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # SIGINT ignored (a background job of a non-interactive shell) stays ignored, as Python leaves it (a review)
    wanted = [signal.SIGTERM] + ([signal.SIGINT] if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN else [])
    previous = {signum: signal.signal(signum, steps.on_signal) for signum in wanted}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


@dataclass
class Run:
    """One retrain: where it writes, what serves, the candidate's configuration, and the report so far."""

    settings: Settings
    steps: Steps
    path: Path  # RUN
    number: int  # the serving version
    current: Path  # its directory
    meta: PatchTSTMeta
    config: TrainConfig
    report: dict[str, Any]

    def log(self, line: str) -> None:
        self.steps.log(line)


def retrain(
    settings: Settings, log: Log = print, epochs: int | None = None, csv_path: Path | None = None
) -> dict[str, Any]:
    """Run every step; return the report (also RUN/report.json). RetrainError on a failed step (Stopped when
    SIGTERM or SIGINT stopped it). `csv_path`: the bar file of a model trained from a CSV, instead of the one it
    recorded."""
    repository = settings.model_repository
    number = serving(repository, MODEL)
    if number is None:
        first = "`investiq up`, or `investiq train patchtst` then `investiq export patchtst`"
        raise RetrainError(f"no PatchTST serves from {repository}: start with {first}")
    current = version_dir(repository, MODEL, number)
    meta = PatchTSTMeta.load(current)
    config = serving_config(meta, settings, epochs, csv_path)
    path = new_run_dir(settings.models_dir / "retrain")
    report: dict[str, Any] = {"run": str(path), "serving_before": {"repository_version": number, **asdict(meta)}}
    report["config"] = asdict(config)
    run = Run(settings, Steps(path, log), path, number, current, meta, config, report)
    with signals_to(run.steps):
        try:
            run_steps(run)
        except RetrainError as exc:
            report["outcome"], report["error"] = "failed", str(exc)
            raise
        except _Terminated as exc:  # in a step's own bookkeeping: stopped all the same
            report["outcome"], report["error"] = "failed", f"{exc}\n{UNCHANGED}; {again(exc.signum)}"
            raise Stopped(report["error"], exc.signum) from None
        finally:  # every run leaves its report, a failed or stopped one too
            if run.steps.signal is not None:
                report["signal"] = signal.Signals(run.steps.signal).name
            report["steps"] = run.steps.done
            try:
                (path / REPORT_JSON).write_text(json.dumps(report, indent=2, default=str) + "\n")
            except OSError as exc:  # a full disk: the outcome is still printed and returned
                log(f"warning: cannot write {path / 'report.json'} ({exc})")
            prune_runs(path.parent, settings.keep_retrain_runs, log, current=path)
    return report


def new_run_dir(runs: Path) -> Path:
    """RUN = runs/<UTC time>, made; a run in the same second as the one before (one that failed at once)
    gets -2, -3, ...: prune_runs orders them by time, then by that number."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    runs.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        path = runs / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise RetrainError(f"{runs} already holds 999 runs named {stamp}: remove some")


def serving_config(
    meta: PatchTSTMeta, settings: Settings, epochs: int | None, csv_path: Path | None
) -> TrainConfig:
    """The serving model's own configuration (an artifact older than train_config gives what it has, the rest
    from the settings like any other default), with `csv_path` as its file; price_csv for an artifact that
    recorded none. The candidate records the file it read, so that the next retrain reads it too."""
    config = config_from(
        meta.train_config
        or {"symbols": meta.symbols, "source": meta.source, "interval": meta.interval, "days": settings.price_days}
        | {"context_length": meta.context_length, "prediction_length": meta.prediction_length},
        epochs=epochs or settings.retrain_epochs,
    )
    if csv_path is not None and config.source != "csv":
        raise RetrainError(
            f"--csv is for a model trained from a CSV file; the serving one was trained on {config.source} "
            f"bars of {' '.join(config.symbols)}: retrain without --csv"
        )
    file = csv_path or (None if config.csv_path else settings.price_csv)
    if config.source != "csv" or file is None:
        return config
    return replace(config, csv_path=str(file.resolve()))


def run_steps(run: Run) -> None:
    """backup, data, then train, export, gate and promote unless there is nothing to promote."""
    from training.forecaster import load_forecaster
    from training.gate import compare, onnx_model
    from training.patchtst import train

    with run.steps.step("backup"):
        shutil.copytree(run.current, run.path / "backup" / f"{MODEL}-{run.number}")
    with run.steps.step("data"):
        series = refresh(run)
        same = nothing_new(series, run.config, run.meta)
    if same is not None:
        unchanged(run, same)
        return
    with run.steps.step("train"):
        metrics = train(series, run.config, run.path / "candidate", log=run.log)
        run.report["training"] = {k: metrics[k] for k in ("best_val_loss", "epochs_run", "train_windows")}
    with run.steps.step("export"):
        from export.patchtst import write_export

        forecaster, candidate_meta = load_forecaster(run.path / "candidate")
        with staged(run.path / "export") as out:
            write_export(forecaster, candidate_meta, out, run.log)
    if candidate_meta.version == run.meta.version:
        unchanged(run, f"the candidate is the serving model's weights ({run.meta.version}): nothing to promote")
        return
    with run.steps.step("gate"):
        gate = compare(
            onnx_model(run.path / "export"),
            onnx_model(run.current),
            series,
            run.config,
            run.settings.promote_metric,
            run.settings.promote_tolerance,
        )
        run.report["gate"], run.report["decision"] = gate, gate["decision"]  # the rule that decided, with figures
        log_gate(run, gate)
    if not gate["promote"]:
        run.report["outcome"] = "rejected" if gate["enough_evidence"] else "not_enough_evidence"
        run.log(
            f"version {run.number} keeps serving; to promote anyway: investiq models promote {run.path / 'export'}"
        )
        return
    promote_candidate(run)
    run.report["outcome"] = "promoted"


def refresh(run: Run) -> Series:
    """The bars of the serving model's symbols, cleaned (what cleaning dropped is logged and reported). A symbol
    that has none now is left out, with a warning: the candidate's configuration keeps the others, and the
    gate judges both models on those. GateError when the bars end before the serving model's last bar."""
    from investiq.core.market import as_series
    from training.gate import check_fresh

    loaded, left_out = load_available(run.settings, trained_bars(run.config))
    if left_out:
        run.config = replace(run.config, symbols=tuple(s for s in run.config.symbols if s in loaded))
        run.report["symbols_left_out"], run.report["config"] = left_out, asdict(run.config)
        for symbol, why in left_out.items():
            run.log(f"warning: {symbol} left out, it has no bars now: {why}")
        kept = ", ".join(run.config.symbols)
        run.log(f"warning: the candidate trains on {kept} alone, and the gate judges both models on {kept}")
    for _, cleaning in loaded.values():  # what cleaning dropped, and any split-like jump it warns of
        run.log(str(cleaning))
    run.report["cleaning"] = {s: asdict(cleaning) for s, (_, cleaning) in loaded.items()}
    series = as_series(loaded)
    run.log(", ".join(f"{s}: {len(c)} bars to {t[-1]}" for s, (c, t) in series.items()))
    check_fresh(series, run.meta.seen_until(), run.config.source)
    return series


def load_available(settings: Settings, bars: Bars) -> tuple[Loaded, dict[str, str]]:
    """(the cleaned bars of every symbol that has them, why each other one has none): a symbol that vanished
    from the file or from Yahoo must not stop every later retrain. DataError when none has bars, or when they
    fail together for a reason no symbol explains (the file cannot be read; it lost its symbol column)."""
    from investiq.core.market import load_bars

    def load(symbols: tuple[str, ...]) -> Loaded:
        return load_bars(
            bars.source,
            symbols,
            days=bars.days,
            interval=bars.interval,
            cache_dir=settings.data_dir / "bars",
            csv_path=bars.csv_path,
        )

    try:
        return load(bars.symbols), {}
    except DataError as together:
        if len(bars.symbols) < 2:
            raise
        loaded: Loaded = {}
        left_out: dict[str, str] = {}
        for symbol in bars.symbols:
            try:
                loaded |= load((symbol,))
            except DataError as exc:
                left_out[symbol] = str(exc)
        if not left_out or (not loaded and len(set(left_out.values())) == 1):
            raise together from None
        if not loaded:
            reasons = "; ".join(f"{s}: {why}" for s, why in left_out.items())
            raise DataError(f"none of the serving model's symbols has bars now ({reasons})") from None
        return loaded, left_out


def nothing_new(series: Series, config: TrainConfig, meta: PatchTSTMeta) -> str | None:
    """Why the candidate would be the serving model again, or None. It would when, with the serving model's
    configuration (its file aside), its training and validation would end at the very bars the serving model's
    did, over training bars of the same count, mean and spread of returns (the artifact's train_stats): no
    new bar reached them. Checked before training, which would only make the same weights again."""
    from training.windows import TooFewBars, seen_by, symbol_splits

    if not meta.train_config or not meta.validated_until:
        return None
    if replace(config_from(meta.train_config), csv_path=None) != replace(config, csv_path=None):
        return None
    try:
        splits = symbol_splits(series, config)
    except TooFewBars:
        return None  # the train step says which symbol is short and what to do
    trained, validated, stats = seen_by(series, splits, config.prediction_length)
    if (_utc(trained), _utc(validated)) != (_utc(meta.trained_until), _utc(meta.validated_until)):
        return None
    if stats.keys() != meta.train_stats.keys() or not all(
        math.isclose(v, meta.train_stats[k], rel_tol=1e-9, abs_tol=1e-12) for k, v in stats.items()
    ):
        return None
    last = max((stamps[-1] for _, stamps in series.values()), key=_utc)
    return (
        f"nothing new to train on: the bars end on {last}, and with them the candidate would train and validate "
        f"on the very bars the serving model did (to {meta.validated_until}), with its configuration: it would "
        "be the serving model's weights again; retrain once new bars have arrived"
    )


def _utc(stamp: Any) -> pd.Timestamp:
    """A bar time as a naive UTC Timestamp (a naive one is taken as UTC), comparable whatever its form."""
    moment = pd.Timestamp(stamp)
    return moment.tz_convert("UTC").tz_localize(None) if moment.tzinfo is not None else moment


def unchanged(run: Run, why: str) -> None:
    """End the run without a candidate to judge: the serving model's weights, or would be. Not a failure."""
    run.report["outcome"], run.report["decision"] = "unchanged", f"not promoted: {why}"
    run.log(f"{why}; version {run.number} keeps serving")


def log_gate(run: Run, gate: dict[str, Any]) -> None:
    """The decision and, when the gate judged, every figure behind it."""
    run.log(f"gate: candidate {gate['decision']}")
    if not gate["enough_evidence"]:
        return
    run.log(
        f"  MAE (share of the last close, mean over {gate['horizon']} steps): candidate "
        f"{gate['candidate']['mae']:.5f}, serving {gate['serving']['mae']:.5f}, random walk "
        f"{gate['random_walk']['mae']:.5f}; on {gate['origins']} fresh hold-out forecasts at "
        f"{gate['bar_times']} bar times from {gate['holdout_from']} to {gate['holdout_to']}; 95% "
        f"intervals by the block bootstrap over bar times (blocks of {gate['bootstrap']['block']})"
    )


def promote_candidate(run: Run) -> None:
    """Install and roll out the candidate, then re-sync the Bayesian weights; all or nothing: when the re-sync
    fails (or a signal stops the run after the promotion), the version before serves again."""
    with run.steps.step("promote", hold_signals=True):
        run.report["promoted_version"] = promote(run.settings, run.path / "export", run.log)
    try:
        with run.steps.step("bayesian", hold_signals=True):
            run.log(resync_bayesian(run.settings))
    except RetrainError as exc:
        try:
            rollback(run.settings, run.log)  # all or nothing: the version before serves again
        except (RolloutError, VersionError) as undo:
            raise RetrainError(
                f"{str(exc).splitlines()[0]}\nand rolling back the promotion failed too: {undo}\nversion "
                f"{run.report['promoted_version']} still serves: `investiq models rollback` once that is fixed"
            ) from undo
        raise
    try:
        prune_old(run.settings, run.log)
    except OSError as exc:  # housekeeping: the new version serves all the same
        run.log(f"warning: could not delete old versions: {exc}")


def _run_order(folder: Path) -> tuple[str, int]:
    """A run folder's place in time: its UTC time, then new_run_dir's number within that second (by name,
    20261207T120000Z-10 sorted before -2, so the tenth run of a second was pruned first)."""
    stamp, _, number = folder.name.partition("-")
    return stamp, int(number) if number.isdigit() else 1


def prune_runs(runs: Path, keep: int, log: Log, current: Path | None = None) -> None:
    """Delete all but the newest `keep` run folders (about 7 MB each for PatchTST/64), by name (UTC time), never
    `current`: after the clock was set back (an NTP step, a restored VM), the run just made sorted oldest and was
    deleted, its candidate, backup and report with it, while its paths were printed (a review)."""
    folders = sorted((p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")), key=_run_order)
    for old in folders[:-keep]:
        if current is not None and old.resolve() == current.resolve():
            log(f"warning: the run {old} sorts before older runs' names: is the clock behind? It is kept")
            continue
        remove(old)
        log(f"deleted the old retrain run {old} (keep_retrain_runs={keep})")
