"""Model lifecycle, for real: retrain on the bundled sample bars (tiny PatchTST, few epochs) with a
rejected and a promoted candidate, rollback, a hot swap under concurrent requests to a running
gateway, and failing steps that leave the serving model and the journal as they were."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from export.patchtst import export_patchtst, sample_windows
from gateway.metrics import Metrics
from gateway.services.models import ModelsService
from gateway.services.price import PriceService
from gateway.services.price_forecast import PriceQuery
from harness.tiny_patchtst import TINY
from investiq.cli.main import main
from investiq.core.bar_cache import BarCache
from investiq.core.errors import ExportError, ModelNotReadyError, VersionMovedError
from investiq.core.journal import JournalWriter, open_journal
from investiq.core.market import as_series, load_bars
from investiq.core.patchtst import INPUT, OUTPUT, QUANTILE_LEVELS, PatchTSTMeta
from investiq.core.settings import Settings
from investiq.core.versions import (
    VersionError,
    install,
    next_number,
    prune_retired,
    retired_root,
    serving,
    version_dir,
    versions,
)
from investiq.ops.lifecycle import RolloutError, exclusive, export_and_serve, promote, rollback
from investiq.ops.models import promote_version
from investiq.ops.retrain import RetrainError, prune_runs, retrain
from investiq.ops.service import stack_urls
from investiq.ops.serving import gateway_url, serving_gateways
from tests.fakes import FakeBackend, patchtst_outputs
from training.gate import onnx_model
from training.patchtst import train

# The serving model: 2 epochs on SPX's daily sample bars. A candidate made worse than the random walk
# is rejected; with a wide tolerance towards the serving model a candidate that is not significantly
# worse than the random walk (as the training's shrinkage makes it) is promoted.
SERVING = dataclasses.replace(TINY, symbols=("SPX",), days=36500, epochs=2, window_stride=4)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lifecycle")
    series = as_series(load_bars("sample", ("SPX",), days=36500, interval="1d", cache_dir=root / "data"))
    train(series, SERVING, root / "models" / "patchtst", log=lambda _: None)
    export_patchtst(root / "models" / "patchtst", root / "repo", log=lambda _: None)
    # a second, different model for the hot swap: one more epoch
    train(series, dataclasses.replace(SERVING, epochs=3), root / "other", log=lambda _: None)
    export_patchtst(root / "other", root / "other-repo", log=lambda _: None)
    return root


@pytest.fixture
def work(built: Path, tmp_path: Path) -> Path:
    shutil.copytree(built, tmp_path / "w")
    return tmp_path / "w"


def env_for(work: Path, **extra: Any) -> dict[str, str]:
    (work / "none.yaml").write_text("")  # an empty settings file: only the variables below
    env = {
        "INVESTIQ_MODEL_REPOSITORY": str(work / "repo"),
        "INVESTIQ_MODELS_DIR": str(work / "models"),
        "INVESTIQ_DATA_DIR": str(work / "data"),
        "INVESTIQ_DB_PATH": str(work / "portfolio.db"),
        "INVESTIQ_PORT": "9",  # nothing listens: retrain finds no gateway
        "INVESTIQ_PRICE_RESOLVE_EVERY_S": "0",
        "INVESTIQ_CONFIG": str(work / "none.yaml"),
    }
    return env | {f"INVESTIQ_{k.upper()}": str(v) for k, v in extra.items()}


def settings_for(work: Path, **extra: Any) -> Settings:
    return Settings(
        model_repository=work / "repo",
        models_dir=work / "models",
        data_dir=work / "data",
        db_path=work / "portfolio.db",
        port=9,
        price_resolve_every_s=0,
        **extra,
    )


def journal_dump(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def worse_than_the_random_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gate sees the candidate (RUN/export) with 1% noise on its median: worse than "no change"."""

    def noisy(directory: Path) -> tuple[Any, PatchTSTMeta]:
        predict, meta = onnx_model(directory)
        if directory.name != "export":
            return predict, meta
        rng = np.random.default_rng(0)

        def worse(x: Any) -> Any:
            out = predict(x)
            median = out[OUTPUT]
            return out | {OUTPUT: (median * (1 + rng.normal(0.0, 0.01, median.shape))).astype(np.float32)}

        return worse, meta

    monkeypatch.setattr("training.gate.onnx_model", noisy)  # retrain imports it when it runs


