"""`investiq retrain`: refresh the data, train a candidate, promote it only if it is not worse.

Steps (each logged to the console and to RUN/steps.jsonl, RUN = models/retrain/<UTC time>):
    backup    copy the serving version to RUN/backup
    data      refresh the bars the serving model was trained on (yfinance: only the new bars)
    train     train a candidate with the serving model's configuration into RUN/candidate
    export    export it to ONNX, validated against PyTorch, into RUN/export (not yet served)
    gate      both ONNX graphs and the random walk forecast the same fresh hold-out (training/gate.py):
              the candidate passes unless it is significantly worse than the serving model or than
              the random walk (95% block-bootstrap intervals of the MAE ratios); report which rule decided
    promote   install the candidate as the newest version and roll it out (investiq/ops/lifecycle.py)
    bayesian  re-sync the strategy weights from the agent's closed trades
Nothing before `promote` touches the model repository, the running stack or the journal, so a
failure in those steps changes nothing; a refused rollout removes the new version again. A
candidate that does not pass the gate is kept in RUN for `investiq models promote RUN/export`.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from investiq.core.atomic import remove, staged
from investiq.core.errors import InvestIQError
from investiq.core.patchtst import PatchTSTMeta
from investiq.core.settings import Settings
from investiq.core.versions import VersionError, serving, version_dir
from investiq.ops.lifecycle import MODEL, RolloutError, promote, prune_old, resync_bayesian, rollback

Log = Callable[[str], None]


class RetrainError(InvestIQError):
    """A step failed; the message names it. The serving model and the journal are unchanged."""


class Steps:
    """Runs named steps, logging start, end, duration and outcome as JSON lines."""

    def __init__(self, run: Path, log: Log) -> None:
        self.run, self.log = run, log
        self.done: list[dict[str, Any]] = []
        self._file = run / "steps.jsonl"

    def record(self, **fields: Any) -> None:
        entry = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), **fields}
        self.done.append(entry)
        with self._file.open("a") as out:
            out.write(json.dumps(entry, default=str) + "\n")

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.log(f"== retrain: {name}")
        start = time.perf_counter()
        try:
            yield
        except Exception as exc:
            self.record(step=name, status="failed", seconds=round(time.perf_counter() - start, 2), error=str(exc))
            self.log(f"== retrain: {name} FAILED: {exc}")
            raise RetrainError(
                f"step {name!r} failed: {exc}\nthe serving model and the journal are as they were before"
            ) from exc
        self.record(step=name, status="ok", seconds=round(time.perf_counter() - start, 2))


def retrain(settings: Settings, log: Log = print, epochs: int | None = None) -> dict[str, Any]:
    """Run every step; return the report (also RUN/report.json). RetrainError on a failed step."""
    from investiq.core.market import as_series, load_bars
    from investiq.core.patchtst import config_from
    from training.gate import compare, onnx_model
    from training.patchtst import load_forecaster, train

    repository = settings.model_repository
    number = serving(repository, MODEL)
    if number is None:
        raise RetrainError(f"no PatchTST serves from {repository}: start with `investiq up` or `investiq export`")
    current = version_dir(repository, MODEL, number)
    meta = PatchTSTMeta.load(current)
    run = settings.models_dir / "retrain" / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run.mkdir(parents=True)
    steps = Steps(run, log)
    # the serving model's own configuration; an artifact older than train_config gives what it has,
    # and the rest comes from the settings like any other default
    config = config_from(
        meta.train_config
        or {"symbols": meta.symbols, "source": meta.source, "interval": meta.interval, "days": settings.price_days}
        | {"context_length": meta.context_length, "prediction_length": meta.prediction_length},
        epochs=epochs or settings.retrain_epochs,
    )
    report: dict[str, Any] = {"run": str(run), "serving_before": {"repository_version": number, **asdict(meta)}}
    report["config"] = asdict(config)

    try:
        with steps.step("backup"):
            shutil.copytree(current, run / "backup" / f"{MODEL}-{number}")
        with steps.step("data"):
            bars = load_bars(
                config.source,  # type: ignore[arg-type]
                config.symbols,
                days=config.days,
                interval=config.interval,
                cache_dir=settings.data_dir / "bars",
                csv_path=Path(config.csv_path) if config.csv_path else settings.price_csv,
            )
            for _, cleaning in bars.values():  # what cleaning dropped, and any split-like jump it warns of
                log(str(cleaning))
            report["cleaning"] = {s: asdict(cleaning) for s, (_, cleaning) in bars.items()}
            series = as_series(bars)
            log(", ".join(f"{s}: {len(c)} bars to {t[-1]}" for s, (c, t) in series.items()))
        with steps.step("train"):
            metrics = train(series, config, run / "candidate", log=log)
            report["training"] = {k: metrics[k] for k in ("best_val_loss", "epochs_run", "train_windows")}
        with steps.step("export"):
            from export.patchtst import write_export

            forecaster, candidate_meta = load_forecaster(run / "candidate")
            with staged(run / "export") as out:
                write_export(forecaster, candidate_meta, out, log)
        with steps.step("gate"):
            gate = compare(
                onnx_model(run / "export"),
                onnx_model(current),
                series,
                config,
                settings.promote_metric,
                settings.promote_tolerance,
            )
            report["gate"], report["decision"] = gate, gate["decision"]  # the rule that decided, with its figures
            log(f"gate: candidate {gate['decision']}")
            log(
                f"  MAE (share of the last close, mean over {gate['horizon']} steps): candidate "
                f"{gate['candidate']['mae']:.5f}, serving {gate['serving']['mae']:.5f}, random walk "
                f"{gate['random_walk']['mae']:.5f}; on {gate['origins']} fresh hold-out forecasts at "
                f"{gate['bar_times']} bar times from {gate['holdout_from']} to {gate['holdout_to']}; 95% "
                f"intervals by the block bootstrap over bar times (blocks of {gate['bootstrap']['block']})"
            )
        if candidate_meta.version == meta.version:
            gate["promote"] = False
            report["decision"] = (
                f"not promoted: the candidate has the serving model's very weights ({meta.version})"
            )
            log(f"the candidate has the serving model's very weights ({meta.version}): nothing to promote")
        if gate["promote"]:
            with steps.step("promote"):
                report["promoted_version"] = promote(settings, run / "export", log)
            try:
                with steps.step("bayesian"):
                    log(resync_bayesian(settings))
            except RetrainError as exc:
                try:
                    rollback(settings, log)  # all or nothing: the version before serves again
                except (RolloutError, VersionError) as undo:
                    raise RetrainError(
                        f"{str(exc).splitlines()[0]}\nand rolling back the promotion failed too: {undo}\nversion "
                        f"{report['promoted_version']} still serves: `investiq models rollback` once that is fixed"
                    ) from undo
                raise
            try:
                prune_old(settings, log)
            except OSError as exc:  # housekeeping: the new version serves all the same
                log(f"warning: could not delete old versions: {exc}")
        else:
            log(f"version {number} keeps serving; to promote anyway: investiq models promote {run / 'export'}")
        report["outcome"] = "promoted" if gate["promote"] else "rejected"
    except RetrainError as exc:
        report["outcome"], report["error"] = "failed", str(exc)
        raise
    finally:  # every run leaves its report, a failed one too
        report["steps"] = steps.done
        (run / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
        prune_runs(run.parent, settings.keep_retrain_runs, log)
    return report


def prune_runs(runs: Path, keep: int, log: Log) -> None:
    """Delete all but the newest `keep` run folders (about 7 MB each for PatchTST/64)."""
    for old in sorted(p for p in runs.iterdir() if p.is_dir() and not p.name.startswith("."))[:-keep]:
        remove(old)
        log(f"deleted the old retrain run {old} (keep_retrain_runs={keep})")
