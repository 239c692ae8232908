"""Kill tests of a mutation audit of the command line's top level (investiq/cli/main.py: its error handling, `up`,
`db`, `resolve`, `config`) and of `investiq backtest` (investiq/cli/backtest.py): each fails with the mutant its
docstring names applied, and passes on the code as it is. Every command runs in-process under click's CliRunner
with the work it would hand on (bootstrap, the port check, pruning, resolving, the backtest itself, choosing bars)
replaced by a recording fake: no server starts, nothing trains, nothing is fetched."""

from __future__ import annotations

import errno
import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.error import HTTPError

import pytest
from click.testing import CliRunner, Result

from investiq.cli import backtest as cli_backtest
from investiq.cli import main as cli_main
from investiq.cli.main import main
from investiq.core.settings_load import render_defaults
from investiq.ops import bootstrap


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no config.yaml: the defaults; models/ and data/ under tmp_path
    for name in ("INVESTIQ_PRICE_SOURCE", "INVESTIQ_JOURNAL_RETENTION_DAYS", "ML_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def raising(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> Result:
    """`investiq config defaults` with its one call raising `exc` (as a command deep in the tree would)."""

    def fail() -> str:
        raise exc

    monkeypatch.setattr("investiq.cli.main.render_defaults", fail)
    return invoke("config", "defaults")


# -- main.py: errors the group turns into one line ------------------------------------------------------------


def test_a_disk_full_on_a_named_file_names_the_file(monkeypatch: pytest.MonkeyPatch):
    """main.py:_Group.invoke, `and exc.filename is None` dropped from the no-room branch (a full disk while writing
    report.md said "free some space" without naming which file or disk)."""
    result = raising(monkeypatch, OSError(errno.ENOSPC, "No space left on device", "/reports/report.md"))
    assert result.exit_code == 1, result.output
    assert "/reports/report.md" in result.output and "give a path on another disk" in result.output


def test_a_disk_quota_without_a_file_is_told_as_no_room(monkeypatch: pytest.MonkeyPatch):
    """main.py:_NO_ROOM, errno.EDQUOT dropped (a user over quota got a traceback from a plot's writer)."""
    result = raising(monkeypatch, OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "Disk quota exceeded: free some space, or write elsewhere" in result.output


def test_an_os_error_without_a_file_stays_a_traceback(monkeypatch: pytest.MonkeyPatch):
    """main.py:_Group.invoke, `exc.filename is None` dropped from the re-raise (a bug's OSError was printed as
    "Input/output error: None", hiding where it came from)."""
    boom = OSError(errno.EIO, "Input/output error")
    result = raising(monkeypatch, boom)
    assert result.exception is boom


def test_an_http_error_stays_a_traceback(monkeypatch: pytest.MonkeyPatch):
    """main.py:_Group.invoke, `or isinstance(exc, URLError)` dropped (an HTTP error, whose filename is its URL, was
    told as a file system refusal of that URL)."""
    url = "https://example.invalid/bars"
    boom = HTTPError(url, 503, "Service Unavailable", None, None)  # type: ignore[arg-type]
    result = raising(monkeypatch, boom)
    assert result.exception is boom


def test_a_refused_rename_names_both_paths(monkeypatch: pytest.MonkeyPatch):
    """main.py:_refusal, the ` -> filename2` part dropped (a refused move named only its source)."""
    exc = OSError(errno.EXDEV, "Invalid cross-device link", "/a/staging", None, "/b/final")
    result = raising(monkeypatch, exc)
    assert "Error: Invalid cross-device link: /a/staging -> /b/final" in result.output, result.output


def test_a_file_where_a_folder_goes_says_so_and_an_existing_folder_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """main.py:_refusal, the FileExistsError clause dropped, or its `Path(...).is_file()` check dropped (a file in
    the way of --out was not told as such; a folder that exists was told to be a file)."""
    (tmp_path / "a_file").write_text("")
    (tmp_path / "a_dir").mkdir()
    on_file = raising(monkeypatch, FileExistsError(errno.EEXIST, "File exists", str(tmp_path / "a_file")))
    assert "a file where a folder goes; give another path" in on_file.output, on_file.output
    on_dir = raising(monkeypatch, FileExistsError(errno.EEXIST, "File exists", str(tmp_path / "a_dir")))
    assert on_dir.exit_code == 1 and "a file where a folder goes" not in on_dir.output, on_dir.output


@pytest.mark.parametrize(
    ("code", "advice"),
    [
        (errno.EROFS, "give a path on a disk that can be written"),
        (errno.EPERM, "this user may not use it"),
        (errno.EACCES, "this user may not use it"),
        (errno.ENOSPC, "free some space, or give a path on another disk"),
        (errno.EDQUOT, "free some space, or give a path on another disk"),
    ],
)
def test_each_refusal_says_what_to_do(monkeypatch: pytest.MonkeyPatch, code: int, advice: str):
    """main.py:_refusal, the EROFS test changed, EPERM dropped, or the no-room advice dropped (the user was told
    only the system's words, not what to do)."""
    result = raising(monkeypatch, OSError(code, "refused", "/data/bars.parquet"))
    assert result.exit_code == 1 and result.output.startswith("Error: refused: /data/bars.parquet; "), (
        result.output
    )
    assert advice in result.output, result.output


def test_a_refusal_is_told_in_the_systems_words_with_its_path(monkeypatch: pytest.MonkeyPatch):
    """main.py:_refusal, `what` made `str(exc)` (the line read "[Errno 5] ..." with a doubled path)."""
    result = raising(monkeypatch, OSError(errno.EIO, "Input/output error", "/data/x"))
    assert result.output == "Error: Input/output error: /data/x\n", result.output


# -- main.py: up and serve ------------------------------------------------------------------------------------


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """What `up`/`serve` called, in order: the port check, prepare and serve, each faked."""
    calls: list[tuple[str, Any]] = []
    monkeypatch.setattr("investiq.cli.main.check_port", lambda settings: calls.append(("check_port", settings)))
    monkeypatch.setattr(bootstrap, "prepare", lambda settings, log: calls.append(("prepare", settings)))
    monkeypatch.setattr(
        bootstrap, "serve", lambda settings, level, log: calls.append(("serve", (settings, level)))
    )
    return calls


def test_up_checks_the_port_then_prepares_then_serves_with_the_flags(served: list[tuple[str, Any]]):
    """main.py:up, check_port dropped or moved after prepare (a taken port failed only after minutes of training),
    prepare dropped (nothing prepared), or the log level not passed on."""
    result = invoke("up", "--port", "18123", "--log-level", "debug")
    assert result.exit_code == 0, result.output
    assert [name for name, _ in served] == ["check_port", "prepare", "serve"]
    assert served[0][1].port == 18123 and served[2][1][0].port == 18123 and served[2][1][1] == "debug"


def test_a_taken_port_fails_up_before_anything_is_prepared(
    served: list[tuple[str, Any]], monkeypatch: pytest.MonkeyPatch
):
    """main.py:up, check_port moved after prepare (the taken port was found after the training)."""
    from investiq.core.errors import InvestIQError

    def taken(settings: Any) -> None:
        raise InvestIQError("port 18123 is in use: choose another with --port")

    monkeypatch.setattr("investiq.cli.main.check_port", taken)
    result = invoke("up", "--port", "18123")
    assert result.exit_code == 1 and "choose another with --port" in result.output
    assert served == []


def test_serve_passes_its_flags_to_the_gateway(served: list[tuple[str, Any]]):
    """main.py:serve, the flags dropped from settings_from (--port and --host ignored)."""
    result = invoke("serve", "--port", "18124", "--host", "127.0.0.2")
    assert result.exit_code == 0, result.output
    ((name, (settings, _level)),) = served
    assert name == "serve" and settings.port == 18124 and settings.host == "127.0.0.2"


# -- main.py: db ------------------------------------------------------------------------------------------------


def test_db_status_names_the_journals_path(tmp_path: Path):
    """main.py:db_status, "path" dropped from the JSON (a script checking several journals could not tell
    which)."""
    db = tmp_path / "j.db"
    assert invoke("db", "init", "--db", str(db)).exit_code == 0
    result = invoke("db", "status", "--db", str(db))
    assert json.loads(result.output)["path"] == str(db)


def test_db_status_warns_of_a_trades_table_the_sync_cannot_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """main.py:db_status, the trades-table warning dropped; _warn_of_trades_table, its isinstance(str) test dropped
    (a journal too damaged to say printed "warning: None: ...")."""
    db = tmp_path / "j.db"
    assert invoke("db", "init", "--db", str(db)).exit_code == 0
    real = cli_main.journal_status  # type: ignore[attr-defined]
    for state, warned in (("the trades table lacks column(s) closed_at", True), (None, False)):
        monkeypatch.setattr(cli_main, "journal_status", lambda conn, s=state: {**real(conn), "trades_table": s})
        result = invoke("db", "status", "--db", str(db))
        assert result.exit_code == 0, result.output
        assert ("warning:" in result.stderr) is warned, result.stderr


@pytest.fixture
def pruned(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The retention `db prune` asked for (the pruning itself faked)."""
    asked: list[int] = []

    def prune(settings: Any, keep: int) -> SimpleNamespace:
        asked.append(keep)
        return SimpleNamespace(sentiment=4, price_unresolved=2)

    monkeypatch.setattr("investiq.cli.main.prune_journal", prune)
    return asked


@pytest.mark.parametrize("days", ["0", "-1", "36501"])
def test_db_prune_refuses_days_out_of_range(pruned: list[int], days: str):
    """main.py:db_prune, --days IntRange(1, ...) made IntRange(0, ...) or int (--days 0 pruned with the setting's
    retention; --days -1 deleted every row)."""
    result = invoke("db", "prune", "--days", days)
    assert result.exit_code == 2 and pruned == [], result.output


def test_db_prune_uses_days_else_the_setting(pruned: list[int], monkeypatch: pytest.MonkeyPatch):
    """main.py:db_prune, `keep` made the setting's or a constant (--days, or journal_retention_days, ignored), or
    the message printing --days (it said "older than None days" when the setting applied)."""
    monkeypatch.setenv("INVESTIQ_JOURNAL_RETENTION_DAYS", "45")
    by_flag = invoke("db", "prune", "--days", "3")
    by_setting = invoke("db", "prune")
    assert pruned == [3, 45], (by_flag.output, by_setting.output)
    assert (
        "deleted 4 sentiment predictions and 2 never-resolved price forecasts older than 3 days" in by_flag.output
    )
    assert "older than 45 days" in by_setting.output, by_setting.output


def test_db_prune_with_a_retention_of_zero_refuses(pruned: list[int], monkeypatch: pytest.MonkeyPatch):
    """main.py:db_prune, the `keep == 0` refusal dropped (a retention of 0, "keep everything", deleted
    everything)."""
    monkeypatch.setenv("INVESTIQ_JOURNAL_RETENTION_DAYS", "0")
    result = invoke("db", "prune")
    assert result.exit_code == 1 and "pass --days to prune anyway" in result.output
    assert pruned == []


# -- main.py: resolve -------------------------------------------------------------------------------------------


@pytest.fixture
def resolving(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """`resolve` faked: set "errors" to what it reports; "csv" is the file it was given."""
    seen: dict[str, Any] = {"errors": {}}

    def resolve(settings: Any, csv_path: Path | None) -> SimpleNamespace:
        seen["csv"] = csv_path
        return SimpleNamespace(resolved=3, waiting=1, errors=seen["errors"])

    monkeypatch.setattr("investiq.cli.main.resolve", resolve)
    return seen


def test_resolve_names_each_symbol_without_bars_and_exits_1(resolving: dict[str, Any]):
    """main.py:resolve_command, the per-symbol lines dropped or the exit status 1 dropped (a scheduled run could
    not tell Yahoo Finance unreachable from nothing due)."""
    resolving["errors"] = {"AAPL": "no bars from Yahoo Finance"}
    result = invoke("resolve")
    assert result.exit_code == 1, result.output
    assert "  AAPL: no bars from Yahoo Finance" in result.stderr and "investiq resolve --csv FILE" in result.stderr
    assert result.stdout == "resolved 3 forecasts; 1 due but waiting for bars\n"


def test_resolve_from_a_file_reads_it_and_does_not_suggest_one(tmp_path: Path, resolving: dict[str, Any]):
    """main.py:resolve_command, --csv not passed on (Yahoo Finance asked instead), or the "--csv FILE" hint also
    printed when a file was given."""
    bars = tmp_path / "bars.csv"
    bars.write_text("timestamp,close\n")
    resolving["errors"] = {"MSFT": "not in the file"}
    result = invoke("resolve", "--csv", str(bars))
    assert resolving["csv"] == bars
    assert result.exit_code == 1 and "MSFT: not in the file" in result.stderr
    assert "resolve --csv FILE" not in result.output


def test_resolve_with_every_symbol_scored_exits_0(resolving: dict[str, Any]):
    """main.py:resolve_command, `if report.errors` made unconditional (exit status 1 on success)."""
    result = invoke("resolve")
    assert result.exit_code == 0 and result.stderr == "", result.output


# -- main.py: config and the group ------------------------------------------------------------------------------


def test_config_show_without_a_key_says_none():
    """main.py:config_show, `"set" if settings.api_key else None` made "set" (a missing key was shown as set, and
    the gateway's 401s were a mystery)."""
    result = invoke("config", "show")
    assert result.exit_code == 0 and json.loads(result.output)["api_key"] is None


def test_config_defaults_prints_the_file_as_it_is():
    """main.py:config_defaults, `nl=False` dropped (`investiq config defaults > config.yaml` was not the committed
    file: an extra blank line)."""
    result = invoke("config", "defaults")
    assert result.exit_code == 0 and result.output == render_defaults()


def test_short_help_option():
    """main.py:main, "-h" dropped from help_option_names (`investiq -h` was a usage error)."""
    result = invoke("-h")
    assert result.exit_code == 0 and "Usage: investiq" in result.output


# -- backtest.py ------------------------------------------------------------------------------------------------


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """`investiq backtest` with the backtest and the bars faked: "request", "target", "logged" and "bars_args"
    record what they were given."""
    seen: dict[str, Any] = {"logged": []}

    def backtest(settings: Any, request: Any, target: Path, log: Any) -> SimpleNamespace:
        seen.update(request=request, target=target, settings=settings)
        log("a log line")
        return SimpleNamespace(runs=[1, 2, 3], trades=[1, 2])

    def choose_bars(settings: Any, *args: Any) -> str:
        seen["bars_args"] = args
        return "the bars"

    monkeypatch.setattr(cli_backtest, "backtest", backtest)
    monkeypatch.setattr(cli_backtest, "choose_bars", choose_bars)
    return seen


def bt(*args: str) -> Result:
    return invoke("backtest", *args)


def test_the_journal_source_refuses_the_price_filter(run: dict[str, Any]):
    """backtest.py, the --price-filter refusal for the journal dropped (it was accepted and did nothing)."""
    result = bt("--source", "journal", "--price-filter")
    assert result.exit_code == 2 and "--price-filter needs bars" in result.output
    assert "request" not in run


@pytest.mark.parametrize(
    "option",
    [
        ["--symbols", "SPY"],
        ["--csv", "bars.csv"],
        ["--days", "5"],
        ["--interval", "1d"],
        ["--cost-bps", "1"],
        ["--history-fraction", "0.5"],
        ["--price-budget-s", "10"],
    ],
)
def test_the_journal_source_refuses_each_bar_option(tmp_path: Path, run: dict[str, Any], option: list[str]):
    """backtest.py, any one bar option dropped from the journal's refusals (it did nothing to the agent's trades,
    and the report printed it as applied)."""
    (tmp_path / "bars.csv").write_text("timestamp,close\n")
    result = bt("--source", "journal", *option)
    assert result.exit_code == 2 and f"{option[0]} act on bars" in result.output, result.output
    assert "request" not in run


def test_the_journal_refusal_names_every_bar_option_given(run: dict[str, Any]):
    """backtest.py, the refusal naming only the first bar option (the user dropped it and was refused again)."""
    result = bt("--source", "journal", "--days", "5", "--cost-bps", "2")
    assert result.exit_code == 2 and "--days, --cost-bps act on bars" in result.output, result.output


def test_the_journal_request_carries_the_db_headlines_and_config(tmp_path: Path, run: dict[str, Any]):
    """backtest.py, --headlines not passed with the journal, --db ignored, or --seed dropped from the config (the
    sentiment filter silently missing; another journal backtested)."""
    headlines = tmp_path / "news.csv"
    headlines.write_text("time,symbol,text\n")
    result = bt(
        "--source", "journal", "--db", str(tmp_path / "agent.db"), "--headlines", str(headlines), "--seed", "7"
    )
    assert result.exit_code == 0, result.output
    request = run["request"]
    assert request.db_path == tmp_path / "agent.db" and request.bars is None and not request.price_filter
    assert request.headlines == headlines and request.config.seed == 7


def test_days_with_the_sample_from_the_settings_is_refused(run: dict[str, Any], monkeypatch: pytest.MonkeyPatch):
    """backtest.py, `source or settings.price_source` made `source` (--days was ignored with price_source:
    sample)."""
    monkeypatch.setenv("INVESTIQ_PRICE_SOURCE", "sample")
    result = bt("--days", "30")
    assert result.exit_code == 2 and "the sample is used whole" in result.output
    assert "bars_args" not in run


def test_days_with_a_csv_file_is_passed_on(tmp_path: Path, run: dict[str, Any], monkeypatch: pytest.MonkeyPatch):
    """backtest.py, `and csv_path is None` dropped from the sample refusal, or --days not passed to choose_bars
    (the window of a csv file was refused or ignored)."""
    monkeypatch.setenv("INVESTIQ_PRICE_SOURCE", "sample")
    bars = tmp_path / "bars.csv"
    bars.write_text("timestamp,close\n")
    result = bt("--csv", str(bars), "--days", "30")
    assert result.exit_code == 0, result.output
    assert run["bars_args"] == (None, (), 30, "1d", bars)


def test_bar_sources_default_to_all_days_daily(run: dict[str, Any]):
    """backtest.py, `days or ALL_DAYS` lost its default (the price_days setting's 60 days cut the bars)."""
    from investiq.ops.backtest.config import ALL_DAYS

    result = bt("--source", "sample", "--symbols", "SPX")
    assert result.exit_code == 0, result.output
    assert run["bars_args"] == ("sample", ("SPX",), ALL_DAYS, "1d", None)


@pytest.mark.parametrize(("flag", "on"), [([], True), (["--price-filter"], True), (["--no-price-filter"], False)])
def test_the_price_filter_is_on_for_bars_unless_turned_off(run: dict[str, Any], flag: list[str], on: bool):
    """backtest.py, `price_filter is not False` made `bool(price_filter)` or True (the default lost the filter, or
    --no-price-filter trained a model anyway)."""
    result = bt("--source", "sample", *flag)
    assert result.exit_code == 0, result.output
    assert run["request"].price_filter is on and run["request"].bars == "the bars"


def test_bar_sources_pass_the_headlines(tmp_path: Path, run: dict[str, Any]):
    """backtest.py, --headlines not passed with bar sources (the sentiment filter silently missing)."""
    headlines = tmp_path / "news.csv"
    headlines.write_text("time,symbol,text\n")
    result = bt("--source", "sample", "--headlines", str(headlines))
    assert result.exit_code == 0 and run["request"].headlines == headlines, result.output


def test_the_report_goes_to_out_else_under_models_dir(tmp_path: Path, run: dict[str, Any]):
    """backtest.py, --out ignored, or the default folder changed (report.md not where --help says)."""
    assert bt("--source", "sample", "--out", str(tmp_path / "mine")).exit_code == 0
    assert run["target"] == tmp_path / "mine"
    result = bt("--source", "sample")
    assert run["target"] == Path("models") / "backtest" / "report"
    assert (
        f"wrote {Path('models') / 'backtest' / 'report' / 'report.md'}, report.json and the figures"
        in result.output
    )


def test_the_summary_and_the_log_are_printed(run: dict[str, Any]):
    """backtest.py, the summary line or the backtest's log dropped (the user saw nothing of the run)."""
    result = bt("--source", "sample")
    assert "a log line" in result.output and "3 variants over 2 trades in " in result.output, result.output


def test_the_report_records_the_command_as_typed(run: dict[str, Any], monkeypatch: pytest.MonkeyPatch):
    """backtest.py, the command not passed to the report, or _command keeping "backtest" twice (report.md could not
    be rerun as printed)."""
    monkeypatch.setattr(sys, "argv", ["investiq", "backtest", "--source", "sample", "--seed", "3"])
    assert bt("--source", "sample", "--seed", "3").exit_code == 0
    assert run["request"].command == "investiq backtest --source sample --seed 3"


def test_the_command_outside_a_shell_is_its_name_only(monkeypatch: pytest.MonkeyPatch):
    """backtest.py:_command, the `args[:1] == ["backtest"]` test dropped (pytest's or a notebook's own arguments
    were written into report.md as the backtest's)."""
    monkeypatch.setattr(sys, "argv", ["/usr/bin/pytest", "-q", "tests/ops"])
    assert cli_backtest._command() == "investiq backtest"


def test_a_zero_cost_is_kept(run: dict[str, Any]):
    """backtest.py, the given options filtered on truth instead of `is not None` (--cost-bps 0 became the 5 bps
    default)."""
    result = bt("--source", "sample", "--cost-bps", "0", "--history-fraction", "0.3", "--price-budget-s", "20")
    assert result.exit_code == 0, result.output
    config = run["request"].config
    assert (config.cost_bps, config.history_fraction, config.price_budget_s) == (0, 0.3, 20)


@pytest.mark.parametrize(
    "option",
    [
        ["--history-fraction", "0.95"],
        ["--history-fraction", "0.05"],
        ["--price-budget-s", "0.5"],
        ["--cost-bps", "-1"],
        ["--seed", "-1"],
        ["--interval", "15m"],
        ["--source", "polygon"],
        ["--headlines", "missing.csv"],
    ],
)
def test_out_of_range_options_are_usage_errors(run: dict[str, Any], option: list[str]):
    """backtest.py, a range or choice of an option widened (a history of 95% left no window; a negative cost or
    seed, 15-minute bars, or a missing headlines file reached the backtest)."""
    result = bt("--source", "sample", *option)
    assert result.exit_code == 2, result.output
    assert "request" not in run


def test_yfinance_is_a_source(run: dict[str, Any]):
    """backtest.py, the source choices rebuilt without yfinance (the default source refused)."""
    result = bt("--source", "yfinance")
    assert result.exit_code == 0 and run["bars_args"][0] == "yfinance", result.output


def test_out_that_is_a_file_is_a_usage_error(tmp_path: Path, run: dict[str, Any]):
    """backtest.py, --out's file_okay=False dropped (a report folder over an existing file failed after the
    run)."""
    (tmp_path / "taken").write_text("")
    result = bt("--source", "sample", "--out", str(tmp_path / "taken"))
    assert result.exit_code == 2 and "request" not in run, result.output
