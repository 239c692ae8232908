"""Kill tests of a mutation audit of the inference backends (gateway/backends/triton.py, embedded.py,
providers.py): each fails with the mutant its docstring names applied, and passes on the code as it is. Fake
clients stand in for tritonclient (tests/ops/test_triton_review.py); no Triton server is started."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from gateway.backends import providers
from gateway.backends.embedded import EmbeddedBackend, on_cpu, warm_up_problem
from gateway.backends.providers import CPU, CUDA, TENSORRT, import_onnxruntime
from gateway.backends.triton import TritonBackend, _wire
from gateway.backends.triton_admin import GRPC_ADMIN_HEADER, admin_token, configured_token
from gateway.backends.triton_errors import MAX_DETAIL, brief, translate
from investiq.core.errors import (
    BackendUnavailableError,
    InvalidInputError,
    ModelNotReadyError,
    VersionMovedError,
)
from investiq.core.finbert import FINBERT, FINBERT_MODEL
from investiq.core.patchtst import PATCHTST, PROBABILITY_UP, QUANTILE_LEVELS, PatchTSTMeta
from tests.ops.test_triton_review import (
    DEADLINE,
    TEXT,
    UNAVAILABLE,
    UNLOADED,
    WINDOW,
    FakeClient,
    InferenceServerException,
    backend_with,
    loading,
)


class Pod:
    """One Triton server's client: serves the versions `versions` of every model, and answers an inference with
    `status`/`message` (None: answers)."""

    def __init__(self, versions: list[str], status: str | None = UNAVAILABLE, message: str = UNLOADED) -> None:
        self.versions, self.status, self.message = versions, status, message
        self.calls = 0

    async def infer(self, model: str, inputs: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.status:
            raise InferenceServerException(self.message, status=self.status)
        return SimpleNamespace(as_numpy=lambda name: np.zeros((1, 3), np.float32))

    async def get_model_metadata(self, model: str, as_json: bool, client_timeout: float) -> dict[str, Any]:
        return {"name": model, "versions": self.versions}

    async def close(self) -> None:
        pass


def backend_of(target: str, pods: dict[str, Any], timeout_s: float = 5.0) -> TritonBackend:
    """A backend on `target` whose channel to each address (the target: the balanced one) is `pods[address]`."""
    import tritonclient.grpc.aio as grpcclient

    backend = TritonBackend(target, timeout_s)
    backend._grpc = SimpleNamespace(
        InferenceServerClient=lambda address, **_: pods[address],
        InferInput=grpcclient.InferInput,
        InferRequestedOutput=grpcclient.InferRequestedOutput,
    )
    return backend


A, B = "127.0.0.1:8001", "127.0.0.1:8002"
TWO = f"ipv4:{A},{B}"


# ---- triton.py: pinned versions, and which version to follow


def test_an_unpinned_request_for_a_model_triton_does_not_serve_is_not_ready_not_a_moved_version():
    """Kills infer without `if version is None: raise`: a FinBERT request (never pinned) read "no longer serves
    version None" instead of "has no ready model"."""
    backend = backend_with(FakeClient(UNAVAILABLE, message=UNLOADED, versions=["2"]))
    with pytest.raises(ModelNotReadyError, match="has no ready model 'patchtst'") as info:
        asyncio.run(backend.infer(PATCHTST, WINDOW))
    assert not isinstance(info.value, VersionMovedError)


def test_a_moved_version_served_by_one_server_says_no_rollout_is_under_way():
    """Kills _moved's `serving is not None` as `is None`: a version replaced everywhere read "a rollout under way:
    send the request again", and servers that differ did not say so."""
    backend = backend_with(FakeClient(UNAVAILABLE, message=UNLOADED, versions=["2"]))
    with pytest.raises(VersionMovedError) as info:
        asyncio.run(backend.infer(PATCHTST, WINDOW, version=1))
    assert info.value.serving == 2 and "under way" not in str(info.value)
    differ = backend_of(TWO, {TWO: Pod([]), A: Pod(["2"]), B: Pod(["3"])})
    with pytest.raises(VersionMovedError, match="a rollout under way") as info:
        asyncio.run(differ.infer(PATCHTST, WINDOW, version=1))
    assert info.value.serving is None


