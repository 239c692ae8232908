"""What every exported artifact shares: an `artifact.json` of its contract, and one error type."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from investiq.core.errors import ArtifactError

META = "artifact.json"
T = TypeVar("T")


def save_meta(meta: Any, directory: Path) -> None:
    """Write the dataclass `meta` as directory/artifact.json (sorted keys: re-exports diff cleanly)."""
    (directory / META).write_text(json.dumps(asdict(meta), indent=2, sort_keys=True) + "\n")


def load_meta(cls: type[T], directory: Path, remedy: str) -> T:
    """Read directory/artifact.json into `cls`; ArtifactError naming the file and `remedy` otherwise."""
    path = directory / META
    try:
        return cls(**json.loads(path.read_text()))
    except FileNotFoundError:
        raise ArtifactError(f"no artifact at {path}: {remedy}") from None
    except OSError as exc:  # a path through a file (NotADirectoryError), no permission: named, not a traceback
        raise ArtifactError(f"cannot read {path} ({exc.strerror or exc}): {remedy}") from None
    except (ValueError, TypeError) as exc:
        raise ArtifactError(f"{path} is corrupt ({exc}): {remedy}") from None


def weights_version(model: Any) -> str:
    """A content hash of a torch module's weights: the same weights always give the same version."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]
