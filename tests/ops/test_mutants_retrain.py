"""`investiq retrain`'s test of "nothing new to train on", on the bundled sample bars without training: the same
bars are nothing new; history revised before its end (the same end dates) is."""

from __future__ import annotations

import numpy as np
import pytest

from harness.tiny_patchtst import TINY, tiny_meta
from investiq.core.market import clean_bars, load_sample
from investiq.core.patchtst import PatchTSTMeta
from investiq.ops.patchtst import Series
from investiq.ops.retrain import nothing_new
from training.windows import seen_by, symbol_splits


@pytest.fixture(scope="module")
def served() -> tuple[Series, PatchTSTMeta]:
    """SPX's last 600 daily sample bars, and the artifact of a model trained on them as TINY says: what it
    records of the bars it saw (trained_until, validated_until, train_stats) and its configuration."""
    bars = clean_bars(load_sample("SPX"), "SPX", "1d")[0].tail(600)
    series: Series = {"SPX": (bars["close"].to_numpy(dtype=np.float64), bars.index.to_numpy())}
    trained, validated, stats = seen_by(series, symbol_splits(series, TINY), TINY.prediction_length)
    meta = tiny_meta(trained_until=trained, train_stats=stats, validated_until=validated)
    return series, meta


def test_the_same_bars_are_nothing_new(served: tuple[Series, PatchTSTMeta]):
    series, meta = served
    why = nothing_new(series, TINY, meta)
    assert why is not None and why.startswith("nothing new to train on: the bars end on ")


def test_history_revised_before_its_end_is_something_new(served: tuple[Series, PatchTSTMeta]):
    """A source's corrected closes (or a file replaced by a revised one) end on the same dates: only the training
    bars' statistics tell them apart, and a candidate trained on them is not the serving model's weights."""
    series, meta = served
    closes, stamps = series["SPX"]
    revised = closes.copy()
    revised[100:110] *= 1.02  # ten training bars revised by 2 %
    again: Series = {"SPX": (revised, stamps)}
    trained, validated, stats = seen_by(again, symbol_splits(again, TINY), TINY.prediction_length)
    assert (trained, validated) == (meta.trained_until, meta.validated_until)  # the case: the same end dates
    assert stats != meta.train_stats
    assert nothing_new(again, TINY, meta) is None
