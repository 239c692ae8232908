"""Live skill of the served price forecasts: what the resolver's outcomes say about each model version.

The service keeps an `investiq.core.skill.SkillBook` and a watermark (resolved_at, id): each
`refresh` reads only the rows resolved since (an indexed range, never the whole table), whoever
resolved them (the gateway's resolver or `investiq resolve`), then recomputes the figures of the
versions that changed (and every figure now and then, as windows slide) into a snapshot that the
request path only reads. Windows: Settings.skill_windows_days, plus "all" (every forecast a version
served, before a rollback and after a re-promotion alike).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.metrics import Metrics
from investiq.core.journal import BUSY_TIMEOUT_MS, JournalError, connect
from investiq.core.journal.predictions import resolved_after
from investiq.core.skill import MIN_BUCKETS, POOLED, Skill, SkillBook, family_worse
from investiq.core.skill_outcomes import outcome_of_row

log = logging.getLogger(__name__)
RECOMPUTE_S = 600.0  # figures are recomputed at least this often, as the windows slide
ALL = "all"
# The shortest recent record with the evidence to judge (`SkillBook.recent_since`): what health judges when no
# window of days has it (on daily bars 90 days hold too few horizons), before the whole history
RECENT = "recent"
JUDGED = "judged"  # the window label of the figures /price/health judges on (_export_metrics)
# Intervals degrade health when they cover significantly less than their level less this: conformal offsets fitted
# on a validation part cover 1-2 points short where later windows are not exchangeable (a review: 77.7 % for 80 %
# at 140 windows and 79.1 % at 400, before the finite-sample rank, worth 0.7 points at 140), and what an agent must
# hear of is intervals it cannot size positions by (48.8 % for 80 %, the network's own spread served without its
# offsets), not a point of shortfall that many forecasts make significant.
COVERAGE_SHORT = 0.05

FIGURES = (  # exported as the investiq_price_skill gauge's `figure`
    "hit_rate",
    "always_up_rate",
    "edge_over_always_up",
    "brier_skill",
    "brier_skill_vs_coin",
    "coverage80",
    "coverage90",
    "coverage80_gaps_ahead",
    "coverage90_gaps_ahead",
    "mae_ratio",
)


@dataclass(frozen=True)
class SkillConfig:
    windows_days: tuple[int, ...]
    min_resolved: int
    refresh_s: float
    busy_timeout_ms: int = BUSY_TIMEOUT_MS


class SkillService:
    def __init__(
        self,
        db_path: Path,
        metrics: Metrics,
        config: SkillConfig,
        clock: Any = time.time,
        saw: Callable[[BaseException], None] = lambda _: None,
    ) -> None:
        """`saw`: told of each failed refresh's error (the journal writer's: a damaged journal is unwritable)."""
        self._saw = saw
        self._db_path = db_path
        self._metrics = metrics
        self.config = config
        self._clock = clock
        self._book = SkillBook()
        self._mark = ("", 0)  # (resolved_at, id) of the last row counted
        self._snapshot: dict[tuple[str, str], dict[str, Skill]] = {}
        # (version, window) -> {symbol: [ratio, low, high]}: the symbols significantly worse than the random walk
        # with every symbol judged in that window accounted for (`_family_worse`)
        self._family: dict[tuple[str, str], dict[str, list[float]]] = {}
        self._worse_exported: set[tuple[str, str]] = set()  # (version, symbol) in investiq_price_symbol_worse
        self._computed_at = 0.0
        self.refreshed_at: float | None = None
        self._lock = threading.Lock()

    @property
    def counted(self) -> int:
        """Distinct resolved forecasts counted since the gateway started."""
        return self._book.forecasts

    @property
    def windows(self) -> list[str]:
        return [f"{d}d" for d in self.config.windows_days] + [RECENT, ALL]

    @property
    def health_window(self) -> str:
        return f"{self.config.windows_days[0]}d"

    def refresh(self) -> int:
        """Count the rows resolved since the last look; recompute what changed. Blocking (a thread);
        one refresh at a time."""
        with self._lock:
            return self._refresh()

    def _refresh(self) -> int:
        rows, mark = [], self._mark
        conn = connect(self._db_path, self.config.busy_timeout_ms, readonly=True)
        try:
            while True:
                batch = resolved_after(conn, *mark)
                if not batch:
                    break
                rows.extend(batch)
                mark = (batch[-1]["resolved_at"], int(batch[-1]["id"]))
        finally:
            conn.close()
        changed = self._book.add(map(outcome_of_row, rows))
        # moved on only once counted: a read that failed on a later page lost the pages before it for good
        self._mark = mark
        now = self._clock()
        stale = now - self._computed_at > RECOMPUTE_S
        if changed or stale:
            self._compute(changed, now, slide=stale)
        self.refreshed_at = now
        return len(rows)

    def _since(self, version: str, now: float) -> dict[str, float | None]:
        """Where each window of `version` begins (None: its first forecast); RECENT only once its record has it."""
        since: dict[str, float | None] = {f"{d}d": now - d * 86_400 for d in self.config.windows_days}
        recent = self._book.recent_since(version, MIN_BUCKETS, self.config.min_resolved)
        return since | ({RECENT: recent} if recent is not None else {}) | {ALL: None}

    def _compute(self, changed: set[str], now: float, slide: bool = False) -> None:
        """The figures of the versions with new outcomes (`changed`), in every window; with `slide`, those of the
        windows of days of every other version too, which move with the clock. Recent and all move only with new
        outcomes, and they are the costliest (most periods, and the Bonferroni check's replicates on them): a
        recompute of every window every RECOMPUTE_S took 10 s of the CPU on 262k 15-minute forecasts (a review)."""
        snapshot, family = dict(self._snapshot), dict(self._family)
        for version in sorted({v for v, _ in self._book.groups()}):
            every = self._since(version, now)
            since = every
            if version not in changed:
                if not slide:
                    continue
                since = {w: t for w, t in every.items() if w not in (RECENT, ALL)}
            for key in [(v, symbol) for v, symbol in self._book.groups() if v == version]:
                figures = {w: self._book.skill(version, key[1], t) for w, t in since.items()}
                snapshot[key] = snapshot.get(key, {}) | figures
            # the Bonferroni check (up to 200,000 replicates a symbol) of the window health judges, the only one
            # read (verdict, investiq_price_symbol_worse): of every window it was 9 of those 10 s
            window = self.judged_window(version, snapshot)
            if window in since or (version, window) not in family:
                family = {k: v for k, v in family.items() if k[0] != version}
                family[(version, window)] = self._family_worse(snapshot, version, window, every.get(window))
        self._snapshot, self._family = snapshot, family
        self._computed_at = now if slide else self._computed_at
        self._export_metrics()
        self._export_worse()

    def _export_metrics(self) -> None:
        """The pooled figures of every version and window as the `investiq_price_skill` gauge (FIGURES), each with
        its 95% interval's ends as `<figure>_ci95_low` and `_ci95_high` (the evidence /price/health judges on). A
        figure, or an interval, that has none now is removed, not left at its last value. Window JUDGED repeats the
        window /price/health judges each version on (`judged_window`: on daily bars 30 days hold too few periods,
        and it is 90d or all): what the alerts read."""
        gauge = self._metrics.price_skill
        for (version, symbol), windows in self._snapshot.items():
            if symbol != POOLED:
                continue
            judged = windows.get(self.judged_window(version))
            for window, skill in [*windows.items(), *([(JUDGED, judged)] if judged is not None else [])]:
                self._metrics.price_skill_resolved.labels(version, window).set(skill.n)
                for name in FIGURES:
                    figure = getattr(skill, name)
                    ends = figure.ci95 or (None, None)
                    values = {name: figure.value, f"{name}_ci95_low": ends[0], f"{name}_ci95_high": ends[1]}
                    for label, value in values.items():
                        if value is None:
                            with contextlib.suppress(KeyError):
                                gauge.remove(version, window, label)
                        else:
                            gauge.labels(version, window, label).set(value)

    def _export_worse(self) -> None:
        """investiq_price_symbol_worse: each version's symbols that degrade /price/health (`_family_worse`, in the
        window it judges on), removed once they no longer do."""
        now = {
            (version, symbol): figures[0]
            for version in {v for v, _ in self._snapshot}
            for symbol, figures in self._family.get((version, self.judged_window(version)), {}).items()
        }
        for gone in self._worse_exported - set(now):
            with contextlib.suppress(KeyError):
                self._metrics.price_symbol_worse.remove(*gone)
        for labels, ratio in now.items():
            self._metrics.price_symbol_worse.labels(*labels).set(ratio)
        self._worse_exported = set(now)

    async def refresh_periodically(self) -> None:
        """The gateway's background task; a failing pass is logged and retried at the next tick."""
        while True:
            try:
                await asyncio.to_thread(self.refresh)
            except JournalError as exc:
                self._saw(exc)
                log.warning("live skill not refreshed: %s", exc)
            except Exception as exc:
                self._saw(exc)
                log.exception("live skill not refreshed; will retry")
            await asyncio.sleep(self.config.refresh_s)

    def get(self, version: str, symbol: str = POOLED, window: str | None = None) -> Skill | None:
        return self._snapshot.get((version, symbol), {}).get(window or self.health_window)

    def block(self, version: str, symbol: str) -> dict[str, Any]:
        """The `skill` of a forecast: the symbol's figures over the window /price/health judges on
        (`judged_window`), or the version's pooled over all symbols while the symbol has fewer than
        min_resolved outcomes there."""
        window = self.judged_window(version)
        chosen = self.get(version, symbol, window)
        scope = "symbol"
        if chosen is None or chosen.n < self.config.min_resolved:
            scope, chosen = "pooled", self.get(version, POOLED, window)
        return {
            "scope": scope,
            "window": window,
            "n": chosen.n if chosen else 0,
            "record": chosen.as_dict() if chosen else None,
        }

    def judged_window(self, version: str, snapshot: dict[tuple[str, str], dict[str, Skill]] | None = None) -> str:
        """The first window (in settings order, then recent, then all) whose pooled figures hold min_resolved
        forecasts in MIN_BUCKETS periods of one horizon; the first window while none does. Recent holds them by its
        making as soon as the version's record does, so all is never the one judged while recent is there."""
        windows = (self._snapshot if snapshot is None else snapshot).get((version, POOLED), {})
        for w in self.windows:
            s = windows.get(w)
            if s is not None and s.n >= self.config.min_resolved and s.buckets >= MIN_BUCKETS:
                return w
        return self.health_window

    def windows_of(self, version: str, symbol: str) -> dict[str, Any]:
        """Every window's figures of `version` for `symbol` (empty without resolved forecasts)."""
        return {w: s.as_dict() for w, s in self._snapshot.get((version, symbol), {}).items()}

    def report(self, serving: str | None) -> dict[str, Any]:
        """Every version's figures, pooled and per symbol, in every window (GET /price/skill)."""
        versions: dict[str, Any] = {}
        for (version, symbol), windows in sorted(self._snapshot.items()):
            entry = versions.setdefault(version, {"serving": version == serving, "pooled": {}, "symbols": {}})
            figures = {w: s.as_dict() for w, s in windows.items()}
            if symbol == POOLED:
                entry["pooled"] = figures
            else:
                entry["symbols"][symbol] = figures
        return {
            "serving_version": serving,
            "windows": self.windows,
            "health_window": self.health_window,
            "judged_window": self.judged_window(serving) if serving else self.health_window,
            "min_resolved": self.config.min_resolved,
            "resolved_counted": self.counted,
            "refreshed_at": self.refreshed_at,
            "versions": versions,
        }

    def _family_worse(
        self, snapshot: dict[tuple[str, str], dict[str, Skill]], version: str, window: str, since: float | None
    ) -> dict[str, list[float]]:
        """`family_worse` (investiq/core/skill.py) on this service's book."""
        return family_worse(self._book, snapshot, version, window, since)

    def worse_symbols(self, version: str, window: str) -> dict[str, list[float]]:
        """The symbols whose own record in `window` is significantly worse than the random walk (the MAE ratio's
        interval wholly above 1): [ratio, low, high] each. Health judges the pooled record, which one bad symbol
        among good ones does not move (an operator's walkthrough: 1.094 [1.070, 1.121] beside "healthy")."""
        out = {}
        for (v, symbol), windows in sorted(self._snapshot.items()):
            found = windows.get(window) if v == version and symbol != POOLED else None
            ci = found.mae_ratio.ci95 if found is not None else None
            if found is not None and ci is not None and ci[0] > 1 and found.mae_ratio.value is not None:
                out[symbol] = [round(found.mae_ratio.value, 4), round(ci[0], 4), round(ci[1], 4)]
        return out

    def verdict(self, version: str) -> tuple[str | None, dict[str, Any]]:
        """(why degraded or None, figures) of `version` for /price/health: degraded when the evidence is
        too thin to say, or when it says the forecasts are significantly worse than the naive ones. Judged on
        the health window, or on the first longer window (then recent) where the evidence is enough: at least
        min_resolved forecasts in MIN_BUCKETS horizon periods (30 days hold 2 periods of 12 daily bars)."""
        window = self.judged_window(version)
        skill = self.get(version, POOLED, window)
        n = skill.n if skill else 0
        figures: dict[str, Any] = {"window": window, "n": n}
        if skill is None or n < self.config.min_resolved or skill.buckets < MIN_BUCKETS:
            found = self._snapshot.get((version, POOLED), {}).values()
            most = max(found, key=lambda s: s.buckets, default=None)
            return (
                f"not enough evidence of live skill yet: version {version} has {most.n if most else 0} resolved "
                f"forecasts in {most.buckets if most else 0} periods of one horizon so far; judging needs "
                f"{self.config.min_resolved} (skill_min_resolved) in {MIN_BUCKETS}",
                figures,
            )
        figures |= {
            k: getattr(skill, k).value
            for k in ("hit_rate", "always_up_rate", "brier_skill", "mae_ratio", "coverage80", "coverage90")
        }
        figures["symbols_worse_than_random_walk"] = self.worse_symbols(version, window)
        family = self._family.get((version, window), {})
        figures["symbols_worse_all_judged"] = family
        ratio, brier = skill.mae_ratio, skill.brier_skill
        if ratio.ci95 is not None and ratio.ci95[0] > 1:
            return (
                f"live forecasts are significantly worse than the random walk: MAE ratio {ratio.value:.3f} "
                f"[{ratio.ci95[0]:.3f}, {ratio.ci95[1]:.3f}] over {n} resolved forecasts: run `investiq retrain`",
                figures,
            )
        if family:
            named = ", ".join(
                f"{symbol} {r:.3f} [{low:.3f}, {high:.3f}]" for symbol, (r, low, high) in family.items()
            )
            return (
                f"live forecasts of {named} are significantly worse than the random walk, with every symbol "
                "judged accounted for (each interval at 1 - 0.05 / symbols): the pooled record hides them; run "
                "`investiq retrain`",
                figures,
            )
        if brier.ci95 is not None and brier.ci95[1] < 0:
            return (
                f"live P(up) is significantly worse than its base (the P(up) the model serves without skill: the "
                f"training up-rate, or the no-drift rate): Brier skill {brier.value:+.3f} "
                f"[{brier.ci95[0]:+.3f}, {brier.ci95[1]:+.3f}] over {brier.n} forecasts: run `investiq retrain`",
                figures,
            )
        coin = skill.brier_skill_vs_coin  # a P(up) that is its base scores 0 above, however far off the base is
        if coin.ci95 is not None and coin.ci95[1] < 0 and coin.value is not None:
            return (
                f"live P(up) is significantly worse than a coin's 0.5: Brier skill {coin.value:+.3f} "
                f"[{coin.ci95[0]:+.3f}, {coin.ci95[1]:+.3f}] over {coin.n} forecasts (its base is off for these "
                "markets now): run `investiq retrain`",
                figures,
            )
        for level, cover in ((0.8, skill.coverage80), (0.9, skill.coverage90)):
            ci = cover.ci95
            if ci is not None and cover.value is not None and ci[1] < level - COVERAGE_SHORT:
                return (
                    f"live {level:.0%} intervals are too narrow for these markets now: they cover "
                    f"{cover.value:.1%} [{ci[0]:.1%}, {ci[1]:.1%}] of {cover.n} resolved forecasts, significantly "
                    f"less than {level - COVERAGE_SHORT:.0%}: run `investiq retrain`",
                    figures,
                )
        return None, figures
