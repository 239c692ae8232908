"""Resolved forecasts read from the journal as live skill's outcomes (`investiq/core/skill_outcomes.py`): which
forecast a row is, what it adds to the tally, and what of a row not of the gateway's writing is still read. Each
test here kills a mutant that every other test survived (a mutation audit)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from investiq.core.skill_outcomes import COLUMN, Outcome, forecast_key, outcome_of_row, quantiles_from_json

Q = {"0.05": 98.0, "0.1": 99.0, "0.9": 102.0, "0.95": 103.0}


def journal_row(**changes: Any) -> dict[str, Any]:
    """A resolved row as `RESOLVED_COLUMNS` reads it: hourly bars, two ahead, last close 100, actual 101."""
    row: dict[str, Any] = {
        "id": 1,
        "created_at": "2026-03-02T15:00:05+00:00",
        "symbol": "SPY",
        "model_name": "patchtst",
        "model_version": "v1",
        "interval": "60m",
        "horizon_steps": 2,
        "last_price": 100.0,
        "last_bar_time": "2026-03-02T14:00:00+00:00",
        "predicted_price": 100.5,
        "actual_price": 101.0,
        "correct": 1,
        "probability_up": 0.6,
        "base_probability_up": 0.55,
        "quantiles": json.dumps(Q),
        "intervals": "gaps_ahead",
        "resolved_at": "2026-03-02T17:00:01+00:00",
        "outcome_bar_time": "2026-03-02T16:00:00+00:00",
        "day": "2026-03-02",
    }
    return {**row, **changes}


def outcome(**changes: Any) -> Outcome:
    base = Outcome(0.0, "SPY", "v1", 7200.0, 100.0, 100.5, 101.0, True, 0.6, 0.55, dict(Q), "pooled")
    fields = {**base.__dict__, **changes}
    return Outcome(**fields)


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone is New York's (a host not on UTC), for the duration of the test."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_p_up_within_float32_rounding_of_the_base_rate_scores_exactly_the_base_rate():
    """A P(up) that is the base rate served through float32 (1e-8 off, within SAME_PROBABILITY) scores exactly
    the base rate's Brier: else a model serving its base rate shows a skill (or a loss) of rounding noise. One
    1e-5 off is a forecast of its own. Kills skill_outcomes.py:Outcome.row: the snap to the base rate dropped."""
    base = 0.55
    served = float(np.float32(base))
    assert served != base and abs(served - base) < 1e-6  # the situation: float32's rounding of the base rate
    row = outcome(probability_up=served, base_probability_up=base).row()
    assert row[COLUMN["brier"]] == row[COLUMN["brier_base"]] == (base - 1) ** 2
    apart = outcome(probability_up=base + 1e-5, base_probability_up=base).row()
    assert apart[COLUMN["brier"]] == (base + 1e-5 - 1) ** 2 != apart[COLUMN["brier_base"]]


def test_quantiles_without_the_90_percent_levels_score_no_interval():
    """A row with the 80% levels and not the 90% ones is scored without intervals (both coverages need all four
    levels): not one whose scoring raised. Kills skill_outcomes.py:Outcome.row: the check for all four levels
    narrowed to 0.1 and 0.9 (a KeyError on 0.05 stopped the tally)."""
    row = outcome(quantiles={"0.1": 99.0, "0.9": 102.0}).row()
    assert row[COLUMN["n_intervals"]] == row[COLUMN["cover80"]] == row[COLUMN["cover90"]] == 0
    assert row[COLUMN["n"]] == 1 and row[COLUMN["calls"]] == 1  # the rest of the row is scored


@pytest.mark.parametrize("text", ["[98, 99, 102, 103]", '"0.05"', "3", "null", "true"])
def test_quantiles_that_are_not_an_object_are_no_quantiles_and_the_row_is_still_scored(text: str):
    """JSON that is not an object of levels is no quantiles; its row is scored without intervals, not left out
    as unreadable. Kills skill_outcomes.py:quantiles_from_json: the `isinstance(value, dict)` check dropped
    (`.items()` of a list raised: the row counted unscorable)."""
    assert quantiles_from_json(text) is None
    read = outcome_of_row(journal_row(quantiles=text))
    assert read.scorable and read.quantiles is None and read.row()[COLUMN["n_intervals"]] == 0


@pytest.mark.parametrize("level", ["NaN", "Infinity", "-Infinity"])
def test_quantiles_with_a_level_that_is_not_finite_are_no_quantiles(level: str):
    """Python's JSON reads NaN and Infinity: a level that is not finite makes the whole set no quantiles (no
    coverage scored against it). Kills skill_outcomes.py:quantiles_from_json: the finiteness check dropped (a
    NaN bound covered nothing: coverage scored 0 on a broken row)."""
    text = '{"0.05": 98.0, "0.1": LEVEL, "0.9": 102.0, "0.95": 103.0}'.replace("LEVEL", level)
    assert quantiles_from_json(text) is None
    assert outcome_of_row(journal_row(quantiles=text)).row()[COLUMN["n_intervals"]] == 0


def test_a_bar_time_without_a_zone_is_utc_whatever_the_hosts_zone(new_york: None):
    """The bar cache's times carry no zone and are UTC: a forecast's key and its span do not depend on the
    host's time zone. Kills skill_outcomes.py:forecast_key: the naive time made UTC dropped (read as local time:
    on a host in New York the same forecast got keys 4-5 hours apart, counted twice across a restart or two
    hosts)."""
    naive = journal_row(last_bar_time="2026-03-02T14:00:00", created_at="2026-03-02T15:00:05")
    aware = journal_row()
    assert forecast_key(naive) == forecast_key(aware)
    assert outcome_of_row(naive).origin_ts == outcome_of_row(aware).origin_ts == 1772460000.0


def test_a_bar_time_with_a_zone_keeps_it():
    """An outcome bar time that names its zone (an exchange's clock) is read in that zone, not as UTC.
    Kills skill_outcomes.py:_timestamp: the time's own zone replaced by UTC (the span off by the zone's hours)."""
    read = outcome_of_row(journal_row(outcome_bar_time="2026-03-02T11:00:00-05:00"))  # 16:00 UTC
    assert read.outcome_ts == 1772467200.0 and read.span_seconds == 7200.0


def test_a_row_without_a_last_bar_time_has_no_span_and_is_scored():
    """A caller that sent no bar times is journaled without last_bar_time: its row is scored from created_at,
    with the outcome's time and no span. Kills skill_outcomes.py:_outcome: the `if row["last_bar_time"]` guard
    dropped (a TypeError: the row counted unscorable)."""
    read = outcome_of_row(journal_row(last_bar_time=None))
    assert read.scorable and read.span_seconds is None and read.outcome_ts == 1772467200.0


def test_an_outcome_time_that_cannot_be_read_is_as_if_not_recorded():
    """An outcome_bar_time Python cannot read leaves the row scored, keyed by its origin, with no span.
    Kills skill_outcomes.py:_outcome: the `except ValueError` dropped (the whole row unscorable)."""
    read = outcome_of_row(journal_row(outcome_bar_time="2026-13-45T99:00:00"))
    assert read.scorable and read.span_seconds is None and read.outcome_ts is None
    assert read.key == read.origin_key


def test_a_journal_before_the_intervals_column_is_read():
    """A row of a journal older than the migration that added `intervals` (and `outcome_bar_time`) is read with
    neither: not unscorable. Kills skill_outcomes.py:_outcome: `_column(row, "intervals")` -> `row["intervals"]`
    (a KeyError, an IndexError from sqlite3.Row, that `outcome_of_row` does not catch: every reader of an old
    journal stopped)."""
    old = {k: v for k, v in journal_row().items() if k not in ("intervals", "outcome_bar_time")}
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    conn.execute(f"CREATE TABLE price_predictions ({', '.join(old)})")
    conn.execute(f"INSERT INTO price_predictions VALUES ({', '.join('?' for _ in old)})", list(old.values()))
    read = outcome_of_row(conn.execute("SELECT * FROM price_predictions").fetchone())
    conn.close()
    assert read.scorable and read.intervals is None and read.outcome_ts is None


@pytest.mark.parametrize("value", [True, False])
def test_a_bool_is_not_a_probability(value: bool):
    """A bool is no P(up), though Python counts it an int (a row built in Python, not read from SQLite).
    Kills skill_outcomes.py:_probability: the bool check dropped (True scored as P(up) 1)."""
    read = outcome_of_row(journal_row(probability_up=value))
    assert read.probability_up is None and read.row()[COLUMN["n_probability"]] == 0


@pytest.mark.parametrize("value", [0, 0.0, 1, 1.0])
def test_the_ends_of_zero_to_one_are_probabilities(value: float):
    """P(up) 0 and 1 are probabilities (a sure model's), scored: only what lies outside [0, 1] is refused.
    Kills skill_outcomes.py:_probability: `0 <= value <= 1` -> `0 < value < 1`."""
    read = outcome_of_row(journal_row(probability_up=value))
    assert read.probability_up == float(value) and read.row()[COLUMN["brier"]] == (value - 1) ** 2
