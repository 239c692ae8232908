"""The `investiq` command line: help everywhere, journal commands, clear start-up errors."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from investiq.cli.main import main
from investiq.core.ports import free_port


def _walk(group: click.Group, prefix: list[str]) -> list[list[str]]:
    """Every command path under `group` (the tree itself: a new command cannot go untested)."""
    paths = [prefix]
    for name, command in sorted(group.commands.items()):
        paths += _walk(command, [*prefix, name]) if isinstance(command, click.Group) else [[*prefix, name]]
    return paths


COMMANDS = _walk(main, [])


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "investiq")
def test_every_command_explains_itself(args: list[str]):
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: investiq" in result.output
    if args in (["serve"], ["up"]):
        for flag in ("--config", "--host", "--port", "--db", "--backend"):
            assert flag in result.output


def _command(args: list[str]) -> click.Command:
    command: click.Command = main
    for name in args:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


GROUPS = [args for args in COMMANDS if isinstance(_command(args), click.Group)]


@pytest.mark.parametrize("args", GROUPS, ids=lambda a: " ".join(a) or "investiq")
def test_a_group_lists_each_command_with_its_first_sentence_whole(args: list[str]) -> None:
    """Click cut each line at the terminal's edge ("Replay the agent's loop walk-forward and test the original
    claims (win rate...": a new user's walkthrough); the sentence now wraps, at 80 columns too."""
    output = CliRunner().invoke(main, [*args, "--help"], terminal_width=80).output
    listed = " ".join(output.split("Commands:")[1].split())
    group = _command(args)
    assert isinstance(group, click.Group)
    for name, command in group.commands.items():
        first = " ".join((command.help or "").split("\n\n")[0].split()).split(". ")[0].rstrip(".")
        assert f"{name} {first}" in listed, (name, first)
    assert "..." not in listed


def help_of(*args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # wrapping aside


def test_help_texts_say_what_the_commands_do():
    """Issue 15: `up --help` did not say it trains a first model; `export patchtst --help` named version 1
    while versions are numbered; a taken port's exit status was nowhere."""
    up = help_of("up")
    assert "a quick first PatchTST is trained" in up and "takes minutes on the first start" in up
    assert "naming --port" in up
    assert "REPOSITORY/patchtst/<n>" in help_of("export", "patchtst") and "patchtst/1" not in help_of(
        "export", "patchtst"
    )
    assert "REPOSITORY/finbert_model/1" in help_of("export", "finbert")  # FinBERT has one version
    serve = help_of("serve")
    assert "Exit status 1" in serve and "the port is in use: choose another with --port" in serve
    assert "2 for an invalid flag or setting" in serve
    status = help_of("status")
    assert "`investiq up` or `serve`" in status and "--port" in status
    assert "the gateway that `investiq start` started" in help_of("stop")
    tuning = help_of("train", "finbert")  # each hyperparameter says what it is, not only its default
    assert "Passes over the training split (default: 3)" in tuning and "AdamW learning rate" in tuning


def test_db_init_then_status(tmp_path: Path):
    db = tmp_path / "sub" / "journal.db"
    runner = CliRunner()
    assert runner.invoke(main, ["db", "init", "--db", str(db)]).exit_code == 0
    result = runner.invoke(main, ["db", "status", "--db", str(db)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["journal_mode"] == "wal" and info["integrity"] == "ok"
    assert info["schema_version"] == info["latest_version"]
    assert info["rows"]["trades"] == 0
    assert info["trades_table"] == "ok" and "warning" not in result.output


def test_db_init_and_status_warn_of_an_agent_trades_table_the_sync_cannot_read(tmp_path: Path):
    """The first sign of it was a sync's error, a 422 blaming the request (an audit)."""
    db = tmp_path / "agent.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE trades (id INTEGER PRIMARY KEY, symbol TEXT, pnl REAL)")
    runner = CliRunner()
    init = runner.invoke(main, ["db", "init", "--db", str(db)])
    assert (
        init.exit_code == 0 and "warning: the trades table lacks column(s) strategy_name, closed_at" in init.output
    )
    status = runner.invoke(main, ["db", "status", "--db", str(db)])
    assert status.exit_code == 0 and "sync-from-database needs strategy_name" in status.stderr
    assert json.loads(status.stdout)["trades_table"] == "the trades table lacks column(s) strategy_name, closed_at"


def test_db_status_without_a_journal_says_what_to_do(tmp_path: Path):
    result = CliRunner().invoke(main, ["db", "status", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 1
    assert "investiq db init" in result.output


def test_journal_commands_refuse_another_programs_sqlite_file_and_leave_it_as_it_was(tmp_path: Path):
    """`db prune` and `resolve` migrated any SQLite file into a journal (a review)."""
    for schema_version in (0, 3):  # a version of its own too
        other = tmp_path / f"other{schema_version}.sqlite"
        with sqlite3.connect(other) as conn:
            conn.execute("CREATE TABLE bookmarks (url TEXT)")
            conn.execute(f"PRAGMA user_version = {schema_version}")
        before = other.read_bytes()
        for args in (["db", "prune", "--days", "3"], ["resolve"]):
            result = CliRunner().invoke(main, [*args, "--db", str(other)])
            assert result.exit_code == 1 and "holds none of the gateway's tables" in result.output, result.output
        assert other.read_bytes() == before


def test_a_locked_journal_is_one_line_saying_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Another process holding the write lock was a traceback ending in `database is locked` (a review)."""
    db = tmp_path / "p.db"
    assert CliRunner().invoke(main, ["db", "init", "--db", str(db)]).exit_code == 0
    monkeypatch.setenv("INVESTIQ_DB_BUSY_TIMEOUT_MS", "100")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = CliRunner().invoke(main, ["db", "prune", "--days", "3", "--db", str(db)])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 1 and result.exception is not None and isinstance(result.exception, SystemExit)
    assert "database is locked" in result.output and "try again" in result.output, result.output


def test_db_status_reports_damage_and_exits_1(tmp_path: Path):
    """Damage that quick_check raises on was a traceback, and damage it reported exited 0 (a review)."""
    db = tmp_path / "p.db"
    assert CliRunner().invoke(main, ["db", "init", "--db", str(db)]).exit_code == 0
    conn = sqlite3.connect(db)
    conn.executemany(
        "INSERT INTO trades (symbol, strategy_name, side, quantity, entry_price, exit_price, profit_loss, "
        "opened_at, closed_at) VALUES ('SPY', ?, 'buy', 1, 1, 1, 1, 'x', 'x')",
        [(f"s{i}" * 20,) for i in range(3000)],
    )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db.read_bytes())
    for offset, page in ((100, 20), (0, 20)):  # reported by quick_check; then raised by it
        data[page * 4096 + offset : page * 4096 + offset + 300] = b"\xff" * 300
        db.write_bytes(bytes(data))
        result = CliRunner().invoke(main, ["db", "status", "--db", str(db)])
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert '"integrity": "' in result.output and "restore it from a backup" in result.output
        assert "warning" not in result.output  # the damage was also told as the trades table's (a review)


def test_serve_stops_on_an_unwritable_journal_path(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = subprocess.run(
        [sys.executable, "-m", "investiq", "serve", "--db", str(blocker / "p.db"), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "cannot create the directory of the journal" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_serve_stops_on_an_invalid_setting(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "investiq", "serve", "--db", str(tmp_path / "p.db")],
        capture_output=True,
        text=True,
        timeout=60,
        env={"INVESTIQ_PORT": "0", "PATH": ""},
    )
    assert proc.returncode == 2
    assert "invalid setting port='0' (from environment INVESTIQ_PORT)" in proc.stderr


def test_config_show_hides_the_key(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ML_API_KEY", "very-secret")
    result = CliRunner().invoke(main, ["config", "show"])
    assert result.exit_code == 0
    assert "very-secret" not in result.output
    assert json.loads(result.output)["api_key"] == "set"
