"""Kill tests of a mutation audit of the gateway's routes (gateway/routes/admin.py, bayesian.py, price.py, root.py,
sentiment.py): each fails with the mutant its docstring names applied, and passes on the code as it is. They send
HTTP requests through the app (TestClient) with the service a route calls replaced on app.state by a small fake
that records what it was asked (the dependencies of gateway/deps.py read app.state), so that what the route itself
does, its status codes, what it passes down and what it answers, is what is checked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import SecretStr

from gateway.app import create_app
from gateway.routes import admin
from gateway.routes import price as price_routes
from gateway.services.health import SCRAPE_DEADLINE_S
from gateway.services.models import ReloadFailedError
from gateway.services.price_forecast import PriceForecast, PriceQuery
from investiq.core.settings import Settings
from tests.fakes import FakeBackend
from tests.gateway.test_observability import Lines, logged

__all__ = ["logged"]  # a fixture, imported for pytest


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    """The lexicon answers sentiment; the fake backend serves the rest."""
    with TestClient(create_app(settings.model_copy(update={"sentiment_model": "lexicon"}), FakeBackend())) as c:
        yield c


@contextmanager
def serving(client: TestClient, **fakes: object) -> Iterator[None]:
    """The app's services named by `fakes` (app.state attributes) replaced for the block, the real ones back after
    it (the lifespan's shutdown closes them)."""
    state = client.app.state  # type: ignore[attr-defined]
    real = {name: getattr(state, name) for name in fakes}
    for name, fake in fakes.items():
        setattr(state, name, fake)
    try:
        yield
    finally:
        for name, service in real.items():
            setattr(state, name, service)


class Health:
    """A health service whose every report is `status` (the readiness probe's `ready`)."""

    def __init__(self, status: str = "healthy", ready: bool = True) -> None:
        self.status, self.is_ready = status, ready

    def _report(self) -> dict[str, Any]:
        return {"status": self.status, "reason": f"a fake says {self.status}"}

    async def bayesian(self) -> dict[str, Any]:
        return self._report()

    async def price(self) -> dict[str, Any]:
        return self._report()

    async def sentiment(self) -> dict[str, Any]:
        return self._report()

    async def stack(self) -> dict[str, Any]:
        return self._report()

    async def readiness(self) -> dict[str, Any]:
        return {"ready": self.is_ready, "journal": self.is_ready, "models": {}}


HEALTH_ROUTES = ["/health", "/bayesian/health", "/price/health", "/sentiment/health"]


@pytest.mark.parametrize("path", HEALTH_ROUTES)
@pytest.mark.parametrize(("status", "code"), [("healthy", 200), ("degraded", 200), ("unhealthy", 503)])
def test_only_an_unhealthy_report_is_a_503(app_client: TestClient, path: str, status: str, code: int):
    """Kills bayesian.py:health, `report["status"] == "unhealthy"` as `!= "healthy"` (a degraded component,
    still serving, answered 503, and a load balancer or `investiq status` took it for down). Through the real
    HealthService /bayesian/health is never degraded (the mutant is unobservable there today); the route's contract
    is pinned with a fake. The same mutant of root.py, price.py and sentiment.py:health, seen by other tests, is
    pinned here alike."""
    with serving(app_client, health=Health(status)):
        answer = app_client.get(path)
    assert (answer.status_code, answer.json()) == (code, {"status": status, "reason": f"a fake says {status}"})


# --- gateway/routes/admin.py ------------------------------------------------------------------------------------


class FailingReload:
    """A models service whose reload swapped the backend and then failed (the version before serves again)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def reload(self, model: str) -> dict[str, Any]:
        self.asked.append(model)
        raise ReloadFailedError(f"{model} version 2 did not load; version 1 still serves")


def test_a_reload_that_fails_still_hands_the_heap_back_to_the_collector(
    app_client: TestClient, monkeypatch: pytest.MonkeyPatch
):
    """Kills admin.py:reload: resettle() in the success path only, not in `finally` (a reload that failed after
    swapping the backend left the replaced version's objects frozen, never collected)."""
    resettled: list[None] = []
    monkeypatch.setattr(admin, "resettle", lambda: resettled.append(None))
    models = FailingReload()
    with serving(app_client, models=models):
        answer = app_client.post("/admin/models/patchtst/reload")
    assert answer.status_code == 409, answer.text
    assert "version 1 still serves" in answer.json()["detail"]
    assert models.asked == ["patchtst"] and len(resettled) == 1


# --- gateway/routes/bayesian.py ---------------------------------------------------------------------------------


@pytest.mark.parametrize("half_life", [45.0, 0.0])
def test_all_stats_reports_the_half_life_it_was_configured_with(settings: Settings, half_life: float):
    """Kills bayesian.py:all_stats, `half_life_days=service.half_life_days` as the default's 30.0 (the effective
    trades were decayed with one half-life and the answer named another; 0, forgetting off, read as 30 days)."""
    configured = settings.model_copy(update={"sentiment_model": "lexicon", "bayes_half_life_days": half_life})
    with TestClient(create_app(configured, FakeBackend())) as client:
        answer = client.get("/bayesian/all-stats")
    assert answer.status_code == 200, answer.text
    assert answer.json()["half_life_days"] == half_life


# --- gateway/routes/price.py ------------------------------------------------------------------------------------


def forecast(query: PriceQuery, version: str) -> PriceForecast:
    """A two-step forecast of `query`'s symbol by model version `version`."""
    return PriceForecast(
        symbol=query.symbol,
        direction="up",
        confidence=0.6,
        predicted_prices=[101.0, 102.0],
        predicted_return=0.02,
        horizon=2,
        interval="1d",
        current_price=100.0,
        last_bar_time="2026-03-10T21:00:00+00:00",
        target_time="2026-03-12T21:00:00+00:00",
        model_version=version,
        model="patchtst",
        skill=None,
        probability_up=[0.55, 0.6],
        quantiles={"0.5": [101.0, 102.0]},
        volatility=0.01,
        warnings=[],
    )


class Price:
    """A price service whose forecasts name `versions` in turn (a reload landing within a batch)."""

    def __init__(self, *versions: str) -> None:
        self.versions = versions
        self.asked: list[list[PriceQuery]] = []

    async def predict(self, queries: list[PriceQuery]) -> list[PriceForecast]:
        self.asked.append(queries)
        return [forecast(q, self.versions[i % len(self.versions)]) for i, q in enumerate(queries)]


def test_a_forecasts_access_line_names_the_model_version_that_made_it(app_client: TestClient, logged: Lines):
    """Kills price.py:predict, `annotate(model=MODEL, model_version=forecast.model_version)` without the version
    (the access line of a forecast did not say which model version answered, so a regression after a rollout
    could not be told from the logs); and its Response's media type other than application/json (the bytes
    written as the route's JSON, told to the client as text)."""
    with serving(app_client, price=Price("v7")):
        answer = app_client.post("/price/predict", json={"symbol": "SPY"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["model_version"] == "v7"
    (access,) = logged.access()
    assert (access["route"], access["model"], access.get("model_version")) == ("/price/predict", "patchtst", "v7")


def test_a_batchs_access_line_names_each_version_once_in_order(app_client: TestClient, logged: Lines):
    """Kills price.py:batch_predict, `",".join(sorted({versions}))` as the versions joined one per forecast (a
    batch of three named "v9,v10,v9": one forward pass, told as three, and unsorted)."""
    requests = [{"symbol": s} for s in ("SPY", "QQQ", "IWM")]
    with serving(app_client, price=Price("v9", "v10")):
        answer = app_client.post("/price/batch_predict", json={"requests": requests})
    assert answer.status_code == 200, answer.text
    assert [p["model_version"] for p in answer.json()["predictions"]] == ["v9", "v10", "v9"]
    (access,) = logged.access()
    assert access.get("model_version") == "v10,v9"


def test_a_batchs_processing_time_is_in_milliseconds(app_client: TestClient, monkeypatch: pytest.MonkeyPatch):
    """Kills price.py:batch_predict, `(time.perf_counter() - start) * 1000` without the `* 1000` (seconds
    answered as processing_time_ms). The route's clock is a fake that moves a quarter second per reading."""
    readings = iter([10.0, 10.25])
    monkeypatch.setattr(price_routes, "time", SimpleNamespace(perf_counter=lambda: next(readings)))
    with serving(app_client, price=Price("v1")):
        answer = app_client.post("/price/batch_predict", json={"requests": [{"symbol": "SPY"}]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["processing_time_ms"] == pytest.approx(250.0)


class Skill:
    """A live-skill tracker that records what it was asked for (no figures yet)."""

    def __init__(self) -> None:
        self.windows_asked: list[tuple[str, str]] = []
        self.reports_asked: list[str | None] = []

    def windows_of(self, version: str, symbol: str) -> dict[str, Any]:
        self.windows_asked.append((version, symbol))
        return {}

    def report(self, serving: str | None) -> dict[str, Any]:
        self.reports_asked.append(serving)
        return {
            "serving_version": serving,
            "windows": ["30d", "all"],
            "health_window": "30d",
            "judged_window": "30d",
            "min_resolved": 20,
            "resolved_counted": 0,
            "refreshed_at": None,
            "versions": {},
        }


def price_state(version: str | None, skill: Skill | None) -> SimpleNamespace:
    """What /price/evaluate and /price/skill read of the price service: the artifact serving and the tracker."""
    return SimpleNamespace(meta=None if version is None else SimpleNamespace(version=version), skill=skill)


def test_evaluate_adds_the_serving_versions_skill_for_the_symbol(app_client: TestClient):
    """Kills price.py:evaluate, the `service.meta is not None and service.skill is not None` branch never taken
    (the evaluation left out the live skill of the version serving, null though a model serves)."""
    skill = Skill()
    with serving(app_client, price=price_state("v3", skill)):
        answer = app_client.get("/price/evaluate/SPY", params={"days": 5})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["skill"], answer.json()["days"]) == ({}, 5)
    assert skill.windows_asked == [("v3", "SPY")]


@pytest.mark.parametrize(("days", "code"), [(3650, 200), (3651, 422)])
def test_evaluate_looks_back_at_most_ten_years(app_client: TestClient, days: int, code: int):
    """Kills price.py:evaluate, `le=3650` lowered (le=365: a look back over the ten years documented refused)."""
    with serving(app_client, price=price_state("v3", Skill())):
        answer = app_client.get("/price/evaluate/SPY", params={"days": days})
    assert answer.status_code == code, answer.text
    if code == 422:
        assert "days" in answer.json()["detail"]
    else:
        assert answer.json()["days"] == days


def test_evaluate_without_a_model_serving_answers_without_skill(app_client: TestClient):
    """Kills price.py:evaluate, the guard as `service.skill is not None` alone (no model serving, a tracker
    there: `service.meta.version` raised, a 500 in place of the evaluation of past forecasts). Before, only a
    rate-limit test saw it, by the 500 of a path that reads "health"."""
    skill = Skill()
    with serving(app_client, price=price_state(None, skill)):
        answer = app_client.get("/price/evaluate/SPY")
    assert answer.status_code == 200, answer.text
    assert answer.json()["skill"] is None and skill.windows_asked == []


def test_skill_without_a_tracker_is_a_503_naming_why(app_client: TestClient):
    """Kills price.py:skill without its `service.skill is None` guard (an AttributeError, a 500 that names
    nothing, in place of the 503 saying live skill is not tracked)."""
    with serving(app_client, price=price_state("v3", None)):
        answer = app_client.get("/price/skill")
    assert answer.status_code == 503, answer.text
    assert "live skill is not tracked" in answer.json()["detail"]


@pytest.mark.parametrize("version", ["v3", None])
def test_skill_marks_the_version_serving(app_client: TestClient, version: str | None):
    """Kills price.py:skill, `report(service.meta.version if service.meta else None)` as `report(None)` (no
    version marked as serving, and the judged window not the serving version's)."""
    skill = Skill()
    with serving(app_client, price=price_state(version, skill)):
        answer = app_client.get("/price/skill")
    assert answer.status_code == 200, answer.text
    assert answer.json()["serving_version"] == version and skill.reports_asked == [version]


# --- gateway/routes/root.py -------------------------------------------------------------------------------------


class ScrapedHealth(Health):
    """A health service whose backend can answer sentiment and not price; records each scrape's deadline."""

    def __init__(self) -> None:
        super().__init__()
        self.deadlines: list[float | None] = []

    async def backend_models(self, deadline_s: float | None = None) -> dict[str, bool]:
        self.deadlines.append(deadline_s)
        return {"sentiment": True, "price": False}


def test_a_scrape_sets_each_gauge_from_what_it_reads(app_client: TestClient):
    """Kills, in root.py:metrics: backend_ready not set (no investiq_backend_ready series: no alert on a model
    Triton cannot answer with); journal.update(committed, failed) with its arguments swapped; journal_pending,
    journal_writable or sentiment_cache_hit_rate not set (stale or 0 gauges); the media type not Prometheus' text
    format 0.0.4; backend_models asked without SCRAPE_DEADLINE_S (a hung Triton held the scrape past
    Prometheus' own timeout). The journal writer and the sentiment cache are stand-ins with their own figures."""
    health = ScrapedHealth()
    writer = SimpleNamespace(committed=7, failed=2, pending=3, alive=True, detached=False, damage=None)
    sentiment = SimpleNamespace(cache=SimpleNamespace(hit_rate=0.25))
    with serving(app_client, health=health, writer=writer, sentiment=sentiment):
        answer = app_client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == CONTENT_TYPE_LATEST
    lines = set(answer.text.splitlines())
    assert {
        'investiq_backend_ready{task="sentiment"} 1.0',
        'investiq_backend_ready{task="price"} 0.0',
        "investiq_journal_committed_total 7.0",
        "investiq_journal_failed_total 2.0",
        "investiq_journal_pending 3.0",
        "investiq_journal_writable 1.0",
        "investiq_sentiment_cache_hit_rate 0.25",
    } <= lines, answer.text
    assert health.deadlines == [SCRAPE_DEADLINE_S]


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
def test_the_probes_are_documented_as_needing_no_api_key(settings: Settings, path: str):
    """Kills root.py:live and root.py:ready without `openapi_extra=NO_KEY` (the API document told the kubelet's
    probes to send the API key they never send, while the gateway takes them without one)."""
    keyed = settings.model_copy(update={"sentiment_model": "lexicon", "api_key": SecretStr("route-key")})
    with TestClient(create_app(keyed, FakeBackend())) as client:
        document = client.get("/openapi.json", headers={"X-API-Key": "route-key"}).json()
        probe = client.get(path)
    assert {} in document["paths"][path]["get"]["security"]  # {}: no requirement, one of the alternatives
    assert {} not in document["paths"]["/metrics"]["get"]["security"]  # a route that needs the key
    assert probe.status_code == 200, probe.text
