"""Triton python backend entry point: the tokenizer lives in investiq/triton_adapters.py."""

from investiq.triton_adapters import FinbertTokenizer as TritonPythonModel  # noqa: F401
