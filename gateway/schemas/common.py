"""Validated field types shared by the schemas."""

from __future__ import annotations

import difflib
import functools
import unicodedata
from collections.abc import Collection
from datetime import datetime, timezone
from typing import Annotated, Any, ClassVar, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from investiq.core.journal import timestamps
from investiq.core.names import MAX_NAME, first_invisible, one_spelling, symbol_problem, ticker

# What a name or an id must not hold: every character that does not show (not str.isprintable), by Unicode
# category, as a refusal calls it.
INVISIBLE = {
    "Cc": "a control character",
    "Cf": "a format character, which does not show",
    "Cs": "a surrogate",
    "Co": "a private-use character, which shows as nothing or as anything",
    "Cn": "an unassigned character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Zs": "a space other than the plain one",
    "Mn": "a combining mark with no character before it to combine with",
    "Mc": "a combining mark with no character before it to combine with",
    "Me": "a combining mark with no character before it to combine with",
}


def _code(ch: str) -> str:
    """U+2028 LINE SEPARATOR; U+0000 (control, private-use, unassigned characters and surrogates have no name)."""
    named = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}{' ' + named if named else ''}"


def _plain_name(value: str) -> str:
    """Strategy and symbol names: NFC-normalised (one spelling of a name: "café" sent composed, U+00E9, or
    decomposed, e + U+0301, is one strategy, not two), trimmed, non-empty, and only characters that show, as a
    trade_id (`plain_identifier`): what cannot be seen (U+2028, a zero-width or private-use character) never tells
    two names apart, breaks a log line, nor reaches the journal."""
    value = plain_identifier(value)
    if len(value) > MAX_NAME:  # NFC may lengthen a name (rarely): the limit holds for the name as stored
        raise ValueError(f"must be at most {MAX_NAME} characters once NFC-normalised, got {len(value)}")
    return value


def plain_identifier(value: str) -> str:
    """Ids (a trade_id): NFC-normalised and trimmed (`one_spelling`: "café-T1" composed and decomposed is one
    trade; a retry in the other spelling was learnt as a second one), non-empty, and only characters that show
    (`first_invisible`). Compared exactly, so what cannot be seen must not tell two ids apart."""
    value = one_spelling(value)
    if not value:
        raise ValueError("must not be empty or blank")
    bad = first_invisible(value)
    if bad is not None:
        category = unicodedata.category(bad)
        raise ValueError(
            f"must contain only visible characters: {_code(bad)} is not "
            f"(found {bad!r}: {INVISIBLE.get(category, f'Unicode category {category}')})"
        )
    return value


def _iso_text(value: object) -> object:
    if not isinstance(value, str):  # pydantic would read a number as epoch seconds or milliseconds, guessing
        raise ValueError("must be an ISO 8601 date-time string, e.g. 2026-11-24T15:30:00Z")
    return timestamps.with_offset(value)  # "... UTC" as the sync reads it


# The raw length is capped loosely (a name sent decomposed, e + U+0301, is longer than the same name composed):
# the limit of MAX_NAME holds for the name once normalised (`_plain_name`).
Name = Annotated[str, Field(min_length=1, max_length=4 * MAX_NAME), AfterValidator(_plain_name)]


def _ticker(value: str) -> str:
    """Upper case, as the journal keeps symbols (`ticker`); MAX_NAME holds after it too ("ß" -> "SS")."""
    value = ticker(value)
    if len(value) > MAX_NAME:
        raise ValueError(f"must be at most {MAX_NAME} characters once upper-cased, got {len(value)}")
    return value


# A symbol: a Name in upper case, one ticker however it is sent ("spy" is SPY), as the journal keeps it
Ticker = Annotated[Name, AfterValidator(_ticker)]


def _cacheable(value: str) -> str:
    problem = symbol_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


# A symbol of /price: a Ticker that can name a bar cache file (/sentiment's is a tag of the journal's: any Ticker);
# checked as sent, so that the 422 quotes what the client wrote
Symbol = Annotated[Name, AfterValidator(_cacheable), AfterValidator(_ticker)]
# Strict: a JSON number (an integer too), never "42.5" or true, which lax parsing would turn into one.
FiniteFloat = Annotated[float, Field(allow_inf_nan=False, strict=True)]


def _utc_in_range(value: datetime) -> datetime:
    """Naive means UTC; outside the years 1-9999 once converted to UTC is a ValueError naming the range."""
    value = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    timestamps.utc_seconds(value)
    return value


