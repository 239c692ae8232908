"""Triton python backend entry point: the softmax lives in investiq/triton_adapters.py."""

from investiq.triton_adapters import FinbertPostprocess as TritonPythonModel  # noqa: F401
