"""db_busy_timeout_ms reaches every connection to the journal: the resolver, live skill, /price/evaluate, the
commands' Bayesian re-sync and report waited 5 s (or 0) whatever an operator had set (a review)."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from investiq.core.settings import Settings
from investiq.ops.lifecycle import resync_bayesian
from investiq.ops.report import write_report
from investiq.ops.resolve import resolve


def test_every_journal_connection_waits_as_long_as_the_setting_says(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    with socket.socket() as probe:  # a port nothing answers on: the re-sync runs in-process
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tuned = settings.model_copy(
        update={
            "db_busy_timeout_ms": 250,
            "sentiment_model": "lexicon",
            "price_resolve_every_s": 0,
            "port": port,
            "data_dir": tmp_path / "data",
        }
    )
    waits: list[Any] = []
    real = sqlite3.connect

    def recording(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        waits.append(kwargs.get("timeout"))
        connection: sqlite3.Connection = real(*args, **kwargs)
        return connection

    monkeypatch.setattr("investiq.core.journal.connection.sqlite3.connect", recording)
    with TestClient(create_app(tuned)) as client:
        assert client.get("/price/evaluate/SPY").status_code == 200
        assert client.get("/bayesian/weights").status_code == 200
        client.app.state.price.skill.refresh()
    resolve(tuned)
    assert "in-process" in resync_bayesian(tuned)
    write_report(tuned, tmp_path / "report", 30)
    assert len(waits) > 10 and set(waits) == {0.25}, waits
