"""Live skill's judgement, against the service itself (no model, no HTTP): the window health judges on, the bars a
P(up), intervals and one symbol must clear before health turns degraded, the pooled record a new symbol's forecast
carries, and figures that slide out of a window or recover leaving the gauges. Each test plants resolved forecasts
in a real journal and reads them with a clock the test sets."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from gateway.metrics import Metrics
from gateway.services.skill import COVERAGE_SHORT, RECOMPUTE_S, SkillConfig, SkillService
from investiq.core.journal import open_journal
from investiq.core.skill import MIN_BUCKETS, POOLED
from tests.fakes import Clock
from tests.gateway.planting import START, VERSION, Planted, plant


def moves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
    """Last closes about 100 and the closes a day later (1 % moves), and the generator for what follows."""
    rng = np.random.default_rng(seed)
    last = 100 + rng.normal(0, 5, n)
    return last, last * (1 + rng.normal(0, 0.01, n)), rng


def skilful(n: int, seed: int = 0) -> list[Planted]:
    """Half of every move, with its sign, and P(up) 0.7 on the side that came: healthy by every figure."""
    last, actual, _ = moves(n, seed)
    return [Planted(a, a + 0.5 * (c - a), c, 0.7 if c > a else 0.3) for a, c in zip(last, actual, strict=True)]


Service = Callable[..., tuple[SkillService, Metrics, Clock]]


@pytest.fixture
def service(tmp_path: Path) -> Service:
    """make(windows, min_resolved, now): a SkillService over the test's journal (p.db), its metrics, and its
    clock (at `now`; by default 400 days after START)."""

    def make(
        windows: tuple[int, ...] = (3650,), min_resolved: int = 30, now: datetime | None = None
    ) -> tuple[SkillService, Metrics, Clock]:
        clock = Clock((now or START + timedelta(days=400)).timestamp())
        metrics = Metrics()
        skill = SkillService(tmp_path / "p.db", metrics, SkillConfig(windows, min_resolved, 30.0), clock=clock)
        return skill, metrics, clock

    open_journal(tmp_path / "p.db").close()
    return make


def gauge(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


# -- the window health judges on ---------------------------------------------------------------------------------


def test_a_window_with_enough_forecasts_in_too_few_horizons_leaves_the_judgement_to_a_longer_one(
    service: Service, tmp_path: Path
):
    """Forecasts 12 days ahead, one a day for 200 days: the last 30 days hold more than min_resolved forecasts but
    in 3-4 periods of one horizon, too few for an interval; health judges the 3650-day window, where there are
    17, not the 30-day one, where it could only say "not enough evidence"."""
    plant(tmp_path / "p.db", skilful(200), horizon=12)
    skill, _, _ = service(windows=(30, 3650), min_resolved=20, now=START + timedelta(days=205))
    skill.refresh()
    short, long = skill.get(VERSION, POOLED, "30d"), skill.get(VERSION, POOLED, "3650d")
    assert short is not None and long is not None
    assert short.n >= 20 and short.buckets < MIN_BUCKETS  # the case: enough forecasts, too few horizons
    assert long.n == 200 and long.buckets >= MIN_BUCKETS
    assert skill.judged_window(VERSION) == "3650d"
    why, figures = skill.verdict(VERSION)
    assert figures["window"] == "3650d" and figures["n"] == 200
    assert why is None, why  # judged, and healthy; the short window could only say "not enough evidence"
    assert skill.block(VERSION, "SPX")["window"] == "3650d"


# -- what degrades health, and what does not ---------------------------------------------------------------------


def noisy_p_up(n: int = 150, seed: int = 3) -> list[Planted]:
    """A good median, and a P(up) of 0.7 or 0.3 on the side that came 60 % of the time: its Brier score is about
    a coin's, its skill about 0, with an interval either side."""
    last, actual, rng = moves(n, seed)
    right = rng.random(n) < 0.6
    return [
        Planted(a, a + 0.5 * (c - a), c, 0.7 if (c > a) == r else 0.3)
        for a, c, r in zip(last, actual, right, strict=True)
    ]


def test_a_p_up_whose_brier_skill_interval_straddles_zero_keeps_health_healthy(service: Service, tmp_path: Path):
    """Not significantly worse than its base: the interval must lie wholly below 0 for health to say so."""
    plant(tmp_path / "p.db", noisy_p_up())
    skill, _, _ = service()
    skill.refresh()
    record = skill.get(VERSION)
    assert record is not None and record.brier_skill.ci95 is not None
    low, high = record.brier_skill.ci95
    assert low < 0 < high, (low, high)  # the case
    assert skill.verdict(VERSION)[0] is None


