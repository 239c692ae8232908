"""Kill tests of a mutation audit of the gateway's rate limiter (gateway/ratelimit.py), the Yahoo Finance call
(investiq/core/yahoo.py) and the check of a FinBERT export (investiq/core/finbert_check.py): each fails with the
mutant its docstring names applied, and passes on the code as it is. The limiter runs on a settable clock, its
middleware on the app in-process or called directly with an ASGI scope; yfinance.Ticker is a stand-in and the
reachability probe a lambda (no network, no sleep); the FinBERT check is fed small arrays."""

from __future__ import annotations

import logging
import math
import socket
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pytest
from fastapi.testclient import TestClient

from gateway.ratelimit import RateLimiter, RateLimitMiddleware, client_identity
from investiq.core import finbert_check, yahoo
from investiq.core.errors import DataError
from investiq.core.finbert_check import SINGLES, Check, bounds, judge, logits_on, sample_texts
from investiq.core.market import load_bars
from investiq.core.settings import Settings
from investiq.core.yahoo import YahooError, fetch_yfinance
from tests.core.test_data import NOW, DNSError, FakeTicker, RateLimitedTicker
from tests.fakes import Clock
from tests.gateway.test_security import KEY, app_for

# -- gateway/ratelimit.py: the token buckets ------------------------------------------------------


def test_a_clock_that_steps_back_does_not_drain_the_bucket():
    """`max(0.0, now - bucket.at)` dropped: a monotonic clock read on another core a little behind (or a test
    clock set back) took tokens away, and a client with tokens left got 429s."""
    clock = Clock(100.0)
    limiter = RateLimiter(60.0, 2, clock=clock)
    assert limiter.take("a") == 0.0
    clock.now = 50.0
    assert limiter.take("a") == 0.0  # its second token is still there


def test_a_client_seen_again_is_kept_over_one_seen_less_recently():
    """`_buckets.pop(identity)` -> `_buckets.get(identity)`: a bucket kept its first place in the order, so at the
    cap the busiest client (seen first, drained) was the one forgotten and got a fresh burst."""
    limiter = RateLimiter(60.0, 2, clock=Clock(0.0), max_buckets=2)
    assert [limiter.take("busy"), limiter.take("busy")] == [0.0, 0.0]  # drained
    limiter.take("quiet")
    assert limiter.take("busy") > 0  # seen again: now the most recent
    limiter.take("new")  # over the cap: "quiet", the least recently seen, goes
    assert limiter.take("busy") > 0 and len(limiter) == 2


def test_a_drained_bucket_is_not_forgotten_before_it_is_full_again():
    """refill_s = `burst / per_second` -> `1 / per_second`: a drained client's bucket was forgotten once one token
    had come back, and its next requests found a full burst (5 here) instead of the one token it had earned."""
    clock = Clock(0.0)
    limiter = RateLimiter(60.0, 5, clock=clock)  # a token a second, full again 5 s after draining
    assert [limiter.take("flood") for _ in range(5)] == [0.0] * 5
    clock.now = 1.5
    limiter.take("other")  # another client's request runs the eviction
    assert [limiter.take("flood"), limiter.take("flood")] == [0.0, pytest.approx(0.5)]


def test_the_key_names_its_bucket_by_a_fingerprint_never_by_itself():
    """`"key:" + sha256(key)[:16]` -> `"key:" + key`: the API key was kept in clear in the limiter's memory (and in
    anything that dumps it), against the module's promise that it is never stored."""
    scope = {"headers": [(b"x-api-key", KEY.encode())], "client": ("10.0.0.3", 4000)}
    identity = client_identity(scope, KEY)
    assert KEY not in identity
    assert identity.startswith("key:") and len(identity) == len("key:") + 16
    assert client_identity({**scope, "client": ("10.0.0.4", 1)}, KEY) == identity  # the key's bucket, any address


def test_a_key_sent_to_a_keyless_gateway_is_charged_to_its_address():
    """`api_key is not None and` dropped: a client that sent an X-API-Key header to a gateway without a key made
    `key_matches(None, ...)` raise, and every such request failed (500) instead of taking a token."""
    scope = {"headers": [(b"x-api-key", b"anything")], "client": ("10.0.0.7", 4000)}
    assert client_identity(scope, None) == "addr:10.0.0.7"


