"""Which model versions serve, and switching to the repository's newest one without a restart.

`investiq retrain`, `investiq models promote|rollback` change the model repository, then ask the
running gateway to reload (POST /admin/models/patchtst/reload). The backend swaps first (the
embedded one builds and warms a new session; Triton loads the new version beside the old), then
the price service takes the new artifact: a failure at either step leaves the old version serving.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from gateway.backends.base import InferenceBackend
from gateway.services.price import NOT_EXPORTED, PriceService
from investiq.core.errors import (
    ArtifactError,
    BackendUnavailableError,
    ConflictError,
    InvalidInputError,
    ModelNotReadyError,
)
from investiq.core.patchtst import PATCHTST, PatchTSTMeta
from investiq.core.versions import serving, version_dir, versions

RELOADABLE = (PATCHTST,)
log = logging.getLogger(__name__)


class ReloadFailedError(ConflictError):
    """The newest version cannot be served; the one serving before still does."""

    kind = "reload_failed"


class ModelsService:
    def __init__(self, backend: InferenceBackend, repository: Path, price: PriceService) -> None:
        self._backend = backend
        self._repository = repository
        self._price = price
        self._lock = asyncio.Lock()  # one reload at a time

    def serving(self) -> dict[str, Any]:
        """Per model: the serving artifact version, its repository number and the numbers kept."""
        meta = self._price.meta
        return {
            PATCHTST: {
                "model_version": meta.version if meta else None,
                "trained_at": meta.trained_at if meta else None,
                "repository_version": self._price.repository_version,
                "kept": versions(self._repository, PATCHTST),
            }
        }

    async def reload(self, model: str) -> dict[str, Any]:
        if model not in RELOADABLE:
            raise InvalidInputError(f"model {model!r} cannot be reloaded; reloadable: {', '.join(RELOADABLE)}")
        async with self._lock:
            for _ in range(3):  # the backend loads the newest version: it must still be the one read here
                number = serving(self._repository, model)
                if number is None:
                    raise ModelNotReadyError(NOT_EXPORTED)
                try:
                    meta = PatchTSTMeta.load(version_dir(self._repository, model, number))
                    await self._backend.reload(model)
                except (ArtifactError, ModelNotReadyError) as exc:
                    raise ReloadFailedError(
                        f"version {number} of {model} was not loaded ({exc}); the version serving before "
                        "still serves"
                    ) from None
                except BackendUnavailableError as exc:  # a load that timed out, Triton unreachable: not known
                    raise BackendUnavailableError(
                        f"version {number} of {model} is not known to serve ({exc}); the gateway keeps the "
                        "version it served before"
                    ) from None
                if serving(self._repository, model) == number:
                    break
            else:
                raise ReloadFailedError(f"the versions of {model} kept changing during the reload: try again")
            self._price.swap(meta, number)
        return {"model": model, "model_version": meta.version, "repository_version": number}

    async def adopt(self, number: int, instead_of: int | None) -> None:
        """Read version `number` of patchtst as the serving one instead of `instead_of`, without loading it in the
        backend: the backend serves it already (another gateway sharing the Triton server reloaded it;
        PriceService.follow). Where the version read is no longer `instead_of` once a reload under way here has
        finished, or is `number` already, nothing changes (a reload, or another request, moved it meanwhile: a
        request that waited behind this gateway's reload to version 3 must not move it back to 2). Not in this
        gateway's repository, or broken there: ModelNotReadyError saying so, and the version read before stays
        (its requests fail until both serve one version)."""
        async with self._lock:
            if self._price.repository_version != instead_of or number == instead_of:
                return
            try:
                meta = PatchTSTMeta.load(version_dir(self._repository, PATCHTST, number))
            except ArtifactError as exc:
                raise ModelNotReadyError(
                    f"the backend serves version {number} of {PATCHTST}, which this gateway cannot read from its "
                    f"model repository {self._repository} ({exc}): give both the same repository"
                ) from None
            log.warning(
                "the backend serves version %d of %s (%s), rolled out by another process: this gateway reads "
                "it too, from version %s",
                number,
                PATCHTST,
                meta.version,
                self._price.repository_version,
            )
            self._price.swap(meta, number)