def test_retrain_rejects_a_worse_candidate_promotes_a_good_one_and_rolls_back(
    work: Path, monkeypatch: pytest.MonkeyPatch
):
    runner = CliRunner()
    worse_than_the_random_walk(monkeypatch)
    rejected = runner.invoke(main, ["retrain", "--epochs", "1"], env=env_for(work, promote_tolerance=1.0))
    monkeypatch.undo()
    assert rejected.exit_code == 0, rejected.output
    assert "gate: candidate REJECTED: significantly worse than the random walk (MAE ratio " in rejected.output
    assert "rejected: the serving version keeps serving" in rejected.output
    assert versions(work / "repo", "patchtst") == [1]
    [run] = (work / "models" / "retrain").iterdir()
    report = json.loads((run / "report.json").read_text())
    gate = report["gate"]
    assert report["outcome"] == "rejected" and gate["promote"] is False and gate["decided_by"][0] == "random_walk"
    assert report["decision"] == gate["decision"] and gate["decision"] in rejected.output
    # every figure, on the same origins: the margin towards serving does not lower the random walk's bar
    assert gate["candidate"]["mae"] > gate["random_walk"]["mae"] > 0 and gate["serving"]["mae"] > 0
    assert gate["vs_random_walk"]["ci95"][0] > 1 and gate["tolerance"] == 1.0
    assert gate["vs_random_walk"]["ratio"] == pytest.approx(gate["candidate"]["mae"] / gate["random_walk"]["mae"])
    assert gate["origins"] >= 30 and gate["bar_times"] == gate["origins"]  # one symbol: one origin per time
    assert gate["bootstrap"]["block"] == SERVING.prediction_length
    assert [s["step"] for s in report["steps"]] == ["backup", "data", "train", "export", "gate"]
    assert (run / "backup" / "patchtst-1" / "model.onnx").is_file()
    [(symbol, cleaning)] = report["cleaning"].items()  # what cleaning found is shown and kept, as train shows it
    assert cleaning["rows_out"] > 0 and f"{symbol}: {cleaning['rows_in']} rows in" in rejected.output

    promoted = runner.invoke(main, ["retrain", "--epochs", "3"], env=env_for(work, promote_tolerance=1.0))
    assert promoted.exit_code == 0, promoted.output
    assert "gate: candidate passes: not significantly worse than the serving model (MAE ratio " in promoted.output
    assert "promoted: version 2 serves" in promoted.output
    assert serving(work / "repo", "patchtst") == 2
    assert "re-synced in-process" in promoted.output  # no gateway running: through the journal itself

    listed = json.loads(runner.invoke(main, ["models", "list", "--json"], env=env_for(work)).output)
    assert [(r["number"], r["state"]) for r in listed] == [(1, "kept"), (2, "serving")]
    two = PatchTSTMeta.load(work / "repo" / "patchtst" / "2")  # the last bar it saw: validation's, not training's
    assert listed[1]["seen_until"] == two.seen_until() and two.seen_until() > two.trained_until
    table = runner.invoke(main, ["models", "list"], env=env_for(work)).output
    assert "trained on bars until" in table and "validated on bars until" in table  # both, named
    assert f" {two.trained_until} " in table and f" {two.seen_until()} " in table
    # what each serves as: nowhere said before (a review)
    assert listed[1]["serves_as"] == two.served_as() and f" {two.served_as()} " in table.splitlines()[2]
    back = runner.invoke(main, ["models", "rollback"], env=env_for(work))
    assert back.exit_code == 0 and "version 1 serves" in back.output
    assert versions(work / "repo", "patchtst") == [1]
    assert (work / "models" / "retired" / "patchtst" / "2" / "model.onnx").is_file()
    again = runner.invoke(main, ["models", "rollback"], env=env_for(work))
    assert again.exit_code == 1 and "nothing to roll back to" in again.output
    # a number is never given twice: the next version is 3, and the retired 2 stays what it was
    run_export = sorted((work / "models" / "retrain").iterdir())[0] / "export"
    third = runner.invoke(main, ["models", "promote", str(run_export)], env=env_for(work))
    assert third.exit_code == 0 and "version 3 serves" in third.output, third.output
    assert (work / "models" / "retired" / "patchtst" / "2" / "model.onnx").is_file()


def test_a_failing_step_leaves_the_serving_model_and_the_journal_unchanged(
    work: Path, monkeypatch: pytest.MonkeyPatch
):
    settings = settings_for(work, promote_tolerance=1.0)
    open_journal(settings.db_path, settings.db_busy_timeout_ms).close()
    before = journal_dump(settings.db_path), versions(work / "repo", "patchtst")

    def broken_validation(*_: Any) -> float:
        raise ExportError("validation failed, nothing installed: max relative difference 3.1e-02 > 1e-04")

    monkeypatch.setattr("export.patchtst.validate", broken_validation)
    with pytest.raises(RetrainError, match="step 'export' failed: validation failed"):
        retrain(settings, log=lambda _: None, epochs=1)
    assert (journal_dump(settings.db_path), versions(work / "repo", "patchtst")) == before
    monkeypatch.undo()

    def no_sync(_: Settings) -> str:
        raise RuntimeError("database is locked")

    monkeypatch.setattr("investiq.ops.retrain.resync_bayesian", no_sync)
    with pytest.raises(RetrainError, match="step 'bayesian' failed: database is locked"):
        retrain(settings, log=lambda _: None, epochs=1)
    # promoted, then rolled back when the last step failed: version 1 serves again
    assert (journal_dump(settings.db_path), versions(work / "repo", "patchtst")) == before
    steps = [json.loads(line) for line in sorted((work / "models" / "retrain").glob("*/steps.jsonl"))[-1].open()]
    assert [(s["step"], s["status"]) for s in steps][-2:] == [("promote", "ok"), ("bayesian", "failed")]
    reports = [json.loads(p.read_text()) for p in sorted((work / "models" / "retrain").glob("*/report.json"))]
    assert [r["outcome"] for r in reports] == ["failed", "failed"]  # failed runs leave their report too
    assert "database is locked" in reports[-1]["error"]


def test_one_lifecycle_change_at_a_time(work: Path):
    runner = CliRunner()
    with exclusive(settings_for(work)):  # as if the weekly retrain were running
        export = ["export", "patchtst", "--model-dir", str(work / "other")]  # it took no lock (a review)
        for args in (["retrain", "--epochs", "1"], ["models", "rollback"], ["models", "promote", "1"], export):
            busy = runner.invoke(main, args, env=env_for(work))
            assert busy.exit_code == 1 and "is changing the models in" in busy.output, (args, busy.output)
    assert versions(work / "repo", "patchtst") == [1] and not (work / "models" / "retrain").exists()


def broken_copy(work: Path) -> Path:
    broken = work / "broken"
    shutil.copytree(version_dir(work / "other-repo", "patchtst", 1), broken)
    (broken / "model.onnx").write_bytes(b"not a graph")
    return broken


def test_a_training_output_is_refused_before_anything_is_installed(work: Path):
    """`models promote <training folder>` installed it, then refused it as not loading, and left its number taken
    and the folder listed among the retired (a review): refused first, naming the export to run."""
    settings = settings_for(work)
    with pytest.raises(VersionError, match=r"holds no ONNX graph: a trained model, not an export.*export patch"):
        promote(settings, work / "models" / "patchtst", log=lambda _: None)
    assert versions(work / "repo", "patchtst") == [1]
    assert next_number(work / "repo", "patchtst", retired_root(settings.models_dir)) == 2


def test_promoting_the_serving_versions_export_again_is_refused_so_a_rollback_goes_back(work: Path):
    """The same export promoted twice (a retry after a timeout) took a new number each time: a rollback then
    served the same weights, and keep_versions pruned the real previous version (a review)."""
    settings = settings_for(work)
    other = version_dir(work / "other-repo", "patchtst", 1)
    assert promote_version(settings, str(other), log=lambda _: None) == 2
    with pytest.raises(VersionError, match=f"{other} is version 2, which already serves"):
        promote_version(settings, str(other), log=lambda _: None)
    assert versions(work / "repo", "patchtst") == [1, 2]
    assert rollback(settings, log=lambda _: None) == 1


