"""Kill tests of a mutation audit of `investiq triton start|stop|status` (investiq/ops/triton_server.py):
each fails with the mutant its docstring names applied, and passes on the code as it is. They call the module's
functions on tmp_path work directories, ports from free_ports, and tiny `python` children; `start` runs a stand-in
for the pip tritonserver (a python script at the wheel's path in a fake environment) that answers health, model
readiness and the repository index on its HTTP port: never a real tritonserver."""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from gateway.backends.triton_admin import ADMIN_HEADER, ADMIN_TOKEN_ENV, LOCAL_TOKENS, TOKEN_FILE
from harness.processes import start_triton
from investiq.core.ports import free_ports
from investiq.core.settings import Settings
from investiq.ops import pidfile, triton_server
from investiq.ops.triton_server import (
    RESTRICTED_APIS,
    Server,
    TritonError,
    TritonPorts,
    admin_token,
    backend_directory,
    configured,
    elsewhere,
    find_server,
    is_local,
    missing,
    models,
    not_ready,
    ready,
    running,
    server_environment,
    start,
    stop,
)
from tests.ops.test_service_mutants import HANGUP, SLEEPER, child
from tests.ops.test_triton_env import fake_env

# The stand-in tritonserver, at --http-port: GET /v2/health/ready (200; 503 with "never_ready"), GET
# /v2/models/NAME/ready (200 for the names in "ready", else 400), POST /v2/repository/index ("index", or "raw",
# where the admin header carries "token", else 403); with "exit" it exits with that code at once. Those keys are
# read from behaviour.json beside it at each request: the server gets no test's environment. Like the real one it
# listens on --grpc-port, then --http-port, then --metrics-port (where given; gRPC and metrics answer nothing), and
# exits with "Address already in use" in its log where one is taken.
FAKE_SERVER = """
import http.server, json, pathlib, socket, sys
flags = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
behaviour = json.loads((pathlib.Path(__file__).parent / "behaviour.json").read_text())
if "exit" in behaviour:
    sys.exit(behaviour["exit"])
class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        behaviour.update(json.loads((pathlib.Path(__file__).parent / "behaviour.json").read_text()))
        if self.path == "/v2/health/ready":
            self.answer(503 if behaviour.get("never_ready") else 200)
        else:
            name = self.path.split("/")[3]
            self.answer(200 if name in behaviour.get("ready", []) else 400)
    def do_POST(self):
        behaviour.update(json.loads((pathlib.Path(__file__).parent / "behaviour.json").read_text()))
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get(behaviour.get("header", "")) != behaviour.get("token"):
            self.answer(403)
        else:
            self.answer(200, behaviour.get("raw", json.dumps(behaviour.get("index", []))).encode())
    def log_message(self, *args):
        pass
def listen(name):
    return socket.create_server(("127.0.0.1", int(flags[name]))) if name in flags else None
grpc = listen("grpc-port")
server = http.server.HTTPServer(("127.0.0.1", int(flags["http-port"])), Handler)
metrics = listen("metrics-port")
server.serve_forever()
"""

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
TOKEN = "the-admin-token-of-these-tests-0123"


def fake_server(root: Path, behaviour: dict[str, object]) -> Path:
    """A virtual environment (fake_env's layout) whose wheel holds the stand-in tritonserver, the python backend's
    files and a stub for this Python; returns the environment."""
    env = fake_env(root, PYTHON)
    wheel = env / "lib" / f"python{PYTHON}" / "site-packages" / "pytriton" / "tritonserver"
    for part in (
        wheel / "python_backend_stubs" / PYTHON / "triton_python_backend_stub",
        wheel / "backends" / "python" / "libtriton_python.so",
        wheel / "backends" / "python" / "triton_python_backend_utils.py",
    ):
        part.parent.mkdir(parents=True, exist_ok=True)
        part.write_text("")
    program = wheel / "bin" / "tritonserver"
    program.parent.mkdir()
    program.write_text(f"#!{sys.executable}\n{FAKE_SERVER}")
    program.chmod(0o755)
    (program.parent / "behaviour.json").write_text(json.dumps({"header": ADMIN_HEADER, **behaviour}))
    return env


@pytest.fixture
def no_token_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)


