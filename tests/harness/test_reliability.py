"""The reliability promises (reliability/), small: the code of `python -m reliability.load|crash|faults`
run against real `investiq serve` processes, a real tritonserver and real SQLite files, at sizes
of a few seconds each. The scripts' default sizes are for the recorded results."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.services.batching import MicroBatcher
from harness.processes import LocalTriton
from harness.tiny_repository import tiny_repository
from investiq.ops.triton_server import missing
from reliability import crash, faults, hostile, load
from reliability.crash import run_crash
from reliability.disk_fault import Full, ReadOnly, run_disk_fault
from reliability.hostile import run_inputs
from reliability.hostile_slow import run_slow_clients
from reliability.load import run_load
from reliability.model_fault import cases, run_model_faults
from reliability.triton_fault import run_triton_fault


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_repository(tmp_path_factory.mktemp("reliability"))


@pytest.fixture(scope="module")
def triton(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTriton]:
    if (reason := missing()) is not None:
        pytest.skip(reason)
    server = LocalTriton(repository, tmp_path_factory.mktemp("triton-work"))
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("script", [load, crash, faults, hostile])
def test_each_script_explains_itself(script: Any, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as done:
        script.main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert f"python -m reliability.{script.__name__.rsplit('.', 1)[-1]}" in text
    assert "--quick" in text and "--repository" in text and "reliability/results/" in text


@pytest.mark.slow
def test_under_concurrent_load_every_answer_is_journaled_once(
    repository: Path, triton: LocalTriton, tmp_path: Path
):
    data = run_load(repository, tmp_path, ["embedded", "triton"], [1, 8], 1.0, warmup_s=0.3, triton=triton)
    rows = data["rows"]
    assert {(r["backend"], r["clients"], r["endpoint"]) for r in rows} == {
        (b, c, e) for b in ("embedded", "triton") for c in (1, 8) for e in ("sentiment", "price", "bayesian")
    }
    for r in rows:
        assert r["status_5xx"] == r["no_answer"] == 0, r
        assert r["ok"] > 0 and r["p50_ms"] is not None and r["p99_ms"] >= r["p50_ms"]
    for backend, a in data["audit"].items():
        assert a["drained"] and a["integrity"] == "ok" and not a["bayesian_disagreements"], backend
        for endpoint, j in a["journal"].items():
            assert j["acknowledged"] > 0, (backend, endpoint)
            assert j["journaled_once"] == j["acknowledged"], (backend, endpoint, j)
            assert j["unacknowledged_rows"] == 0, (backend, endpoint, j)
    assert data["passed"]


@pytest.mark.slow
def test_kill_9_loses_no_acknowledged_update_and_never_locks_out_the_agent(repository: Path, tmp_path: Path):
    data = run_crash(repository, tmp_path, rounds=2, clients=8, kill_after=(0.5, 1.0))
    crashes = data["rounds"][:-1]
    assert len(crashes) == 2 and data["rounds"][-1]["journal_health"] == "healthy"  # the restart after the last
    for r in crashes:
        assert r["updates_acknowledged"] > 0, r
        assert r["integrity"] == "ok" and r["acknowledged_updates_missing"] == 0, r
        assert not r["bayesian_disagreements"] and r["retry"]["wrong"] == 0, r
    assert sum(r["in_flight_at_kill"] for r in crashes) > 0  # killed mid-load, not between requests
    assert data["updates_journaled_once"] == data["updates_sent"]  # retried ones included, none twice
    agent = data["agent"]
    assert agent["writes"] > 0 and agent["failures"] == agent["locked"] == 0, agent
    assert (agent["rows_found"], agent["closed_found"]) == (agent["inserts"], agent["closes"])
    assert data["passed"]


@pytest.mark.slow
def test_triton_killed_mid_load_gives_503s_with_a_reason_then_recovers(
    repository: Path, triton: LocalTriton, tmp_path: Path
):
    r = run_triton_fault(repository, tmp_path, clients=4, up_s=2.0, down_s=1.0, after_s=2.0, triton=triton)
    assert r["down"]["requests"] > 0 and r["down"]["status_503"] == r["down"]["with_reason"], r["down"]
    assert r["health_while_down"]["status"] != "healthy"
    assert r["recovery_s"] is not None and r["recovery_s"] < 10, r
    assert r["after"]["not_ok_after_first_200"] == 0 and r["health_after"]["status"] == "healthy"
    assert r["gateway_pid_unchanged"] and r["no_answer"] == 0 and r["journal_missing"] == 0
    assert r["status_500"] == 0, r["down"]["other"]
    assert r["passed"]


@pytest.mark.slow
@pytest.mark.parametrize("fault", [ReadOnly(), Full()], ids=lambda f: f.name)
def test_a_read_only_or_full_journal_degrades_health_and_recovers(
    repository: Path, tmp_path: Path, fault: ReadOnly | Full
):
    r = run_disk_fault(repository, tmp_path, fault)
    if r["passed"] is None:
        pytest.skip(r["skipped"])
    assert r["predictions_answered_200"] == r["predictions_during_fault"] > 0
    reason = {"read-only": "disk I/O error", "full": "database or disk is full"}[fault.name]
    assert r["health_journal"]["status"] == "degraded" and reason in r["health_journal"]["reason"]
    assert r["metrics_journal_failed_total"] > 0
    assert r["bayesian_update_during_fault"]["status"] == 503
    assert "journal_unavailable" in r["bayesian_update_during_fault"]["detail"]
    assert r["recovered_after_s"] is not None
    assert r["journaled_outside_fault"] == r["answered_outside_fault"] > 0 and r["integrity"] == "ok"
    assert r["passed"]


@pytest.mark.slow
def test_a_corrupt_or_missing_model_file_stops_investiq_serve_naming_it(repository: Path, tmp_path: Path):
    """tests/gateway/test_patchtst.py checks the StartupError of a broken PatchTST graph; here FinBERT's graph
    and tokenizer and PatchTST's external weights, through the exit of the real process."""
    known = {c.name for c in cases(repository)}
    finbert_graph = next(n for n in sorted(known) if n.startswith("finbert_model/model") and "corrupt" in n)
    chosen = [
        finbert_graph,
        "finbert_model/model.onnx missing",  # the fp32 graph every runtime's start-up check compares with
        "finbert_model/tokenizer.json missing",
        "patchtst/model.onnx.data missing",
    ]
    for r in run_model_faults(repository, tmp_path, chosen):
        assert r["startup_error"] is not None and r["path"] in r["startup_error"], r
        assert r["exit_code"] == 1 and not r["traceback"], r
        assert r["error_line"].startswith("Error: ") and r["path"] in r["error_line"], r


