"""Real processes for tests, benchmarks and reliability runs: `investiq serve` (the real CLI, uvicorn and
journal file) and a local tritonserver, each on ports of its own, with the ways they end: SIGTERM
(graceful) and SIGKILL.

The product's own way to start a gateway (`investiq start`, investiq/ops/service.py) is not this one:
that one detaches it and keeps a PID file; this one keeps the child process to measure and kill it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from investiq.core.errors import InvestIQError
from investiq.core.ports import free_port
from investiq.ops import pidfile
from investiq.ops.triton_server import TritonError, TritonPorts, log_path, running, start, stop

ROOT = Path(__file__).resolve().parents[1]


def in_child(code: str) -> None:
    """Run `code` (one line of Python) in a child interpreter: work whose PyTorch threads would stay behind
    spinning in a measuring process. An InvestIQError it raises is raised here with its message, for the command
    line's one line (`bench finbert --source` offline printed the child's traceback and then the parent's); any
    other failure is the child's traceback and a CalledProcessError."""
    with tempfile.TemporaryDirectory(prefix="investiq-child-") as folder:
        why = Path(folder) / "error.txt"
        wrapped = (
            "import pathlib, sys\nfrom investiq.core.errors import InvestIQError\ntry:\n"
            f"    {code}\nexcept InvestIQError as exc:\n"
            f"    pathlib.Path({str(why)!r}).write_text(str(exc), encoding='utf-8')\n    sys.exit(3)\n"
        )
        done = subprocess.run([sys.executable, "-c", wrapped])  # noqa: S603 (our own interpreter and code)
        if done.returncode == 3 and why.is_file():
            raise InvestIQError(why.read_text(encoding="utf-8"))
        done.check_returncode()


class GatewayError(RuntimeError):
    """The gateway did not start, or did not stop; the message carries the end of its log."""


