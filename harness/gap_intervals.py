"""Served intervals across nights and within sessions, simulated: `python -m harness.gap_intervals [--start DATE]
[--end DATE] [--night 4] [--symbols 3] [--europe] [--crypto]`.

US stock bars of 15 minutes (26 a session, 09:30-16:00 New York time, so their UTC times move with daylight
saving; the exchange's holidays of 2023-2024 left out, half-days closing at 13:00), log returns Normal with a
night's (or a weekend's) move `--night` times a bar's; one independent path per symbol. `--europe` adds a
symbol of 34 bars a session from 08:00 UTC, `--crypto` one round the clock with 60 bars missing; `--sample`
replaces them all with the real daily bars that ship with `arch` (S&P 500 and NASDAQ, 1999-2018). The calibrated
random walk of the default configuration (context 512, horizon 12: training/patchtst.py `baseline`) is trained on
them, and the 80 % intervals on the test part of each symbol (then the 50, 80 and 90 % intervals over every symbol)
are scored where a path crosses a gap and where it does not: as the graph gives them (pooled over every place in a
session) and as served with the factors for the gaps ahead (investiq/core/gaps.py). The default dates are about
`--days 60` of Yahoo's 15m bars.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from investiq.core.gaps import as_served, crossings, gap_before
from investiq.core.market import clean_bars, load_sample
from investiq.core.patchtst import TrainConfig
from training.forecaster import load_forecaster, predict
from training.patchtst import baseline
from training.windows import symbol_splits, windows

HOLIDAYS = {
    "2023-11-23", "2023-12-25", "2024-01-01", "2024-01-15", "2024-02-19", "2024-03-29", "2024-05-27",
    "2024-06-19", "2024-07-04", "2024-09-02", "2024-11-28", "2024-12-25",
}  # fmt: skip
HALF_DAYS = {"2023-11-24", "2024-07-03", "2024-11-29", "2024-12-24"}


def us_bars(start: str, end: str) -> pd.DatetimeIndex:
    """15-minute bar times (their opening) of a US exchange, in UTC."""
    stamps = []
    for day in pd.bdate_range(start, end):
        if str(day.date()) in HOLIDAYS:
            continue
        bars = 14 if str(day.date()) in HALF_DAYS else 26
        stamps += [day + pd.Timedelta(hours=9.5) + k * pd.Timedelta(minutes=15) for k in range(bars)]
    return pd.DatetimeIndex(stamps).tz_localize("America/New_York").tz_convert("UTC")


def europe_bars(start: str, end: str) -> pd.DatetimeIndex:
    days = pd.bdate_range(start, end)
    return pd.DatetimeIndex(
        [d + pd.Timedelta(hours=8) + k * pd.Timedelta(minutes=15) for d in days for k in range(34)]
    )


def crypto_bars(start: str, end: str, seed: int) -> pd.DatetimeIndex:
    stamps = pd.date_range(start, end, freq="15min", inclusive="left")
    return stamps.delete(np.sort(np.random.default_rng(seed).choice(len(stamps), 60, replace=False)))


def closes(times: pd.DatetimeIndex, night: float, seed: int) -> NDArray[np.float64]:
    """A path whose moves after a gap are `night` times the others' (0.2 % a bar)."""
    scale = np.where(gap_before(times), night, 1.0)
    return np.asarray(100 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.002, len(times)) * scale)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", default="2024-09-03", help="first day of bars (default: 2024-09-03)")
    parser.add_argument("--end", default="2024-11-29", help="last day of bars (default: 2024-11-29)")
    parser.add_argument("--night", type=float, default=4.0, help="a night's move in bars' (default: 4)")
    parser.add_argument("--symbols", type=int, default=3, help="US symbols (default: 3)")
    parser.add_argument("--europe", action="store_true", help="add a European symbol (34 bars a session)")
    parser.add_argument("--crypto", action="store_true", help="add a round-the-clock symbol with missing bars")
    parser.add_argument(
        "--sample", action="store_true", help="the sample's real daily S&P 500 and NASDAQ bars instead (weekends)"
    )
    args = parser.parse_args(argv)
    if args.sample:
        frames = {s: clean_bars(load_sample(s), s, "1d")[0] for s in ("SPX", "NASDAQ")}
        series = {s: (f["close"].to_numpy(dtype=np.float64), f.index.to_numpy()) for s, f in frames.items()}
    else:
        us = us_bars(args.start, args.end)
        bars = {f"US{i + 1}": us for i in range(args.symbols)}
        if args.europe:
            bars["EU"] = europe_bars(args.start, args.end).tz_localize("UTC")
        if args.crypto:
            bars["CRYPTO"] = crypto_bars(args.start, args.end, seed=99).tz_localize("UTC")
        nights = {s: 1.0 if s == "CRYPTO" else args.night for s in bars}
        series = {s: (closes(t, nights[s], i), t.to_numpy()) for i, (s, t) in enumerate(bars.items())}
    config = TrainConfig(symbols=tuple(series), source="csv", days=0, interval="1d" if args.sample else "15m")
    with tempfile.TemporaryDirectory() as work:
        baseline(series, config, Path(work) / "m", "harness.gap_intervals", log=lambda _: None)
        forecaster, meta = load_forecaster(Path(work) / "m")
    print(meta.calibration["rule"].rsplit("; intervals", 1)[-1].lstrip())
    c, h = config.context_length, config.prediction_length
    print(f"rho {meta.calibration['gaps']['rho']:.3g}" if meta.calibration.get("gaps") else "no gap factors")
    print("| symbol | test origins | across a gap: pooled | fitted | across none: pooled | fitted |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    hits: dict[tuple[str, bool, bool], list[NDArray[np.bool_]]] = {}  # (interval, fitted, across) -> inside
    for symbol, split in symbol_splits(series, config).items():
        prices, times = series[symbol]
        x, y = windows(prices, split.test, c, h)
        f = predict(forecaster, x)
        served = as_served(meta.calibration, times, split.test, c, x[:, -1, 0], f.median, f.quantiles)
        across = crossings(gap_before(times), split.test, h) > 0
        for fitted, q in ((False, np.asarray(f.quantiles)), (True, served)):
            for name, (low, high) in INTERVALS.items():
                inside = (y[..., 0] >= q[..., low]) & (y[..., 0] <= q[..., high])
                for kind in (True, False):
                    hits.setdefault((name, fitted, kind), []).append(inside[across == kind])
        cells = [_share([hits["80 %", fitted, kind][-1]]) for kind in (True, False) for fitted in (False, True)]
        print(f"| {symbol} | {len(split.test)} | " + " | ".join(cells) + " |")
    print("\n| every symbol | across a gap: pooled | fitted | across none: pooled | fitted |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in INTERVALS:
        cells = [_share(hits[name, fitted, kind]) for kind in (True, False) for fitted in (False, True)]
        print(f"| {name} interval | " + " | ".join(cells) + " |")


INTERVALS = {"50 %": (2, 4), "80 %": (1, 5), "90 %": (0, 6)}  # QUANTILE_LEVELS' positions of each's bounds


def _share(parts: list[NDArray[np.bool_]]) -> str:
    """The share of steps covered over these parts, or "-" where there are none."""
    every = np.concatenate([p.reshape(-1) for p in parts])
    return f"{every.mean():.1%}" if every.size else "-"


if __name__ == "__main__":
    main()