# -- gateway/ratelimit.py: the middleware ----------------------------------------------------------


def test_a_scope_that_is_not_http_is_never_charged():
    """`scope["type"] != "http"` dropped: websocket (and lifespan) scopes took tokens, and with the bucket empty
    the middleware answered them with an HTTP 429 they cannot carry."""
    limiter = RateLimiter(1.0, 1, clock=Clock(0.0))
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["type"])

    middleware = RateLimitMiddleware(app, limiter, metrics=cast(Any, None))
    state = SimpleNamespace(api_key=None)
    scope: dict[str, Any] = {"type": "websocket", "path": "/ws", "client": ("10.0.0.6", 1), "headers": []}
    scope["app"] = SimpleNamespace(state=state)

    async def nothing() -> dict[str, Any]:
        return {}

    async def send(message: Any) -> None:
        raise AssertionError(f"the middleware answered a websocket: {message}")

    import asyncio

    for _ in range(3):
        asyncio.run(middleware(scope, nothing, send))
    assert reached == ["websocket"] * 3 and len(limiter) == 0


def limited(settings: Settings, wait_after_s: float) -> Any:
    """The 429 of a client that drained its one token (one per 10 s), asked again `wait_after_s` later."""
    app = app_for(settings, key=None, rate_limit_per_minute=6.0, rate_limit_burst=1)
    clock = app.state.rate_limiter.clock = Clock(1000.0)
    with TestClient(app) as client:
        assert client.get("/bayesian/weights").status_code == 200
        clock.now += wait_after_s
        return client.get("/bayesian/weights")


def test_retry_after_is_rounded_up(settings: Settings):
    """`math.ceil(wait_s)` -> `round(wait_s)`: 1.4 s to wait was announced as Retry-After: 1, and a client that
    obeyed it was refused again."""
    response = limited(settings, 8.6)  # 0.86 of a token: 1.4 s to go
    assert response.status_code == 429 and response.headers["Retry-After"] == "2"
    assert "retry after 2 s" in response.json()["detail"]


def test_the_429_says_its_length_and_burst_truly(settings: Settings):
    """content-length `len(payload)` -> `len(body)` (the dict's 2 keys): a server or proxy cut the JSON body to 2
    bytes; and `(burst {limiter.burst})` -> the per-minute figure: the 429 named the wrong setting's value."""
    response = limited(settings, 0.0)
    assert response.status_code == 429
    assert response.headers["content-length"] == str(len(response.content))
    assert "more than 6 requests per minute (burst 1)" in response.json()["detail"]


# -- investiq/core/yahoo.py ------------------------------------------------------------------------


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff's pauses, taken without sleeping."""
    taken: list[float] = []
    monkeypatch.setattr(yahoo, "_sleep", taken.append)
    return taken


def fail_with(monkeypatch: pytest.MonkeyPatch, failure: Exception | None, resolves: bool = True) -> str:
    """fetch_yfinance's message when history() raises `failure` and Yahoo's host name resolves or not."""
    import yfinance  # type: ignore[import-untyped, unused-ignore]

    monkeypatch.setattr(yahoo, "yahoo_resolves", lambda: resolves)
    monkeypatch.setattr(yfinance, "Ticker", lambda symbol: FakeTicker(failure))
    with pytest.raises(DataError) as caught:
        fetch_yfinance("AAPL", "15m", NOW - timedelta(days=1), NOW)
    return str(caught.value)


OFFLINE = f"no data from Yahoo Finance for AAPL 15m: {yahoo.OFFLINE_REASON}; {yahoo.OTHER_SOURCE}"


