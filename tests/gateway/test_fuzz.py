"""Schema-driven fuzzing (issue 7, point 4): schemathesis generates requests from the gateway's own
OpenAPI document, valid and invalid, and sends them in-process (ASGI, no socket) to the real app over
real tiny models, with an API key. No request may get a server error (a 503 naming missing market data
is the one allowed: bars for a symbol sent without closes cannot be fetched offline), every 4xx must
say what was wrong, every answer must match the document, and no bad value may reach a model.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.app import create_app
from gateway.backends.embedded import EmbeddedBackend
from investiq.core import yahoo
from investiq.core.settings import API_KEY_HEADER, Settings
from tests.gateway.test_bad_input import CONTEXT, SpyBackend, app_settings, offline, repository

__all__ = ["repository"]  # a fixture, imported for pytest

EXAMPLES = 30  # generated cases per operation, besides schemathesis' own examples and boundary cases
KEY = SecretStr("fuzz-key")


class Target:
    """The app under test, behind a stand-in that exists at collection: schemathesis binds its operations
    to an app then, while the real one needs the models that a fixture builds."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None
        self.statuses: Counter[int] = Counter()  # every answer of the module's run, for RELIABILITY.md's figures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the `spy` fixture sets the app"

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.statuses[message["status"]] += 1
            await send(message)

        await self.app(scope, receive, counting if scope["type"] == "http" else send)


def plain_tuples(node: Any) -> Any:
    """The document with each tuple of one item type ({"prefixItems": [T, T]}, how pydantic writes
    tuple[float, float]) written as the equivalent {"items": T, "minItems": 2, "maxItems": 2}:
    schemathesis 4.32 cannot validate a response against a prefixItems inside anyOf (a nullable tuple)."""
    if isinstance(node, list):
        return [plain_tuples(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: plain_tuples(v) for k, v in node.items()}
    items = out.get("prefixItems")
    if items and all(x == items[0] for x in items) and "items" not in out:
        del out["prefixItems"]
        out["items"] = items[0]
    return out


target = Target()
# The document, read at collection from an app made then: making one loads nothing (models and journal come
# with its lifespan), and the served app's document is checked to be the same. (schemathesis' lazy
# `from_fixture` would avoid this, but it does not run under pytest 9.)
DOCUMENT = plain_tuples(create_app(Settings()).openapi())
# The key goes in as the document's own security scheme, so that schemathesis knows it is the credential:
# it sends it, and also checks that requests without it are refused.
AUTH = {"auth": {"openapi": {"APIKeyHeader": {"api_key": KEY.get_secret_value()}}}}
schema = schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis.config.SchemathesisConfig.from_dict(AUTH))
schema.app = target


@pytest.fixture(scope="module")
def spy(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpyBackend]:
    """Serves the app for the module (real settings and tiny models, offline market data); the spy
    records what reached the models."""
    spy = SpyBackend(EmbeddedBackend(repository))
    settings = app_settings(repository, tmp_path_factory.mktemp("fuzz")).model_copy(update={"api_key": KEY})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(yahoo, "fetch_yfinance", offline)
        target.app = create_app(settings, backend=spy)
        assert plain_tuples(target.app.openapi()) == DOCUMENT
        yield spy
        target.app = None  # schemathesis' plugin ends the app's lifespan after each test
    counts = ", ".join(f"{n} {status}" for status, n in sorted(target.statuses.items()))
    print(f"\nfuzz requests: {sum(target.statuses.values())} ({counts})")  # shown with pytest -s
    asyncio.run(spy.inner.close())


def answers_with_a_reason(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    """4xx and 5xx carry {"error", "detail"} naming the problem; the only 5xx is 503 for missing data."""
    if response.status_code < 400:
        return None
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str), f"no error kind: {body!r}"
    assert isinstance(body.get("detail"), str) and body["detail"].strip(), f"no detail: {body!r}"
    if response.status_code >= 500:
        assert (response.status_code, body["error"]) == (503, "data_unavailable"), f"server error: {body!r}"
    return True


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_server_error_or_an_unexplained_refusal(case: Case[Any], spy: SpyBackend) -> None:
    asked = len(spy.seen)
    case.call_and_validate(
        # Replaced by answers_with_a_reason (a 503 naming missing market data is allowed); and a request
        # valid by the schema may still be refused with a reason (too few closes, too many texts).
        excluded_checks=[not_a_server_error, positive_data_acceptance],
        additional_checks=[answers_with_a_reason],
    )
    spy.assert_clean(since=asked)