def test_the_version_to_follow_is_the_newest_each_server_has_ready():
    """Kills _moved_from's `max` as `min`: a server with versions 2 and 3 ready was followed to 2."""
    backend = backend_with(FakeClient(versions=["3", "2"]))
    backend._channel = FakeClient(versions=["3", "2"])
    assert asyncio.run(backend.serving_version(PATCHTST, 1)) == 3


def test_a_version_still_ready_on_one_server_of_two_is_a_rollout_under_way():
    """Kills _moved_from's `all(version in ready ...)` as `any`: a forecast pinned to version 1, which one server
    still lists while the other serves 2, was a bare "has no ready model" instead of "a rollout under way"."""
    backend = backend_of(TWO, {TWO: Pod([]), A: Pod(["1"]), B: Pod(["2"])})
    with pytest.raises(VersionMovedError, match="a rollout under way") as info:
        asyncio.run(backend.infer(PATCHTST, WINDOW, version=1))
    assert info.value.serving is None


def test_a_moved_version_names_the_versions_a_server_serves_in_order():
    """Kills _versions without `sorted`: "it serves 3, 2 on ..." for a server with versions 2 and 3."""
    backend = backend_with(FakeClient(UNAVAILABLE, message=UNLOADED, versions=["3", "2"]))
    with pytest.raises(VersionMovedError, match=r"it serves 2, 3 on 127\.0\.0\.1:1"):
        asyncio.run(backend.infer(PATCHTST, WINDOW, version=1))


# ---- triton.py: sending, readiness, reloads


def test_a_call_that_found_triton_unreachable_past_its_deadline_is_not_sent_again():
    """Kills _send without `loop.time() >= deadline`: a call whose deadline had passed was sent again on a fresh
    channel, answering late instead of the 503 within the gateway's timeout."""

    class Late(FakeClient):
        async def infer(self, model: str, inputs: Any, **kwargs: Any) -> Any:
            self.calls.append(kwargs)
            await asyncio.sleep(0.06)  # the deadline passes meanwhile
            raise InferenceServerException("failed", status=UNAVAILABLE)

    late, fresh = Late(), FakeClient()
    with pytest.raises(BackendUnavailableError, match="is it running"):
        asyncio.run(backend_with(late, fresh, timeout_s=0.05).infer(FINBERT, TEXT))
    assert len(late.calls) == 1 and not fresh.calls


def test_a_call_is_sent_again_on_a_fresh_channel_once_even_after_another_server_was_tried():
    """Kills _send's `retried = retried or unreachable` as `retried = unreachable`: a second unreachable server
    after a draining one had it sent round again (a fourth call), past the one retry a call gets."""
    import tritonclient.grpc.aio as grpcclient

    down = "failed to connect to all addresses"
    balanced = iter([Pod([], UNAVAILABLE, down), Pod([])])  # the first channel down, the fresh one draining
    pods = {A: Pod([], None), B: Pod([], UNAVAILABLE, down)}
    backend = TritonBackend(TWO, 5.0)
    backend._grpc = SimpleNamespace(
        InferenceServerClient=lambda address, **_: next(balanced) if address == TWO else pods[address],
        InferInput=grpcclient.InferInput,
        InferRequestedOutput=grpcclient.InferRequestedOutput,
    )
    with pytest.raises(BackendUnavailableError, match="is it running"):
        asyncio.run(backend.infer(FINBERT, TEXT))
    assert (pods[A].calls, pods[B].calls) == (0, 1)


