"""A stand-in FinBERT for a real tritonserver (the python backend of the pip `tritonserver`): it answers fixed
probabilities for every text, after an optional sleep per execution. For tests of what the gateway does with
Triton (calls in flight, readiness across servers), not of the model's answers."""

from __future__ import annotations

from pathlib import Path

from investiq.core.finbert import FINBERT

_MODEL = """
import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        time.sleep({sleep_s})
        out = []
        for request in requests:
            n = len(pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy())
            p = np.tile(np.array([[0.6, 0.1, 0.3]], dtype=np.float32), (n, 1))
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor("probabilities", p)]))
        return out
"""

_CONFIG = """
name: "{name}"
backend: "python"
max_batch_size: {max_batch}
input [{{ name: "TEXT", data_type: TYPE_STRING, dims: [ 1 ] }}]
output [{{ name: "probabilities", data_type: TYPE_FP32, dims: [ 3 ] }}]
instance_group [{{ kind: KIND_CPU, count: {instances} }}]
"""


def repository(repo: Path, *, instances: int = 1, max_batch: int = 8, sleep_s: float = 0.0) -> Path:
    """A model repository at `repo` holding the stand-in as FINBERT, version 1."""
    (repo / FINBERT / "1").mkdir(parents=True)
    (repo / FINBERT / "1" / "model.py").write_text(_MODEL.format(sleep_s=sleep_s))
    (repo / FINBERT / "config.pbtxt").write_text(
        _CONFIG.format(name=FINBERT, max_batch=max_batch, instances=instances)
    )
    return repo
