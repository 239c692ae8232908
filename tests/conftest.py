"""Shared fixtures: settings on a temp journal, an app over it, and a real server process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings

from gateway import create_app
from investiq.ports import free_port
from investiq.settings import Settings
from tests.fakes import Clock

# CI explores the same examples on every run: a failure there is a regression, not a new draw.
# Locally every run draws new ones (and keeps any counterexample found in .hypothesis/).
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "portfolio.db"


@pytest.fixture
def settings(db_path: Path, tmp_path: Path) -> Settings:
    return Settings(db_path=db_path, model_repository=tmp_path / "model_repository")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=clock)) as test_client:
        yield test_client


def flush_journal(client: TestClient) -> None:
    """Wait until the app's journal writer has run every job queued so far (logs are written off the
    request path, in arrival order)."""
    client.app.state.writer.flush()  # type: ignore[attr-defined]


class Server:
    """`investiq serve` in a child process: the real CLI, uvicorn, HTTP and journal file."""

    def __init__(self, db: Path, log: Path, env: dict[str, str] | None = None, command: str = "serve") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [
            sys.executable,
            "-m",
            "investiq",
            command,
            "--db",
            str(db),
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]
        full_env = {**os.environ, **(env or {})}
        self._log = log.open("ab")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=full_env)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not become healthy: {log.read_text()}")

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.url}{path}", timeout=30, **kwargs)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    servers: list[Server] = []

    def start(db: Path, env: dict[str, str] | None = None, command: str = "serve") -> Server:
        server = Server(db, tmp_path / "server.log", env, command)
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server.proc.poll() is None:
            server.stop()