class Probe:
    """A readiness client of one server: ready, not ready, or unreachable (None); `reset` counts its failures."""

    def __init__(self, ready: bool | None) -> None:
        self.ready = ready

    async def is_server_ready(self, client_timeout: float) -> bool:
        if self.ready is None:
            raise InferenceServerException("failed to connect", status=UNAVAILABLE)
        return self.ready

    async def is_model_ready(self, model: str, client_timeout: float) -> bool:
        return await self.is_server_ready(client_timeout)

    async def close(self) -> None:
        pass


def ready_over(*states: bool | None) -> bool:
    """`ready` behind an ipv4: target of one server per state."""
    addresses = [f"127.0.0.{i + 1}:1" for i in range(len(states))]
    backend = backend_of(f"ipv4:{','.join(addresses)}", dict(zip(addresses, map(Probe, states), strict=True)))

    async def run() -> bool:
        try:
            return await backend.ready(PATCHTST)
        finally:
            await backend.close()

    return asyncio.run(run())


def test_behind_several_servers_ready_means_every_server_that_answers_and_at_least_one():
    """Kills ready's `bool(answered) and all(answered)` as `all(answered)` (no server answering: ready) or as
    `any` (one server of two unloaded: ready), and _ask's unreachable server as False (one pod gone: not ready,
    though the balanced channel sends it no calls)."""
    assert ready_over(True, True) is True
    assert ready_over(None, None) is False
    assert ready_over(True, False) is False
    assert ready_over(None, True) is True


def test_a_failed_readiness_check_gives_new_calls_a_fresh_channel():
    """Kills _ask without `await reset()`: after Triton restarted, the channel kept backing off its reconnects."""
    down = Probe(None)
    backend = backend_of("127.0.0.1:1", {"127.0.0.1:1": down})

    async def run() -> None:
        assert await backend.ready() is False
        assert backend._channel is None  # the next call makes a fresh one
        await backend.close()

    asyncio.run(run())


class Loader:
    """A server's client for load requests: fails with `message` (None: loads); records its kwargs and closing."""

    def __init__(self, message: str | None = None, status: str = "StatusCode.INTERNAL") -> None:
        self.message, self.status = message, status
        self.loads: list[dict[str, Any]] = []
        self.closed = False

    async def load_model(self, model: str, **kwargs: Any) -> None:
        self.loads.append(kwargs)
        if self.message is not None:
            raise InferenceServerException(self.message, status=self.status)

    async def close(self) -> None:
        self.closed = True


def test_a_reload_that_fails_on_one_server_of_two_is_an_error_naming_where_it_loaded():
    """Kills reload's `if failed` as `len(failed) > 1` (one pod of two refusing the version went unreported) and
    its `if loaded` note inverted (the servers serving different versions not said)."""
    pods = {A: Loader(), B: Loader("failed to load 'patchtst' version 2: no weights")}
    with pytest.raises(ModelNotReadyError, match=rf"no weights; loaded on {A}: the servers now serve different"):
        asyncio.run(backend_of(TWO, pods).reload(PATCHTST))
    both = {A: Loader("no weights"), B: Loader("no weights")}
    with pytest.raises(ModelNotReadyError) as info:
        asyncio.run(backend_of(TWO, both).reload(PATCHTST))
    assert "loaded on" not in str(info.value)


def test_a_load_closes_its_own_client_and_sends_the_admin_token_under_tritons_grpc_header():
    """Kills _load without `client.close()` (a channel left open per reload) and _admin sending the token under
    the HTTP header's name (Triton refused every reload: "expecting header 'triton-grpc-protocol-...'")."""
    loader = Loader()
    backend = backend_of("10.0.0.9:8001", {"10.0.0.9:8001": loader})
    backend._admin_token = "s3cret"
    asyncio.run(backend.reload(PATCHTST))
    assert loader.closed and loader.loads[0]["headers"] == {GRPC_ADMIN_HEADER: "s3cret"}


