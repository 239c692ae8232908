"""A real tritonserver (from nvidia-pytriton, cpu flavour) serving the committed model repository
with tiny exported models: the Triton backend gives the embedded backend's answers, batches
concurrent requests, and the gateway survives Triton going away and coming back."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray

from export.finbert import export_finbert
from export.patchtst import sample_windows
from gateway.app import create_app
from gateway.backends.triton import TritonBackend
from gateway.backends.triton_admin import ADMIN_HEADER, LOCAL_TOKENS
from harness import tiny_bert
from harness.processes import start_triton
from investiq.core.finbert import FINBERT_MODEL, FINBERT_TOKENIZER, LABELS, Encoder
from investiq.core.patchtst import (
    OUTPUT,
    OUTPUTS,
    PATCHTST,
    PROBABILITY_UP,
    QUANTILE_LEVELS,
    QUANTILES,
    VOLATILITY,
)
from investiq.core.settings import Settings
from investiq.ops.triton_server import TritonError, TritonPorts, copy_configs, missing, start, stop

if (reason := missing()) is not None:  # the `triton` extra, in .venv-triton (numpy<2) or here
    pytest.skip(reason, allow_module_level=True)
TEXTS = ["Stocks rally as earnings beat estimates", "Profit warning sends shares lower", "Rates unchanged"]


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory, trained: tuple[Path, Path]) -> Path:
    """The committed configs, a tiny FinBERT and the session's tiny PatchTST (tests/conftest.py)."""
    root = tmp_path_factory.mktemp("triton")
    repo = root / "repo"
    copy_configs(repo)
    export_finbert(str(tiny_bert.build(root / "hf")), repo, log=lambda _: None)
    shutil.copytree(trained[1] / PATCHTST, repo / PATCHTST, dirs_exist_ok=True)
    return repo


@pytest.fixture(scope="module")
def triton(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TritonPorts, Path]]:
    work = tmp_path_factory.mktemp("triton-work")
    _, ports = start_triton(repository, work)
    yield ports, work
    stop(work)


