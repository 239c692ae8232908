"""Kill tests of a mutation audit of gateway/services/models.py (ModelsService: /admin/models, the reload a rollout
asks for, and the adoption of a version another gateway rolled out on a shared Triton). Each test fails with the
mutant its docstring names applied and passes on the code as it is. They run the service on a few artifact.json
files in tmp_path, a fake backend and a fake price service (no graph, no gateway); concurrency is ordered with
asyncio events and loop turns, never sleeps."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import cast

import pytest

from gateway.backends.base import InferenceBackend
from gateway.services.models import ModelsService, ReloadFailedError
from gateway.services.price import NOT_EXPORTED, PriceService
from investiq.core.artifacts import META
from investiq.core.errors import BackendUnavailableError, InvalidInputError, ModelNotReadyError
from investiq.core.patchtst import PATCHTST, PatchTSTMeta
from investiq.core.versions import version_dir
from tests.fakes import FakeBackend
from tests.ops.test_lifecycle import install_version


def install(repo: Path, number: int) -> PatchTSTMeta:
    """Version `number` of patchtst in `repo`, its artifact named w<number> (no graph), trained on 2026-01-0N."""
    return install_version(repo, number, trained_at=f"2026-01-0{number}T00:00:00Z")


def break_artifact(repo: Path, number: int) -> None:
    """Version `number` still counts as one (its artifact.json is there) but cannot be read."""
    (version_dir(repo, PATCHTST, number) / META).write_text("{not json")


class FakePrice:
    """What ModelsService reads and swaps of the price service: the artifact read and its repository number."""

    def __init__(self, meta: PatchTSTMeta | None, repository_version: int | None) -> None:
        self.meta = meta
        self.repository_version = repository_version
        self.swaps: list[tuple[str, int]] = []

    def swap(self, meta: PatchTSTMeta, repository_version: int) -> None:
        self.swaps.append((meta.version, repository_version))
        self.meta, self.repository_version = meta, repository_version


def service(backend: FakeBackend, repo: Path, price: FakePrice) -> ModelsService:
    return ModelsService(cast(InferenceBackend, backend), repo, cast(PriceService, price))


class Failing(FakeBackend):
    """A backend whose reload fails with `error`."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    async def reload(self, model: str) -> None:
        await super().reload(model)
        raise self.error


class Installing(FakeBackend):
    """A backend during whose first `installs` reloads another process installs the next version."""

    def __init__(self, repo: Path, newest: int, installs: int) -> None:
        super().__init__()
        self.repo, self.newest, self.installs = repo, newest, installs

    async def reload(self, model: str) -> None:
        await super().reload(model)
        if len(self.reloaded) <= self.installs:
            self.newest += 1
            install(self.repo, self.newest)


class Held(FakeBackend):
    """A backend whose first reload waits for `release`; `entered` is set once it has begun."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.release = asyncio.Event(), asyncio.Event()
        self.calls: list[str] = []

    async def reload(self, model: str) -> None:
        first = not self.reloaded
        await super().reload(model)
        self.calls.append("enter")
        if first:
            self.entered.set()
            await self.release.wait()
        self.calls.append("exit")


async def turns(n: int = 20) -> None:
    """Lets every other ready task run as far as it can (loop turns, not time)."""
    for _ in range(n):
        await asyncio.sleep(0)


def test_serving_names_the_artifact_read_its_repository_number_and_the_numbers_kept(tmp_path: Path) -> None:
    """models.py:serving: "model_version" or "repository_version" always None (/admin/models named no version,
    or only the artifact); and with nothing read, every field of the artifact is None, the kept numbers still
    listed."""
    repo = tmp_path / "repo"
    install(repo, 1)
    second = install(repo, 2)
    answer = service(FakeBackend(), repo, FakePrice(second, 2)).serving()
    assert answer == {
        PATCHTST: {
            "model_version": "w2",
            "trained_at": "2026-01-02T00:00:00Z",
            "repository_version": 2,
            "kept": [1, 2],
        }
    }
    empty = service(FakeBackend(), repo, FakePrice(None, None)).serving()
    assert empty == {
        PATCHTST: {"model_version": None, "trained_at": None, "repository_version": None, "kept": [1, 2]}
    }


def test_only_patchtst_reloads_and_another_model_is_refused_before_anything_loads(tmp_path: Path) -> None:
    """models.py:reload: `if model not in RELOADABLE` dropped, finbert was "reloaded" as patchtst's newest."""
    repo = tmp_path / "repo"
    install(repo, 1)
    backend, price = FakeBackend(), FakePrice(None, None)
    with pytest.raises(InvalidInputError, match="'finbert' cannot be reloaded; reloadable: patchtst"):
        asyncio.run(service(backend, repo, price).reload("finbert"))
    assert (backend.reloaded, price.swaps) == ([], [])


