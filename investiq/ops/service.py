"""`investiq start|stop|status`: the gateway as a background process, with a local Triton when the
backend is triton.

The gateway is `python -m investiq serve` in a session of its own, so it outlives the shell that
started it. It appends to LOGS_DIR/gateway.log and leaves LOGS_DIR/gateway.pid, plus gateway.json
with the URL and backend it was started with, so that `status` finds it whatever flags `start` had.
A gateway that `investiq up` or `serve` runs in a terminal (and under systemd, deploy/systemd) leaves
no PID file: `status` finds it where the settings say it serves, by its /health and, on Linux, by the
process that listens on its port. Every gateway, however started, records its PID and URL while it serves
(LOGS_DIR/gateway-PORT.serving.json), where rollouts and the Bayesian re-sync find it on any port: that record, the
gateway's URL and who listens where are investiq/ops/serving.py.
"""

from __future__ import annotations

import errno
import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import urlopen

from investiq.core.atomic import replace_file
from investiq.core.errors import InvestIQError
from investiq.core.settings import Settings
from investiq.ops import pidfile, triton_server
from investiq.ops.serving import (
    foreground_pid,
    gateway_url,
    listens_there,
    preparing,
    recorded,
    serving_gateways,
)

# /proc/PID/cmdline of our gateway (`python -m investiq serve ...`): a PID naming anything else is stale.
MARKERS = ("investiq", "serve")
TAIL_LINES = 30
logger = logging.getLogger(__name__)


class ServiceError(InvestIQError):
    """The stack cannot be started or found; the message says what to do."""


class PortInUseError(ServiceError):
    """The gateway's HOST:PORT is taken; the message names the holder when it can, and --port."""


@dataclass(frozen=True)
class Started:
    pid: int
    url: str
    log: Path
    triton_pid: int | None


@dataclass(frozen=True)
class Stopped:
    gateway_pid: int | None
    graceful: bool  # False: it ignored SIGTERM for the whole timeout and was killed
    triton: bool
    triton_left: int | None = None  # the PID of a local Triton `investiq start` did not start, left running


def files(settings: Settings) -> tuple[Path, Path, Path]:
    """The gateway's PID file, state file (url, backend) and log."""
    logs = settings.logs_dir
    return logs / "gateway.pid", logs / "gateway.json", logs / "gateway.log"


# How long a probe of /health waits: the gateway bounds each backend check there by 2 s (SCRAPE_DEADLINE_S) and
# runs them together, a few seconds at worst on a hung Triton (it took 17 s, and these probes gave up after 1 and
# 5 s: `start` stopped a gateway that was serving, and `status` said none ran; a review)
HEALTH_PROBE_S = 10.0
# How long `start` waits for the gateway (and Triton) to answer, and `stop` after SIGTERM before SIGKILL
START_WAIT_S, STOP_WAIT_S = 120.0, 30.0


def health(url: str, timeout_s: float = HEALTH_PROBE_S) -> str | None:
    """The `status` of GET url/health (healthy, degraded, unhealthy); None when no gateway answers."""
    return _probe(url, timeout_s)[1]


def _probe(url: str, timeout_s: float) -> tuple[int | None, str | None]:
    """(HTTP status, the body's `status`) of GET url/health; 503 (a service unhealthy) is an answer."""
    try:
        with urlopen(f"{url}/health", timeout=timeout_s) as response:  # noqa: S310  (our own http URL)
            code, body = response.status, response.read()
    except HTTPError as exc:
        with exc:
            code, body = exc.code, exc.read()
    except (URLError, OSError):
        return None, None
    try:
        status = json.loads(body).get("status")
    except (ValueError, AttributeError):
        return code, None  # not our JSON: something else, or a gateway failing to serve
    return code, status if isinstance(status, str) and code in (200, 503) else None


def running(settings: Settings) -> int | None:
    """The PID of the gateway `investiq start` left in LOGS_DIR, if it is alive."""
    return pidfile.read(files(settings)[0], *MARKERS)


