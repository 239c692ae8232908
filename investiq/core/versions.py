"""Numbered versions of a model in the Triton repository; the newest one serves.

    model_repository/patchtst/1/   2/   3/      <- 3 serves (Triton's default `latest` policy)

The file system is the one source of truth, for Triton and the embedded backend alike: the newest
complete version directory (one holding artifact.json) is the serving one. Promoting installs a
copy as a new, higher number; rolling back moves the newest out of the repository into
`models/retired/<model>/<n>`, so the previous one serves again and the retired one can be
promoted back. Every change is a rename or an atomic install (investiq/core/atomic.py; across file
systems, a copy installed so: `move_dir`), so a reader never sees a half-written version.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from investiq.core.artifacts import META
from investiq.core.atomic import move_dir, remove, staged
from investiq.core.errors import InvestIQError


class VersionError(InvestIQError):
    """A version that does not exist, or a change that would leave nothing serving."""


def versions(repository: Path, model: str) -> list[int]:
    """Complete version numbers of `model`, ascending."""
    root = repository / model
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit() and (p / META).is_file())


def serving(repository: Path, model: str) -> int | None:
    found = versions(repository, model)
    return found[-1] if found else None


def version_dir(repository: Path, model: str, number: int) -> Path:
    return repository / model / str(number)


def serving_dir(repository: Path, model: str) -> Path:
    """The serving version's directory; version 1's path when there is none (for error messages)."""
    return version_dir(repository, model, serving(repository, model) or 1)


def retired_root(models_dir: Path) -> Path:
    """Where `retire` moves versions: models_dir/retired/<model>/<number>."""
    return models_dir / "retired"


def next_number(repository: Path, model: str, retired: Path | None = None) -> int:
    """One above every numbered directory, complete or not, in the repository and among the retired
    versions (`retired`/<model>): a number is never reused, so `models promote N` names one model."""
    roots = [repository / model] + ([retired / model] if retired is not None else [])
    taken = [int(p.name) for root in roots if root.is_dir() for p in root.iterdir() if p.name.isdigit()]
    return max(taken, default=0) + 1


def number_for(repository: Path, model: str, weights: str, retired: Path | None = None) -> int:
    """Where an export of these weights goes: the serving number when it already holds the same
    weights (a re-export replaces it: exports are idempotent), else a new, higher number."""
    current = serving(repository, model)
    if current is not None:
        meta = json.loads((version_dir(repository, model, current) / META).read_text())
        if meta.get("version") == weights:
            return current
    return next_number(repository, model, retired)


def serving_copy(source: Path, repository: Path, model: str) -> int | None:
    """The serving number when the exported directory `source` is a copy of that version (the same artifact.json:
    weights, settings and graph digests), else None."""
    current = serving(repository, model)
    if current is None:
        return None
    try:
        same = json.loads((source / META).read_text()) == json.loads(
            (version_dir(repository, model, current) / META).read_text()
        )
    except (OSError, ValueError):  # none, or unreadable: not a copy; installing and loading it say what is wrong
        return None  # (a traceback here stopped the promote of a good export meant to replace a broken version)
    return current if same else None


def install(source: Path, repository: Path, model: str, retired: Path | None = None) -> int:
    """Copy an exported version directory in as the new newest version; return its number."""
    if not (source / META).is_file():
        raise VersionError(f"{source} is not an exported version (no {META})")
    if not any(p.suffix == ".onnx" for p in source.iterdir()):  # a training output: installed, then refused
        raise VersionError(
            f"{source} holds no ONNX graph: a trained model, not an export; export it first "
            f"(`investiq export {model} --model-dir {source}`)"
        )
    number = next_number(repository, model, retired)
    with staged(version_dir(repository, model, number)) as out:
        shutil.copytree(source, out, dirs_exist_ok=True)
    return number


def retire(repository: Path, model: str, number: int, archive: Path) -> Path:
    """Move version `number` out of the repository into archive/<model>/<number>; return where."""
    source = version_dir(repository, model, number)
    if number not in versions(repository, model):
        raise VersionError(f"{model} has no version {number} in {repository} (has {versions(repository, model)})")
    target = archive / model / str(number)
    if target.exists():  # numbers are not reused (next_number), so this is someone else's directory
        raise VersionError(f"cannot retire version {number}: {target} exists already; move it away first")
    move_dir(source, target)
    return target


def restore(retired: Path, repository: Path, model: str, number: int) -> None:
    """Undo `retire`: put the directory back under its number."""
    move_dir(retired, version_dir(repository, model, number))


def prune_retired(retired: Path, model: str, keep: int) -> list[int]:
    """Delete all but the newest `keep` retired versions of `model`; return the numbers deleted."""
    root = retired / model
    numbers = sorted(int(p.name) for p in root.iterdir() if p.name.isdigit()) if root.is_dir() else []
    old = numbers[:-keep] if keep > 0 else []
    for number in old:
        remove(root / str(number))
    return old


def prune(repository: Path, model: str, keep: int) -> list[int]:
    """Delete the oldest versions beyond the newest `keep`; return the numbers deleted."""
    old = versions(repository, model)[:-keep] if keep > 0 else []
    for number in old:
        remove(version_dir(repository, model, number))
    return old
