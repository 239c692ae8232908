"""The Parquet cache of cleaned bars, one file per symbol and interval, and what this process knows of the
source per directory (when it was asked, when it failed); `closed`, the bars that had closed by a moment. What
to fetch into it, and when, is investiq.core.market_fetch's."""

from __future__ import annotations

from pathlib import Path

import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from investiq.core.atomic import replacing
from investiq.core.bar_columns import COLUMNS
from investiq.core.bar_intervals import interval_step, is_daily, session_dates
from investiq.core.bars import clean_bars
from investiq.core.errors import DataError
from investiq.core.names import symbol_problem, ticker

_ASKED: dict[
    Path,
    tuple[
        dict[tuple[str, str], pd.Timestamp],
        dict[tuple[str, str], tuple[pd.Timestamp, DataError]],
        dict[tuple[str, str], tuple[pd.Timestamp, pd.Timestamp | None]],
    ],
] = {}


class BarCache:
    """Cleaned bars per symbol and interval in `directory/<SYMBOL>_<interval>.parquet` (UTC times).

    Files are replaced atomically (investiq/core/atomic.py `replacing`), so a reader or a
    crash mid-write sees the old file or the new one, never half of one.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # What this process knows of the source, shared by every BarCache of the directory: (symbol, interval) ->
        # the latest `end` it asked the source for (fetch_into; recent_bars waits REFETCH_AFTER before asking
        # again for a bar that was not there yet), when asking last failed, and how (not asked again sooner), and
        # the earliest start `fetch_back` asked from, and the cache's first bar after it
        self.asked, self.failed, self.asked_back = _ASKED.setdefault(Path(directory).resolve(), ({}, {}, {}))

    def path(self, symbol: str, interval: str) -> Path:
        problem = symbol_problem(symbol)
        if problem is not None:
            raise DataError(problem)
        return self.directory / f"{ticker(symbol)}_{interval}.parquet"

    def read(self, symbol: str, interval: str) -> pd.DataFrame | None:
        """Cached bars (UTC index, COLUMNS as float64), or None when nothing is cached."""
        path = self.path(symbol, interval)
        if not path.exists():
            return None
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read cached bars {path} ({exc}); delete it to fetch again") from None
        frame.index = pd.DatetimeIndex(frame.index).tz_convert("UTC").as_unit("ns").rename("timestamp")
        return frame[COLUMNS]

    def merge(
        self,
        symbol: str,
        interval: str,
        new: pd.DataFrame,
        closed_by: pd.Timestamp | None = None,
        scale: float = 1.0,
    ) -> pd.DataFrame:
        """Cache ∪ `new` (raw), cleaned; on equal timestamps `new` wins. Written back and returned. Given
        `closed_by` (when `new` was fetched), bars of `new` that had not closed by then are left out; `scale`:
        the cached prices are multiplied by it (and volumes divided) first, as a split adjusts them."""
        fresh, _ = clean_bars(new, symbol, interval)
        if closed_by is not None:
            fresh = closed(fresh, interval_step(interval), closed_by)
        cached = self.read(symbol, interval)
        if cached is not None and scale != 1.0:
            cached = cached.assign(**{c: cached[c] * scale for c in ("open", "high", "low", "close")})
            cached["volume"] = cached["volume"] / scale
        if cached is not None and is_daily(interval) and not fresh.empty:
            # one bar a session, the new one: Yahoo's labels (the exchange's midnight) and a bar file's (UTC
            # midnight) of the same session differ, and both were kept, each session twice: the resolver,
            # counting bars, scored a forecast about half its horizon early (an audit of time in the price path)
            cached = cached[~session_dates(cached.index).isin(session_dates(fresh.index))]
        if cached is not None:  # later rows win in clean_bars' duplicate drop
            fresh, _ = clean_bars(pd.concat([cached, fresh]), symbol, interval)
        if not fresh.empty:
            self._write(self.path(symbol, interval), fresh)
        return fresh

    @staticmethod
    def _write(path: Path, frame: pd.DataFrame) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(path) as temp:
            frame.to_parquet(temp)


def closed(bars: pd.DataFrame, step: pd.Timedelta, by: pd.Timestamp) -> pd.DataFrame:
    """The bars that had closed by `by`: labelled by when they open, a bar closes one `step` after its label."""
    return bars.iloc[: int(bars.index.searchsorted(by - step, side="right"))]
