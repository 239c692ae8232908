"""The ML entry filters of `investiq backtest`: the price model's P(up) and headline sentiment, walk-forward.

Price: a PatchTST is trained only on the bars strictly before the backtest's start, exported and
validated as `investiq export patchtst` does (into WORK_DIR, never the serving repository), then run
by the gateway's own inference code (EmbeddedBackend, split_outputs, signal) on the window of the last
`context_length` closes up to and including every bar t >= start. An entry at t is allowed when
P(up) at the model's horizon > MIN_PROBABILITY_UP and, with a risk rule, when the horizon return of
the RISK_LEVEL quantile > -max_risk_loss. A model whose validation confirmed no P(up) skill (slope 0) answers
the same P(up) at every t (its base: the training up-rate, or 0.5): that says nothing about this entry, so the
P(up) rule lets every entry in, and `name`/`note` say so.

Sentiment: headlines (time, symbol, text) scored by the gateway's scorer (FinBERT through ONNX
Runtime when the model repository has it, else the finance lexicon); an entry is refused when the mean
score (P(positive) - P(negative)) of the symbol's headlines in [c - lookback, c] is below
SENTIMENT_THRESHOLD. The cut-off c is the stamp of the bar whose close fills the entry: the agent decides
after bar t has closed and fills at bar t+1's close, so a headline published before bar t+1's stamp is known
when the order goes in (daily bars: 00:00 UTC of the next trading day, before its close, so day t's headlines
count, even those after its close; intraday bars: the end of bar t). Bar t's own stamp (00:00 UTC of day t for
daily bars) would ignore all of day t's news. Where the entry has no next bar (the agent's own trades, filled at
their opened_at), c is the decision time. Headlines after c are never read. A headline dated without a time of
day (2015-03-02, 20150302) is placed at the last instant of its UTC day: it may have come after the close, so
no entry decided or filled that day reads it.

A t without a forecast (context not yet filled, unknown symbol, a window the model refuses) or without
headlines is allowed; every verdict is counted in `counts` for the report.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray
from tqdm import tqdm

from gateway.backends.embedded import EmbeddedBackend, patchtst_dir
from gateway.metrics import Metrics
from gateway.services.price_forecast import split_outputs
from gateway.wiring import build_backend, build_sentiment
from investiq.core.errors import ArtifactError, DataError, InvalidInputError
from investiq.core.finbert import LABELS, score_of
from investiq.core.journal.writer import JournalWriter
from investiq.core.market import SLASH_DATE, number_times, slash_day_first
from investiq.core.names import ticker
from investiq.core.patchtst import (
    INPUT,
    PATCHTST,
    RANDOM_WALK,
    PatchTSTMeta,
    PriceInputError,
    TrainConfig,
    check_closes,
    signal,
)
from investiq.core.settings import Settings

MIN_PROBABILITY_UP = 0.5  # enter only when P(up) at the horizon is above this
RISK_LEVEL = 0.1  # the forecast quantile the risk rule reads (its horizon return)
SENTIMENT_THRESHOLD = -0.2  # refuse when the mean headline score in the lookback is below this
SENTIMENT_LOOKBACK = pd.Timedelta(days=3)
Log = Callable[[str], None]


@dataclass
class Counts:
    """Verdicts given so far: allowed, refused, and allowed for want of a forecast (or headlines)."""

    allowed: int = 0
    refused: int = 0
    no_forecast: int = 0


@dataclass(frozen=True)
class Forecasts:
    """One symbol's forecasts, at its bars t >= start in time order; every array is [n]."""

    times: NDArray[np.int64]  # bar times, ns since the epoch (UTC)
    probability_up: NDArray[np.float64]  # P(close[t + horizon] > close[t])
    risk_return: NDArray[np.float64]  # close at the RISK_LEVEL quantile at the horizon / close[t] - 1