def wrapped(outer: str, inner: BaseException) -> Exception:
    """RuntimeError(`outer`) raised while handling `inner`: `inner` is only its __context__, as yfinance's
    `except ...: raise YFException(...)` leaves it."""
    try:
        raise inner
    except BaseException:
        try:
            raise RuntimeError(outer)  # an implicit context on purpose
        except RuntimeError as exc:
            return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("failure", "mutant"),
    [
        (wrapped("Failed to get ticker 'AAPL' reason: boom", ConnectionRefusedError(111, "boom")), "__context__"),
        (socket.gaierror(socket.EAI_AGAIN, "Try again"), "socket.gaierror"),
        (TimeoutError(), "TimeoutError"),
        (DNSError("curl: (6)"), "DNSError"),
        (RuntimeError("HTTPSConnectionPool(host='x', port=443): Read timed out. (read timeout=30)"), "timed out"),
    ],
    ids=["implicit-context", "gaierror", "bare-timeout", "dns-class", "read-timed-out"],
)
def test_a_network_failure_reads_offline_though_yahoos_name_resolves(
    monkeypatch: pytest.MonkeyPatch, pauses: list[float], failure: Exception, mutant: str
):
    """Each a mutant of what counts as a network failure: `current.__cause__ or current.__context__` -> only the
    cause; socket.gaierror, TimeoutError, the class name "DNSError" or the words "timed out" dropped. With any, a
    machine whose resolver answers but whose network is down was told "Check the symbol and interval" with the
    network's words, not that Yahoo is unreachable."""
    assert fail_with(monkeypatch, failure) == OFFLINE, mutant
    assert pauses == []


class _Cyclic(Exception):
    """An exception whose cause is its partner's, and the partner's is it; a loop over them stops the test."""

    partner: _Cyclic
    visits = 0

    @property
    def __cause__(self) -> BaseException | None:  # type: ignore[override]
        type(self).visits += 1
        if type(self).visits > 50:
            raise AssertionError("the chain of causes is walked in a loop")
        return self.partner


def test_a_cycle_of_causes_ends_the_walk():
    """`current not in seen` dropped from `_chain`: exceptions that name each other as causes made the check of a
    failure loop forever (fetch hung)."""
    first, second = _Cyclic("first"), _Cyclic("second")
    first.partner, second.partner = second, first
    _Cyclic.visits = 0
    assert yahoo._is_network_error(first) is False and yahoo._is_rate_limit(first) is False


class TooManyRequests(RateLimitedTicker):
    """yfinance.Ticker that answers `limited` times with `failure`, then bars."""

    def __init__(self, limited: int, failure: Exception) -> None:
        super().__init__(limited)
        self.failure = failure

    def history(self, **kwargs: object) -> pd.DataFrame:
        self.calls += 1
        if self.calls <= self.limited:
            raise self.failure
        return pd.DataFrame({"Close": [1.0]}, index=pd.DatetimeIndex([NOW]))


def test_a_429_in_words_is_retried(monkeypatch: pytest.MonkeyPatch, pauses: list[float]):
    """`"too many requests" in str(err).lower()` lost its `.lower()`: an HTTP error saying "Too Many Requests" (as
    requests words a 429) was not retried, and the user got "Check the symbol" for a rate limit."""
    import yfinance  # type: ignore[import-untyped, unused-ignore]

    monkeypatch.setattr(yahoo, "yahoo_resolves", lambda: True)
    ticker = TooManyRequests(2, RuntimeError("429 Client Error: Too Many Requests for url: https://query2/..."))
    monkeypatch.setattr(yfinance, "Ticker", ticker)
    assert len(fetch_yfinance("AAPL", "15m", NOW - timedelta(days=1), NOW)) == 1
    assert ticker.calls == 3 and len(pauses) == 2


def test_a_network_failure_that_mentions_429_is_offline_not_retried(
    monkeypatch: pytest.MonkeyPatch, pauses: list[float]
):
    """`and not _is_network_error(exc)` dropped from the retry test: a reset connection whose text mentions too
    many requests was retried with backoff and then called a rate limit ("wait a few minutes") though the
    network is down."""
    import yfinance  # type: ignore[import-untyped, unused-ignore]

    monkeypatch.setattr(yahoo, "yahoo_resolves", lambda: False)
    ticker = TooManyRequests(100, ConnectionResetError(104, "Connection reset by peer (too many requests?)"))
    monkeypatch.setattr(yfinance, "Ticker", ticker)
    with pytest.raises(DataError) as caught:
        fetch_yfinance("AAPL", "15m", NOW - timedelta(days=1), NOW)
    assert str(caught.value) == OFFLINE and ticker.calls == 1 and pauses == []


