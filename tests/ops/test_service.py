"""`investiq start|stop|status` for real (a detached gateway, its PID file, the journal flushed on stop),
the PID-file rules, and the deploy files (systemd units, wrapper scripts) against the CLI they call."""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from click.testing import CliRunner

from harness.processes import GatewayProcess, isolated_env
from investiq.cli.main import main
from investiq.core.ports import free_ports
from investiq.core.settings import Settings
from investiq.ops import pidfile, service, serving, triton_server

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
INSTALL = "/opt/investiq"  # where the units expect the repository


class Stack:
    """A temp directory to run `python -m investiq` in: its own journal, logs, port and an empty model
    repository (the gateway then serves Bayesian weights and lexicon sentiment; /price is unhealthy)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.db, self.logs = tmp, tmp / "portfolio.db", tmp / "logs"
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        (tmp / "model_repository").mkdir()
        self.env = isolated_env(
            INVESTIQ_MODEL_REPOSITORY=str(tmp / "model_repository"),
            INVESTIQ_PRICE_RESOLVE_EVERY_S="0",
            INVESTIQ_LOGS_DIR=str(self.logs),
        )

    def investiq(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "investiq", *args]
        return subprocess.run(cmd, cwd=self.tmp, env=self.env, capture_output=True, text=True, timeout=120)

    def start(self, backend: str = "embedded") -> subprocess.CompletedProcess[str]:
        db, port = str(self.db), str(self.port)
        return self.investiq("start", "--db", db, "--port", port, "--backend", backend, "--wait", "60")

    def gateway_pid(self) -> int | None:
        return pidfile.read(self.logs / "gateway.pid", *service.MARKERS)

    def cleanup(self) -> None:
        if (pid := self.gateway_pid()) is not None:
            pidfile.terminate(pid, 5.0, *service.MARKERS)
        triton_server.stop(self.logs / "triton", 5.0)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    yield s
    s.cleanup()


def count_rows(db: Path) -> dict[str, int]:
    with closing(sqlite3.connect(db)) as conn:
        tables = ("sentiment_predictions", "bayesian_events")
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}


def test_start_status_stop_keeps_every_journal_write(stack: Stack):
    started = stack.start()
    assert started.returncode == 0, started.stdout + started.stderr
    pid = stack.gateway_pid()
    assert pid is not None
    assert f"PID {pid}" in started.stdout and str(stack.logs / "gateway.log") in started.stdout

    again = stack.start()
    assert again.returncode == 1
    assert f"already running (PID {pid}): `investiq stop` first" in again.stderr

    status = stack.investiq("status")  # no --port: it learns the URL from what `start` recorded
    assert status.returncode == 0, status.stdout + status.stderr
    gateway = json.loads(status.stdout)["gateway"]
    assert gateway["health"] in ("healthy", "degraded", "unhealthy")
    assert gateway == {"pid": pid, "running": True, "url": stack.url, "health": gateway["health"]}
    assert service.stack_url(Settings(logs_dir=stack.logs)) == stack.url  # where retrain and models reload

    with httpx.Client(base_url=stack.url, timeout=30) as client:
        for i in range(5):
            texts = [f"revenue beats estimates {i}", f"losses widen {i}"]
            body = {"texts": texts, "symbol": "AAPL", "use_cache": False}
            assert client.post("/sentiment/predict", json=body).status_code == 200
        for i in range(4):
            trade = {"strategy_name": "momentum", "profit_loss": 1.5 - i, "trade_id": i}
            assert client.post("/bayesian/update", json=trade).status_code == 200

    stopped = stack.investiq("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert f"gateway (PID {pid}) stopped" in stopped.stdout
    assert not pidfile.alive(pid)
    assert not (stack.logs / "gateway.pid").exists()
    assert not list(stack.logs.glob("*.serving.json"))  # left behind by the SIGTERM before (a walkthrough)
    assert count_rows(stack.db) == {"sentiment_predictions": 10, "bayesian_events": 4}

    after = stack.investiq("status")
    assert after.returncode == 1
    assert json.loads(after.stdout)["gateway"] | {"url": None} == {
        "pid": None,
        "running": False,
        "url": None,
        "health": None,
    }
    nothing = stack.investiq("stop")
    assert (nothing.returncode, nothing.stdout.strip()) == (0, "not running")


def test_a_pid_file_naming_another_program_is_replaced(stack: Stack):
    stack.logs.mkdir()
    with other_program() as other:  # the PID was handed to another program after a crash
        try:
            (stack.logs / "gateway.pid").write_text(f"{other.pid}\n")
            started = stack.start()
            assert started.returncode == 0, started.stdout + started.stderr
            assert "replacing the stale PID file" in started.stdout
            pid = stack.gateway_pid()
            assert pid is not None and pid != other.pid
            assert other.poll() is None  # not ours: left alone
        finally:
            other.kill()


def test_a_gateway_that_cannot_start_fails_start_with_its_log(stack: Stack):
    blocker = stack.tmp / "file"
    blocker.write_text("")
    stack.db = blocker / "portfolio.db"  # its directory cannot be created
    result = stack.start()
    assert result.returncode == 1
    assert "the gateway exited with code 1" in result.stderr
    assert "cannot create the directory of the journal" in result.stderr  # from the log's tail
    assert f"Last lines of {stack.logs / 'gateway.log'}" in result.stderr
    assert "run `investiq start` again" in result.stderr
    assert not (stack.logs / "gateway.pid").exists()


def test_a_port_bound_elsewhere_fails_start_with_the_log_tail(stack: Stack):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", stack.port))  # bound, not listening: only uvicorn's bind finds out
        result = stack.start()
    assert result.returncode == 1
    assert "the gateway exited with code" in result.stderr
    assert "address already in use" in result.stderr.lower()
    assert not (stack.logs / "gateway.pid").exists()


def test_a_port_another_server_listens_on_is_refused_before_anything_starts(stack: Stack):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", stack.port))
        holder.listen()
        result = stack.start()
    assert result.returncode == 1
    # named as `serve` names it, not "a gateway started with `investiq serve`?" for any program (an audit)
    assert f"PID {os.getpid()} (" in result.stderr and f"already listens on {stack.url}" in result.stderr
    assert "serve on another port with --port (e.g. --port" in result.stderr
    assert not (stack.logs / "gateway.log").exists()


def test_status_finds_a_gateway_that_up_or_serve_runs_in_a_terminal(stack: Stack):
    """Issue 15: `investiq status` said "running": false (exit 1) while the README's `up` served."""
    with GatewayProcess(stack.db, stack.tmp / "serve.log", env=stack.env, cwd=stack.tmp, port=stack.port) as gw:
        gw.start()
        for how, args, env in [
            ("--port", ["status", "--port", str(stack.port)], stack.env),
            ("settings", ["status"], stack.env | {"INVESTIQ_PORT": str(stack.port)}),
        ]:
            cmd = [sys.executable, "-m", "investiq", *args]
            result = subprocess.run(cmd, cwd=stack.tmp, env=env, capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, (how, result.stdout + result.stderr)
            gateway = json.loads(result.stdout)["gateway"]
            assert gateway["health"] in ("healthy", "degraded", "unhealthy"), how
            assert gateway == {"pid": gw.pid, "running": True, "url": stack.url, "health": gateway["health"]}, how
        # without the port: none runs where the settings say, and the one serving elsewhere is named (an operator's
        # `investiq status` said only "running": false for the gateway `up --port 18300` ran)
        elsewhere = stack.investiq("status")
        assert elsewhere.returncode == 1
        assert json.loads(elsewhere.stdout)["serving_elsewhere"] == [{"url": stack.url, "pid": gw.pid}]
        stack.env |= {"INVESTIQ_PORT": str(stack.port)}
        stopped = stack.investiq("stop")  # not ours to stop: it says how, and fails (a `stop && start` stops)
        assert stopped.returncode == 1, stopped.stderr
        assert "no gateway started by `investiq start`" in stopped.stdout
        assert f"`kill -TERM {gw.pid}`" in stopped.stdout
        assert gw.running


@pytest.mark.parametrize("command", ["serve", "up"])
def test_a_taken_port_is_one_line_naming_the_port_flag(stack: Stack, command: str):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", stack.port))
        holder.listen()
        result = stack.investiq(command, "--db", str(stack.db), "--port", str(stack.port))
    assert result.returncode == 1  # documented in `serve --help`
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"Error: cannot serve on 127.0.0.1:{stack.port}: address already in use by PID {os.getpid()}"
    )
    assert f"serve on another port with --port (e.g. --port {stack.port + 1})" in lines[0]
    assert not stack.db.exists()  # `up` found out before preparing anything


