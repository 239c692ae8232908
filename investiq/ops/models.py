"""`investiq models list|promote`: the kept, serving and retired versions of the price model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from investiq.core.atomic import remove
from investiq.core.errors import ArtifactError
from investiq.core.patchtst import PatchTSTMeta
from investiq.core.settings import Settings
from investiq.core.versions import VersionError, retired_root, serving, serving_copy, version_dir, versions
from investiq.ops.lifecycle import MODEL, Log, promote, prune_old


def version_rows(settings: Settings) -> list[dict[str, Any]]:
    """One row per version: kept (the serving one marked) and retired, with what its artifact says."""
    newest = serving(settings.model_repository, MODEL)
    retired = retired_root(settings.models_dir) / MODEL
    places = [
        (n, settings.model_repository / MODEL / str(n), "serving" if n == newest else "kept")
        for n in versions(settings.model_repository, MODEL)
    ]
    if retired.is_dir():
        found = [p for p in retired.iterdir() if p.name.isdigit()]
        places += [(int(p.name), p, "retired") for p in sorted(found, key=lambda p: int(p.name))]  # 9 before 10
    rows: list[dict[str, Any]] = []
    for number, path, state in places:
        try:
            meta = PatchTSTMeta.load(path)
        except ArtifactError as exc:
            rows.append({"number": number, "state": state, "path": str(path), "error": str(exc)})
            continue
        rows.append(
            {
                "number": number,
                "state": state,
                "model_version": meta.version,
                "serves_as": meta.served_as(),  # random_walk where validation kept none of the network's answers
                "trained_at": meta.trained_at or None,
                "trained_until": meta.trained_until,
                "seen_until": meta.seen_until(),  # the last bar training or validation saw: fresh bars come after
                "interval": meta.interval,
                "symbols": meta.symbols,
                "path": str(path),
            }
        )
    return rows


def promote_version(settings: Settings, version: str, log: Log) -> int:
    """Serve `version`: a kept or retired number, or an exported version directory; its new number."""
    if version.isdigit():
        if int(version) == serving(settings.model_repository, MODEL):
            raise VersionError(f"version {version} already serves")
        source = version_dir(settings.model_repository, MODEL, int(version))
        if not source.is_dir():
            source = retired_root(settings.models_dir) / MODEL / version
        if not source.is_dir():
            raise VersionError(f"no version {version} of {MODEL}: see `investiq models list`")
    else:
        source = Path(version)
        if (current := serving_copy(source, settings.model_repository, MODEL)) is not None:
            # installed again it took a new number, and a rollback then served the same weights (a review)
            raise VersionError(f"{source} is version {current}, which already serves")
    number = promote(settings, source, log)
    if source.parent == retired_root(settings.models_dir) / MODEL:
        remove(source)  # back in the repository: no longer retired
    prune_old(settings, log)
    return number