def covering(n: int, share: float, seed: int = 4) -> list[Planted]:
    """A good median and P(up) whose 80 % intervals (+-5 %) hold exactly `share` of the outcomes (the others move
    7 %, within the 90 % ones, +-10 %)."""
    rng = np.random.default_rng(seed)
    last = 100 + rng.normal(0, 5, n)
    outside = np.zeros(n, dtype=bool)
    outside[rng.permutation(n)[: round(n * (1 - share))]] = True
    sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    move = np.where(outside, 0.07, rng.uniform(0.001, 0.03, n)) * sign
    actual = last * (1 + move)
    return [Planted(a, a + 0.5 * (c - a), c, 0.7 if c > a else 0.3) for a, c in zip(last, actual, strict=True)]


def test_intervals_a_little_short_of_their_level_keep_health_healthy(service: Service, tmp_path: Path):
    """77 % covered for 80 % over 1,600 forecasts: significantly short of 80 %, not of 80 % less COVERAGE_SHORT
    (conformal offsets cover a point or two short on later windows); health says nothing."""
    plant(tmp_path / "p.db", covering(1600, 0.77))
    skill, _, _ = service(now=START + timedelta(days=1700))
    skill.refresh()
    record = skill.get(VERSION)
    assert record is not None and record.coverage80.ci95 is not None
    low, high = record.coverage80.ci95
    assert record.coverage80.value == pytest.approx(0.77)
    assert 0.8 - COVERAGE_SHORT < high < 0.8, (low, high)  # the case: short of 80 %, not of 75 %
    assert skill.verdict(VERSION)[0] is None


def against_the_move(n: int, seed: int, mean: float) -> list[Planted]:
    """A median that goes a random share of the move (mean `mean`, spread 0.3): worse than the random walk where
    the share is negative, by a margin the 95 % interval only just resolves."""
    last, actual, rng = moves(n, seed)
    share = rng.normal(mean, 0.3, n)
    return [Planted(a, a + s * (c - a), c) for a, c, s in zip(last, actual, share, strict=True)]


def test_a_symbol_worse_only_at_95_percent_among_five_judged_keeps_health_healthy(
    service: Service, tmp_path: Path
):
    """QQQ's MAE ratio interval lies above 1 at 95 %, but not with the five symbols judged together (each at
    1 - 0.05 / 5): one in 20 symbols no worse than the random walk is that much worse by chance. It is named
    among the symbols worse than the random walk, not among those worse with every symbol accounted for, and
    health stays healthy."""
    db = tmp_path / "p.db"
    plant(db, against_the_move(120, seed=2, mean=-0.095), symbol="QQQ")
    for i, symbol in enumerate(("SPX", "DIA", "IWM", "EFA")):
        plant(db, skilful(120, seed=10 + i), symbol=symbol)
    skill, metrics, _ = service()
    skill.refresh()
    why, figures = skill.verdict(VERSION)
    ratio, low, high = figures["symbols_worse_than_random_walk"]["QQQ"]
    assert 1 < low < ratio < high  # worse at 95 %
    qqq = skill._book.mae_ratio(VERSION, "QQQ", None, tail=0.025 / 5)
    assert qqq.ci95 is not None and qqq.ci95[0] < 1 < qqq.ci95[1]  # not with the five judged together
    assert figures["symbols_worse_all_judged"] == {}
    assert why is None, why
    assert gauge(metrics, "investiq_price_symbol_worse", model_version=VERSION, symbol="QQQ") is None


# -- a new symbol's forecast carries the pooled record ------------------------------------------------------------


def test_a_symbol_with_fewer_than_min_resolved_outcomes_carries_the_pooled_record(
    service: Service, tmp_path: Path
):
    db = tmp_path / "p.db"
    plant(db, skilful(60))
    plant(db, skilful(3, seed=7), symbol="NEW", first=START + timedelta(days=57))
    skill, _, _ = service(min_resolved=30)
    skill.refresh()
    new = skill.get(VERSION, "NEW", "3650d")
    assert new is not None and new.n == 3  # its own record exists, on 3 outcomes
    block = skill.block(VERSION, "NEW")
    assert block["scope"] == "pooled" and block["n"] == 63 and block["window"] == "3650d"
    assert block["record"]["n"] == 63
    own = skill.block(VERSION, "SPX")
    assert own["scope"] == "symbol" and own["n"] == 60


# -- windows slide, and figures that no longer hold leave the gauges ---------------------------------------------


