"""What the agent reads when Triton fails: Triton's reason, not a python backend's whole traceback."""

from __future__ import annotations

import logging

import pytest

from gateway.backends.triton import MAX_DETAIL, brief

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
    with caplog.at_level(logging.WARNING, logger="gateway.backends.triton"):
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