# Schema-valid requests rarely pass the service's own rules (64 positive closes, a consistent trade), so the
# paths behind them are driven here with bodies that do, extreme values included.
SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None)
CLOSE = st.one_of(st.floats(0.01, 1e5), st.floats(min_value=0.0, exclude_min=True, allow_infinity=False))
NAME = st.text(st.characters(exclude_categories=["C"]), min_size=1, max_size=12).filter(str.strip)
# Any character, with the invisible ones (control, format, lone surrogates, private, unassigned) made common.
ANY_TEXT = st.text(st.characters() | st.characters(categories=["Cc", "Cf", "Cs", "Co", "Cn", "Zs"]), max_size=30)


def visible(text: str) -> bool:
    return any(not ch.isspace() and unicodedata.category(ch)[0] != "C" for ch in text)


DATES = st.datetimes(datetime(1, 1, 2), datetime(2025, 1, 1), timezones=st.just(timezone.utc))


def send(path: str, method: str, **kwargs: Any) -> Response:
    case = schema[path][method].Case(headers={API_KEY_HEADER: KEY.get_secret_value()}, **kwargs)
    response: Response = case.call_and_validate(
        excluded_checks=[not_a_server_error], additional_checks=[answers_with_a_reason]
    )
    return response


def test_closes_of_any_size_are_forecast_or_refused_with_a_reason(spy: SpyBackend) -> None:
    start, statuses = len(spy.seen), set()

    @SETTINGS
    @given(symbol=NAME, prices=st.lists(CLOSE, min_size=CONTEXT, max_size=CONTEXT + 8))
    def check(symbol: str, prices: list[float]) -> None:
        asked = len(spy.seen)
        response = send("/price/predict", "POST", body={"symbol": symbol, "prices": prices})
        statuses.add(response.status_code)
        if response.status_code == 200:
            assert response.json()["current_price"] == pytest.approx(prices[-1], rel=1e-6)
        else:  # the closes named, or a symbol no bars could ever be cached under ("/", "..": one rule with prices)
            detail = response.json()["detail"]
            assert response.status_code == 422 and ("prices" in detail or "cannot name a cache file" in detail)
        spy.assert_clean(since=asked)

    check()
    assert statuses == {200, 422} and spy.windows(since=start)  # both paths were taken


def test_any_symbol_in_a_path_is_evaluated_or_refused_with_a_reason(spy: SpyBackend) -> None:
    """Schemathesis' fixed examples never put a dot or a caret in /price/evaluate/{symbol}: a 500 on "BRK.B"
    passed the whole fuzz suite (a review). Real tickers as examples, then any name the bodies take."""

    def check(symbol: str) -> None:
        response = send("/price/evaluate/{symbol}", "GET", path_parameters={"symbol": symbol})
        assert response.status_code in (200, 404, 422), (symbol, response.text)

    for ticker in ("BRK.B", "^GSPC", "EURUSD=X", "BTC-USD", "RDS-A", "7203.T"):
        check(ticker)

    # any ticker of Yahoo's characters (a slash, a dot segment or ";" is another route, not this one's case)
    tickers = st.text("ABCXYZabcxyz0123456789.^=-_&", min_size=1, max_size=12).filter(
        lambda n: n not in (".", "..")
    )
    # each example a request: slow on a busy machine, which Hypothesis' too_slow check would fail (once in ~20)
    given(symbol=tickers)(settings(SETTINGS, suppress_health_check=[HealthCheck.too_slow])(check))()


def test_texts_of_any_characters_are_scored_or_refused_with_a_reason(spy: SpyBackend) -> None:
    start, statuses = len(spy.seen), set()

    @SETTINGS
    @given(texts=st.lists(ANY_TEXT, min_size=1, max_size=4))
    def check(texts: list[str]) -> None:
        asked = len(spy.seen)
        response = send("/sentiment/predict", "POST", body={"texts": texts, "use_cache": False})
        # Scored when every text has something visible (invisible characters are dropped), else refused.
        blank = next((i for i, text in enumerate(texts) if not visible(text)), None)
        statuses.add(response.status_code)
        if blank is None:
            assert response.status_code == 200 and len(response.json()["predictions"]) == len(texts)
        else:
            assert response.status_code == 422 and f"texts[{blank}]" in response.json()["detail"]
        spy.assert_clean(since=asked)

    check()
    assert statuses == {200, 422} and spy.texts(since=start)