def test_check_port_passes_a_free_port_and_names_the_holder_of_a_taken_one(tmp_path: Path):
    port = free_ports(1)[0]
    service.check_port(Settings(port=port))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        assert pidfile.listener(port) == os.getpid()
        assert pidfile.listener(port, "investiq") is None  # the holder is not a gateway
        with pytest.raises(service.PortInUseError, match=rf"127\.0\.0\.1:{port}: address already in use by PID"):
            service.check_port(Settings(port=port))
    with pytest.raises(service.ServiceError, match=r"cannot serve on 192\.0\.2\.1"):  # TEST-NET: not this host
        service.check_port(Settings(host="192.0.2.1", port=port))


def test_check_port_binds_every_address_the_host_names_as_uvicorn_does(monkeypatch: pytest.MonkeyPatch):
    """Where localhost is 127.0.0.1 and ::1 (many systems' /etc/hosts), uvicorn binds both and exits (status 3)
    when another server holds ::1's port; the check bound the first address alone and let `start` go on."""
    try:
        holder = socket.socket(socket.AF_INET6)
        holder.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        holder.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with closing(holder):
        holder.listen()
        port = holder.getsockname()[1]
        both = [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0)),
        ]
        monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: both)  # the resolver's answer alone
        with pytest.raises(service.PortInUseError, match=rf"localhost:{port}: address already in use"):
            service.check_port(Settings(host="localhost", port=port))
        both.pop()  # 127.0.0.1 alone is free: passes (the IPv4 socket is not taken by ::1's)
        service.check_port(Settings(host="localhost", port=port))