def test_a_load_refused_for_want_of_a_token_says_the_gateway_has_none(monkeypatch: pytest.MonkeyPatch):
    """Kills _load's `refusal(bool(admin))` as `refusal(True)`: a gateway without a token read that its token
    was the wrong one."""
    monkeypatch.delenv("TRITON_ADMIN_TOKEN", raising=False)
    refused = Loader("This protocol is restricted, expecting header 'triton-grpc-protocol-investiq-admin-token'")
    with pytest.raises(ModelNotReadyError, match="this gateway has none"):
        asyncio.run(backend_of("10.0.0.9:8001", {"10.0.0.9:8001": refused}).reload(PATCHTST))


def test_a_timed_out_load_reads_only_its_own_models_versions():
    """Kills _loaded_meanwhile without `m.get("name") == model`: another model's newer READY version was taken
    for this one's, and a load still under way was adopted as done."""
    other = {"name": PATCHTST, "version": "5", "state": "READY", "reason": ""}
    index = [*loading(("1", "READY", ""), ("2", "LOADING", "")), other]
    with pytest.raises(BackendUnavailableError, match=r"version 2 is loading \(serving: 1\)"):
        asyncio.run(backend_with(FakeClient(DEADLINE, index)).reload(FINBERT))


# ---- triton.py: which servers a target names


def servers_of(target: str, resolved: dict[str, list[str]]) -> list[str]:
    """`_servers` of `target`, the names in `resolved` resolving to its addresses (others: not at all)."""
    import socket

    async def run() -> list[str]:
        async def getaddrinfo(host: str, port: int, **_: Any) -> list[Any]:
            if host not in resolved:
                raise socket.gaierror(f"unknown {host}")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in resolved[host]]

        asyncio.get_running_loop().getaddrinfo = getaddrinfo  # type: ignore[method-assign, assignment]
        return await TritonBackend(target, 1.0)._servers(warn=False)

    return asyncio.run(run())


def test_an_ipv6_list_and_a_name_with_a_resolver_are_each_server_they_name():
    """Kills _lookup not splitting an "ipv6:" list (a reload reached one server), not reading the name of
    "dns://resolver/name:port" (a reload reached one of several pods), and not bracketing IPv6 addresses
    ("fd00::1:8001" is no address)."""
    assert servers_of("ipv6:[fd00::1]:8001,[fd00::2]:8001", {}) == ["[fd00::1]:8001", "[fd00::2]:8001"]
    pods = {"triton-pods": ["10.0.0.1", "10.0.0.2"]}
    assert servers_of("dns://10.96.0.10/triton-pods:8001", pods) == ["10.0.0.1:8001", "10.0.0.2:8001"]
    assert servers_of("dns:///triton6:8001", {"triton6": ["fd00::1", "fd00::2"]}) == [
        "[fd00::1]:8001",
        "[fd00::2]:8001",
    ]


def test_a_retired_channel_is_closed_only_after_the_calls_in_flight_had_their_timeout():
    """Kills _close_later without its sleep: a reset closed the old channel at once, cancelling the calls still
    in flight on it (a 500 instead of a 503)."""
    old = Loader()
    backend = backend_of("127.0.0.1:1", {"127.0.0.1:1": old}, timeout_s=5.0)

    async def run() -> None:
        assert backend._client is old
        await backend._reset()
        await asyncio.sleep(0.01)
        assert not old.closed
        await backend.close()  # cancels the wait: closed now
        assert old.closed

    asyncio.run(run())


# ---- triton.py: the wire, errors and tokens


def test_the_ensembles_text_goes_as_a_column_of_utf8_bytes():
    """Kills _wire sending TEXT as [batch] instead of [batch, 1] (Triton refused every headline)."""
    wired = _wire(FINBERT, "TEXT", np.array(["up", b"down"], dtype=object))
    assert wired.shape == (2, 1) and wired.tolist() == [[b"up"], [b"down"]]
    ids = np.zeros((1, 4), np.int64)
    assert _wire(FINBERT_MODEL, "input_ids", ids) is ids


