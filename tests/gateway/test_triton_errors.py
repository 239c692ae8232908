"""What the agent reads when Triton fails: Triton's reason, not a python backend's whole traceback."""

from __future__ import annotations

import logging

import pytest

from gateway.backends.triton_errors import MAX_DETAIL, brief

TRACEBACK = (
    "Failed to process the request(s) for model 'patchtst_0_0', message: Traceback (most recent call last):\n"
    '  File "/models/patchtst/1/model.py", line 41, in execute\n'
    "    outputs = self._run(windows)\n"
    '  File "/opt/openvino/runtime.py", line 7, in _run\n'
    "    return self._request.infer(inputs)\n"
    "RuntimeError: Can't set the input tensor with name: past_values, because the model input (shape=[?,512,1]) "
    "and the tensor (shape=(1.64.1)) are incompatible\n"
)


def test_a_traceback_is_cut_to_where_it_failed_and_the_error_and_logged_whole(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING, logger="gateway.backends.triton_errors"):
        short = brief(TRACEBACK, "patchtst")
    assert short == (
        "Failed to process the request(s) for model 'patchtst_0_0', message: RuntimeError: Can't set the input "
        "tensor with name: past_values, because the model input (shape=[?,512,1]) and the tensor (shape=(1.64.1)) "
        "are incompatible"
    )
    assert "File " not in short and "line 41" in caplog.text  # the whole message is in the gateway's log


def test_a_plain_message_stays_and_a_long_one_is_bounded():
    assert brief("Request for unknown model: 'patchtst' is not found", "patchtst") == (
        "Request for unknown model: 'patchtst' is not found"
    )
    long = brief("x" * 5000, "patchtst")
    assert len(long) == MAX_DETAIL and long.endswith("...")


def test_a_reload_goes_to_each_server_a_target_names():
    """A dns: name with several addresses (a headless Service) is every pod; host:port is one server, even
    where localhost resolves to 127.0.0.1 and ::1."""
    import asyncio

    from gateway.backends.triton import TritonBackend

    def servers(url: str) -> list[str]:
        return asyncio.run(TritonBackend(url, 1.0)._servers())

    assert servers("ipv4:10.0.0.1:8001,10.0.0.2:8001") == ["10.0.0.1:8001", "10.0.0.2:8001"]
    assert servers("localhost:8001") == ["localhost:8001"]
    assert servers("dns:///127.0.0.1:8001") == ["dns:///127.0.0.1:8001"]  # one address: the target itself


def test_the_balanced_channel_follows_the_servers_the_name_resolves_to(monkeypatch: pytest.MonkeyPatch):
    """gRPC re-resolves a name only when a connection drops: after a rolling restart of the Triton pods, the one
    ready last never got a call (a review). A readiness check that finds other servers gives new calls a fresh
    channel; the same servers keep the one there."""
    import asyncio

    from gateway.backends.triton import TritonBackend

    async def run() -> None:
        backend = TritonBackend("dns:///triton-pods:8001", 0.5)
        names = ["127.0.0.1:9", "127.0.0.2:9"]

        async def servers(warn: bool) -> list[str]:
            return list(names)

        monkeypatch.setattr(backend, "_lookup", servers)
        await backend.ready()
        first = backend._client
        await backend.ready()
        assert backend._client is first  # the same servers: the same channel
        names[1] = "127.0.0.3:9"  # a pod replaced
        await backend.ready()
        assert backend._client is not first
        second = backend._client
        names.append("127.0.0.4:9")  # a pod added
        await backend.ready()
        assert backend._client is not second
        third = backend._client

        async def unresolvable(warn: bool) -> list[str] | None:  # a DNS server restarting: says nothing
            return None

        monkeypatch.setattr(backend, "_lookup", unresolvable)
        await backend.ready()
        assert backend._client is third  # its working connections kept
        await backend.close()

    asyncio.run(run())


def test_a_batch_larger_than_tritons_is_the_gateways_setting_not_the_clients_input():
    """A config with max_batch_size 16 against 20 texts answered 422 'Triton rejected the request', blaming the
    client for the batch the gateway made (a review): a 503 naming the settings."""
    from gateway.backends.triton_errors import translate
    from investiq.core.errors import InvalidInputError, ModelNotReadyError

    class Refused(Exception):
        def status(self) -> str:
            return "StatusCode.INVALID_ARGUMENT"

        def message(self) -> str:
            return "[request id: <id_unknown>] inference request batch-size must be <= 16 for 'finbert'"

    error = translate(Refused(), "finbert", "127.0.0.1:8001", 5.0)
    assert isinstance(error, ModelNotReadyError) and "sentiment_batch_size" in str(error)
    assert not isinstance(error, InvalidInputError)


def test_without_tritons_client_the_backend_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch):
    """scripts/up.sh's environment has no tritonclient: `serve --backend triton` was a 35-line traceback."""
    import sys

    from gateway.backends.triton import TritonBackend
    from investiq.core.errors import SettingsError

    monkeypatch.setitem(sys.modules, "tritonclient.grpc.aio", None)  # an import of it raises ImportError
    with pytest.raises(SettingsError, match=r"pip install -e '\.\[triton-client\]'"):
        TritonBackend("127.0.0.1:8001", 1.0)