def test_a_serving_version_whose_artifact_json_is_broken_does_not_stop_a_promote(work: Path):
    """The check for a copy of the serving version read both artifact.json files unguarded: a broken one ended the
    promote of a good export, the way out, in a traceback (a review)."""
    (version_dir(work / "repo", "patchtst", 1) / "artifact.json").write_text("{not json")
    other = version_dir(work / "other-repo", "patchtst", 1)
    assert promote_version(settings_for(work), str(other), log=lambda _: None) == 2


def test_an_export_keeps_keep_versions_as_a_promote_does(work: Path):
    """Four exports in a row kept versions 1 to 4 with keep_versions 3: only promote and retrain pruned them (a
    review)."""
    settings = settings_for(work, keep_versions=2)
    retired = retired_root(settings.models_dir)
    good = version_dir(work / "other-repo", "patchtst", 1)
    for _ in range(3):
        export_and_serve(settings, lambda: install(good, work / "repo", "patchtst", retired), log=lambda _: None)
    assert versions(work / "repo", "patchtst") == [3, 4]


def test_with_nothing_running_a_version_that_does_not_load_is_not_installed(work: Path):
    """It is retired, not deleted: its number stays taken (the next version is not given it again, so a number
    names one model) and its files stay for a look."""
    settings = settings_for(work)  # port 9: refused, no gateway
    logged: list[str] = []
    with pytest.raises(RolloutError, match=r"does not load: .*model\.onnx is not the file exported"):
        promote(settings, broken_copy(work), log=logged.append)
    assert versions(work / "repo", "patchtst") == [1]
    retired = retired_root(settings.models_dir) / "patchtst" / "2"
    assert (retired / "model.onnx").read_bytes() == b"not a graph"
    assert any(line.startswith(f"retired version 2 again, to {retired}") for line in logged), logged
    assert next_number(work / "repo", "patchtst", retired_root(settings.models_dir)) == 3


def test_an_export_the_stack_refuses_is_retired_as_a_promoted_version_is(work: Path):
    """`export patchtst` left a version the stack refused installed, listed as serving, and the next retrain
    judged its candidate against it (a review); a re-export of the serving weights stays where it is."""
    settings = settings_for(work)
    logged: list[str] = []
    retired = retired_root(settings.models_dir)
    with pytest.raises(RolloutError, match="does not load"):
        export_and_serve(
            settings, lambda: install(broken_copy(work), work / "repo", "patchtst", retired), logged.append
        )
    assert versions(work / "repo", "patchtst") == [1]
    assert any(line.startswith(f"retired version 2 again, to {retired / 'patchtst' / '2'}") for line in logged)
    export_and_serve(settings, lambda: None, logged.append)  # nothing new: the serving version is rolled out
    assert versions(work / "repo", "patchtst") == [1] and "loads, and serves when the stack starts" in logged[-1]


