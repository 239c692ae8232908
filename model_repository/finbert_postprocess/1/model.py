"""Triton python backend entry point: the softmax lives in investiq/core/triton_adapters.py."""

from investiq.core.triton_adapters import FinbertPostprocess as TritonPythonModel  # noqa: F401
