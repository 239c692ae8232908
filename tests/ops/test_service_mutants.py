"""Kill tests of a mutation audit of `investiq start|stop|status` (investiq/ops/service.py): each fails with the
mutant its docstring names applied, and passes on the code as it is. They call the module's functions on small
files in tmp_path, sockets bound here on 127.0.0.1, and tiny `python -c` children (never a gateway)."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path

import pytest

from investiq.core.ports import free_ports
from investiq.core.settings import Settings
from investiq.ops import pidfile, service, serving, triton_server

# Answers every GET with argv's HTTP status and body at argv's port (0: any); prints the port it serves on, then
# a line for each request.
HEALTH_SERVER = """
import http.server, sys
port, code, body = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        print("GET", self.path, flush=True)
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", port), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

# Listens on argv's port (0: any), prints it, and closes every connection it takes without a word.
HANGUP = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print(s.getsockname()[1], flush=True)
while True:
    s.accept()[0].close()
"""

SLEEPER = "print(0, flush=True)\nimport time\ntime.sleep(60)"
HEALTHY = json.dumps({"status": "healthy"})


@contextmanager
def child(code: str, *args: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A `python -c code args...` in a session of its own, once it has printed its first line (a port); killed
    with its group at the end, whatever happens."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        yield proc, int(proc.stdout.readline())
    finally:
        if proc.poll() is None:  # once reaped, its PID may be another test's process by now
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def health_server(
    code: int = 200, body: str = HEALTHY, port: int = 0, *markers: str
) -> AbstractContextManager[tuple[subprocess.Popen[str], int]]:
    return child(HEALTH_SERVER, str(port), str(code), body, *markers)


def private(path: Path, data: object) -> Path:
    """A record as `investiq start` leaves it: this user's, 0644."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    path.chmod(0o644)
    return path


# -- urls and commands ----------------------------------------------------------------------------------------


def test_a_wildcard_or_localhost_bind_is_reached_over_loopback():
    """service.py:gateway_url: the 0.0.0.0, `localhost` or `::` entry of the loopback map dropped, the gateway
    looked for at an address no client connects to (or at ::1 first for localhost)."""
    url = {host: serving.gateway_url(Settings(host=host, port=8090)) for host in ("0.0.0.0", "localhost", "::")}
    assert url == {
        "0.0.0.0": "http://127.0.0.1:8090",
        "localhost": "http://127.0.0.1:8090",
        "::": "http://[::1]:8090",
    }
    assert serving.gateway_url(Settings(host="192.0.2.5", port=8090)) == "http://192.0.2.5:8090"


def test_the_serve_command_carries_every_resolved_value(tmp_path: Path):
    """service.py:_serve_command: --config, --db or --host dropped, the child served elsewhere (or on another
    journal) than where `start` probes."""
    settings = Settings(host="127.0.0.2", port=18123, db_path=tmp_path / "j.db", backend="embedded")
    cmd = service._serve_command(settings, tmp_path / "c.yaml", "debug")
    assert cmd == [
        sys.executable,
        *("-m", "investiq", "serve", "--log-level", "debug", "--config", str(tmp_path / "c.yaml")),
        *("--host", "127.0.0.2", "--port", "18123", "--db", str(tmp_path / "j.db"), "--backend", "embedded"),
    ]
    assert "--config" not in service._serve_command(settings, None, "info")


def test_the_port_suggested_instead_stays_a_port():
    """service.py:_another_port: `port < 65535` as `port < 65534`, 65534 was told to try 8081, not 65535."""
    assert service._another_port(65534).endswith("(e.g. --port 65535)")
    assert service._another_port(65535).endswith("(e.g. --port 8081)")


# -- /health probes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "body", "expected"),
    [
        (200, HEALTHY, (200, "healthy")),
        (503, json.dumps({"status": "unhealthy"}), (503, "unhealthy")),  # an answer, not "no gateway"
        (200, json.dumps({"status": 3}), (200, None)),  # not a status word
        (404, HEALTHY, (404, None)),  # not our route
        (500, "Internal Server Error", (500, None)),  # not our JSON, yet something answered
        (200, "[1, 2]", (200, None)),
    ],
)
def test_a_health_probe_tells_an_answer_from_something_else_listening(
    code: int, body: str, expected: tuple[int, str | None]
):
    """service.py:_probe: 503 not taken as an answer (`code in (200,)`, or HTTPError as no answer at all), the
    status taken whatever its type, or a body that is not JSON reported as nothing answering (HTTP None)."""
    with health_server(code, body) as (_, port):
        assert service._probe(f"http://127.0.0.1:{port}", 5.0) == expected


