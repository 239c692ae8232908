"""`investiq report`: plots and a summary of the journal, for a person to read."""

from __future__ import annotations

from pathlib import Path

import click

from investiq.cli.options import config_option, db_option, settings_from
from investiq.core.journal import require_journal


@click.command()
@config_option
@db_option
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("reports/journal"),
    show_default=True,
    help="Folder to (re)write: report.md, report.json and the PNGs.",
)
@click.option(
    "--days", type=click.IntRange(min=1), default=90, show_default=True, help="Window: the last DAYS days."
)
def report(config: Path | None, db_path: Path | None, out: Path, days: int) -> None:
    """Render what the stack has been doing from the journal: price direction hit rate against always-up,
    sentiment per label and score, and the strategy weights day by day (PNGs, report.md, report.json)."""
    settings = settings_from(config, db_path=db_path)
    require_journal(
        settings.db_path,
        " (or start the gateway with `investiq up`), or point --db / INVESTIQ_DB_PATH at the gateway's journal",
    )
    try:
        import matplotlib  # noqa: F401  (the `train` extra)
    except ImportError:
        raise click.ClickException("the report needs matplotlib: pip install -e '.[train]'") from None
    from investiq.core.journal import JournalError
    from investiq.ops.report import ReportError, write_report

    try:
        numbers = write_report(settings, out, days)
    except (JournalError, ReportError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {out / 'report.md'}, report.json and {len(numbers['plots'])} plots")
    if numbers["empty"]:
        click.echo(f"nothing in the journal's last {days} days yet")
