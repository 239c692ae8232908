"""Validated field types shared by the schemas."""

from __future__ import annotations

import difflib
import unicodedata
from datetime import datetime, timezone
from typing import Annotated, Any, ClassVar, get_args, get_origin

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from investiq.core.journal import timestamps

# Characters a name must not hold, by Unicode category: what the refusal calls each.
INVISIBLE = {"Cc": "a control character", "Cf": "a format character, which does not show", "Cs": "a surrogate"}


def _plain_name(value: str) -> str:
    """Strategy and symbol names: trimmed, non-empty, no control, format or surrogate characters; otherwise kept
    verbatim."""
    value = value.strip()
    if not value:
        raise ValueError("must not be empty or blank")
    bad = [(ch, INVISIBLE[unicodedata.category(ch)]) for ch in value if unicodedata.category(ch) in INVISIBLE]
    if bad:
        raise ValueError(
            f"must not contain control, format or surrogate characters (found {bad[0][0]!r}: {bad[0][1]})"
        )
    return value


def plain_identifier(value: str) -> str:
    """Ids (a trade_id): trimmed, non-empty, and only characters that show: no control, format (zero-width),
    surrogate, private-use, unassigned or separator characters other than the plain space. Stricter than a name:
    an id is compared exactly, so what cannot be seen must not tell two ids apart."""
    value = value.strip()
    if not value:
        raise ValueError("must not be empty or blank")
    bad = next((ch for ch in value if not ch.isprintable()), None)
    if bad is not None:
        category = unicodedata.category(bad)
        raise ValueError(f"must contain only visible characters (found {bad!r}, Unicode category {category})")
    return value


def _iso_text(value: object) -> object:
    if not isinstance(value, str):  # pydantic would read a number as epoch seconds or milliseconds, guessing
        raise ValueError("must be an ISO 8601 date-time string, e.g. 2026-11-24T15:30:00Z")
    return timestamps.with_offset(value)  # "... UTC" as the sync reads it


Name = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_plain_name)]
# Strict: a JSON number (an integer too), never "42.5" or true, which lax parsing would turn into one.
FiniteFloat = Annotated[float, Field(allow_inf_nan=False, strict=True)]


def _utc_in_range(value: datetime) -> datetime:
    """Naive means UTC; outside the years 1-9999 once converted to UTC is a ValueError naming the range."""
    value = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    timestamps.utc_seconds(value)
    return value


# An ISO 8601 date-time the journal can store: naive = UTC, within the years 1-9999 in UTC.
UtcDateTime = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_utc_in_range)]


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


class RequestBody(BaseModel):
    """A request's JSON body. A field this gateway does not know is ignored, so that the agent may send more
    than it reads; but one that looks like a misspelling of a field it does know (the same letters up to case,
    `_` and `-`, or nearly the same: difflib's ratio of 0.85 or more), or is a name in `synonyms`, is refused
    with a 422 naming both: `tradeId` ignored let a retried trade count twice, `usecache` served a cached
    answer asked not to be (found by a probe). A name that differs from a known one by whole `_` parts or a
    plural s (`closed` beside `closed_at`, `profit_loss_pct`, `price` beside `prices`, `symbols`) is a field of
    its own that the agent may well send, not a misspelling: it is ignored, unless the field is missing and
    required, or takes a list and the name carries one (`"price": [...]`). A name cut short inside a part
    (`use_cach`, `trade_i`) is still a misspelling."""

    model_config = ConfigDict(extra="ignore")
    synonyms: ClassVar[dict[str, str]] = {}  # another name a caller may use for a field -> that field

    @model_validator(mode="before")
    @classmethod
    def _no_misspelled_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = {_folded(name): name for name in cls.model_fields}
            for key in data:
                if not isinstance(key, str) or key in cls.model_fields:
                    continue
                folded = _folded(key)
                meant = cls.synonyms.get(key) or known.get(folded)
                # a field of the agent's own, unless it stands in for a field that is missing ("text" for texts,
                # "strategy" for strategy_name: "texts: Field required" told nothing; "price": [...] for prices)
                stands_in = [
                    n for n in cls.model_fields if _another_field(key, n) and _missing(cls, n, data, data[key])
                ]
                near = [k for k in known if not _another_field(key, known[k])]
                close = difflib.get_close_matches(folded, near, n=1, cutoff=0.85)
                meant = meant or (stands_in[0] if stands_in else None) or (known[close[0]] if close else None)
                if meant is not None and meant not in data:  # beside the field itself it is not a misspelling
                    raise ValueError(f"unknown field {key!r}: did you mean {meant!r}?")  # 422s clip messages
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
    401: _error("Missing or wrong X-API-Key, when the gateway has a key (ML_API_KEY)."),
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