def test_only_rate_limits_are_retried(monkeypatch: pytest.MonkeyPatch, pauses: list[float]):
    """`retry_if_exception_type(_RateLimited)` -> `(Exception)`: an offline machine or a bad symbol was asked 4
    times with pauses of 1 to 8 s before the one-line error (about 10 s lost per symbol)."""
    assert fail_with(monkeypatch, RuntimeError("Invalid ticker"), resolves=True).endswith(
        ". Check the symbol and interval, or use --source csv or --source sample"
    )
    assert fail_with(monkeypatch, DNSError("Could not resolve host")) == OFFLINE
    assert pauses == []


@pytest.mark.parametrize(
    ("message", "reason", "mutant"),
    [
        ("Bad Request\n<html>...</html>", "Bad Request", "[0] -> [-1]: the last line of Yahoo's answer"),
        ("interval 15m is not supported.", "interval 15m is not supported", "rstrip('.') dropped: '..'"),
        ("\n1 Failed download:\nAAPL: no price data", "1 Failed download:", ".strip() dropped: an empty reason"),
        ("", "RuntimeError", "type(exc).__name__ -> '': no reason at all"),
    ],
    ids=["first-line", "one-full-stop", "leading-newline", "no-message"],
)
def test_yahoos_reason_is_its_first_line_without_a_full_stop(
    monkeypatch: pytest.MonkeyPatch, message: str, reason: str, mutant: str
):
    """Mutants of how Yahoo's own reason is cut to one line (each named in its case): the user read the wrong line,
    two full stops, or nothing after "AAPL 15m: "."""
    got = fail_with(monkeypatch, RuntimeError(message), resolves=True)
    assert got == f"no data from Yahoo Finance for AAPL 15m: {reason}. Check the symbol and interval, or use " + (
        "--source csv or --source sample"
    ), mutant


def test_the_reason_leaves_the_command_lines_advice_out(monkeypatch: pytest.MonkeyPatch):
    """`self.reason = reason` -> reason + advice: the HTTP API (and `up`) passed on "use --source csv", a flag
    their callers do not have."""
    assert YahooError("no data: offline", "; use --source csv").reason == "no data: offline"
    import yfinance  # type: ignore[import-untyped, unused-ignore]

    monkeypatch.setattr(yahoo, "yahoo_resolves", lambda: False)
    monkeypatch.setattr(yfinance, "Ticker", lambda symbol: FakeTicker(None))
    with pytest.raises(YahooError) as caught:
        fetch_yfinance("AAPL", "15m", NOW - timedelta(days=1), NOW)
    assert caught.value.reason == f"no data from Yahoo Finance for AAPL 15m: {yahoo.OFFLINE_REASON}"


def test_history_is_asked_for_the_whole_span_raw_and_raising(monkeypatch: pytest.MonkeyPatch):
    """history()'s arguments: `end=end` -> `end=None` (bars up to now, past the span asked), `raise_errors=True`
    -> False (yfinance prints its error and returns nothing: the cause is lost), `actions=False` -> True
    (dividend and split columns among the bars)."""
    import yfinance  # type: ignore[import-untyped, unused-ignore]

    ticker = FakeTicker(DNSError("Could not resolve host"))
    monkeypatch.setattr(yfinance, "Ticker", lambda symbol: ticker)
    monkeypatch.setattr(yahoo, "yahoo_resolves", lambda: False)
    start, end = NOW - timedelta(days=3), NOW - timedelta(days=1)
    with pytest.raises(DataError):
        fetch_yfinance("AAPL", "1h", start, end)
    assert ticker.kwargs == {
        "interval": "1h",
        "start": start,
        "end": end,
        "auto_adjust": False,
        "actions": False,
        "raise_errors": True,
    }