def isolated_env(**settings: str) -> dict[str, str]:
    """This process's environment without any InvestIQ setting or the API key, plus `settings`
    (INVESTIQ_... names): what a child gateway then does depends only on what the caller gives it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVESTIQ_") and k != "ML_API_KEY"}
    return env | settings


PORT_TRIES = 3  # spawns of a gateway or Triton whose picked port another process took first (start, start_triton)


def healthy(gateway: GatewayProcess) -> bool:
    """The default readiness: GET /health answers 200."""
    return gateway.get("/health", 2).status_code == 200


class GatewayProcess:
    """`investiq serve` (or another command that serves, e.g. `up`) in a child process.

    `env` is the child's whole environment (default: this process's); `cwd` where it runs (default:
    here); its stdout and stderr are appended to `log`. `start` waits until `ready(self)` holds (by
    default /health answers 200): a readiness check may raise httpx.TransportError while the server
    is still coming up.
    """

    def __init__(
        self,
        db: Path,
        log: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        port: int | None = None,
        command: str = "serve",
        log_level: str = "warning",
    ) -> None:
        self.db = db
        self.log_path = log
        self.env = dict(os.environ if env is None else env)
        # its record of where it serves (investiq/ops/service.py serving_record) beside its log, not in ./logs
        self.env.setdefault("INVESTIQ_LOGS_DIR", str(log.parent / "logs"))
        self.cwd = cwd
        self._chosen = port is None  # a port free_port picked: another may be picked when it is taken
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = command
        self.log_level = log_level
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the child and return at once (`start` also waits until it is ready)."""
        cmd = [sys.executable, "-m", "investiq", self.command, "--db", str(self.db), "--port", str(self.port)]
        if self.cwd is not None:
            self.cwd.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(  # noqa: S603  (our own interpreter and CLI)
                [*cmd, "--log-level", self.log_level],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
            )
        return self.proc

    def start(self, timeout_s: float = 90.0, ready: Callable[[GatewayProcess], bool] = healthy) -> float:
        """Spawn and wait until `ready`; the seconds it took. GatewayError (and the child killed) if it
        exits first or is not ready within `timeout_s`. A port free_port picked is free only when picked: a child
        that exits because another process (another test worker's server) bound it meanwhile is spawned again on
        another, up to PORT_TRIES times, where no port was given."""
        began = time.monotonic()
        for _ in range(PORT_TRIES):
            written = self.log_path.stat().st_size if self.log_path.exists() else 0
            proc = self.spawn()
            while time.monotonic() - began < timeout_s:
                if proc.poll() is not None:
                    if self._chosen and "address already in use" in self._log_since(written).lower():
                        break  # taken meanwhile: another port
                    raise GatewayError(f"the gateway exited with {proc.returncode}: {self.log_tail()}")
                try:
                    if ready(self):
                        return time.monotonic() - began
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            else:
                self.kill()
                raise GatewayError(f"the gateway was not ready after {timeout_s:.0f} s: {self.log_tail()}")
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
        raise GatewayError(f"every port tried was taken before the gateway bound it: {self.log_tail()}")

    def _log_since(self, offset: int) -> str:
        """What the child wrote to its log after `offset` bytes (an earlier run's lines are not its story)."""
        return _since(self.log_path, offset)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("timeout", 30)
        return httpx.request(method, f"{self.url}{path}", **kwargs)

    def get(self, path: str, timeout_s: float = 10.0) -> httpx.Response:
        return self.request("GET", path, timeout=timeout_s)

    def post(self, path: str, body: dict[str, Any], timeout_s: float = 30.0) -> httpx.Response:
        return self.request("POST", path, json=body, timeout=timeout_s)

    def metric(self, name: str) -> float:
        """One unlabelled sample of /metrics (e.g. investiq_journal_failed_total)."""
        found = re.search(rf"^{re.escape(name)} (\S+)$", self.get("/metrics").text, re.MULTILINE)
        if found is None:
            raise GatewayError(f"/metrics has no {name}")
        return float(found.group(1))

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait until the journal writer has nothing queued (prediction logs are fire-and-forget)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.metric("investiq_journal_pending") == 0:
                return True
            time.sleep(0.05)
        return False

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM: uvicorn drains requests and the lifespan flushes the journal writer. The exit code
        (uvicorn re-raises the signal, so -15 is a clean exit too); GatewayError if it had to be killed."""
        assert self.proc is not None
        self.proc.terminate()
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise GatewayError(f"the gateway ignored SIGTERM for {timeout_s:.0f} s: {self.log_tail()}") from None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or the OOM killer."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> GatewayProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        """Stopped gracefully when the block ends normally, killed when it ends with an exception."""
        if error is None and self.running:
            self.stop()
        self.kill()


def start_triton(
    repository: Path,
    work: Path,
    ports: TritonPorts | None = None,
    *,
    picked: bool | None = None,
    wait_s: float = 120.0,
    server_env: Path | None = None,
) -> tuple[int, TritonPorts]:
    """investiq.ops.triton_server.start on `ports`, else on ports TritonPorts.free picks; its PID and ports once it
    is ready and listens on all three (TritonError else, the server stopped). Picked ports (none given, or
    `picked`: the caller's own TritonPorts.free) are free only when picked: another test worker's server may bind
    one before this server does, which then exits with "already in use" in its log (the real tritonserver, the
    tests' stand-ins), or `start` refuses it up front; it is started again on other ports, up to PORT_TRIES times.
    Ports given are kept. Readiness alone says too little: another Triton on the HTTP port answers it while this
    one still loads (its HTTP bind then fails), and the real server binds its metrics port after HTTP answers, and
    exits about a second after that bind fails."""
    if picked is None:
        picked = ports is None
    tried = ports or TritonPorts.free()
    for _ in range(PORT_TRIES):
        log = log_path(work)
        written = log.stat().st_size if log.exists() else 0
        try:
            pid = start(repository, tried, work, wait_s, server_env)
            _wait_listening(pid, tried, work, wait_s)
        except TritonError as error:
            if picked and "already in use" in f"{error}\n{_since(log, written)}".lower():
                tried = TritonPorts.free()  # taken meanwhile: other ports
                continue
            raise
        return pid, tried
    raise TritonError(f"every set of ports tried was taken before tritonserver bound it; see {log_path(work)}")


def _wait_listening(pid: int, ports: TritonPorts, work: Path, wait_s: float) -> None:
    """Until `pid` listens on each of `ports`; TritonError (and the server stopped) if it exits first, or after
    `wait_s`."""
    deadline = time.monotonic() + wait_s
    while not all(pidfile.bound(pid, port) for port in (ports.http, ports.grpc, ports.metrics)):
        if not pidfile.alive(pid) or time.monotonic() > deadline:
            exited = not pidfile.alive(pid)
            stop(work)
            how = "exited once ready" if exited else f"did not listen on all its ports after {wait_s:.0f} s"
            raise TritonError(f"tritonserver {how}; see {log_path(work)}")
        time.sleep(0.05)


def _since(path: Path, offset: int) -> str:
    """What `path` holds after `offset` bytes (an earlier start's lines are not this one's story); "" if none."""
    try:
        with path.open("rb") as file:
            file.seek(offset)
            return file.read().decode(errors="replace")
    except OSError:
        return ""


class LocalTriton:
    """A tritonserver (investiq.ops.triton_server) on free ports, serving `repository`."""

    def __init__(self, repository: Path, work: Path) -> None:
        self.repository = repository
        self.work = work
        self.ports = TritonPorts.free()
        self.url = f"127.0.0.1:{self.ports.grpc}"
        self._started = False  # once it has served, a restart keeps its ports: its clients know them

    def start(self) -> float:
        """Start and wait until ready; the seconds it took. The first start may move it to other ports (see
        start_triton): `ports` and `url` are read after it."""
        began = time.monotonic()
        _, self.ports = start_triton(self.repository, self.work, self.ports, picked=not self._started)
        self.url = f"127.0.0.1:{self.ports.grpc}"
        self._started = True
        return time.monotonic() - began

    def kill(self) -> None:
        """SIGKILL to the server's whole process group (its python-backend stubs too), as when its
        container dies; the PID file is left behind, as a crash leaves it."""
        pid = running(self.work)
        if pid is None:
            raise RuntimeError(f"no Triton runs from {self.work}")
        os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while running(self.work) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ChildProcessError):  # reap it: start() is in this process
            os.waitpid(pid, os.WNOHANG)

    def stop(self) -> None:
        stop(self.work)