def test_start_gives_up_at_once_on_a_gateway_whose_health_route_fails():
    """service.py:_wait_healthy: `http is not None or` dropped, a crashing /health was probed again and again to
    the deadline before the gateway was stopped."""
    with health_server(500, "boom", 0, *service.MARKERS) as (proc, port):
        url = f"http://127.0.0.1:{port}"
        why = service._wait_healthy(proc, url, 2.0)  # type: ignore[arg-type]
        assert why == f"the gateway answered {url}/health with HTTP 500 and was stopped"
        assert proc.poll() is not None
        assert proc.stdout is not None and proc.stdout.read().splitlines() == ["GET /health"]  # asked once


def test_the_log_tail_is_this_starts_last_lines(tmp_path: Path):
    """service.py:_tail: the slice `[-lines:]` as `[:lines]` (the first lines), or `seek(offset)` dropped (an
    earlier run's lines shown as this start's story)."""
    log = tmp_path / "gateway.log"
    log.write_text("earlier run\n")
    offset = log.stat().st_size
    with log.open("a") as f:
        f.writelines(f"line {i}\n" for i in range(40))
    assert service._tail(log, offset, 3) == "line 37\nline 38\nline 39"
    assert service._tail(log, offset).splitlines() == [f"line {i}" for i in range(10, 40)]
    assert service._tail(log, log.stat().st_size) == "(the log is empty)"


# -- ports ----------------------------------------------------------------------------------------------------