def test_a_gateway_that_drops_the_reload_is_a_failed_rollout_not_no_gateway(work: Path):
    """Connection refused means nothing runs; a gateway that takes the request and fails to answer
    may or may not have swapped: the version is retired again, never kept as if all were well."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        settings = settings_for(work).model_copy(update={"port": listener.getsockname()[1]})

        def drop() -> None:
            for _ in range(2):  # the reload, then the best-effort reload after the undo
                conn, _ = listener.accept()
                conn.recv(65536)
                conn.close()

        thread = threading.Thread(target=drop, daemon=True)
        thread.start()
        with pytest.raises(RolloutError, match="did not confirm the new version"):
            promote(settings, version_dir(work / "other-repo", "patchtst", 1), log=lambda _: None)
        thread.join(10)
    assert versions(work / "repo", "patchtst") == [1]


@pytest.fixture
def gateway(work: Path, serve: Any) -> Any:
    env = env_for(work)
    del env["INVESTIQ_PORT"]
    return serve(work / "portfolio.db", env)  # `serve` stops it


def test_a_rollout_reaches_a_gateway_on_a_port_the_settings_do_not_name(work: Path, serve: Any):
    """`investiq up --port 8091` in one terminal, `investiq export patchtst` in another (port from the settings):
    the new version was rolled out to nobody ("no gateway running at http://127.0.0.1:8080"), and the gateway
    kept serving the old one. Every gateway records where it serves (serving.serving_record), beside its logs."""
    env = env_for(work, logs_dir=work / "logs")
    del env["INVESTIQ_PORT"]
    gateway = serve(work / "portfolio.db", env)
    settings = settings_for(work, logs_dir=work / "logs")  # port 9: not the gateway's
    assert stack_urls(settings) == [gateway.url]
    old, new = (PatchTSTMeta.load(version_dir(work / r, "patchtst", 1)).version for r in ("repo", "other-repo"))
    assert promote(settings, version_dir(work / "other-repo", "patchtst", 1), log=lambda _: None) == 2
    assert gateway.request("GET", "/price/health").json()["model_version"] == new
    assert rollback(settings, log=lambda _: None) == 1
    assert gateway.request("GET", "/price/health").json()["model_version"] == old
    stopped = CliRunner().invoke(
        main, ["stop"], env={"INVESTIQ_LOGS_DIR": str(work / "logs"), "INVESTIQ_PORT": "9"}
    )
    assert f"the one answering on {gateway.url} (`investiq up` or `serve`) stops with" in stopped.output
    assert stopped.exit_code == 0  # on another port than start's (9): `stop && start` may go on
    on_its_port = CliRunner().invoke(
        main, ["stop"], env={"INVESTIQ_LOGS_DIR": str(work / "logs"), "INVESTIQ_PORT": str(gateway.port)}
    )
    assert on_its_port.exit_code == 1  # `investiq stop && investiq start` stops here, not at "already listens"
    gateway.stop()
    assert serving_gateways(settings) == []  # its record names a PID that no longer runs
    assert stack_urls(settings) == [gateway_url(settings)]


def test_hot_swap_under_concurrent_requests_fails_none(work: Path, gateway: Any):
    settings = settings_for(work).model_copy(update={"port": gateway.port})
    prices = [float(x) for x in sample_windows(1, TINY.context_length, seed=9)[0, :, 0]]
    old = PatchTSTMeta.load(version_dir(work / "repo", "patchtst", 1)).version
    new = PatchTSTMeta.load(version_dir(work / "other-repo", "patchtst", 1)).version
    assert old != new
    seen: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            try:
                r = gateway.request("POST", "/price/predict", json={"symbol": "SPX", "prices": prices})
            except Exception as exc:  # no answer is a failed request too, and must not end the thread
                failures.append(repr(exc))
                continue
            if r.status_code == 200:
                seen.append(r.json()["model_version"])
            else:
                failures.append(f"{r.status_code} {r.text}")

    def answered(n: int) -> None:
        """Wait for `n` more answers, or fail (instead of hanging) if they do not come."""
        target, deadline = len(seen) + n, time.monotonic() + 60
        while len(seen) < target:
            assert time.monotonic() < deadline and not failures, failures[:3]
            stop.wait(0.05)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        answered(20)
        assert promote(settings, version_dir(work / "other-repo", "patchtst", 1), log=lambda _: None) == 2
        answered(20)
        broken = broken_copy(work)
        with pytest.raises(RolloutError, match="version 3 of patchtst was not loaded"):
            promote(settings, broken, log=lambda _: None)
        assert versions(work / "repo", "patchtst") == [1, 2]  # the broken one was retired again
        answered(20)
        assert rollback(settings, log=lambda _: None) == 1
        answered(20)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    assert seen[0] == old and new in seen and seen[-1] == old  # swapped in, then rolled back
    admin = gateway.request("GET", "/admin/models").json()["patchtst"]
    assert admin["repository_version"] == 1 and admin["model_version"] == old
    conn = sqlite3.connect(work / "portfolio.db")
    logged = {v for (v,) in conn.execute("SELECT DISTINCT model_version FROM price_predictions")}
    conn.close()
    assert logged == {old, new}  # the journal names both versions that answered


def test_health_warns_when_the_serving_model_is_too_old_and_admin_needs_the_key(work: Path):
    from fastapi.testclient import TestClient

    from gateway.app import create_app

    path = version_dir(work / "repo", "patchtst", 1) / "artifact.json"
    artifact = json.loads(path.read_text())
    path.write_text(json.dumps(artifact | {"trained_at": "2026-01-01T00:00:00+00:00"}))
    settings = settings_for(work, max_model_age_days=14, api_key="k")
    with TestClient(create_app(settings)) as client:
        price = client.get("/health").json()["components"]["price"]
        assert price["status"] == "degraded" and price["repository_version"] == 1
        assert "more than max_model_age_days=14: run `investiq retrain`" in price["reason"]
        assert client.get("/admin/models").status_code == 401
        models = client.get("/admin/models", headers={"X-API-Key": "k"}).json()
        assert models["patchtst"]["kept"] == [1] and models["patchtst"]["trained_at"].startswith("2026-01-01")
        refused = client.post("/admin/models/finbert/reload", headers={"X-API-Key": "k"})
        assert refused.status_code == 422 and "reloadable: patchtst" in refused.json()["detail"]


def test_a_reload_hands_what_start_up_froze_back_to_the_collector(work: Path):
    """The gateway freezes what start-up left (gateway/heap.py); what a reload replaces must not stay frozen."""
    import gc
    import weakref

    from fastapi.testclient import TestClient

    from gateway.app import create_app

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    replaced = Cycle()  # stands for the old model's objects: alive at start-up, dropped by the swap
    gone = weakref.ref(replaced)
    with TestClient(create_app(settings_for(work, api_key="k"))) as client:
        del replaced
        gc.collect()
        assert gone() is not None
        answer = client.post("/admin/models/patchtst/reload", headers={"X-API-Key": "k"})
        assert answer.status_code == 200, answer.text
        assert gone() is None
        assert gc.get_freeze_count() > 0  # the rest frozen again


def test_a_swap_during_a_forecast_runs_it_again_under_the_new_version(tmp_path: Path):
    """The reload lands while the forward pass runs: which weights answered is unknown, so the
    request runs once more and both its answer and its journal row name the new version."""
    old = PatchTSTMeta(
        "old", 8, 2, "1d", "log_return", ["X"], "sample", "2020-01-01", quantile_levels=list(QUANTILE_LEVELS)
    )
    new = dataclasses.replace(old, version="new")

    class SwappingBackend(FakeBackend):
        calls = 0

        async def infer(self, model: str, inputs: Any, version: int | None = None) -> Any:
            self.calls += 1
            if self.calls == 1:
                service.swap(new, 2)
            return patchtst_outputs(len(inputs[INPUT]), 2)

    db = tmp_path / "p.db"
    open_journal(db).close()
    writer = JournalWriter(db)
    writer.start()
    backend = SwappingBackend()
    service = PriceService(backend, old, writer, Metrics(), BarCache(tmp_path), lambda *_: None, max_batch=8)
    [forecast] = asyncio.run(service.predict([PriceQuery("X", [100.0] * 8, None)]))
    writer.close()
    assert (forecast.model_version, backend.calls) == ("new", 2)
    assert sqlite3.connect(db).execute("SELECT model_version FROM price_predictions").fetchall() == [("new",)]


def test_old_retrain_runs_and_retired_versions_are_pruned(tmp_path: Path):
    runs = tmp_path / "retrain"
    for name in ("20261101T000000Z", "20261108T000000Z", "20261115T000000Z"):
        (runs / name).mkdir(parents=True)
    prune_runs(runs, 2, log=lambda _: None)
    assert sorted(p.name for p in runs.iterdir()) == ["20261108T000000Z", "20261115T000000Z"]
    for n in (2, 5, 7):
        (tmp_path / "retired" / "patchtst" / str(n)).mkdir(parents=True)
    assert prune_retired(tmp_path / "retired", "patchtst", 2) == [2]
    assert sorted(p.name for p in (tmp_path / "retired" / "patchtst").iterdir()) == ["5", "7"]


def install_version(repo: Path, number: int, trained_at: str = "") -> PatchTSTMeta:
    """A version `number` of patchtst in `repo` whose artifact is named w<number> (no graph)."""
    meta = PatchTSTMeta(
        f"w{number}",
        8,
        2,
        "1d",
        "log_return",
        ["X"],
        "sample",
        "2020-01-01",
        quantile_levels=list(QUANTILE_LEVELS),
        trained_at=trained_at,
    )
    version_dir(repo, "patchtst", number).mkdir(parents=True)
    meta.save(version_dir(repo, "patchtst", number))
    return meta


def test_a_version_installed_during_a_reload_is_the_one_named(tmp_path: Path):
    """The backend loads whatever is newest when it loads: if a version lands between reading the
    repository and loading, the reload reads again, so the name and the weights agree."""
    repo = tmp_path / "repo"
    first = install_version(repo, 1)

    class RacingBackend(FakeBackend):
        async def reload(self, model: str) -> None:
            await super().reload(model)
            if len(self.reloaded) == 1:
                install_version(repo, 2)  # another process installs version 2 meanwhile

    backend = RacingBackend()
    price = PriceService(backend, first, None, Metrics(), BarCache(tmp_path), lambda *_: None, max_batch=8)  # type: ignore[arg-type]
    answer = asyncio.run(ModelsService(backend, repo, price).reload("patchtst"))
    assert answer == {"model": "patchtst", "model_version": "w2", "repository_version": 2}
    assert backend.reloaded == ["patchtst", "patchtst"] and price.meta is not None and price.meta.version == "w2"


def shared_backend_serving(number: int | None) -> tuple[FakeBackend, list[int | None]]:
    """A backend another process switched to version `number` (None: its servers disagree): a request pinned to
    any other version fails as Triton's does. Returns it and the versions it was asked for."""
    asked: list[int | None] = []

    class Shared(FakeBackend):
        async def infer(self, model: str, inputs: Any, version: int | None = None) -> Any:
            asked.append(version)
            if version != number:
                raise VersionMovedError(f"no longer serves version {version}", number)
            return patchtst_outputs(len(inputs[INPUT]), 2)

    return Shared(), asked


