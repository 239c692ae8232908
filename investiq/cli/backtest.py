"""`investiq backtest`: would the Bayesian weights and the ML filters have made the agent win more?
(logic: investiq/ops/backtest/)"""

from __future__ import annotations

import shlex
import sys
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import click

from investiq.cli.options import config_option, data_options, db_option, settings_from
from investiq.core.market import SOURCES
from investiq.ops.backtest.config import ALL_DAYS, BacktestConfig
from investiq.ops.backtest.run import Request, backtest
from investiq.ops.patchtst import choose_bars

JOURNAL = "journal"
DAILY = "1d"  # the stand-in rules and the price filter read daily closes, whatever price_interval says


def _default(name: str) -> str:
    return f"(default: {getattr(BacktestConfig, name)})"


@click.command("backtest")
@config_option
@data_options
@db_option
@click.option(
    "--headlines",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="CSV of timestamped headlines (time, symbol, text): adds the sentiment filter. Times in ISO 8601; "
    "one without an offset is taken as UTC; slash dates (02/03/2015) day or month first as the file shows, "
    "else refused; a column of whole numbers is epoch times (s to ns, by size) or YYYYMMDD dates. A date "
    "without a time of day (2015-03-02, 20150302) is placed at the end of that UTC day, so no entry of that "
    "day reads it. An entry reads the headlines published up to the stamp of the bar it fills at (bar sources: "
    "the bar after the signal) or, for the journal, up to its opened_at. "
    "No headline for the traded symbols and dates is an error.",
)
@click.option(
    "--price-filter/--no-price-filter",
    default=None,
    help="Gate entries on P(up) > 0.5 of a PatchTST trained on the bars before the window "
    "(default: on for bar sources; the journal source has no bars for it).",
)
@click.option(
    "--price-budget-s",
    type=click.FloatRange(1),
    default=None,
    help="Seconds the price filter's model may train " + _default("price_budget_s"),
)
@click.option(
    "--cost-bps",
    type=click.FloatRange(0),
    default=None,
    help="Cost per side of the stand-in strategies, basis points " + _default("cost_bps"),
)
@click.option(
    "--history-fraction",
    type=click.FloatRange(0.1, 0.9),
    default=None,
    help="Share of the distinct bar times (pooled over the symbols; not of the calendar span) kept as history "
    "before the window " + _default("history_fraction"),
)
@click.option(
    "--seed",
    type=click.IntRange(0),
    default=None,
    help="Bootstraps and the price filter's training; the weights' draws use bayes_seed, as the gateway's do "
    + _default("seed"),
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Report folder (default: MODELS_DIR/backtest/report).",
)
def backtest_command(
    config: Path | None,
    symbols: tuple[str, ...],
    source: str | None,
    csv_path: Path | None,
    days: int | None,
    interval: str | None,
    db_path: Path | None,
    headlines: Path | None,
    price_filter: bool | None,
    out: Path | None,
    **given: Any,
) -> None:
    """Replay the agent's loop walk-forward and test the original claims (win rate +15-20 points, average
    win +33%, Sharpe +50%) with 95% confidence intervals.

    \b
    Trades to allocate between (--source):
      journal            the agent's closed trades in the `trades` table of --db (strategy_name,
                         closed_at, profit_loss or side/quantity/entry_price/exit_price; opened_at and
                         symbol when present): "would Bayesian weighting have helped my strategies?"
      sample|csv|yfinance  three stand-in long-only rules on daily closes of the symbols (20/100
                         moving-average trend, RSI(14) mean reversion, 20/10 Donchian breakout),
                         signal at a bar's close, filled at the next close, --cost-bps per side; the
                         first --history-fraction of the bar times is history for the price model only
    \b
    Variants, side by side, each walked forward (weights only from trades closed before each entry,
    by the same code GET /bayesian/weights serves, with the bayes_* settings): equal weights, and the
    three weightings GET /bayesian/weights offers (posterior mean, Thompson, P&L), each at
    bayes_half_life_days and without forgetting; then each again behind
    every entry filter (--price-filter, --headlines) and behind all of them. A filter gates the
    stand-in rules' entry signals (a refused one is no entry; the rule, still flat, may enter at a
    later signal the filter allows); a journal trade it refuses is deleted (there are no signals).
    \b
    Reading the result (--out: report.md, report.json, equity.png, win_rate.png, weights.png): a trade
    is sized K x its strategy's weight (K strategies), so equal weights trade everything at size 1.
    Differences from equal weights come with paired 95% bootstrap intervals over days (win rate,
    average win and P&L per trade: each trade on its decision day, in blocks of whole days; return
    and Sharpe: the daily P&L, in blocks of 20 days); an interval that includes 0 is no evidence
    either way. A figure on fewer than 10 bootstrap blocks (about 100 trades, 200 days) gets no
    interval, and a variant that took fewer than 20 trades no verdict: both read "not tested".
    A journal trade without opened_at is sized 1 in every variant and left out of the claims.
    The same --seed gives the same report.json."""
    settings = settings_from(config, db_path=db_path)
    chosen = {k: v for k, v in given.items() if v is not None}
    backtest_config = BacktestConfig(
        **{f.name: chosen[f.name] for f in fields(BacktestConfig) if f.name in chosen}
    )
    if source == JOURNAL:
        if price_filter:
            raise click.UsageError("--price-filter needs bars: use --source sample, csv or yfinance")
        # bar options did nothing to the journal's trades, and the report printed them as if applied (a review)
        for_bars = {
            "--symbols": symbols,
            "--csv": csv_path,
            "--days": days,
            "--interval": interval,
            "--cost-bps": chosen.get("cost_bps"),
            "--history-fraction": chosen.get("history_fraction"),
            "--price-budget-s": chosen.get("price_budget_s"),
        }
        if given_for_bars := [name for name, value in for_bars.items() if value not in (None, ())]:
            raise click.UsageError(
                f"{', '.join(given_for_bars)} act on bars: the journal's trades are the agent's own, with "
                "their own P&L (drop them, or use --source sample, csv or yfinance)"
            )
        request = Request(db_path=settings.db_path, headlines=headlines, config=backtest_config)
    else:  # --interval takes 1d only (its choices, below)
        if days and (source or settings.price_source) == "sample" and csv_path is None:
            raise click.UsageError("--days cuts csv or yfinance bars: the sample is used whole (drop --days)")
        bars = choose_bars(settings, source, symbols, days or ALL_DAYS, DAILY, csv_path)  # type: ignore[arg-type]
        request = Request(
            bars=bars, price_filter=price_filter is not False, headlines=headlines, config=backtest_config
        )
    target = out or settings.models_dir / "backtest" / "report"
    began = time.monotonic()
    analysis = backtest(settings, replace(request, command=_command()), target, click.echo)
    seconds = time.monotonic() - began
    click.echo(f"{len(analysis.runs)} variants over {len(analysis.trades)} trades in {seconds:.0f} s")
    click.echo(f"wrote {target / 'report.md'}, report.json and the figures")


def _command() -> str:
    """The command line as typed (for report.md); just the command's name when not run from a shell."""
    args = sys.argv[1:]
    return shlex.join(["investiq", "backtest", *(args[1:] if args[:1] == ["backtest"] else [])])


# The shared data options, adapted: --source also takes `journal`, and bars are daily.
for _param in backtest_command.params:
    if _param.name == "source":
        _param.type = click.Choice([*SOURCES, JOURNAL])
        _param.help = "journal (the agent's trades in --db), or bars: " + (_param.help or "")
    elif _param.name == "days":
        _param.help = (
            "Days of bars to use, counted back from the last (default: all of them); csv and yfinance only: the "
            "sample is used whole."
        )
    elif _param.name == "interval":
        _param.type = click.Choice([DAILY])  # the shared option offers every interval: only daily bars are traded
        _param.help = f"Bar interval: {DAILY} only (the default here, whatever price_interval says)."
