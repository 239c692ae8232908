"""Promote and roll back PatchTST versions, and tell the running stack to serve the change.

Every change follows one pattern: change the model repository (install a version, or retire the
newest), ask the stack to load the newest version, and undo the repository change if it cannot.
So the repository on disk and what serves never disagree for long, and a version that fails to
load never serves, neither now nor at the next restart.

Rollout: POST /admin/models/patchtst/reload on the gateway (it reloads its embedded session, or
has Triton load the version in explicit model-control mode). With no gateway running and the
Triton backend configured, Triton is asked directly; with neither, the new version serves at the
next start.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from investiq.service import gateway_url
from investiq.settings import Settings
from investiq.versions import (
    VersionError,
    install,
    prune,
    restore,
    retire,
    retired_root,
    serving,
    version_dir,
    versions,
)

MODEL = "patchtst"
Log = Callable[[str], None]


class RolloutError(RuntimeError):
    """The stack refused the new version; the repository change was undone."""


def _post(url: str, settings: Settings | None, timeout_s: float) -> dict[str, object]:
    """POST without a body; the JSON answer, HTTPError/URLError as urllib raises them."""
    request = Request(url, method="POST", data=b"")  # noqa: S310 (http URL built from settings)
    if settings is not None and settings.api_key is not None:
        request.add_header("X-API-Key", settings.api_key.get_secret_value())
    with urlopen(request, timeout=timeout_s) as response:  # noqa: S310
        body = response.read()
    return dict(json.loads(body)) if body.strip() else {}


def _detail(exc: HTTPError) -> str:
    try:
        return str(json.loads(exc.read()).get("detail", exc.reason))
    except (ValueError, AttributeError):
        return str(exc.reason)


def reload(settings: Settings, timeout_s: float = 180.0) -> str:
    """Have the running stack serve the repository's newest PatchTST; say what happened."""
    url = f"{gateway_url(settings)}/admin/models/{MODEL}/reload"
    try:
        answer = _post(url, settings, timeout_s)
        return f"the gateway serves {MODEL} version {answer['repository_version']} ({answer['model_version']})"
    except HTTPError as exc:
        raise RolloutError(f"the gateway at {url} refused the new version: {_detail(exc)}") from None
    except (URLError, OSError):
        pass  # no gateway: try Triton, or there is nothing to roll out to
    if settings.backend == "triton":
        triton = f"http://127.0.0.1:{settings.triton_http_port}/v2/repository/models/{MODEL}/load"
        try:
            _post(triton, None, timeout_s)
            return f"no gateway at {gateway_url(settings)}; Triton loaded the newest {MODEL}"
        except HTTPError as exc:
            raise RolloutError(f"Triton could not load the new version: {_detail(exc)}") from None
        except (URLError, OSError):
            pass
    return f"no gateway running at {gateway_url(settings)}: the newest version serves when the stack starts"


def promote(settings: Settings, source: Path, log: Log) -> int:
    """Install the exported version directory `source` as the newest version and roll it out; on a
    refused rollout remove it again (RolloutError). `prune_old` then deletes versions beyond keep."""
    repository = settings.model_repository
    number = install(source, repository, MODEL, retired_root(settings.models_dir))
    log(f"installed {source} as {version_dir(repository, MODEL, number)}")
    try:
        log(reload(settings))
    except RolloutError:
        shutil.rmtree(version_dir(repository, MODEL, number))
        log(f"removed version {number} again: version {serving(repository, MODEL)} keeps serving")
        raise
    return number


def prune_old(settings: Settings, log: Log) -> None:
    for old in prune(settings.model_repository, MODEL, settings.keep_versions):
        log(f"deleted version {old} (keep_versions={settings.keep_versions})")


def rollback(settings: Settings, log: Log) -> int:
    """Retire the newest version (to models/retired/) so the previous one serves; return that one."""
    repository = settings.model_repository
    kept = versions(repository, MODEL)
    if len(kept) < 2:
        raise VersionError(
            f"nothing to roll back to: {MODEL} has versions {kept} in {repository} "
            "(`investiq models promote` can bring back a retired one)"
        )
    retired = retire(repository, MODEL, kept[-1], retired_root(settings.models_dir))
    log(f"retired version {kept[-1]} to {retired}")
    try:
        log(reload(settings))
    except RolloutError:
        restore(retired, repository, MODEL, kept[-1])
        log(f"restored version {kept[-1]}: it keeps serving")
        raise
    return kept[-2]


def resync_bayesian(settings: Settings) -> str:
    """Re-fold the agent's closed trades into the strategy weights (idempotent: each trade counts once)."""
    days = settings.bayes_max_sync_days
    url = f"{gateway_url(settings)}/bayesian/sync-from-database?days={days}"
    try:
        answer = _post(url, settings, 120.0)
        return f"Bayesian weights re-synced through the gateway: {answer}"
    except HTTPError as exc:
        raise RolloutError(f"the gateway refused the Bayesian re-sync: {_detail(exc)}") from None
    except (URLError, OSError):
        pass
    import asyncio

    from gateway.journal import JournalWriter, open_journal
    from gateway.services.bayesian import BayesianService
    from gateway.wiring import bayes_config

    open_journal(settings.db_path, settings.db_busy_timeout_ms).close()  # created / migrated: trades exists
    writer = JournalWriter(settings.db_path, settings.db_busy_timeout_ms)
    writer.start()
    try:
        service = BayesianService(writer, settings.db_path, bayes_config(settings))
        report = asyncio.run(service.sync(days))
    finally:
        writer.close()
    return f"Bayesian weights re-synced in-process (no gateway running): {report}"
