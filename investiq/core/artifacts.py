"""What every exported artifact shares: an `artifact.json` of its contract, and one error type."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from dataclasses import MISSING, asdict, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

from investiq.core.errors import ArtifactError

META = "artifact.json"
METRICS = "metrics.json"  # beside a trained model (`investiq train`): its configuration and training figures
T = TypeVar("T")


GRAPH_SUFFIXES = (".onnx", ".data")  # the files of an export whose bytes its validation vouches for


def save_meta(meta: Any, directory: Path) -> None:
    """Write the dataclass `meta` as directory/artifact.json (sorted keys: re-exports diff cleanly), with the
    sha256 of each graph file beside it in its `files` (`digests`): what was validated against PyTorch."""
    record = asdict(meta) | {"files": digests(directory)}
    (directory / META).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def digests(directory: Path) -> dict[str, str]:
    """File name -> sha256 of every graph file (GRAPH_SUFFIXES) in `directory`."""
    return {p.name: _sha256(p) for p in sorted(directory.iterdir()) if p.is_file() and p.suffix in GRAPH_SUFFIXES}


def damaged(directory: Path, files: dict[str, str], names: Iterable[str]) -> str | None:
    """Why the graph files `names` of the export in `directory` are not those its artifact.json recorded (`files`,
    `digests`), or None (also for a file recorded by no digest: an export before them). A graph validated against
    PyTorch at export was served as it lay on disk: a damaged fp32 graph, the reference every other runtime is
    judged against, served wrong labels reported as checked (a review)."""
    for name in names:
        recorded, path = files.get(name), directory / name
        if recorded is None:
            continue
        if not path.is_file():
            return f"{path} is missing; export the model again"
        if _sha256(path) != recorded:
            return f"{path} is not the file exported (its sha256 differs from {META}'s): export the model again"
    return None


def _sha256(path: Path) -> str:
    """The file's sha256, read once per state of the file: start-up checks the fp32 reference beside every
    runtime it tries (440 MB for FinBERT, 0.3 s a read)."""
    state = path.stat()
    return _sha256_of(path, state.st_size, state.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _sha256_of(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:  # in 1 MiB reads (hashlib.file_digest is Python 3.11's): 0.3 s for 440 MB
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def load_meta(cls: type[T], directory: Path, remedy: str) -> T:
    """Read directory/artifact.json into `cls`; ArtifactError naming the file and `remedy` otherwise. A record with
    fields `cls` does not have was written by a newer InvestIQ: said so (it was called corrupt, with the advice to
    train again, after a user went back to an older release: an audit), never read without them."""
    path = directory / META
    try:
        record = json.loads(path.read_text())
        if isinstance(record, dict) and (newer := _newer_fields(cls, record)):
            raise ArtifactError(
                f"{path} was written by a newer InvestIQ (fields this one does not know: {', '.join(newer[:5])}): "
                f"upgrade InvestIQ to that release, or make the artifact with this one: {remedy}"
            )
        return cls(**record)
    except FileNotFoundError:
        raise ArtifactError(f"no artifact at {path}: {remedy}") from None
    except OSError as exc:  # a path through a file (NotADirectoryError), no permission: named, not a traceback
        raise ArtifactError(f"cannot read {path} ({exc.strerror or exc}): {remedy}") from None
    except (ValueError, TypeError) as exc:
        raise ArtifactError(f"{path} is corrupt ({exc}): {remedy}") from None


def _newer_fields(cls: type, record: dict[str, Any]) -> list[str]:
    """The fields of `record` that `cls` lacks, where it has every field `cls` requires: a record of this kind by
    a newer release. A record without them is of another kind (a PatchTST artifact where FinBERT's belongs was
    "newer", a review) or broken, and `cls` says what is missing."""
    if not is_dataclass(cls):
        return []
    declared = fields(cls)
    required = {f.name for f in declared if f.default is MISSING and f.default_factory is MISSING}
    return sorted(set(record) - {f.name for f in declared}) if required <= set(record) else []


def weights_version(model: Any) -> str:
    """A content hash of a torch module's weights: the same weights always give the same version."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]
