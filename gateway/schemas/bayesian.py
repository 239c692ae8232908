"""Schemas of the /bayesian routes (the original design's paths and field names)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from gateway.schemas.common import FiniteFloat, IsoDateTime, Name


class TradeUpdateRequest(BaseModel):
    """One closed trade. Unknown fields are ignored so that the agent may send more."""

    model_config = ConfigDict(extra="ignore")

    strategy_name: Name
    profit_loss: FiniteFloat | None = Field(None, description="Realised P&L of the trade, in account currency.")
    won: StrictBool | None = Field(None, description="Whether the trade won; defaults to profit_loss > 0.")
    closed_at: IsoDateTime | None = Field(None, description="When the trade closed (ISO 8601; naive = UTC).")
    trade_id: StrictStr | StrictInt | None = Field(
        None, description="The agent's trade id: a repeated id is acknowledged but counted once."
    )

    @field_validator("closed_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value

    @field_validator("trade_id")
    @classmethod
    def _trade_id(cls, value: str | int | None) -> str | int | None:
        if isinstance(value, str) and not (0 < len(value.strip()) <= 128):
            raise ValueError("must be 1 to 128 characters")
        return value

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
    method: Literal["mean", "thompson"]
    half_life_days: float


class TradeUpdateResponse(BaseModel):
    status: Literal["ok"] = "ok"
    counted: bool = Field(description="False when this trade_id had already been learnt from.")
    strategy: StrategyStatsResponse


class WeightsResponse(BaseModel):
    weights: dict[str, float]
    method: Literal["mean", "thompson"]
    as_of: datetime


class SyncResponse(BaseModel):
    status: Literal["ok"] = "ok"
    days: int
    trades_imported: int
    skipped: dict[str, int] = Field(description="Rows not learnt from, by reason.")
    strategies: list[str]
