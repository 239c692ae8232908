"""`investiq bench patchtst` at its smallest sizes, as a user runs it (a process of its own): it trains and exports
its own small model first (about 35 s here). The figures are not judged, only that every runtime the gateway can
serve was measured and checked against PyTorch, and that the tables say so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from investiq.core.patchtst_runtime import RUNTIMES


def test_bench_patchtst_measures_every_servable_runtime_against_pytorch(tmp_path: Path):
    out = tmp_path / "out"
    args = ["bench", "patchtst", "--runs", "8", "--batch", "4", "--batch-runs", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "investiq", *args, "--work-dir", str(tmp_path / "work"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = json.loads((out / "patchtst.json").read_text())
    rows = found["rows"]
    # a runtime's own row is "<runtime> (<graph>)": "onnxruntime-fused + dynamic INT8 MatMuls" is not one
    served = {name.split(" (")[0]: row for name, row in rows.items() if name.split(" (")[0] in RUNTIMES}
    assert found["auto"]["runtime"] in served  # the runtime auto picks on this CPU is among those measured
    assert {"onnxruntime", "onnxruntime-fused"} <= set(served)  # openvino-bf16 only where openvino is installed
    for name, row in served.items():  # what the gateway may serve agrees with PyTorch within its bound
        assert row["bound"] in ("yes", "BF16 bound"), (name, row)
    for name, row in rows.items():
        assert row["windows_per_s"] > 0 and 0 < row["p50_ms"] <= row["p99_ms"], (name, row)
        assert row["bound"] in ("yes", "BF16 bound", "no"), (name, row)
    table = (out / "patchtst.md").read_text()
    assert found["cpu"] in table and "**Before -> after**" in table
    assert all(f"| {name} |" in table for name in rows)
    profile = json.loads((out / "patchtst_profile.json").read_text())
    assert profile["profiles"] and (out / "patchtst_profile.md").is_file()