def tokenized(ports: TritonPorts, texts: list[str]) -> NDArray[np.int64]:
    """The ids Triton's tokenizer step gives `texts`, asked over HTTP."""
    body = {"inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [len(texts), 1], "data": texts}]}
    url = f"http://127.0.0.1:{ports.http}/v2/models/{FINBERT_TOKENIZER}/infer"
    with urlopen(Request(url, data=json.dumps(body).encode(), method="POST")) as response:
        output = next(o for o in json.loads(response.read())["outputs"] if o["name"] == "input_ids")
    ids: NDArray[np.int64] = np.asarray(output["data"], dtype=np.int64).reshape(output["shape"])
    return ids


def settings_for(repository: Path, db: Path, ports: TritonPorts | None = None) -> Settings:
    extra: dict[str, Any] = {"backend": "triton", "triton_url": f"127.0.0.1:{ports.grpc}"} if ports else {}
    extra |= {"triton_timeout_s": 30.0} if ports else {}  # a cold first ensemble call on a loaded CI machine
    return Settings(db_path=db, model_repository=repository, price_resolve_every_s=0, **extra)


def test_triton_answers_as_the_embedded_backend_does(
    repository: Path, triton: tuple[TritonPorts, Path], tmp_path: Path
):
    ports, _ = triton
    prices = [float(x) for x in sample_windows(1, 64, seed=3)[0, :, 0]]
    texts = [*TEXTS, " ".join(TEXTS * 6)]  # a long one: both run the short ones in a pass of their own
    answers = []
    for settings in (
        settings_for(repository, tmp_path / "a.db"),
        settings_for(repository, tmp_path / "b.db", ports),
    ):
        with TestClient(create_app(settings)) as client:
            assert client.get("/health").json()["components"]["inference"]["status"] == "healthy"
            sentiment = client.post("/sentiment/predict", json={"texts": texts, "use_cache": False}).json()
            price = client.post("/price/predict", json={"symbol": "SPX", "prices": prices}).json()
            answers.append((sentiment, price))
    (embedded_s, embedded_p), (triton_s, triton_p) = answers
    assert triton_s["model"] == embedded_s["model"] == "finbert"
    # same weights; the runtime tag says who chose it: the embedded backend on this CPU, or Triton on its host
    weights = embedded_s["model_version"].split("-")[0]
    assert embedded_s["model_version"].startswith(f"{weights}-int8")
    assert triton_s["model_version"] == f"{weights}-triton"
    for a, b in zip(embedded_s["predictions"], triton_s["predictions"], strict=True):
        assert a["label"] == b["label"]
        for label in a["probabilities"]:
            assert b["probabilities"][label] == pytest.approx(a["probabilities"][label], abs=1e-5)
    np.testing.assert_allclose(triton_p["predicted_prices"], embedded_p["predicted_prices"], rtol=1e-5)
    assert triton_p["quantiles"].keys() == embedded_p["quantiles"].keys()
    for level, path in embedded_p["quantiles"].items():
        np.testing.assert_allclose(triton_p["quantiles"][level], path, rtol=1e-5)
    np.testing.assert_allclose(triton_p["probability_up"], embedded_p["probability_up"], atol=1e-6)
    assert triton_p["volatility"] == pytest.approx(embedded_p["volatility"], rel=1e-5)
    assert triton_p["confidence"] == pytest.approx(embedded_p["confidence"], abs=1e-6)


def test_triton_batches_concurrent_requests(triton: tuple[TritonPorts, Path]):
    ports, _ = triton

    async def burst() -> list[dict[str, np.ndarray[Any, Any]]]:
        backend = TritonBackend(f"127.0.0.1:{ports.grpc}", 30)
        windows = sample_windows(32, 64, seed=9)
        out = await asyncio.gather(
            *(backend.infer("patchtst", {"past_values": windows[i : i + 1]}) for i in range(32))
        )
        await backend.close()
        return out

    import json

    k = len(QUANTILE_LEVELS)
    shapes = {OUTPUT: (1, 4, 1), QUANTILES: (1, 4, k), PROBABILITY_UP: (1, 4), VOLATILITY: (1, 1)}
    assert set(shapes) == set(OUTPUTS)
    for _ in range(3):  # a client starved of CPU may send one burst one request at a time: try again
        results = asyncio.run(burst())
        assert all({name: r[name].shape for name in OUTPUTS} == shapes for r in results)  # split per request
        stats = urlopen(f"http://127.0.0.1:{ports.http}/v2/models/patchtst/stats").read().decode()
        model = json.loads(stats)["model_stats"][0]
        if model["execution_count"] < model["inference_count"]:  # fewer executions than requests: batched
            break
    assert model["execution_count"] < model["inference_count"], model


def test_every_model_instance_keeps_its_start_up_out_of_garbage_collection(triton: tuple[TritonPorts, Path]):
    _, work = triton
    log = (work / "triton.log").read_text()
    for model in ("finbert_tokenizer", "finbert_model", "finbert_postprocess", PATCHTST):  # a stub process each
        frozen = rf"investiq {model} 1: [1-9]\d+ objects of start-up kept out of garbage collection"
        assert re.search(frozen, log), model


def test_one_instance_of_a_model_runs_on_every_core(triton: tuple[TritonPorts, Path]):
    _, work = triton
    log = (work / "triton.log").read_text()
    for model in ("finbert_model", PATCHTST):  # the committed configs: one instance each, as the embedded backend
        assert re.search(rf"investiq {model} 1: serving .*, one thread per core\n", log), model


def test_bad_input_to_the_ensemble_is_refused_per_request(triton: tuple[TritonPorts, Path]):
    ports, _ = triton
    from investiq.core.errors import InvalidInputError

    async def ask(texts: list[str]) -> Any:
        backend = TritonBackend(f"127.0.0.1:{ports.grpc}", 30)
        try:
            return await backend.infer("finbert", {"TEXT": np.array(texts, dtype=object)})
        finally:
            await backend.close()

    with pytest.raises(Exception, match="TEXT\\[0\\] is empty") as info:
        asyncio.run(ask([""]))
    assert isinstance(info.value, InvalidInputError) or "empty" in str(info.value)
    with pytest.raises(Exception, match="batch"):
        asyncio.run(ask(["x"] * 65))  # over max_batch_size 64
    assert asyncio.run(ask(["fine"]))["probabilities"].shape == (1, 3)


def test_a_second_triton_on_taken_ports_fails_naming_them_and_the_first_listens_on_loopback_only(
    triton: tuple[TritonPorts, Path], repository: Path, tmp_path: Path
):
    ports, work = triton
    taken = rf"cannot start Triton: HTTP port {ports.http} \(PID \d+: .*tritonserver"
    with pytest.raises(TritonError, match=taken):
        start(repository, ports, tmp_path / "second")  # another directory: the first one's PID file is not seen
    assert not (tmp_path / "second" / "triton.pid").exists()
    log = (work / "triton.log").read_text()
    assert f"Started GRPCInferenceService at 127.0.0.1:{ports.grpc}" in log, log[-2000:]
    everyone = Settings(triton_url="0.0.0.0:9001")
    assert TritonPorts.from_settings(everyone).address == "0.0.0.0"
    assert TritonPorts.from_settings(Settings(triton_url="localhost:9001")).address == "127.0.0.1"


def test_a_gateway_has_triton_serve_the_finbert_it_reads(repository: Path, tmp_path: Path):
    """FinBERT exported again while Triton runs (other weights, another label order, another vocabulary): Triton
    keeps the models it loaded until asked, so a gateway started now has it load the files whose labels the
    gateway reads, and the tokenizer step the vocabulary of those weights; else it would label the old model's
    outputs by the new order, or feed the new weights the old vocabulary's ids (an id past the new embedding
    failed the request)."""
    repo = Path(shutil.copytree(repository, tmp_path / "repo"))
    work = tmp_path / "work"

    def probabilities(settings: Settings) -> NDArray[np.float64]:
        with TestClient(create_app(settings)) as client:
            deadline = time.monotonic() + 120  # ready once Triton has loaded what it reads (beside serving)
            while not client.get("/health/ready").json()["ready"] and time.monotonic() < deadline:
                time.sleep(0.1)
            body = {"texts": TEXTS, "use_cache": False}
            answers = client.post("/sentiment/predict", json=body).json()["predictions"]
        return np.array([[a["probabilities"][label] for label in LABELS] for a in answers])

    def exported_ids() -> list[int]:  # as the tokenizer step pads them (its config's pad_to_multiple_of)
        return [int(x) for x in Encoder(repo / FINBERT_MODEL / "1", 128, multiple=16)(TEXTS)["input_ids"].ravel()]

    _, ports = start_triton(repo, work)
    try:
        old = probabilities(settings_for(repo, tmp_path / "old.db", ports))  # a gateway that ran before the export
        old_ids = exported_ids()
        other = {0: "negative", 1: "neutral", 2: "positive"}
        export_finbert(str(tiny_bert.build(tmp_path / "hf", seed=1, labels=other)), repo, log=lambda _: None)
        assert exported_ids() != old_ids  # the new export's vocabulary differs: the test can tell them apart
        new = probabilities(settings_for(repo, tmp_path / "a.db"))
        triton = probabilities(settings_for(repo, tmp_path / "b.db", ports))
        assert tokenized(ports, TEXTS).ravel().tolist() == exported_ids()
    finally:
        stop(work)
    # the two models differ by far more than the runtimes do (dynamic INT8 on either side of the wire)
    assert np.abs(triton - new).max() < np.abs(triton - old).max() / 5, (triton, new, old)


def test_the_gateway_survives_triton_going_away(repository: Path, tmp_path: Path):
    work = tmp_path / "work"
    _, ports = start_triton(repository, work)
    try:
        with TestClient(create_app(settings_for(repository, tmp_path / "p.db", ports))) as client:
            assert client.post("/sentiment/predict", json={"texts": ["up"]}).status_code == 200
            # Triton up, one model unloaded (an operator's curl, a failed load): the health checks say which.
            unload = f"http://127.0.0.1:{ports.http}/v2/repository/models/{PATCHTST}/unload"
            admin = {ADMIN_HEADER: LOCAL_TOKENS[ports.grpc]}  # the model-repository API wants the admin token
            urlopen(Request(unload, data=b"{}", headers=admin, method="POST")).read()
            inference = client.get("/health").json()["components"]["inference"]
            assert inference["status"] == "degraded" and inference["models"] == {"finbert": True, PATCHTST: False}
            price = client.get("/price/health").json()
            assert (
                price["status"] == "unhealthy"
                and f"{PATCHTST} is not ready on the triton backend" in price["reason"]
            )
            assert client.get("/sentiment/health").json()["status"] == "healthy"
            stop(work)
            down = client.post("/sentiment/predict", json={"texts": ["down"], "use_cache": False})
            assert down.status_code == 503
            assert "Triton at 127.0.0.1" in down.json()["detail"]
            assert client.get("/health").json()["components"]["inference"]["status"] != "healthy"
            assert client.get("/sentiment/health").json()["status"] == "unhealthy"
            start(repository, ports, work)
            back = client.post("/sentiment/predict", json={"texts": ["back"], "use_cache": False})
            assert back.status_code == 200, back.text
            assert client.get("/sentiment/health").json()["status"] == "healthy"
            assert client.get("/health").json()["components"]["inference"]["status"] == "healthy"
    finally:
        stop(work)


def test_triton_not_running_at_start_up_is_reported_not_fatal(repository: Path, tmp_path: Path):
    ports = TritonPorts.free()
    with TestClient(create_app(settings_for(repository, tmp_path / "p.db", ports))) as client:
        assert client.get("/health").json()["components"]["inference"]["status"] == "degraded"
        response = client.post("/price/predict", json={"symbol": "SPX", "prices": [100.0] * 64})
        assert response.status_code == 503
        assert "is it running?" in response.json()["detail"]


def test_a_model_missing_from_the_repository_is_a_clear_503(repository: Path, tmp_path: Path):
    from investiq.core.errors import ModelNotReadyError

    partial = tmp_path / "repo"
    shutil.copytree(repository, partial, ignore=shutil.ignore_patterns("patchtst"))
    _, ports = start_triton(partial, tmp_path / "work")

    async def ask() -> Any:
        backend = TritonBackend(f"127.0.0.1:{ports.grpc}", 30)
        try:
            assert not await backend.ready("patchtst")
            return await backend.infer("patchtst", {"past_values": sample_windows(1, 64)})
        finally:
            await backend.close()

    try:
        with pytest.raises(ModelNotReadyError, match="no ready model 'patchtst'") as info:
            asyncio.run(ask())
        assert info.value.status_code == 503
    finally:
        stop(tmp_path / "work")


def version_ready(ports: TritonPorts, version: int) -> bool:
    """Whether the server on `ports` serves version `version` of patchtst."""
    try:
        with urlopen(f"http://127.0.0.1:{ports.http}/v2/models/patchtst/versions/{version}/ready") as r:
            return bool(r.status == 200)
    except OSError:
        return False


def test_triton_rolls_out_a_new_version_and_keeps_serving_when_one_fails_to_load(
    repository: Path, triton: tuple[TritonPorts, Path]
):
    """Explicit model-control mode: a reload serves the newest version; a version that cannot load
    leaves the one before serving (and `investiq models promote` then removes it again)."""
    from investiq.core.errors import ModelNotReadyError
    from investiq.core.versions import install, version_dir

    ports, _ = triton

    def ready(version: int) -> bool:
        return version_ready(ports, version)

    async def scenario() -> None:
        backend = TritonBackend(f"127.0.0.1:{ports.grpc}", 30)
        x = {"past_values": sample_windows(2, 64, seed=4)}
        try:
            before = np.asarray((await backend.infer("patchtst", x))[OUTPUT], dtype=np.float32)
            assert install(version_dir(repository, "patchtst", 1), repository, "patchtst") == 2
            await backend.reload("patchtst")
            assert ready(2) and not ready(1)
            broken = install(version_dir(repository, "patchtst", 1), repository, "patchtst")
            (version_dir(repository, "patchtst", broken) / "model.onnx").write_bytes(b"not a graph")
            with pytest.raises(ModelNotReadyError, match="could not load 'patchtst'"):
                await backend.reload("patchtst")
            assert ready(2) and not ready(broken)
            after = np.asarray((await backend.infer("patchtst", x))[OUTPUT], dtype=np.float32)
            np.testing.assert_allclose(after, before)
        finally:  # leave the module's repository as it was
            for number in (3, 2):
                shutil.rmtree(version_dir(repository, "patchtst", number), ignore_errors=True)
            await backend.reload("patchtst")
            await backend.close()
        assert ready(1)

    asyncio.run(scenario())


def test_a_rollout_with_no_gateway_has_the_local_triton_load_it_with_its_admin_token(
    repository: Path, triton: tuple[TritonPorts, Path], tmp_path: Path
):
    """With Triton running and no gateway, a rollout asks Triton itself: without the admin token every promote,
    rollback, export and retrain was refused ("Forbidden") and undone (an audit of Triton's operations)."""
    from investiq.core.ports import free_ports
    from investiq.core.versions import install, version_dir
    from investiq.ops.lifecycle import reload

    ports, work = triton
    logs = tmp_path / "logs"
    (logs / "triton").mkdir(parents=True)  # where `investiq triton start` keeps the token it made
    shutil.copy(work / "admin-token", logs / "triton" / "admin-token")
    (nobody,) = free_ports(1)  # no gateway listens there
    settings = settings_for(repository, tmp_path / "p.db", ports).model_copy(
        update={"logs_dir": logs, "port": nobody, "triton_http_port": ports.http}
    )
    try:
        assert install(version_dir(repository, PATCHTST, 1), repository, PATCHTST) == 2
        assert reload(settings).endswith(f"Triton loaded the newest {PATCHTST}")
        assert version_ready(ports, 2)
    finally:  # leave the module's repository as it was
        shutil.rmtree(version_dir(repository, PATCHTST, 2), ignore_errors=True)
        reload(settings)
    assert version_ready(ports, 1)


def test_a_gateway_follows_a_version_another_gateway_rolled_out_on_the_shared_triton(
    repository: Path, triton: tuple[TritonPorts, Path], tmp_path: Path
):
    """Several gateway processes share one Triton (README, Topologies): a reload through one of them switched
    Triton to version 2 while the others went on reading version 1's artifact, and their forecasts, computed by
    version 2, were answered and journaled as version 1's (a review). Each request now asks Triton for the
    version its gateway reads; the first after the switch finds it gone, and the gateway reads version 2 too."""
    from investiq.core.versions import install, version_dir

    ports, _ = triton
    prices = [float(x) for x in sample_windows(1, 64, seed=3)[0, :, 0]]
    db = tmp_path / "p.db"

    async def other_gateway_reloads() -> None:
        backend = TritonBackend(f"127.0.0.1:{ports.grpc}", 30)
        try:
            await backend.reload(PATCHTST)
        finally:
            await backend.close()

    try:
        with TestClient(create_app(settings_for(repository, db, ports))) as client:
            deadline = time.monotonic() + 120  # start-up has Triton load what it reads (beside serving): first
            while not client.get("/health/ready").json()["ready"] and time.monotonic() < deadline:
                time.sleep(0.1)
            first = client.post("/price/predict", json={"symbol": "SPX", "prices": prices})
            assert first.status_code == 200, first.text
            assert install(version_dir(repository, PATCHTST, 1), repository, PATCHTST) == 2
            artifact = version_dir(repository, PATCHTST, 2) / "artifact.json"
            second = json.loads(artifact.read_text())["version"] + "-second"
            artifact.write_text(json.dumps(json.loads(artifact.read_text()) | {"version": second}))
            asyncio.run(other_gateway_reloads())
            assert version_ready(ports, 2) and not version_ready(ports, 1)
            health = client.get("/price/health").json()  # follows before any forecast
            assert (health["repository_version"], health["model_version"]) == (2, second), health
            after = client.post("/price/predict", json={"symbol": "SPX", "prices": prices})
            assert after.status_code == 200, after.text
            assert (first.json()["model_version"] + "-second", after.json()["model_version"]) == (second, second)
            assert client.get("/price/health").json()["repository_version"] == 2
        journaled = sqlite3.connect(db).execute("SELECT model_version FROM price_predictions ORDER BY id")
        assert [v for (v,) in journaled] == [first.json()["model_version"], second]
    finally:  # leave the module's repository and server as they were
        shutil.rmtree(version_dir(repository, PATCHTST, 2), ignore_errors=True)
        asyncio.run(other_gateway_reloads())
    assert version_ready(ports, 1)


def test_a_reload_loads_the_new_version_on_every_triton_server_behind_the_target(
    repository: Path, triton: tuple[TritonPorts, Path], tmp_path: Path
):
    """Several Triton pods behind one name: the load request went over the balanced channel to one of
    them, and the others kept serving the old version under the new one's name (found by a probe)."""
    from investiq.core.versions import install, version_dir

    first, _ = triton
    _, second = start_triton(repository, tmp_path / "second")

    async def scenario() -> None:
        backend = TritonBackend(f"ipv4:127.0.0.1:{first.grpc},127.0.0.1:{second.grpc}", 30)
        try:
            assert install(version_dir(repository, "patchtst", 1), repository, "patchtst") == 2
            await backend.reload("patchtst")
            assert (
                version_ready(first, 2)
                and version_ready(second, 2)
                and not version_ready(first, 1)
                and not version_ready(second, 1)
            )
        finally:  # leave the module's repository and server as they were
            shutil.rmtree(version_dir(repository, "patchtst", 2), ignore_errors=True)
            await backend.reload("patchtst")
            await backend.close()

    try:
        asyncio.run(scenario())
        assert version_ready(first, 1) and version_ready(second, 1)
    finally:
        stop(tmp_path / "second")


def model_executions(http_port: int, model: str) -> tuple[int, int]:
    """(executions, requests) a model of the server has run so far (Triton's statistics)."""
    stats = json.loads(urlopen(f"http://127.0.0.1:{http_port}/v2/models/{model}/stats").read().decode())
    return int(stats["model_stats"][0]["execution_count"]), int(stats["model_stats"][0]["inference_count"])


def settled_executions(http_port: int, model: str) -> tuple[int, int]:
    """`model_executions` once Triton has counted every request answered so far: it counts one once its answer is
    sent, and on a loaded CI machine the last request before came in after the count was taken (33 of 32)."""
    before, deadline = model_executions(http_port, model), time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = model_executions(http_port, model)
        if now == before:
            break
        before = now
    return before


def test_concurrent_headlines_of_different_lengths_share_the_models_executions(triton: tuple[TritonPorts, Path]):
    """Triton's batcher merges only requests of one shape unless the input allows ragged batches: headlines
    tokenized in different batches of the tokenizer step have different widths, and FinBERT ran once for each
    of them (32 executions for 32 such requests). Merged, each answer is still its own."""
    ports, _ = triton
    ids = [np.arange(1, n + 1, dtype=np.int64)[None, :] % 50 + 5 for n in range(2, 34)]  # 32 widths

    async def ask(concurrently: bool) -> list[Any]:
        backend = TritonBackend(f"127.0.0.1:{ports.grpc}", 30)
        calls = [backend.infer(FINBERT_MODEL, {"input_ids": x, "attention_mask": np.ones_like(x)}) for x in ids]
        try:
            return list(await asyncio.gather(*calls)) if concurrently else [await call for call in calls]
        finally:
            await backend.close()

    alone = asyncio.run(ask(concurrently=False))
    for _ in range(3):  # a client starved of CPU may send one burst one request at a time: try again
        runs, asked = settled_executions(ports.http, FINBERT_MODEL)
        answers = asyncio.run(ask(concurrently=True))
        after_runs, after_asked = model_executions(ports.http, FINBERT_MODEL)
        deadline = time.monotonic() + 10  # Triton counts a request once its answer is sent: not yet, at times (CI)
        while after_asked - asked < len(ids) and time.monotonic() < deadline:
            time.sleep(0.05)
            after_runs, after_asked = model_executions(ports.http, FINBERT_MODEL)
        for got, want in zip(answers, alone, strict=True):  # but for dynamic INT8's dependence on the batch
            np.testing.assert_allclose(got["logits"], want["logits"], atol=0.05)
        if after_runs - runs <= (after_asked - asked) // 4:
            break
    assert after_asked - asked == len(ids)
    assert after_runs - runs <= len(ids) // 4, after_runs - runs


def test_the_tokenizer_step_pads_to_a_multiple_of_16_tokens(triton: tuple[TritonPorts, Path]):
    """Few widths, for the gpu flavour's batcher (its graph cannot take ragged batches)."""
    ports, _ = triton

    assert [tokenized(ports, [text]).shape[1] for text in ("rates unchanged", " ".join(["shares"] * 20))] == [
        16,
        32,
    ]


def test_bench_backends_measures_both_backends_beside_a_running_triton(
    repository: Path, triton: tuple[TritonPorts, Path], tmp_path: Path
):
    """`investiq bench backends` as a user runs it, at its smallest sizes, while another Triton (the module's)
    is up: it starts its own on free ports (until 2026-12-06 on fixed ones, 18500-18502), and its table has
    each model, backend and concurrency with a ratio against the embedded backend."""
    out = tmp_path / "out"
    args = ["bench", "backends", "--repository", str(repository), "--concurrency", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "investiq", *args, "--seconds", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"INVESTIQ_CONFIG": "", "INVESTIQ_LOGS_DIR": str(tmp_path / "logs")},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads((out / "backends.json").read_text())["rows"]
    points = {(r["model"], r["backend"].split(" ")[0], r["clients"]) for r in rows}
    assert points == {(m, b, 2) for m in ("finbert", "patchtst") for b in ("embedded", "triton")}
    for row in rows:
        assert row["requests_per_s"] > 0 and 0 < row["p50_ms"] <= row["p99_ms"], row
    table = (out / "backends.md").read_text()
    assert table.count("x |") == 2 and "| finbert | 2 | triton (cpu flavour, gRPC) |" in table
    assert not (tmp_path / "logs" / "triton-bench" / "triton.pid").exists()  # its Triton stopped