def two_versions(repo: Path, count: int = 2) -> list[PatchTSTMeta]:
    return [install_version(repo, number) for number in range(1, count + 1)]


def test_a_version_another_gateway_rolled_out_on_the_shared_backend_is_adopted_and_named(tmp_path: Path):
    """Several gateways share one Triton; a reload through one of them switched Triton to version 2 while the
    others went on reading version 1's artifact: their forecasts, computed by version 2, were answered and
    journaled as version 1's (a review). Requests are pinned to the version read: the pinned one fails, the
    gateway reads version 2 too, and the request runs again under it."""
    repo = tmp_path / "repo"
    first, _ = two_versions(repo)
    backend, asked = shared_backend_serving(2)
    db = tmp_path / "p.db"
    open_journal(db).close()
    writer = JournalWriter(db)
    writer.start()
    price = PriceService(backend, first, writer, Metrics(), BarCache(tmp_path), lambda *_: None, max_batch=8)
    price.repository_version = 1
    price.follow = ModelsService(backend, repo, price).adopt
    [forecast] = asyncio.run(price.predict([PriceQuery("X", [100.0] * 8, None)]))
    writer.close()
    assert (forecast.model_version, price.repository_version, asked) == ("w2", 2, [1, 2])
    assert sqlite3.connect(db).execute("SELECT model_version FROM price_predictions").fetchall() == [("w2",)]


def test_a_request_that_waited_behind_a_reload_does_not_move_the_gateway_back(tmp_path: Path):
    """The pinned call found version 1 gone and Triton serving 2; by the time it could adopt 2, this gateway's own
    reload had moved to 3 (a review): it must run again under 3, not move the gateway back to 2."""
    repo = tmp_path / "repo"
    first, _, third = two_versions(repo, 3)
    asked: list[int | None] = []

    class Rolling(FakeBackend):
        async def infer(self, model: str, inputs: Any, version: int | None = None) -> Any:
            asked.append(version)
            if version != 3:
                price.swap(third, 3)  # the reload here finishes while the request waits
                raise VersionMovedError("no longer serves version 1", 2)
            return patchtst_outputs(len(inputs[INPUT]), 2)

    backend = Rolling()
    price = PriceService(backend, first, None, Metrics(), BarCache(tmp_path), lambda *_: None, max_batch=8)  # type: ignore[arg-type]
    price.repository_version = 1
    price.follow = ModelsService(backend, repo, price).adopt
    price._journal = lambda *_: None  # type: ignore[method-assign]
    [forecast] = asyncio.run(price.predict([PriceQuery("X", [100.0] * 8, None)]))
    assert (forecast.model_version, price.repository_version, asked) == ("w3", 3, [1, 3])


@pytest.mark.parametrize(
    ("serving", "reason"),
    [(3, "version 3 of patchtst, which this gateway cannot read from its model repository"), (None, "version 1")],
)
def test_a_version_the_gateway_cannot_adopt_is_a_503_and_nothing_is_journaled(
    tmp_path: Path, serving: int | None, reason: str
):
    """Triton serves a version this gateway's repository lacks (another host's copy), or its servers serve
    different versions (a rollout under way: sent once more first, as another server may still serve version
    1): the request fails naming it, the gateway keeps reading version 1."""
    repo = tmp_path / "repo"
    first, _ = two_versions(repo)
    backend, asked = shared_backend_serving(serving)
    price = PriceService(backend, first, None, Metrics(), BarCache(tmp_path), lambda *_: None, max_batch=8)  # type: ignore[arg-type]
    price.repository_version = 1
    price.follow = ModelsService(backend, repo, price).adopt
    with pytest.raises(ModelNotReadyError, match=reason) as info:
        asyncio.run(price.predict([PriceQuery("X", [100.0] * 8, None)]))
    assert info.value.status_code == 503
    assert (price.repository_version, price.meta, asked) == (1, first, [1] if serving else [1, 1])


@pytest.mark.parametrize(("serving", "read"), [(1, 1), (3, 2)])
def test_price_health_names_the_version_the_shared_backend_serves(tmp_path: Path, serving: int, read: int):
    """/price/health named the version this gateway read until its next forecast, after another gateway had Triton
    serve another (one rolled back here): it follows first; a version its repository lacks makes it unhealthy,
    saying so, as every forecast fails."""
    from fastapi.testclient import TestClient

    from gateway.app import create_app

    two_versions(tmp_path / "repo")

    class Shared(FakeBackend):
        async def serving_version(self, model: str, version: int) -> int:
            return serving

    with TestClient(create_app(settings_for(tmp_path), backend=Shared())) as client:
        health = client.get("/price/health").json()
    assert (health["repository_version"], health["model_version"]) == (read, f"w{read}"), health
    cannot = "serves version 3 of patchtst, which this gateway cannot read"
    assert (health["status"] == "unhealthy", cannot in health.get("reason", "")) == (serving == 3,) * 2, health