def test_yfinances_own_error_logs_are_silenced(monkeypatch: pytest.MonkeyPatch):
    """`logging.getLogger("yfinance").setLevel(logging.CRITICAL)` dropped: every failure was printed twice, once by
    yfinance's logger (curl's text, "possibly delisted") and once as the DataError."""
    logger = logging.getLogger("yfinance")
    monkeypatch.setattr(logger, "level", logging.NOTSET)  # whatever an earlier test left; restored after
    fail_with(monkeypatch, DNSError("Could not resolve host"), resolves=False)
    assert logger.level == logging.CRITICAL


def test_yahoos_interval_limits(tmp_path: Path):
    """YF_MAX_DAYS: "1h": 730 -> 60 refused 61 to 730 days of hourly bars that Yahoo serves; "1m": 7 -> 60 let a
    request for 8 days of 1m bars through to Yahoo, which refuses it."""

    def never(*args: Any) -> pd.DataFrame:
        raise AssertionError("fetched")

    for interval, limit in [("1h", 730), ("1m", 7)]:
        with pytest.raises(DataError, match=f"serves {interval} bars for the last {limit} days only, {limit + 1}"):
            load_bars("yfinance", ["AAPL"], days=limit + 1, interval=interval, cache_dir=tmp_path, fetch=never)
    assert yahoo.YF_MAX_DAYS["60m"] == yahoo.YF_MAX_DAYS["1h"]  # one bar, two names


# -- investiq/core/finbert_check.py ----------------------------------------------------------------


def check(**fields: Any) -> Check:
    """A Check within every bound unless `fields` say otherwise."""
    base: dict[str, Any] = {"texts": 2, "compared": 2, "max_logit_diff": 0.0, "max_prob_diff": 0.0, "spread": 1.0}
    return Check("int8", **(base | {"systematic": 0.0, "agree": 2, "decided": 2} | fields))


def test_nothing_compared_is_full_agreement():
    """`else 1.0` -> `else 0.0` in label_agreement: a check of no rows recorded 0 % agreeing labels in the
    artifact, read as a broken export."""
    assert check(texts=0, compared=0, agree=0, decided=0).label_agreement == 1.0
    assert judge("int8", np.zeros((0, 3)), np.zeros((0, 3)), texts=0).figures()["label_agreement"] == 1.0


def test_logits_pytorch_gives_one_value_are_judged_without_dividing_by_zero():
    """`spread > 0` -> `>= 0` in relative_diff (a ZeroDivisionError on a row of equal logits), and its
    `0.0 if diff == 0 else inf` -> 0.0 (an error on such a row passed the relative bound)."""
    flat = np.ones((1, 3))
    same = judge("fp32", flat, flat.copy(), texts=1)
    assert same.relative_diff == 0.0 and same.failures(1e-4, 1e-4) == []
    moved = check(max_logit_diff=0.1, spread=0.0)
    assert moved.relative_diff == math.inf
    assert any(f.startswith("max |logit diff| is") for f in moved.failures(0.25, 0.1))


def test_a_shared_error_on_equal_logits_is_an_infinite_bias():
    """`else (0.0 if shared == 0 else inf)` -> `else 0.0` in judge: a graph that moved one label of a model whose
    logits are all equal recorded no bias at all."""
    moved = judge("int8", np.ones((2, 3)), np.ones((2, 3)) + np.array([0.1, 0.0, 0.0]), texts=2)
    assert moved.systematic == math.inf
    assert any("share a bias toward one label" in f for f in moved.failures(0.25, 0.1))


def test_every_bound_refuses_nan_and_is_inclusive():
    """`not diff <= bound` -> `diff > bound` (logit and probability bounds: a NaN passed), `not relative <= bound`
    -> `<` (an error at exactly half the spread failed), MAX_SYSTEMATIC -> MAX_RELATIVE_DIFF (a 30 % bias
    passed)."""
    assert check(max_logit_diff=0.5, spread=1.0).failures(0.5, 0.1) == []  # at the bounds: passes
    assert check(max_prob_diff=0.1, systematic=finbert_check.MAX_SYSTEMATIC).failures(0.25, 0.1) == []
    assert check(max_logit_diff=math.nan, spread=1.0).failures(0.25, 0.1)[0].startswith("max |logit diff| nan")
    assert check(max_prob_diff=math.nan).failures(0.25, 0.1) == ["max |probability diff| nan > 0.1"]
    biased = check(systematic=0.3).failures(0.25, 0.1)
    assert len(biased) == 1 and biased[0].startswith("the rows' errors share a bias toward one label of 30%")


