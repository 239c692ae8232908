"""Kill tests of a mutation audit of investiq/ops/triton_server.py from `admin_token` to the end (the admin token,
the server's environment, the repository index, `start`, `running`, `elsewhere` and `stop`): each fails with the
mutant its docstring names applied, and passes on the code as it is. They reuse the stand-in tritonserver of
tests/ops/test_triton_server_mutants.py (a python script at the wheel's path in a fake environment, on ports from
free_ports) and tiny `python` children: never a real tritonserver. Where `start` waits, the test holds its
clock."""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway.backends.triton_admin import ADMIN_HEADER, ADMIN_TOKEN_ENV, LOCAL_TOKENS, TOKEN_FILE
from harness.processes import start_triton
from investiq.ops import pidfile, triton_server
from investiq.ops.triton_server import (
    RESTRICTED_APIS,
    Server,
    TritonError,
    TritonPorts,
    admin_token,
    elsewhere,
    existing_token,
    find_server,
    log_path,
    models,
    not_ready,
    server_environment,
    start,
    stop,
)
from tests.ops.test_service_mutants import SLEEPER, child
from tests.ops.test_triton_server_mutants import DRAINING, PYTHON, TOKEN, fake_server

OTHER_TOKEN = "a-token-set-for-every-gateway-4567"


@pytest.fixture
def no_token_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)


def set_behaviour(env: Path, behaviour: dict[str, object]) -> None:
    """What the stand-in in `env` answers from its next request on."""
    program = find_server(env).root / "bin" / "tritonserver"
    (program.parent / "behaviour.json").write_text(json.dumps({"header": ADMIN_HEADER, **behaviour}))


@pytest.fixture
def launched(tmp_path: Path, no_token_variable: None) -> Iterator[list[tuple[int, TritonPorts]]]:
    """The (pid, ports) of each server a test started; their groups are killed at the end, with any stand-in of
    this test's environment still running."""
    servers: list[tuple[int, TritonPorts]] = []
    try:
        yield servers
    finally:
        for _, ports in servers:
            LOCAL_TOKENS.pop(ports.grpc, None)
        program = str(tmp_path / "venv")  # and any a failed test did not name
        for pid in {pid for pid, _ in servers} | {
            pid
            for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
            if any(program in arg for arg in pidfile.arguments(pid) or [])
        }:
            with suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def prepared(tmp_path: Path, behaviour: dict[str, object]) -> tuple[Path, Path, Path]:
    """A stand-in environment answering `behaviour`, an empty repository and a work directory holding TOKEN's
    file: (env, repo, work)."""
    env = fake_server(tmp_path / "venv", {"token": TOKEN, **behaviour})
    repo, work = tmp_path / "repo", tmp_path / "work"
    repo.mkdir()
    work.mkdir()
    (work / TOKEN_FILE).write_text(TOKEN + "\n")
    return env, repo, work