def test_outcomes_slide_out_of_a_window_without_new_resolutions(service: Service, tmp_path: Path):
    """Nothing resolved since: a refresh past RECOMPUTE_S and past the window still recomputes, and the 30-day
    window, which held 40 forecasts, holds none; its figures leave the investiq_price_skill gauge rather than
    stand at their last values."""
    plant(tmp_path / "p.db", skilful(40))
    skill, metrics, clock = service(windows=(30,), now=START + timedelta(days=40))
    assert skill.refresh() == 40
    before = skill.get(VERSION, POOLED, "30d")
    assert before is not None and before.n == 30
    labels = {"model_version": VERSION, "window": "30d"}
    assert gauge(metrics, "investiq_price_skill", figure="mae_ratio", **labels) == pytest.approx(0.5)
    assert gauge(metrics, "investiq_price_skill_resolved", **labels) == 30
    later = 31 * 86_400.0
    assert later > RECOMPUTE_S  # past the window, and far past RECOMPUTE_S
    clock.now += later
    assert skill.refresh() == 0  # nothing new read
    after = skill.get(VERSION, POOLED, "30d")
    assert after is not None and after.n == 0
    assert gauge(metrics, "investiq_price_skill_resolved", **labels) == 0
    for figure in ("mae_ratio", "mae_ratio_ci95_low", "hit_rate", "coverage80"):
        assert gauge(metrics, "investiq_price_skill", figure=figure, **labels) is None, figure
    everything = skill.get(VERSION, POOLED, "all")
    assert everything is not None and everything.n == 40  # "all" keeps them


def test_a_symbol_that_recovers_leaves_the_symbol_worse_gauge(service: Service, tmp_path: Path):
    """QQQ significantly worse than the random walk with both symbols judged: exported, and health degraded. Its
    later forecasts, far better, bring its record back: the series is removed, not left at its last value."""
    db = tmp_path / "p.db"
    last, actual, _ = moves(60, seed=0)
    bad = [Planted(a, a - 0.2 * (c - a), c) for a, c in zip(last, actual, strict=True)]
    plant(db, bad, symbol="QQQ", resolved_at=START + timedelta(days=100))
    plant(db, skilful(60), symbol="SPX", resolved_at=START + timedelta(days=100))
    skill, metrics, clock = service()
    skill.refresh()
    why, figures = skill.verdict(VERSION)
    assert why is not None and "live forecasts of QQQ" in why
    exported = gauge(metrics, "investiq_price_symbol_worse", model_version=VERSION, symbol="QQQ")
    assert exported == pytest.approx(figures["symbols_worse_all_judged"]["QQQ"][0])
    # 200 more days of QQQ's forecasts at half the random walk's error, resolved later
    plant(db, skilful(200, seed=9), symbol="QQQ", first=START + timedelta(days=60))
    clock.now += 60.0  # not a recompute of everything: only what changed
    skill.refresh()
    why, figures = skill.verdict(VERSION)
    assert "QQQ" not in figures["symbols_worse_all_judged"] and why is None, why
    assert gauge(metrics, "investiq_price_symbol_worse", model_version=VERSION, symbol="QQQ") is None


def test_a_row_that_cannot_be_read_is_left_out_and_the_others_are_counted(service: Service, tmp_path: Path):
    """A resolved row whose time is not one, or whose quantiles or P(up) are not numbers (not the gateway's
    writing): counted as one that cannot be scored, the others as ever. It raised, and the refresh had already
    moved past the rows it read: live skill counted none of them until a restart (a review)."""
    db = tmp_path / "p.db"
    plant(db, skilful(40))
    with sqlite3.connect(db) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM price_predictions ORDER BY id")]
        conn.execute("UPDATE price_predictions SET last_bar_time = 'garbage' WHERE id = ?", (ids[3],))
        conn.execute("UPDATE price_predictions SET quantiles = '{\"0.05\": null}' WHERE id = ?", (ids[5],))
        conn.execute("UPDATE price_predictions SET probability_up = 'high' WHERE id = ?", (ids[7],))
        conn.execute("UPDATE price_predictions SET last_bar_time = 'garbage too' WHERE id = ?", (ids[9],))
    skill, _, _ = service()
    assert skill.refresh() == 40
    record = skill.get(VERSION)
    assert record is not None and record.n == 38
    assert skill._book.unscorable == 2  # each row that cannot be read counts (one key for both counted one)
    assert skill.refresh() == 0  # read once


def test_a_refresh_that_fails_reads_the_same_rows_again(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Rows read are counted by the next refresh when counting them failed: the mark moves once they are in."""
    plant(tmp_path / "p.db", skilful(40))
    skill, _, _ = service()
    counted = skill._book.add
    monkeypatch.setattr(skill._book, "add", lambda outcomes: (_ for _ in ()).throw(OSError("a failure")))
    with pytest.raises(OSError):
        skill.refresh()
    monkeypatch.setattr(skill._book, "add", counted)
    assert skill.refresh() == 40
    record = skill.get(VERSION)
    assert record is not None and record.n == 40