class Failed(Exception):
    """tritonclient's InferenceServerException, as translate reads it."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self._status, self._message = status, message

    def status(self) -> str:
        return self._status

    def message(self) -> str:
        return self._message


URL = "127.0.0.1:8001"


def test_triton_refusing_a_call_for_want_of_a_token_is_not_a_server_down():
    """Kills unreachable without `refused(exc)`: a restricted call was answered "is it running?"."""
    restricted = Failed(UNAVAILABLE, "This protocol is restricted, expecting header 'triton-grpc-protocol-x'")
    assert "is it running" not in str(translate(restricted, FINBERT, URL, 1.0))


def test_a_connection_that_failed_is_triton_unavailable_whatever_its_status():
    """Kills unreachable without "failed to connect": a refused connection read "failed on 'finbert'"."""
    error = translate(Failed("", "failed to connect to all addresses"), FINBERT, URL, 1.0)
    assert "is it running?" in str(error)


def test_a_version_not_at_ready_state_is_a_model_not_ready():
    """Kills translate's words without "not at ready state": a 503 "failed on" instead of "has no ready model"."""
    error = translate(
        Failed("StatusCode.NOT_FOUND", "'patchtst' version 1 is not at ready state"), PATCHTST, URL, 1
    )
    assert isinstance(error, ModelNotReadyError) and "has no ready model" in str(error)


def test_only_an_invalid_argument_blames_the_batch_setting_or_the_client():
    """Kills translate's batch check without its INVALID_ARG status (an internal error named the batch settings)
    and its 422 reading INVALID_ARG in the message (every refused input a 503)."""
    internal = translate(Failed("StatusCode.INTERNAL", "batch-size must be <= 16, got 20"), FINBERT, URL, 1.0)
    assert "sentiment_batch_size" not in str(internal)
    invalid = translate(Failed("StatusCode.INVALID_ARGUMENT", "unexpected shape [1,7]"), FINBERT, URL, 1.0)
    assert isinstance(invalid, InvalidInputError)


def test_a_message_of_exactly_max_detail_characters_is_kept_whole(caplog: pytest.LogCaptureFixture):
    """Kills brief's `len(short) > MAX_DETAIL` as `>=`: a message at the limit lost its end to "..."."""
    message = "x" * MAX_DETAIL
    with caplog.at_level(logging.WARNING, logger="gateway.backends.triton_errors"):
        assert brief(message, FINBERT) == message
    assert not caplog.records


def test_the_admin_token_comes_from_the_environment_and_a_local_triton_at_the_ipv6_loopback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """Kills admin_token and configured_token without TRITON_ADMIN_TOKEN (a deployment's token never sent), and
    port_here without "::1" (a Triton this process started at [::1] got no token)."""
    from gateway.backends import triton_admin

    monkeypatch.setenv("TRITON_ADMIN_TOKEN", "from-env")
    assert admin_token("10.0.0.9:8001") == "from-env"
    assert configured_token("10.0.0.9:8001", tmp_path) == "from-env"
    monkeypatch.delenv("TRITON_ADMIN_TOKEN")
    monkeypatch.setitem(triton_admin.LOCAL_TOKENS, 8123, "local")
    assert admin_token("[::1]:8123") == "local"


# ---- embedded.py


def outputs_with(meta: PatchTSTMeta, p_up: float) -> dict[str, Any]:
    """One window's outputs of the contract's shapes, P(up) `p_up` everywhere."""
    from gateway.backends.embedded import output_shapes

    return {
        name: np.full(shape, p_up if name == PROBABILITY_UP else 0.0, np.float32)
        for name, shape in output_shapes(meta, 1).items()
    }