class Clock:
    """time for `start`: monotonic() reads it, sleep() advances it; nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


# -- the admin token -------------------------------------------------------------------------------------------


def test_the_variable_wins_over_the_token_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """existing_token: the work directory's file read before TRITON_ADMIN_TOKEN. Triton restarted by systemd
    (whose EnvironmentFile sets the variable for it and every gateway) wanted the token of an earlier local start,
    and each gateway's model-repository call was refused. Or an empty variable taken as a token (compose passes
    it empty where it is not set: start refused a token file that was fine)."""
    (tmp_path / TOKEN_FILE).write_text(TOKEN + "\n")
    monkeypatch.setenv(ADMIN_TOKEN_ENV, OTHER_TOKEN)
    assert existing_token(tmp_path) == OTHER_TOKEN
    assert admin_token(tmp_path) == OTHER_TOKEN
    monkeypatch.setenv(ADMIN_TOKEN_ENV, "")  # compose's ${TRITON_ADMIN_TOKEN:-}: set, and empty
    assert existing_token(tmp_path) == TOKEN
    assert admin_token(tmp_path) == TOKEN


def test_no_token_reads_as_none_before_the_first_start(tmp_path: Path, no_token_variable: None) -> None:
    """existing_token: an empty file returned as "" rather than None ("None before the first start"), or a file it
    cannot read raising IsADirectoryError out of `triton status` instead of None."""
    assert existing_token(tmp_path) is None
    (tmp_path / TOKEN_FILE).write_text("\n")
    assert existing_token(tmp_path) is None
    (tmp_path / TOKEN_FILE).unlink()
    (tmp_path / TOKEN_FILE).mkdir()
    assert existing_token(tmp_path) is None


def test_a_made_token_is_long_and_made_beside_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_token_variable: None
) -> None:
    """_token_file: fewer random bytes (token_urlsafe(12) still passes the 16-character check: a guessable token
    guards Triton's model control), or the temporary file made in the system's temporary directory, not in the
    work directory (os.link across file systems fails: start died where TMPDIR is another mount, or unusable)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-temporary-directory"))
    made = admin_token(tmp_path / "work")
    assert len(made) >= 43  # 32 random bytes
    assert (tmp_path / "work" / TOKEN_FILE).read_text() == made + "\n"


def test_an_unfit_token_says_where_it_is_and_how_to_fix_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_token_variable: None
) -> None:
    """admin_token: the variable's fix replaced by the file's ("delete it", of a file there is not), the file's fix
    without the variable, an example command making a token too short to pass (openssl rand -hex 4), or the reason
    a token file cannot be read dropped (the operator had to find out why)."""
    (tmp_path / TOKEN_FILE).write_text("short\n")
    with pytest.raises(TritonError) as bad_file:
        admin_token(tmp_path)
    assert f": delete it (the next start makes one), or set {ADMIN_TOKEN_ENV}, e.g. " in str(bad_file.value)
    assert str(bad_file.value).endswith(f"`export {ADMIN_TOKEN_ENV}=$(openssl rand -hex 24)`")
    monkeypatch.setenv(ADMIN_TOKEN_ENV, "short")
    with pytest.raises(
        TritonError, match=f"the Triton admin token in {ADMIN_TOKEN_ENV} is not .*: set one, e.g. "
    ):
        admin_token(tmp_path)
    monkeypatch.delenv(ADMIN_TOKEN_ENV)
    (tmp_path / TOKEN_FILE).unlink()
    (tmp_path / TOKEN_FILE).mkdir()
    with pytest.raises(TritonError, match=f"{TOKEN_FILE}: Is a directory; give this user its file, or set "):
        admin_token(tmp_path)


# -- the server's environment ---------------------------------------------------------------------------------


def test_the_server_keeps_the_paths_locale_and_threads_of_this_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """server_environment: PYTHONPATH dropped from what is kept (the adapters' imports failed), the prefixes not
    kept (LC_ALL, CUDA_VISIBLE_DEVICES, OMP_NUM_THREADS: thread counts and devices ignored), this environment's
    PATH or LD_LIBRARY_PATH dropped after the server's own (the server found no /usr/bin), or a relative
    triton_env left relative on PATH (the stubs, which run elsewhere, missed its python3)."""
    for name, value in (
        ("PYTHONPATH", "/opt/adapters"),
        ("LC_ALL", "C.UTF-8"),
        ("CUDA_VISIBLE_DEVICES", "1"),
        ("PATH", "/usr/local/bin:/usr/bin"),
        ("LD_LIBRARY_PATH", "/opt/lib"),
        ("AWS_SECRET_ACCESS_KEY", "not-for-models"),
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    server = Server(Path("venv"), Path("venv") / "site" / "pytriton" / "tritonserver", PYTHON)
    env = server_environment(server)
    assert (env["PYTHONPATH"], env["LC_ALL"], env["CUDA_VISIBLE_DEVICES"]) == ("/opt/adapters", "C.UTF-8", "1")
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env["PATH"] == f"{tmp_path.resolve() / 'venv' / 'bin'}:/usr/local/bin:/usr/bin"
    assert env["LD_LIBRARY_PATH"] == f"{Path('venv') / 'site' / 'nvidia_pytriton.libs'}:/opt/lib"


# -- the repository index --------------------------------------------------------------------------------------


def test_the_ports_own_token_wins_and_a_state_without_reason_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, launched: list[tuple[int, TritonPorts]]
) -> None:
    """models: TRITON_ADMIN_TOKEN taken before the token the ports carry (`status` of a server started with its
    own token, from a shell with another, was refused the index and read "not answering"), a model's state
    dropped where Triton gives no reason (a LOADING model read "not loaded"), or a reason not stripped before its
    first line is taken (a reason starting with a newline read ""); not_ready: None (no answer) not
    taken as no model (`triton status` raised AttributeError)."""
    env, repo, work = prepared(tmp_path, {})
    pid, ports = start_triton(repo, work, wait_s=20.0, server_env=env)
    launched.append((pid, ports))
    index = [{"name": "a", "state": "LOADING"}, {"name": "b", "state": "UNAVAILABLE", "reason": "\nno such file"}]
    set_behaviour(env, {"token": TOKEN, "index": index})
    monkeypatch.setenv(ADMIN_TOKEN_ENV, OTHER_TOKEN)
    own = TritonPorts(ports.http, ports.grpc, ports.metrics, admin_token=TOKEN)
    assert models(own) == {"a": "LOADING", "b": "no such file"}
    assert not_ready(None) == {}


