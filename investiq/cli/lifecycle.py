"""`investiq retrain` and `investiq models list|promote|rollback`: versions of the price model."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import click

from investiq.cli.options import ListedGroup, config_option, csv_option, settings_from
from investiq.ops.lifecycle import MODEL, exclusive, rollback
from investiq.ops.models import promote_version, version_rows
from investiq.ops.retrain import Stopped
from investiq.ops.retrain import retrain as run_retrain


@click.command()
@config_option
@click.option(
    "--epochs",
    type=click.IntRange(1),
    default=None,
    help="Most epochs of the candidate (default: setting retrain_epochs; early stopping still applies).",
)
@csv_option(
    help="The bar file of a model trained from a CSV, e.g. when it has moved (default: the file the serving "
    "model recorded; the candidate records this one).",
)
def retrain(config: Path | None, epochs: int | None, csv_path: Path | None) -> None:
    """Weekly retrain of PatchTST: a candidate serves only if it is significantly worse than neither the
    serving model nor the random walk.

    Back up, refresh the bars, train a candidate, compare it with the serving model and the random walk on the
    same fresh hold-out, promote it only if it is significantly worse than neither (95% block-bootstrap
    intervals of the MAE ratios; setting promote_tolerance is a margin on the ratio to the serving model), roll
    it out without a restart, re-sync the Bayesian weights.

    Steps and figures are logged to the console and to models/retrain/<time>/ (steps.jsonl, report.json).
    A failing step leaves the serving model and the journal as they were (exit status 1); a rejected
    candidate, too little fresh evidence to judge one, or nothing new to train on are normal outcomes (exit
    status 0). SIGTERM or Ctrl-C stops the run as a failed one, report and all, the lock released (exit status
    143, or 130 for Ctrl-C); a promotion under way finishes first and is rolled back."""
    settings = settings_from(config)
    try:
        with exclusive(settings):
            report = run_retrain(settings, log=click.echo, epochs=epochs, csv_path=csv_path)
    except Stopped as exc:  # after the lock was released: exit as the signal would have ended the process
        click.echo(f"Error: {exc}", err=True)
        raise click.exceptions.Exit(exc.status) from None
    click.echo(f"{summary(report)}; report in {report['run']}")
    if "signal" in report:  # it came while the promotion finished, or once the run was done
        raise click.exceptions.Exit(128 + signal.Signals[report["signal"]])


def summary(report: dict[str, Any]) -> str:
    """The run's outcome in one line."""
    outcome = report["outcome"]
    if outcome == "promoted":
        return f"promoted: version {report['promoted_version']} serves"
    if outcome == "unchanged":
        return "unchanged: nothing to promote, the serving version keeps serving"
    if outcome == "not_enough_evidence":
        return "not enough evidence yet to judge the candidate: the serving version keeps serving"
    return "rejected: the serving version keeps serving"


@click.group(cls=ListedGroup)
def models() -> None:
    """Versions of PatchTST in the model repository: the newest serves; older ones are kept for rollback."""


@models.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models_list(config: Path | None, as_json: bool) -> None:
    """The kept versions (the serving one marked) and the retired ones that `promote` can bring back, each with
    what it serves as: patchtst, or random_walk where its validation confirmed no skill."""
    settings = settings_from(config)
    rows = version_rows(settings)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(
            f"no {MODEL} versions in {settings.model_repository}: run `investiq up`, or `investiq export patchtst`"
        )
        return
    # both ends named: /health's trained_until is training's, the bars validation saw end later (a walkthrough
    # read one table's "saw bars until" 2015 against /health's 2012 and the sample's 2018, none labelled)
    head = (
        f"{'#':>3}  {'state':8} {'version':13} {'serves as':12} {'trained at':26} {'trained on bars until':26} "
        f"{'validated on bars until':26}"
    )
    click.echo(f"{head} symbols")
    for r in rows:
        if "error" in r:
            click.echo(f"{r['number']:>3}  {r['state']:8} {r['error']}")
            continue
        click.echo(
            f"{r['number']:>3}  {r['state']:8} {r['model_version']:13} {r['serves_as']:12} "
            f"{r['trained_at'] or '?':26} {r['trained_until']:26} {r['seen_until']:26} {' '.join(r['symbols'])} "
            f"({r['interval']})"
        )


@models.command("promote")
@config_option
@click.argument("version")
def models_promote(config: Path | None, version: str) -> None:
    """Serve VERSION: a kept or retired version number, or an exported version directory (e.g. a
    candidate that retrain rejected: models/retrain/<time>/export). It is installed as the newest
    version and rolled out; if the stack cannot load it, it is retired again (models/retired/) and nothing
    changes."""
    settings = settings_from(config)
    with exclusive(settings):
        number = promote_version(settings, version, click.echo)
    click.echo(f"version {number} serves")


@models.command("rollback")
@config_option
def models_rollback(config: Path | None) -> None:
    """Serve the previous version again: the newest one moves to models/retired/ (promote brings it back)."""
    settings = settings_from(config)
    with exclusive(settings):
        number = rollback(settings, click.echo)
    click.echo(f"version {number} serves")
