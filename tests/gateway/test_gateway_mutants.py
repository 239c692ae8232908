"""What the gateway answers, pinned where a mutation audit of its request handling found no test that could fail:
each test kills a mutant that every other test survived (gateway/errors.py, services, routes, rate limit)."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.errors import MAX_LISTED, describe_validation
from gateway.metrics import Metrics
from gateway.services.bayesian import BayesianService
from gateway.services.cache import LRUCache
from gateway.services.scorers import LexiconScorer
from gateway.services.sentiment import SentimentLimits, SentimentService
from investiq.core.errors import InvalidInputError, InvestIQError, JournalUnavailableError
from investiq.core.journal.timestamps import iso
from investiq.core.settings import Settings
from investiq.core.skill import POOLED
from tests.conftest import flush_journal
from tests.fakes import Clock, FakeBackend
from tests.gateway.planting import START, VERSION, Planted, plant
from tests.gateway.test_api_bayesian import add_trades
from tests.gateway.test_mutants_skill import Service, against_the_move, service, skilful
from tests.gateway.test_security import app_for

__all__ = ["service"]  # a fixture, imported for pytest


def test_exactly_twenty_problems_are_all_listed_without_a_more():
    """Kills errors.py:describe_validation, `len(firsts) > MAX_LISTED` as `>=` ('... and 0 more' at exactly 20)."""
    errors = [
        {"loc": ("body", f"field_{i}"), "type": "missing", "msg": "Field required"} for i in range(MAX_LISTED)
    ]
    detail, items = describe_validation(RequestValidationError(errors))
    assert len(items) == MAX_LISTED and "more" not in detail, detail


def test_two_problems_alike_but_for_their_index_are_told_once_with_their_count():
    """Kills errors.py:_item, `count == 1` as `count <= 2` (two alike told one by one, not as '2 items')."""
    errors = [
        {"loc": ("body", "texts", i), "type": "string_type", "msg": "Input should be a valid string", "input": i}
        for i in (3, 7)
    ]
    _, items = describe_validation(RequestValidationError(errors))
    assert items == [
        {"field": "body.texts.*", "message": "2 items: Input should be a valid string (got 3 at body.texts.3)"}
    ]


def test_the_sentiment_cache_forgets_the_least_recently_read_text_first():
    """Kills cache.py:LRUCache.get without move_to_end (evicted in order of arrival, a text read often dropped)."""
    cache: LRUCache[str, int] = LRUCache(2)
    cache.put("read often", 1)
    cache.put("read once", 2)
    assert cache.get("read often") == 1
    cache.put("new", 3)
    assert (cache.get("read often"), cache.get("read once"), cache.get("new")) == (1, None, 3)


def test_the_sentiment_cache_keeps_a_texts_first_answer():
    """Kills cache.py:LRUCache.put overwriting (a second answer for a kept text replaced the first)."""
    cache: LRUCache[str, float] = LRUCache(4)
    cache.put("Rates unchanged", 0.51)
    cache.put("Rates unchanged", 0.52)
    assert cache.get("Rates unchanged") == 0.51 and len(cache) == 1


@pytest.mark.parametrize("limits", [SentimentLimits(), SentimentLimits(max_texts=3, max_chars=10)])
def test_texts_at_the_limits_are_scored(limits: SentimentLimits):
    """Kills sentiment.py:validate refusing max_texts texts (`>` as `>=`) or a text of max_chars (`>` as `>=`)."""
    sentiment = SentimentService(LexiconScorer(), None, Metrics(), limits=limits, cache_size=0)  # type: ignore[arg-type]
    texts = ["x" * limits.max_chars] * limits.max_texts
    assert sentiment.validate(texts) == texts
    with pytest.raises(InvalidInputError, match=f"more than the limit of {limits.max_texts}"):
        sentiment.validate([*texts, "x"])
    with pytest.raises(InvalidInputError, match=f"more than the limit of {limits.max_chars}"):
        sentiment.validate(["x" * (limits.max_chars + 1)])


def test_the_journal_keeps_each_probability_in_its_own_column(client: TestClient, db_path: Path):
    """Kills sentiment.py:journal swapping p_positive and p_negative (the agent's history read backwards)."""
    answer = client.post("/sentiment/predict", json={"texts": ["Apple beats revenue estimates"], "symbol": "AAPL"})
    (p,) = answer.json()["predictions"]
    flush_journal(client)
    query = "SELECT symbol, p_positive, p_negative, p_neutral, score FROM sentiment_predictions"
    (row,) = sqlite3.connect(db_path).execute(query).fetchall()
    probabilities = p["probabilities"]
    assert probabilities["positive"] > probabilities["negative"]
    assert row == pytest.approx(
        ("AAPL", probabilities["positive"], probabilities["negative"], probabilities["neutral"], p["score"])
    )


def test_an_error_of_the_base_class_is_an_unexpected_error_not_its_message(settings: Settings):
    """Kills errors.py:on_investiq answering a bare InvestIQError with its message (no request id, no log)."""
    app = create_app(settings.model_copy(update={"sentiment_model": "lexicon"}), FakeBackend())

    @app.get("/boom")
    async def boom() -> None:
        raise InvestIQError("a bug at /srv/internal/path")

    with TestClient(app, raise_server_exceptions=False) as client:
        crash = client.get("/boom", headers={"X-Request-ID": "crash-2"})
    assert (crash.status_code, crash.json()["error"]) == (500, "internal_error")
    assert "request id crash-2" in crash.json()["detail"] and "a bug" not in crash.text


def test_a_loss_beyond_the_bound_is_refused_as_a_gain_is(client: TestClient):
    """Kills bayesian.py:update bounding profit_loss above only (`abs(pnl) >` as `pnl >`: -1e200 learnt)."""
    refused = client.post("/bayesian/update", json={"strategy_name": "s", "profit_loss": -1e200})
    assert refused.status_code == 422 and "profit_loss -1e+200 is beyond ±1e+15" in refused.json()["detail"]
    assert client.get("/bayesian/all-stats").json()["strategies"] == []


def test_a_retry_whose_close_time_moved_by_seconds_is_a_conflict(client: TestClient, clock: Clock):
    """Kills bayesian.py:changed_outcome widening SAME_CLOSE_S (a retry 5 s off acknowledged as the same trade)."""
    first = {"strategy_name": "t", "won": True, "trade_id": "T-5", "closed_at": iso(clock.now - 60)}
    assert client.post("/bayesian/update", json=first).json()["counted"] is True
    moved = client.post("/bayesian/update", json={**first, "closed_at": iso(clock.now - 55)})
    assert moved.status_code == 409 and "this update says" in moved.json()["detail"], moved.text


def test_a_path_parameter_that_reads_health_pays_the_rate_limit(settings: Settings):
    """Kills security.py:_HEALTH letting its prefix span slashes (/price/evaluate/health skipped the limit)."""
    app = app_for(settings, key=None, rate_limit_per_minute=1.0, rate_limit_burst=1)
    with TestClient(app) as client:
        answers = [client.get("/price/evaluate/health").status_code for _ in range(2)]
        assert answers[1] == 429, answers
        assert 429 not in [client.get("/price/health").status_code for _ in range(3)]  # a health check: never


def test_use_cache_false_leaves_nothing_in_the_cache():
    """Kills sentiment.py:score writing the cache under `use_cache: false` (the next answer marked cached)."""
    sentiment = SentimentService(LexiconScorer(), None, Metrics(), limits=SentimentLimits(), cache_size=8)  # type: ignore[arg-type]
    fresh = asyncio.run(sentiment.score(["Rates unchanged"], use_cache=False))
    assert len(sentiment.cache) == 0 and fresh.predictions[0].cached is False
    assert asyncio.run(sentiment.score(["Rates unchanged"])).predictions[0].cached is False


def test_a_row_closed_within_the_allowed_clock_skew_is_learnt_by_the_sync(
    client: TestClient, db_path: Path, clock: Clock
):
    """Kills bayesian.py:sync scanning up to `now`, not now + CLOCK_SKEW_S (a row an update takes, skipped)."""
    add_trades(db_path, [("a", 1.0, iso(clock.now + 60))])
    report = client.post("/bayesian/sync-from-database", params={"days": 1}).json()
    assert (report["trades_imported"], report["skipped"]) == (1, {}), report


def test_a_failed_journal_write_degrades_the_journals_health(client: TestClient):
    """Kills health.py:journal leaving the status healthy when the latest write failed (a reason, no degraded)."""
    client.app.state.writer.log(lambda conn: conn.execute("INSERT INTO no_such_table VALUES (1)"))  # type: ignore[attr-defined]
    flush_journal(client)
    journal = client.get("/health").json()["components"]["journal"]
    assert journal["status"] == "degraded" and "no_such_table" in journal["reason"], journal


def test_evaluate_reads_the_days_asked_for(client: TestClient, db_path: Path):
    """Kills routes/price.py:evaluate passing 30 days whatever `days` the query gave."""
    plant(db_path, [Planted(100.0, 101.0, 102.0)], first=datetime.now(timezone.utc) - timedelta(days=10))
    week, month = (client.get("/price/evaluate/SPX", params={"days": d}).json() for d in (7, 30))
    assert (week["days"], week["count"], month["days"], month["count"]) == (7, 0, 30, 1)


def test_the_stacks_health_is_a_503_once_the_journal_writer_has_stopped(client: TestClient):
    """Kills routes/root.py:health answering an unhealthy stack with 200 (a load balancer kept sending to it)."""
    assert client.get("/health").status_code == 200
    client.app.state.writer.close()  # type: ignore[attr-defined]  # the writer stops: nothing can be journaled
    response = client.get("/health")
    assert (response.status_code, response.json()["status"]) == (503, "unhealthy"), response.text


def test_a_window_holding_exactly_min_resolved_forecasts_is_judged(service: Service, tmp_path: Path):
    """Kills skill.py:judged_window needing more than min_resolved forecasts (`>=` as `>`: 7d judged)."""
    plant(tmp_path / "p.db", skilful(30))
    skill, _, _ = service(windows=(7, 3650), min_resolved=30, now=START + timedelta(days=32))
    skill.refresh()
    assert skill.get(VERSION, POOLED, "3650d").n == 30  # type: ignore[union-attr]  # the case: exactly enough
    assert skill.judged_window(VERSION) == "3650d"
    assert skill.verdict(VERSION)[0] is None  # judged, and healthy


def test_the_stack_is_unhealthy_when_the_bayesian_service_cannot_read_the_journal(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
):
    """Kills health.py:stack letting only the journal make the stack unhealthy (Bayesian's 'unhealthy' as 200)."""

    async def unreadable(*_: object) -> None:
        raise JournalUnavailableError("the journal could not be read: database is locked")

    monkeypatch.setattr(BayesianService, "all_stats", unreadable)
    response = client.get("/health")
    assert response.json()["components"]["journal"]["status"] == "healthy"
    assert (response.status_code, response.json()["status"]) == (503, "unhealthy"), response.text


def test_a_mae_ratio_whose_interval_straddles_one_keeps_health_healthy(service: Service, tmp_path: Path):
    """Kills skill.py:verdict judging 'significantly worse than the random walk' on the interval's upper end."""
    plant(tmp_path / "p.db", against_the_move(120, seed=2, mean=0.0))
    skill, _, _ = service()
    skill.refresh()
    ratio = skill.get(VERSION).mae_ratio  # type: ignore[union-attr]
    assert ratio.ci95 is not None and ratio.ci95[0] < 1 < ratio.ci95[1]  # the case: not significantly worse
    assert skill.verdict(VERSION)[0] is None


def test_with_no_price_model_the_metrics_say_price_cannot_answer(client: TestClient):
    """Kills health.py:backend_models leaving price out when no PatchTST is exported (no series, no alert)."""
    metrics = client.get("/metrics").text
    assert 'investiq_backend_ready{task="price"} 0.0' in metrics.splitlines()
