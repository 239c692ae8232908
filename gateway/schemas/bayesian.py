"""Schemas of the /bayesian routes (the original design's paths and field names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from gateway.schemas.common import FiniteFloat, Name, RequestBody, UtcDateTime, plain_identifier
from investiq.core.bayes.allocation import Method
from investiq.core.journal import timestamps
from investiq.core.names import MAX_NAME


class TradeUpdateRequest(RequestBody):
    """One closed trade. Unknown fields are ignored so that the agent may send more."""

    # "pnl" ignored recorded a trade without its P&L beside won (the pnl weights then miss it), or answered only
    # "give profit_loss, won, or both"
    synonyms: ClassVar[dict[str, str]] = {"pnl": "profit_loss"}
    strategy_name: Name
    profit_loss: FiniteFloat | None = Field(None, description="Realised P&L of the trade, in account currency.")
    won: StrictBool | None = Field(None, description="Whether the trade won; defaults to profit_loss > 0.")
    closed_at: UtcDateTime | None = Field(
        None,
        description="When the trade closed (ISO 8601; naive = UTC; default now); between 0001-01-01T00:00:00Z and "
        "9999-12-31T23:59:59Z once converted to UTC, and not more than 5 minutes ahead of the gateway's clock.",
    )
    trade_id: StrictStr | StrictInt | None = Field(
        None,
        description="The agent's trade id (best: the id of its row in the trades table, so that "
        "sync-from-database recognises the trade). A repeated id is acknowledged but counted once; recorded "
        "for another strategy, or with another outcome (P&L, won), it is refused (409): a recorded trade is not "
        "corrected. An integer and its decimal text are the same id (777001 and "
        f'"777001"; not "0777001"). Text: 1 to {MAX_NAME} visible characters once trimmed; integers: 64-bit.',
    )

    @field_validator("trade_id", mode="before")
    @classmethod
    def _an_id(cls, value: Any) -> Any:
        """One message for a trade_id of another type (a float's read "body.trade_id.str: ...; body.trade_id.int:
        ...", the union inside: a new user's walkthrough)."""
        if value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        whole = isinstance(value, float) and value.is_integer()
        hint = f": send {int(value)}" if whole else ""
        raise ValueError(f"trade_id must be an integer or a string{hint}")

    @field_validator("trade_id")
    @classmethod
    def _trade_id(cls, value: str | int | None) -> str | int | None:
        if isinstance(value, int):
            if not -(2**63) <= value < 2**63:
                raise ValueError("an integer trade_id must fit in 64 bits (SQLite's INTEGER)")
            return value
        if isinstance(value, str):
            value = plain_identifier(value)
            if len(value) > MAX_NAME:
                raise ValueError(f"must be 1 to {MAX_NAME} characters, got {len(value)}")
        return value

    @property
    def trade_key(self) -> str | None:
        """The id as recorded: an integer as its decimal text, so 777001 and "777001" are one trade."""
        return None if self.trade_id is None else str(self.trade_id)

    @property
    def closed_ts(self) -> float | None:
        return None if self.closed_at is None else timestamps.utc_seconds(self.closed_at)

    @model_validator(mode="after")
    def _outcome(self) -> TradeUpdateRequest:
        if self.won is None and self.profit_loss is None:
            raise ValueError("give profit_loss, won, or both")
        pnl = self.profit_loss
        if self.won is not None and pnl is not None and ((self.won and pnl < 0) or (not self.won and pnl > 0)):
            raise ValueError(f"won={self.won} contradicts profit_loss={pnl}")
        return self


class StrategyStatsResponse(BaseModel):
    strategy_name: str
    win_rate: float = Field(description="Posterior mean of the win probability.")
    total_samples: int = Field(description="Trades learnt from (wins + losses), before forgetting.")
    wins: int
    losses: int
    alpha: float
    beta: float
    mean_pnl: float = Field(description="Posterior mean of the expected P&L per trade.")
    credible_interval_95: tuple[float, float] = Field(description="95% credible interval of the win probability.")
    pnl_credible_interval_95: tuple[float, float] = Field(description="95% credible interval of the mean P&L.")
    effective_samples: float = Field(description="Trades after forgetting (decayed weight).")
    proven: bool = Field(description="Enough effective trades to leave the prior share.")
    weight: float


class AllStatsResponse(BaseModel):
    strategies: list[StrategyStatsResponse]
    method: Method
    half_life_days: float


class TradeUpdateResponse(BaseModel):
    status: Literal["ok"] = "ok"
    counted: bool = Field(description="False when this trade_id had already been learnt from.")
    strategy: StrategyStatsResponse


class WeightsResponse(BaseModel):
    weights: dict[str, float]
    method: Method
    as_of: datetime
    unproven: list[str] = Field(
        description="Strategies with too few effective trades to leave their prior share (bayes_min_trades; pnl "
        "also needs two trades with a P&L): their weight is not learnt yet, whatever their trades say. Every "
        "strategy listed: the weights are equal shares (within the floor and cap). /bayesian/all-stats has "
        "each one's effective_samples."
    )


class SyncRequest(RequestBody):
    """An optional body of /bayesian/sync-from-database, for a client that sends its parameters as JSON."""

    days: StrictInt | None = Field(
        None, ge=1, description="As the query's days, where the query has none; both given, they must agree."
    )


class SyncResponse(BaseModel):
    status: Literal["ok"] = "ok"
    days: int
    trades_imported: int = Field(description="Trades of the window learnt from by this sync (new ones).")
    already_recorded: int = Field(
        0, description="Trades of the window already learnt from (by /bayesian/update or an earlier sync)."
    )
    skipped: dict[str, int] = Field(description="Rows not learnt from, by reason.")
    strategies: list[str] = Field(description="Every strategy with a posterior after the sync.")
