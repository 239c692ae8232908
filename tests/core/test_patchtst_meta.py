"""What a PatchTST artifact's record says of the model it serves (investiq/core/patchtst.py `PatchTSTMeta`): the
name it is served under and the base rate its P(up) is journaled beside."""

from __future__ import annotations

from typing import Any

import pytest

from investiq.core.patchtst import PATCHTST, RANDOM_WALK, PatchTSTMeta


def meta(**calibration: Any) -> PatchTSTMeta:
    return PatchTSTMeta(
        "v1", 64, 3, "1d", "log_return", ["AAA"], "csv", "2026-01-01T00:00:00", calibration=calibration
    )


def test_the_journaled_base_rate_of_p_up_is_the_horizons_not_the_first_steps():
    """P(up) is served at the horizon (the last step), and live Brier skill compares it with the base rate
    journaled beside it: the base of step 1 (training up-rate 0.6 there) would judge it against the wrong base. A
    mutation audit: base_up[0] for base_up[-1] survived every test."""
    assert meta(base_up=[0.6, 0.58, 0.57], slope=0.0).base_probability_up() == pytest.approx(0.57)
    assert meta(base_up=[], slope=0.0).base_probability_up() is None
    assert meta(slope=0.0).base_probability_up() is None  # an artifact from before the base was recorded


@pytest.mark.parametrize(
    ("calibration", "name"),
    [
        ({"alpha": 0.0, "slope": 0.0, "spread": 1.0}, PATCHTST),  # only the spread of its quantiles kept
        ({"alpha": 0.0, "slope": 0.0, "spread": 0.0}, RANDOM_WALK),
        ({"alpha": 0.5, "slope": 0.0, "spread": 0.0}, PATCHTST),
        ({"alpha": 0.0, "slope": 1.0, "spread": 0.0}, PATCHTST),
        ({"alpha": 0.0, "slope": 0.0}, RANDOM_WALK),  # from before the spread was chosen
    ],
)
def test_a_model_that_kept_any_of_the_networks_answers_is_served_as_patchtst(
    calibration: dict[str, Any], name: str
):
    """A model whose validation kept the spread of its quantiles alone still serves the network's intervals: named
    random_walk, its responses, journal rows and skill would be filed under the random walk's name. A mutation
    audit: the spread left out of `served_as` survived every test."""
    assert meta(**calibration).served_as() == name
