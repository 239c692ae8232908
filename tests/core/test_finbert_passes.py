"""FinBERT's texts grouped by length (investiq/core/finbert.py): the plan of forward passes is the cheapest
one, every row is answered once and in its place, and a pass keeps only the columns its rows use."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from investiq.core.finbert import extents, plan_passes, run_by_length


def cost(lengths: list[int], passes: list[list[int]], pass_cost: float) -> float:
    return sum(pass_cost + len(rows) * max(lengths[i] for i in rows) for rows in passes)


def cheapest(lengths: list[int], pass_cost: float, max_rows: int) -> float:
    """By brute force: every way of cutting the sorted rows into passes of at most max_rows."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    best = float("inf")
    for cuts in itertools.product([False, True], repeat=len(order) - 1):
        passes, current = [], [order[0]]
        for i, cut in zip(order[1:], cuts, strict=True):
            if cut:
                passes.append(current)
                current = []
            current.append(i)
        passes.append(current)
        if max(len(p) for p in passes) <= max_rows:
            best = min(best, cost(lengths, passes, pass_cost))
    return best


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(min_value=1, max_value=128), min_size=1, max_size=9),
    pass_cost=st.sampled_from([0.0, 8.0, 32.0, 500.0]),
    max_rows=st.integers(min_value=1, max_value=9),
)
def test_the_plan_answers_every_row_once_at_the_least_cost(lengths: list[int], pass_cost: float, max_rows: int):
    passes = [list(p) for p in plan_passes(lengths, pass_cost=pass_cost, max_rows=max_rows)]
    assert sorted(i for p in passes for i in p) == list(range(len(lengths)))
    assert max(len(p) for p in passes) <= max_rows
    assert cost(lengths, passes, pass_cost) == pytest.approx(cheapest(lengths, pass_cost, max_rows))


def test_a_long_text_gets_a_pass_of_its_own_and_like_lengths_share_one():
    lengths = [10, 12, 11, 120, 9, 10]
    assert [sorted(p.tolist()) for p in plan_passes(lengths, pass_cost=32)] == [[0, 1, 2, 4, 5], [3]]
    assert len(plan_passes([10] * 40, pass_cost=32)) == 1
    assert sorted(len(p) for p in plan_passes([10] * 40, pass_cost=32, max_rows=16)) == [8, 16, 16]


def test_extents_reach_the_last_attended_token_of_each_row():
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 1, 0]])
    assert extents(mask).tolist() == [2, 4, 0, 3]


def feed_of(lengths: list[int], width: int) -> dict[str, NDArray[np.int64]]:
    rng = np.random.default_rng(0)
    mask = (np.arange(width)[None, :] < np.array(lengths)[:, None]).astype(np.int64)
    return {"input_ids": rng.integers(1, 1000, (len(lengths), width)) * mask, "attention_mask": mask}


def test_run_by_length_answers_in_place_from_passes_cut_to_their_rows():
    feed = feed_of([3, 40, 4, 5, 38, 2], width=40)
    shapes: list[tuple[int, ...]] = []

    def run(part: dict[str, NDArray[np.int64]]) -> NDArray[Any]:
        shapes.append(part["input_ids"].shape)
        return np.stack([(part["input_ids"] * part["attention_mask"]).sum(1), part["attention_mask"].sum(1)], 1)

    got = run_by_length(run, feed, pass_cost=8)
    np.testing.assert_array_equal(got, run(feed))  # every row's own answer, in the feed's order
    assert sorted(shapes[:-1]) == [(2, 40), (4, 5)]  # the short texts no longer pad to 40 tokens


def test_one_row_or_one_pass_without_padding_runs_the_feed_as_it_is():
    calls: list[dict[str, NDArray[np.int64]]] = []

    def run(part: dict[str, NDArray[np.int64]]) -> NDArray[Any]:
        calls.append(part)
        return np.asarray(part["attention_mask"].sum(1, keepdims=True))

    for feed in (feed_of([7], width=7), feed_of([5, 6, 7], width=7)):
        run_by_length(run, feed)
        assert calls.pop()["input_ids"] is feed["input_ids"]


def test_one_padded_row_runs_without_its_padding():
    """A lone text padded past its length (Triton's tokenizer step pads to a multiple of 16 tokens) runs at its
    own length: the padding would cost as much as tokens."""
    shapes: list[tuple[int, ...]] = []

    def run(part: dict[str, NDArray[np.int64]]) -> NDArray[Any]:
        shapes.append(part["input_ids"].shape)
        return np.asarray(part["attention_mask"].sum(1, keepdims=True))

    assert run_by_length(run, feed_of([5], width=16)).tolist() == [[5]]
    assert shapes == [(1, 5)]
    assert run_by_length(
        run, {"input_ids": np.zeros((0, 16), np.int64), "attention_mask": np.zeros((0, 16), np.int64)}
    ).shape == (0, 1)
