"""How often the promotion gate promotes a worse candidate, simulated: `python -m harness.gate_power [--runs N]`.

Three symbols correlated 0.9 on 15-minute bars, a 12-step horizon; the serving model is the random walk (as most
served models are), the candidate the last close moved by a bias in units of the step's volatility, either new at
every bar (independent errors) or persistent (AR(1) with coefficient 0.97: a bias that lasts for days), scaled to
make the candidate's MAE a few percent to 80 % worse. Each case is scored with the gate's own `by_bar_time` and
`loss_ratio` (training/gate.py), and the share of runs promoted is printed under two rules:

    before   refused only where the MAE ratio's 95% interval lies wholly above 1 (until 2026-12-04)
    now      also refused where its upper end reaches above 1 + WITHIN: the hold-out must show the candidate
             within 10 % of the serving model (training/gate.py `against_serving`)
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from training.gate import against_serving, by_bar_time, loss_ratio

H, STEP_VOLATILITY = 12, 0.002


def ratio_interval(seed: int, bar_times: int, bias: float, phi: float) -> tuple[float, tuple[float, float]]:
    """The gate's MAE ratio candidate / serving with its 95% interval, on one simulated hold-out."""
    rng = np.random.default_rng(seed)
    n = bar_times + H + 1
    common = rng.standard_normal(n)
    error = np.zeros(n)
    for t in range(1, n):
        error[t] = phi * error[t - 1] + np.sqrt(1 - phi**2) * rng.standard_normal()
    series, origins, candidate, serving = {}, {}, {}, {}
    steps = np.sqrt(np.arange(1, H + 1))[None, :]
    for symbol in ("A", "B", "C"):
        returns = STEP_VOLATILITY * (np.sqrt(0.9) * common + np.sqrt(0.1) * rng.standard_normal(n))
        closes = 100 * np.exp(np.cumsum(returns))
        o = np.arange(bar_times)
        actual, last = closes[o[:, None] + np.arange(1, H + 1)[None, :]], closes[o][:, None]
        median = last * (1 + bias * error[o][:, None] * STEP_VOLATILITY * steps)
        series[symbol] = (closes, pd.date_range("2026-01-05", periods=n, freq="15min").to_numpy())
        origins[symbol] = o
        candidate[symbol] = np.mean(np.abs(median - actual) / last, axis=1)
        serving[symbol] = np.mean(np.abs(last - actual) / last, axis=1)
    return loss_ratio(by_bar_time([candidate, serving], series, origins), 0, 1, H)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="simulated hold-outs per case (default 200)")
    args = parser.parse_args()
    print("| errors | bar times | MAE ratio (median) | promoted before | promoted now |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for phi, kind in ((0.0, "independent"), (0.97, "persistent")):
        for bar_times in (120, 250):
            for bias in (0.15, 0.3, 0.8, 1.6):
                found = [ratio_interval(seed, bar_times, bias, phi) for seed in range(args.runs)]
                verdicts = [against_serving(ci, tolerance=0.0) for _, ci in found]
                before = np.mean([not worse for worse, _ in verdicts])
                now = np.mean([not (worse or unshown) for worse, unshown in verdicts])
                ratio = np.median([r for r, _ in found])
                print(f"| {kind} | {bar_times} | {ratio:.3f} | {before:.0%} | {now:.0%} |", flush=True)


if __name__ == "__main__":
    main()
