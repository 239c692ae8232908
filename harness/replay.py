"""Replay market history through a running gateway, as an agent would have lived it, to see live skill.

    python -m harness.replay --url http://127.0.0.1:8080 --data-dir data [--symbols SPX NASDAQ] \\
        [--bars 250] [--api-key KEY]
    investiq resolve            # scores every replayed forecast against the bars put in the cache
    curl -s http://127.0.0.1:8080/price/skill; curl -s http://127.0.0.1:8080/price/health

For each of the last `--bars` daily bars of the offline sample (S&P 500 and NASDAQ, 2018 and back),
one POST /price/batch_predict sends every symbol's closes up to that bar, with their `bar_times` (the intervals
for the weekend ahead, as the gateway serves bars it fetches) and the bar's own time as `last_bar_time`, so the
horizon and the outcome count from it, over real HTTP. Then the sample bars
go into the gateway's bar cache (`--data-dir`/bars), where `investiq resolve` finds what happened.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from investiq.core.bar_cache import BarCache
from investiq.core.bars import clean_bars
from investiq.core.market import SAMPLE_INTERVAL, SAMPLE_SYMBOLS, load_sample
from investiq.core.settings import API_KEY_HEADER


def post(url: str, body: dict[str, Any], api_key: str | None) -> dict[str, Any]:
    headers = {"content-type": "application/json"} | ({API_KEY_HEADER: api_key} if api_key else {})
    if not url.startswith(("http://", "https://")):
        raise SystemExit(f"--url must be an http(s) URL of the gateway, got {url!r}")
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (checked above)
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def replay(url: str, data_dir: Path, symbols: list[str], bars: int, context: int, api_key: str | None) -> int:
    frames = {s: clean_bars(load_sample(s), s, SAMPLE_INTERVAL)[0] for s in symbols}
    cache = BarCache(data_dir / "bars")
    for symbol, frame in frames.items():
        cache.merge(symbol, SAMPLE_INTERVAL, frame.reset_index())
    times = sorted(set.intersection(*(set(f.index[context:]) for f in frames.values())))[-bars:]
    sent = 0
    for t in tqdm(times, desc="replaying bars", unit="bar"):
        requests = []
        for symbol, frame in frames.items():
            closes = frame.loc[:t, "close"].iloc[-context:]
            stamp = pd.Timestamp(t).isoformat()
            prices, times = [float(x) for x in closes], [pd.Timestamp(b).isoformat() for b in closes.index]
            requests.append({"symbol": symbol, "prices": prices, "bar_times": times, "last_bar_time": stamp})
        sent += len(post(f"{url}/price/batch_predict", {"requests": requests}, api_key)["predictions"])
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="The gateway.")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="The gateway's data_dir (bar cache).")
    parser.add_argument("--symbols", nargs="+", default=list(SAMPLE_SYMBOLS), help="Sample symbols to replay.")
    parser.add_argument("--bars", type=int, default=250, help="How many of the last daily bars to replay.")
    parser.add_argument("--context", type=int, default=512, help="Closes sent per forecast (the model's context).")
    parser.add_argument("--api-key", default=None, help="X-API-Key, when the gateway requires one.")
    args = parser.parse_args(argv)
    sent = replay(args.url, args.data_dir, args.symbols, args.bars, args.context, args.api_key)
    print(f"{sent} forecasts posted; now run `investiq resolve`, then GET /price/skill and /price/health")
    return 0


if __name__ == "__main__":
    sys.exit(main())
