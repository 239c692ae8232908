"""Readiness with several Triton servers behind one target (a headless Service: one address per pod), two real
tritonservers (nvidia-pytriton, cpu flavour) here: the balanced channel asked one server per check, so with a
model unloaded on one of them investiq_backend_ready, /price/health and /health flapped between ready and not
(here, before the fix: [False, True, False, True, ...] for the one model over 8 checks of one backend, while
every other request for it failed), and the alert on `== 0 for 2m` never fired. Each server is asked now, and
the model is ready only where every server that answers serves it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gateway.backends.triton import TritonBackend
from gateway.backends.triton_admin import GRPC_ADMIN_HEADER, LOCAL_TOKENS
from harness import standin_finbert
from harness.processes import start_triton
from investiq.core.errors import ModelNotReadyError
from investiq.core.finbert import FINBERT
from investiq.core.ports import free_port
from investiq.ops.triton_server import TritonPorts, missing, ready, stop

if (reason := missing()) is not None:  # the `triton` extra, in .venv-triton (numpy<2) or here
    pytest.skip(reason, allow_module_level=True)
CHECKS = 8  # per target: with one of two servers asked per check, both were asked within 2 (round robin)


def repository(root: Path) -> Path:
    """A stand-in FINBERT (a python model): what is tested is its readiness, not its answers."""
    return standin_finbert.repository(root / "repo")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[TritonPorts]]:
    """Two tritonservers on the same repository; FINBERT is unloaded on the second (explicit model control)."""
    root = tmp_path_factory.mktemp("two-tritons")
    repo = repository(root)
    started: list[tuple[TritonPorts, Path]] = []
    try:
        for i in range(2):
            work = root / f"work{i}"
            _, ports = start_triton(repo, work)
            started.append((ports, work))
        yield [ports for ports, _ in started]
    finally:
        for _, work in started:
            stop(work)


def unload(ports: TritonPorts, model: str) -> None:
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(f"127.0.0.1:{ports.grpc}")
    admin = {GRPC_ADMIN_HEADER: LOCAL_TOKENS[ports.grpc]}
    try:
        client.unload_model(model, headers=admin)  # the model-repository API wants the admin token
    finally:
        client.close()


def checks(target: str, model: str | None) -> list[bool]:
    """CHECKS readiness answers of one backend (one channel, as the gateway keeps) for `model`."""

    async def run() -> list[bool]:
        backend = TritonBackend(target, 10.0)
        try:
            return [await backend.ready(model) for _ in range(CHECKS)]
        finally:
            await backend.close()

    return asyncio.run(run())


def test_a_model_is_ready_only_where_every_server_behind_the_target_serves_it(servers: list[TritonPorts]):
    first, second = servers
    both = f"ipv4:127.0.0.1:{first.grpc},127.0.0.1:{second.grpc}"
    assert checks(both, FINBERT) == [True] * CHECKS  # both serve it
    unload(second, FINBERT)
    for _ in range(200):  # the unload is asynchronous: wait until the second says so itself (at most ~10 s)
        if not ready(second, FINBERT):
            break
        asyncio.run(asyncio.sleep(0.05))
    assert ready(first, FINBERT) and not ready(second, FINBERT)
    # before: [False, True, False, True, ...], the server the balanced channel picked for each check
    assert checks(both, FINBERT) == [False] * CHECKS
    assert checks(both, None) == [True] * CHECKS  # both servers answer: only the model is missing on one
    # one server per target: the balanced channel itself, as before
    assert checks(f"127.0.0.1:{first.grpc}", FINBERT) == [True] * CHECKS
    assert checks(f"127.0.0.1:{second.grpc}", FINBERT) == [False] * CHECKS


def test_an_address_that_refuses_connections_is_left_out_as_the_channel_leaves_it_out(servers: list[TritonPorts]):
    """round_robin sends calls only to the servers it is connected to: with one address refusing, every call
    is answered by the other, so the model is ready (not "its requests fail"); with none answering it is not."""
    first, _ = servers
    refused = f"127.0.0.1:{free_port()}"
    target = f"ipv4:127.0.0.1:{first.grpc},{refused}"
    assert checks(target, FINBERT) == [True] * CHECKS

    async def answered() -> int:
        backend = TritonBackend(target, 10.0)
        try:
            text = {"TEXT": np.array([["rates unchanged"]], dtype=object)}
            results = await asyncio.gather(
                *(backend.infer(FINBERT, text) for _ in range(CHECKS)), return_exceptions=True
            )
            return sum(not isinstance(r, BaseException) for r in results)
        finally:
            await backend.close()

    assert asyncio.run(answered()) == CHECKS
    assert checks(f"ipv4:{refused},127.0.0.1:{free_port()}", None) == [False] * CHECKS


def load(ports: TritonPorts, model: str) -> None:
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(f"127.0.0.1:{ports.grpc}")
    admin = {GRPC_ADMIN_HEADER: LOCAL_TOKENS[ports.grpc]}
    try:
        client.load_model(model, headers=admin)
    finally:
        client.close()


def test_a_request_a_server_answers_it_does_not_serve_is_answered_by_the_other(servers: list[TritonPorts]):
    """A server draining (SIGTERM) keeps its port open and answers "Request for unknown model: 'finbert' has no
    available versions" for 1-3 s: 90 of 1,658 requests got that 503 while the other server was ready (an
    audit). Here the model is unloaded on one server of two, as a draining one has it: every request is
    answered, the other server asked where the first answer was Triton's; one server asked alone answers 503."""
    first, second = servers
    unload(second, FINBERT)
    try:
        for _ in range(200):  # the unload is asynchronous (at most ~10 s)
            if not ready(second, FINBERT):
                break
            asyncio.run(asyncio.sleep(0.05))
        text = {"TEXT": np.array([["rates unchanged"]], dtype=object)}

        async def answers(target: str) -> list[BaseException | None]:
            """The errors of CHECKS calls one after another (the first raises), then of CHECKS at once."""
            backend = TritonBackend(target, 10.0)
            try:
                one_by_one = [await backend.infer(FINBERT, text) for _ in range(CHECKS)]
                at_once = await asyncio.gather(
                    *(backend.infer(FINBERT, text) for _ in range(CHECKS)), return_exceptions=True
                )
                return [None for _ in one_by_one] + [r if isinstance(r, BaseException) else None for r in at_once]
            finally:
                await backend.close()

        both = f"ipv4:127.0.0.1:{first.grpc},127.0.0.1:{second.grpc}"
        assert asyncio.run(answers(both)) == [None] * 2 * CHECKS  # before: about half failed
        with pytest.raises(ModelNotReadyError, match="Request for unknown model: 'finbert' has no available"):
            asyncio.run(answers(f"127.0.0.1:{second.grpc}"))
    finally:  # as the module's servers were
        load(second, FINBERT)
