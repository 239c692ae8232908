"""The Triton backend and the local server under the failures a review found against the pip tritonserver:
a reload cancelled by another call's channel reset (a bare 500), a load timeout that left the gateway on the old
version's metadata, a burst of 503s after Triton restarted, timeouts worded as "is it running?" and run on
Triton all the same, and `investiq triton start|status` calling a server ready whose models all failed to load.

Fake clients stand in for tritonclient where what is tested is the backend's own logic; the stand-in FinBERT
(harness/standin_finbert.py) on a real tritonserver where it is how gRPC and Triton behave."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from google.protobuf import text_format

import gateway.backends.triton as triton_backend
from gateway.backends.triton import TritonBackend
from gateway.services.models import ModelsService
from harness import standin_finbert
from harness.processes import start_triton
from investiq.cli.main import main
from investiq.core.errors import BackendUnavailableError, ModelNotReadyError
from investiq.core.finbert import FINBERT
from investiq.core.patchtst import PATCHTST, QUANTILE_LEVELS, PatchTSTMeta
from investiq.core.versions import version_dir
from investiq.ops.triton_server import TritonPorts, missing, running, start, stop

InferenceServerException = pytest.importorskip("tritonclient.utils").InferenceServerException
model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")
needs_triton = pytest.mark.skipif(missing() is not None, reason=str(missing()))
ROOT = Path(__file__).resolve().parents[2]
TEXT = {"TEXT": np.array([["rates unchanged"]], dtype=object)}
UNAVAILABLE = "StatusCode.UNAVAILABLE"
DEADLINE = "StatusCode.DEADLINE_EXCEEDED"
MODEL = "class TritonPythonModel:\n    def initialize(self, args):\n"  # a python model's start-up, to go on


class FakeClient:
    """A tritonclient.grpc.aio client whose calls fail with `status` (None: answer)."""

    def __init__(
        self,
        status: str | None = None,
        index: list[dict[str, str]] | None = None,
        message: str = "failed",
        versions: list[str] | None = None,
    ) -> None:
        self.status, self.index, self.message, self.versions = status, index or [], message, versions or []
        self.calls: list[dict[str, Any]] = []

    async def infer(self, model: str, inputs: Any, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        await asyncio.sleep(0)  # the calls of a burst are all under way before the first fails
        if self.status:
            raise InferenceServerException(self.message, status=self.status)
        return SimpleNamespace(as_numpy=lambda name: np.zeros((1, 3), np.float32))

    async def load_model(self, model: str, client_timeout: float) -> None:
        raise InferenceServerException("Deadline Exceeded", status=self.status)

    async def get_model_repository_index(self, as_json: bool, client_timeout: float) -> dict[str, Any]:
        return {"models": self.index}

    async def get_model_metadata(self, model: str, as_json: bool, client_timeout: float) -> dict[str, Any]:
        return {"name": model, "versions": self.versions}

    async def close(self) -> None:
        pass


def backend_with(*clients: FakeClient, timeout_s: float = 0.5) -> TritonBackend:
    """A backend whose channels are `clients`, in the order it makes them."""
    import tritonclient.grpc.aio as grpcclient

    backend = TritonBackend("127.0.0.1:1", timeout_s)
    made = iter(clients)
    backend._grpc = SimpleNamespace(
        InferenceServerClient=lambda *_, **__: next(made),
        InferInput=grpcclient.InferInput,
        InferRequestedOutput=grpcclient.InferRequestedOutput,
    )
    return backend


def test_a_burst_that_finds_the_channel_down_is_sent_again_on_one_fresh_channel():
    """After a restart of Triton every call of a burst on the old channel (in its reconnect backoff) got a 503:
    each is sent once more, on the one fresh channel the first failure swapped in."""
    old, fresh, spare = FakeClient(UNAVAILABLE), FakeClient(), FakeClient()
    backend = backend_with(old, fresh, spare)

    async def burst() -> list[Any]:
        return list(
            await asyncio.gather(*(backend.infer(FINBERT, TEXT) for _ in range(8)), return_exceptions=True)
        )

    results = asyncio.run(burst())
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert len(old.calls) == 8 and len(fresh.calls) == 8 and not spare.calls


def test_a_call_is_sent_again_at_most_once():
    backend = backend_with(FakeClient(UNAVAILABLE), FakeClient(UNAVAILABLE), FakeClient())
    with pytest.raises(BackendUnavailableError, match="is it running"):
        asyncio.run(backend.infer(FINBERT, TEXT))


def test_a_timeout_says_so_keeps_the_channel_and_sets_the_calls_deadline_only():
    """It read "unavailable ...; is it running?" and swapped the channel. The deadline is gRPC's alone: a
    per-request `timeout` put Triton 2.51's batcher into ~500 ms stalls under load."""
    slow = FakeClient(DEADLINE)
    backend = backend_with(slow, timeout_s=0.5)
    with pytest.raises(BackendUnavailableError, match=r"did not answer for 'finbert': timed out after 0.5 s"):
        asyncio.run(backend.infer(FINBERT, TEXT))
    assert backend._channel is slow  # not reset
    (call,) = slow.calls
    assert 0 < call["client_timeout"] <= 0.5 and "timeout" not in call