def start(
    settings: Settings,
    config: Path | None,
    log_level: str = "info",
    wait_s: float = START_WAIT_S,
    echo: Callable[[str], None] = print,
) -> Started:
    """Start (local Triton and) the gateway; return once GET /health answers, within wait_s seconds."""
    pid_path, state_path, log_path = files(settings)
    if (pid := running(settings)) is not None:
        raise ServiceError(f"the gateway is already running (PID {pid}): `investiq stop` first")
    try:
        settings.logs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ServiceError(f"cannot create logs_dir {settings.logs_dir}: {exc}; set logs_dir") from None
    if pid_path.exists():
        echo(f"replacing the stale PID file {pid_path} (no gateway runs under its PID)")
        pid_path.unlink()
    url = gateway_url(settings)
    if _listening(settings):
        # named as `serve` names it: "(a gateway started with `investiq serve`?)" for any program (an audit)
        who = _holder(settings.port) or "something (a gateway started with `investiq serve`?)"
        raise ServiceError(f"{who} already listens on {url}: stop it, or {_another_port(settings.port)}")
    triton_pid, triton_started = _start_triton(settings, wait_s, echo)
    offset = log_path.stat().st_size if log_path.exists() else 0
    with log_path.open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
            _serve_command(settings, config, log_level),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not killed with the terminal; `stop` signals its group
        )
    pid_path.write_text(f"{proc.pid}\n")
    state = {"pid": proc.pid, "url": url, "backend": settings.backend, "triton_started": triton_started}
    replace_file(state_path, json.dumps(state))  # 0644 whatever the umask: `_recorded` refuses a writable one
    failure = _wait_healthy(proc, url, wait_s)
    if failure is None:
        return Started(proc.pid, url, log_path, triton_pid)
    pid_path.unlink(missing_ok=True)
    state_path.unlink(missing_ok=True)
    if triton_started:  # leave nothing half-started behind
        triton_server.stop(triton_server.work_dir(settings))
    raise ServiceError(
        f"{failure}. Last lines of {log_path}:\n{_tail(log_path, offset)}\n"
        "Fix the cause shown above and run `investiq start` again "
        "(`investiq serve` with the same flags shows it in the foreground)."
    )


def _serve_command(settings: Settings, config: Path | None, log_level: str) -> list[str]:
    """`investiq serve` with the resolved values, so that the child serves where `start` probes."""
    cmd = [sys.executable, "-m", "investiq", "serve", "--log-level", log_level]
    if config is not None:
        cmd += ["--config", str(config)]
    return [
        *cmd,
        *("--host", settings.host, "--port", str(settings.port)),
        *("--db", str(settings.db_path), "--backend", settings.backend),
    ]


def check_port(settings: Settings) -> None:
    """PortInUseError (one line, naming --port) when the gateway could not bind HOST:PORT now; other bind
    failures (an address not on this host) as ServiceError. Checked before `up` prepares anything and
    before uvicorn starts, whose own failure is only a log line and exit status 3."""
    host, port = settings.host, settings.port
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise ServiceError(
            f"cannot serve on {host}:{port}: {exc}; set --host to an address of this machine"
        ) from None
    # every address the host resolves to, as uvicorn's asyncio server binds them (localhost: 127.0.0.1 and ::1
    # on many systems; no host: 0.0.0.0 and ::); the first alone passed where another server held the second
    with ExitStack() as held:
        for family, address in dict.fromkeys((info[0], info[4]) for info in infos):
            sock = held.enter_context(socket.socket(family, socket.SOCK_STREAM))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: TIME_WAIT is no obstacle
            if family == socket.AF_INET6:  # as asyncio: [::] and 0.0.0.0 are two sockets, not one
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise ServiceError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
                holder = _holder(port)
                who = f" by {holder}" if holder else ""
                raise PortInUseError(
                    f"cannot serve on {host}:{port}: address already in use{who}; stop it, or "
                    f"{_another_port(port)}"
                ) from None


def _holder(port: int) -> str | None:
    """ "PID 3027 (python -m http.server ...)" of the process listening on `port`, where it can be told."""
    pid = pidfile.listener(port)
    return None if pid is None else f"PID {pid} ({pidfile.command(pid)})"


def _another_port(port: int) -> str:
    return f"serve on another port with --port (e.g. --port {port + 1 if port < 65535 else 8081})"


def _listening(settings: Settings) -> bool:
    host = gateway_url(settings).rsplit(":", 1)[0].removeprefix("http://").strip("[]")
    try:
        with socket.create_connection((host, settings.port), timeout=1.0):
            return True
    except OSError:
        return False


def _start_triton(settings: Settings, wait_s: float, echo: Callable[[str], None]) -> tuple[int | None, bool]:
    """(PID of the local Triton, whether this call started it); (None, False) when none is wanted."""
    if settings.backend != "triton":
        return None, False
    if not triton_server.is_local(settings):
        echo(f"Triton at {settings.triton_url} is not on this host: not started here")
        return None, False
    work = triton_server.work_dir(settings)
    if (pid := triton_server.running(work)) is not None:
        # started before with other ports: the gateway would be pointed at ports where nothing listens (an audit)
        if (other := triton_server.elsewhere(pid, triton_server.TritonPorts.from_settings(settings))) is not None:
            raise ServiceError(
                f"Triton already runs (PID {pid}, started from {work}) on {other}: the gateway could not reach "
                "it. `investiq triton stop` and start again, or set the settings back to its ports"
            )
        echo(f"Triton already running (PID {pid})")
        return pid, False
    echo(f"starting Triton (log: {work / 'triton.log'})")
    try:
        pid = triton_server.start(
            settings.model_repository,
            triton_server.TritonPorts.from_settings(settings),
            work,
            wait_s,
            server_env=settings.triton_env,
        )
    except triton_server.TritonError as exc:
        raise ServiceError(f"Triton did not start: {exc}") from None
    return pid, True


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, wait_s: float) -> str | None:
    """None once /health answers; else why not (the child exited, failed to serve, or the time ran out)."""
    deadline = time.monotonic() + wait_s
    while (code := proc.poll()) is None:
        http, status = _probe(url, timeout_s=max(1.0, min(HEALTH_PROBE_S, deadline - time.monotonic())))
        if status is not None:
            return None
        if http is not None or time.monotonic() >= deadline:
            pidfile.terminate(proc.pid, 10.0, *MARKERS)
            proc.wait()
            if http is not None:  # waiting longer will not mend a crashing route
                return f"the gateway answered {url}/health with HTTP {http} and was stopped"
            return f"the gateway did not answer {url}/health within {wait_s:.0f} s and was stopped"
        time.sleep(0.2)
    return f"the gateway exited with code {code} before answering {url}/health"


