"""Live skill from resolved forecasts: figures equal a direct computation, overlapping forecasts are
not counted as independent evidence, and the tally is incremental."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from investiq.core.forecast_stats import bootstrap_interval
from investiq.core.skill import BLOCK, MAX_SPAN, POOLED, REPS, SkillBook, block_length
from investiq.core.skill_outcomes import Outcome

DAY = 86_400.0
Q = {"0.05": 98.0, "0.1": 99.0, "0.9": 102.0, "0.95": 103.0}  # quantiles at the horizon around a last close of 100


def outcomes(n: int, seed: int = 0, symbol: str = "AAA", version: str = "v1", start: float = 0.0) -> list[Outcome]:
    """n daily forecasts one day ahead with known answers."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        last = 100.0 + rng.normal()
        actual = last * (1 + rng.normal(0, 0.01))
        predicted = last * (1 + rng.normal(0, 0.01))
        rows.append(
            Outcome(
                origin_ts=start + i * DAY,
                symbol=symbol,
                model_version=version,
                horizon_seconds=DAY,
                last_price=last,
                predicted_price=predicted,
                actual_price=actual,
                correct=(predicted > last) == (actual > last),
                probability_up=float(rng.uniform(0.3, 0.7)),
                base_probability_up=0.55,
                quantiles={"0.05": last * 0.985, "0.1": last * 0.99, "0.9": last * 1.01, "0.95": last * 1.015},
            )
        )
    return rows


def test_figures_equal_a_direct_computation():
    rows = outcomes(120)
    book = SkillBook()
    book.add(rows)
    skill = book.skill("v1", "AAA")
    up = np.array([o.actual_price > o.last_price for o in rows], dtype=float)
    p = np.array([o.probability_up for o in rows])
    last = np.array([o.last_price for o in rows])
    actual = np.array([o.actual_price for o in rows])
    predicted = np.array([o.predicted_price for o in rows])
    assert skill.n == skill.buckets == 120
    assert skill.hit_rate.value == pytest.approx(np.mean([o.correct for o in rows]))
    assert skill.always_up_rate.value == pytest.approx(up.mean())
    assert skill.brier.value == pytest.approx(np.mean((p - up) ** 2))
    assert skill.brier_skill.value == pytest.approx(1 - np.sum((p - up) ** 2) / np.sum((0.55 - up) ** 2))
    inside80 = (actual >= last * 0.99) & (actual <= last * 1.01)
    assert skill.coverage80.value == pytest.approx(inside80.mean())
    ratio = np.sum(np.abs(predicted - actual) / last) / np.sum(np.abs(last - actual) / last)
    assert skill.mae_ratio.value == pytest.approx(ratio)
    for figure in (skill.hit_rate, skill.brier_skill, skill.coverage80, skill.mae_ratio):
        assert figure.ci95 is not None and figure.value is not None
        assert figure.ci95[0] <= figure.value <= figure.ci95[1]
    assert book.skill("v1") == skill  # one symbol: pooled is the same


def test_the_random_walk_scores_exactly_one_with_no_uncertainty():
    rows = [Outcome(i * DAY, "AAA", "rw", DAY, 100.0, 100.0, 100.0 + (-1) ** i, (-1) ** i > 0) for i in range(40)]
    book = SkillBook()
    book.add(rows)
    ratio = book.skill("rw").mae_ratio
    assert ratio.value == 1.0 and ratio.ci95 == (1.0, 1.0)
    assert book.skill("rw").brier.value is None  # no P(up) recorded: no figure, not a made-up one


def test_the_random_walks_median_in_float32_scores_one_on_ties_too():
    """The graph's median of the random walk is the close sent rounded to float32 (9.9999998 for 10.0, 6e-8 away,
    relatively); on a tick-bound price that often does not move, that rounding scored an error the random walk had
    not made, and the ratio read "significantly worse than the random walk" (a review: 193 of 200 windows)."""
    rows = []
    for i in range(60):
        last = 10.0 + 0.01 * (i % 7)
        actual = last if i % 3 == 0 else last + 0.01 * (-1) ** i  # a tie every third bar
        rows.append(Outcome(i * DAY, "AAA", "rw", DAY, last, float(np.float32(last)), actual, None))
    assert any(o.predicted_price != o.last_price for o in rows)
    book = SkillBook()
    book.add(rows)
    ratio = book.skill("rw").mae_ratio
    assert ratio.value == 1.0 and ratio.ci95 == (1.0, 1.0)