def test_start_with_the_triton_backend_runs_and_stops_a_local_triton(stack: Stack):
    if (reason := triton_server.missing()) is not None:
        pytest.skip(reason)
    http, grpc, metrics = free_ports(3)
    stack.env |= {
        "INVESTIQ_TRITON_HTTP_PORT": str(http),
        "INVESTIQ_TRITON_URL": f"127.0.0.1:{grpc}",
        "INVESTIQ_TRITON_METRICS_PORT": str(metrics),
    }
    started = stack.start(backend="triton")
    assert started.returncode == 0, started.stdout + started.stderr
    triton_pid = triton_server.running(stack.logs / "triton")
    assert triton_pid is not None and f"Triton running (PID {triton_pid})" in started.stdout

    status = stack.investiq("status")
    assert status.returncode == 0, status.stdout
    assert json.loads(status.stdout)["triton"] == {"pid": triton_pid, "ready": True}

    stopped = stack.investiq("stop")
    assert stopped.returncode == 0 and "Triton stopped" in stopped.stdout
    assert not pidfile.alive(triton_pid)

    # A Triton that `investiq start` found running (another gateway may use it) outlives `investiq stop`.
    assert stack.investiq("triton", "start").returncode == 0
    own = triton_server.running(stack.logs / "triton")
    again = stack.start(backend="triton")
    assert again.returncode == 0 and f"Triton already running (PID {own})" in again.stdout, again.stdout
    stopped = stack.investiq("stop")
    assert stopped.returncode == 0 and f"Triton (PID {own}) left running" in stopped.stdout, stopped.stdout
    assert own is not None and pidfile.alive(own)