# -- start ------------------------------------------------------------------------------------------------------


def test_start_gives_the_server_its_ports_addresses_and_absolute_repository_and_the_token_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, launched: list[tuple[int, TritonPorts]]
) -> None:
    """start: the metrics port given gRPC's, the address flags dropped (Triton bound every interface: its model
    control open to the network), --strict-readiness=false dropped (one failed model made the server unready),
    the restricted-API flags not last (a message showing the start of the command line showed the token), or a
    relative repository passed as it is (its command line, which `status` and `elsewhere` read, named no
    folder)."""
    env, _, work = prepared(tmp_path, {})
    monkeypatch.chdir(tmp_path)
    pid, ports = start_triton(Path("repo"), work, wait_s=20.0, server_env=env)
    launched.append((pid, ports))
    flags = pidfile.arguments(pid)[2:]  # type: ignore[index]  # after the interpreter and the stand-in's path
    rule = f"{RESTRICTED_APIS}:{ADMIN_HEADER}={TOKEN}"
    assert flags[0] == f"--model-repository={(tmp_path / 'repo').resolve()}"
    for flag in (
        f"--http-port={ports.http}",
        f"--grpc-port={ports.grpc}",
        f"--metrics-port={ports.metrics}",
        "--http-address=127.0.0.1",
        "--grpc-address=127.0.0.1",
        "--metrics-address=127.0.0.1",
        "--strict-readiness=false",
    ):
        assert flag in flags
    assert flags[-2:] == [f"--http-restricted-api={rule}", f"--grpc-restricted-protocol={rule}"]


def test_the_server_gets_no_secret_of_the_starting_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, launched: list[tuple[int, TritonPorts]]
) -> None:
    """start: `env=` dropped from Popen, the server inherited the whole environment, the gateway's API key among
    it, which any model loaded through the model-repository API could read."""
    monkeypatch.setenv("ML_API_KEY", "the-gateways-api-key-0123456789")
    env, repo, work = prepared(tmp_path, {})
    pid, ports = start_triton(repo, work, wait_s=20.0, server_env=env)
    launched.append((pid, ports))
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert not [v for v in environ if v.startswith(b"ML_API_KEY=")]
    assert any(v.startswith(b"PATH=" + str(env.resolve() / "bin").encode()) for v in environ)