def test_no_sequence_of_trades_leaves_state_that_cannot_be_read(spy: SpyBackend) -> None:
    trade = st.fixed_dictionaries(
        {"strategy_name": st.sampled_from(["a", "b"])},
        optional={
            "profit_loss": st.floats(allow_nan=False, allow_infinity=False),
            "won": st.booleans(),
            "closed_at": DATES.map(datetime.isoformat),
        },
    )

    statuses = set()

    @SETTINGS
    @given(trades=st.lists(trade, min_size=1, max_size=4))
    def check(trades: list[dict[str, Any]]) -> None:
        for body in trades:
            statuses.add(send("/bayesian/update", "POST", body=body).status_code)
        for method in ("mean", "thompson"):  # every strategy's posterior, however extreme its trades
            assert send("/bayesian/all-stats", "GET", query={"method": method}).status_code == 200

    check()
    assert statuses == {200, 422}


# -- issue 15: the shapes an independent probe got 500s with ---------------------------------------------
# Lone surrogates (no UTF-8 form, so nothing can store or tokenize them) in every string of every JSON body.
# URLs and headers cannot carry one: a path's percent-escapes that are not UTF-8 are read as U+FFFD, and
# headers are Latin-1.
SURROGATE_TEXT = st.builds(
    lambda before, lone, after: before + lone + after,
    st.text(max_size=6),
    st.characters(categories=["Cs"]),
    st.text(max_size=6),
)
FREE_TEXT = {("texts", 0)}  # headline text: invisible characters are dropped, the rest is scored


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    return resolve(DOCUMENT["components"]["schemas"][ref.rsplit("/", 1)[-1]]) if ref else node