def test_a_triton_under_an_investiq_path_is_not_taken_for_the_gateway(tmp_path: Path):
    """After a reboot a stale gateway.pid may name the Triton of the systemd unit, whose arguments
    hold /opt/investiq/... and 'tritonserver': neither is the gateway's `investiq` nor `serve`."""
    code = "import time; print('up', flush=True); time.sleep(60)"  # said once exec'd: its own command line
    args = [sys.executable, "-c", code, "--model-repository=/opt/investiq/serve-repo"]
    with subprocess.Popen([*args, "tritonserver"], stdout=subprocess.PIPE) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
            (tmp_path / "gateway.pid").write_text(str(proc.pid))
            assert pidfile.read(tmp_path / "gateway.pid", *service.MARKERS) is None
            assert pidfile.read(tmp_path / "gateway.pid", "tritonserver") == proc.pid
        finally:
            proc.kill()


def test_a_triton_started_on_other_ports_is_named_not_taken_as_the_one_the_settings_want(tmp_path: Path):
    """start --backend triton took a Triton that this logs folder had started before on other ports for the one
    its settings name, and served a gateway pointed at ports where nothing listened (an audit's note)."""
    http, grpc, metrics = 18000, 18001, 18002  # on the command line only: nothing listens
    # it says when it runs: until the child has exec'd, its command line is pytest's, and a start that read it
    # then took the PID file for a dead Triton's and started one (failed once in CI on a loaded machine)
    args = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)", "tritonserver"]
    settings = Settings(
        backend="triton",
        logs_dir=tmp_path,
        triton_url=f"127.0.0.1:{grpc}",
        triton_http_port=http,
        triton_metrics_port=metrics,
    )
    work = triton_server.work_dir(settings)
    work.mkdir(parents=True)
    with subprocess.Popen(
        [*args, f"--http-port={http}", f"--grpc-port={grpc + 100}", f"--metrics-port={metrics}"],
        stdout=subprocess.PIPE,
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
            (work / "triton.pid").write_text(str(proc.pid))
            with pytest.raises(
                service.ServiceError, match=rf"gRPC port {grpc + 100} where the settings name {grpc}"
            ):
                service._start_triton(settings, 1.0, print)
        finally:
            proc.kill()
    with subprocess.Popen(
        [*args, f"--http-port={http}", f"--grpc-port={grpc}", f"--metrics-port={metrics}"], stdout=subprocess.PIPE
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
            (work / "triton.pid").write_text(str(proc.pid))
            assert service._start_triton(settings, 1.0, print) == (proc.pid, False)
        finally:
            proc.kill()


def other_program(ignore_sigterm: bool = False) -> subprocess.Popen[bytes]:
    """A live process that is not a gateway (argv: ... other-program), returned once it runs."""
    code = "import signal, time\n"
    code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if ignore_sigterm else ""
    code += "print('up', flush=True)\ntime.sleep(60)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "other-program"], stdout=subprocess.PIPE, start_new_session=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
    return proc


def test_pid_files_count_only_live_processes_of_their_program(tmp_path: Path):
    pid_file = tmp_path / "x.pid"
    assert pidfile.read(pid_file) is None
    pid_file.write_text("not a pid")
    assert pidfile.read(pid_file) is None
    with other_program() as proc:
        try:
            pid_file.write_text(str(proc.pid))
            assert pidfile.read(pid_file, "other-program") == proc.pid
            assert pidfile.read(pid_file, *service.MARKERS) is None  # a PID reused by another program
            assert pidfile.read(pid_file, "other") is None  # whole arguments, not substrings
        finally:
            proc.kill()
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # dead but not reaped: a zombie
        assert pidfile.read(pid_file, "other-program") is None
    assert pidfile.read(pid_file, "other-program") is None  # reaped


def test_terminate_kills_what_ignores_sigterm_after_the_timeout():
    with other_program(ignore_sigterm=True) as stubborn:
        assert pidfile.terminate(stubborn.pid, 0.5) is False
        assert stubborn.wait(5) == -signal.SIGKILL
    with other_program() as polite:
        assert pidfile.terminate(polite.pid, 5.0) is True
        assert polite.wait(5) == -signal.SIGTERM


# -- deploy files -------------------------------------------------------------------------------------


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Sections of a systemd unit as (key, value) lists: keys may repeat (Environment=, ExecStartPre=)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def unit(name: str, section: str) -> dict[str, str]:
    return dict(parse_unit(UNITS / name)[section])


def exec_lines() -> list[tuple[str, str]]:
    return [
        (f"{path.name} {key}", value)
        for path in sorted(UNITS.glob("*.service"))
        for pairs in parse_unit(path).values()
        for key, value in pairs
        if key.startswith("Exec")
    ]


def lookup(words: list[str], where: str) -> None:
    """Fail clearly when `investiq WORDS` is not a registered command."""
    command: click.Command = main
    for depth, word in enumerate(words):
        sub = command.commands.get(word) if isinstance(command, click.Group) else None
        if sub is None:
            missing = " ".join(words[: depth + 1])
            hint = " (the lead adds it: investiq/cli/main.py `_register()`)" if words[0] == "retrain" else ""
            pytest.fail(f"{where} runs `investiq {missing}`, which is not a command{hint}")
        command = sub


@pytest.mark.parametrize(("where", "line"), exec_lines(), ids=[where for where, _ in exec_lines()])
def test_every_unit_command_is_an_investiq_command(where: str, line: str):
    argv = shlex.split(line.lstrip("-@+!:"))
    assert argv[0] == f"{INSTALL}/.venv/bin/investiq"
    words = list(itertools.takewhile(lambda arg: not arg.startswith("-"), argv[1:]))
    lookup(words, where)
    result = CliRunner().invoke(main, [*words, "--help"])
    assert result.exit_code == 0, result.output
    for flag in (arg.split("=")[0] for arg in argv[1:] if arg.startswith("--")):
        assert flag in result.output, f"{where}: `investiq {' '.join(words)}` has no {flag}"


def test_the_gateway_unit_restarts_on_failure_and_lets_the_journal_flush():
    svc = unit("investiq-gateway.service", "Service")
    assert svc["Type"] == "simple" and svc["Restart"] == "on-failure"
    assert svc["WorkingDirectory"] == INSTALL
    assert svc["EnvironmentFile"].startswith("-")  # optional: the API key file may not exist
    assert svc["KillSignal"] == "SIGTERM" and int(svc["TimeoutStopSec"]) >= 30
    # the agent in the service's group writes the journal too, and SQLite in WAL mode cannot read what it cannot
    # write (0027 gave the group "attempt to write a readonly database": an operator's audit)
    assert svc["UMask"] == "0007"
    assert "investiq-triton.service" not in str(parse_unit(UNITS / "investiq-gateway.service")["Unit"])
    assert unit("investiq-gateway.service", "Install")["WantedBy"] == "multi-user.target"


def test_the_triton_unit_forks_and_reads_the_pid_file_the_server_writes():
    svc = unit("investiq-triton.service", "Service")
    assert svc["Type"] == "forking"
    work = Path(svc["WorkingDirectory"]) / triton_server.work_dir(Settings())
    assert svc["PIDFile"] == str(work / "triton.pid")
    assert int(svc["TimeoutStopSec"]) > 30  # `triton stop` waits 30 s before SIGKILL
    assert "investiq-triton.service" in (UNITS / "README.md").read_text()


def test_the_retrain_runs_once_a_week_and_catches_up_after_downtime():
    assert unit("investiq-retrain.service", "Service")["Type"] == "oneshot"
    timer = unit("investiq-retrain.timer", "Timer")
    assert timer["OnCalendar"] == "Sun *-*-* 03:00:00" and timer["Persistent"] == "true"
    assert timer["Unit"] == "investiq-retrain.service"
    assert unit("investiq-retrain.timer", "Install")["WantedBy"] == "timers.target"
    assert "0 3 * * 0" in (UNITS / "README.md").read_text()  # the equivalent cron line, same time


def test_systemd_accepts_the_units(tmp_path: Path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None or not (ROOT / ".venv" / "bin" / "investiq").is_file():
        pytest.skip("needs systemd-analyze and the repository's .venv (the units' commands must exist)")
    for path in UNITS.glob("investiq-*"):  # installed here instead of /opt/investiq
        (tmp_path / path.name).write_text(path.read_text().replace(INSTALL, str(ROOT)))
    files = sorted(str(p) for p in tmp_path.iterdir())
    result = subprocess.run([analyze, "verify", *files], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr + result.stdout) == (0, "")


@pytest.mark.parametrize(
    ("script", "command"),
    [("start_all_services.sh", "start"), ("stop_all_services.sh", "stop"), ("retrain_all.sh", "retrain")],
)
def test_the_wrapper_scripts_exec_their_command(script: str, command: str, tmp_path: Path):
    path = ROOT / "scripts" / script
    assert os.access(path, os.X_OK)
    lines = path.read_text().splitlines()
    assert "set -euo pipefail" in lines
    assert lines[-1] == f'exec .venv/bin/investiq {command} "$@"'
    if not (ROOT / ".venv" / "bin" / "investiq").is_file():
        pytest.skip("the repository has no .venv to run the script with")
    lookup([command], script)
    result = subprocess.run([str(path), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"Usage: investiq {command}" in result.stdout


@pytest.mark.parametrize("command", ["start", "stop", "status"])
def test_the_service_commands_explain_themselves(command: str):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert f"Usage: investiq {command}" in result.output
    expected = {
        "start": ("--config", "--host", "--port", "--db", "--backend", "--wait"),
        "stop": ("--config", "--timeout"),
        "status": ("--config",),
    }[command]
    assert all(flag in result.output for flag in expected)


def test_the_start_up_line_names_an_ipv6_bind_as_a_url():
    """`serve --host ::1` printed http://::1:18931, no URL (a review): the start-up line and gateway_url share one
    form."""
    from investiq.ops.serving import http_url

    assert http_url("::1", 18931) == "http://[::1]:18931"
    assert http_url("0.0.0.0", 8080) == "http://0.0.0.0:8080"  # the bind, as the line says it


def test_serve_raises_its_open_file_limit_to_the_hard_one():
    """At systemd's default soft limit (1,024), a thousand idle connections without a key stopped the gateway
    answering anyone (a review): it takes what the hard limit allows before it listens."""
    import resource
    import subprocess
    import sys

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(256, soft)
    if hard != resource.RLIM_INFINITY and hard <= low:
        pytest.skip(f"the hard limit ({hard}) leaves nothing to raise")

    def lowered() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))

    code = (
        "import resource\nfrom investiq.ops.bootstrap import more_descriptors\n"
        "before = resource.getrlimit(resource.RLIMIT_NOFILE)[0]\n"
        "print(before, more_descriptors(), resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], preexec_fn=lowered, capture_output=True, text=True, check=True
    )
    before, returned, after = map(int, out.stdout.split())
    assert before == low and returned == after and after > low, out.stdout


def test_a_serving_record_others_may_write_is_not_read(tmp_path: Path):
    """Rollouts send the API key to the url a record names: one planted in a shared logs folder had it posted to
    the planter's listener (a review). A record anyone may write is not read."""
    record = tmp_path / "gateway-8080.serving.json"
    record.write_text(json.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:18790"}))
    record.chmod(0o644)
    assert serving.recorded(record)["url"] == "http://127.0.0.1:18790"
    record.chmod(0o666)
    assert serving.recorded(record) == {}


@pytest.mark.parametrize(
    ("answer", "ok"), [("healthy", True), ("degraded", True), ("unhealthy", False), (None, False)]
)
def test_status_fails_for_a_gateway_that_says_it_is_unhealthy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: str | None, ok: bool
):
    """`investiq status` exited 0 while /health answered 503 unhealthy (its journal moved away): a monitor's
    `status || alert` passed a stack the gateway itself called down (a review)."""
    monkeypatch.setattr(service, "health", lambda url: answer)
    monkeypatch.setattr(service, "running", lambda settings: 4242)
    report, passed = service.status(Settings(logs_dir=tmp_path / "logs"), use_record=True)
    assert report["gateway"]["health"] == answer and passed is ok


def test_up_says_a_model_folder_it_cannot_write_before_it_trains(tmp_path: Path):
    """A model repository it could not write was found after the whole quick training (up to 10 minutes), with a
    message that named no setting (a review)."""
    from investiq.core.errors import SettingsError
    from investiq.ops.bootstrap import prepare

    (tmp_path / "a-file").write_text("")
    settings = Settings(
        db_path=tmp_path / "p.db", model_repository=tmp_path / "a-file" / "repo", models_dir=tmp_path / "models"
    )
    with pytest.raises(
        SettingsError, match=r"model_repository .* cannot be written .*\(INVESTIQ_MODEL_REPOSITORY\)"
    ):
        prepare(settings, lambda _: None)
    assert not (tmp_path / "p.db").exists()  # before anything else


def test_a_serving_record_counts_only_where_its_gateway_listens(tmp_path: Path):
    """A record naming a live gateway's pid and another listener (or host) had the API key posted there by a
    rollout, and the impostor reported as serving the new model (a review): the pid must listen at the url, on an
    address of this machine."""
    gateway = subprocess.Popen(  # a process whose command line carries `investiq`, listening on a free port
        [sys.executable, "-c", LISTENER, "investiq"], stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(gateway.stdout.readline())  # type: ignore[union-attr]
        settings = Settings(logs_dir=tmp_path)
        (other,) = free_ports(1)

        def served(url: str) -> list[str]:
            (tmp_path / "gateway-1.serving.json").write_text(json.dumps({"pid": gateway.pid, "url": url}))
            return [r["url"] for r in serving.serving_gateways(settings)]

        assert served(f"http://127.0.0.1:{port}") == [f"http://127.0.0.1:{port}"]
        assert served(f"http://127.0.0.1:{other}") == []  # not where it listens
        assert served(f"http://192.0.2.7:{port}") == []  # not this machine (TEST-NET-1)
        assert served(f"http://evil.example:{port}") == []  # a name that does not resolve here
        assert served(f"https://127.0.0.1:{port}") == served("http://127.0.0.1:x") == []
    finally:
        gateway.kill()
        gateway.wait()


def test_a_name_counts_only_where_the_gateway_listens_at_every_address_it_resolves_to(
    monkeypatch: pytest.MonkeyPatch,
):
    """`--host <this machine's name>` records the name: such gateways were no longer reached (a review). A name
    resolving partly elsewhere is not this machine, and one resolving to an address the gateway does not listen
    at may reach another program there: localhost resolves to ::1 first on Debian, where another program listened
    on [::1]:P beside the gateway on 127.0.0.1:P, and got the API key (a review)."""
    answers = {
        "gateway-host.test": ["127.0.0.1"],
        "elsewhere.test": ["192.0.2.7"],
        "partly.test": ["127.0.0.1", "192.0.2.7"],
        "localhost": ["::1", "127.0.0.1"],
    }

    def resolve(host: str, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host not in answers:
            raise socket.gaierror(host)
        family = {4: socket.AF_INET, 6: socket.AF_INET6}
        return [
            (family[ipaddress.ip_address(ip).version], socket.SOCK_STREAM, 6, "", (ip, 0)) for ip in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    bound = {ipaddress.ip_address("127.0.0.1")}
    monkeypatch.setattr(pidfile, "bound", lambda pid, port: bound)
    assert serving.listens_there(1, "http://gateway-host.test:8080")
    for host in ("elsewhere.test", "partly.test", "unknown.test"):
        assert not serving.listens_there(1, f"http://{host}:8080"), host
    assert serving.listens_there(1, "http://127.0.0.1:8080")
    if serving._bindable(ipaddress.ip_address("::1")):  # a machine with IPv6's loopback
        assert not serving.listens_there(1, "http://localhost:8080")  # ::1 is not where it listens
        bound = {ipaddress.ip_address("::")}  # every address, IPv4 too (Linux's default)
        assert serving.listens_there(1, "http://localhost:8080")
        assert not serving.listens_there(1, "http://192.0.2.7:8080")  # not this machine, whatever it binds


def test_the_addresses_a_process_listens_at_are_its_own_sockets():
    """The check took the first process listening on the port at any address: another program on [::1]:P with a
    lower PID hid the gateway on 127.0.0.1:P from rollouts (a review)."""
    child = subprocess.Popen([sys.executable, "-c", LISTENER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(child.stdout.readline())  # type: ignore[union-attr]
        (other,) = free_ports(1)
        with socket.socket(socket.AF_INET6) as mine:  # this process, on the same port at IPv6's loopback
            try:
                mine.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                mine.bind(("::1", port))
                mine.listen()
            except OSError:
                pytest.skip("no IPv6 loopback here")
            assert pidfile.bound(child.pid, port) == {ipaddress.ip_address("127.0.0.1")}
            assert pidfile.bound(os.getpid(), port) == {ipaddress.ip_address("::1")}
            assert pidfile.bound(child.pid, other) == set()
    finally:
        child.kill()
        child.wait()


def test_the_gateway_investiq_start_recorded_counts_only_where_it_listens(tmp_path: Path):
    """`investiq start`'s state file had its url trusted as the serving records were before: a forged one had the
    API key posted to another listener (a review)."""
    gateway = subprocess.Popen(
        [sys.executable, "-c", LISTENER, *service.MARKERS], stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(gateway.stdout.readline())  # type: ignore[union-attr]
        own, elsewhere = free_ports(2)
        settings = Settings(logs_dir=tmp_path, port=own)  # the settings name another port than the gateway's
        (tmp_path / "gateway.pid").write_text(str(gateway.pid))
        for url, found in (
            (f"http://127.0.0.1:{port}", [f"http://127.0.0.1:{port}"]),
            (f"http://127.0.0.1:{elsewhere}", []),  # a listener of someone else's
            ("http://192.0.2.7:80", []),  # not this machine
        ):
            (tmp_path / "gateway.json").write_text(json.dumps({"pid": gateway.pid, "url": url}))
            assert service.started_state(settings) is not None  # read either way: `status` shows it
            assert service.stack_urls(settings) == (found or [f"http://127.0.0.1:{own}"]), url
    finally:
        gateway.kill()
        gateway.wait()


LISTENER = """
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(60)
"""


def test_a_gateway_ended_by_sigterm_removes_its_serving_record_and_still_dies_by_sigterm(tmp_path: Path):
    """uvicorn re-raises SIGTERM once it has drained, which ended the process before serving_record's `finally`:
    every gateway that `investiq stop` or a supervisor stopped left its record behind (a new user's walkthrough).
    The child raises SIGTERM inside the record as uvicorn does; it must still die by the signal (the status a
    supervisor reads as stopped), not exit with a code."""
    code = (
        "import signal, sys\n"
        "from investiq.core.settings import Settings\n"
        "from investiq.ops.serving import serving_record\n"
        "with serving_record(Settings(port=18125, logs_dir=sys.argv[1])):\n"
        "    print('recorded', flush=True)\n"
        "    signal.raise_signal(signal.SIGTERM)\n"
        "    print('went on', flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.stdout == "recorded\n", done.stderr
    assert done.returncode == -signal.SIGTERM
    assert not (tmp_path / "gateway-18125.serving.json").exists()
