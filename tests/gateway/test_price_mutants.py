"""What `PriceService` refuses to serve from the graph's outputs (gateway/services/price.py,
`WindowForecast.problem`): each test kills a mutant that every other test survived (a mutation audit)."""

from __future__ import annotations

import pytest

from gateway.services.price_forecast import split_outputs
from investiq.core.patchtst import OUTPUT, PROBABILITY_UP, QUANTILES
from tests.fakes import patchtst_outputs


@pytest.mark.parametrize(
    ("name", "index", "value", "fragment"),
    [
        (OUTPUT, (0, 1, 0), 0.0, "not a finite positive price"),
        (QUANTILES, (0, 0, 0), -3.0, "not a finite positive price"),
        (PROBABILITY_UP, (0, 1), -0.2, "not a number in [0, 1]"),
    ],
)
def test_a_price_at_or_below_zero_or_a_negative_p_up_is_never_served(
    name: str, index: tuple[int, ...], value: float, fragment: str
):
    """A finite answer can still be no price (0, or below) or no probability (below 0): it must reach neither the
    response nor the journal; the ends themselves (P(up) 0 or 1) are served.
    A mutation audit: the `prices > 0` check dropped and the `p >= 0` check dropped survived
    every test."""
    outputs = {n: a.copy() for n, a in patchtst_outputs(1, 2).items()}
    outputs[name][index] = value
    (bad,) = split_outputs(outputs)
    assert fragment in (bad.problem() or "")
    for end in (0.0, 1.0):
        outputs = {n: a.copy() for n, a in patchtst_outputs(1, 2).items()}
        outputs[PROBABILITY_UP][:] = end
        assert split_outputs(outputs)[0].problem() is None
