"""Kill tests of a mutation audit of the gateway's request and response models (gateway/schemas/common.py and
gateway/schemas/price.py): each fails with the mutant its docstring names applied, and passes on the code as it
is. They validate the pydantic models directly (no app, no server); "now" is pinned where a rule reads it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from gateway.schemas import price as price_schemas
from gateway.schemas.common import ERROR_RESPONSES, ErrorResponse, UtcDateTime, misspelling_of
from gateway.schemas.price import PriceRequest, PriceResponse
from investiq.core.names import MAX_NAME

NOW = datetime(2026, 11, 24, 15, 30, tzinfo=timezone.utc)
WINDOW = [100.0, 101.0, 102.0]


class _Pinned(datetime):
    """datetime whose now() is NOW, whatever the wall clock says."""

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return NOW if tz is None else NOW.astimezone(tz)


@pytest.fixture
def pinned_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(price_schemas, "datetime", _Pinned)


def refusal(body: dict[str, Any]) -> str:
    """The message of the ValidationError that `body` gets as a /price/predict body."""
    with pytest.raises(ValidationError) as caught:
        PriceRequest.model_validate(body)
    return str(caught.value)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# -- names --------------------------------------------------------------------------------------------------------


def test_a_symbol_of_exactly_the_longest_length_is_taken():
    """Mutants: the NFC length check and the upper-case length check as `>=` MAX_NAME. A ticker of exactly
    MAX_NAME (128) characters was refused as too long, off by one; 129 is still refused."""
    assert PriceRequest.model_validate({"symbol": "a" * MAX_NAME}).symbol == "A" * MAX_NAME
    assert "at most 128 characters" in refusal({"symbol": "a" * (MAX_NAME + 1)})


# -- numbers ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["101.5", True])
def test_a_price_sent_as_text_or_a_boolean_is_refused(bad: Any):
    """Mutant: FiniteFloat not strict. "101.5" or true was taken for a close (true as 1.0), a forecast made of a
    window the client never meant."""
    assert "prices.1" in refusal({"symbol": "A", "prices": [100.0, bad]}).replace("\n", " ").replace(" ", "")


@pytest.mark.parametrize("bad", [0, "12", 12.0, True])
def test_a_horizon_of_zero_or_not_an_integer_is_refused(bad: Any):
    """Mutants: horizon ge=0 (a horizon of 0 bars asked a forecast of nothing) and horizon not strict ("12",
    12.0 or true read as a number)."""
    assert "horizon" in refusal({"symbol": "A", "horizon": bad})
    assert PriceRequest.model_validate({"symbol": "A", "horizon": 1}).horizon == 1


# -- times --------------------------------------------------------------------------------------------------------


def test_a_time_outside_the_years_1_to_9999_in_utc_is_refused():
    """Mutant: `_utc_in_range` without its range check. 0001-01-01T00:00+05:00 is in year 0 in UTC: it was taken,
    and converting it (a comparison, the journal) raised an OverflowError, a 500, where a 422 is due."""
    adapter = TypeAdapter(UtcDateTime)
    with pytest.raises(ValidationError):
        adapter.validate_python("0001-01-01T00:00:00+05:00")
    with pytest.raises(ValidationError):
        adapter.validate_python("9999-12-31T23:00:00-05:00")
    assert adapter.validate_python("2026-11-24T15:30:00").tzinfo == timezone.utc  # naive is UTC


def test_a_last_bar_time_on_the_earliest_scored_day_is_taken(pinned_now: None):
    """Mutant: `_scorable` as `value <= EARLIEST_BAR`. A last bar at 1678-01-01T00:00Z, the first instant the
    resolver can score, was refused as too old."""
    body = {"symbol": "A", "prices": WINDOW, "last_bar_time": "1678-01-01T00:00:00Z"}
    assert PriceRequest.model_validate(body).last_bar_time == price_schemas.EARLIEST_BAR
    assert "is before 1678-01-01" in refusal(body | {"last_bar_time": "1677-12-31T23:59:59Z"})


def test_a_last_bar_time_with_an_offset_is_kept_in_utc(pinned_now: None):
    """Mutant: last_bar_time not converted to UTC. 2026-01-01T10:00+05:00 was kept with its offset, so the
    forecast's last_bar_time and target_time were answered in the client's offset, not in UTC as documented."""
    body = {"symbol": "A", "prices": WINDOW, "last_bar_time": "2026-01-01T10:00:00+05:00"}
    value = PriceRequest.model_validate(body).last_bar_time
    assert value is not None and value.isoformat() == "2026-01-01T05:00:00+00:00"


def test_a_last_bar_time_within_a_minute_ahead_is_taken_beyond_it_refused(pinned_now: None):
    """Mutant: the minute of clock skew allowed for last_bar_time dropped. A client whose clock is 30 s ahead
    of the gateway's sent the bar that just closed and got a 422 'in the future'."""
    body = {"symbol": "A", "prices": WINDOW, "last_bar_time": iso(NOW + timedelta(seconds=30))}
    assert PriceRequest.model_validate(body).last_bar_time == NOW + timedelta(seconds=30)
    late = body | {"last_bar_time": iso(NOW + timedelta(minutes=2))}
    assert "last_bar_time" in refusal(late) and "is in the future" in refusal(late)