def test_the_relative_bound_defaults_to_half_the_spread():
    """failures()'s default `max_relative=MAX_RELATIVE_DIFF` -> 1.0: an INT8 graph off by 60 % of PyTorch's widest
    logit spread (shuffled weights of a small-logit model) passed the checks that rely on the default."""
    assert finbert_check.MAX_RELATIVE_DIFF == 0.5
    assert [f[:20] for f in check(max_logit_diff=0.6, spread=1.0).failures(1.0, 1.0)] == ["max |logit diff| is "]


def test_the_recorded_figures():
    """figures(): "relative_diff" -> max_logit_diff (artifact.json recorded the absolute error as the share),
    "decided" dropped (the artifact no longer said how many labels were verified)."""
    figures = check(max_logit_diff=0.2, spread=4.0, decided=1).figures()
    assert figures["relative_diff"] == pytest.approx(0.05) and figures["decided"] == 1


def test_decided_rows_are_those_whose_top_two_margin_exceeds_twice_the_error():
    """`np.sort(...)[:, -2:]` -> `[:, :2]` (the two lowest logits' margin) and `> 2 * diff` -> `> diff`: labels
    that rounding can flip were reported verified, and verified ones not."""
    clear = np.array([[3.0, 0.0, -0.9]])  # top-2 margin 3, the lowest two's 0.9
    assert judge("int8", clear, clear + np.array([0.6, 0.0, 0.0]), texts=1).decided == 1
    close = np.array([[1.0, 0.0, -3.0]])  # margin 1.0: between the error (0.6) and twice it
    assert judge("int8", close, close + np.array([0.0, 0.6, 0.0]), texts=1).decided == 0


def test_the_spread_is_the_widest_rows():
    """`.max()` -> `.min()` of the rows' spreads: one row of small logits made every error look large next to it
    (a sound INT8 export refused)."""
    want = np.array([[2.0, 0.0, -2.0], [0.1, 0.0, -0.1]])
    assert judge("int8", want, want, texts=2).spread == 4.0


def test_probabilities_are_compared_after_softmax():
    """max_prob_diff computed on the logits: a per-row constant (which softmax ignores: no caller sees it) was
    taken as a probability error of 1.0 and failed a sound graph."""
    want = np.array([[1.0, 0.0, -1.0], [0.5, 0.2, 0.0]])
    assert judge("int8", want, want + 1.0, texts=2).max_prob_diff < 1e-6


def test_bounds_per_precision():
    """bounds(): `== "fp32"` -> `== "int8"` (the fp32 graph judged with INT8's loose bounds), and INT8's
    probability bound replaced by its logit bound (0.25: a caller's probabilities could move by 0.25)."""
    assert bounds("fp32") == (finbert_check.FP32_MAX_DIFF, finbert_check.FP32_MAX_PROB_DIFF)
    assert bounds("int8") == bounds("bf16") == (finbert_check.INT8_MAX_DIFF, finbert_check.INT8_MAX_PROB_DIFF)


def test_the_long_text_reaches_past_512_tokens():
    """`" ".join(texts * 4)` -> `" ".join(texts)`: the long text was ~300 words, short of the encoder's 512
    positions, so the positions only long texts reach were never checked."""
    seen: list[list[str]] = []

    def encode(texts: list[str]) -> dict[str, Any]:
        seen.append(texts)
        return {"n": len(texts)}

    logits = logits_on(lambda inputs: np.zeros((inputs["n"], 3)), cast(Any, encode), sample_texts())
    assert len(logits) == len(sample_texts()) + SINGLES + 1
    assert len(seen[-1]) == 1 and len(seen[-1][0].split()) > 512


def test_the_summary_says_no_label_was_verified_only_when_none_was():
    """`"" if self.decided else ...` inverted: a check with verified labels said none was verified, and one with
    none said nothing."""
    assert "so no label was verified" not in str(check(decided=1))
    assert "so no label was verified" in str(check(decided=0))
