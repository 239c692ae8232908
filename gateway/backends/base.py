"""The one inference interface of the gateway.

Implementations: ONNX Runtime in-process (embedded, the default) and Triton over gRPC; tests use a
fake. Models and tensors are named as in the Triton contract of ARCHITECTURE.md, so a service
never knows which backend answers. Blocking work must not run on the event loop: `infer` is async.
Failures are raised as gateway.errors.BackendUnavailableError / ModelNotReadyError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

Tensors = Mapping[str, NDArray[np.generic]]


class InferenceBackend(Protocol):
    name: str  # "embedded" or "triton", reported by /health
    target: str  # where it answers: "in-process" or the Triton address, named when it cannot

    async def infer(
        self, model: str, inputs: Tensors, version: int | None = None
    ) -> dict[str, NDArray[np.generic]]:
        """Run `model` on named input tensors (leading axis = batch); return named outputs. `version`: the
        repository version whose metadata the caller reads (its labels, shapes and calibration), where another
        process may change the version served (Triton, shared by several gateways): answered by that version
        only, else VersionMovedError. A backend only this process reloads (embedded) serves the version it
        loaded, and the caller's own swap check covers the moment between its two steps."""
        ...

    async def ready(self, model: str | None = None) -> bool:
        """Whether `model` (or every model this backend serves) can answer now."""
        ...

    async def reload(self, model: str) -> None:
        """Serve the model repository's newest version of `model` without failing a request; on
        failure raise, and the version serving before keeps serving."""
        ...

    async def close(self) -> None:
        """Release sessions and connections; the backend is not used afterwards."""
        ...