def _ns(moment: pd.Timestamp) -> int:
    """A time as ns since the epoch, UTC (a naive time is taken as UTC)."""
    stamp = pd.Timestamp(moment)
    return int((stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).value)


@dataclass
class PriceFilter:
    """Allows an entry when the model expects a rise (and, with max_risk_loss, a bounded downside)."""

    forecasts: dict[str, Forecasts]
    meta: PatchTSTMeta
    min_probability_up: float = MIN_PROBABILITY_UP
    max_risk_loss: float | None = None  # e.g. 0.05: refuse when the 10% quantile return is below -5%
    counts: Counts = field(default_factory=Counts)

    @property
    def name(self) -> str:
        rule = f"P(up) > {self.min_probability_up:g}"
        if self.max_risk_loss is not None:
            rule += f" and q{RISK_LEVEL:g} return > {-self.max_risk_loss:g}"
        if self.meta.served_as() == RANDOM_WALK:
            return rule + " (random-walk baseline)"
        return rule + ("" if self.informative else " (P(up) without skill)")

    @property
    def informative(self) -> bool:
        """Whether the model's P(up) moves with the window (validation kept a slope): else it is its base."""
        return self.meta.probability_up_source() == "model"

    @property
    def note(self) -> str:
        """For the report: which model decided, and whether its P(up) carries any information."""
        what = f"PatchTST {self.meta.version}, trained on bars until {self.meta.trained_until}"
        base = self.meta.base_probability_up()
        value = "one value" if base is None else f"{base:.3f}"
        constant = f"its P(up) is {value} at every bar, which says nothing of an entry: the P(up) rule lets all in"
        if self.meta.served_as() == RANDOM_WALK:
            return f"{what}: validation confirmed no skill, so it serves the random walk; {constant}"
        rule = self.meta.calibration.get("rule", "no calibration record")
        return f"{what}: {rule}" + ("" if self.informative else f"; {constant}")

    def at(self, symbol: str, decided_at: pd.Timestamp) -> tuple[float, float] | None:
        """(P(up), RISK_LEVEL quantile return) of the forecast made at bar time `decided_at`, or None."""
        found = self.forecasts.get(symbol)
        if found is None:
            return None
        t = _ns(decided_at)
        i = int(np.searchsorted(found.times, t))
        if i == len(found.times) or found.times[i] != t:
            return None
        return float(found.probability_up[i]), float(found.risk_return[i])

    def allows(self, symbol: str, decided_at: pd.Timestamp, fill_bar_at: pd.Timestamp | None = None) -> bool:
        """`fill_bar_at` is not read: the forecast uses closes up to bar t only (the fill bar's close is the
        fill's price)."""
        forecast = self.at(symbol, decided_at)
        if forecast is None:
            self.counts.no_forecast += 1
            return True
        p_up, risk = forecast
        rising = p_up > self.min_probability_up or not self.informative
        ok = rising and (self.max_risk_loss is None or risk > -self.max_risk_loss)
        if ok:
            self.counts.allowed += 1
        else:
            self.counts.refused += 1
        return ok


def price_filter(
    bars: Mapping[str, pd.Series],
    start: pd.Timestamp,
    settings: Settings,
    *,
    work_dir: Path,
    seed: int,
    budget_s: float,
    config: TrainConfig,
    progress: bool = True,
    max_risk_loss: float | None = None,
) -> PriceFilter:
    """Train on the closes before `start` (shape and optimisation: `config`), export into `work_dir`, forecast
    every bar from `start` on. `config`'s source, days and csv_path say where `bars` came from: the artifact
    records them so that `investiq evaluate patchtst` can reload the bars.

    `budget_s` bounds training as `investiq up` does: no epoch starts after it (the epoch under way, the
    calibration and the export come on top). Given `seed`, the model depends only on how many epochs
    ran (recorded in WORK_DIR/patchtst/metrics.json): on a slower machine the budget may stop it sooner."""
    log: Log = tqdm.write if progress else (lambda _: None)
    repository = train_before(bars, start, work_dir, seed=seed, budget_s=budget_s, config=config, log=log)
    meta, forecasts = forecast(repository, bars, start, batch=settings.price_batch_size, progress=progress)
    return PriceFilter(forecasts, meta, max_risk_loss=max_risk_loss)