def test_a_failed_start_leaves_its_reason_in_the_log_after_earlier_ones(
    tmp_path: Path, no_token_variable: None
) -> None:
    """start: stderr not sent to the log (Triton's reason for exiting went to a terminal no one watched), the log
    opened with "w" (an earlier start's log lost), or the log under another name than log_path, which the error
    and `triton status` name."""
    env, repo, work = prepared(tmp_path, {"exit": "the stand-in's last words"})
    (work / "triton.log").write_text("an earlier start's lines\n")
    with pytest.raises(TritonError, match=f"exited with 1; see {work / 'triton.log'}$"):
        start(repo, TritonPorts.free(), work, wait_s=20.0, server_env=env)
    assert log_path(work) == work / "triton.log"
    log = (work / "triton.log").read_text()
    assert log.startswith("an earlier start's lines\n") and "the stand-in's last words" in log


def test_a_server_that_dies_while_another_answers_readiness_is_not_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, launched: list[tuple[int, TritonPorts]]
) -> None:
    """start: ready(ports) trusted without checking that its own server still runs (another program on the port,
    bound after the ports were checked, answered for a server that had died: start returned its PID and said
    ready)."""
    env, repo, work = prepared(tmp_path, {"never_ready": True})
    ports = TritonPorts.free()

    def answered_by_another(_: TritonPorts, model: str | None = None, timeout_s: float = 1.0) -> bool:
        pid = int((work / "triton.pid").read_text())
        launched.append((pid, ports))
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10.0
        while pidfile.alive(pid) and time.monotonic() < deadline:  # until it is a zombie, not yet reaped
            time.sleep(0.01)
        return True

    monkeypatch.setattr(triton_server, "ready", answered_by_another)
    with pytest.raises(TritonError, match=f"exited with {-signal.SIGKILL}"):
        start(repo, ports, work, wait_s=20.0, server_env=env)


def test_start_waits_all_of_wait_s_for_readiness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, launched: list[tuple[int, TritonPorts]]
) -> None:
    """start: its deadline not wait_s from now (a CPU server loading its models for a minute was stopped as "not
    ready"), the PID file written only once it is ready (`investiq triton stop` from another shell found no
    server while it started), or no pause between readiness checks (start spun a CPU and flooded Triton's health
    endpoint). The test holds start's clock: ready 100 s after the start."""
    env, repo, work = prepared(tmp_path, {})
    clock = Clock()
    began = clock.now
    monkeypatch.setattr(triton_server, "time", SimpleNamespace(monotonic=clock.monotonic, sleep=clock.sleep))

    asked: list[float] = []

    def slow(_: TritonPorts, model: str | None = None, timeout_s: float = 1.0) -> bool:
        asked.append(clock.now)
        assert len(asked) < 1000, "asked without pause"
        # `investiq triton stop` from another shell finds a server starting (its PID file is there already)
        assert (work / "triton.pid").is_file()
        return clock.now - began >= 100.0

    monkeypatch.setattr(triton_server, "ready", slow)
    pid, ports = start_triton(repo, work, wait_s=120.0, server_env=env)
    launched.append((pid, ports))
    assert 100.0 <= clock.now - began < 101.0 and 300 < len(asked) < 500  # every 0.25 s


# -- elsewhere and stop ------------------------------------------------------------------------------------------


def test_a_real_command_line_on_other_ports_names_each_in_order(tmp_path: Path) -> None:
    """elsewhere: every "=" split (the restricted-API flag, "...:header=token", raised ValueError out of
    `investiq status` for every server `start` made), the HTTP or gRPC port not compared or compared with the
    wrong setting, only the first difference named, an unreadable command line (a server gone) raising
    TypeError rather than None, or a port flag the command line lacks taken as a difference (or a KeyError)."""
    rule = f"{RESTRICTED_APIS}:{ADMIN_HEADER}={TOKEN}"
    args = ("tritonserver", "--http-port=1001", "--grpc-port=1002", "--metrics-port=1003")
    with child(SLEEPER, *args, f"--http-restricted-api={rule}") as (server, _):
        assert elsewhere(server.pid, TritonPorts(1001, 1002, 1003)) is None
        assert elsewhere(server.pid, TritonPorts(2001, 2002, 2003)) == (
            "HTTP port 1001 where the settings name 2001, gRPC port 1002 where the settings name 2002, "
            "metrics port 1003 where the settings name 2003"
        )
        assert elsewhere(server.pid, TritonPorts(1001, 1003, 1002)) == (
            "gRPC port 1002 where the settings name 1003, metrics port 1003 where the settings name 1002"
        )
    server.wait()
    assert elsewhere(server.pid, TritonPorts(2001, 2002, 2003)) is None
    with child(SLEEPER, "tritonserver", "--grpc-port=1002") as (by_hand, _):  # a server started by hand
        assert elsewhere(by_hand.pid, TritonPorts(2001, 1002, 2003)) is None
        assert (
            elsewhere(by_hand.pid, TritonPorts(2001, 2002, 2003)) == "gRPC port 1002 where the settings name 2002"
        )