def test_health_answers_within_its_deadlines_when_the_backend_never_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A Triton that accepts and never answers held /health 17 s (its 5 s timeout thrice, one check after another):
    `investiq start` stopped a gateway that was serving, and `status` said none ran (a review). Every check is
    bounded and they run together; the backend is reported unhealthy, saying why."""
    from fastapi.testclient import TestClient

    import gateway.services.health
    from gateway.app import create_app

    two_versions(tmp_path / "repo")
    monkeypatch.setattr(gateway.services.health, "SCRAPE_DEADLINE_S", 0.2)

    class Hung(FakeBackend):
        async def ready(self, model: str | None = None) -> bool:
            await asyncio.sleep(60)
            return True

    with TestClient(create_app(settings_for(tmp_path), backend=Hung())) as client:
        start = time.monotonic()
        health = client.get("/health")
        took = time.monotonic() - start
    components = health.json()["components"]
    # bounded, not held by the backend's 60 s: 2.2 s on a loaded 2-core machine (a full run beside two workers),
    # so the bound is far from both
    assert took < 20 and health.status_code == 200, (took, health.text)  # the stack degraded: 200
    assert components["inference"]["status"] == "unhealthy", components
    assert "did not say whether it is ready within 0.2 s" in components["inference"]["reason"]
    assert (
        components["price"]["status"] == "unhealthy" and "patchtst is not ready" in components["price"]["reason"]
    )


def test_metrics_and_admin_models_name_the_version_the_shared_backend_serves(tmp_path: Path):
    """investiq_model_info and /admin/models named the version this gateway read until a forecast or a
    /price/health followed another gateway's rollout (here a rollback to version 1): they follow first too."""
    from fastapi.testclient import TestClient

    from gateway.app import create_app

    two_versions(tmp_path / "repo")

    class Shared(FakeBackend):
        async def serving_version(self, model: str, version: int) -> int | None:
            return 1 if version != 1 else None

    with TestClient(create_app(settings_for(tmp_path, api_key="k"), backend=Shared())) as client:
        metrics = client.get("/metrics", headers={"X-API-Key": "k"}).text
        assert 'investiq_model_info{model="patchtst",task="price",version="w1"} 1.0' in metrics, metrics
        assert 'version="w2"' not in metrics
    with TestClient(create_app(settings_for(tmp_path, api_key="k"), backend=Shared())) as client:
        models = client.get("/admin/models", headers={"X-API-Key": "k"}).json()
    assert (models["patchtst"]["model_version"], models["patchtst"]["repository_version"]) == ("w1", 1), models


@pytest.mark.parametrize("hung", ["question", "adoption"])
def test_price_health_does_not_wait_on_a_backend_that_does_not_say_its_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hung: str
):
    """A hung Triton, or a reload here holding the adoption's lock for minutes, held /price/health as long."""
    from fastapi.testclient import TestClient

    import gateway.services.health
    from gateway.app import create_app

    two_versions(tmp_path / "repo")
    monkeypatch.setattr(gateway.services.health, "SCRAPE_DEADLINE_S", 0.05)

    async def held(*_: Any) -> None:
        await asyncio.sleep(60)

    monkeypatch.setattr(ModelsService, "adopt", held)

    class Hung(FakeBackend):
        async def serving_version(self, model: str, version: int) -> int:
            if hung == "question":
                await asyncio.sleep(60)
            return 1

    with TestClient(create_app(settings_for(tmp_path), backend=Hung())) as client:
        start = time.monotonic()
        health = client.get("/price/health").json()
        assert time.monotonic() - start < 30 and health["repository_version"] == 2, health


def test_export_patchtst_rolls_the_new_version_out_as_promote_does(trained: tuple[Path, Path], tmp_path: Path):
    """`investiq export patchtst` installed the newest version, which `models list` called serving, while a
    running gateway went on serving the old one with nothing said. Now it asks the gateway to switch; with
    none running, the version must load here, and the output says it serves from the next start."""
    model, _ = trained
    exported = CliRunner().invoke(main, ["export", "patchtst", "--model-dir", str(model)], env=env_for(tmp_path))
    assert exported.exit_code == 0, exported.output
    assert (
        f"no gateway running at http://127.0.0.1:9: {tmp_path / 'repo' / 'patchtst' / '1'} loads"
        in exported.output
    )
    assert "serves when the stack starts" in exported.output
    served = PatchTSTMeta.load(tmp_path / "repo" / "patchtst" / "1").served_as()
    assert f"serves as {served}" in exported.output


def serving_from_csv(work: Path, symbols: tuple[str, ...], recorded: Path) -> Path:
    """The serving version as if trained from a CSV of `symbols` recorded at `recorded`; returns a CSV of SPX's
    sample bars (the ones it was trained on) in work/bars.csv, where the other symbols have no rows."""
    bars = load_bars("sample", ("SPX",), days=36500, interval="1d", cache_dir=work / "data")
    closes, times = as_series(bars)["SPX"]
    csv = work / "bars.csv"
    pd.DataFrame({"date": [str(t)[:10] for t in times], "symbol": "SPX", "close": closes}).to_csv(csv, index=False)
    path = version_dir(work / "repo", "patchtst", serving(work / "repo", "patchtst") or 1) / "artifact.json"
    artifact = json.loads(path.read_text())
    config = artifact["train_config"] | {"source": "csv", "csv_path": str(recorded), "symbols": list(symbols)}
    path.write_text(json.dumps(artifact | {"source": "csv", "symbols": list(symbols), "train_config": config}))
    return csv


def newest_run(work: Path) -> Path:
    return sorted((work / "models" / "retrain").iterdir())[-1]


