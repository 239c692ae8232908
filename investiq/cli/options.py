"""Options shared by several commands, and `settings_from`: a flag that stands for a setting carries no default
of its own.

Such an option defaults to None and is resolved from `Settings` (or a training config) by the code it is
passed to, so that one default serves `up`, `train`, `retrain` and the gateway alike. A command's own flags
(`report --days`, `bench`'s) are not settings and carry theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from investiq.core.errors import SettingsError
from investiq.core.market import INTERVAL_SECONDS, SOURCES
from investiq.core.settings import Settings
from investiq.core.settings_load import load_settings

F = TypeVar("F", bound=Callable[..., Any])
SHORT_HELP = 300  # characters of a command's first sentence that its group's --help lists: all of it


class ListedGroup(click.Group):
    """A group whose --help lists each command's first sentence whole, wrapped: Click cut it at the line's end
    ("Replay the agent's loop walk-forward and test the original claims (win rate...": a new user's walkthrough).
    Groups made under it (`@group.group()`) are ListedGroups too."""

    group_class = type

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        named = [(name, self.get_command(ctx, name)) for name in self.list_commands(ctx)]
        rows = [(name, cmd.get_short_help_str(SHORT_HELP)) for name, cmd in named if cmd and not cmd.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


_FILE = click.Path(path_type=Path, dir_okay=False)
config_option = click.option(
    "--config",
    type=_FILE,
    default=None,
    help="Settings file (default: $INVESTIQ_CONFIG when set, else ./config.yaml if present); relative paths in it "
    "are read from the current directory.",
)
db_option = click.option(
    "--db", "db_path", type=_FILE, default=None, help="SQLite journal (overrides db_path / INVESTIQ_DB_PATH)."
)
model_dir_option = click.option(
    "--model-dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="The trained model, written by `investiq train patchtst` (default: MODELS_DIR/patchtst).",
)


def _default(setting: str) -> Any:
    """A setting's default, for help texts (the value itself lives in Settings only)."""
    return Settings.model_fields[setting].default


def server_options(func: F) -> F:
    """The options shared by `up`, `serve` and `start`."""
    func = click.option(
        "--log-level",
        default="info",
        show_default=True,
        type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    )(func)
    func = click.option(
        "--backend",
        type=click.Choice(["embedded", "triton"]),
        default=None,
        help="Inference backend (overrides `backend`).",
    )(func)
    func = db_option(func)
    func = click.option(
        "--port", type=int, default=None, help=f"TCP port (default: setting port, {_default('port')} as shipped)."
    )(func)
    func = click.option(
        "--host", default=None, help=f"Interface to bind (default: setting host, {_default('host')} as shipped)."
    )(func)
    return config_option(func)


def csv_option(help: str) -> Callable[[F], F]:
    """--csv FILE (an existing file, as `csv_path`): bars or labeled texts, as `help` says."""
    option: Callable[[F], F] = click.option(
        "--csv", "csv_path", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None, help=help
    )
    return option


def data_options(func: F) -> F:
    """Which bars to use; each falls back to the price_* settings (the bars `investiq up` trains on)."""
    options = [
        click.option(
            "--symbols",
            multiple=True,
            default=None,
            help="Symbols, repeated or space-separated (default: setting price_symbols; sample: SPX NASDAQ; "
            "a --csv file the settings do not name: every symbol in it).",
        ),
        click.option(
            "--source",
            type=click.Choice(SOURCES),
            default=None,
            help="yfinance (cached, incremental), csv (--csv) or sample (real daily S&P 500 / NASDAQ bars "
            "shipped with the `arch` package; offline). Default: setting price_source.",
        ),
        csv_option(
            help="Bar file: a time column (timestamp, date or datetime; without a UTC offset, UTC) and a close "
            "column, optionally open, high, low, volume and symbol; comma-, semicolon-, tab- or |-separated, "
            "decimal points or commas; exports of Yahoo, Investing.com, Nasdaq.com, MetaTrader, TradingView and "
            "Binance read as they are (default: price_csv).",
        ),
        click.option(
            "--days",
            type=click.IntRange(1),
            default=None,
            help="History to use (default: setting price_days; sample: all of it; a --csv file the settings do "
            "not name: all of it).",
        ),
        click.option(
            "--interval",
            type=click.Choice(list(INTERVAL_SECONDS)),
            default=None,
            help=f"Bar interval, one of {', '.join(INTERVAL_SECONDS)} (default: setting price_interval; sample: "
            "always 1d; a --csv file the settings do not name: as its bars are spaced).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def settings_from(config: Path | None, **overrides: Any) -> Settings:
    """Settings from the file, the environment and these flags (None: not given); a bad value is a usage error."""
    try:
        return load_settings(config, overrides)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
