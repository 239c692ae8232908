"""One OpenVINO Core for the process, through which every model is compiled.

OpenVINO's `Core` is meant to be made once and shared (it is thread-safe). This package made one per compiled
graph, dropped as soon as the graph was compiled: three per PatchTST session, one per FinBERT session, dozens
over a test run. One test run died in a segmentation fault while a backend dropped its OpenVINO sessions; other
projects report crashes from a Core made per model load, and cured them with one Core. Without OpenVINO
installed, `compile_model` raises ImportError for its caller to explain.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_core: Any = None


def compile_model(path: Path, config: dict[str, Any]) -> Any:
    """`path` compiled for OpenVINO's CPU plugin with `config`, by the process's one Core."""
    import openvino as ov

    global _core
    with _lock:
        if _core is None:
            _core = ov.Core()
        core = _core
    return core.compile_model(str(path), "CPU", config)
