"""Kill tests of a mutation audit of investiq/cli/options.py (the options several commands share, ListedGroup,
settings_from) and investiq/cli/service.py (`investiq start|stop|status`). Each test fails with the mutant its
docstring names applied and passes on the code as it is. The options are tried on tiny commands built here; the
service commands run with investiq.ops.service's start/stop/status (and what `stop` looks for) replaced by
fakes: no process is started, nothing listens."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from investiq.cli import service as cli_service
from investiq.cli.options import (
    ListedGroup,
    config_option,
    data_options,
    db_option,
    model_dir_option,
    settings_from,
)
from investiq.core.settings import Settings
from investiq.ops import service, serving
from investiq.ops.service import Started, Stopped

PORT = 9123  # the config file's port: `start` would take it
HOST = "127.0.0.9"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A settings file naming a port and a host other than the shipped ones, logs in tmp_path; no INVESTIQ_*
    variable from outside counts."""
    for name in [n for n in os.environ if n.startswith("INVESTIQ_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "config.yaml"
    path.write_text(f"port: {PORT}\nhost: {HOST}\nlogs_dir: {tmp_path / 'logs'}\n")
    return path


def run(command: click.Command, *args: str) -> Result:
    return CliRunner().invoke(command, list(args))


# -- options.py: the shared options on commands built here ------------------------------------------------------


@click.command()
@data_options
def bars(**given: Any) -> None:
    click.echo(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in given.items()}))


@click.command()
@config_option
@db_option
@model_dir_option
def files(**given: Any) -> None:
    click.echo(json.dumps({k: str(v) if v is not None else None for k, v in given.items()}))


def test_a_group_lists_only_its_visible_commands_and_no_commands_section_when_it_has_none() -> None:
    """options.py:ListedGroup.format_commands: `not cmd.hidden` dropped (a hidden command listed in --help), or
    `if rows` dropped (a group with no commands printed an empty "Commands:" heading)."""
    group = ListedGroup(name="g")

    @group.command()
    def shown() -> None:
        """Shown in the listing."""

    @group.command(hidden=True)
    def secret() -> None:
        """Never listed."""

    listing = run(group, "--help").output
    assert "shown" in listing and "Shown in the listing." in listing
    assert "secret" not in listing and "Never listed" not in listing
    empty = run(ListedGroup(name="empty"), "--help")
    assert empty.exit_code == 0 and "Commands" not in empty.output, empty.output


