"""The processes under test: `investiq serve` (the real CLI, uvicorn and journal file) and a local
tritonserver, each on ports of its own, with the ways they end: SIGTERM (graceful) and SIGKILL."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from investiq.ports import free_port
from investiq.triton_server import TritonPorts, running, start, stop

ROOT = Path(__file__).resolve().parents[1]


class GatewayError(RuntimeError):
    """The gateway did not start, or did not stop; the message carries the end of its log."""


class GatewayProcess:
    """`investiq serve` in a child process, configured only by the environment given here.

    It runs in `work` (no config.yaml there), so a developer's config cannot change what is
    measured; the API key variable is removed, and the price resolver is off (it would call Yahoo).
    """

    def __init__(
        self,
        db: Path,
        repository: Path,
        work: Path,
        *,
        backend: str = "embedded",
        triton_url: str | None = None,
        log_name: str = "gateway.log",
    ) -> None:
        self.db = db
        self.work = work
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = work / log_name
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("INVESTIQ_") and k != "ML_API_KEY"}
        self.env.update(
            PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            INVESTIQ_MODEL_REPOSITORY=str(repository.resolve()),
            INVESTIQ_BACKEND=backend,
            INVESTIQ_PRICE_RESOLVE_EVERY_S="0",
            INVESTIQ_DATA_DIR=str(work / "data"),
            INVESTIQ_LOGS_DIR=str(work / "logs"),
        )
        if triton_url is not None:
            self.env["INVESTIQ_TRITON_URL"] = triton_url
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "investiq", "serve", "--db", str(self.db), "--port", str(self.port)]
        self.work.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603  (our own CLI)
                [*cmd, "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.work
            )
        return self.proc

    def start(self, timeout_s: float = 90.0) -> float:
        """Spawn and wait until /health answers 200; the seconds it took."""
        began = time.monotonic()
        proc = self.spawn()
        while time.monotonic() - began < timeout_s:
            if proc.poll() is not None:
                raise GatewayError(f"the gateway exited with {proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return time.monotonic() - began
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise GatewayError(f"the gateway was not healthy after {timeout_s:.0f} s: {self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def get(self, path: str, timeout_s: float = 10.0) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=timeout_s)

    def post(self, path: str, body: dict[str, Any], timeout_s: float = 30.0) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", json=body, timeout=timeout_s)

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

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


class LocalTriton:
    """A tritonserver (investiq.triton_server) on free ports, serving `repository`."""

    def __init__(self, repository: Path, work: Path) -> None:
        self.repository = repository
        self.work = work
        self.ports = TritonPorts.free()
        self.url = f"127.0.0.1:{self.ports.grpc}"

    def start(self) -> float:
        """Start and wait until ready; the seconds it took."""
        began = time.monotonic()
        start(self.repository, self.ports, self.work)
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
