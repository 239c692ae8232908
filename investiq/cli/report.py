"""`investiq report`: plots and a summary of the journal, for a person to read."""

from __future__ import annotations

from pathlib import Path

import click

from investiq.cli.options import config_option, db_option, settings_from
from investiq.core.atomic import foreign_to
from investiq.core.journal import require_journal
from investiq.core.report_json import REPORT_JSON
from investiq.core.settings import CENTURY_DAYS


@click.command()
@config_option
@db_option
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("reports/journal"),
    show_default=True,
    help="Folder the report is written to: report.md, report.json and the PNGs. It is replaced whole, so it must "
    "be new, empty, or an earlier report (a folder with other files in it is refused).",
)
@click.option(
    "--days",
    type=click.IntRange(min=1, max=CENTURY_DAYS),
    default=90,
    show_default=True,
    help="Window: the last DAYS x 24 hours, back from now, its first day partly (strategy weights include every "
    "trade before).",
)
def report(config: Path | None, db_path: Path | None, out: Path, days: int) -> None:
    """Render what the stack has been doing, from the journal: PNGs, report.md and report.json.

    The price forecasts' live skill (direction hit rate against always-up, MAE against the random walk, P(up)'s
    Brier skill, interval coverage, per version, with the symbols significantly worse than the random walk),
    sentiment per label and score, and the strategy weights day by day."""
    try:
        import matplotlib  # noqa: F401  (the `train` extra)
    except ImportError:
        raise click.ClickException("the report needs matplotlib: pip install -e '.[train]'") from None
    from investiq.core.journal import JournalError
    from investiq.ops.report import ReportError, is_journal_report, write_report

    # `--out reports` deleted the committed reports, and `--out reports/patchtst-sample` an evaluation report
    if (problem := foreign_to(out, REPORT_JSON, is_journal_report)) is not None:
        raise click.BadParameter(problem, param_hint="--out")
    settings = settings_from(config, db_path=db_path)
    require_journal(
        settings.db_path,
        " (or start the gateway with `investiq up`), or point --db / INVESTIQ_DB_PATH at the gateway's journal",
    )

    try:
        numbers = write_report(settings, out, days)
    except (JournalError, ReportError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {out / 'report.md'}, report.json and {len(numbers['plots'])} plots")
    if numbers["empty"]:
        click.echo(f"nothing in the journal's last {days} days yet")
