"""Validated field types shared by the schemas."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field


def _plain_name(value: str) -> str:
    """Strategy and symbol names: trimmed, non-empty, no control characters; otherwise kept verbatim."""
    value = value.strip()
    if not value:
        raise ValueError("must not be empty or blank")
    bad = [ch for ch in value if unicodedata.category(ch) in {"Cc", "Cf", "Cs"}]
    if bad:
        raise ValueError(f"must not contain control characters (found {bad[0]!r})")
    return value


Name = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_plain_name)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