def test_a_forecast_that_calls_no_direction_is_left_out_of_the_hit_rate():
    """The random walk's forecasts are 'flat' (correct None): it makes no call, so no hit rate; a model's calls
    are judged against always-up on the same calls, not on forecasts it made no call on."""
    flat = [Outcome(i * DAY, "AAA", "rw", DAY, 100.0, 100.0, 100.0 + (-1) ** i, None) for i in range(40)]
    calls = outcomes(60, version="rw", start=40 * DAY)
    book = SkillBook()
    book.add(flat + calls)
    skill = book.skill("rw")
    assert skill.n == 100 and skill.hit_rate.n == skill.always_up_rate.n == 60
    assert skill.hit_rate.value == pytest.approx(np.mean([o.correct for o in calls]))
    assert skill.always_up_rate.value == pytest.approx(np.mean([o.actual_price > o.last_price for o in calls]))
    only_flat = SkillBook()
    only_flat.add(flat)
    assert only_flat.skill("rw").hit_rate.value is None and only_flat.skill("rw").mae_ratio.value == 1.0


def test_overlapping_forecasts_count_once_in_the_effective_sample():
    """24 hourly forecasts of the next day's close share one outcome period: one bucket, not 24."""
    rows = [Outcome(h * 3600.0, "AAA", "v1", DAY, 100.0, 101.0, 102.0, True) for h in range(24)]
    book = SkillBook()
    book.add(rows)
    skill = book.skill("v1", "AAA")
    assert (skill.n, skill.buckets) == (24, 1)
    assert skill.hit_rate.value == 1.0 and skill.hit_rate.ci95 is None  # one period: no interval to give


def test_pooled_figures_join_symbols_and_windows_select_recent_forecasts():
    book = SkillBook()
    book.add(outcomes(60, seed=1, symbol="AAA"))
    book.add(outcomes(60, seed=2, symbol="BBB"))
    assert book.skill("v1", "AAA").n == book.skill("v1", "BBB").n == 60
    pooled = book.skill("v1", POOLED)
    assert (pooled.n, pooled.buckets) == (120, 60)  # the same days are one observation
    recent = book.skill("v1", POOLED, since_ts=50 * DAY)
    assert recent.n == 20 and recent.first == 50 * DAY


def test_a_window_holds_the_forecasts_from_its_start_not_whole_horizons_before_it():
    """Daily forecasts 12 bars ahead fall in 12-day buckets; a window from day 53 counted the whole bucket of
    days 48-59 (the bucket's last forecast was in it): five days of forecasts from before its start (a review:
    a "30d" window held 33 days, 40 forecasts where 34 were due). A window holds its own forecasts alone, in the
    buckets they fall in; recent_since's start counts its buckets whole."""
    rows = [Outcome(**{**vars(o), "horizon_seconds": 12 * DAY}) for o in outcomes(120)]
    book = SkillBook()
    book.add(rows)
    window = book.skill("v1", "AAA", since_ts=53 * DAY)
    assert window.n == 67 and window.first == 53 * DAY and window.buckets == 6
    up = np.array([o.actual_price > o.last_price for o in rows[53:]], dtype=float)
    assert window.always_up_rate.value == pytest.approx(up.mean())
    until = book.skill("v1", "AAA", until_ts=53 * DAY)
    assert until.n == 53 and until.last == 52 * DAY
    start = book.recent_since("v1", periods=3, forecasts=30)
    assert start == 84 * DAY and book.skill("v1", since_ts=start).n == 36  # buckets 84-95, 96-107, 108-119


def test_the_tally_is_incremental():
    rows = outcomes(90, seed=3)
    once, twice = SkillBook(), SkillBook()
    once.add(rows)
    assert twice.add(rows[:40]) == {"v1"}
    twice.add(rows[40:])
    assert once.skill("v1") == twice.skill("v1")


