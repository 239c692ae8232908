"""Which base P(up) should serve when no slope is kept, simulated: `python -m harness.p_up_base [--series N]`.

P(up) is judged against two constant answers (`investiq evaluate patchtst`): climatology, the training up-rate
(Brier skill >= 0 is the bar), and always-up (the direction call's hit rate). Three rules for the base, each
per horizon step, on random walks of 5,000 daily bars (1% volatility) split 70/15/15 as training splits one
series, with and without a drift, and with a drift that starts or stops at the test part:

    served   training/patchtst.py `drift_base`: the training up-rate where it is 0.5 or more, or where
             validation shows a lower one beats 0.5; else 0.5
    before   the rule until 2026-12-04: the training up-rate only where validation shows it beats 0.5
    climate  the training up-rate always

Printed per case and rule: how many series fail each bar at step 1 or step 12 (point estimates), and the
mean Brier skill against climatology at step 12.
"""

from __future__ import annotations

import argparse

import numpy as np
from numpy.typing import NDArray

from training.patchtst import drift_base, split_origins

H, BARS, CONTEXT, VOLATILITY = 12, 5000, 512, 0.01
CASES = {  # (drift per bar before the test part, during it)
    "driftless": (0.0, 0.0),
    "up 10%/yr": (0.0004, 0.0004),
    "up 20%/yr": (0.0008, 0.0008),
    "down 10%/yr": (-0.0004, -0.0004),
    "up, then flat": (0.0006, 0.0),
    "flat, then up": (0.0, 0.0006),
}


def _ups(closes: NDArray[np.float64], origins: NDArray[np.int64]) -> NDArray[np.bool_]:
    up: NDArray[np.bool_] = closes[origins[:, None] + np.arange(1, H + 1)] > closes[origins][:, None]
    return up


def bases(trained: NDArray[np.float64], val_up: NDArray[np.bool_]) -> dict[str, NDArray[np.float64]]:
    served, _, ci, step = drift_base(trained, val_up, [], H, seed=0)
    before = np.where((ci[0] > 0) & (step > 0), trained, 0.5)
    return {"served": served, "before": before, "climate": trained}


def one_series(drift: tuple[float, float], seed: int) -> dict[str, tuple[bool, bool, float]]:
    """Per rule: (fails the Brier bar, fails the direction bar, Brier skill vs climatology at step H)."""
    rng = np.random.default_rng(seed)
    split = split_origins(BARS, CONTEXT, H, 0.15, 0.15)
    mu = np.where(np.arange(BARS) < split.test.min(), *drift)
    closes = 100 * np.exp(np.cumsum(mu + VOLATILITY * rng.standard_normal(BARS)))
    trained = _ups(closes, split.train).mean(axis=0)
    test = _ups(closes, split.test)
    out = {}
    steps = [0, H - 1]
    for rule, p in bases(trained, _ups(closes, split.val)).items():
        skill = 1 - ((p - test) ** 2).mean(axis=0) / ((trained - test) ** 2).mean(axis=0)
        hit = np.where(p != 0.5, ((p > 0.5) == test).mean(axis=0), np.inf)  # 0.5 calls nothing: no miss
        always = test.mean(axis=0)
        out[rule] = (bool((skill[steps] < -1e-12).any()), bool((hit[steps] < always[steps]).any()), skill[-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=200, help="simulated series per case")
    n = parser.parse_args().series
    print(f"{n} series per case; fails: Brier skill vs climatology < 0 / hit rate < always-up, at step 1 or {H}")
    rules = ("served", "before", "climate")
    print("| case | " + " | ".join(f"{r}: fails Brier, direction; h{H} skill" for r in rules) + " |")
    print("| --- | --- | --- | --- |")
    for label, drift in CASES.items():
        runs = [one_series(drift, seed) for seed in range(n)]
        cells = []
        for rule in rules:
            brier, direction = (sum(r[rule][i] for r in runs) for i in (0, 1))
            cells.append(f"{brier} / {direction}; {np.mean([r[rule][2] for r in runs]):+.4f}")
        print(f"| {label} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
