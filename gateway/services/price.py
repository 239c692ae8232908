"""Price forecasts: closes (given, or recent bars from the data layer) -> PatchTST -> a probabilistic
forecast (median path, quantiles, calibrated P(up), the volatility it scales by) and its direction.

Forecasts for many symbols share one forward pass; each request makes its own, at most `max_inflight`
of them in flight at once (None: no limit). Every forecast is journaled with its target
time; `resolve_due` later fills in what the market did (see gateway/services/resolver.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import TypeAlias

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gateway.backends.base import InferenceBackend, Tensors
from gateway.metrics import Metrics
from gateway.services.batching import slot_timeout
from gateway.services.price_forecast import (
    DataUnavailableError,
    PriceForecast,
    PriceQuery,
    WindowForecast,
    closed_after,
    quantile_key,
    split_outputs,
    unchecked_interval,
)
from gateway.services.skill import SkillService
from investiq.core.bar_cache import BarCache
from investiq.core.errors import (
    DataError,
    InvalidInputError,
    ModelNotReadyError,
    VersionMovedError,
)
from investiq.core.gaps import GapIntervals, usual_spacing, widen
from investiq.core.journal.predictions import PriceRow, insert_price
from investiq.core.journal.writer import JournalWriter
from investiq.core.market import INTERVAL_SECONDS
from investiq.core.market_fetch import Fetch, recent_bars
from investiq.core.names import shortened
from investiq.core.patchtst import (
    INPUT,
    PATCHTST,
    RANDOM_WALK,
    PatchTSTMeta,
    PriceInputError,
    check_closes,
    signal,
)
from investiq.core.splits import never_splits, suspected_splits
from investiq.core.stale import days_text, silent_since, unmoving_closes, usual_quiet
from investiq.core.yahoo import YahooError

NOT_EXPORTED = "PatchTST is not exported: run `investiq train patchtst`, then `investiq export patchtst`"


RULE_SHOWN = 240  # characters of the calibration record a health reason shows (its middle cut: `shortened`)


def days_since(iso: str) -> float:
    """Days from an ISO time (UTC where it names no zone) to now."""
    at = datetime.fromisoformat(iso)
    at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - at).total_seconds() / 86400


# A query's closes, the time the last one closed (aware), the window's bar times where known (bars the gateway
# fetched, or sent with the closes; else None), and the window the model reads (check_closes).
_Closes: TypeAlias = tuple[list[float], datetime, pd.DatetimeIndex | None, NDArray[np.float32]]


def _window(closes: list[float], where: str, meta: PatchTSTMeta) -> NDArray[np.float32]:
    try:
        return check_closes(closes, meta.context_length)
    except PriceInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None


class PriceService:
    def __init__(
        self,
        backend: InferenceBackend,
        meta: PatchTSTMeta | None,
        writer: JournalWriter,
        metrics: Metrics,
        cache: BarCache,
        fetch: Fetch,
        *,
        max_batch: int,
        repository_version: int | None = None,
        max_age_days: float = 0.0,
        skill: SkillService | None = None,
        max_inflight: int | None = None,
        slot_timeout_s: float | None = None,
    ) -> None:
        self.meta = meta
        self.skill = skill
        self.repository_version = repository_version
        self._max_age_days = max_age_days
        self._backend = backend
        self._writer = writer
        self._metrics = metrics
        self.cache = cache
        self.fetch = fetch
        self._max_batch = max_batch
        self._slots = asyncio.Semaphore(max_inflight) if max_inflight is not None else None
        self._max_inflight, self._slot_timeout_s = max_inflight or 0, slot_timeout_s
        self._gaps: tuple[PatchTSTMeta | None, GapIntervals | None] = (None, None)  # the serving model's
        # Adopts the version a shared backend serves after another process rolled it out (VersionMovedError):
        # ModelsService.adopt, set by the app; None: such a request fails with the backend's error.
        self.follow: Callable[[int, int | None], Awaitable[None]] | None = None
        if meta is not None:
            metrics.serve_model("price", meta.served_as(), meta.version)

    async def predict(self, queries: list[PriceQuery], *, tries: int = 2) -> list[PriceForecast]:
        """Validate everything first: each query's own input (`_check`), then the bars fetched for those without
        closes; nothing reaches the model on bad input. Then one forward pass.

        A hot swap (`swap`) while the request runs leaves unknown which version answered it: then it
        runs once more, wholly under the new version, so that a forecast never carries (nor is
        journaled under) the other version's name, and a window shaped for the old one never reaches
        the new one unchecked. The forward pass asks for the version this service reads (`number`): where
        another process switched a shared backend (a second gateway's reload through the same Triton), that
        fails, and the service adopts the version served now (`follow`) and runs the request again."""
        meta, number = self._ready(), self.repository_version
        if not queries:
            raise InvalidInputError("requests is empty: send at least one")
        if len(queries) > self._max_batch:
            raise InvalidInputError(f"{len(queries)} requests, more than the limit of {self._max_batch}")
        start = time.perf_counter()
        wheres = [f"requests[{i}] ({q.symbol})" if len(queries) > 1 else q.symbol for i, q in enumerate(queries)]
        # Every item's own input first: a client's error anywhere in the batch is its 422, never hidden behind a
        # 503 for bars that another item asked the data source for, and no bars are fetched for a batch refused.
        checked = [self._check(q, where, meta) for q, where in zip(queries, wheres, strict=True)]
        windows, stamps, lasts, warnings, bar_times = [], [], [], [], []
        for q, where, sent in zip(queries, wheres, checked, strict=True):
            closes, last_time, times, window = sent if sent is not None else await self._fetched(q, where, meta)
            windows.append(window)
            stamps.append(last_time)
            bar_times.append(times)
            lasts.append(float(closes[-1]))  # as sent: the window is float32 (123.46 came back 123.45999908)
            # the caller's own closes may be unadjusted; the bar cache's are adjusted, as Yahoo's (`split_factor`)
            caller = sent is not None and not never_splits(q.symbol)
            splits = suspected_splits(window, len(closes) - meta.context_length) if caller else []
            now = datetime.now(timezone.utc)
            silent = [] if times is None else silent_since(times, last_time, now, sent=sent is not None)
            warnings.append(splits + unmoving_closes(window) + silent + unchecked_interval(q, sent, meta))
        batch = np.stack(windows)  # [B, context, 1]
        self._metrics.batch_size.labels(PATCHTST).observe(len(batch))
        try:
            out = split_outputs(await self._infer(batch, number))
        except VersionMovedError as exc:  # pinned to `number`, which another process replaced (a shared Triton)
            if self.meta is meta:
                if self.follow is None:
                    raise
                if exc.serving is not None:
                    await self.follow(exc.serving, number)
                # servers serving different versions (a rollout under way): once more, as another may still serve
                # `number`; else nothing was adopted, and the backend's error stands
                if self.meta is meta and (exc.serving is not None or tries <= 1):
                    raise
            return await self._again(queries, tries)
        except Exception:
            if self.meta is meta:
                raise
            return await self._again(queries, tries)  # the swap may be the cause
        if self.meta is not meta:
            return await self._again(queries, tries)
        out = [
            self._across_gaps(f, times, meta, window[-1, 0])
            for f, times, window in zip(out, bar_times, windows, strict=True)
        ]
        for f, window, where in zip(out, windows, wheres, strict=True):
            problem = f.problem()
            if problem is not None:
                # Closes that fit float32 but span so many orders of magnitude that the model overflows: a
                # property of this request, not of the service.
                raise InvalidInputError(
                    f"{where}: the model cannot forecast these closes (from {window.min():g} to "
                    f"{window.max():g}): {problem}"
                )
        forecasts = [
            self._forecast(q, w, f, t, c, meta, warned)
            for q, w, f, t, c, warned in zip(queries, windows, out, stamps, lasts, warnings, strict=True)
        ]
        self._journal(forecasts, (time.perf_counter() - start) * 1000 / len(forecasts), meta)
        return forecasts

    async def _infer(self, batch: NDArray[np.float32], number: int | None) -> Tensors:
        """One forward pass of the version `number` (the repository's), whose metadata reads its outputs."""
        if self._slots is not None:
            try:  # at most one timeout's wait for a slot (batching.slot_timeout)
                await asyncio.wait_for(self._slots.acquire(), self._slot_timeout_s)
            except asyncio.TimeoutError:
                raise slot_timeout(self._slot_timeout_s or 0.0, self._max_inflight) from None
        try:
            start = time.perf_counter()
            try:
                return await self._backend.infer(PATCHTST, {INPUT: batch}, version=number)
            finally:
                self._metrics.inference_latency.labels(PATCHTST).observe(time.perf_counter() - start)
        finally:
            if self._slots is not None:
                self._slots.release()

    async def _again(self, queries: list[PriceQuery], tries: int) -> list[PriceForecast]:
        if tries <= 1:
            raise ModelNotReadyError("the price model was swapped twice during this request: send it again")
        return await self.predict(queries, tries=tries - 1)

    def _ready(self) -> PatchTSTMeta:
        if self.meta is None:
            raise ModelNotReadyError(NOT_EXPORTED)
        return self.meta

    def _across_gaps(
        self, f: WindowForecast, times: pd.DatetimeIndex | None, meta: PatchTSTMeta, last: float
    ) -> WindowForecast:
        """The forecast with its intervals for the gaps (nights, weekends) its path crosses, where the bar times
        are known (bars the gateway fetched, or `bar_times` sent with the closes) and calibration recorded
        factors (investiq/core/gaps.py); else as the graph gave them, pooled over every place in a session."""
        if times is None:
            return f
        if self._gaps[0] is not meta:  # read once per model served (its version names its weights, not these)
            self._gaps = (meta, GapIntervals.from_calibration(meta.calibration))
        gaps = self._gaps[1]
        factors = None if gaps is None else gaps.for_window(times)
        if factors is None:
            return f
        return replace(
            f, quantiles=widen(last, f.median, f.quantiles, factors).astype(np.float32), intervals="gaps_ahead"
        )

    def _check(self, q: PriceQuery, where: str, meta: PatchTSTMeta) -> _Closes | None:
        """InvalidInputError naming `where` for what is wrong with the query itself: its interval, its symbol (one
        rule, the bar cache's, whether or not bars are fetched for it: a symbol the gateway could never fetch is
        not journaled either), its closes and their times. Then the closes sent, ready to forecast (`_Closes`),
        or None: the query's bars are to be fetched (`_fetched`)."""
        # by spacing: 60m and 1h are one bar (Yahoo's two names), and "1h" was refused to a model of 60m bars
        same = q.interval == meta.interval or INTERVAL_SECONDS.get(q.interval or "") == INTERVAL_SECONDS.get(
            meta.interval
        )
        if q.interval is not None and not same:
            known = q.interval in INTERVAL_SECONDS
            raise InvalidInputError(
                f"{where}: interval {q.interval!r} "
                + (
                    f"is not the model's: it was trained on {meta.interval} bars (a model of {q.interval} bars: "
                    f"investiq train patchtst --interval {q.interval}, then investiq export patchtst)"
                    if known
                    else f"is unknown; known: {', '.join(INTERVAL_SECONDS)}"
                )
            )
        if q.horizon is not None and q.horizon != meta.prediction_length:  # ignored, 5 was answered with 12 steps
            raise InvalidInputError(
                f"{where}: horizon {q.horizon} is not the model's: it forecasts {meta.prediction_length} bars "
                f"ahead (omit horizon, or read the first {q.horizon} of each path; another horizon needs a model "
                "trained for it: investiq train patchtst --prediction-length)"
            )
        try:
            self.cache.path(q.symbol, meta.interval)  # "A/B", "..": no bars ever, so the client's error, not 503
        except DataError as exc:
            raise InvalidInputError(f"{where}: {exc}") from None
        if q.prices is None:
            return None
        now = datetime.now(timezone.utc)
        if q.last_bar_time is not None:
            last = q.last_bar_time
        elif q.bar_times:  # a replay sent with its bar times is dated by them, not now (a review: 2018 bars
            # forecast "from now" would be scored against bars of today); labelled by when a bar opens, it closed
            # an interval later, as the gateway's own bars (`_fetched`); a bar still forming closes later than now
            last = min(closed_after(q.bar_times[-1], INTERVAL_SECONDS[meta.interval]), now)
        else:
            last = now
        sent = None
        if q.bar_times is not None:
            # in UTC (the schema's); from seconds in one call: a DatetimeIndex of 512 datetimes took 0.8 ms
            sent = pd.to_datetime([t.timestamp() for t in q.bar_times[-meta.context_length :]], unit="s", utc=True)
            spacing, usual = usual_spacing(sent), INTERVAL_SECONDS[meta.interval]
            if len(sent) > 1 and not usual / 2 <= spacing <= usual * 2:  # (one close: check_closes says too few)
                raise InvalidInputError(
                    f"{where}: bar_times are {pd.Timedelta(seconds=spacing)} apart (their median), the model's "
                    f"bars {meta.interval}: send the times of {meta.interval} bars, or none"
                )
            quiet = usual_quiet(sent)
            after = last - sent[-1].to_pydatetime() if quiet is not None else timedelta(0)
            if q.last_bar_time is not None and quiet is not None and after > quiet[0] + 2 * quiet[1]:
                # closes of 2024 sent as of now were scored against bars of today (a review)
                raise InvalidInputError(
                    f"{where}: last_bar_time {last.isoformat()} is {days_text(after)} after bar_times[-1] = "
                    f"{sent[-1].isoformat()}, longer than two bars and any gap between the window's bars or a "
                    f"long weekend ({days_text(quiet[0])}): the last bar closed long before; send when it closed, "
                    "or leave last_bar_time out (dated by bar_times[-1])"
                )
        return q.prices, last, sent, _window(q.prices, where, meta)

    async def _fetched(self, q: PriceQuery, where: str, meta: PatchTSTMeta) -> _Closes:
        """The query's recent bars (the cache's, or fetched), as `_check` gives sent closes: their closes, the time
        the last one closed, the window's bar times, the window."""
        try:
            bars = await asyncio.to_thread(
                recent_bars, q.symbol, meta.interval, meta.context_length, self.cache, self.fetch
            )
        except DataError as exc:
            reason = exc.reason if isinstance(exc, YahooError) else str(exc)
            raise DataUnavailableError(
                f"{where}: no recent {meta.interval} bars: {reason}; send the closes with the request instead "
                f'("prices": the last {meta.context_length} or more, oldest first)'
            ) from None
        # Bars are labelled by when they open: the last one has closed by its label plus one interval, the time
        # last_bar_time means (the request's own, and the resolver's start: the first bar opening at or after it).
        closed = bars.index[-1].to_pydatetime() + timedelta(seconds=INTERVAL_SECONDS[meta.interval])
        closes = [float(x) for x in bars["close"]]
        return closes, closed, bars.index[-meta.context_length :], _window(closes, where, meta)

    def _forecast(
        self,
        q: PriceQuery,
        window: NDArray[np.float32],
        f: WindowForecast,
        last: datetime,
        close: float,
        meta: PatchTSTMeta,
        warnings: list[str],
    ) -> PriceForecast:
        s = signal(window[:, 0], f.median, f.probability_up)
        self._metrics.price_predictions.labels(s.direction).inc()
        horizon = meta.prediction_length
        target = last + timedelta(seconds=INTERVAL_SECONDS[meta.interval] * horizon)
        return PriceForecast(
            symbol=q.symbol,
            direction=s.direction,
            confidence=s.confidence,
            predicted_prices=f.median.tolist(),  # float32 -> Python floats, as float(x) each
            predicted_return=s.predicted_return,
            horizon=horizon,
            interval=meta.interval,
            current_price=close,
            last_bar_time=last.isoformat(),
            target_time=target.isoformat(),
            model_version=meta.version,
            model=meta.served_as(),
            skill=self.skill.block(meta.version, q.symbol) if self.skill else None,
            probability_up=f.probability_up.tolist(),
            quantiles={
                quantile_key(level): path
                for level, path in zip(meta.quantile_levels, f.quantiles.T.tolist(), strict=True)
            },
            volatility=f.volatility,
            warnings=warnings,
            intervals=f.intervals,
            probability_up_source=meta.probability_up_source(),
        )

    def _journal(self, forecasts: list[PriceForecast], latency_ms: float, meta: PatchTSTMeta) -> None:
        now = datetime.now(timezone.utc).isoformat()
        base = meta.base_probability_up()
        rows = [
            PriceRow(
                created_at=now,
                symbol=f.symbol,
                model_name=f.model,
                model_version=f.model_version,
                interval=f.interval,
                horizon_steps=f.horizon,
                last_price=f.current_price,
                last_bar_time=f.last_bar_time,
                predicted_price=f.predicted_prices[-1],
                predicted_return=f.predicted_return,
                direction=f.direction,
                confidence=f.confidence,
                forecast_json=json.dumps(f.predicted_prices),
                target_time=f.target_time,
                latency_ms=latency_ms,
                probability_up=f.probability_up[-1],
                base_probability_up=base,
                quantiles=json.dumps({level: path[-1] for level, path in f.quantiles.items()}),
                volatility=f.volatility,
                intervals=f.intervals,
            )
            for f in forecasts
        ]
        self._writer.log(insert_price(rows))

    def swap(self, meta: PatchTSTMeta, repository_version: int) -> None:
        """Serve forecasts as `meta` from now on (the backend already serves its weights)."""
        self.meta, self.repository_version = meta, repository_version
        self._metrics.serve_model("price", meta.served_as(), meta.version)

    def health(self) -> dict[str, object]:
        """healthy only when a model serves, it is not stale, it is more than the random walk, and its
        live record is long enough to judge and not significantly worse than the naive forecasts."""
        if self.meta is None:
            return {"status": "unhealthy", "reason": NOT_EXPORTED}
        m = self.meta
        report: dict[str, object] = {
            "status": "healthy",
            "model": m.served_as(),
            "model_version": m.version,
            "repository_version": self.repository_version,
            "interval": m.interval,
            "context_length": m.context_length,
            "horizon": m.prediction_length,
            "trained_until": m.trained_until,
            "trained_at": m.trained_at or None,
            # what it learnt from: `up`'s offline first model reads any symbol's closes as daily index bars, and
            # its symbols were said only in `up`'s log and `models list` (a new user's review)
            "trained_on": {"source": m.source, "symbols": list(m.symbols)},
        }
        reasons = []
        if m.served_as() == RANDOM_WALK:
            # the calibration's whole record beside the reason, which names its first part (an untrained baseline's
            # cause, or the median's verdict): the whole record ran to 1,500 characters inside it
            rule = str(m.calibration.get("rule", "no calibration record"))
            report["calibration_rule"] = rule
            reasons.append(
                "serving the random-walk baseline (last close, volatility intervals, the base P(up)): "
                f"validation did not confirm PatchTST's skill ({shortened(rule.split('; ')[0], RULE_SHOWN)}; "
                "calibration_rule has the whole record); `investiq retrain` may replace it through the gate"
            )
        elif self.skill is not None:
            reason, figures = self.skill.verdict(m.version)
            report["skill"] = figures
            if reason:
                reasons.append(reason)
        if m.trained_at and self._max_age_days > 0:
            age = days_since(m.trained_at)
            report["age_days"] = round(age, 2)
            # the bars it learnt from, shown beside: trained today on bars of 2012 (up's offline sample) read only
            # "age 0" (a walkthrough); not judged, as a model may be served on purpose for years of old bars
            with contextlib.suppress(ValueError):  # not recorded (""), or not a time: not shown
                report["data_age_days"] = round(days_since(m.seen_until()), 2)
            if age > self._max_age_days:
                reasons.append(
                    f"the serving PatchTST was trained {age:.1f} days ago, more than max_model_age_days="
                    f"{self._max_age_days:g}: run `investiq retrain`"
                )
        if reasons:
            report["status"] = "degraded"
            report["reason"] = "; ".join(reasons)
        return report