def test_versions_are_kept_apart():
    book = SkillBook()
    book.add(outcomes(30, seed=4, version="old"))
    book.add(outcomes(10, seed=5, version="new", start=30 * DAY))
    assert book.skill("old").n == 30 and book.skill("new").n == 10
    assert book.skill("missing").n == 0 and book.skill("missing").mae_ratio.value is None


def test_a_figure_on_too_few_horizon_periods_has_no_interval():
    """Two periods of one horizon: every block-bootstrap resample was the same, and the interval had no width."""
    rows = [
        Outcome(**{**vars(o), "origin_ts": i * 0.4 * DAY, "horizon_seconds": 12 * DAY})
        for i, o in enumerate(outcomes(60))
    ]
    book = SkillBook()
    book.add(rows)
    skill = book.skill("v1", "AAA")
    assert skill.buckets == 2 and skill.n == 60
    assert skill.mae_ratio.value is not None and skill.mae_ratio.ci95 is None
    assert skill.hit_rate.value is not None and skill.hit_rate.ci95 is None


def test_a_forecast_asked_again_for_the_same_bar_counts_once():
    rows = outcomes(40)
    book = SkillBook()
    book.add(rows + rows[:10])
    book.add(rows[:5])
    once = SkillBook()
    once.add(rows)
    assert book.skill("v1", "AAA") == once.skill("v1", "AAA")


def test_a_forecast_resolved_before_schema_8_and_asked_again_after_counts_once():
    """A row resolved before the journal recorded outcome_bar_time has no outcome_ts; the same forecast asked again
    after the upgrade and resolved with it had another key, and both counted (an audit of upgrades)."""
    old = outcomes(20)
    again = [dataclasses.replace(o, outcome_ts=o.origin_ts + 1.5 * DAY) for o in old]
    book = SkillBook()
    book.add(old + again)
    once = SkillBook()
    once.add(old)
    assert book.forecasts == 20 and book.skill("v1", "AAA") == once.skill("v1", "AAA")


def test_a_figure_counts_only_the_periods_with_its_own_evidence():
    """25 periods of forecasts, P(up) journaled in the last 2 only (older rows have none): the Brier skill
    rested on 2 periods and had an interval of no width (a reviewer's case)."""
    rows = outcomes(25)
    rows = [o if i >= 23 else Outcome(**{**vars(o), "probability_up": None}) for i, o in enumerate(rows)]
    book = SkillBook()
    book.add(rows)
    skill = book.skill("v1", "AAA")
    assert skill.buckets == 25 and skill.mae_ratio.ci95 is not None
    assert skill.brier_skill.n == 2 and skill.brier_skill.value is not None and skill.brier_skill.ci95 is None


def test_coverage_of_the_intervals_fitted_to_the_gaps_ahead_is_told_apart():
    """Forecasts whose intervals were fitted to the gaps ahead (`intervals`: gaps_ahead) get their own coverage
    beside every forecast's; those pooled, or from journal rows before the column, are left out of it."""
    rows = outcomes(60)
    kinds = ["gaps_ahead" if i % 3 == 0 else ("pooled" if i % 3 == 1 else None) for i in range(60)]
    tagged = [Outcome(**{**vars(o), "intervals": kind}) for o, kind in zip(rows, kinds, strict=True)]
    book = SkillBook()
    book.add(tagged)
    skill = book.skill("v1")
    fitted = [o for o, kind in zip(rows, kinds, strict=True) if kind == "gaps_ahead"]
    inside = [o.quantiles["0.1"] <= o.actual_price <= o.quantiles["0.9"] for o in fitted if o.quantiles]
    assert skill.coverage80_gaps_ahead.n == len(fitted) == 20 and skill.coverage80.n == 60
    assert skill.coverage80_gaps_ahead.value == pytest.approx(np.mean(inside))
    book = SkillBook()
    book.add(rows)
    assert book.skill("v1").coverage80_gaps_ahead.value is None


