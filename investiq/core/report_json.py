"""JSON for the report files people and programs read: NaN and infinities become null.

Python's json writes them as bare NaN / Infinity, which is not JSON: strict parsers (JavaScript's JSON.parse,
serde_json) refuse the whole file. A figure that is undefined (a win rate with no closed trade) is null.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np

REPORT_JSON = "report.json"  # every report folder's file of figures (evaluate, backtest, report, retrain runs)


def finite(value: Any) -> Any:
    """`value` with numpy arrays and scalars as Python lists and numbers, and every non-finite float as None."""
    if isinstance(value, np.ndarray | np.generic):
        value = value.tolist()
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(value: Any, *, default: Callable[[Any], Any] | None = None, indent: int | None = 2) -> str:
    """Strict JSON of `value` (see `finite`); `default` as json.dumps's, for other types."""
    return json.dumps(finite(value), indent=indent, default=default, allow_nan=False)
