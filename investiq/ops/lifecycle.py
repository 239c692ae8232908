"""Promote and roll back PatchTST versions, and tell the running stack to serve the change.

Every change follows one pattern: change the model repository (install a version, or retire the
newest), ask the stack to load the newest version, and undo the repository change if it cannot.
So the repository on disk and what serves never disagree for long, and a version that fails to
load never serves, neither now nor at the next restart.

Rollout: POST /admin/models/patchtst/reload on the gateway (it reloads its embedded session, or
has Triton load the version in explicit model-control mode). With no gateway running and the
Triton backend configured, Triton is asked directly; with neither, the new version must load here
(a session and a warm-up window) and serves at the next start. Only a refused connection means
"nothing runs": a gateway that takes the request and fails to answer is a failed rollout.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from investiq.core.errors import InvestIQError
from investiq.core.patchtst import PATCHTST
from investiq.core.settings import API_KEY_HEADER, Settings
from investiq.core.versions import (
    VersionError,
    install,
    prune,
    prune_retired,
    restore,
    retire,
    retired_root,
    serving,
    version_dir,
    versions,
)
from investiq.ops.service import stack_url, stack_urls

MODEL = PATCHTST
Log = Callable[[str], None]


class RolloutError(InvestIQError):
    """The stack refused the new version; the repository change was undone."""


class BusyError(InvestIQError):
    """Another retrain, promote or rollback holds the lifecycle lock."""


@contextmanager
def exclusive(settings: Settings) -> Iterator[None]:
    """One retrain, promote or rollback at a time per models directory (the weekly timer and an
    operator may meet): two at once would interleave version numbers and roll back each other's."""
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    path = settings.models_dir / ".lifecycle.lock"
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise BusyError(f"{holder} is changing the models in {settings.models_dir}: try again later") from None
        handle.truncate(0)
        handle.write(f"`investiq {' '.join(sys.argv[1:3])}` (PID {os.getpid()})")
        handle.flush()
        try:
            yield  # closing the file releases the lock, also when the process dies
        finally:  # a lock nobody holds names nobody (a stopped run unwinds to here as a finished one does)
            handle.truncate(0)


def _post(url: str, headers: dict[str, str], timeout_s: float) -> dict[str, object]:
    """POST without a body; the JSON answer, HTTPError/URLError as urllib raises them."""
    request = Request(url, method="POST", data=b"", headers=headers)  # noqa: S310 (http URL built from settings)
    with urlopen(request, timeout=timeout_s) as response:  # noqa: S310
        body = response.read()
    return dict(json.loads(body)) if body.strip() else {}


def _key(settings: Settings) -> dict[str, str]:
    """The gateway's API key header, where one is set."""
    return {} if settings.api_key is None else {API_KEY_HEADER: settings.api_key.get_secret_value()}


def _detail(exc: HTTPError) -> str:
    """The reason in an error's JSON: the gateway's `detail`, Triton's `error` ("Forbidden" alone hid which)."""
    try:
        found = json.loads(exc.read())
        return str(found.get("detail") or found.get("error") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason)


def _refused(exc: OSError) -> bool:
    """Whether nothing listens there (the connection was refused), as opposed to a server that took
    the request and then failed to answer (a timeout, a dropped connection): that outcome is unknown."""
    reason = exc.reason if isinstance(exc, URLError) else exc
    return isinstance(reason, ConnectionRefusedError)


def _ask(
    url: str, headers: dict[str, str], timeout_s: float, who: str, what: str = "the new version"
) -> dict[str, object] | None:
    """POST to the stack; None when nothing listens at `url`, RolloutError on any other failure."""
    try:
        return _post(url, headers, timeout_s)
    except HTTPError as exc:
        raise RolloutError(f"{who} refused {what}: {_detail(exc)}") from None
    except OSError as exc:  # URLError, timeouts and resets included
        if _refused(exc):
            return None
        raise RolloutError(f"{who} did not confirm {what} ({exc}); see `investiq status`") from None
    except ValueError as exc:  # not JSON
        raise RolloutError(f"{who} answered {what} with something unexpected: {exc}") from None


