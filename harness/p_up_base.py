"""Which base P(up) should serve when no slope is kept, simulated: `python -m harness.p_up_base [--series N]`.

P(up) is judged against two constant answers (`investiq evaluate patchtst`): climatology, the training up-rate
(Brier skill >= 0 is the bar), and always-up (the direction call's hit rate). Three rules for the base, each
per horizon step, on random walks of daily bars (1% volatility) split 70/15/15 as training splits one series
(5,000 bars; 1,092 for the short cases, about `--days 60 --interval 15m`: 229 training origins), with and
without a drift, and with a drift that starts or stops at the test part:

    served   training/calibrate.py `drift_base`: the training up-rate where it is 0.5 or more and validation does
             not show 0.5 better, or where it is below 0.5 and validation shows it better; else 0.5
    before   the rule until 2026-12-04: the training up-rate only where validation shows it beats 0.5
    climate  the training up-rate always

Printed per case and rule: how many series fail each bar at step 1 or step 12 (point estimates), the mean Brier
skill at step 12 against climatology (never below 0 for `climate`, by construction) and against 0.5 (how close
to the truth: 0.5 is the truth of a driftless series).
"""

from __future__ import annotations

import argparse

import numpy as np
from numpy.typing import NDArray

from training.calibrate import drift_base
from training.windows import split_origins

H, CONTEXT, VOLATILITY = 12, 512, 0.01
CASES = {  # (drift per bar before the test part, during it, bars)
    "driftless": (0.0, 0.0, 5000),
    "up 10%/yr": (0.0004, 0.0004, 5000),
    "up 20%/yr": (0.0008, 0.0008, 5000),
    "down 10%/yr": (-0.0004, -0.0004, 5000),
    "up, then flat": (0.0006, 0.0, 5000),
    "flat, then up": (0.0, 0.0006, 5000),
    "driftless, short": (0.0, 0.0, 1092),
    "up 10%/yr, short": (0.0004, 0.0004, 1092),
}


def _ups(closes: NDArray[np.float64], origins: NDArray[np.int64]) -> NDArray[np.bool_]:
    up: NDArray[np.bool_] = closes[origins[:, None] + np.arange(1, H + 1)] > closes[origins][:, None]
    return up


def bases(trained: NDArray[np.float64], val_up: NDArray[np.bool_]) -> dict[str, NDArray[np.float64]]:
    served, _, ci, step = drift_base(trained, val_up, [], H, seed=0)
    before = np.where((ci[0] > 0) & (step > 0), trained, 0.5)
    return {"served": served, "before": before, "climate": trained}


def one_series(case: tuple[float, float, int], seed: int) -> dict[str, tuple[bool, bool, float, float]]:
    """Per rule: (fails the Brier bar, fails the direction bar, Brier skill at step H vs climatology, vs 0.5)."""
    rng = np.random.default_rng(seed)
    before, during, bars = case
    split = split_origins(bars, CONTEXT, H, 0.15, 0.15)
    mu = np.where(np.arange(bars) < split.test.min(), before, during)
    closes = 100 * np.exp(np.cumsum(mu + VOLATILITY * rng.standard_normal(bars)))
    trained = np.clip(_ups(closes, split.train).mean(axis=0), 0.01, 0.99)  # as calibrate clips it
    test = _ups(closes, split.test)
    out = {}
    steps = [0, H - 1]
    for rule, p in bases(trained, _ups(closes, split.val)).items():
        brier = ((p - test) ** 2).mean(axis=0)
        skill = 1 - brier / ((trained - test) ** 2).mean(axis=0)
        hit = np.where(p != 0.5, ((p > 0.5) == test).mean(axis=0), np.inf)  # 0.5 calls nothing: no miss
        always = test.mean(axis=0)
        over_half = 1 - brier[-1] / ((0.5 - test[:, -1]) ** 2).mean()
        fails = (bool((skill[steps] < -1e-12).any()), bool((hit[steps] < always[steps]).any()))
        out[rule] = (*fails, skill[-1], over_half)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=200, help="simulated series per case (default: 200)")
    n = parser.parse_args().series
    print(f"{n} series per case; fails: Brier skill vs climatology < 0 / hit rate < always-up, at step 1 or {H}")
    rules = ("served", "before", "climate")
    print(
        "| case | "
        + " | ".join(f"{r}: fails Brier, direction; h{H} skill vs climatology, vs 0.5" for r in rules)
        + " |"
    )
    print("| --- | --- | --- | --- |")
    for label, case in CASES.items():
        runs = [one_series(case, seed) for seed in range(n)]
        cells = []
        for rule in rules:
            brier, direction = (sum(r[rule][i] for r in runs) for i in (0, 1))
            climate, half = (np.mean([r[rule][i] for r in runs]) for i in (2, 3))
            cells.append(f"{brier} / {direction}; {climate:+.4f}, {half:+.4f}")
        print(f"| {label} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