def test_a_share_whose_periods_all_agree_is_not_certain():
    """15 periods in which every close rose: the bootstrap has nothing to resample and said 1.0 [1.0, 1.0] for the
    hit rate, always-up and coverage (a review). A share's interval is at least Wilson's over its periods."""
    rows = [Outcome(i * DAY, "AAA", "v", DAY, 100.0, 101.0, 101.5, True, quantiles=Q) for i in range(15)]
    book = SkillBook()
    book.add(rows)
    skill = book.skill("v")
    for figure in (skill.hit_rate, skill.always_up_rate, skill.coverage80):
        assert figure.value == 1.0 and figure.ci95 is not None
        assert figure.ci95[0] == pytest.approx(0.796, abs=1e-3) and figure.ci95[1] == 1.0  # Wilson, 15 of 15
    assert skill.edge_over_always_up.value == 0.0 and skill.edge_over_always_up.ci95 == (0.0, 0.0)


def test_the_edge_over_always_up_is_paired_on_the_same_periods():
    """Calls right 60 % of the time where always-up is right 50 %: the difference's interval comes from the same
    resampled periods, so it is narrower than the two separate intervals suggest, and it is their difference."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(200):
        rose = bool(rng.random() < 0.5)
        right = bool(rng.random() < 0.6)
        called_up = rose == right
        actual = 101.0 if rose else 99.0
        rows.append(Outcome(i * DAY, "AAA", "v", DAY, 100.0, 100.5 if called_up else 99.5, actual, right))
    book = SkillBook()
    book.add(rows)
    skill = book.skill("v")
    edge, hit, up = skill.edge_over_always_up, skill.hit_rate.value, skill.always_up_rate.value
    assert edge.value is not None and hit is not None and up is not None
    assert edge.value == pytest.approx(hit - up)
    assert edge.ci95 is not None and edge.ci95[0] <= edge.value <= edge.ci95[1]
    assert edge.n == skill.hit_rate.n == 200


def test_the_difference_from_always_up_is_not_certain_on_down_calls_that_all_missed():
    """15 periods that all rose, every call 'down': -1 [-1, -1] from the bootstrap; at least Wilson's interval of
    the down calls' hit rate (0 of 15: [0, 0.204]) now, so [-1, -0.59]."""
    rows = [Outcome(i * DAY, "AAA", "v", DAY, 100.0, 99.0, 101.0, False) for i in range(15)]
    book = SkillBook()
    book.add(rows)
    edge = book.skill("v").edge_over_always_up
    assert edge.value == -1.0 and edge.ci95 is not None and edge.periods == 15
    assert edge.ci95[0] == -1.0 and edge.ci95[1] == pytest.approx(-1 + 2 * 0.2039, abs=1e-3)


def test_the_floor_does_not_widen_an_interval_over_many_independent_calls_a_period():
    """Five symbols a period, each call independent: the bootstrap's interval is about the binomial one on every
    call; a floor of Wilson's over the periods (as first written) made it as wide as 40 trials' (a review)."""
    rng = np.random.default_rng(5)
    rows = []
    for i in range(40):
        for symbol in ("A", "B", "C", "D", "E"):
            right = bool(rng.random() < 0.54)
            rose = bool(rng.random() < 0.5)
            called_up = rose == right
            rows.append(
                Outcome(
                    i * DAY, symbol, "v", DAY, 100.0, 101.0 if called_up else 99.0, 101.0 if rose else 99.0, right
                )
            )
    book = SkillBook()
    book.add(rows)
    hit = book.skill("v").hit_rate
    assert hit.n == 200 and hit.periods == 40 and hit.ci95 is not None
    assert hit.ci95[1] - hit.ci95[0] < 0.2  # 200 calls: about 0.14; 40 trials' Wilson interval is about 0.3


def test_a_p_up_that_is_its_base_shows_against_a_coin_when_the_base_is_off():
    """P(up) 0.555, the base, served where 17 % rose: its Brier skill against the base is 0 by construction;
    against a coin (0.25) it is well below 0 (an operator's walkthrough)."""
    rows = [
        Outcome(i * DAY, "AAA", "v", DAY, 100.0, 100.0, 101.0 if i % 6 == 0 else 99.0, None, 0.555, 0.555)
        for i in range(60)
    ]
    book = SkillBook()
    book.add(rows)
    skill = book.skill("v")
    up = np.array([i % 6 == 0 for i in range(60)], dtype=float)
    assert skill.brier_skill.value == 0.0
    coin = skill.brier_skill_vs_coin
    assert coin.value == pytest.approx(1 - np.mean((0.555 - up) ** 2) / 0.25)
    assert coin.ci95 is not None and coin.ci95[1] < 0


