"""Triton python backend entry point: the tokenizer lives in investiq/core/triton_adapters.py."""

from investiq.core.triton_adapters import FinbertTokenizer as TritonPythonModel  # noqa: F401
