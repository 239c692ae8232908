"""Shared fixtures: settings on a temp journal, an app over it, and a real server process."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings

from gateway.app import create_app
from harness.processes import GatewayProcess
from investiq.core import yahoo
from investiq.core.settings import Settings
from tests.fakes import Clock

# No test sends ONNX Runtime's telemetry (1.29+, on Linux too: tests never use the network); the variable is read
# when ONNX Runtime is first imported, which no module above does.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

# CI explores the same examples on every run: a failure there is a regression, not a new draw.
# Locally every run draws new ones (and keeps any counterexample found in .hypothesis/).
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """schemathesis gives the tests of all the API's operations one node id (tests/gateway/test_fuzz.py, 18 of
    them): pytest-xdist, which schedules tests by node id (scripts/test.sh), ran one and dropped 17. Each gets
    its operation in its id, as in its name."""
    for item in items:
        label, node_id = getattr(item, "operation_label", None), getattr(item, "id", None)
        if label and node_id is not None and node_id.params is None:  # pytest 9 ids; pytest 8's name the label
            item._id = node_id.with_params(label)


class _OfflineTicker:
    """yfinance.Ticker as it answers on a machine without a network (curl's words)."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol

    def history(self, **kwargs: object) -> None:
        raise OSError(
            f"Failed to perform, curl: (6) Could not resolve host: {yahoo.YAHOO_HOST} (tests are offline)"
        )


@pytest.fixture(autouse=True)
def _offline_yahoo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never use the network: in-process, Yahoo Finance answers every test as it does offline, on a machine
    with a network too (a test whose stand-in no longer reached the gateway would have asked Yahoo: a review).
    A test that fakes yfinance.Ticker or fetch_yfinance itself replaces this; the real reachability probe
    looks up a name that never resolves (RFC 2606)."""
    import yfinance  # type: ignore[import-untyped, unused-ignore]

    monkeypatch.setattr(yfinance, "Ticker", _OfflineTicker)
    monkeypatch.setattr(yahoo, "YAHOO_HOST", "query2.finance.yahoo.invalid")


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


@contextmanager
def root_logging(handler: logging.Handler, level: int) -> Iterator[None]:
    """`handler` on the root logger, at `level`, for the block; the logger as it was afterwards."""
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., GatewayProcess]]:
    """start(db, env=None, command="serve"): `investiq serve` in a child process (the real CLI, uvicorn,
    HTTP and journal file) with this environment plus `env`, once /health answers; its output goes to
    tmp_path/server.log. Stopped at the end of the test if still running."""
    servers: list[GatewayProcess] = []

    def start(db: Path, env: dict[str, str] | None = None, command: str = "serve") -> GatewayProcess:
        server = GatewayProcess(db, tmp_path / "server.log", env={**os.environ, **(env or {})}, command=command)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        if server.running:
            server.stop()


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny PatchTST (harness/tiny_patchtst.py) trained on the last 600 daily S&P 500 bars and
    exported: (model directory, model repository). Trained once per test session."""
    import numpy as np

    from export.patchtst import export_patchtst
    from harness.tiny_patchtst import TINY
    from investiq.core.market import clean_bars, load_sample
    from training.patchtst import train

    root = tmp_path_factory.mktemp("patchtst")
    bars = clean_bars(load_sample("SPX"), "SPX", "1d")[0].tail(600)
    closes = bars["close"].to_numpy(dtype=np.float64)
    train({"SPX": (closes, bars.index.to_numpy())}, TINY, root / "model", log=lambda _: None)
    export_patchtst(root / "model", root / "repo", log=lambda _: None)
    return root / "model", root / "repo"


@pytest.fixture(scope="session")
def both_models(trained: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model repository serving both networks: the `trained` PatchTST beside the tiny FinBERT
    (harness/tiny_bert.py), exported and validated as `investiq export` does."""
    import shutil

    from harness import tiny_bert

    root = tmp_path_factory.mktemp("both_models")
    shutil.copytree(trained[1], root / "repo")
    tiny_bert.exported(root, root / "repo")
    return root / "repo"