def test_bar_times_that_end_in_the_future_are_refused(pinned_now: None):
    """Mutant: the check that bar_times[-1] is not in the future dropped. Bars dated a day ahead were taken: a
    forecast whose horizon and outcome count from bars that have not happened."""
    times = [iso(NOW + timedelta(days=1, hours=i)) for i in range(3)]
    message = refusal({"symbol": "A", "prices": WINDOW, "bar_times": times})
    assert "bar_times[-1] = 2026-11-25T17:30:00+00:00 is in the future" in message


def test_two_bars_at_the_same_time_are_refused(pinned_now: None):
    """Mutant: the order check of bar_times as `<` (a time equal to the one before it let through). Two closes
    labelled with one time, a bar sent twice, were taken as consecutive bars, and the window's session factors
    fitted to a gap of zero; the 422 names both places."""
    times = [iso(NOW - timedelta(hours=2)), iso(NOW - timedelta(hours=1)), iso(NOW - timedelta(hours=1))]
    message = refusal({"symbol": "A", "prices": WINDOW, "bar_times": times})
    assert "bar_times[2] = 2026-11-24T14:30:00+00:00 is not after bar_times[1]" in message


def test_a_last_bar_time_equal_to_the_last_bar_time_label_is_taken(pinned_now: None):
    """Mutant: `last_bar_time < bar_times[-1]` as `<=`. Bars labelled by their close time, with last_bar_time the
    last label, were refused ('cannot close before it is labelled') though they close exactly then."""
    times = [iso(NOW - timedelta(hours=3 - i)) for i in range(3)]
    body = {"symbol": "A", "prices": WINDOW, "bar_times": times, "last_bar_time": times[-1]}
    assert PriceRequest.model_validate(body).last_bar_time == NOW - timedelta(hours=1)
    early = body | {"last_bar_time": iso(NOW - timedelta(hours=1, seconds=1))}
    assert "the last bar cannot close before it is labelled" in refusal(early)


# -- unknown and misspelt fields -------------------------------------------------------------------------------


def test_a_last_price_sent_beside_the_fields_is_the_agents_own():
    """Mutants: `_another_field` without its plural rule, and difflib's candidates including the fields that an
    unknown name differs from by a plural s. An agent's own `"price": 101.5` (its last close, no list) was
    refused as a misspelling of `prices`; a list under that name is still refused."""
    assert PriceRequest.model_validate({"symbol": "A", "price": 101.5}).prices is None
    assert "did you mean 'prices'" in refusal({"symbol": "A", "price": [100.0, 101.0]})


def test_a_synonym_sent_beside_its_field_is_ignored():
    """Mutant: `_meant` answering a synonym or a misspelling even when the field itself is in the body. A body of
    `prices` and the agent's own `closes` (the same window, for its log) was refused."""
    body = {"symbol": "A", "prices": WINDOW, "closes": WINDOW}
    assert PriceRequest.model_validate(body).prices == WINDOW
    assert "did you mean 'prices'" in refusal({"symbol": "A", "closes": WINDOW})


def test_a_misspelling_one_letter_off_an_eight_letter_field_is_caught():
    """Mutants: difflib's cutoff raised from 0.85 (bodies and query parameters). `intervel` for `interval` (ratio
    0.875) was ignored, and a forecast at the model's interval served to a client that asked another."""
    assert "did you mean 'interval'" in refusal({"symbol": "A", "intervel": "1h"})
    assert misspelling_of("intervel", ["interval", "horizon"]) == "interval"
    assert misspelling_of("window", ["interval", "horizon"]) is None


def test_a_body_of_exactly_the_limit_of_unknown_fields_is_taken_one_more_refused():
    """Mutants: MAX_UNKNOWN_FIELDS off by one (101) and the limit as `<`. The documented bound is 100 unknown
    names: 100 are ignored, 101 refused with their count."""
    many = {f"k{i}": 0 for i in range(100)}
    assert PriceRequest.model_validate({"symbol": "A", **many}).symbol == "A"
    assert "101 unknown fields" in refusal({"symbol": "A", **many, "k100": 0})


# -- documented shapes --------------------------------------------------------------------------------------------


def test_every_route_documents_its_422_as_the_error_body():
    """Mutant: the 422 entry dropped from ERROR_RESPONSES. The API document then showed FastAPI's own 422 shape,
    which the gateway never sends, so a client generated from it could not read a refusal."""
    assert ERROR_RESPONSES[422]["model"] is ErrorResponse
    assert {401, 413, 415, 422, 429, 503} <= set(ERROR_RESPONSES)


def test_a_forecasts_documented_defaults():
    """Mutants: PriceResponse's defaults changed (probability_up_source 'base_rate', intervals 'gaps_ahead') or
    warnings made required: the API document then described a forecast the gateway does not give."""
    schema = PriceResponse.model_json_schema()["properties"]
    assert schema["probability_up_source"]["default"] == "model"
    assert schema["intervals"]["default"] == "pooled"
    assert "warnings" not in PriceResponse.model_json_schema().get("required", [])