def test_a_request_triton_dropped_from_its_queue_is_a_timeout_too():
    """An operator's queue policy rejects a request past its timeout with UNAVAILABLE: not a server to reconnect
    to."""
    dropped = FakeClient(UNAVAILABLE, message="Request timeout expired")
    backend = backend_with(dropped, FakeClient(), timeout_s=0.5)
    with pytest.raises(BackendUnavailableError, match=r"timed out after 0\.5 s"):
        asyncio.run(backend.infer(FINBERT, TEXT))
    assert backend._channel is dropped and len(dropped.calls) == 1


UNLOADED = "Request for unknown model: 'patchtst' version 1 is not at ready state"  # Triton 2.51's words
WINDOW = {"past_values": np.zeros((1, 8, 1), np.float32)}


def test_a_version_triton_unloaded_is_named_as_moved_not_as_a_server_down():
    """Triton answers a request for a version it unloaded with UNAVAILABLE, as it does a dropped connection: the
    backend reset its channel, sent it again and answered "is it running?", and a gateway pinned to the version
    another gateway had replaced never learnt which one serves (a review). One call, the channel kept, and the
    version the server serves now."""
    from investiq.core.errors import VersionMovedError

    unloaded = FakeClient(UNAVAILABLE, message=UNLOADED, versions=["2"])
    backend = backend_with(unloaded, FakeClient())
    with pytest.raises(
        VersionMovedError, match=r"no longer serves version 1 of 'patchtst'.*it serves 2 on"
    ) as info:
        asyncio.run(backend.infer(PATCHTST, WINDOW, version=1))
    assert info.value.serving == 2 and info.value.status_code == 503
    assert backend._channel is unloaded and [c["model_version"] for c in unloaded.calls] == ["1"]
    with pytest.raises(
        ModelNotReadyError, match="has no ready model 'patchtst'"
    ):  # not pinned: not "is it running"
        asyncio.run(backend_with(FakeClient(UNAVAILABLE, message=UNLOADED)).infer(PATCHTST, WINDOW))


def test_the_version_to_follow_is_one_only_when_the_one_read_is_gone_from_every_server():
    """/price/health follows by the rule pinned forecasts do: while another gateway's load has both versions ready,
    it moved this gateway early (a review); servers that differ, or none answering, name none either."""

    def follows(*served: list[str]) -> int | None:
        backend = TritonBackend(f"ipv4:{','.join(f'127.0.0.{i + 1}:1' for i in range(len(served)))}", 0.5)
        clients = iter([FakeClient(versions=v) for v in served])
        backend._probe = lambda server: next(clients)  # type: ignore[method-assign]
        if len(served) == 1:
            backend._channel = FakeClient(versions=served[0])
        return asyncio.run(backend.serving_version(PATCHTST, 1))

    assert follows(["1", "2"]) is None and follows(["1"]) is None and follows([]) is None
    assert follows(["2"]) == 2 and follows(["2"], ["2"]) == 2
    assert follows(["2"], ["3"]) is None and follows(["2"], ["1"]) is None


def loading(*states: tuple[str, str, str]) -> list[dict[str, str]]:
    """A repository index of FINBERT's versions: (version, state, reason)."""
    return [{"name": FINBERT, "version": v, "state": s, "reason": r} for v, s, r in states]


def test_a_load_that_timed_out_is_adopted_when_triton_finished_it_meanwhile():
    index = loading(("1", "UNLOADING", ""), ("2", "READY", ""))
    asyncio.run(backend_with(FakeClient(DEADLINE, index)).reload(FINBERT))  # returns: version 2 serves


def test_a_load_that_timed_out_and_failed_is_a_failed_load():
    index = loading(("1", "READY", ""), ("2", "UNAVAILABLE", "Internal: RuntimeError: no weights\n\nAt: ..."))
    with pytest.raises(ModelNotReadyError, match="could not load 'finbert': Internal: RuntimeError: no weights"):
        asyncio.run(backend_with(FakeClient(DEADLINE, index)).reload(FINBERT))