def test_stop_by_default_lets_the_server_drain(tmp_path: Path) -> None:
    """stop: its default wait_s 0 (`investiq triton stop` and a start giving up killed Triton at once, dropping
    in-flight requests)."""
    drained = tmp_path / "drained"
    with child(DRAINING, str(drained), "tritonserver") as (server, _):
        (tmp_path / "triton.pid").write_text(str(server.pid))
        assert stop(tmp_path) is True
        server.wait(60)  # gone or a zombie for stop; a busy machine may still be finishing its exit
    seen = drained.read_text() if drained.exists() else "no file: it never ran its SIGTERM handler"
    assert seen == "yes", f"{seen} (exit status {server.returncode})"


def test_stop_kills_a_server_that_ignores_sigterm_and_still_says_it_stopped_one(tmp_path: Path) -> None:
    """stop: terminate's result returned (False: "none ran", said of a server it had to kill with SIGKILL)."""
    code = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint(0, flush=True)\ntime.sleep(60)"
    )
    with child(code, "tritonserver") as (server, _):
        (tmp_path / "triton.pid").write_text(str(server.pid))
        assert stop(tmp_path, 0.2) is True
        assert server.wait(5) == -signal.SIGKILL


def test_stop_leaves_alone_a_program_that_took_the_servers_pid(tmp_path: Path) -> None:
    """stop: the PID file read without the "tritonserver" marker (a recycled PID: `investiq triton stop` killed
    whatever program had it since)."""
    with child(SLEEPER, "not-triton") as (other, _):
        (tmp_path / "triton.pid").write_text(str(other.pid))
        assert stop(tmp_path, 0.2) is False
        assert other.poll() is None and pidfile.alive(other.pid)
    assert not (tmp_path / "triton.pid").exists()


# -- two bugs the audit found (each test failed before the fix) -------------------------------------------------


def test_an_unset_ld_library_path_adds_no_empty_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """server_environment gave tritonserver "<libs>:" with LD_LIBRARY_PATH unset (the usual case): the empty last
    entry made the dynamic linker search the directory `investiq triton start` ran in for the server's and its
    stubs' shared libraries."""
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    server = Server(tmp_path / "venv", tmp_path / "venv" / "site" / "pytriton" / "tritonserver", PYTHON)
    env = server_environment(server)
    assert env["LD_LIBRARY_PATH"] == str(tmp_path / "venv" / "site" / "nvidia_pytriton.libs")
    assert "" not in env["PATH"].split(":")


def test_an_index_that_is_json_but_not_a_list_reads_as_no_answer(
    tmp_path: Path, launched: list[tuple[int, TritonPorts]]
) -> None:
    """models: a 200 answer that is JSON but not Triton's list (another service on the port: {"error": ...})
    raised AttributeError ('str' object has no attribute 'get') out of `investiq triton status`, where HTML read
    as "not answering"."""
    env, repo, work = prepared(tmp_path, {"raw": '{"error": "not an index"}'})
    launched.append(start_triton(repo, work, wait_s=20.0, server_env=env))
    ports = launched[-1][1]
    assert models(ports) is None
    set_behaviour(env, {"token": TOKEN, "raw": '[{"state": "READY"}]'})  # a list, but of no named model
    assert models(ports) is None