@pytest.fixture
def started(tmp_path: Path, no_token_variable: None) -> Iterator[tuple[int, TritonPorts, Path, Path]]:
    """`start` on the stand-in, a repository holding a PatchTST export without a config: (pid, ports, work, repo).
    Stopped (its group killed) at the end."""
    env = fake_server(tmp_path / "venv", {"token": TOKEN})
    repo, work = tmp_path / "repo", tmp_path / "work"
    (repo / "patchtst" / "1").mkdir(parents=True)
    work.mkdir()
    (work / TOKEN_FILE).write_text(TOKEN + "\n")
    pid, ports = start_triton(repo, work, wait_s=20.0, server_env=env)
    try:
        yield pid, ports, work, repo
    finally:
        LOCAL_TOKENS.pop(ports.grpc, None)
        with suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


# -- ports and addresses ------------------------------------------------------------------------------------------


def test_the_settings_ports_host_and_saved_token_make_the_ports(tmp_path: Path, no_token_variable: None) -> None:
    """from_settings: the HTTP and metrics ports swapped, the token `start` saved not read (status from another
    shell was refused the index), or a
    triton_url without a host (":9001") bound to loopback, not to every interface."""
    settings = Settings(
        logs_dir=tmp_path, triton_url="localhost:9001", triton_http_port=9000, triton_metrics_port=9002
    )
    (tmp_path / "triton").mkdir()
    (tmp_path / "triton" / TOKEN_FILE).write_text(TOKEN + "\n")
    ports = TritonPorts.from_settings(settings)
    assert (ports.http, ports.grpc, ports.metrics, ports.address) == (9000, 9001, 9002, "127.0.0.1")
    assert ports.admin_token == TOKEN
    assert TritonPorts.from_settings(settings.model_copy(update={"triton_url": ":9001"})).address == "0.0.0.0"


def test_the_ipv6_loopback_is_taken_as_local_with_its_port_and_flags() -> None:
    """_url_port splitting at the first colon ("[::1]:9001" raised ValueError), is_local without "localhost" or
    without stripping the brackets of "[::1]", or address_flags without the gRPC brackets, the "ipv6:" prefix or
    with the metrics address in gRPC's form (tritonserver failed to start or bound 255.255.255.255). No socket: it
    runs where the host has no IPv6."""
    settings = Settings(triton_url="[::1]:9001")
    ports = TritonPorts.from_settings(settings)
    assert (ports.address, ports.grpc, ports.local) == ("::1", 9001, "[::1]")
    assert ports.address_flags() == [
        "--http-address=ipv6:::1",
        "--grpc-address=[::1]",
        "--metrics-address=ipv6:::1",
    ]
    assert is_local(settings) and is_local(Settings(triton_url="localhost:8001"))
    assert not is_local(Settings(triton_url="triton.example:8001"))


def test_a_taken_metrics_port_is_named_with_its_holder_and_distinct_free_ports() -> None:
    """taken: the metrics port left out of the check (a second Triton started and died on it), or the holder's
    PID and command dropped from the message; free: the metrics port the same as gRPC."""
    ports = TritonPorts.free()
    assert len({ports.http, ports.grpc, ports.metrics}) == 3
    with child(HANGUP, "0", "holder-of-the-port") as (holder, port):
        http, grpc = free_ports(2)
        taken = TritonPorts(http, grpc, port).taken()
    assert len(taken) == 1 and taken[0].startswith(f"metrics port {port} (PID {holder.pid}: ")


# -- the server, its backend directory and configs ---------------------------------------------------------------


def test_missing_says_why_no_server_can_start(tmp_path: Path) -> None:
    """missing: None returned where no tritonserver is installed (tests that need one ran and failed, not
    skipped)."""
    assert (reason := missing(tmp_path)) is not None and "no tritonserver in" in reason
    assert missing(fake_env(tmp_path / "venv", PYTHON)) is None


def test_a_stale_link_in_the_backend_directory_is_replaced(tmp_path: Path) -> None:
    """backend_directory: only `link.exists()` checked, a dangling link from a removed wheel (exists() is False
    for it) raised FileExistsError at every start; or the python directory returned instead of its parent, which
    --backend-directory wants."""
    server = find_server(fake_server(tmp_path / "venv", {}))
    stale = tmp_path / "work" / "backends" / "python" / "libtriton_python.so"
    stale.parent.mkdir(parents=True)
    stale.symlink_to(tmp_path / "gone.so")
    assert backend_directory(tmp_path / "work", server) == tmp_path / "work" / "backends"
    assert stale.resolve() == server.root / "backends" / "python" / "libtriton_python.so"


