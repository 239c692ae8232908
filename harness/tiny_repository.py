"""The model repository a run serves: the committed Triton configs with tiny exported models.

Tiny models (the test suite's random FinBERT and PatchTST trained on real S&P 500 bars) take
about 20 s to make on two cores and exercise every code path of the real ones; latency figures
measured with them describe the serving stack, not BERT-base. Pass `--repository` to a script to
measure the models you actually export instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def tiny_repository(root: Path) -> Path:
    """root/repo: FinBERT and PatchTST exported (validated, as `investiq export` does) beside the
    committed configs and adapters, ready for the embedded backend and for tritonserver."""
    import numpy as np

    from export.patchtst import export_patchtst
    from harness import tiny_bert
    from harness.tiny_patchtst import TINY
    from investiq.core.market import clean_bars, load_sample
    from investiq.ops.triton_server import copy_configs
    from training.patchtst import train

    repo = root / "repo"
    shutil.rmtree(repo, ignore_errors=True)
    copy_configs(repo)
    tiny_bert.exported(root, repo)
    bars = clean_bars(load_sample("SPX"), "SPX", "1d")[0].tail(600)
    series = {"SPX": (bars["close"].to_numpy(dtype=np.float64), bars.index.to_numpy())}
    train(series, TINY, root / "patchtst", log=lambda _: None)
    export_patchtst(root / "patchtst", repo, log=lambda _: None)
    return repo


def context_length(repository: Path) -> int:
    """Closes a /price/predict request needs: from the serving artifact, never a second copy."""
    from gateway.backends.embedded import patchtst_dir
    from investiq.core.patchtst import PatchTSTMeta

    return PatchTSTMeta.load(patchtst_dir(repository)).context_length


def clone(repository: Path, target: Path) -> Path:
    """A copy of `repository` whose files may be broken one by one: hard links where possible (a
    broken file is replaced, never written through its link, so the original stays intact)."""

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(repository, target, copy_function=link_or_copy)
    return target


def as_exported(directory: Path) -> None:
    """Record the graph files of the export in `directory` as those exported (artifact.json's `files`): a test or
    a fault run that changes a graph to check what the runtime checks catch, past the check of its bytes."""
    import json

    from investiq.core.artifacts import META, digests

    path = directory / META
    record = json.loads(path.read_text())
    record["files"] = digests(directory)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
