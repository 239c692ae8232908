"""A multi-symbol daily CSV of real prices that ship with `arch` (no network): S&P 500 and NASDAQ
(1999-2018), WTI crude oil (1986-2019) and the VIX index (2014-2018), in the `--source csv` format
(timestamp, symbol, open, high, low, close). Series with a close only get open = high = low = close.

    python -m harness.real_csv OUT.csv
    investiq train patchtst --source csv --csv OUT.csv --symbols "SPX NASDAQ WTI VIX" ...
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from harness import usage_unless_one_path
from investiq.core.market import SAMPLE_SYMBOLS, load_sample

SYMBOLS = (*SAMPLE_SYMBOLS, "WTI", "VIX")


def closes_only(symbol: str, series: pd.Series) -> pd.DataFrame:
    close = series.dropna()
    close = close[close > 0]
    return pd.DataFrame(
        {"timestamp": close.index, "symbol": symbol, "open": close, "high": close, "low": close, "close": close}
    )


def frames() -> list[pd.DataFrame]:
    from arch.data import vix, wti

    parts = []
    for symbol in SAMPLE_SYMBOLS:
        raw = load_sample(symbol)
        parts.append(
            pd.DataFrame(
                {
                    "timestamp": raw["Date"],
                    "symbol": symbol,
                    "open": raw["Open"],
                    "high": raw["High"],
                    "low": raw["Low"],
                    "close": raw["Close"],
                }
            )
        )
    parts.append(closes_only("WTI", wti.load()["DCOILWTICO"]))
    parts.append(closes_only("VIX", vix.load()["vix"]))
    return parts


def write(path: Path) -> Path:
    frame = pd.concat(frames(), ignore_index=True)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"]).dt.strftime("%Y-%m-%d")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def main(argv: list[str]) -> int:
    """`python -m harness.real_csv OUT.csv`: the usage for anything else (`--help` wrote a file named so)."""
    shown = usage_unless_one_path(argv, __doc__ or "")
    if shown is not None:
        return shown
    print(write(Path(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