def train_before(
    bars: Mapping[str, pd.Series],
    start: pd.Timestamp,
    work_dir: Path,
    *,
    seed: int,
    budget_s: float,
    config: TrainConfig,
    log: Log,
) -> Path:
    """A PatchTST trained (or, if training fails, the random-walk baseline) on the closes strictly
    before `start`, exported and validated into WORK_DIR/model_repository; that repository.
    Symbols with too few bars before `start` for the split are left out of training."""
    from export.patchtst import export_patchtst
    from investiq.ops.patchtst import train_or_baseline

    series, trains = trainable(bars, start, config, log)
    # config's source, days and file stay as given: the artifact records them, and `investiq evaluate patchtst`
    # reloads the bars from them (and scores only those after the model's validation part)
    config = dataclasses.replace(config, symbols=tuple(series), seed=seed)
    directory, repository = work_dir / PATCHTST, work_dir / "model_repository"
    rest = [s for s in series if s not in trains]
    also = f" ({', '.join(rest)}: validation and test only, split at the dates all share)" if rest else ""
    log(f"training PatchTST on {', '.join(trains)} bars before {start}{also} (at most {budget_s:g} s)")
    train_or_baseline(series, config, directory, log, budget_s=budget_s)
    export_patchtst(directory, repository, log=log)
    return repository


def trainable(
    bars: Mapping[str, pd.Series], start: pd.Timestamp, shape: TrainConfig, log: Log
) -> tuple[dict[str, tuple[Any, Any]], list[str]]:
    """(the symbols' closes strictly before `start` that training can split at the dates all share, the symbols
    among them with training windows), as training splits them (training/windows.py `calendar_splits`); the
    others left out with a warning. DataError when none can be split, saying what to do."""
    from training.windows import TooFewBars, calendar_splits

    before = {symbol: closes[closes.index < start] for symbol, closes in bars.items()}
    fractions = (shape.val_fraction, shape.test_fraction)
    c, h = shape.context_length, shape.prediction_length
    ways = "raise --history-fraction, give bars that reach further back, or pass --no-price-filter"
    try:
        splits, short = calendar_splits({s: b.index.to_numpy() for s, b in before.items()}, c, h, *fractions)
    except TooFewBars as exc:  # every symbol has a window, but together they lack a part
        raise DataError(f"the bars before {start} cannot train the price filter's model ({exc}): {ways}") from None
    problems = [f"{symbol}: {exc.bars} bars before it, ~{exc.need} needed" for symbol, exc in short.items()]
    if not splits:
        raise DataError(
            f"no symbol has enough bars before {start} for the price filter's model to train on ({problems[0]}): "
            + ways
        )
    for problem in problems:
        log(f"warning: not training on {problem}")
    series = {s: (before[s].to_numpy(dtype=np.float64), before[s].index.to_numpy()) for s in splits}
    return series, [s for s in splits if len(splits[s].train)]