def test_a_load_that_timed_out_and_goes_on_says_so():
    index = loading(("1", "READY", ""), ("2", "LOADING", ""))
    expected = r"timed out after 120 s: version 2 is loading \(serving: 1\).*reload again then"
    with pytest.raises(BackendUnavailableError, match=expected):
        asyncio.run(backend_with(FakeClient(DEADLINE, index)).reload(FINBERT))


def test_a_reload_not_known_to_have_loaded_is_a_503_naming_the_version(tmp_path: Path):
    """A BackendUnavailableError from the backend's reload went through ModelsService as it was: the answer did
    not say which version or that the gateway keeps the one before."""
    meta = PatchTSTMeta(
        "w1", 8, 2, "1d", "log_return", ["X"], "s", "2020-01-01", quantile_levels=[*QUANTILE_LEVELS]
    )
    version_dir(tmp_path, PATCHTST, 1).mkdir(parents=True)
    meta.save(version_dir(tmp_path, PATCHTST, 1))

    class Slow:
        async def reload(self, model: str) -> None:
            raise BackendUnavailableError("Triton at x did not finish loading 'patchtst': timed out after 120 s")

    service = ModelsService(Slow(), tmp_path, price=None)  # type: ignore[arg-type]
    with pytest.raises(BackendUnavailableError, match="version 1 of patchtst is not known to serve") as info:
        asyncio.run(service.reload(PATCHTST))
    assert info.value.status_code == 503 and "keeps the version it served before" in str(info.value)


def committed_configs() -> list[Path]:
    repo = ROOT / "model_repository"
    return sorted([*repo.glob("*/config.pbtxt"), *repo.glob("*/configs/*.pbtxt")])


@pytest.mark.parametrize("path", committed_configs(), ids=lambda p: str(p.relative_to(ROOT / "model_repository")))
def test_no_dynamic_batcher_has_a_queue_policy_with_timeouts(path: Path):
    """Request timeouts in Triton 2.51's dynamic batcher (a default_queue_policy, or one a request overrides)
    stalled it ~500 ms at a time under load: PatchTST through the cpu flavour at 16 clients, p99 16 -> 515 ms and
    1,380 -> 700-990 requests/s (a known Triton defect, triton-inference-server/server#8870 describes its
    mechanism). Requests the gateway gave up on are cancelled by gRPC's deadline instead."""
    config = text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())
    assert not config.dynamic_batching.HasField("default_queue_policy"), path
    assert not config.dynamic_batching.priority_queue_policy, path


# A real tritonserver: the stand-in FinBERT, and a model that fails to load.


def repository(root: Path) -> Path:
    repo = standin_finbert.repository(root / "repo")
    broken = repo / "broken"
    (broken / "1").mkdir(parents=True)
    (broken / "1" / "model.py").write_text(f"{MODEL}        raise RuntimeError('no weights here')\n")
    (broken / "config.pbtxt").write_text((repo / FINBERT / "config.pbtxt").read_text().replace(FINBERT, "broken"))
    return repo


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TritonPorts, Path, Path]]:
    """A tritonserver on `repository`: (ports, work directory, repository)."""
    if (reason := missing()) is not None:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("triton-review")
    work, repo = root / "work", repository(root)
    _, ports = start_triton(repo, work)
    yield ports, work, repo
    stop(work)


@needs_triton
def test_a_reload_outlives_a_reset_of_the_shared_channel(server: tuple[TritonPorts, Path, Path]):
    """A reload ran on the shared channel: a readiness check that timed out meanwhile reset it, which closed it
    (after the timeout) and cancelled the load; POST /admin/models/{name}/reload answered a bare 500."""
    ports, work, _ = server
    pid = running(work)
    assert pid is not None

    async def scenario() -> None:
        backend = TritonBackend(f"127.0.0.1:{ports.grpc}", 0.2)
        try:
            assert await backend.ready(FINBERT)  # the shared channel, connected
            os.kill(pid, signal.SIGSTOP)  # Triton hangs: calls time out
            try:
                load = asyncio.create_task(backend.reload(FINBERT))
                await asyncio.sleep(0.1)
                assert not await backend.ready(None)  # timed out: the shared channel is reset
                await asyncio.sleep(0.5)  # and closed, once its calls had their 0.2 s
            finally:
                os.kill(pid, signal.SIGCONT)
            await load  # before: CancelledError
        finally:
            await backend.close()

    asyncio.run(scenario())