def test_a_reload_with_nothing_exported_is_not_ready_not_a_failed_reload(tmp_path: Path) -> None:
    """models.py:reload: `if number is None: raise ModelNotReadyError` dropped: an empty repository was a 409
    "version None of patchtst was not loaded" instead of the 503 saying to export a model."""
    (tmp_path / "repo").mkdir()
    backend, price = FakeBackend(), FakePrice(None, None)
    with pytest.raises(ModelNotReadyError) as info:
        asyncio.run(service(backend, tmp_path / "repo", price).reload(PATCHTST))
    assert (type(info.value), str(info.value), info.value.status_code) == (ModelNotReadyError, NOT_EXPORTED, 503)
    assert (backend.reloaded, price.swaps) == ([], [])


def test_a_newest_version_that_cannot_be_read_is_a_failed_reload_before_the_backend_loads_it(
    tmp_path: Path,
) -> None:
    """models.py:reload: ArtifactError left out of the caught errors (a broken artifact.json was a bare
    ArtifactError, not "reload_failed"), ReloadFailedError's kind as its parent's "conflict", or the backend
    asked to load the version before its artifact was read (the backend then served a version the gateway
    refused: its forecasts named the old one)."""
    repo = tmp_path / "repo"
    first = install(repo, 1)
    install(repo, 2)
    break_artifact(repo, 2)
    backend, price = FakeBackend(), FakePrice(first, 1)
    with pytest.raises(ReloadFailedError, match=r"^version 2 of patchtst was not loaded .*still serves$") as info:
        asyncio.run(service(backend, repo, price).reload(PATCHTST))
    assert (info.value.kind, info.value.status_code) == ("reload_failed", 409)
    assert (backend.reloaded, price.swaps, price.repository_version) == ([], [], 1)


def test_a_backend_that_cannot_load_the_version_is_a_failed_reload_and_the_old_one_serves(tmp_path: Path) -> None:
    """models.py:reload: ModelNotReadyError left out of the caught errors: the embedded backend's "cannot load
    version 2" answered 503 (not ready) instead of the 409 saying the version before still serves."""
    repo = tmp_path / "repo"
    first = install(repo, 1)
    install(repo, 2)
    backend, price = Failing(ModelNotReadyError("the graph does not load")), FakePrice(first, 1)
    with pytest.raises(
        ReloadFailedError, match=r"version 2 of patchtst was not loaded \(the graph does not load\)"
    ):
        asyncio.run(service(backend, repo, price).reload(PATCHTST))
    assert (backend.reloaded, price.swaps) == ([PATCHTST], [])


def test_a_backend_load_not_known_to_have_finished_names_the_version_and_keeps_the_old_one(tmp_path: Path) -> None:
    """models.py:reload: the BackendUnavailableError branch dropped: a timed-out load answered Triton's bare
    error, not which version is not known to serve and that the gateway keeps the one before."""
    repo = tmp_path / "repo"
    first = install(repo, 1)
    install(repo, 2)
    backend, price = Failing(BackendUnavailableError("load timed out")), FakePrice(first, 1)
    with pytest.raises(BackendUnavailableError) as info:
        asyncio.run(service(backend, repo, price).reload(PATCHTST))
    assert str(info.value) == (
        "version 2 of patchtst is not known to serve (load timed out); the gateway keeps the version it served "
        "before"
    )
    assert price.swaps == []


def test_a_version_installed_during_each_of_two_loads_is_read_again_and_the_newest_is_named(
    tmp_path: Path,
) -> None:
    """models.py:reload: one try instead of three (a second install during the reload failed it), the re-read
    dropped or its comparison flipped (the gateway named version 2 while the backend loaded 4), or the swap
    dropped (the reload answered 200 and the gateway kept reading version 1)."""
    repo = tmp_path / "repo"
    first = install(repo, 1)
    install(repo, 2)
    backend, price = Installing(repo, newest=2, installs=2), FakePrice(first, 1)
    answer = asyncio.run(service(backend, repo, price).reload(PATCHTST))
    assert answer == {"model": PATCHTST, "model_version": "w4", "repository_version": 4}
    assert (backend.reloaded, price.swaps) == ([PATCHTST] * 3, [("w4", 4)])


def test_versions_that_keep_changing_fail_the_reload_and_nothing_is_swapped(tmp_path: Path) -> None:
    """models.py:reload: the for-else's raise dropped: after three loads each overtaken by a new version, the
    gateway read the third version while the backend served a fourth."""
    repo = tmp_path / "repo"
    first = install(repo, 1)
    install(repo, 2)
    backend, price = Installing(repo, newest=2, installs=99), FakePrice(first, 1)
    with pytest.raises(ReloadFailedError, match="the versions of patchtst kept changing during the reload"):
        asyncio.run(service(backend, repo, price).reload(PATCHTST))
    assert (len(backend.reloaded), price.swaps, price.repository_version) == (3, [], 1)


