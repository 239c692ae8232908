"""The layers of ARCHITECTURE.md hold: every module imports on its own, and the core stays light.

import-linter (run by scripts/test.sh) checks the import graph statically; these tests check what
actually happens at run time in a fresh interpreter."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("investiq", "gateway", "training", "export", "harness", "benchmarks", "reliability")


def all_modules() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package)
        path = importlib.import_module(package).__path__
        names += [m.name for m in pkgutil.walk_packages(path, package + ".")]
    return [n for n in names if n != "investiq.__main__"]  # runs the CLI when imported


def test_every_module_imports_on_its_own_in_a_fresh_interpreter():
    # one interpreter per module would take a minute: each module is imported in a child process that
    # has imported nothing else of ours before it, by clearing our packages from sys.modules in between
    script = """
import importlib, json, sys
ours = {names!r}
failed = {{}}
for name in ours:
    for loaded in [m for m in sys.modules if m.split('.')[0] in {packages!r}]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{{type(exc).__name__}}: {{exc}}"
print(json.dumps(failed))
"""
    names = all_modules()
    assert len(names) > 100
    code = script.format(names=names, packages=PACKAGES)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.splitlines()[-1]) == {}


def test_the_cli_modules_import_without_the_cli_entry_point_first():
    # the old CLI was a cycle: importing a subcommand module before investiq.cli failed
    for name in ("investiq.cli.patchtst", "investiq.cli.lifecycle", "investiq.ops.patchtst"):
        out = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True, cwd=ROOT)
        assert out.returncode == 0, out.stderr[-2000:]


def test_core_and_the_journal_load_neither_fastapi_nor_torch():
    core = [m for m in all_modules() if m.startswith("investiq.core")]
    code = (
        f"import importlib, sys\nfor m in {core!r}: importlib.import_module(m)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'fastapi', 'starlette', 'torch', 'transformers'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_nothing_imports_from_tests():
    for path in ROOT.rglob("*.py"):
        if path.is_relative_to(ROOT / "tests") or any(p.startswith(".venv") for p in path.parts):  # .venv*
            continue
        text = path.read_text()
        assert "from tests" not in text and "import tests" not in text, path


def test_onnx_runtime_sessions_that_serve_or_validate_are_opened_in_one_place():
    """investiq/core/ort_sessions.py holds the options every served session has: a session opened elsewhere
    would serve, or validate, a graph under other rewrites than the ones that serve it."""
    allowed = {ROOT / "investiq" / "core" / "ort_sessions.py"}
    for package in ("investiq", "gateway", "training", "export"):
        for path in (ROOT / package).rglob("*.py"):
            if path not in allowed:
                assert "InferenceSession(" not in path.read_text(), path


def test_openvino_models_are_compiled_by_one_core():
    """investiq/core/openvino_core.py holds the process's one OpenVINO Core: a Core made per compiled graph (as
    before) is what crashed a test run in a segmentation fault while a backend dropped its sessions."""
    allowed = ROOT / "investiq" / "core" / "openvino_core.py"
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if path != allowed:
                assert "Core()" not in path.read_text(), path


def test_the_cli_starts_without_scipy_and_the_gateway_loads_it_at_start_up():
    """scipy.stats takes ~0.8 s to import: `investiq --help` and every command that does not compute statistics
    start without it, and the gateway imports it with its app, never on a request's path."""
    code = (
        "import sys\nimport investiq.cli.main\nprint('scipy' in sys.modules)\n"
        "import gateway.app\nprint('scipy.stats' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "True"]
