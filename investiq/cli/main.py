"""`investiq`: the command line of the stack. Thin: it parses, loads settings, calls one function, prints."""

from __future__ import annotations

import errno
import json
import sqlite3
from pathlib import Path
from typing import Any
from urllib.error import URLError

import click

from investiq import __version__
from investiq.cli.backtest import backtest_command
from investiq.cli.lifecycle import models, retrain
from investiq.cli.models import bench, evaluate, export, train
from investiq.cli.options import ListedGroup, config_option, csv_option, db_option, server_options, settings_from
from investiq.cli.patchtst import evaluate_patchtst, export_patchtst, train_patchtst
from investiq.cli.report import report
from investiq.cli.sentiment import evaluate_finbert
from investiq.cli.service import start, status, stop
from investiq.cli.triton import triton
from investiq.core.errors import InvestIQError
from investiq.core.journal import connect, require_journal
from investiq.core.journal.connection import advice
from investiq.core.journal.schema import status as journal_status
from investiq.core.journal.trades import NEEDED, unreadable
from investiq.core.settings import CENTURY_DAYS
from investiq.core.settings_load import render_defaults
from investiq.ops import bootstrap
from investiq.ops.resolve import resolve
from investiq.ops.retention import prune_journal
from investiq.ops.service import check_port


class _Group(ListedGroup):
    """Any error of the product's tree ends the command with its message (exit status 1), not a traceback; so does
    a file system's refusal (an output folder on a read-only disk, or under a file: it was a traceback, a review),
    named with its path. Ctrl-C ends it with exit status 130, as a shell's interrupted command: Click's "Aborted!"
    and 1 could not be told from a failure by a script (a review; `retrain` handles it itself, in its steps)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise SystemExit(130) from None
        except InvestIQError as exc:
            raise click.ClickException(str(exc)) from None
        except sqlite3.Error as exc:  # the journal's, past what a command checks: locked, full, damaged (a review)
            raise click.ClickException(f"the journal: {exc}. {advice(exc)}") from None
        except OSError as exc:
            if exc.errno in _NO_ROOM and exc.filename is None:  # a plot's writer says no file (a review)
                raise click.ClickException(f"{exc.strerror}: free some space, or write elsewhere") from None
            if exc.filename is None or isinstance(exc, URLError):  # a bug's, or a URL's: its traceback
                raise
            raise click.ClickException(_refusal(exc)) from None


_NO_ROOM = (errno.ENOSPC, errno.EDQUOT)


def _refusal(exc: OSError) -> str:
    """One line for a file system's refusal: what, where, and what to do where that is plain."""
    where = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 else "")
    what = f"{exc.strerror or exc}: {where}"
    if isinstance(exc, NotADirectoryError) or (isinstance(exc, FileExistsError) and Path(exc.filename).is_file()):
        return f"{what}: a file where a folder goes; give another path"
    if exc.errno == errno.EROFS:
        return f"{what}; give a path on a disk that can be written"
    if exc.errno in (errno.EACCES, errno.EPERM):  # a read's refusal too: "can write" was said of a file read
        return f"{what}; this user may not use it: change its permissions, or give a path it can read and write"
    if exc.errno in _NO_ROOM:
        return f"{what}; free some space, or give a path on another disk"
    return what


@click.group(
    name="investiq", cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="investiq")
def main() -> None:
    """InvestIQ ML: sentiment, price direction and strategy weights for a trading agent.

    Settings come from config.yaml, then INVESTIQ_* environment variables, then flags.
    Start with `investiq up`; every command has --help.
    """


@main.command()
@server_options
def serve(config: Path | None, log_level: str, **flags: Any) -> None:
    """Serve the gateway in the foreground (HTTP API on HOST:PORT, journal in the SQLite file) until
    Ctrl-C or SIGTERM, which drain requests and flush the journal.

    Exit status 1 with one line saying why when it cannot serve (the port is in use: choose another
    with --port; the journal cannot be opened), 2 for an invalid flag or setting. `investiq status`
    finds it."""
    bootstrap.serve(settings_from(config, **flags), log_level, click.echo)


@main.command()
@server_options
def up(config: Path | None, log_level: str, **flags: Any) -> None:
    """Prepare what is missing, then serve as `investiq serve` does (same exit status).

    \b
    - the journal: created or migrated;
    - FinBERT: exported to ONNX when its weights are at hand (else the lexicon answers /sentiment);
    - a price model: without one, a quick first PatchTST is trained on the configured bars (settings
      price_*: Yahoo Finance 15-minute bars by default; offline, the daily S&P 500 and NASDAQ sample
      shipped with `arch`) and exported. This takes minutes on the first start only; replace it with
      `investiq train patchtst` on your own bars (offline, `investiq retrain` only trains on the same
      sample again, for minutes, and its gate decides which serves).

    The port is checked first: a taken one fails at once, naming --port."""
    settings = settings_from(config, **flags)
    check_port(settings)  # before minutes of training, not after
    bootstrap.prepare(settings, click.echo)
    bootstrap.serve(settings, log_level, click.echo)


