"""Report files are strict JSON: an undefined figure is null, never a bare NaN that parsers refuse."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from investiq.core.report_json import dumps, finite


def strict_loads(text: str) -> object:
    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_become_null_at_any_depth_numpy_included():
    value = {
        "a": math.nan,
        "b": [1.5, math.inf, (-math.inf, 2)],
        "c": np.float32("nan"),
        "d": np.array([1.0, np.nan]),
    }
    assert strict_loads(dumps(value)) == {"a": None, "b": [1.5, None, [None, 2]], "c": None, "d": [1.0, None]}
    assert finite({"x": np.int64(3), "y": "text"}) == {"x": 3, "y": "text"}


def test_other_types_go_to_default_and_without_it_fail_loudly():
    class Odd:
        pass

    assert strict_loads(dumps({"o": Odd()}, default=lambda v: "odd")) == {"o": "odd"}
    with pytest.raises(TypeError):
        dumps({"o": Odd()})