def test_a_moved_csv_is_named_with_csv_and_a_symbol_gone_from_it_is_left_out(work: Path):
    """The recorded file moved: the error says to pass --csv, which reads the new one (and the candidate records
    it). A symbol with no rows in it any more is left out with a warning, not a failure of every later retrain;
    the gate judges both models on the symbols left. A file that ends before the serving model's bars says so."""
    runner = CliRunner()
    moved = work / "moved" / "bars.csv"
    csv = serving_from_csv(work, ("SPX", "GONE"), moved)
    lost = runner.invoke(main, ["retrain", "--epochs", "1"], env=env_for(work))
    assert lost.exit_code == 1 and f"step 'data' failed: the model was trained from {moved}" in lost.output
    assert "which is not there now: pass the file with --csv" in lost.output

    cut = work / "cut.csv"
    pd.read_csv(csv).head(2000).to_csv(cut, index=False)  # ends in 2006, years before the serving model's bars
    short = runner.invoke(main, ["retrain", "--epochs", "1", "--csv", str(cut)], env=env_for(work))
    assert short.exit_code == 1 and "step 'data' failed: the bars end on 2006-" in short.output, short.output
    assert "before the serving model's last bar 20" in short.output
    assert "(the file was cut or replaced?): pass the full file with `investiq retrain --csv FILE`" in short.output

    env = env_for(work, promote_tolerance=1.0)
    ran = runner.invoke(main, ["retrain", "--epochs", "1", "--csv", str(csv)], env=env)
    assert ran.exit_code == 0, ran.output
    gone = f"warning: GONE left out, it has no bars now: CSV {csv} has no rows for GONE; its symbols are SPX"
    assert gone in ran.output
    assert "the candidate trains on SPX alone, and the gate judges both models on SPX" in ran.output
    report = json.loads((newest_run(work) / "report.json").read_text())
    assert list(report["symbols_left_out"]) == ["GONE"] and report["outcome"] in ("promoted", "rejected")
    assert report["config"]["symbols"] == ["SPX"] and report["config"]["csv_path"] == str(csv.resolve())
    gate = report["gate"]
    assert gate["judged_on"] == ["SPX"] and gate["not_in_bars"] == ["GONE"]
    assert gate["decision"].endswith("(judged on SPX; GONE not in the bars)")
    candidate = PatchTSTMeta.load(newest_run(work) / "export")
    assert candidate.train_config["csv_path"] == str(csv.resolve()) and candidate.symbols == ["SPX"]

    serving_from_csv(work, ("GONE", "ALSO"), csv)
    failed = runner.invoke(main, ["retrain", "--epochs", "1"], env=env_for(work))
    assert failed.exit_code == 1, failed.output
    assert "none of the serving model's symbols has bars now (GONE: CSV " in failed.output


def test_nothing_new_stops_before_training_and_the_same_weights_are_called_so(
    work: Path, monkeypatch: pytest.MonkeyPatch
):
    """No new bar since the serving model's: the candidate would be its weights again. The retrain stops after
    `data` (not a failure); when training runs all the same, the decision says the weights are the serving
    model's, never "passes". The SIGTERM handler is the run's alone, and the lock file is left empty."""
    import signal

    def before(*_: Any) -> None:
        pass

    runner = CliRunner()
    previous = signal.signal(signal.SIGTERM, before)
    try:
        same = runner.invoke(main, ["retrain", "--epochs", str(SERVING.epochs)], env=env_for(work))
        assert signal.getsignal(signal.SIGTERM) is before  # restored after the run
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert same.exit_code == 0, same.output
    assert "nothing new to train on: the bars end on 2018-12-31" in same.output
    assert "unchanged: nothing to promote, the serving version keeps serving" in same.output
    report = json.loads((newest_run(work) / "report.json").read_text())
    assert report["outcome"] == "unchanged" and report["decision"].startswith("not promoted: nothing new to train")
    assert [s["step"] for s in report["steps"]] == ["backup", "data"] and "gate" not in report
    assert (work / "models" / ".lifecycle.lock").read_text() == ""

    (work / "bars.csv").write_text("date,close\n")
    not_csv = runner.invoke(main, ["retrain", "--csv", str(work / "bars.csv")], env=env_for(work))
    assert not_csv.exit_code == 1
    assert "--csv is for a model trained from a CSV file; the serving one was trained on sample" in not_csv.output

    monkeypatch.setattr("investiq.ops.retrain.nothing_new", lambda *_: None)
    again = runner.invoke(main, ["retrain", "--epochs", str(SERVING.epochs)], env=env_for(work))
    assert again.exit_code == 0, again.output
    weights = PatchTSTMeta.load(version_dir(work / "repo", "patchtst", 1)).version
    the_same = f"the candidate is the serving model's weights ({weights}): nothing to promote"
    assert f"{the_same}; version 1 keeps serving" in again.output
    assert "passes" not in again.output and versions(work / "repo", "patchtst") == [1]
    report = json.loads((newest_run(work) / "report.json").read_text())
    assert report["outcome"] == "unchanged" and "gate" not in report
    assert report["decision"] == f"not promoted: {the_same}"


def test_a_gate_without_enough_fresh_bars_is_not_enough_evidence_never_a_rejection(
    work: Path, monkeypatch: pytest.MonkeyPatch
):
    """A candidate the gate cannot judge (too few fresh bar times) was not found worse: the run says "not enough
    evidence", never "rejected". The model trained with one more epoch and its export stand in for the training
    and the export; the gate asks for more bar times than the sample has."""

    def trained(series: Any, config: Any, out: Path, log: Any) -> dict[str, Any]:
        shutil.copytree(work / "other", out)
        return {"best_val_loss": 0.0, "epochs_run": 3, "train_windows": 1}

    def exported(forecaster: Any, meta: PatchTSTMeta, out: Path, log: Any) -> PatchTSTMeta:
        other = version_dir(work / "other-repo", "patchtst", serving(work / "other-repo", "patchtst") or 1)
        shutil.copytree(other, out, dirs_exist_ok=True)
        return PatchTSTMeta.load(out)

    monkeypatch.setattr("investiq.ops.retrain.nothing_new", lambda *_: None)
    monkeypatch.setattr("training.patchtst.train", trained)  # retrain imports these when it runs
    monkeypatch.setattr("export.patchtst.write_export", exported)
    monkeypatch.setattr("training.gate.min_bar_times", lambda horizon: 10**6)
    result = CliRunner().invoke(main, ["retrain"], env=env_for(work))
    assert result.exit_code == 0, result.output
    assert "not enough evidence yet to judge the candidate: the serving version keeps serving" in result.output
    assert "rejected" not in result.output and versions(work / "repo", "patchtst") == [1]
    report = json.loads((newest_run(work) / "report.json").read_text())
    assert report["outcome"] == "not_enough_evidence" and report["gate"]["enough_evidence"] is False
    assert report["decision"].startswith("not enough evidence yet: ")