def _iso_parsed(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    """pydantic's parse, its error said with the form wanted: "24/11/2026" answered "invalid character in year"
    (a new user's review)."""
    try:
        return handler(value)
    except ValidationError as exc:
        if not exc.errors()[0]["type"].startswith("datetime"):
            raise  # not text (a lone surrogate): said as any other field's
        reason = exc.errors()[0]["msg"].removeprefix("Input should be a valid datetime or date, ")
        raise ValueError(
            f"{value!r} is not an ISO 8601 date-time ({reason}); send e.g. 2026-11-24T15:30:00Z"
        ) from None


# An ISO 8601 date-time the journal can store: naive = UTC, within the years 1-9999 in UTC.
UtcDateTime = Annotated[
    datetime, WrapValidator(_iso_parsed), BeforeValidator(_iso_text), AfterValidator(_utc_in_range)
]


def _folded(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _another_field(name: str, known: str) -> bool:
    """Whether `name` differs from the field `known` by whole `_`-separated parts at its end or by a plural s."""
    a, b = name.lower().split("_"), known.lower().split("_")
    shorter, longer = sorted((a, b), key=len)
    if len(shorter) < len(longer) and longer[: len(shorter)] == shorter:
        return True
    return a[:-1] == b[:-1] and {a[-1], b[-1]} in ({a[-1], a[-1] + "s"}, {b[-1], b[-1] + "s"})


def _takes_list(model: type[BaseModel], name: str) -> bool:
    annotation = model.model_fields[name].annotation
    return any(get_origin(kind) is list for kind in (annotation, *get_args(annotation)))


def _missing(model: type[BaseModel], name: str, data: dict[Any, Any], sent: Any) -> bool:
    """Whether the body leaves out `name`, a field it requires, or a list field while `sent` is a list: without
    `prices`, a forecast is of fetched bars, so `"price": [...]` ignored got a 503 from Yahoo, not a 422."""
    if name in data:
        return False
    return model.model_fields[name].is_required() or (isinstance(sent, list) and _takes_list(model, name))


# Names a body may carry that this gateway does not read (each ignored, after the misspelling check): distinct
# names, in a whole body (the items of a batch together). A megabyte of unknown names took a second of the event
# loop in that check; more than this is refused, the first SUGGESTED of them named.
MAX_UNKNOWN_FIELDS = 100
SUGGESTED = 10
_CACHED_NAME = 64  # longer names are not cached (nor could they be a misspelling of a field: difflib's 0.85)


def _shown(key: str, limit: int = 24) -> str:
    """A name a client sent, as a message quotes it: repr, cut short (it may be a megabyte)."""
    return repr(key) if len(key) <= limit else repr(key[:limit]) + "..."


@functools.lru_cache(maxsize=4096)
def _resemblance(model: type[RequestBody], key: str) -> tuple[str | None, tuple[str, ...], str | None]:
    """What `key`, not a field of `model`, resembles, whatever the rest of the body: (the field it names otherwise:
    a synonym or the same letters up to case, `_` and `-`; the fields it differs from by whole parts or a plural s,
    which it stands in for when they are missing; the field difflib finds it nearly spells). Cached: a batch's
    items repeat their names."""
    folded = _folded(key)
    known = {_folded(name): name for name in model.model_fields}
    synonyms = {_folded(name): field for name, field in model.synonyms.items()}
    fixed = synonyms.get(folded) or known.get(folded)  # "PNL" as "pnl": ignored, a trade learnt without its P&L
    parts = tuple(n for n in model.model_fields if _another_field(key, n))
    near = [k for k in known if not _another_field(key, known[k])]
    # difflib's ratio, 2 * matches / (both lengths), cannot reach 0.85 for a name over twice as long as every field
    close = (
        difflib.get_close_matches(folded, near, n=1, cutoff=0.85)
        if len(folded) <= 2 * max(map(len, known))
        else []
    )
    return fixed, parts, known[close[0]] if close else None


def misspelling_of(key: str, names: Collection[str]) -> str | None:
    """The one of `names` that a query parameter `key` (not one of them) looks like a misspelling of: the same
    letters up to case, `_` and `-`, or nearly the same (difflib's 0.85, which takes a plural s too); else None.
    The body's rule (`RequestBody`) without its fields of the agent's own: a query carries no more than asked."""
    folded, known = _folded(key), {_folded(n): n for n in names}
    if folded in known:
        return known[folded]
    close = difflib.get_close_matches(folded, list(known), n=1, cutoff=0.85) if len(folded) <= 64 else []
    return known[close[0]] if close else None


def _meant(model: type[RequestBody], key: str, data: dict[Any, Any]) -> str | None:
    """The field `key` (not one of `model`'s) looks meant for in `data`, or None: a field of the agent's own."""
    resemblance = _resemblance if len(key) <= _CACHED_NAME else _resemblance.__wrapped__
    fixed, parts, close = resemblance(model, key)
    if fixed is None and not parts and close is None:  # most unknown names: nothing more to look at
        return None
    # a field of the agent's own, unless it stands in for a field that is missing ("text" for texts, "strategy"
    # for strategy_name: "texts: Field required" told nothing; "price": [...] for prices)
    stands_in = next((n for n in parts if _missing(model, n, data, data[key])), None)
    meant = fixed or stands_in or close
    return meant if meant is not None and meant not in data else None  # beside the field itself: not a misspelling


def unknown_fields(model: type[BaseModel], data: dict[Any, Any]) -> list[str]:
    """The names in `data` that are not fields of `model`, in order."""
    return [key for key in data if isinstance(key, str) and key not in model.model_fields]


def refuse_too_many_unknown(model: type[RequestBody], names: list[str], data: dict[Any, Any] | None) -> None:
    """ValueError when `names` (distinct, not fields of `model`) are more than MAX_UNKNOWN_FIELDS: the count, and
    the first SUGGESTED, each with the field it looks meant for where `data` (their object) is given."""
    if len(names) <= MAX_UNKNOWN_FIELDS:
        return
    first = []
    for key in names[:SUGGESTED]:
        meant = _meant(model, key, data) if data is not None else None
        first.append(_shown(key, 12) + (f" (did you mean {meant!r}?)" if meant else ""))
    # the count first: 422s clip a message at 300 characters (gateway/errors.py)
    raise ValueError(
        f"{len(names)} unknown fields (the first {SUGGESTED} below, and {len(names) - SUGGESTED} more), more than "
        f"the {MAX_UNKNOWN_FIELDS} a body may carry; send only the fields read ({', '.join(model.model_fields)}): "
        + ", ".join(first)
    )


class RequestBody(BaseModel):
    """A request's JSON body. A field this gateway does not know is ignored, so that the agent may send more
    than it reads; but one that looks like a misspelling of a field it does know (the same letters up to case,
    `_` and `-`, or nearly the same: difflib's ratio of 0.85 or more), or is a name in `synonyms`, is refused
    with a 422 naming both: `tradeId` ignored let a retried trade count twice, `usecache` served a cached
    answer asked not to be (found by a probe). A name that differs from a known one by whole `_` parts or a
    plural s (`closed` beside `closed_at`, `profit_loss_pct`, `price` beside `prices`, `symbols`) is a field of
    its own that the agent may well send, not a misspelling: it is ignored, unless the field is missing and
    required, or takes a list and the name carries one (`"price": [...]`). A name cut short inside a part
    (`use_cach`, `trade_i`) is still a misspelling. More than MAX_UNKNOWN_FIELDS unknown names are refused
    (`refuse_too_many_unknown`), so that checking them stays cheap."""

    model_config = ConfigDict(extra="ignore")
    synonyms: ClassVar[dict[str, str]] = {}  # another name a caller may use for a field -> that field

    @model_validator(mode="before")
    @classmethod
    def _no_misspelled_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = unknown_fields(cls, data)
            refuse_too_many_unknown(cls, unknown, data)
            for key in unknown:
                meant = _meant(cls, key, data)
                if meant is not None:
                    raise ValueError(f"unknown field {_shown(key, 80)}: did you mean {meant!r}?")  # 422s clip them
        return data


class FieldErrorResponse(BaseModel):
    field: str = Field(description="Where, e.g. body.prices.63; body.prices.* for items alike, told once.")
    message: str = Field(description="What is wrong there, with the value received.")


class ErrorResponse(BaseModel):
    """The body of every error answer (gateway/errors.py), documented so that clients and the fuzz tests
    can hold the gateway to it: FastAPI would otherwise document its own 422 shape, which we never send."""

    error: str = Field(description="The kind: invalid_input, unauthorized, payload_too_large, data_unavailable...")
    detail: str = Field(description="What was wrong, naming the field and the offending value.")
    errors: list[FieldErrorResponse] | None = Field(
        None,
        description="Schema validation (422): each problem, items that differ only in their list index told once "
        "(how many, and the first); at most 20, the detail counting the rest.",
    )


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


# The errors any route may answer, for APIRouter(responses=...); a route adds its own (reload: 409).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _error(
        "Missing or wrong X-API-Key, when the gateway has a key (setting api_key_env: ML_API_KEY by default)."
    ),
    408: _error("Not sent in time (http_header_timeout_s, http_body_timeout_s); the connection is closed."),
    413: _error("The body is larger than max_body_bytes."),
    415: _error("The body is not sent as JSON (Content-Type application/json)."),
    422: _error("Invalid input: the detail names the field and the value."),
    429: _error("Too many requests from this client (rate_limit_per_minute); Retry-After says when to retry."),
    503: _error("A model, the market data or the journal cannot answer now: the detail says which and why."),
}
# For the health routes' decorators: they answer 503 with their report, not an error body, and need no key.
# FastAPI appends `security` lists, so this makes the app-wide key requirement [{key}, {}]: key or nothing.
HEALTH_ROUTE: dict[str, Any] = {
    "responses": {503: {"description": "Unhealthy: the same report as 200, with the reason for each component."}},
    "openapi_extra": {"security": [{}]},
}