def test_a_horizons_real_span_is_said_beside_the_buckets():
    """12 daily bars of a stock take ~17 days with the weekends, 1.4 buckets of 12 days: `span` says so, and the
    buckets stay a fixed grid of 12 x the interval. Pooled over symbols the span is the mean over all forecasts:
    one halted symbol's forecast (five months to its H-th bar, capped at MAX_SPAN) moves it little, where a grid of
    the longest symbol's span had cut the pooled record from 33 buckets to 6 (a review)."""
    horizon = 12 * DAY

    def rows(symbol: str, span: float | None, n: int = 120) -> list[Outcome]:
        return [
            Outcome(i * DAY, symbol, "v1", horizon, 100.0, 101.0, 100.0 + i % 3, i % 3 == 1, span_seconds=span)
            for i in range(n)
        ]

    book = SkillBook()
    book.add(rows("STOCK", 17 * DAY))
    stock = book.skill("v1", "STOCK")
    assert stock.span == pytest.approx(17 / 12, abs=1e-4) and stock.buckets == 10
    book.add(rows("HALT", 150 * DAY, n=1))
    pooled = book.skill("v1")
    assert pooled.span == pytest.approx((120 * 17 / 12 + MAX_SPAN) / 121, abs=1e-4) and pooled.buckets == 10
    unknown = SkillBook()
    unknown.add(rows("OLD", None))  # resolved before the span was recorded
    assert unknown.span("v1") is None and unknown.skill("v1").span is None


def test_periods_go_by_the_spans_of_the_forecasts_counted():
    """A record as it stood at a past time, and a version alone, keep their figures whatever later forecasts, or
    another version's, recorded (a review: a span over every forecast in the book changed a past cut-off's)."""
    day, hour = DAY, 3600.0

    def rows(version: str, start: float, n: int, step: float, span: float) -> list[Outcome]:
        return [
            Outcome(
                start + i * step,
                "AAA",
                version,
                12 * step,
                100.0,
                101.0,
                100.0 + i % 3,
                i % 3 == 1,
                span_seconds=span,
            )
            for i in range(n)
        ]

    book = SkillBook()
    book.add(rows("v1", 0.0, 200, day, 12 * day))  # round the clock: 12 bars take 12 days
    before = book.skill("v1", until_ts=204 * day)  # a cut-off between buckets (of 12 days)
    book.add(rows("v1", 204 * day, 200, day, 40 * day))  # later forecasts that took much longer
    assert book.skill("v1", until_ts=204 * day) == before and before.buckets == 17
    hourly = SkillBook()
    hourly.add(rows("h", 0.0, 480, hour, 12 * hour))
    alone = hourly.skill("h")
    hourly.add(rows("d", 0.0, 40, day, 17 * day))  # another version: daily bars with weekends
    assert hourly.skill("h") == alone and alone.buckets == 40  # its own 12-hour buckets
    assert hourly.skill(None).buckets == 4  # pooled with the daily version: its 12-day buckets, in time


def test_a_figure_judged_among_many_has_the_wider_interval():
    """/price/health degrades on a symbol only at 1 - 0.05 / k for k symbols judged (Bonferroni)."""
    book = SkillBook()
    book.add(outcomes(300, seed=4))
    one = book.skill("v1", "AAA").mae_ratio
    among_20 = book.mae_ratio("v1", "AAA", None, tail=0.025 / 20)
    assert among_20.value == one.value and one.ci95 is not None and among_20.ci95 is not None
    assert among_20.ci95[0] < one.ci95[0] and among_20.ci95[1] > one.ci95[1]


def test_a_forecast_that_cannot_be_scored_is_counted_once_however_often_it_was_polled():
    """Three polls of one forecast across a hole in the bars (resolved without an outcome) are one forecast left
    out, as the polls of a scored one are one piece of evidence: /price/evaluate's unscorable counted each poll."""
    book = SkillBook()
    book.add([Outcome(0.0, "AAA", "rw", DAY, 100.0, 101.0, math.nan, None)] * 3)
    book.add([Outcome(DAY, "AAA", "rw", DAY, 100.0, 101.0, math.nan, None)])
    assert book.unscorable == 2


