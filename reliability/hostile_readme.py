"""Promise 4 (c), the README's /bayesian examples in order against a real gateway: the posterior of
`momentum` (its row of `bayesian_state`) before and after the sync (`python -m reliability.hostile`,
reliability/hostile.py)."""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]


def readme_bayesian_examples(readme: Path = ROOT / "README.md") -> list[tuple[str, str, dict[str, Any] | None]]:
    """(method, path with query, JSON body) of every curl example of /bayesian in the README, in order."""
    commands = re.sub(r"\\\n\s*", " ", readme.read_text(encoding="utf-8"))  # continuation lines joined
    examples = []
    for line in commands.splitlines():
        if not line.startswith("curl ") or "/bayesian/" not in line:
            continue
        words = shlex.split(line)
        method = words[words.index("-X") + 1] if "-X" in words else "GET"
        url = next(w for w in words if w.startswith("localhost:8080/"))
        body = json.loads(words[words.index("-d") + 1]) if "-d" in words else None
        examples.append((method, url.removeprefix("localhost:8080"), body))
    return examples


def state_row(db: Path, name: str) -> tuple[Any, ...] | None:
    with closing(sqlite3.connect(db)) as conn:
        row = conn.execute("SELECT * FROM bayesian_state WHERE strategy_name = ?", (name,)).fetchone()
    return None if row is None else tuple(row)


def run_readme(request: Callable[..., httpx.Response], db: Path) -> dict[str, Any]:
    steps = []
    before_sync = after_sync = None
    synced = False
    for method, path, body in readme_bayesian_examples():
        r = request(method, path, json=body)
        stats = request("GET", "/bayesian/all-stats").json()["strategies"]
        momentum = next((s for s in stats if s["strategy_name"] == "momentum"), None)
        step = {"call": f"{method} {path}", "status": r.status_code}
        step["momentum_samples"] = None if momentum is None else momentum["total_samples"]
        if "sync-from-database" in path:
            synced, after_sync = True, state_row(db, "momentum")
            step["sync"] = r.json()
        elif not synced:
            before_sync = state_row(db, "momentum")
        steps.append(step)
    return {
        "steps": steps,
        "momentum_state_before_sync": before_sync,
        "momentum_state_after_sync": after_sync,
        "passed": synced
        and before_sync is not None
        and before_sync == after_sync
        and all(s["status"] == 200 and s["momentum_samples"] == 1 for s in steps),
    }