def _tail(log_path: Path, offset: int, lines: int = TAIL_LINES) -> str:
    """The last lines this start wrote to the log (earlier runs' lines are not its story)."""
    with log_path.open("rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:]) or "(the log is empty)"


def stop(settings: Settings, timeout_s: float = STOP_WAIT_S) -> Stopped:
    """SIGTERM the gateway (uvicorn drains requests, the lifespan flushes the journal writer),
    SIGKILL after timeout_s seconds; then the local Triton in LOGS_DIR/triton if `investiq start` started it.
    One it found running (`investiq triton start`; another gateway may use it) is left running."""
    pid_path, state_path, _ = files(settings)
    pid = running(settings)
    started_triton = recorded(state_path).get("triton_started", True)  # a record without it: as before
    graceful = pidfile.terminate(pid, timeout_s, *MARKERS) if pid is not None else True
    pid_path.unlink(missing_ok=True)
    state_path.unlink(missing_ok=True)
    work = triton_server.work_dir(settings)
    if not started_triton:
        return Stopped(pid, graceful, False, triton_server.running(work))
    return Stopped(pid, graceful, triton_server.stop(work, timeout_s))


def started_state(settings: Settings) -> dict[str, Any] | None:
    """What `investiq start` recorded (pid, url, backend) about the gateway it started, if that
    gateway still runs: its flags (`--port 9000`) beat this shell's settings."""
    pid = running(settings)
    if pid is None:
        return None
    # read as rollouts read it (this user's alone); a hand-edited record without a url made `status` fail with a
    # KeyError (a review): no record
    state = recorded(files(settings)[1])
    return state if isinstance(state.get("url"), str) and state.get("pid") == pid else None


def stack_urls(settings: Settings) -> list[str]:
    """Where the running gateways answer: the one `investiq start` started and those serving elsewhere
    (`serving_record`), the settings' own first; else where the settings say one would."""
    state = started_state(settings)
    # `investiq start`'s record is checked as the serving records are: its url had the API key too (a review)
    url = state.get("url") if state else None
    urls = [url] if state and isinstance(url, str) and listens_there(state["pid"], url) else []
    urls += [r["url"] for r in serving_gateways(settings) if r["url"] not in urls]
    urls.sort(key=lambda url: url != gateway_url(settings))
    return urls or [gateway_url(settings)]


def stack_url(settings: Settings) -> str:
    """Where the running gateway answers (the first of `stack_urls`)."""
    return stack_urls(settings)[0]


def status(settings: Settings, use_record: bool = True) -> tuple[dict[str, Any], bool]:
    """What runs, as JSON-ready data, and whether everything configured runs and answers, the gateway not
    unhealthy (degraded is up: a model answers with its fallback).

    The gateway is the one `investiq start` recorded (unless use_record is False: the caller named a
    host or port), else the one answering where the settings say it serves: `investiq up` or `serve`
    in a terminal, whose PID is that of the process listening on the port (None when it cannot be told). Where
    none runs there, the gateways serving elsewhere (their serving records) are listed, and the `investiq up`
    processes still preparing (`preparing`)."""
    pid = running(settings) if use_record else None
    state = started_state(settings) if use_record else None
    url, backend = (
        (state["url"], state.get("backend", settings.backend))
        if state
        else (gateway_url(settings), settings.backend)
    )
    answer = health(url)
    if pid is None and answer is not None:
        pid = foreground_pid(settings)
    alive = pid is not None or answer is not None
    report: dict[str, Any] = {"gateway": {"pid": pid, "running": alive, "url": url, "health": answer}}
    # unhealthy (503: the journal or the Bayesian service) is down for a monitor: `status || alert` passed it
    ok = alive and answer is not None and answer != "unhealthy"
    others = [{"url": r["url"], "pid": r["pid"]} for r in serving_gateways(settings) if r["url"] != url]
    if not alive and others:  # `up` or `serve` on another port: say where, as `investiq stop` does
        report["serving_elsewhere"] = others
    if not alive and (starting := preparing({r["pid"] for r in others})):
        report["preparing"] = starting
    if backend == "triton" and triton_server.is_local(settings):
        triton_pid = triton_server.running(triton_server.work_dir(settings))
        ready = triton_server.ready(triton_server.TritonPorts.from_settings(settings))
        report["triton"] = {"pid": triton_pid, "ready": ready}
        ok = ok and triton_pid is not None and ready
    return report, ok