@needs_triton
def test_a_load_slower_than_its_timeout_says_what_triton_does_meanwhile(
    server: tuple[TritonPorts, Path, Path], monkeypatch: pytest.MonkeyPatch
):
    """It answered "unavailable ...; is it running?", and Triton went on to serve the new version under the
    gateway's metadata of the old one. Now the answer says Triton is still loading it, and which one serves."""
    ports, _, repo = server
    slow = repo / FINBERT / "2"
    shutil.copytree(repo / FINBERT / "1", slow)
    model = slow / "model.py"
    model.write_text(model.read_text().replace("class TritonPythonModel:\n", f"{MODEL}        time.sleep(2)\n"))
    monkeypatch.setattr(triton_backend, "LOAD_TIMEOUT_S", 0.2)

    async def scenario() -> None:
        # the load times out (LOAD_TIMEOUT_S); the index asked after it has 1 s, not 0.2 s: Triton answers it while
        # it spawns version 2's stub, which on a busy machine can take longer than 0.2 s
        backend = TritonBackend(f"127.0.0.1:{ports.grpc}", 1.0)
        client = backend._client
        try:
            with pytest.raises(BackendUnavailableError, match=r"version 2 is loading \(serving: 1\)"):
                await backend.reload(FINBERT)
            for _ in range(300):  # Triton goes on: ready within ~2 s (at most 30 s on a busy machine)
                if await client.is_model_ready(FINBERT, "2"):
                    break
                await asyncio.sleep(0.1)
        finally:  # version 1 again, for the tests after (removed while loading, version 2 held up Triton's exit)
            shutil.rmtree(slow)
            monkeypatch.setattr(triton_backend, "LOAD_TIMEOUT_S", 60.0)
            await backend.reload(FINBERT)
            await backend.close()

    asyncio.run(scenario())


def settings_file(tmp_path: Path, repo: Path, ports: TritonPorts) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"model_repository: {repo}\nlogs_dir: {tmp_path / 'logs'}\ntriton_url: 127.0.0.1:{ports.grpc}\n"
        f"triton_http_port: {ports.http}\ntriton_metrics_port: {ports.metrics}\n"
    )
    return config


@needs_triton
def test_start_and_status_name_the_models_that_failed_to_load(
    server: tuple[TritonPorts, Path, Path], tmp_path: Path
):
    """`triton start` printed "Triton ready" and `triton status` exited 0 with every model failed to load."""
    _, _, repo = server
    config = settings_file(tmp_path, repo, TritonPorts.free())
    log = tmp_path / "logs" / "triton" / "triton.log"

    def cli(*args: str) -> Any:
        return CliRunner().invoke(main, ["triton", *args, "--config", str(config)])

    started = cli("start")
    try:
        assert started.exit_code == 0, started.output
        assert f"1 model(s) failed to load and do not serve (see {log})" in started.output
        assert "  broken: Internal: RuntimeError: no weights here\n" in started.output
        status = cli("status")
        assert status.exit_code == 1, status.output
        assert '"broken": false' in status.output and f'"{FINBERT}": true' in status.output
        assert "no weights here" in status.output
    finally:
        assert cli("stop").exit_code == 0
    assert cli("status").exit_code == 1


@needs_triton
def test_a_burst_right_after_triton_restarts_is_answered(server: tuple[TritonPorts, Path, Path], tmp_path: Path):
    """The old channel was in its reconnect backoff: every call of the burst got a 503 (the first failure swapped
    in a fresh channel, for the calls after the burst)."""
    _, _, repo = server
    work = tmp_path / "work"

    async def infer(backend: TritonBackend, n: int) -> list[Any]:
        return list(
            await asyncio.gather(*(backend.infer(FINBERT, TEXT) for _ in range(n)), return_exceptions=True)
        )

    async def scenario() -> list[Any]:
        backend = TritonBackend(f"127.0.0.1:{ports.grpc}", 10.0)
        try:
            assert not [r for r in await infer(backend, 1) if isinstance(r, BaseException)]
            stop(work)
            await asyncio.sleep(1.0)
            start(repo, ports, work)
            return await infer(backend, 8)
        finally:
            await backend.close()

    _, ports = start_triton(repo, work)  # scenario's restart keeps them: its channel knows them
    try:
        results = asyncio.run(scenario())
    finally:
        stop(work)
    assert not [r for r in results if isinstance(r, BaseException)], results


def test_start_on_a_missing_repository_is_refused_at_once(tmp_path: Path):
    """Triton started on a missing repository, could not read it, and was waited on for 120 s before a generic
    "not ready" (a review): refused before it starts, naming the setting. An empty one still starts (the gateway
    then serves the Bayesian weights and the lexicon: tests/ops/test_service.py)."""
    from investiq.ops.triton_server import TritonError

    with pytest.raises(TritonError, match="is not a folder; point the setting model_repository at one"):
        start(tmp_path / "model_repository", TritonPorts.free(), tmp_path / "work", wait_s=600)
    assert not (tmp_path / "work").exists()
