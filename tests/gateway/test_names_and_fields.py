"""Names and unknown fields: strategy and symbol names are NFC and hold only characters that show (as trade_id),
and a body's unknown fields are checked for misspellings at a bounded cost, a body of too many refused."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from gateway.schemas.common import MAX_UNKNOWN_FIELDS, SUGGESTED
from gateway.schemas.price import BatchPriceRequest, PriceRequest
from gateway.schemas.sentiment import SentimentRequest

# -- unknown fields --------------------------------------------------------------------------------


def test_a_body_of_many_unknown_fields_is_refused_naming_their_count(client: TestClient):
    """~70,000 unknown names (under a megabyte) took a second of the event loop each request, difflib looking for
    a misspelling in every one: now more than MAX_UNKNOWN_FIELDS are refused at once, the message bounded."""
    body = {"texts": ["Shares rise"], **{f"k{i}": 0 for i in range(70_000)}}
    response = client.post("/sentiment/predict", json=body)
    assert response.status_code == 422, response.text[:300]
    detail = response.json()["detail"]
    assert f"70000 unknown fields (the first {SUGGESTED} below, and 69990 more)" in detail
    assert f"more than the {MAX_UNKNOWN_FIELDS} a body may carry" in detail
    assert "'k0'" in detail and "'k10'" not in detail
    assert len(response.content) < 2000


def test_too_many_unknown_fields_name_the_misspellings_among_the_first():
    body = {"texts": ["x"], "usecache": False, **{f"f{i}": 0 for i in range(MAX_UNKNOWN_FIELDS)}}
    with pytest.raises(ValidationError, match=r"'usecache' \(did you mean 'use_cache'\?\)"):
        SentimentRequest.model_validate(body)


def test_up_to_the_limit_unknown_fields_are_ignored_and_misspellings_still_caught():
    many: dict[str, Any] = {f"f{i}": 0 for i in range(MAX_UNKNOWN_FIELDS - 1)}
    assert SentimentRequest.model_validate({"texts": ["x"], **many}).texts == ["x"]
    with pytest.raises(ValidationError, match="unknown field 'use_cach': did you mean 'use_cache'"):
        SentimentRequest.model_validate({"texts": ["x"], **many, "use_cach": False})


def test_a_very_long_unknown_name_is_quoted_cut_short():
    key = "use_cach" + "e" * 2  # "use_cachee": still a misspelling
    with pytest.raises(ValidationError, match="did you mean 'use_cache'"):
        SentimentRequest.model_validate({"texts": ["x"], key: False})
    long = "x" * 100_000
    assert SentimentRequest.model_validate({"texts": ["x"], long: 1}).texts == ["x"]  # no field near it


def test_a_batch_counts_the_unknown_names_of_all_its_items():
    """Each item under the limit, the batch over it: the bound is on the body."""
    items = [{"symbol": "A", "prices": [1.0], **{f"k{i}_{j}": 0 for j in range(5)}} for i in range(30)]
    with pytest.raises(ValidationError, match=r"150 unknown fields \(the first 10 below, and 140 more\)"):
        BatchPriceRequest.model_validate({"requests": items})
    # the same names in every item are the agent's own fields, counted once
    same = [{"symbol": "A", "prices": [1.0], "note": "n", "source": "s"} for _ in range(500)]
    assert len(BatchPriceRequest.model_validate({"requests": same}).requests) == 500


# -- names --------------------------------------------------------------------------------


def test_a_strategy_spelt_composed_or_decomposed_is_one_strategy(client: TestClient):
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    for name in (composed, decomposed):
        assert client.post("/bayesian/update", json={"strategy_name": name, "won": True}).status_code == 200
    stats = client.get("/bayesian/all-stats").json()["strategies"]
    assert [(s["strategy_name"], s["total_samples"]) for s in stats] == [(composed, 2)]


def test_a_trade_id_spelt_composed_or_decomposed_is_one_trade(client: TestClient):
    """A retry of "café-T1" in the other spelling was learnt as a second trade (a review)."""
    first = {"strategy_name": "ids", "won": True, "trade_id": "caf\u00e9-T1"}
    assert client.post("/bayesian/update", json=first).json()["counted"] is True
    retry = client.post("/bayesian/update", json={**first, "trade_id": " cafe\u0301-T1"})
    assert retry.status_code == 200 and retry.json()["counted"] is False, retry.text
    stats = client.get("/bayesian/all-stats").json()["strategies"]
    assert [(s["strategy_name"], s["total_samples"]) for s in stats] == [("ids", 1)]


@pytest.mark.parametrize(
    ("character", "code", "told"),
    [
        ("\u2028", "U+2028 LINE SEPARATOR", "(found '\\u2028': a line separator)"),
        ("\ue000", "U+E000", "(found '\\ue000': a private-use character"),
        ("\u200b", "U+200B ZERO WIDTH SPACE", "(found '\\u200b': a format character"),
        ("\u00a0", "U+00A0 NO-BREAK SPACE", "(found '\\xa0': a space other than the plain one)"),
        ("\x07", "U+0007", "(found '\\x07': a control character)"),
    ],
)
def test_names_refuse_what_trade_id_refuses_naming_the_character(
    client: TestClient, character: str, code: str, told: str
):
    sent = [
        ("/bayesian/update", {"strategy_name": f"mean{character}rev", "won": True}, "body.strategy_name"),
        ("/sentiment/predict", {"texts": ["Shares rise"], "symbol": f"AA{character}PL"}, "body.symbol"),
        ("/price/predict", {"symbol": f"SP{character}X", "prices": [100.0] * 64}, "body.symbol"),
    ]
    for path, body, field in sent:
        response = client.post(path, json=body)
        assert response.status_code == 422, (path, response.text)
        detail = response.json()["detail"]
        assert f"{field}: must contain only visible characters: {code} is not {told}" in detail
    trade = client.post("/bayesian/update", json={"strategy_name": "s", "won": True, "trade_id": f"t{character}1"})
    told_as_names_are = f"body.trade_id: must contain only visible characters: {code} is not {told}"
    assert trade.status_code == 422 and told_as_names_are in trade.json()["detail"]  # one rule, one message


def test_a_name_that_begins_with_a_combining_mark_is_refused(client: TestClient):
    """A strategy named U+0301 alone (an accent with nothing to sit on) was accepted: only what shows may be."""
    response = client.post("/bayesian/update", json={"strategy_name": "\u0301", "won": True})
    assert response.status_code == 422
    assert (
        "U+0301 COMBINING ACUTE ACCENT is not (found '\u0301': a combining mark with no character before"
        in (response.json()["detail"])
    )
    assert client.post("/bayesian/update", json={"strategy_name": "e\u0301", "won": True}).status_code == 200


def test_names_are_stored_normalised():
    assert PriceRequest.model_validate({"symbol": " cafe\u0301 "}).symbol == "CAF\u00c9"  # a ticker: upper case
    # the length limit holds for the name as stored: 100 accented letters, either spelling (a review: decomposed,
    # 200 code points, were refused by the raw length)
    for spelt in ("\u00e9" * 100, "e\u0301" * 100):
        assert PriceRequest.model_validate({"symbol": spelt}).symbol == "\u00c9" * 100
    with pytest.raises(ValidationError, match="at most 128 characters once NFC-normalised"):
        PriceRequest.model_validate({"symbol": "e\u0301" * 129})
    with pytest.raises(ValidationError, match="at most 128 characters once upper-cased, got 200"):
        PriceRequest.model_validate({"symbol": "\u00df" * 100})  # "ß" is "SS"
    with pytest.raises(ValidationError, match="must not be empty or blank"):
        PriceRequest.model_validate({"symbol": "\u2028"})  # trimmed, as trade_id: nothing is left


def test_a_symbols_room_in_a_file_name_covers_every_interval_and_the_temporary_name():
    """investiq/core/names.py counts the bytes a bar cache file's name adds to its symbol's at the longest interval
    name; a longer one added later would let a symbol through that names no file."""
    from investiq.core.bar_intervals import INTERVAL_SECONDS
    from investiq.core.names import FILE_NAME_EXTRA

    longest = max(len(f"_{interval}.parquet") for interval in INTERVAL_SECONDS)
    assert longest + len("..12345678.tmp") == FILE_NAME_EXTRA  # atomic.replacing: mkstemp's 8 characters