def reload(settings: Settings, timeout_s: float = 180.0) -> str:
    """Have the running stack serve the repository's newest PatchTST; say what happened. With nothing
    running, the newest version must at least load here, or it would fail the next start."""
    urls = stack_urls(settings)
    served = []
    for base in urls:  # every gateway serving, whatever port (serving.serving_record): each holds its own model
        url = f"{base}/admin/models/{MODEL}/reload"
        answer = _ask(url, _key(settings), timeout_s, f"the gateway at {url}")
        if answer is not None:
            number, weights = answer.get("repository_version"), answer.get("model_version")
            served.append(
                f"the gateway{f' at {base}' if len(urls) > 1 else ''} serves {MODEL} version {number} ({weights})"
            )
    if served:
        return "; ".join(served)
    from investiq.ops.triton_server import TritonPorts, is_local

    if settings.backend == "triton" and is_local(settings):
        # the local Triton's model-repository API, with its admin token: without it every rollout with Triton
        # running and no gateway was refused ("Forbidden") and undone (an audit of Triton's operations). Only a
        # Triton of this host: one elsewhere had its token posted to whatever listened on the local port (a review)
        from gateway.backends.triton_admin import ADMIN_HEADER

        ports = TritonPorts.from_settings(settings)
        triton = f"http://{ports.local}:{ports.http}/v2/repository/models/{MODEL}/load"
        admin = {ADMIN_HEADER: ports.admin_token} if ports.admin_token else {}
        if _ask(triton, admin, timeout_s, "Triton") is not None:
            return f"no gateway at {stack_url(settings)}; Triton loaded the newest {MODEL}"
    from gateway.backends.embedded import load_patchtst
    from investiq.core.errors import ArtifactError

    newest = version_dir(settings.model_repository, MODEL, serving(settings.model_repository, MODEL) or 1)
    try:
        load_patchtst(newest)
    except ArtifactError as exc:
        raise RolloutError(f"{newest} does not load: {exc}") from None
    return f"no gateway running at {stack_url(settings)}: {newest} loads, and serves when the stack starts"


def promote(settings: Settings, source: Path, log: Log) -> int:
    """Install the exported version directory `source` as the newest version and roll it out; on a
    refused rollout retire it again (RolloutError): out of the repository, its number kept taken (numbers are
    never reused) and its files kept for a look. `prune_old` then deletes versions beyond keep."""
    repository = settings.model_repository
    number = install(source, repository, MODEL, retired_root(settings.models_dir))
    log(f"installed {source} as {version_dir(repository, MODEL, number)}")
    _roll_out(settings, number, log)
    return number


def export_and_serve(settings: Settings, export: Callable[[], object], log: Log) -> None:
    """`export` (which installs its weights as the repository's newest PatchTST, or re-exports the serving
    version's) rolled out as `promote` rolls out: a new version the stack refuses is retired again. Run under
    `exclusive`: an export that took no lock installed a version under the number a promote had just taken, and
    replaced it (a review); one the gateway refused stayed installed and listed as serving, and the next retrain
    judged its candidate against it. Versions beyond keep_versions are then deleted, as after a promote."""
    before = serving(settings.model_repository, MODEL)
    export()
    number = serving(settings.model_repository, MODEL)
    if number is None or number == before:  # the serving weights exported again, in place
        log(reload(settings))
    else:
        _roll_out(settings, number, log)
        prune_old(settings, log)  # as promote and retrain do: four exports kept four versions (a review)


def _roll_out(settings: Settings, number: int, log: Log) -> None:
    """Have the stack serve version `number`, just installed; if it refuses (RolloutError), retire it again:
    out of the repository, its number kept taken (numbers are never reused) and its files kept for a look."""
    repository = settings.model_repository
    try:
        log(reload(settings))
    except RolloutError:
        where = retire(repository, MODEL, number, retired_root(settings.models_dir))
        log(f"retired version {number} again, to {where}: version {serving(repository, MODEL)} keeps serving")
        with contextlib.suppress(RolloutError):  # a gateway that did load it before failing goes back
            reload(settings)
        raise


def prune_old(settings: Settings, log: Log) -> None:
    """Versions beyond `keep_versions`, kept and retired alike (a weekly retrain must not fill the disk)."""
    for old in prune(settings.model_repository, MODEL, settings.keep_versions):
        log(f"deleted version {old} (keep_versions={settings.keep_versions})")
    for old in prune_retired(retired_root(settings.models_dir), MODEL, settings.keep_versions):
        log(f"deleted retired version {old} (keep_versions={settings.keep_versions})")


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
        with contextlib.suppress(RolloutError):  # a gateway that did go back before another failed returns to it
            reload(settings)
        raise
    return kept[-2]


def resync_bayesian(settings: Settings) -> str:
    """Re-fold the agent's closed trades into the strategy weights (idempotent: each trade counts once)."""
    days = settings.bayes_max_sync_days
    answers, urls = [], stack_urls(settings)
    for base in urls:  # each gateway holds its own posterior (serving.serving_record)
        url = f"{base}/bayesian/sync-from-database?days={days}"
        answer = _ask(url, _key(settings), 120.0, f"the gateway at {base}", "the Bayesian re-sync")
        if answer is not None:
            answers.append(f"{base}: {answer}" if len(urls) > 1 else str(answer))
    if answers:
        return f"Bayesian weights re-synced through the gateway: {'; '.join(answers)}"
    import asyncio

    from gateway.services.bayesian import BayesianService
    from gateway.wiring import bayes_config
    from investiq.core.journal import JournalWriter, open_journal

    open_journal(settings.db_path, settings.db_busy_timeout_ms).close()  # created / migrated: trades exists
    writer = JournalWriter(settings.db_path, settings.db_busy_timeout_ms)
    writer.start()
    try:
        service = BayesianService(
            writer, settings.db_path, bayes_config(settings), busy_timeout_ms=settings.db_busy_timeout_ms
        )
        report = asyncio.run(service.sync(days))
    finally:
        writer.close()
    return f"Bayesian weights re-synced in-process (no gateway running): {report}"