def test_sigterm_during_training_ends_a_failed_run_with_its_report_and_exit_status_143(work: Path):
    """systemd's TimeoutStartSec, or a shutdown: the run stops where it stands, leaves report.json, the serving
    model as it was, the lock free and its file empty, and exits as SIGTERM would have ended it."""
    import os
    import signal
    import subprocess
    import sys

    env = os.environ | env_for(work) | {"PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "investiq", "retrain", "--epochs", "50"]
    root = Path(__file__).parents[2]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=root
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:  # into the epochs: the first one has ended (a second must run before any stop)
        lines.append(line)
        if "epoch 1: train loss" in line:
            break
    assert lines and "epoch 1: train loss" in lines[-1], "".join(lines)
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=120)
    output = "".join(lines) + rest
    assert process.returncode == 143, output
    assert "Error: stopped by SIGTERM at step 'train'" in output
    [run] = (work / "models" / "retrain").iterdir()
    report = json.loads((run / "report.json").read_text())
    assert report["outcome"] == "failed" and report["error"].startswith("stopped by SIGTERM at step 'train'")
    assert report["steps"][-1]["step"] == "train" and report["steps"][-1]["status"] == "stopped"
    assert versions(work / "repo", "patchtst") == [1] and not (run / "candidate").exists()
    assert (work / "models" / ".lifecycle.lock").read_text() == ""
    with exclusive(settings_for(work)):  # free again
        pass


@pytest.fixture
def python_sigint() -> Iterator[None]:
    """Python's own Ctrl-C handler, as in a terminal: a test runner's worker may start with SIGINT ignored
    (pytest-xdist's do), and a run keeps an ignored SIGINT ignored (the test below)."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_sigterm_during_the_promotion_lets_it_finish_then_rolls_it_back(
    work: Path, monkeypatch: pytest.MonkeyPatch, name: str, python_sigint: None
):
    """A promotion is all or nothing: SIGTERM while it installs and rolls out the candidate waits for it, then
    stops the run before the re-sync, which rolls the promotion back as a failed re-sync does. Ctrl-C (SIGINT)
    alike: it went past the steps as a KeyboardInterrupt, the version promoted and serving, no re-sync, no
    rollback, and a report without its outcome (a review)."""
    import signal

    from investiq.ops.retrain import Stopped

    signum = signal.Signals[name]

    def interrupted(*args: Any) -> int:
        number = promote(*args)
        # The run's own handler, called as the signal would call it. Not os.kill: a real signal into this
        # process, which by now holds the threads of the whole suite (gRPC, ONNX Runtime, servers), crashed it in
        # CI once; the real signal is the subprocess test's above.
        handler = signal.getsignal(signum)
        assert callable(handler) and handler is not signal.default_int_handler
        handler(signum, None)
        return number

    monkeypatch.setattr("investiq.ops.retrain.promote", interrupted)
    lines: list[str] = []
    with pytest.raises(Stopped, match=f"stopped by {name} at step 'bayesian'") as stopped:
        retrain(settings_for(work, promote_tolerance=1.0), log=lines.append, epochs=3)
    assert stopped.value.status == 128 + signum
    assert ("TimeoutStartSec" in str(stopped.value)) == (name == "SIGTERM")  # systemd's hint, not Ctrl-C's
    assert f"== retrain: {name} received during 'promote': the run stops before its next step" in lines
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back
    assert versions(work / "repo", "patchtst") == [1]  # version 2 was promoted, then rolled back
    report = json.loads((newest_run(work) / "report.json").read_text())
    assert report["outcome"] == "failed" and report["promoted_version"] == 2
    assert [(s["step"], s["status"]) for s in report["steps"]][-2:] == [("promote", "ok"), ("bayesian", "stopped")]


def test_the_run_just_made_is_never_pruned_even_when_the_clock_went_back(tmp_path: Path):
    """Runs are pruned by name (UTC time): after the clock was set back, the run just made sorted oldest and was
    deleted with its candidate and report, while its paths were printed (a review)."""
    runs = tmp_path / "retrain"
    for name in ("20271205T030000Z", "20271212T030000Z", "20261205T055901Z"):
        (runs / name).mkdir(parents=True)
    said: list[str] = []
    prune_runs(runs, 2, log=said.append, current=runs / "20261205T055901Z")
    assert sorted(p.name for p in runs.iterdir()) == ["20261205T055901Z", "20271205T030000Z", "20271212T030000Z"]
    assert "is the clock behind?" in said[0]


def test_sigint_ignored_when_the_run_starts_stays_ignored(tmp_path: Path):
    """A retrain started in the background by a non-interactive shell ignores SIGINT, as Python leaves it: taking
    it over made a Ctrl-C aimed at the launching script stop the retrain too (a review)."""
    import signal

    from investiq.ops.retrain import Steps, signals_to

    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with signals_to(Steps(tmp_path, log=lambda _: None)):
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_step_whose_record_cannot_be_written_is_not_failed_by_it(tmp_path: Path):
    """A full disk at steps.jsonl after the promote step had rolled its version out raised a bare OSError, past
    the re-sync and the report (a review): the bookkeeping is said, the step stands."""
    from investiq.ops.retrain import Steps

    (tmp_path / "steps.jsonl").mkdir()  # cannot be appended to
    said: list[str] = []
    steps = Steps(tmp_path, said.append)
    with steps.step("promote"):
        pass
    assert steps.done[-1]["status"] == "ok"
    assert any(line.startswith(f"warning: cannot append to {tmp_path / 'steps.jsonl'}") for line in said)


def test_a_rollout_never_sends_a_remote_tritons_admin_token_to_a_local_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """With Triton on another host and no gateway, the rollout's fallback posted TRITON_ADMIN_TOKEN to whatever
    listened on this host's triton_http_port (a review). Only a Triton of this host is asked there."""
    from investiq.core.ports import free_ports
    from investiq.ops.lifecycle import reload

    monkeypatch.setenv("TRITON_ADMIN_TOKEN", "a-secret-token-of-the-remote-triton")
    accepted: list[bytes] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)

        def serve() -> None:
            with contextlib.suppress(OSError):
                conn, _ = listener.accept()
                with conn:
                    accepted.append(conn.recv(65536))

        thread = threading.Thread(target=serve)
        thread.start()
        (nobody,) = free_ports(1)
        settings = Settings(
            backend="triton",
            triton_url="192.0.2.7:8001",
            triton_http_port=listener.getsockname()[1],
            port=nobody,
            logs_dir=tmp_path / "logs",
            model_repository=tmp_path / "empty",
        )
        with pytest.raises(RolloutError, match="does not load"):  # no model here: the local check says so
            reload(settings, timeout_s=2)
        thread.join()
    assert accepted == []