def test_a_batch_cancelled_under_the_batcher_leaves_no_caller_waiting():
    """grpc.aio cancels the calls of a channel that is closed: the callers of that batch get the
    cancellation instead of waiting forever (which kept the gateway from shutting down), and the
    next request is served."""
    calls = 0

    async def run(items: list[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise asyncio.CancelledError
        return [item.upper() for item in items]

    async def scenario() -> list[str]:
        batcher: MicroBatcher[str, str] = MicroBatcher(run, max_batch=4, max_wait_s=0.001)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(batcher.submit(["a"]), 5)
        served = await asyncio.wait_for(batcher.submit(["b"]), 5)
        await batcher.close()
        return served

    assert asyncio.run(scenario()) == ["B"]


@pytest.mark.slow
def test_slow_and_stalled_clients_are_closed_in_time_and_their_descriptors_returned(tmp_path: Path):
    """Issue 15: slowloris heads, half-sent bodies and silent connections were held for ever (descriptors
    11 -> 5,011). Against a real `investiq serve` with 1 s deadlines: each is closed by the server within its
    deadline + 3 s (a busy 2-core machine), with a 408 when it had sent part of a request, and the server's
    descriptors are back where they were; a steady client is answered throughout."""
    counts = {"slow head": 10, "half body": 30, "unread body": 5, "silent": 10}
    r = run_slow_clients(
        tmp_path / "no-models",  # nothing to load: the deadlines are the HTTP server's
        tmp_path,
        counts,
        header_timeout_s=1.0,
        body_timeout_s=1.0,
        byte_interval_s=0.25,  # a slowloris that never finishes its head within the deadline
        max_wait_s=15.0,
        slack_s=3.0,
    )
    for kind, k in r["kinds"].items():
        assert k["connections"] == counts[kind] and k["not_connected"] == 0, (kind, k)
        assert k["closed_by_server"] == k["in_time"] == counts[kind], (kind, k)
        assert k["closed_after_s"]["p50_ms"] >= 0.9, (kind, k)  # not before its deadline either (seconds)
    assert r["kinds"]["slow head"]["answered_408"] == counts["slow head"]
    assert r["kinds"]["half body"]["answered_408"] == counts["half body"]
    assert r["kinds"]["silent"]["closed_without_answer"] == counts["silent"]  # nothing said: nothing to answer
    assert r["kinds"]["unread body"]["other_status"] == {"200": counts["unread body"]}  # answered, then cut off
    assert r["kinds"]["unread body"]["deadline_s"] == 2.0  # the server's backstop: twice the body deadline
    assert r["still_open_at_max_wait"] == 0
    assert r["fds_peak"] >= r["fds_before"] + sum(counts.values()) // 2  # the storm did reach the server
    assert r["sockets_after"] <= r["sockets_before"], r["fds_added"]  # every connection's descriptor returned
    # Besides sockets, only the journal: SQLite keeps a closed read connection's descriptor for reuse while
    # another connection of the process holds a lock on the file (a few, bounded, not per client).
    assert set(r["fds_added"]) <= {str(tmp_path / "slow-clients.db")}, r["fds_added"]
    assert r["metrics_request_timeouts"] == counts["slow head"] + counts["half body"] + counts["unread body"]
    assert r["steady_calls"] > 0 and r["steady_statuses"] == {"200": r["steady_calls"]}, r["steady_statuses"]
    assert r["passed"]


@pytest.mark.slow
def test_what_was_a_500_is_a_4xx_and_the_readme_leaves_momentum_intact_on_a_real_server(
    repository: Path, tmp_path: Path
):
    r = run_inputs(repository, tmp_path)
    inputs, readme = r["inputs"], r["readme"]
    assert inputs["status_5xx"] == 0 and inputs["tracebacks_in_log"] == 0, inputs["examples"]
    assert set(inputs["statuses"]) <= {"200", "409", "422"}, inputs["statuses"]
    assert inputs["by_shape"]["trade_id repeated across strategies"] == {"200": 3, "409": 4}
    assert inputs["by_shape"]["integer id and its text"] == {"200": 3}
    assert inputs["by_shape"]["invisible character in trade_id"] == {"422": 16}
    assert inputs["passed"]
    assert [s["status"] for s in readme["steps"]] == [200] * len(readme["steps"])
    assert readme["momentum_state_before_sync"] == readme["momentum_state_after_sync"] is not None
    assert readme["passed"]
