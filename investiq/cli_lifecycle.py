"""`investiq retrain` and `investiq models list|promote|rollback`: versions of the price model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from investiq.atomic import remove
from investiq.cli import config_option, settings_from
from investiq.lifecycle import MODEL
from investiq.settings import Settings
from investiq.versions import retired_root


@click.command()
@config_option
@click.option(
    "--epochs",
    type=click.IntRange(1),
    default=None,
    help="Most epochs of the candidate (default: setting retrain_epochs; early stopping still applies).",
)
def retrain(config: Path | None, epochs: int | None) -> None:
    """Weekly retrain of PatchTST: back up, refresh the bars, train a candidate, compare it with the serving
    model on the same fresh hold-out, promote it only if it is not worse (settings promote_metric and
    promote_tolerance), roll it out without a restart, re-sync the Bayesian weights.

    Steps and figures are logged to the console and to models/retrain/<time>/ (steps.jsonl, report.json).
    A failing step leaves the serving model and the journal as they were (exit status 1); a rejected
    candidate is a normal outcome (exit status 0)."""
    from investiq.lifecycle import BusyError, exclusive
    from training.retrain import RetrainError
    from training.retrain import retrain as run

    settings = settings_from(config)
    try:
        with exclusive(settings):
            report = run(settings, log=click.echo, epochs=epochs)
    except (RetrainError, BusyError) as exc:
        raise click.ClickException(str(exc)) from None
    if report["outcome"] == "promoted":
        click.echo(f"promoted: version {report['promoted_version']} serves; report in {report['run']}")
    else:
        click.echo(f"rejected: the serving version keeps serving; report in {report['run']}")


@click.group()
def models() -> None:
    """Versions of PatchTST in the model repository: the newest serves; older ones are kept for rollback."""


@models.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models_list(config: Path | None, as_json: bool) -> None:
    """The kept versions (the serving one marked) and the retired ones that `promote` can bring back."""
    from investiq.artifacts import ArtifactError
    from investiq.patchtst import PatchTSTMeta
    from investiq.versions import serving, versions

    settings = settings_from(config)
    newest = serving(settings.model_repository, MODEL)
    retired = retired_root(settings.models_dir) / MODEL
    places = [
        (n, settings.model_repository / MODEL / str(n), "serving" if n == newest else "kept")
        for n in versions(settings.model_repository, MODEL)
    ]
    if retired.is_dir():
        places += [(int(p.name), p, "retired") for p in sorted(retired.iterdir()) if p.name.isdigit()]
    rows: list[dict[str, Any]] = []
    for number, path, state in places:
        try:
            meta = PatchTSTMeta.load(path)
        except ArtifactError as exc:
            rows.append({"number": number, "state": state, "path": str(path), "error": str(exc)})
            continue
        rows.append(
            {
                "number": number,
                "state": state,
                "model_version": meta.version,
                "trained_at": meta.trained_at or None,
                "trained_until": meta.trained_until,
                "interval": meta.interval,
                "symbols": meta.symbols,
                "path": str(path),
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no {MODEL} versions in {settings.model_repository}: run `investiq up` or `investiq export`")
        return
    click.echo(f"{'#':>3}  {'state':8} {'version':13} {'trained at':26} {'data until':26} symbols")
    for r in rows:
        if "error" in r:
            click.echo(f"{r['number']:>3}  {r['state']:8} {r['error']}")
            continue
        click.echo(
            f"{r['number']:>3}  {r['state']:8} {r['model_version']:13} {r['trained_at'] or '?':26} "
            f"{r['trained_until']:26} {' '.join(r['symbols'])} ({r['interval']})"
        )


@models.command("promote")
@config_option
@click.argument("version")
def models_promote(config: Path | None, version: str) -> None:
    """Serve VERSION: a kept or retired version number, or an exported version directory (e.g. a
    candidate that retrain rejected: models/retrain/<time>/export). It is installed as the newest
    version and rolled out; if the stack cannot load it, it is removed again and nothing changes."""
    from investiq.lifecycle import BusyError, RolloutError, exclusive
    from investiq.versions import VersionError

    settings = settings_from(config)
    try:
        with exclusive(settings):
            number = _promote(settings, version)
    except (RolloutError, VersionError, BusyError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"version {number} serves")


def _promote(settings: Settings, version: str) -> int:
    from investiq.lifecycle import promote, prune_old
    from investiq.versions import serving, version_dir

    if version.isdigit():
        if int(version) == serving(settings.model_repository, MODEL):
            raise click.ClickException(f"version {version} already serves")
        source = version_dir(settings.model_repository, MODEL, int(version))
        if not source.is_dir():
            source = retired_root(settings.models_dir) / MODEL / version
        if not source.is_dir():
            raise click.ClickException(f"no version {version} of {MODEL}: see `investiq models list`")
    else:
        source = Path(version)
    number = promote(settings, source, click.echo)
    if source.parent == retired_root(settings.models_dir) / MODEL:
        remove(source)  # back in the repository: no longer retired
    prune_old(settings, click.echo)
    return number


@models.command("rollback")
@config_option
def models_rollback(config: Path | None) -> None:
    """Serve the previous version again: the newest one moves to models/retired/ (promote brings it back)."""
    from investiq.lifecycle import BusyError, RolloutError, exclusive, rollback
    from investiq.versions import VersionError

    settings = settings_from(config)
    try:
        with exclusive(settings):
            number = rollback(settings, click.echo)
    except (RolloutError, VersionError, BusyError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"version {number} serves")
