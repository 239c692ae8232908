"""Kill tests of a mutation audit of the gateway's health verdicts (gateway/services/health.py): each fails with
the mutant its docstring names applied, and passes on the code as it is. They build a HealthService on small
stand-ins for the journal writer, the services and the backend (no app, no server), and ask it directly."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from gateway.services import health
from gateway.services.health import HealthService
from investiq.core.finbert import FINBERT
from investiq.core.journal.connection import RESTORE
from investiq.core.lexicon import NAME as LEXICON
from investiq.core.patchtst import PATCHTST
from tests.fakes import FakeBackend


class Backend(FakeBackend):
    """A backend whose readiness the test sets per model (None: the server's own readiness)."""

    def __init__(self, ready: bool = True, models: dict[str, bool] | None = None) -> None:
        super().__init__(ready)
        self.models = models or {}

    async def ready(self, model: str | None = None) -> bool:
        return self.is_ready if model is None else self.models.get(model, self.is_ready)


class Hung(FakeBackend):
    """A backend that never answers whether a model is ready (a Triton that accepted and hung)."""

    async def ready(self, model: str | None = None) -> bool:
        await asyncio.Event().wait()
        return True


def writer(**state: Any) -> Any:
    """A running journal writer on its file, with `state` over it."""
    base: dict[str, Any] = {"alive": True, "detached": False, "damage": None, "failing": False, "last_error": None}
    base |= {"committed": 7, "failed": 2, "pending": 3}
    return SimpleNamespace(path=Path("journal.db"), **(base | state))


def service(
    backend: Any = None,
    journal: Any = None,
    finbert: bool = True,
    patchtst: bool = True,
    price_reason: str | None = None,
    aligning: Any = None,
    **price: Any,
) -> HealthService:
    """A HealthService over stand-ins: FinBERT (else the lexicon) and PatchTST (else none) served by `backend`."""

    async def all_stats() -> list[Any]:
        return [SimpleNamespace(proven=True), SimpleNamespace(proven=False), SimpleNamespace(proven=True)]

    async def event_count() -> int:
        return 11

    bayesian: Any = SimpleNamespace(all_stats=all_stats, event_count=event_count)
    sentiment: Any = SimpleNamespace(
        scorer=SimpleNamespace(model=FINBERT if finbert else LEXICON), health=lambda: {"status": "healthy"}
    )
    report = {"status": "healthy"} | ({"reason": price_reason} if price_reason else {})
    price_service: Any = SimpleNamespace(
        meta=object() if patchtst else None,
        health=lambda: dict(report),
        **({"repository_version": None, "follow": None} | price),
    )
    return HealthService(
        journal or writer(), bayesian, sentiment, price_service, backend or Backend(), "v-test", aligning
    )


class Hangs(Backend):
    """A server that says it is ready at once, and never answers whether `hung` models are."""

    def __init__(self, *hung: str) -> None:
        super().__init__()
        self.hung = hung

    async def ready(self, model: str | None = None) -> bool:
        if model in self.hung:
            await asyncio.Event().wait()
        return True


def run(coro: Any) -> Any:
    """`coro`'s answer, bounded well past any deadline the code applies: a mutant without one fails, not hangs."""
    return asyncio.run(asyncio.wait_for(coro, 10))


def follower(serving: int | None = 2, error: Exception | None = None) -> dict[str, Any]:
    """The price service's following of a backend serving version `serving` of PatchTST (it read version 1);
    `error` what adopting it raises. `calls` records the questions and adoptions."""
    calls: list[tuple[str, Any, Any]] = []

    async def serving_version(model: str, number: int) -> int | None:
        calls.append(("asked", model, number))
        return serving

    async def follow(version: int | None, number: int) -> None:
        calls.append(("followed", version, number))
        if error is not None:
            raise error

    return {"backend": SharedBackend(serving_version), "repository_version": 1, "follow": follow, "calls": calls}


class SharedBackend(Backend):
    def __init__(self, serving_version: Any) -> None:
        super().__init__()
        self.serving_version = serving_version


def following(
    serving: int | None = 2, error: Exception | None = None, **kw: Any
) -> tuple[HealthService, list[Any]]:
    f = follower(serving, error)
    calls = f.pop("calls")
    return service(**(f | kw)), calls


# The journal component


def test_a_stopped_writer_makes_the_journal_unhealthy_in_the_stack():
    """Kills journal() without its check that the writer runs (/health's journal component healthy while nothing
    can be journaled), and stack() reporting a journal component other than journal()'s."""
    report = run(service(journal=writer(alive=False)).stack())
    journal = report["components"]["journal"]
    assert journal["status"] == "unhealthy" and journal["reason"] == "the journal writer has stopped"
    assert report["status"] == "unhealthy"


def test_the_journal_reports_its_own_counts():
    """Kills journal(): `pending` reporting the failed count (a backlog of writes hidden behind the failures)."""
    report = service().journal()
    assert (report["committed"], report["failed"], report["pending"]) == (7, 2, 3)


def test_a_damaged_journal_names_the_way_to_restore_it():
    """Kills detached_reason() without RESTORE (told the journal is damaged, not how to restore it)."""
    report = service(journal=writer(damage="malformed page")).journal()
    assert report["status"] == "unhealthy"
    assert report["reason"] == f"journal.db is damaged (malformed page): {RESTORE}"


# The Bayesian component


def test_the_bayesian_service_counts_only_proven_strategies():
    """Kills bayesian(): `proven` as the number of strategies (an unproven strategy reported proven)."""
    report = run(service().bayesian())
    assert report == {"status": "healthy", "strategies": 3, "proven": 2, "events": 11}


# The inference component


def test_a_backend_that_does_not_answer_is_unhealthy_within_a_scrape_deadline(monkeypatch):
    """Kills inference(): the backend's readiness asked without SCRAPE_DEADLINE_S (a hung Triton holds /health as
    long as it hangs), or the timeout reported degraded."""
    monkeypatch.setattr(health, "SCRAPE_DEADLINE_S", 0.01)
    report = run(service(backend=Hangs(None)).inference())  # type: ignore[arg-type]
    assert report["status"] == "unhealthy", report
    assert report["models"] == {FINBERT: False, PATCHTST: False}


def test_a_backend_that_raises_is_unhealthy_with_its_message():
    """Kills inference(): the reason for a raising backend without its message (only the exception's class)."""

    class Refused(Backend):
        async def ready(self, model: str | None = None) -> bool:
            raise ConnectionRefusedError("connection refused at :8001")

    report = run(service(backend=Refused()).inference())
    assert report["status"] == "unhealthy"
    assert report["reason"] == "ConnectionRefusedError: connection refused at :8001"


def test_one_model_down_degrades_the_backend_and_is_the_one_named():
    """Kills inference(): `all` as `any` (one model down reported healthy), and the reason naming the models
    that are up instead of the one that is down."""
    backend = Backend(models={FINBERT: True, PATCHTST: False})
    report = run(service(backend=backend).inference())
    assert report["status"] == "degraded"
    assert report["models"] == {FINBERT: True, PATCHTST: False}
    assert report["reason"] == f"not ready on the fake backend at in-process: {PATCHTST}"


def test_a_model_that_does_not_answer_is_not_ready_within_the_scrape_deadline(monkeypatch):
    """Kills inference(): the models asked without SCRAPE_DEADLINE_S (one hung model holds /health)."""
    monkeypatch.setattr(health, "SCRAPE_DEADLINE_S", 0.01)
    report = run(service(backend=Hangs(PATCHTST)).inference())
    assert report["status"] == "degraded" and report["models"] == {FINBERT: True, PATCHTST: False}


def test_the_runtimes_the_backend_chose_are_reported_with_why():
    """Kills inference() without patchtst_runtime(), and either runtime without its reason."""
    backend = Backend()
    backend.finbert_runtime, backend.finbert_choice = "onnx-int8", "VNNI on this CPU"  # type: ignore[attr-defined]
    backend.patchtst_runtime, backend.patchtst_choice = "openvino", "fastest here"  # type: ignore[attr-defined]
    report = run(service(backend=backend).inference())
    assert report["finbert_runtime"] == "onnx-int8" and report["finbert_runtime_reason"] == "VNNI on this CPU"
    assert report["patchtst_runtime"] == "openvino" and report["patchtst_runtime_reason"] == "fastest here"
    assert "cpu" in report


# /sentiment/health and /price/health


def test_finbert_not_ready_makes_sentiment_unhealthy_within_the_scrape_deadline(monkeypatch):
    """Kills sentiment() asking FinBERT's readiness without SCRAPE_DEADLINE_S (a hung Triton holds the report)."""
    monkeypatch.setattr(health, "SCRAPE_DEADLINE_S", 0.01)
    report = run(service(backend=Hangs(FINBERT)).sentiment())
    assert report["status"] == "unhealthy" and report["reason"].startswith(f"{FINBERT} is not ready")


def test_patchtst_not_ready_makes_price_unhealthy_before_the_reason_it_gave():
    """Kills _answerable() returning the report unchanged (every forecast a 503, /price/health healthy), and
    unhealthy() dropping the service's own reason or putting it first."""
    svc = service(backend=Backend(models={PATCHTST: False}), price_reason="judged on 3 forecasts")
    report = run(svc.price())
    assert report["status"] == "unhealthy"
    assert report["reason"] == (
        f"{PATCHTST} is not ready on the fake backend at in-process: its requests fail (503) until it is; "
        "judged on 3 forecasts"
    )


def test_price_without_patchtst_keeps_the_services_own_report():
    """Kills price() asking the backend when no PatchTST is exported (the service's own reason, replaced)."""
    report = run(service(patchtst=False, backend=Backend(ready=False), price_reason="no model exported").price())
    assert report == {"status": "healthy", "reason": "no model exported"}


def test_price_within_the_scrape_deadline_when_patchtst_hangs(monkeypatch):
    """Kills price() asking PatchTST's readiness without SCRAPE_DEADLINE_S (a hung Triton holds the report)."""
    monkeypatch.setattr(health, "SCRAPE_DEADLINE_S", 0.01)
    assert run(service(backend=Hangs(PATCHTST)).price())["status"] == "unhealthy"


# follow_price


def test_nothing_is_followed_while_triton_loads_what_the_gateway_reads():
    """Kills follow_price() without its wait for align_triton (the gateway moved back to Triton's old version)."""

    async def ask() -> tuple[str | None, list[Any]]:
        aligning = asyncio.get_running_loop().create_future()
        svc, calls = following(aligning=aligning)
        answer = await svc.follow_price()
        aligning.cancel()
        return answer, calls

    assert run(ask()) == (None, [])


def test_nothing_is_asked_without_a_repository_version():
    """Kills follow_price() without its check of the version read (the backend asked about version None)."""
    svc, calls = following(repository_version=None)
    assert run(svc.follow_price()) is None and calls == []


def test_a_served_version_is_followed():
    """Pins the following the three tests above guard: a new version served is adopted."""
    svc, calls = following(serving=2)
    assert run(svc.follow_price()) is None
    assert calls == [("asked", PATCHTST, 1), ("followed", 2, 1)]


def test_following_is_bounded_by_the_deadline_asked(monkeypatch):
    """Kills follow_price() ignoring deadline_s for SCRAPE_DEADLINE_S (/health/ready held past its probe's
    timeout by a hung Triton)."""
    monkeypatch.setattr(health, "SCRAPE_DEADLINE_S", 60.0)

    async def hangs(model: str, number: int) -> int | None:
        await asyncio.Event().wait()
        return 2

    async def follow(version: int | None, number: int) -> None:
        return None

    svc = service(backend=SharedBackend(hangs), repository_version=1, follow=follow)
    assert run(svc.follow_price(0.01)) is None
