"""Kill tests of a mutation audit of investiq/ops/lifecycle.py (the lock, the rollout's calls of the stack,
promote/export/rollback undoing what the stack refused): each fails with the mutant its docstring names applied,
and passes on the code as it is. A stand-in HTTP server plays the gateway; the repository holds bare artifacts."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from investiq.core.patchtst import PATCHTST, QUANTILE_LEVELS, PatchTSTMeta
from investiq.core.settings import API_KEY_HEADER, Settings
from investiq.core.versions import VersionError, retired_root, version_dir, versions
from investiq.ops import lifecycle
from investiq.ops.lifecycle import BusyError, RolloutError, exclusive, export_and_serve, rollback


class Stack:
    """A stand-in gateway on 127.0.0.1: answers every POST with `status` and `body`, and records each request's
    path and headers (their names in lower case)."""

    def __init__(self) -> None:
        self.status, self.body = 200, b'{"repository_version": 2, "model_version": "w2"}'
        self.requests: list[tuple[str, dict[str, str]]] = []
        stack = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                stack.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(stack.status)
                self.send_header("Content-Length", str(len(stack.body)))
                self.end_headers()
                self.wfile.write(stack.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The one gateway the rollout finds (lifecycle.stack_urls)."""
    found = Stack()
    thread = threading.Thread(target=found.server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    monkeypatch.setattr(lifecycle, "stack_urls", lambda _: [found.url])
    try:
        yield found
    finally:
        found.server.shutdown()
        found.server.server_close()


def settings_in(tmp_path: Path, **extra: Any) -> Settings:
    return Settings(model_repository=tmp_path / "repo", models_dir=tmp_path / "models", **extra)


def with_versions(tmp_path: Path, *numbers: int) -> Settings:
    """Settings whose repository holds PatchTST `numbers` (an artifact.json each: enough to be listed)."""
    settings = settings_in(tmp_path)
    for number in numbers:
        meta = PatchTSTMeta(
            f"w{number}", 8, 2, "1d", "log_return", ["X"], "s", "2020-01-01", quantile_levels=[*QUANTILE_LEVELS]
        )
        version_dir(settings.model_repository, PATCHTST, number).mkdir(parents=True)
        meta.save(version_dir(settings.model_repository, PATCHTST, number))
    return settings


# ---- the lock


def test_a_second_change_meanwhile_is_told_who_holds_the_lock_and_a_released_lock_names_nobody(tmp_path: Path):
    """Kills exclusive without the holder's name written (or read back): "another process is changing the
    models" instead of the command and PID; and without the truncate on release (a finished run still named)."""
    settings = settings_in(tmp_path)
    lock = settings.models_dir / ".lifecycle.lock"
    busy = rf"^`investiq .*` \(PID {os.getpid()}\) is changing the models"
    with exclusive(settings), pytest.raises(BusyError, match=busy), exclusive(settings):
        pass
    assert lock.read_text() == ""


def test_a_lock_left_by_a_killed_run_names_only_the_holder_now(tmp_path: Path):
    """Kills exclusive without `truncate(0)` before writing: the name of a run killed holding it (kill -9 skips
    the release) stayed in front of the new holder's."""
    settings = settings_in(tmp_path)
    settings.models_dir.mkdir(parents=True)
    (settings.models_dir / ".lifecycle.lock").write_text("`investiq retrain` (PID 1)")
    with exclusive(settings):
        assert (settings.models_dir / ".lifecycle.lock").read_text().startswith("`investiq ")
        assert "PID 1)" not in (settings.models_dir / ".lifecycle.lock").read_text()


# ---- the rollout's calls of the gateway


def test_a_rollout_sends_the_api_key_and_says_what_the_gateway_serves(stack: Stack, tmp_path: Path):
    """Kills _key sending no key (every rollout to a gateway with api_key set was refused) and reload's
    `if served` as `len(served) > 1` (one gateway's answer ignored: "no gateway running")."""
    said = lifecycle.reload(settings_in(tmp_path, api_key="k3y"), timeout_s=5)
    assert said == f"the gateway serves {PATCHTST} version 2 (w2)"
    [(path, headers)] = stack.requests
    assert path == f"/admin/models/{PATCHTST}/reload" and headers[API_KEY_HEADER.lower()] == "k3y"


def test_a_rollout_to_two_gateways_names_each(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Kills reload's `len(urls) > 1` as `> 2`: two gateways' answers read alike, neither named."""
    monkeypatch.setattr(lifecycle, "stack_urls", lambda _: [stack.url, stack.url + "/"])
    said = lifecycle.reload(settings_in(tmp_path), timeout_s=5)
    assert said.count(f"the gateway at {stack.url}") == 2, said


def test_an_empty_answer_is_an_answer(stack: Stack):
    """Kills _post parsing an empty body as JSON: Triton's load answers 200 with no body, and a rollout through
    it failed as "something unexpected"."""
    stack.body = b""
    assert lifecycle._post(stack.url, {}, 5) == {}


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (403, b'{"error": "This API is restricted, expecting header"}', "expecting header"),
        (500, b"Internal Server Error", "refused the new version"),
        (200, b"<html>not json</html>", "answered the new version with something unexpected"),
    ],
)
def test_a_refusal_says_why_whatever_its_body(stack: Stack, tmp_path: Path, status: int, body: bytes, said: str):
    """Kills _detail without Triton's `error` field ("Forbidden" alone), _detail letting a non-JSON error body's
    ValueError out, and _ask without its `except ValueError` (a traceback instead of a RolloutError)."""
    stack.status, stack.body = status, body
    with pytest.raises(RolloutError, match=said):
        lifecycle.reload(settings_in(tmp_path), timeout_s=5)


def test_the_bayesian_resync_asks_for_its_days_and_names_each_gateway(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Kills resync_bayesian without `?days=` (the gateway re-synced its own default window) and without the
    gateway's address beside each of two answers."""
    stack.body = b'{"synced": 3}'
    settings = settings_in(tmp_path)
    assert lifecycle.resync_bayesian(settings).endswith("{'synced': 3}")
    assert stack.requests[0][0] == f"/bayesian/sync-from-database?days={settings.bayes_max_sync_days}"
    monkeypatch.setattr(lifecycle, "stack_urls", lambda _: [stack.url, stack.url + "/"])
    assert lifecycle.resync_bayesian(settings).count(f"{stack.url}") == 2


# ---- undoing what the stack refused


class Refusing:
    """lifecycle.reload refusing the first `refusals` calls (RolloutError), then answering; counts the calls."""

    def __init__(self, refusals: int = 1) -> None:
        self.calls, self.refusals = 0, refusals

    def __call__(self, settings: Settings, timeout_s: float = 180.0) -> str:
        self.calls += 1
        if self.calls <= self.refusals:
            raise RolloutError("the gateway refused the new version: no")
        return "served"


def test_a_re_export_of_the_serving_version_the_stack_refuses_is_not_retired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Kills export_and_serve without `number == before`: the serving weights exported again in place and refused
    by a gateway were retired as if new, leaving nothing serving."""
    settings = with_versions(tmp_path, 1)
    monkeypatch.setattr(lifecycle, "reload", Refusing())
    with pytest.raises(RolloutError):
        export_and_serve(settings, lambda: None, log=lambda _: None)
    assert versions(settings.model_repository, PATCHTST) == [1]


def test_a_refused_version_is_retired_and_the_stack_asked_back_to_the_one_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Kills _roll_out without its reload after the retire: a gateway that had loaded the refused version before
    failing kept serving it."""
    settings = with_versions(tmp_path, 1, 2)
    refusing = Refusing()
    monkeypatch.setattr(lifecycle, "reload", refusing)
    with pytest.raises(RolloutError):
        lifecycle._roll_out(settings, 2, log=lambda _: None)
    assert versions(settings.model_repository, PATCHTST) == [1] and refusing.calls == 2


def test_a_rollback_retires_the_newest_and_with_one_version_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Kills rollback retiring the oldest version instead of the newest, and `len(kept) < 2` as `< 1` (the only
    version retired, nothing left to serve)."""
    monkeypatch.setattr(lifecycle, "reload", lambda settings: "served")
    settings = with_versions(tmp_path, 1, 2, 3)
    assert rollback(settings, log=lambda _: None) == 2
    assert versions(settings.model_repository, PATCHTST) == [1, 2]
    assert (retired_root(settings.models_dir) / PATCHTST / "3").is_dir()
    alone = with_versions(tmp_path / "alone", 1)
    with pytest.raises(VersionError, match="nothing to roll back to"):
        rollback(alone, log=lambda _: None)
    assert versions(alone.model_repository, PATCHTST) == [1]


def test_a_rollback_the_stack_refuses_restores_the_newest_and_asks_the_stack_back_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Kills rollback without `restore` (a refused rollback lost the serving version) and without its reload
    after the restore (a gateway that went back before another failed stayed on the old version)."""
    settings = with_versions(tmp_path, 1, 2)
    refusing = Refusing()
    monkeypatch.setattr(lifecycle, "reload", refusing)
    with pytest.raises(RolloutError):
        rollback(settings, log=lambda _: None)
    assert versions(settings.model_repository, PATCHTST) == [1, 2] and refusing.calls == 2


def test_with_nothing_running_the_newest_version_is_the_one_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Kills reload loading version 1 instead of the serving (newest) one when no gateway runs: a broken new
    version was called loadable and installed."""
    from gateway.backends import embedded

    loaded: list[Path] = []
    monkeypatch.setattr(lifecycle, "stack_urls", lambda _: [])
    monkeypatch.setattr(embedded, "load_patchtst", loaded.append)
    settings = with_versions(tmp_path, 1, 2)
    assert "loads, and serves when the stack starts" in lifecycle.reload(settings)
    assert loaded == [version_dir(settings.model_repository, PATCHTST, 2)]