def test_a_forecast_scored_through_one_poll_is_not_also_unscorable():
    """Two polls of one forecast, one resolved without an actual, the other scored: counted scored and unscorable
    (a review). Scored wins, whichever comes first."""
    for order in (1, -1):
        book = SkillBook()
        polls = [Outcome(0.0, "AAA", "v1", DAY, 100.0, 101.0, math.nan, None), *outcomes(1)][::order]
        book.add(polls)
        assert book.unscorable == 0 and book.forecasts == 1


def test_a_close_that_did_not_move_is_no_rise():
    """Closes that did not move: always-up missed every one of them (a tie is a miss for always-up), so a P(up)
    of 0.3 scores 0.09 and the edge of an "up" call that missed is 0, not -1. A mutation audit: a tie counted as a
    rise survived every test."""
    rows = [Outcome(i * DAY, "AAA", "v", DAY, 100.0, 101.0, 100.0, False, 0.3, 0.55) for i in range(15)]
    book = SkillBook()
    book.add(rows)
    skill = book.skill("v")
    assert skill.always_up_rate.value == 0.0 and skill.hit_rate.value == 0.0
    assert skill.brier.value == pytest.approx(0.3**2)
    assert skill.brier_skill.value == pytest.approx(1 - 0.3**2 / 0.55**2)
    assert skill.edge_over_always_up.value == 0.0


def test_the_recent_record_needs_its_forecasts_as_well_as_its_periods():
    """One forecast a period: 10 periods hold 10 forecasts, too few for a record of 50; the recent record then
    begins 50 periods back, and with 500 forecasts asked for there is none (the whole record is judged). A
    mutation audit: the count of forecasts left out survived every test."""
    book = SkillBook()
    book.add(outcomes(120))
    assert book.recent_since("v1", periods=10, forecasts=10) == 110 * DAY
    assert book.recent_since("v1", periods=10, forecasts=50) == 70 * DAY
    assert book.skill("v1", since_ts=70 * DAY).n == 50
    assert book.recent_since("v1", periods=10, forecasts=500) is None


def test_a_long_records_interval_resamples_blocks_growing_with_its_cube_root():
    """1,000 periods: blocks of 10 (the cube root), not BLOCK's 2, so calls that persist over several horizons stay
    inside a block; the MAE ratio's interval is the expanded one over blocks of 10. A mutation audit: blocks of
    BLOCK whatever the record survived every test."""
    assert (BLOCK, block_length(8), block_length(1000), block_length(3375)) == (2, 2, 10, 15)
    rows = outcomes(1000, seed=6)
    book = SkillBook()
    book.add(rows)
    pairs = np.array([[abs(o.predicted_price - o.actual_price), abs(o.last_price - o.actual_price)] for o in rows])
    pairs /= np.array([[o.last_price] for o in rows])

    def ratio(m: np.ndarray) -> np.ndarray:
        return np.asarray(m[..., 0] / m[..., 1])

    value, ci = bootstrap_interval([pairs], ratio, block=10, reps=REPS, seed=0, expanded=True)
    mae = book.skill("v1").mae_ratio
    assert mae.value == pytest.approx(value) and mae.ci95 == pytest.approx(ci)


def test_the_difference_from_always_up_is_not_certain_on_down_calls_that_all_came_true():
    """15 periods that all fell, every call 'down' and right: +1 [1, 1] from the bootstrap; at least Wilson's
    interval of the down calls' hit rate (15 of 15: [0.796, 1]) now, so [0.59, 1], not certainly better than
    always-up. A mutation audit: the Wilson floor on the lower end survived every test."""
    rows = [Outcome(i * DAY, "AAA", "v", DAY, 100.0, 99.0, 98.0, True) for i in range(15)]
    book = SkillBook()
    book.add(rows)
    edge = book.skill("v").edge_over_always_up
    assert edge.value == 1.0 and edge.ci95 is not None and edge.periods == 15
    assert edge.ci95[0] == pytest.approx(-1 + 2 * 0.7961, abs=1e-3) and edge.ci95[1] == 1.0