def test_only_finbert_brings_the_ensemble_steps_and_existing_steps_stay(tmp_path: Path) -> None:
    """configured: the ensemble's steps added without FinBERT (a PatchTST-only repository got three models that
    cannot load), or added over existing ones (copytree raised FileExistsError on an operator's step)."""
    repo = tmp_path / "repo"
    (repo / "patchtst" / "1").mkdir(parents=True)
    assert configured(repo) == ["patchtst"]
    (repo / "finbert_model" / "1").mkdir(parents=True)
    (repo / "finbert").mkdir()
    (repo / "finbert" / "config.pbtxt").write_text("# an operator's own\n")
    assert configured(repo) == ["finbert_model", "finbert_tokenizer", "finbert_postprocess"]
    assert (repo / "finbert" / "config.pbtxt").read_text() == "# an operator's own\n"


# -- the admin token -------------------------------------------------------------------------------------------


def test_a_token_of_exactly_16_safe_characters_is_taken_and_15_or_a_separator_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TOKEN_PATTERN {16,} as {15,} or {17,} (the documented minimum moved), or fullmatch as match (a token
    ending in ":" or "=" broke Triton's --http-restricted-api flag)."""
    for token, fits in (
        ("a" * 16, True),
        ("a" * 15, False),
        ("0123456789abcdef:x", False),
        ("0" * 16 + "=", False),
    ):
        monkeypatch.setenv(ADMIN_TOKEN_ENV, token)
        if fits:
            assert admin_token(tmp_path) == token
        else:
            with pytest.raises(TritonError, match=ADMIN_TOKEN_ENV):
                admin_token(tmp_path)


def test_an_unfit_token_file_is_named(tmp_path: Path, no_token_variable: None) -> None:
    """admin_token: the message naming the variable for a bad file (the operator looked in the wrong place)."""
    (tmp_path / TOKEN_FILE).write_text("short\n")
    with pytest.raises(TritonError, match=f"admin token in {tmp_path / TOKEN_FILE}"):
        admin_token(tmp_path)


def test_an_empty_or_unreadable_token_file_is_named_not_made_again_without_end(
    tmp_path: Path, no_token_variable: None
) -> None:
    """admin_token: an empty admin-token (a start stopped between making the file and writing it) read as no
    token; making one then found the file there and began again, without end: `investiq triton start` died with
    a RecursionError. So did a file it cannot read. Each is named now, and a made token appears whole or not at
    all (written before it is linked under its name)."""
    (tmp_path / TOKEN_FILE).write_text("")
    with pytest.raises(TritonError, match=f"admin token in {tmp_path / TOKEN_FILE} .*: delete it"):
        admin_token(tmp_path)
    (tmp_path / TOKEN_FILE).unlink()
    (tmp_path / TOKEN_FILE).mkdir()  # unreadable as a file, whoever runs the test (root reads any mode)
    with pytest.raises(TritonError, match=f"cannot read the Triton admin token in {tmp_path / TOKEN_FILE}"):
        admin_token(tmp_path)
    (tmp_path / TOKEN_FILE).rmdir()
    made = admin_token(tmp_path)
    assert (tmp_path / TOKEN_FILE).read_text() == made + "\n"
    assert [p.name for p in tmp_path.iterdir()] == [TOKEN_FILE]  # no temporary file left beside it


def test_a_start_that_loses_the_race_for_the_token_file_uses_the_winners(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_token_variable: None
) -> None:
    """admin_token: on FileExistsError the token it had drawn returned instead of the file's, so two starts at
    once left a Triton wanting a token no gateway sends."""
    (tmp_path / TOKEN_FILE).write_text(TOKEN + "\n")  # the other start's, written meanwhile
    real, calls = triton_server.existing_token, []

    def first_none(work: Path) -> str | None:
        calls.append(work)
        return None if len(calls) == 1 else real(work)

    monkeypatch.setattr(triton_server, "existing_token", first_none)
    assert admin_token(tmp_path) == TOKEN


# -- the server's environment ---------------------------------------------------------------------------------


def test_the_server_environment_keeps_no_secret_and_puts_its_own_bin_and_libraries_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """server_environment: the whole environment passed (the gateway's API key reached models' code), its bin/
    last on PATH (the stubs ran with the gateway's numpy 2), or the wheel's libraries looked for in the wrong
    folder."""
    monkeypatch.setenv("ML_API_KEY", "the-gateways-api-key-0123456789")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    server = Server(tmp_path / "venv", tmp_path / "venv" / "site" / "pytriton" / "tritonserver", PYTHON)
    env = server_environment(server)
    assert "ML_API_KEY" not in env and env["OMP_NUM_THREADS"] == "2"
    assert env["PATH"].split(":")[0] == str((tmp_path / "venv").resolve() / "bin")
    assert env["LD_LIBRARY_PATH"].split(":")[0] == str(tmp_path / "venv" / "site" / "nvidia_pytriton.libs")


# -- readiness and the repository index --------------------------------------------------------------------------


def test_a_model_is_ready_only_where_its_own_endpoint_says_so(
    started: tuple[int, TritonPorts, Path, Path],
) -> None:
    """ready: the model's path replaced by the server's health (every model read ready while the server was)."""
    _, ports, _, _ = started
    assert ready(ports) and not ready(ports, "patchtst")


def test_a_server_that_hangs_up_is_not_ready_rather_than_an_error() -> None:
    """ready: only URLError caught, a connection closed without an answer (a server starting, or another
    program on the port) raised RemoteDisconnected out of `status`."""
    with child(HANGUP, "0") as (_, port):
        assert ready(TritonPorts(port, 1, 2)) is False


def test_the_index_gives_each_model_its_first_reason_and_sends_the_token(
    started: tuple[int, TritonPorts, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """models: READY tested as "not UNAVAILABLE" (a model with no state read ready), the reason's last line, None
    for a model with no reason or state, the admin header left out, or the token `start` kept for this process
    (LOCAL_TOKENS) not used: the restricted index was refused."""
    pid, ports, _, _ = started
    index = [
        {"name": "a", "version": "1", "state": "UNAVAILABLE", "reason": "unloaded"},
        {"name": "a", "version": "2", "state": "READY"},
        {"name": "b", "state": "UNAVAILABLE", "reason": "failed to load\nsee the log"},
        {"name": "c"},
    ]
    behaviour = pidfile.arguments(pid)[1]  # type: ignore[index]  # the stand-in's path
    (Path(behaviour).parent / "behaviour.json").write_text(
        json.dumps({"header": ADMIN_HEADER, "token": TOKEN, "index": index})
    )
    assert ports.admin_token is None and LOCAL_TOKENS[ports.grpc] == TOKEN
    found = models(ports)
    assert found == {"a": None, "b": "failed to load", "c": "not loaded"}
    assert not_ready(found) == {"b": "failed to load", "c": "not loaded"}


def test_an_index_that_is_not_json_reads_as_no_answer(tmp_path: Path, no_token_variable: None) -> None:
    """models: ValueError not caught, a proxy's HTML page on Triton's port raised out of `triton status`."""
    env = fake_server(tmp_path / "venv", {"token": TOKEN, "raw": "<html>not an index</html>"})
    program = find_server(env).root / "bin" / "tritonserver"
    http, grpc, metrics = free_ports(3)
    code = f"import runpy, sys\nsys.argv = [sys.argv[1], '--http-port={http}']\nprint(0, flush=True)\n"
    code += "runpy.run_path(sys.argv[0], run_name='__main__')"
    with child(code, str(program)):
        ports = TritonPorts(http, grpc, metrics, admin_token=TOKEN)
        for _ in range(200):
            if ready(ports):
                break
        assert models(ports) is None


# -- start, running, elsewhere, stop ------------------------------------------------------------------------------


def test_start_runs_the_server_with_its_flags_in_its_own_session(
    started: tuple[int, TritonPorts, Path, Path],
) -> None:
    """start: the PID file not written, the session not its own (Ctrl-C in the starting shell killed Triton),
    the repository's missing configs not given, the token not kept for this process, or a flag dropped or changed:
    the backend directory, explicit model control, every model loaded, --exit-on-error=false, the restricted APIs
    with the token."""
    pid, ports, work, repo = started
    assert running(work) == pid and os.getsid(pid) == pid
    assert (repo / "patchtst" / "config.pbtxt").is_file()
    assert LOCAL_TOKENS[ports.grpc] == TOKEN
    flags = pidfile.arguments(pid)[2:]  # type: ignore[index]  # after the interpreter and the stand-in's path
    rule = f"{RESTRICTED_APIS}:{ADMIN_HEADER}={TOKEN}"
    for flag in (
        f"--backend-directory={work / 'backends'}",
        "--model-control-mode=explicit",
        "--load-model=*",
        "--exit-on-error=false",
        f"--http-restricted-api={rule}",
        f"--grpc-restricted-protocol={rule}",
    ):
        assert flag in flags


def test_a_second_start_is_refused_while_the_first_runs(started: tuple[int, TritonPorts, Path, Path]) -> None:
    """start: the `running` check dropped, a second server was started on the first one's work directory."""
    pid, _, work, repo = started
    with pytest.raises(TritonError, match=f"already running \\(PID {pid}\\)"):
        start(repo, TritonPorts.free(), work, wait_s=5.0, server_env=work)


def test_a_start_on_a_taken_port_is_refused_naming_it(tmp_path: Path) -> None:
    """start: the ports.taken() check dropped, the server started and died on the port (or another Triton's
    readiness answered for it)."""
    (tmp_path / "repo").mkdir()
    grpc, metrics = free_ports(2)
    with child(HANGUP, "0") as (_, port), pytest.raises(TritonError, match=f"HTTP port {port}"):
        start(tmp_path / "repo", TritonPorts(port, grpc, metrics), tmp_path / "work", wait_s=5.0)


def test_a_server_that_exits_at_once_is_reported_and_leaves_no_pid_file(
    tmp_path: Path, no_token_variable: None
) -> None:
    """start: the PID file left behind when tritonserver exited during its start."""
    env = fake_server(tmp_path / "venv", {"exit": 3})
    (tmp_path / "repo").mkdir()
    with pytest.raises(TritonError, match="exited with 3"):
        start(tmp_path / "repo", TritonPorts.free(), tmp_path / "work", wait_s=20.0, server_env=env)
    assert not (tmp_path / "work" / "triton.pid").exists()


def test_a_server_never_ready_is_stopped_when_start_gives_up(tmp_path: Path, no_token_variable: None) -> None:
    """start: `stop(work)` dropped after the wait, a server that never got ready kept running unseen."""
    env = fake_server(tmp_path / "venv", {"never_ready": True})
    (tmp_path / "repo").mkdir()
    with pytest.raises(TritonError, match="was not ready after"):
        start_triton(tmp_path / "repo", tmp_path / "work", wait_s=0.5, server_env=env)
    program = str(find_server(env).root / "bin" / "tritonserver")
    left = [
        pid
        for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
        if program in (pidfile.arguments(pid) or [])
    ]
    alive = [pid for pid in left if pidfile.alive(pid)]
    for pid in alive:
        os.killpg(pid, signal.SIGKILL)
    assert alive == []


def test_a_pid_file_naming_another_program_is_not_a_running_server(tmp_path: Path) -> None:
    """running: the "tritonserver" marker dropped, a recycled PID (any program) was taken for the server and
    `stop` signalled it."""
    with child(SLEEPER) as (other, _):
        (tmp_path / "triton.pid").write_text(str(other.pid))
        assert running(tmp_path) is None


def test_a_server_on_other_ports_names_each_that_differs(tmp_path: Path) -> None:
    """elsewhere: the flag's value compared with the port as int (every port "differed"), or the metrics port
    not compared."""
    args = ("tritonserver", "--http-port=1001", "--grpc-port=1002", "--metrics-port=1003")
    with child(SLEEPER, *args) as (server, _):
        assert elsewhere(server.pid, TritonPorts(1001, 1002, 1003)) is None
        assert (
            elsewhere(server.pid, TritonPorts(1001, 1002, 2003))
            == "metrics port 1003 where the settings name 2003"
        )


# A server that, on SIGTERM, writes "draining" to the file its first argument names, takes 0.2 s to drain, then
# writes "yes": "draining" left means it was killed while draining, no file that it never saw the SIGTERM.
DRAINING = (
    "import pathlib, signal, sys, time\n"
    "def drain(*_):\n    out = pathlib.Path(sys.argv[1])\n    out.write_text('draining')\n    time.sleep(0.2)\n"
    "    out.write_text('yes')\n    sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, drain)\nprint(0, flush=True)\ntime.sleep(120)"
)


def test_stop_removes_a_stale_pid_file_and_lets_the_server_drain(tmp_path: Path) -> None:
    """stop: the PID file of a server gone left behind, or SIGKILL sent at once instead of after wait_s (Triton
    had no time to drain in-flight requests)."""
    (tmp_path / "triton.pid").write_text("999999999")
    assert stop(tmp_path) is False and not (tmp_path / "triton.pid").exists()
    drained = tmp_path / "drained"
    with child(DRAINING, str(drained), "tritonserver") as (server, _):
        (tmp_path / "triton.pid").write_text(str(server.pid))
        assert stop(tmp_path, 60.0) is True  # a busy machine may take seconds to run the handler: not a SIGKILL
        server.wait(5)
    seen = drained.read_text() if drained.exists() else "no file: it never ran its SIGTERM handler"
    assert seen == "yes", f"{seen} (exit status {server.returncode})"
    assert stat.S_ISREG(drained.stat().st_mode)