def test_check_port_passes_a_port_a_stopped_server_left_in_time_wait():
    """service.py:check_port: SO_REUSEADDR dropped, a gateway restarted right after serving a client was told its
    port was taken, which uvicorn itself would have bound."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            served, _ = listener.accept()
            served.close()  # the server hangs up first: its end waits in TIME_WAIT
            assert client.recv(1) == b""
    service.check_port(Settings(host="127.0.0.1", port=port))


def test_a_gateway_listening_on_ipv6_loopback_is_found():
    """service.py:_listening: `.strip("[]")` dropped, `[::1]` was no host to connect to and a gateway on --host ::1
    was not found listening."""
    with socket.socket(socket.AF_INET6) as listener:
        try:
            listener.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback here")
        listener.listen()
        port = listener.getsockname()[1]
        assert service._listening(Settings(host="::1", port=port))
    assert not service._listening(Settings(host="::1", port=port))


def test_sockets_bound_to_every_ipv4_address_do_not_take_ipv6_connections():
    """service.py:_covers: `address.version == 4 and` dropped, a gateway on 0.0.0.0 was taken to answer at ::1."""
    v4_any, v6_any = ipaddress.ip_address("0.0.0.0"), ipaddress.ip_address("::")
    v4, v6 = ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")
    assert serving._covers({v4_any}, v4) and serving._covers({v6_any}, v4) and serving._covers({v6_any}, v6)
    assert not serving._covers({v4_any}, v6)


# -- Triton ---------------------------------------------------------------------------------------------------


def test_a_triton_on_another_host_is_not_started_here(tmp_path: Path):
    """service.py:_start_triton: the is_local check dropped, `start` tried to run a Triton for an address of
    another machine."""
    said: list[str] = []
    settings = Settings(backend="triton", triton_url="192.0.2.1:8001", logs_dir=tmp_path)
    assert service._start_triton(settings, 1.0, said.append) == (None, False)
    assert said == ["Triton at 192.0.2.1:8001 is not on this host: not started here"]


def triton_settings(tmp_path: Path) -> Settings:
    http, grpc, metrics = free_ports(3)  # nothing listens there: a Triton found running is not ready
    return Settings(
        backend="triton",
        logs_dir=tmp_path / "logs",
        triton_url=f"127.0.0.1:{grpc}",
        triton_http_port=http,
        triton_metrics_port=metrics,
    )


def test_stop_stops_the_triton_start_started_and_leaves_one_it_found(tmp_path: Path):
    """service.py:stop: the default of `triton_started` as False (a record from before it, or none, left the Triton
    running), or `if not started_triton` inverted."""
    settings = triton_settings(tmp_path)
    work = triton_server.work_dir(settings)
    work.mkdir(parents=True)
    with child(SLEEPER, "tritonserver") as (found, _):
        (work / "triton.pid").write_text(str(found.pid))
        private(service.files(settings)[1], {"pid": 1, "url": "http://127.0.0.1:1", "triton_started": False})
        assert service.stop(settings, 5.0) == service.Stopped(None, True, False, found.pid)
        assert pidfile.alive(found.pid, "tritonserver")
        assert not service.files(settings)[1].exists()
        assert service.stop(settings, 5.0) == service.Stopped(None, True, True)  # no record: as before it
        found.wait(5)


def test_status_fails_while_the_local_triton_is_not_ready(tmp_path: Path):
    """service.py:status: `and ready` dropped from ok, a Triton that runs but answers nothing passed `status`."""
    settings = triton_settings(tmp_path)
    work = triton_server.work_dir(settings)
    work.mkdir(parents=True)
    with child(SLEEPER, "tritonserver") as (triton, _), health_server() as (_, port):
        (work / "triton.pid").write_text(str(triton.pid))
        report, ok = service.status(settings.model_copy(update={"port": port}))
        assert report["gateway"]["health"] == "healthy" and report["triton"] == {"pid": triton.pid, "ready": False}
        assert ok is False


# -- records --------------------------------------------------------------------------------------------------


def test_a_record_others_of_the_group_may_write_is_still_read_and_one_anyone_may_write_is_not(tmp_path: Path):
    """service.py:_recorded: `st_mode & 0o002` as `& 0o020`, a user's own group-writable record (umask 002) was
    ignored while one anyone may write was read."""
    record = private(tmp_path / "gateway.json", {"pid": 7, "url": "http://127.0.0.1:1"})
    record.chmod(0o664)
    assert serving.recorded(record)["pid"] == 7
    record.chmod(0o646)
    assert serving.recorded(record) == {}


def test_a_record_that_is_not_an_object_reads_as_nothing(tmp_path: Path):
    """service.py:_recorded: `isinstance(state, dict)` dropped, a JSON list was returned and `.get` on it
    raised."""
    assert serving.recorded(private(tmp_path / "gateway.json", [1, 2])) == {}


@pytest.mark.skipif(os.getuid() != 0, reason="only root can give a file to another user")
def test_another_users_record_is_not_read(tmp_path: Path):
    """service.py:_recorded: the owner check dropped, a record another user planted (0644) was trusted."""
    record = private(tmp_path / "gateway.json", {"pid": 7, "url": "http://127.0.0.1:1"})
    os.chown(record, 65534, 65534)
    assert serving.recorded(record) == {}


def test_the_start_record_counts_only_for_the_pid_it_names_and_when_it_exists(tmp_path: Path):
    """service.py:started_state: `state.get("pid") == pid` dropped (another gateway's record trusted), or the
    is_file check dropped (a missing record raised FileNotFoundError)."""
    settings = Settings(logs_dir=tmp_path)
    with child(SLEEPER, *service.MARKERS) as (gateway, _):
        (tmp_path / "gateway.pid").write_text(str(gateway.pid))
        assert service.started_state(settings) is None
        private(tmp_path / "gateway.json", {"pid": gateway.pid + 1, "url": "http://127.0.0.1:1"})
        assert service.started_state(settings) is None
        private(tmp_path / "gateway.json", {"pid": gateway.pid, "url": "http://127.0.0.1:1"})
        assert service.started_state(settings) == {"pid": gateway.pid, "url": "http://127.0.0.1:1"}


def test_a_serving_record_names_the_loopback_url_and_is_left_to_a_later_gateway(tmp_path: Path):
    """service.py:_record: the url as the bind (`http://0.0.0.0:P`, no address to connect to) rather than
    gateway_url; serving_record: the check that the record is still this process's dropped, a later gateway's
    record on the port was removed."""
    settings = Settings(host="0.0.0.0", port=18124, logs_dir=tmp_path)
    path = tmp_path / "gateway-18124.serving.json"
    with serving.serving_record(settings):
        assert json.loads(path.read_text()) == {"pid": os.getpid(), "url": "http://127.0.0.1:18124"}
        private(path, {"pid": os.getpid() + 1, "url": "http://127.0.0.1:18124"})  # a later gateway's
    assert json.loads(path.read_text())["pid"] == os.getpid() + 1


def test_serving_records_count_only_well_formed_and_of_an_investiq_process(tmp_path: Path):
    """service.py:serving_gateways: the `isinstance(pid, int)` check dropped (a record without a pid raised), or
    the `investiq` marker dropped (any program listening at the url was taken for a gateway)."""
    settings = Settings(logs_dir=tmp_path)
    with child(HANGUP, "0", "other-program") as (other, port), child(HANGUP, "0", "investiq") as (ours, mine):
        private(tmp_path / "gateway-1.serving.json", {"url": f"http://127.0.0.1:{mine}"})
        private(tmp_path / "gateway-2.serving.json", {"pid": other.pid, "url": f"http://127.0.0.1:{port}"})
        private(tmp_path / "gateway-3.serving.json", {"pid": ours.pid, "url": f"http://127.0.0.1:{mine}"})
        assert serving.serving_gateways(settings) == [{"pid": ours.pid, "url": f"http://127.0.0.1:{mine}"}]


def test_the_settings_own_gateway_comes_first_and_each_url_once(tmp_path: Path):
    """service.py:stack_urls: the sort key inverted (the settings' own gateway last), or the `not in urls` check
    dropped (the gateway `investiq start` recorded listed twice, by its record and its serving record)."""
    with child(HANGUP, "0", *service.MARKERS) as (first, a), child(HANGUP, "0", "investiq") as (second, b):
        url_a, url_b = f"http://127.0.0.1:{a}", f"http://127.0.0.1:{b}"
        (tmp_path / "gateway.pid").write_text(str(first.pid))
        private(tmp_path / "gateway.json", {"pid": first.pid, "url": url_a})
        private(tmp_path / "gateway-1.serving.json", {"pid": first.pid, "url": url_a})
        private(tmp_path / "gateway-2.serving.json", {"pid": second.pid, "url": url_b})
        assert service.stack_urls(Settings(logs_dir=tmp_path, port=a)) == [url_a, url_b]
        assert service.stack_urls(Settings(logs_dir=tmp_path, port=b)) == [url_b, url_a]


# -- start, stop, status with tiny children -------------------------------------------------------------------


def test_start_records_what_it_started_and_stop_removes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """service.py:start: `triton_started` recorded as True whatever it was (a later `stop` would stop a Triton it
    did not start); stop: the unlink of the PID or state file dropped."""
    (port,) = free_ports(1)
    settings = Settings(logs_dir=tmp_path / "logs", port=port, backend="embedded")
    command = [sys.executable, "-c", HEALTH_SERVER, str(port), "200", HEALTHY, *service.MARKERS]
    monkeypatch.setattr(service, "_serve_command", lambda *_: command)
    pid_path, state_path, log_path = service.files(settings)
    try:
        started = service.start(settings, None, wait_s=30.0, echo=lambda _: None)
        url = f"http://127.0.0.1:{port}"
        assert started == service.Started(started.pid, url, log_path, None)
        assert json.loads(state_path.read_text()) == {
            "pid": started.pid,
            "url": url,
            "backend": "embedded",
            "triton_started": False,
        }
        assert service.stop(settings, 5.0) == service.Stopped(started.pid, True, False, None)
        assert not pid_path.exists() and not state_path.exists()
    finally:
        if (pid := service.running(settings)) is not None:
            pidfile.terminate(pid, 5.0)


def test_a_failed_start_shows_only_its_own_log_and_leaves_no_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """service.py:start: the log offset as 0 (an earlier run's lines shown as this start's), or the state file left
    behind after the child exited."""
    (port,) = free_ports(1)
    settings = Settings(logs_dir=tmp_path, port=port, backend="embedded")
    pid_path, state_path, log_path = service.files(settings)
    log_path.write_text("an earlier run's line\n")
    crash = [sys.executable, "-c", "print('this start failed', flush=True); raise SystemExit(2)", *service.MARKERS]
    monkeypatch.setattr(service, "_serve_command", lambda *_: crash)
    with pytest.raises(service.ServiceError, match="the gateway exited with code 2") as failed:
        service.start(settings, None, wait_s=30.0, echo=lambda _: None)
    assert "this start failed" in str(failed.value) and "an earlier run" not in str(failed.value)
    assert not pid_path.exists() and not state_path.exists()


def test_status_reads_the_url_start_recorded_not_the_settings(tmp_path: Path):
    """service.py:status: the url taken from the settings even with a record (`start --port 9000` reported as not
    running)."""
    settings = Settings(logs_dir=tmp_path, port=free_ports(1)[0])
    with health_server(200, HEALTHY, 0, *service.MARKERS) as (gateway, port):
        url = f"http://127.0.0.1:{port}"
        (tmp_path / "gateway.pid").write_text(str(gateway.pid))
        private(tmp_path / "gateway.json", {"pid": gateway.pid, "url": url, "backend": "embedded"})
        report, ok = service.status(settings)
        assert report == {"gateway": {"pid": gateway.pid, "running": True, "url": url, "health": "healthy"}}
        assert ok is True


def test_status_for_a_named_port_ignores_the_pid_file(tmp_path: Path):
    """service.py:status: `running(settings)` consulted with use_record False, a gateway `start` left elsewhere
    was reported running at the port the caller named."""
    settings = Settings(logs_dir=tmp_path, port=free_ports(1)[0])
    with child(SLEEPER, *service.MARKERS) as (gateway, _):
        (tmp_path / "gateway.pid").write_text(str(gateway.pid))
        report, ok = service.status(settings, use_record=False)
        url = serving.gateway_url(settings)
        assert (report, ok) == ({"gateway": {"pid": None, "running": False, "url": url, "health": None}}, False)


def test_a_listener_that_does_not_answer_health_is_not_a_running_gateway(tmp_path: Path):
    """service.py:status: `answer is not None` dropped before the foreground lookup (a hung listener reported as
    running), or its own serving record not excluded from `serving_elsewhere` (listed as elsewhere)."""
    (port,) = free_ports(1)
    settings = Settings(logs_dir=tmp_path, port=port)
    with child(HANGUP, str(port), "investiq") as (hung, _):
        url = f"http://127.0.0.1:{port}"
        private(tmp_path / f"gateway-{port}.serving.json", {"pid": hung.pid, "url": url})
        report, ok = service.status(settings)
        assert (report, ok) == ({"gateway": {"pid": None, "running": False, "url": url, "health": None}}, False)


def test_gateways_elsewhere_are_listed_only_when_none_runs_here(tmp_path: Path):
    """service.py:status: `not alive and` dropped, `serving_elsewhere` listed beside a gateway that serves."""
    with (
        health_server(200, HEALTHY, 0, *service.MARKERS) as (_, port),
        child(HANGUP, "0", "investiq") as (other, b),
    ):
        settings = Settings(logs_dir=tmp_path, port=port)
        private(tmp_path / "gateway-2.serving.json", {"pid": other.pid, "url": f"http://127.0.0.1:{b}"})
        report, ok = service.status(settings)
        assert "serving_elsewhere" not in report and report["gateway"]["health"] == "healthy" and ok is True
        settings = Settings(logs_dir=tmp_path, port=free_ports(1)[0])
        report, _ = service.status(settings)
        assert report["serving_elsewhere"] == [{"url": f"http://127.0.0.1:{b}", "pid": other.pid}]


def test_a_start_record_without_a_url_is_no_record_and_status_still_answers(tmp_path: Path):
    """A hand-edited gateway.json with the running pid but no url (or a url not a string) made `investiq status`
    fail with a KeyError; it is read as no record, and status reports where the settings say the gateway
    serves. A record without the backend (older or edited) takes the settings' backend."""
    own = free_ports(1)[0]
    settings = Settings(logs_dir=tmp_path, port=own)
    with child(SLEEPER, *service.MARKERS) as (gateway, _):
        (tmp_path / "gateway.pid").write_text(str(gateway.pid))
        for broken in ({"pid": gateway.pid}, {"pid": gateway.pid, "url": 8080, "backend": "embedded"}):
            private(tmp_path / "gateway.json", broken)
            assert service.started_state(settings) is None
            report, ok = service.status(settings)
            assert report["gateway"]["url"] == f"http://127.0.0.1:{own}" and not ok
        private(tmp_path / "gateway.json", {"pid": gateway.pid, "url": f"http://127.0.0.1:{own}"})
        report, ok = service.status(settings)
        assert report["gateway"]["pid"] == gateway.pid and "triton" not in report


def test_status_names_an_up_that_is_still_preparing(tmp_path: Path):
    """`investiq status` said only "not running" while `investiq up` trained its first model (about two minutes
    on a first start: a new user's walkthrough, in a second terminal, took it for dead). A process whose command
    line is `... investiq up ...` and that serves nowhere yet is named under "preparing"; once it serves (a
    serving record with its PID) it is not. Fails before."""
    settings = Settings(port=free_ports(1)[0], logs_dir=tmp_path)
    with child("print(0, flush=True)\nimport time\ntime.sleep(60)", "investiq", "up", "--port", "1") as (up, _):
        report, ok = service.status(settings)
        assert not ok and report["gateway"]["running"] is False
        (named,) = [p for p in report["preparing"] if p["pid"] == up.pid]
        assert named["command"].startswith(sys.executable) and named["command"].endswith(" investiq up --port 1")
        assert up.pid not in {p["pid"] for p in serving.preparing({up.pid})}  # serving: not preparing
