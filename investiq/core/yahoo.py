"""Yahoo Finance: the one place that touches the network for bars (`fetch_yfinance`), with its interval limits,
its rate-limit retries and one message for an offline machine."""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import datetime

import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from investiq.core.errors import DataError

# fmt: off
YF_MAX_DAYS: dict[str, int | None] = {
    "1m": 7, "2m": 60, "5m": 60, "15m": 60, "30m": 60,
    "60m": 730, "90m": 60, "1h": 730, "1d": None, "1wk": None,
}
# fmt: on


# A failed Yahoo Finance call is told apart by its cause: no network (one message, whatever yfinance
# and curl made of it), rate limiting (retried with backoff), or what Yahoo answered.
YAHOO_HOST = "query2.finance.yahoo.com"
OFFLINE_REASON = "Yahoo Finance cannot be reached from this machine (offline?)"
OTHER_SOURCE = "use --source csv or --source sample"  # the command line's way round it
# Words of network failures in the messages of curl (curl_cffi), requests, urllib3 and the socket module.
_NETWORK_WORDS = (
    "could not resolve",
    "failed to resolve",
    "name resolution",
    "name or service not known",
    "nodename nor servname",
    "failed to connect",
    "connection refused",
    "network is unreachable",
    "no route to host",
    "timed out",
    "connection reset",
)
RATE_LIMIT_TRIES = 4  # calls in all when Yahoo keeps answering 429
RATE_LIMIT_WAIT_S = (1.0, 8.0)  # backoff: first wait, longest wait (doubling, with jitter)


class YahooError(DataError):
    """Yahoo Finance gave no bars. `reason` says why without the command line's advice (`--source csv`), which
    means nothing to a caller of the HTTP API."""

    def __init__(self, reason: str, advice: str) -> None:
        super().__init__(f"{reason}{advice}")
        self.reason = reason


class _RateLimited(Exception):
    """Yahoo Finance answered 429 Too Many Requests: worth another try after a pause."""


def _sleep(seconds: float) -> None:
    """The backoff's pause (replaced in tests)."""
    time.sleep(seconds)


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and its causes (yfinance wraps curl's errors, curl_cffi wraps its own)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _is_network_error(exc: BaseException) -> bool:
    for err in _chain(exc):
        if isinstance(err, (ConnectionError, TimeoutError, socket.gaierror)):
            return True
        names = {cls.__name__ for cls in type(err).__mro__}
        if names & {"DNSError", "ConnectionError", "Timeout", "ConnectTimeout", "ProxyError"}:
            return True  # curl_cffi's and requests' own classes, which need not derive from the builtins
        if any(word in str(err).lower() for word in _NETWORK_WORDS):
            return True
    return False


def _is_rate_limit(exc: BaseException) -> bool:
    return any(
        type(err).__name__ == "YFRateLimitError" or "too many requests" in str(err).lower() for err in _chain(exc)
    )


def yahoo_resolves(timeout_s: float = 2.0) -> bool:
    """Whether Yahoo Finance's host name resolves within timeout_s (getaddrinfo has no timeout of its own)."""
    result: list[bool] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(YAHOO_HOST, 443)
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=lookup, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(result and result[0])


def fetch_yfinance(symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Raw bars from Yahoo Finance in [start, end), unadjusted, index in the exchange's time zone.

    DataError when there are none, saying why in one line: offline (whether yfinance reported a DNS
    failure, a refused connection or, on a later call, "possibly delisted"), rate-limited after
    RATE_LIMIT_TRIES calls with exponential backoff, or Yahoo's own reason."""
    import yfinance  # type: ignore[import-untyped, unused-ignore]  # slow import: only when used
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

    # yfinance logs every failure itself (curl's text, "possibly delisted"); the DataError says it once.
    logging.getLogger("yfinance").setLevel(logging.CRITICAL)

    def call() -> pd.DataFrame:
        try:
            return yfinance.Ticker(symbol).history(
                interval=interval, start=start, end=end, auto_adjust=False, actions=False, raise_errors=True
            )
        except Exception as exc:  # yfinance raises anything from HTTP errors to KeyError on odd replies
            if _is_rate_limit(exc) and not _is_network_error(exc):
                raise _RateLimited(str(exc)) from exc
            raise

    first, longest = RATE_LIMIT_WAIT_S
    retrying = Retrying(
        retry=retry_if_exception_type(_RateLimited),
        stop=stop_after_attempt(RATE_LIMIT_TRIES),
        wait=wait_exponential_jitter(initial=first, max=longest, jitter=first / 2),
        sleep=lambda seconds: _sleep(seconds),
        reraise=True,
    )
    prefix = f"no data from Yahoo Finance for {symbol} {interval}"
    try:
        frame = retrying(call)
    except _RateLimited:
        raise DataError(
            f"{prefix}: Yahoo Finance is rate-limiting this machine (429 Too Many Requests) and still was "
            f"after {RATE_LIMIT_TRIES} tries with backoff; wait a few minutes and run it again"
        ) from None
    except Exception as exc:
        offline = _is_network_error(exc) or not yahoo_resolves()
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")
    else:
        if frame is not None and not frame.empty:
            return frame
        offline, reason = not yahoo_resolves(), "empty response"
    if offline:  # a DNS failure first, "possibly delisted" or a TypeError on later calls: one message
        raise YahooError(f"{prefix}: {OFFLINE_REASON}", f"; {OTHER_SOURCE}")
    raise YahooError(f"{prefix}: {reason}", f". Check the symbol and interval, or {OTHER_SOURCE}")
