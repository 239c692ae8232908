"""Fault (c): a model file of the serving version is corrupt or missing. The gateway must refuse to
start with an error naming the file, both where the backend is built (StartupError) and as the
`investiq serve` process's exit (a non-zero status and an `Error:` line) — never a traceback, never
a gateway that starts and fails on the first request.

FinBERT is pinned to onnxruntime-int8 here, on every CPU: `finbert_runtime: auto` may choose another runtime
(onnxruntime-int8-fused on AVX-512 VNNI), and a runtime whose graph is damaged gives way to int8, logged
and in /health (investiq/core/finbert_runtime.py open_checked; tests/export/test_finbert_runtimes.py). The
graphs whose damage must stop the gateway are int8's, the one everything falls back to, and fp32's (model.onnx),
which every runtime's start-up check compares with."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.tiny_repository import clone
from investiq.core.finbert_runtime import DEFAULT as FINBERT_RUNTIME
from reliability.processes import gateway_process


@dataclass(frozen=True)
class Case:
    model: str  # directory of the model repository: finbert_model | patchtst
    file: str  # in its serving version directory
    damage: str  # corrupt | missing

    @property
    def name(self) -> str:
        return f"{self.model}/{self.file} {self.damage}"


def cases(repository: Path) -> list[Case]:
    """Each file the served versions load, corrupt and missing (those the export wrote)."""
    from investiq.core.finbert import TOKENIZER, VARIANTS
    from investiq.core.finbert_runtime import SPECS
    from investiq.core.patchtst import ONNX_FILE
    from investiq.core.versions import serving_dir

    finbert = (
        VARIANTS[SPECS[FINBERT_RUNTIME].variant],
        VARIANTS["fp32"],
        TOKENIZER,
    )  # fp32: the check's reference
    out = []
    for model, files in (("finbert_model", finbert), ("patchtst", (ONNX_FILE, ONNX_FILE + ".data"))):
        for file in files:
            if (serving_dir(repository, model) / file).exists():
                out += [Case(model, file, "corrupt"), Case(model, file, "missing")]
    return out


def damage(repository: Path, case: Case) -> Path:
    """Break the file in `repository` (a clone); its path."""
    from investiq.core.versions import serving_dir

    path = serving_dir(repository, case.model) / case.file
    path.unlink()  # never written through: the clone's files are hard links to the original's
    if case.damage == "corrupt":
        path.write_bytes(b'{"truncated": ' if path.suffix == ".json" else b"\x08\x07not a protobuf" * 64)
    return path


def in_process(repository: Path) -> str | None:
    """The StartupError of building the backend, or None if it was built."""
    from gateway.wiring import StartupError, build_backend
    from investiq.core.settings import Settings

    try:
        build_backend(Settings(model_repository=repository, finbert_runtime=FINBERT_RUNTIME))
    except StartupError as exc:
        return str(exc)
    return None


def serve(repository: Path, work: Path, timeout_s: float = 120.0) -> dict[str, Any]:
    """Run `investiq serve` on the repository until it exits: status, seconds, its `Error:` line."""
    settings = {"INVESTIQ_FINBERT_RUNTIME": FINBERT_RUNTIME}
    gateway = gateway_process(work / "journal.db", repository, work, log_name="serve.log", settings=settings)
    began = time.monotonic()
    proc = gateway.spawn()
    try:
        code: int | None = proc.wait(timeout_s)
    except subprocess.TimeoutExpired:  # it started: the fault went unnoticed
        gateway.kill()
        code = None
    output = gateway.log_tail(4000)
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    return {
        "exit_code": code,
        "seconds": round(time.monotonic() - began, 2),
        "error_line": errors[-1] if errors else None,
        "traceback": "Traceback (most recent call last)" in output,
    }


def run_case(repository: Path, work: Path, case: Case) -> dict[str, Any]:
    directory = work / "model-fault" / case.name.replace("/", "_").replace(" ", "_")
    broken = clone(repository, directory / "repo")
    path = damage(broken, case)
    message = in_process(broken)
    process = serve(broken, directory)
    report: dict[str, Any] = {"case": case.name, "path": str(path), "startup_error": message, **process}
    report["repository"] = str(broken)
    report["passed"] = bool(
        message is not None
        and str(path) in message
        and process["exit_code"] not in (None, 0)
        and process["error_line"] is not None
        and str(path) in process["error_line"]
        and not process["traceback"]
    )
    return report


def run_model_faults(repository: Path, work: Path, names: list[str] | None = None) -> list[dict[str, Any]]:
    """Every case (or those named, e.g. 'patchtst/model.onnx missing'), each on its own clone."""
    chosen = [c for c in cases(repository) if names is None or c.name in names]
    if names is not None and len(chosen) != len(names):
        raise ValueError(f"unknown cases among {names}; known: {[c.name for c in cases(repository)]}")
    return [run_case(repository, work, c) for c in chosen]