def forecast(
    repository: Path, bars: Mapping[str, pd.Series], start: pd.Timestamp, *, batch: int, progress: bool = True
) -> tuple[PatchTSTMeta, dict[str, Forecasts]]:
    """The serving model of `repository` run, as the gateway runs it, on every bar t >= start whose last
    context_length closes fill a window the gateway would accept; `batch` windows per run."""
    backend = EmbeddedBackend(repository)
    meta = backend.patchtst
    if meta is None:
        raise ArtifactError(f"no PatchTST exported in {patchtst_dir(repository)}")
    c = meta.context_length
    try:
        k = meta.quantile_levels.index(RISK_LEVEL)
    except ValueError:
        raise ArtifactError(f"the model in {repository} has no {RISK_LEVEL:g} quantile: export it again") from None
    windows, owners = [], []
    for symbol, closes in bars.items():
        values, times = closes.to_numpy(dtype=np.float64), closes.index
        for i in np.flatnonzero(times >= start):
            try:
                windows.append(check_closes(values[max(0, i - c + 1) : i + 1], c))
            except PriceInputError:
                continue  # too few closes yet, or one the gateway refuses: no forecast at this bar
            owners.append((symbol, _ns(times[i])))
    rows: list[tuple[float, float] | None] = asyncio.run(_run(backend, windows, k, batch, progress))
    kept: dict[str, list[tuple[int, float, float]]] = {symbol: [] for symbol in bars}
    for (symbol, t), row in zip(owners, rows, strict=True):
        if row is not None:
            kept[symbol].append((t, *row))
    forecasts = {}
    for symbol, found in kept.items():
        times_ns, p_up, risk = (np.asarray(col) for col in zip(*found, strict=True)) if found else ([], [], [])
        forecasts[symbol] = Forecasts(
            np.asarray(times_ns, np.int64), np.asarray(p_up, float), np.asarray(risk, float)
        )
    return meta, forecasts


async def _run(
    backend: EmbeddedBackend, windows: list[NDArray[np.float32]], k: int, batch: int, progress: bool
) -> list[tuple[float, float] | None]:
    """(P(up) at the horizon, quantile k's horizon return) per window, None where the gateway would refuse
    the forecast (WindowForecast.problem)."""
    rows: list[tuple[float, float] | None] = []
    try:
        with tqdm(
            total=len(windows), desc="P(up) forecasts", unit="window", disable=None if progress else True
        ) as bar:
            for first in range(0, len(windows), batch):
                chunk = windows[first : first + batch]
                outputs = await backend.infer(PATCHTST, {INPUT: np.stack(chunk)})
                for window, f in zip(chunk, split_outputs(outputs), strict=True):
                    last = float(window[-1, 0])
                    ok = f.problem() is None
                    p_up = signal(window[:, 0], f.median, f.probability_up).probability_up
                    rows.append((p_up, float(f.quantiles[-1, k]) / last - 1) if ok else None)
                bar.update(len(chunk))
    finally:
        await backend.close()
    return rows


@dataclass
class SentimentFilter:
    """Refuses an entry when the symbol's recent headlines read negative on average."""

    times: dict[str, NDArray[np.int64]]  # per symbol: headline times, ns since the epoch (UTC), ascending
    scores: dict[str, NDArray[np.float64]]  # per symbol: P(positive) - P(negative), in that order
    model: str  # the scorer that read them: "finbert" or "lexicon"
    note: str
    threshold: float = SENTIMENT_THRESHOLD
    lookback: pd.Timedelta = SENTIMENT_LOOKBACK
    counts: Counts = field(default_factory=Counts)

    @property
    def name(self) -> str:
        return f"sentiment ({self.model}) over {self.lookback.days} days >= {self.threshold:g}"

    def mean_score(
        self, symbol: str, decided_at: pd.Timestamp, fill_bar_at: pd.Timestamp | None = None
    ) -> float | None:
        """The mean score of `symbol`'s headlines in [c - lookback, c], or None; the cut-off c is `fill_bar_at`,
        the stamp of the bar whose close fills the entry, or `decided_at` without one (the module's docstring)."""
        times = self.times.get(ticker(symbol))
        if times is None:
            return None
        t = _ns(decided_at if fill_bar_at is None else fill_bar_at)
        lo = int(np.searchsorted(times, t - self.lookback.value, side="left"))
        hi = int(np.searchsorted(times, t, side="right"))  # headlines at the cut-off are known, later ones not
        return float(self.scores[ticker(symbol)][lo:hi].mean()) if hi > lo else None

    def allows(self, symbol: str, decided_at: pd.Timestamp, fill_bar_at: pd.Timestamp | None = None) -> bool:
        mean = self.mean_score(symbol, decided_at, fill_bar_at)
        if mean is None:
            self.counts.no_forecast += 1
            return True
        if mean < self.threshold:
            self.counts.refused += 1
            return False
        self.counts.allowed += 1
        return True