def string_fields(node: dict[str, Any], path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Where a JSON body of this schema holds a string: ("symbol",), ("requests", 0, "interval"), ..."""
    node = resolve(node)
    found = []
    for option in node.get("anyOf", [node]):
        option = resolve(option)
        kind = option.get("type")
        if kind == "string":
            found.append(path)
        elif kind == "array":
            found += string_fields(option["items"], (*path, 0))
        elif kind == "object":
            for name, prop in option.get("properties", {}).items():
                found += string_fields(prop, (*path, name))
    return sorted(set(found), key=str)


# A valid body of each operation that takes one: a surrogate put in any one string makes it invalid (or, in a
# headline, is dropped).
DAYS = [f"{date(2024, 1, 1) + timedelta(days=i)}T00:00:00Z" for i in range(CONTEXT)]
VALID_BODIES: dict[str, dict[str, Any]] = {
    "/sentiment/predict": {"texts": ["Shares rise"], "symbol": "AAPL", "use_cache": False},
    "/price/predict": {
        "symbol": "SPX",
        "prices": [100.0 + i % 7 for i in range(CONTEXT)],
        "interval": "1d",
        "bar_times": DAYS,
    },
    "/price/batch_predict": {
        "requests": [{"symbol": "SPX", "prices": [100.0] * CONTEXT, "interval": "1d", "bar_times": DAYS}]
    },
    "/bayesian/update": {
        "strategy_name": "s",
        "won": True,
        "closed_at": "2025-01-01T00:00:00Z",
        "trade_id": "surrogate-probe",
    },
}
STRING_FIELDS = [
    (path, where)
    for path, ops in DOCUMENT["paths"].items()
    for op in ops.values()
    if "requestBody" in op
    for where in string_fields(op["requestBody"]["content"]["application/json"]["schema"])
]


def put(body: Any, where: tuple[str | int, ...], value: str) -> None:
    for step in where[:-1]:
        body = body[step]
    body[where[-1]] = value


def test_every_string_field_of_every_body_is_in_the_surrogate_fuzz():
    assert {path for path, _ in STRING_FIELDS} == set(VALID_BODIES)  # a new body needs a valid example here
    assert ("/bayesian/update", ("trade_id",)) in STRING_FIELDS and len(STRING_FIELDS) >= 9


@pytest.mark.parametrize(("path", "where"), STRING_FIELDS, ids=[f"{p}:{w}" for p, w in STRING_FIELDS])
def test_a_lone_surrogate_in_any_string_field_is_refused_naming_the_field(
    spy: SpyBackend, path: str, where: tuple[str | int, ...]
) -> None:
    @settings(max_examples=8, derandomize=True, database=None, deadline=None)
    @given(value=SURROGATE_TEXT)
    def check(value: str) -> None:
        asked = len(spy.seen)
        body = json.loads(json.dumps(VALID_BODIES[path]))  # a deep copy
        put(body, where, value)
        response = send(path, "POST", body=body)
        if where in FREE_TEXT and visible(value) and response.status_code == 200:
            assert len(response.json()["predictions"]) == 1
        else:
            assert response.status_code == 422, (where, value, response.text)
            detail = response.json()["detail"]
            field = [step for step in where if isinstance(step, str)][-1]  # its own name, if not its path
            assert field in detail, (where, detail)
        spy.assert_clean(since=asked)

    check()


OK_TRADE = {"strategy_name": "dates", "won": True}
EXAMPLE = itertools.count()
# Close times anywhere in the years 1-9999 with any offset of -14:00 to +14:00, the extremes made common.
OFFSETS = st.integers(-14 * 60, 14 * 60) | st.sampled_from([-14 * 60, 14 * 60, 0])
EDGE_DATES = st.sampled_from(
    [datetime(1, 1, 1), datetime(1, 1, 1, 13, 59, 59), datetime(9999, 12, 31, 23, 59, 59), datetime(9999, 12, 31)]
)
ANY_DATE = st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59)) | EDGE_DATES


def test_close_times_with_any_offset_are_learnt_or_refused_with_a_reason(spy: SpyBackend) -> None:
    from investiq.core.journal.timestamps import MAX_TS, MIN_TS

    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    statuses: list[int] = []

    @settings(max_examples=60, derandomize=True, database=None, deadline=None)
    @given(moment=ANY_DATE, minutes=OFFSETS, naive=st.booleans())
    def check(moment: datetime, minutes: int, naive: bool) -> None:
        written = moment if naive else moment.replace(tzinfo=timezone(timedelta(minutes=minutes)))
        aware = written if not naive else written.replace(tzinfo=timezone.utc)
        seconds = (aware - epoch).total_seconds()  # defined a day beyond either end: never raises
        response = send("/bayesian/update", "POST", body={**OK_TRADE, "closed_at": written.isoformat()})
        statuses.append(response.status_code)
        detail = response.json().get("detail", "")
        if not MIN_TS <= seconds <= MAX_TS:
            assert response.status_code == 422 and "is outside 0001-01-01T00:00:00Z to" in detail, detail
        elif abs(seconds - (time.time() + 300)) < 60:
            assert response.status_code in (200, 422)  # at the clock-skew edge: either is right
        elif seconds > time.time():
            assert response.status_code == 422 and "is in the future" in detail, detail
        else:
            assert response.status_code == 200, response.text
            assert response.json()["counted"] is True

    check()
    assert {200, 422} <= set(statuses)
    assert send("/bayesian/all-stats", "GET", query={"method": "thompson"}).status_code == 200


def test_repeated_ids_across_strategies_are_counted_once_or_refused_as_conflicts(spy: SpyBackend) -> None:
    """A trade id is its first strategy's and outcome's: repeated with them, acknowledged and not counted; with
    another strategy (one with no state yet included), a 409 naming both that changes nothing; with the same
    strategy and another outcome, a 409 naming both outcomes that changes nothing. An integer and its decimal
    text are one id."""
    outcomes: set[int] = set()
    trade = st.tuples(st.sampled_from("abc"), st.integers(0, 3), st.booleans(), st.booleans())

    @SETTINGS
    @given(trades=st.lists(trade, min_size=1, max_size=8))
    def check(trades: list[tuple[str, int, bool, bool]]) -> None:
        run = next(EXAMPLE)
        base = 10**12 + run * 100  # ids and strategies of their own in each example: the journal is shared
        owner: dict[int, tuple[str, bool]] = {}
        totals: Counter[str] = Counter()
        for letter, k, as_text, won in trades:
            name, number = f"repeat-{run}-{letter}", base + k
            body = {"strategy_name": name, "won": won, "trade_id": str(number) if as_text else number}
            response = send("/bayesian/update", "POST", body=body)
            outcomes.add(response.status_code)
            first, first_won = owner.setdefault(number, (name, won))
            if first == name and first_won != won:
                assert response.status_code == 409, response.text
                assert f"with won {first_won}; this update says won {won}" in response.json()["detail"]
            elif first == name:
                assert response.status_code == 200, response.text
                new = totals[f"id:{number}"] == 0
                assert response.json()["counted"] is new
                totals[f"id:{number}"] += 1
                totals[name] += new
            else:
                assert response.status_code == 409, response.text
                detail = response.json()["detail"]
                assert f"recorded for strategy {first!r}" in detail and f"names strategy {name!r}" in detail
        stats = send("/bayesian/all-stats", "GET", query={"method": "mean"}).json()["strategies"]
        prefix = f"repeat-{run}-"
        mine = {s["strategy_name"]: s["total_samples"] for s in stats if s["strategy_name"].startswith(prefix)}
        assert mine == {name: n for name, n in totals.items() if name.startswith(prefix) and n}

    check()
    assert outcomes == {200, 409}
