"""The tiny PatchTST configuration of the tests; `python -m harness.tiny_patchtst OUT` trains it into OUT
(a test runs it under torchrun)."""

import sys
from pathlib import Path
from typing import Any

import numpy as np

from harness import usage_unless_one_path
from investiq.core.market import SAMPLE_DAYS, clean_bars, load_sample
from investiq.core.patchtst import PatchTSTMeta, TrainConfig
from training.patchtst import train

TINY = TrainConfig(
    symbols=("SPX",),
    source="sample",
    days=SAMPLE_DAYS,
    interval="1d",
    context_length=64,
    prediction_length=4,
    patch_length=8,
    patch_stride=8,
    d_model=16,
    num_layers=1,
    num_heads=2,
    ffn_dim=32,
    epochs=2,
    batch_size=32,
    patience=1,
)


def tiny_meta(trained_until: str, **fields: Any) -> PatchTSTMeta:
    """The artifact of a model of TINY's shape (version "v1"), trained on what `fields` say."""
    return PatchTSTMeta.of(TINY, "v1", trained_until, **fields)


def main(argv: list[str]) -> int:
    """`python -m harness.tiny_patchtst OUT`: the usage for anything else (`--help` trained into a folder named so,
    an audit)."""
    shown = usage_unless_one_path(argv, __doc__ or "")
    if shown is not None:
        return shown
    bars = clean_bars(load_sample("SPX"), "SPX", "1d")[0].tail(600)
    series = {"SPX": (bars["close"].to_numpy(dtype=np.float64), bars.index.to_numpy())}
    metrics = train(series, TINY, Path(argv[0]), log=print)
    print("epochs run:", metrics["epochs_run"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