@main.group()
def db() -> None:
    """The SQLite journal shared with the Rust agent."""


@db.command("init")
@config_option
@db_option
def db_init(config: Path | None, db_path: Path | None) -> None:
    """Create the journal's tables, or migrate them to the latest schema."""
    settings = settings_from(config, db_path=db_path)
    click.echo(f"{settings.db_path}: schema version {bootstrap.init_journal(settings)}")
    conn = connect(settings.db_path, settings.db_busy_timeout_ms, readonly=True)
    try:
        _warn_of_trades_table(unreadable(conn) or "ok")
    finally:
        conn.close()


@db.command("status")
@config_option
@db_option
def db_status(config: Path | None, db_path: Path | None) -> None:
    """Print the journal's schema version, journal mode, integrity and row counts as JSON."""
    settings = settings_from(config, db_path=db_path)
    require_journal(settings.db_path)
    conn = connect(settings.db_path, settings.db_busy_timeout_ms, readonly=True)
    try:
        found = journal_status(conn)
    finally:
        conn.close()
    click.echo(json.dumps({"path": str(settings.db_path), **found}, indent=2))
    _warn_of_trades_table(found["trades_table"])
    if found["integrity"] != "ok":  # damage was printed and exited 0: a script could not tell (a review)
        raise click.ClickException("the journal is damaged (its integrity above): restore it from a backup")


def _warn_of_trades_table(state: object) -> None:
    """`state`: "ok", why the sync cannot read the agent's table, or None (the journal too damaged to say)."""
    if isinstance(state, str) and state != "ok":
        click.echo(f"warning: {state}: /bayesian/sync-from-database needs {NEEDED} (the agent's table)", err=True)


@db.command("prune")
@config_option
@db_option
@click.option(
    "--days",
    type=click.IntRange(1, CENTURY_DAYS),  # journal_retention_days' bound: --days 1000000 was a traceback
    default=None,
    help="Delete prediction rows older than this many days (default: journal_retention_days).",
)
def db_prune(config: Path | None, db_path: Path | None, days: int | None) -> None:
    """Delete sentiment predictions and never-resolved price forecasts older than the retention.

    Resolved price forecasts are kept: they are each model version's live-skill record. The gateway
    does the same once a day while it runs (journal_retention_days; 0 keeps everything)."""
    settings = settings_from(config, db_path=db_path)
    keep = days or settings.journal_retention_days
    if keep == 0:
        raise click.ClickException("journal_retention_days is 0 (keep everything): pass --days to prune anyway")
    pruned = prune_journal(settings, keep)
    click.echo(
        f"deleted {pruned.sentiment} sentiment predictions and {pruned.price_unresolved} never-resolved price "
        f"forecasts older than {keep} days from {settings.db_path}"
    )


@main.command("resolve")
@config_option
@db_option
@csv_option(
    help="Take the bars from this file (as `train patchtst --csv` reads it, with a symbol column for several "
    "symbols) instead of Yahoo Finance: offline, or for bars of your own.",
)
def resolve_command(config: Path | None, db_path: Path | None, csv_path: Path | None) -> None:
    """Score past price forecasts whose horizon has passed against the market (the gateway also does
    this every price_resolve_every_s seconds). Bars come from the bar cache, refreshed from Yahoo Finance,
    or from --csv.

    Exit status 1 when the bars of some symbol could not be had (each named), after scoring the others: it was 0,
    and a scheduled run could not tell Yahoo Finance unreachable from nothing due (a review)."""
    report = resolve(settings_from(config, db_path=db_path), csv_path)
    click.echo(f"resolved {report.resolved} forecasts; {report.waiting} due but waiting for bars")
    for symbol, reason in report.errors.items():
        click.echo(f"  {symbol}: {reason}", err=True)
    if report.errors and csv_path is None:
        click.echo(
            "bars that Yahoo Finance cannot give can come from a file: investiq resolve --csv FILE", err=True
        )
    if report.errors:
        raise SystemExit(1)


@main.group()
def config() -> None:
    """Inspect settings."""


@config.command("show")
@config_option
def config_show(config: Path | None) -> None:
    """Print the effective settings (file < environment) as JSON; the API key is never shown."""
    settings = settings_from(config)
    values = settings.model_dump(mode="json")
    values["api_key"] = "set" if settings.api_key else None
    click.echo(json.dumps(values, indent=2))


@config.command("defaults")
def config_defaults() -> None:
    """Print every setting with its default and description (the committed config.yaml)."""
    click.echo(render_defaults(), nl=False)


for command in (start, status, stop, report, retrain, models, triton, backtest_command):
    main.add_command(command)
for group, command in ((train, train_patchtst), (evaluate, evaluate_patchtst), (export, export_patchtst)):
    group.add_command(command)
    main.add_command(group)
evaluate.add_command(evaluate_finbert)
main.add_command(bench)