def test_a_directory_is_no_settings_file_or_journal_and_the_model_dir_must_exist(tmp_path: Path) -> None:
    """options.py: _FILE with dir_okay=True (`--db DIR` reached SQLite: "unable to open database file", or
    `--config DIR` an IsADirectoryError), or --model-dir without exists=True (a typo'd model directory was read
    as "no model trained")."""
    for flag in ("--config", "--db"):
        refused = run(files, flag, str(tmp_path))
        assert refused.exit_code == 2 and "is a directory" in refused.output, refused.output
    missing = run(files, "--model-dir", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and "does not exist" in missing.output, missing.output
    given = run(files, "--model-dir", str(tmp_path), "--db", str(tmp_path / "j.db"))
    assert json.loads(given.output) == {
        "config": None,
        "db_path": str(tmp_path / "j.db"),
        "model_dir": str(tmp_path),
    }


def test_days_must_be_at_least_one_and_every_data_flag_defaults_to_none() -> None:
    """options.py:data_options: --days as IntRange(0) (`--days 0` reached the loader: no bars and a confusing
    error there); every data flag defaults to None so that the price_* settings decide."""
    refused = run(bars, "--days", "0")
    assert refused.exit_code == 2 and "--days" in refused.output and "x>=1" in refused.output, refused.output
    given = json.loads(run(bars).output)
    assert given == {"symbols": [], "source": None, "csv_path": None, "days": None, "interval": None}


def test_the_data_flags_are_listed_in_the_order_they_are_declared() -> None:
    """options.py:data_options: the options applied in list order instead of reversed: --help listed them
    backwards (--interval first, --symbols last)."""
    listing = run(bars, "--help").output
    listed = re.findall(r"^  (--[a-z-]+)", listing, re.MULTILINE)
    assert listed == ["--symbols", "--source", "--csv", "--days", "--interval", "--help"], listing


def test_settings_from_applies_the_flags_given_and_a_bad_value_is_a_usage_error(config: Path) -> None:
    """options.py:settings_from: the flags dropped (every flag standing for a setting ignored), or a bad value
    not turned into click.UsageError (a traceback instead of "Error: ... " and exit status 2)."""
    assert settings_from(config, port=9200).port == 9200
    assert settings_from(config, port=None).port == PORT  # None: not given, the file decides
    with pytest.raises(click.UsageError, match="port"):
        settings_from(config, port="not-a-port")


# -- service.py: start ------------------------------------------------------------------------------------------


class Recorder:
    """Fakes for investiq.ops.service (and what `stop` looks for in investiq.ops.serving), recording calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[tuple[Settings, Path | None, str, float]] = []
        self.stops: list[float] = []
        self.statuses: list[tuple[Settings, bool]] = []
        self.triton_pid: int | None = None
        self.stopped = Stopped(None, True, False, None)
        self.others: list[dict[str, Any]] = []
        self.health: str | None = None
        self.report: tuple[dict[str, Any], bool] = ({"gateway": {"status": "healthy"}}, True)
        monkeypatch.setattr(service, "start", self.start)
        monkeypatch.setattr(service, "stop", self.stop)
        monkeypatch.setattr(service, "status", self.status)
        monkeypatch.setattr(service, "health", lambda url, timeout_s=10.0: self.health)
        monkeypatch.setattr(serving, "serving_gateways", lambda settings: self.others)
        monkeypatch.setattr(serving, "foreground_pid", lambda settings: 5151)

    def start(self, settings: Settings, config: Path | None, log_level: str, wait_s: float, **_: Any) -> Started:
        self.started.append((settings, config, log_level, wait_s))
        return Started(4242, f"http://{settings.host}:{settings.port}", self.tmp_path / "gw.log", self.triton_pid)

    def stop(self, settings: Settings, timeout_s: float = service.STOP_WAIT_S) -> Stopped:
        self.stops.append(timeout_s)
        return self.stopped

    def status(self, settings: Settings, use_record: bool = True) -> tuple[dict[str, Any], bool]:
        self.statuses.append((settings, use_record))
        return self.report


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Recorder:
    return Recorder(monkeypatch, tmp_path)


def test_start_without_flags_takes_the_settings_files_port_host_and_the_default_log_level_and_wait(
    fake: Recorder, config: Path
) -> None:
    """options.py:server_options: --port or --host defaulting to the shipped value instead of None (the config
    file's port and host silently overridden), or --log-level's default changed."""
    result = run(cli_service.start, "--config", str(config))
    assert result.exit_code == 0, result.output
    [(settings, given_config, log_level, wait_s)] = fake.started
    assert (settings.port, settings.host, given_config, log_level) == (PORT, HOST, config, "info")
    assert wait_s == service.START_WAIT_S


def test_start_passes_every_flag_and_the_wait_asked(fake: Recorder, config: Path, tmp_path: Path) -> None:
    """service.py:start: the flags dropped from settings_from (--port, --host, --db, --backend ignored), --wait
    ignored, or triton not a --backend choice (options.py:server_options)."""
    args = ["--config", str(config), "--port", "9124", "--host", "127.0.0.8", "--db", str(tmp_path / "j.db")]
    result = run(cli_service.start, *args, "--backend", "triton", "--wait", "7", "--log-level", "debug")
    assert result.exit_code == 0, result.output
    [(settings, _, log_level, wait_s)] = fake.started
    assert (settings.port, settings.host, settings.db_path, settings.backend) == (
        9124,
        "127.0.0.8",
        tmp_path / "j.db",
        "triton",
    )
    assert (log_level, wait_s) == ("debug", 7.0)


def test_start_refuses_a_wait_under_a_second(fake: Recorder, config: Path) -> None:
    """service.py:start: --wait as FloatRange(min=0): `--wait 0.5` gave a gateway no time to answer and `start`
    reported a failure for a gateway that was still starting."""
    result = run(cli_service.start, "--config", str(config), "--wait", "0.5")
    assert result.exit_code == 2 and "--wait" in result.output, result.output
    assert fake.started == []


@pytest.mark.parametrize("triton_pid", [None, 77])
def test_start_names_the_triton_it_started_and_only_then(
    fake: Recorder, config: Path, tmp_path: Path, triton_pid: int | None
) -> None:
    """service.py:start: `started.triton_pid is not None` flipped: "Triton running (PID None)" after an embedded
    start, and no Triton line (nor its log) after a triton one."""
    fake.triton_pid = triton_pid
    result = run(cli_service.start, "--config", str(config))
    assert result.exit_code == 0, result.output
    triton = f"Triton running (PID 77), log: {tmp_path / 'logs' / 'triton' / 'triton.log'}\n" if triton_pid else ""
    assert result.output == (
        f"{triton}gateway running (PID 4242) on http://{HOST}:{PORT}\n"
        f"log: {tmp_path / 'gw.log'}; stop with `investiq stop`, check with `investiq status`\n"
    )


# -- service.py: stop -------------------------------------------------------------------------------------------


def test_stop_with_nothing_running_says_so_and_exits_0(fake: Recorder, config: Path) -> None:
    """service.py:stop: the /health fallback's `is not None` flipped: with nothing answering, `stop` named a
    gateway "answering" on the configured URL."""
    result = run(cli_service.stop, "--config", str(config))
    assert (result.exit_code, result.output) == (0, "not running\n")


def test_stop_with_nothing_started_says_only_not_running_though_a_triton_it_did_not_start_runs(
    fake: Recorder, config: Path
) -> None:
    """service.py:stop: the `return` after "not running" dropped: the answer went on with what a stop that did
    something says (here the Triton `start` found running and left)."""
    fake.stopped = Stopped(None, True, False, 77)
    result = run(cli_service.stop, "--config", str(config))
    assert (result.exit_code, result.output) == (0, "not running\n")


def test_stop_names_a_foreground_gateway_on_starts_port_with_its_pid_and_exits_1(
    fake: Recorder, config: Path
) -> None:
    """service.py:stop: the kill hint's `pid is not None` flipped, the on-start's-port check flipped, or its
    SystemExit(1) dropped: `investiq stop && investiq start` went on to start's "something already listens"."""
    fake.others = [{"url": f"http://127.0.0.1:{PORT}", "pid": 4343}]
    result = run(cli_service.stop, "--config", str(config))
    assert result.exit_code == 1, result.output
    assert result.output == (
        f"not running: no gateway started by `investiq start`; the one answering on http://127.0.0.1:{PORT} "
        "(`investiq up` or `serve`) stops with Ctrl-C in its terminal, or `kill -TERM 4343`\n"
    )


def test_stop_names_a_foreground_gateway_elsewhere_without_a_pid_and_exits_0(fake: Recorder, config: Path) -> None:
    """service.py:stop: the on-start's-port check flipped (a gateway on another port failed `stop`), or the kill
    hint's condition flipped ("kill -TERM None")."""
    fake.others = [{"url": "http://127.0.0.1:9999", "pid": None}]
    result = run(cli_service.stop, "--config", str(config))
    assert result.exit_code == 0, result.output
    assert result.output.endswith("(`investiq up` or `serve`) stops with Ctrl-C in its terminal\n"), result.output


def test_stop_with_only_the_configured_url_answering_names_it_with_the_listeners_pid(
    fake: Recorder, config: Path
) -> None:
    """service.py:stop: the /health fallback's `is not None` flipped (a gateway that records nothing, answering
    where the settings say it serves, went unnamed: "not running"), or the on-start's-port check or its exit 1
    dropped; it is named with the PID listening there."""
    fake.health = "healthy"
    result = run(cli_service.stop, "--config", str(config))
    assert result.exit_code == 1, result.output
    assert f"answering on http://{HOST}:{PORT}" in result.output and "kill -TERM 5151" in result.output


def test_stop_reports_a_gateway_it_killed_after_the_timeout_asked_and_no_triton(
    fake: Recorder, config: Path
) -> None:
    """service.py:stop: --timeout not passed to service.stop, "nothing stopped" as `or` (a stopped gateway
    without a Triton was answered "not running"), the graceful wording flipped, or the Triton-left line's
    condition flipped ("Triton (PID None) left running")."""
    fake.stopped = Stopped(4242, False, False, None)
    result = run(cli_service.stop, "--config", str(config), "--timeout", "7")
    assert (result.exit_code, fake.stops) == (0, [7.0]), result.output
    assert result.output == "gateway (PID 4242) killed after 7 s (journal writes may be lost)\n"


def test_stop_reports_a_graceful_stop_the_triton_it_stopped_and_one_it_left(fake: Recorder, config: Path) -> None:
    """service.py:stop: the graceful wording or the Triton-left condition flipped."""
    fake.stopped = Stopped(4242, True, True, None)
    result = run(cli_service.stop, "--config", str(config))
    assert result.output == "gateway (PID 4242) stopped\nTriton stopped\n", result.output
    assert fake.stops == [service.STOP_WAIT_S]
    fake.stopped = Stopped(4242, True, False, 77)
    left = run(cli_service.stop, "--config", str(config)).output
    assert left.startswith("gateway (PID 4242) stopped\nTriton (PID 77) left running"), left


# -- service.py: status -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "port", "use_record"),
    [([], PORT, True), (["--port", "9300"], 9300, False), (["--host", "127.0.0.7"], PORT, False)],
)
def test_status_looks_where_the_flags_say_and_reads_starts_record_only_without_them(
    fake: Recorder, config: Path, flags: list[str], port: int, use_record: bool
) -> None:
    """service.py:status: `explicit` needing both --host and --port, use_record flipped (`status --port N`
    reported start's gateway elsewhere), or --host/--port not passed to the settings."""
    result = run(cli_service.status, "--config", str(config), *flags)
    assert result.exit_code == 0, result.output
    [(settings, used)] = fake.statuses
    assert (settings.port, used) == (port, use_record)
    if "--host" in flags:
        assert settings.host == "127.0.0.7"


@pytest.mark.parametrize("ok", [True, False])
def test_status_prints_the_report_and_exits_1_only_when_something_is_wrong(
    fake: Recorder, config: Path, ok: bool
) -> None:
    """service.py:status: `if not ok` flipped: a healthy stack exited 1 and a broken one 0."""
    fake.report = ({"gateway": {"status": "healthy" if ok else "unhealthy"}}, ok)
    result = run(cli_service.status, "--config", str(config))
    assert result.exit_code == (0 if ok else 1)
    assert json.loads(result.output) == fake.report[0]