def test_one_reload_at_a_time(tmp_path: Path) -> None:
    """models.py:reload: the service's lock dropped: a second reload asked the backend to load while the first
    was still loading (two sessions built at once, and the swaps could land out of order)."""
    repo = tmp_path / "repo"
    first = install(repo, 1)
    install(repo, 2)
    backend, price = Held(), FakePrice(first, 1)
    models = service(backend, repo, price)

    async def scenario() -> None:
        one = asyncio.create_task(models.reload(PATCHTST))
        await backend.entered.wait()
        two = asyncio.create_task(models.reload(PATCHTST))
        await turns()
        assert backend.calls == ["enter"]  # the second waits for the first
        backend.release.set()
        await asyncio.gather(one, two)

    asyncio.run(scenario())
    assert backend.calls == ["enter", "exit", "enter", "exit"]
    assert price.swaps == [("w2", 2), ("w2", 2)]


def test_adopting_the_version_the_backend_serves_swaps_to_it_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """models.py:adopt: the moved-meanwhile check flipped (the gateway never followed another gateway's rollout:
    every forecast failed until a restart), or the swap dropped."""
    repo = tmp_path / "repo"
    first = install(repo, 1)
    install(repo, 2)
    price = FakePrice(first, 1)
    with caplog.at_level(logging.WARNING, logger="gateway.services.models"):
        asyncio.run(service(FakeBackend(), repo, price).adopt(2, instead_of=1))
    assert (price.swaps, price.repository_version) == ([("w2", 2)], 2)
    assert "the backend serves version 2 of patchtst (w2)" in caplog.text
    assert "from version 1" in caplog.text


def test_an_adoption_overtaken_by_a_move_here_changes_nothing(tmp_path: Path) -> None:
    """models.py:adopt: the moved-meanwhile check flipped: a request that found version 1 gone after the gateway
    had moved to 3 put it back on 2."""
    repo = tmp_path / "repo"
    for number in (1, 2):
        install(repo, number)
    third = install(repo, 3)
    price = FakePrice(third, 3)
    asyncio.run(service(FakeBackend(), repo, price).adopt(2, instead_of=1))
    assert (price.swaps, price.repository_version) == ([], 3)


def test_adopting_the_version_already_read_reads_nothing_again(tmp_path: Path) -> None:
    """models.py:adopt: `or number == instead_of` dropped: a request asked to adopt the version the gateway
    reads re-read it from the repository (its artifact broken since: the request failed, though nothing moved)."""
    repo = tmp_path / "repo"
    first = install(repo, 1)
    break_artifact(repo, 1)
    price = FakePrice(first, 1)
    asyncio.run(service(FakeBackend(), repo, price).adopt(1, instead_of=1))
    assert (price.swaps, price.meta) == ([], first)


def test_a_version_this_gateway_cannot_read_is_not_ready_and_the_version_read_stays(tmp_path: Path) -> None:
    """models.py:adopt: ArtifactError not turned into ModelNotReadyError: a version missing from this gateway's
    repository was a bare "no artifact" (ArtifactError: a 500), not the 503 saying to give both the same
    repository."""
    repo = tmp_path / "repo"
    first = install(repo, 1)
    price = FakePrice(first, 1)
    with pytest.raises(
        ModelNotReadyError, match="which this gateway cannot read from its model repository"
    ) as info:
        asyncio.run(service(FakeBackend(), repo, price).adopt(3, instead_of=1))
    assert (type(info.value), price.swaps, price.meta) == (ModelNotReadyError, [], first)


def test_an_adoption_waits_behind_a_reload_here_and_then_changes_nothing(tmp_path: Path) -> None:
    """models.py:adopt: the lock dropped: a request that found version 1 gone while this gateway's reload to 3
    was loading moved the gateway to 2 meanwhile (its requests answered and journaled as version 2's)."""
    repo = tmp_path / "repo"
    first = install(repo, 1)
    for number in (2, 3):
        install(repo, number)
    backend, price = Held(), FakePrice(first, 1)
    models = service(backend, repo, price)

    async def scenario() -> None:
        reload = asyncio.create_task(models.reload(PATCHTST))
        await backend.entered.wait()
        adoption = asyncio.create_task(models.adopt(2, instead_of=1))
        await turns()
        assert price.swaps == []  # the adoption waits for the reload
        backend.release.set()
        await asyncio.gather(reload, adoption)

    asyncio.run(scenario())
    assert (price.swaps, price.repository_version) == ([("w3", 3)], 3)