HEADLINE_COLUMNS = ("time", "symbol", "text")


# A time of day in a headline's time: 14:05, T14, 2pm / 2 p.m.; text without one is a date only.
CLOCK = r"\d:\d|[Tt]\d|\d\s*[AaPp]\.?[Mm]\b"
LAST_INSTANT = pd.Timedelta(days=1) - pd.Timedelta(1, "ns")  # from a day's 00:00 to its last instant


def _headline_times(raw: pd.Series) -> pd.Series:
    """UTC times of the stripped texts, NaT where one is not a time. A column of whole numbers only is epoch
    times or YYYYMMDD dates, as for bars (number_times); text is read row by row ("mixed": a file may hold
    dates, times with offsets, Z times), but slash dates all one way: dateutil alone would read 02/03 month
    first and 13/03 day first in the same file. ValueError when the file's numbers or slash dates are ambiguous.

    A date without a time of day (20150302, 2015-03-02, 02/03/2015) is the last instant of that UTC day: the
    headline may have come out after the close, and at 00:00 an entry opened earlier that day read it."""
    filled = raw != ""
    if filled.any() and raw[filled].str.fullmatch(r"[0-9]+(\.0*)?").all():  # blank rows are named as such later
        numbers = pd.to_numeric(raw[filled])
        times = pd.Series(number_times(numbers), index=numbers.index).reindex(raw.index).dt.as_unit("ns")
        dates = bool(numbers.between(19000101, 21001231).all() and (numbers % 1 == 0).all())  # as number_times
        return times + LAST_INSTANT if dates else times
    day_first = slash_day_first(raw)
    slashed = raw.str.match(SLASH_DATE)
    times = pd.to_datetime(raw.where(~slashed), utc=True, errors="coerce", format="mixed")
    if slashed.any():
        slash_times = pd.to_datetime(raw[slashed], utc=True, errors="coerce", format="mixed", dayfirst=day_first)
        times[slashed] = slash_times
    times = times.dt.as_unit("ns")  # the last instant of a day is a nanosecond before the next
    dated = filled & ~raw.str.contains(CLOCK)
    return times.where(~dated, times.dt.floor("D") + LAST_INSTANT)


def read_headlines(csv_path: Path) -> pd.DataFrame:
    """The CSV's headlines: time (UTC; a naive time is taken as UTC, a date without a time of day as the end of
    that UTC day), symbol (upper case), text and the line of the file; sorted by time. InvalidInputError naming
    the missing columns or the first bad rows."""
    try:
        frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read the headlines CSV {csv_path}: {exc}") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in HEADLINE_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"the headlines CSV {csv_path} lacks the column(s) {', '.join(missing)}: it needs time, symbol, text "
            f"(it has {', '.join(frame.columns) or 'none'})"
        )
    if frame.empty:  # a header alone: the filter's note read the first headline's time (IndexError, a review)
        raise InvalidInputError(
            f"the headlines CSV {csv_path} holds no headlines, only its header: add rows of time, symbol, text, "
            "or leave out --headlines"
        )
    raw = frame["time"].str.strip()
    try:
        times = _headline_times(raw)
    except ValueError as exc:
        raise InvalidInputError(
            f"the headlines CSV {csv_path}: {exc}; write the times in ISO 8601, e.g. 2015-03-02T14:05:00-05:00"
        ) from None
    out = pd.DataFrame(
        {
            "time": times,
            "symbol": frame["symbol"].map(ticker),
            "text": frame["text"],
            "line": np.arange(len(frame)) + 2,  # of the file (line 1 is the header), for messages
        }
    )
    for column, bad in (
        ("time", out["time"].isna()),
        ("symbol", out["symbol"] == ""),
        ("text", out["text"].str.strip() == ""),
    ):
        if bad.any():
            lines = out["line"][bad].to_numpy()[:5]
            first = frame[column].iloc[int(lines[0]) - 2]
            raise InvalidInputError(
                f"the headlines CSV {csv_path} has {int(bad.sum())} row(s) with no usable {column} (line(s) "
                f"{', '.join(map(str, lines))}; e.g. {first!r}): fix or drop them"
            )
    return out.sort_values("time", kind="stable").reset_index(drop=True)