def test_a_warm_up_p_up_of_exactly_0_or_1_serves_and_one_outside_is_refused():
    """Kills warm_up_problem's `p <= 1` as `< 1` (a graph sure of a rise refused) and without `p >= 0` (a graph
    answering P(up) -0.2 served)."""
    meta = PatchTSTMeta(
        "w", 8, 2, "1d", "log_return", ["X"], "s", "2020-01-01", quantile_levels=[*QUANTILE_LEVELS]
    )
    assert warm_up_problem(outputs_with(meta, 1.0), meta) is None
    assert warm_up_problem(outputs_with(meta, 0.0), meta) is None
    assert "outside [0, 1]" in str(warm_up_problem(outputs_with(meta, -0.2), meta))
    broken = outputs_with(meta, 0.5) | {PROBABILITY_UP: np.full((1, 2), np.nan, np.float32)}
    assert warm_up_problem(broken, meta) == f"non-finite values in {PROBABILITY_UP}"


def test_a_session_of_another_engine_runs_on_the_cpu():
    """Kills on_cpu calling a session without get_providers (OpenVINO's) not on the CPU: FinBERT on OpenVINO
    stopped planning its passes by length."""
    assert on_cpu(object()) is True
    assert on_cpu(SimpleNamespace(get_providers=lambda: [CUDA, CPU])) is False


def test_an_empty_embedded_backend_serves_nothing_reloads_only_patchtst_and_is_empty_once_closed(tmp_path: Path):
    """Kills ready(model) answering True for any model, reload accepting FinBERT (a traceback instead of "restart
    it"), and close keeping the sessions."""
    backend = EmbeddedBackend(tmp_path / "repo", providers=[CPU])

    async def run() -> None:
        assert await backend.ready() is False and await backend.ready(PATCHTST) is False
        with pytest.raises(ModelNotReadyError, match="reloads only patchtst"):
            await backend.reload(FINBERT)
        await backend.close()

    asyncio.run(run())


def test_both_models_are_listed_answer_bytes_as_text_and_none_once_closed(both_models: Path):
    """Kills models without finbert_model (its requests a 503), TEXT given as bytes scored as "b'...'", and close
    keeping the sessions (models still listed after)."""
    backend = EmbeddedBackend(both_models, providers=[CPU])

    async def run() -> None:
        assert backend.models == [FINBERT, FINBERT_MODEL, PATCHTST]
        assert await backend.ready(FINBERT_MODEL) is True
        text = await backend.infer(FINBERT, {"TEXT": np.array(["Profits soar"], dtype=object)})
        raw = await backend.infer(FINBERT, {"TEXT": np.array([b"Profits soar"], dtype=object)})
        np.testing.assert_array_equal(text["probabilities"], raw["probabilities"])
        await backend.close()
        assert backend.models == []

    asyncio.run(run())


def test_a_gpu_provider_that_did_not_start_still_plans_finbert_passes(both_models: Path):
    """Kills the backend's `plans_finbert_passes = on_cpu(session)`: asked for CUDA on a host where it did not
    start, FinBERT ran on the CPU without planning its passes (every burst padded to its longest text)."""
    if CUDA in import_onnxruntime().get_available_providers():
        pytest.skip("this ONNX Runtime has CUDA")
    backend = EmbeddedBackend(both_models, providers=[CUDA, CPU])
    try:
        assert backend.plans_finbert_passes is True
    finally:
        asyncio.run(backend.close())


# ---- providers.py


def test_tensorrt_keeps_its_engines_and_timing_cache_under_the_models_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Kills choose without the timing cache's options (TensorRT re-timed every kernel at each start) and
    session_providers ignoring models_dir or not making the cache directory (engines rebuilt at each restart)."""
    gpu_build = SimpleNamespace(get_available_providers=lambda: [TENSORRT, CUDA, CPU])  # onnxruntime-gpu
    monkeypatch.setattr(providers, "import_onnxruntime", lambda: gpu_build)
    cache = tmp_path / "models" / "tensorrt"
    chosen = providers.session_providers("tensorrt", tmp_path / "models")
    assert chosen == [
        (
            TENSORRT,
            {
                "trt_engine_cache_enable": "True",
                "trt_timing_cache_enable": "True",
                "trt_engine_cache_path": str(cache),
                "trt_timing_cache_path": str(cache),
            },
        ),
        CUDA,
        CPU,
    ]
    assert cache.is_dir()