def sentiment_filter(
    csv_path: Path,
    settings: Settings,
    *,
    threshold: float = SENTIMENT_THRESHOLD,
    lookback: pd.Timedelta = SENTIMENT_LOOKBACK,
    progress: bool = True,
) -> SentimentFilter:
    """Score the CSV's headlines with the scorer the gateway would pick from `settings`; the filter."""
    read = read_headlines(csv_path)
    # The same story for the same symbol at the same time, twice (syndicated, or scraped twice): counted once.
    spoken = read["text"].str.split().str.join(" ").str.lower()
    headlines = read[~pd.concat([read[["time", "symbol"]], spoken], axis=1).duplicated()].reset_index(drop=True)
    scores, model, note = asyncio.run(_score(headlines, settings, progress))
    times = headlines["time"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    groups = headlines.groupby("symbol", sort=False).indices
    named = sorted(groups)
    note += (
        f"; {len(headlines)} headlines of {', '.join(named[:8])}{' and more' if len(named) > 8 else ''}, "
        f"{headlines['time'].iloc[0]:%Y-%m-%d} to {headlines['time'].iloc[-1]:%Y-%m-%d}"
    )
    if len(read) > len(headlines):
        note += f" ({len(read) - len(headlines)} repeats of a headline at the same time left out)"
    return SentimentFilter(
        {s: times[i] for s, i in groups.items()},
        {s: scores[i] for s, i in groups.items()},
        model,
        note,
        threshold,
        lookback,
    )


async def _score(
    headlines: pd.DataFrame, settings: Settings, progress: bool
) -> tuple[NDArray[np.float64], str, str]:
    """(score per headline, model, note). The gateway's pick (gateway/wiring.py build_sentiment) on the
    embedded backend: FinBERT through ONNX Runtime when exported, else the lexicon, each text normalized
    and checked by the service as /sentiment does; the service's journal is never written (no predict)."""
    backend = build_backend(settings.model_copy(update={"backend": "embedded"}))
    service = build_sentiment(
        settings, backend, JournalWriter(settings.db_path, settings.db_busy_timeout_ms), Metrics()
    )
    try:
        clean = []
        for line, text in zip(headlines["line"], headlines["text"], strict=True):
            try:
                clean.append(service.validate([text])[0])
            except InvalidInputError as exc:
                raise InvalidInputError(f"the headline on line {line}: {exc}") from None
        unique = list(dict.fromkeys(clean))
        step = settings.sentiment_max_texts
        parts = []
        for first in tqdm(
            range(0, len(unique), step),
            desc="headline sentiment",
            unit="batch",
            disable=None if progress else True,
        ):
            parts.append(await service.scorer.score(unique[first : first + step]))
        p = np.concatenate(parts).astype(np.float64) if parts else np.zeros((0, len(LABELS)))
        by_text = dict(zip(unique, map(score_of, p), strict=True))  # the score /sentiment reports
        scorer = service.scorer
        note = f"headlines scored by {scorer.model} {scorer.version}" + (
            f" ({service.degraded_reason})" if service.degraded_reason else ""
        )
        return np.array([by_text[t] for t in clean], dtype=np.float64), scorer.model, note
    finally:
        await service.scorer.close()
        await backend.close()
