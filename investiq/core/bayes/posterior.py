"""Per-strategy posteriors with time-based forgetting.

Win/loss: Beta(alpha, beta) on the win probability p.
P&L per trade x ~ Normal(m, s2): conjugate Normal-Inverse-Gamma on (m, s2),
    m | s2 ~ Normal(mu, s2 / kappa),  s2 ~ InvGamma(a, b).

Forgetting. Each observation made at time t carries weight w = 2^(-(now - t) / half_life), and the
posterior is the prior updated with weighted sufficient statistics. As evidence ages, w -> 0 and the
posterior relaxes back to the prior, not toward zero counts: decaying alpha and beta themselves
would drive Beta(alpha, beta) toward an improper, over-confident Beta(0, 0) on a quiet strategy,
while decaying only the evidence leaves an old strategy exactly as uncertain as a new one.
Because weights depend only on age, folding observations one by one (in any order) equals replaying
the batch: `Evidence` stores the decayed statistics at its reference time `ref_ts`.
Times are epoch seconds; half-lives are days; half_life_days = 0 disables forgetting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class Prior:
    alpha: float = 1.0  # Beta prior on the win probability
    beta: float = 1.0
    mu: float = 0.0  # NIG prior on P&L per trade: mean,
    kappa: float = 1.0  # pseudo-observations behind that mean,
    a: float = 2.0  # inverse-gamma shape,
    b: float = 100.0  # and scale (P&L units squared)


@dataclass(frozen=True)
class Evidence:
    """Decayed sufficient statistics at ref_ts; raw counts are kept undecayed for reporting."""

    ref_ts: float
    win_w: float = 0.0  # sum of weights of wins
    loss_w: float = 0.0  # sum of weights of losses
    pnl_w: float = 0.0  # sum of weights of P&L observations
    pnl_s1: float = 0.0  # sum of w * x
    pnl_scatter: float = 0.0  # sum of w * (x - weighted mean)^2, updated as Welford's (not from sum w x^2)
    wins: int = 0
    losses: int = 0
    pnl_count: int = 0


@dataclass(frozen=True)
class Posterior:
    alpha: float
    beta: float
    mu: float
    kappa: float
    a: float
    b: float
    effective_trades: float  # decayed win + loss weight
    effective_pnl_trades: float
    # The P&L evidence alone, without the prior: its (decayed) weighted mean and standard deviation per trade
    pnl_sample_mean: float = 0.0
    pnl_sample_sd: float = 0.0

    @property
    def win_rate(self) -> float:
        """Posterior mean of the win probability."""
        return self.alpha / (self.alpha + self.beta)

    def win_rate_interval(self, level: float = 0.95) -> tuple[float, float]:
        """Equal-tailed credible interval of the win probability."""
        tail = (1.0 - level) / 2.0
        from scipy import stats

        lo, hi = stats.beta.ppf([tail, 1.0 - tail], self.alpha, self.beta)
        return float(lo), float(hi)

    def pnl_interval(self, level: float = 0.95) -> tuple[float, float]:
        """Credible interval of the mean P&L per trade m: Student-t with 2a dof, scale sqrt(b/(a kappa))."""
        tail = (1.0 - level) / 2.0
        from scipy import stats

        lo, hi = stats.t.ppf([tail, 1.0 - tail], 2.0 * self.a, loc=self.mu, scale=self.pnl_scale)
        return float(lo), float(hi)

    @property
    def pnl_scale(self) -> float:
        """Scale of the Student-t (2a degrees of freedom, location mu) that the mean P&L per trade follows."""
        return math.sqrt(self.b / (self.a * self.kappa))


def decay(age_seconds: float, half_life_days: float) -> float:
    """Weight of evidence that is age_seconds old; 1 when forgetting is off or the age is <= 0."""
    if half_life_days <= 0 or age_seconds <= 0:
        return 1.0
    return float(2.0 ** (-age_seconds / (half_life_days * SECONDS_PER_DAY)))


def advance(ev: Evidence, ts: float, half_life_days: float) -> Evidence:
    """The same evidence seen from a later time ts (earlier times leave it unchanged)."""
    if ts <= ev.ref_ts:
        return ev
    k = decay(ts - ev.ref_ts, half_life_days)
    return replace(
        ev,
        ref_ts=ts,
        win_w=ev.win_w * k,
        loss_w=ev.loss_w * k,
        pnl_w=ev.pnl_w * k,
        pnl_s1=ev.pnl_s1 * k,
        pnl_scatter=ev.pnl_scatter * k,
    )


def observe(ev: Evidence, ts: float, won: bool | None, pnl: float | None, half_life_days: float) -> Evidence:
    """Fold one closed trade (closed at ts) into the evidence. `pnl` must be finite."""
    if won is None and pnl is None:
        raise ValueError("a trade needs a win/loss outcome or a P&L")
    if pnl is not None and not math.isfinite(pnl):
        raise ValueError(f"P&L must be finite, got {pnl!r}")
    ev = advance(ev, ts, half_life_days)
    w = decay(ev.ref_ts - ts, half_life_days)  # < 1 for a trade older than what was already seen
    if won is None:
        won = pnl is not None and pnl > 0
    ev = replace(
        ev,
        win_w=ev.win_w + (w if won else 0.0),
        loss_w=ev.loss_w + (0.0 if won else w),
        wins=ev.wins + int(won),
        losses=ev.losses + int(not won),
    )
    if pnl is not None:
        ev = _add_pnl(ev, w, pnl)
    return ev


def _add_pnl(ev: Evidence, w: float, pnl: float) -> Evidence:
    """Weighted Welford update: the scatter about the running mean, never as sum w x^2 - (sum w x)^2 / sum w,
    which cancels to 0 when the mean is large against the spread (P&L 1e8 +- 1.6 had a standard deviation of 0)."""
    pnl_w = ev.pnl_w + w
    before = ev.pnl_s1 / ev.pnl_w if ev.pnl_w > 0 else pnl
    pnl_s1 = ev.pnl_s1 + w * pnl
    after = pnl_s1 / pnl_w if pnl_w > 0 else pnl  # a trade so old that its weight underflows to 0 (the fuzz test)
    return replace(
        ev,
        pnl_w=pnl_w,
        pnl_s1=pnl_s1,
        pnl_scatter=ev.pnl_scatter + w * (pnl - before) * (pnl - after),
        pnl_count=ev.pnl_count + 1,
    )


def posterior(prior: Prior, ev: Evidence, now: float, half_life_days: float) -> Posterior:
    """The posterior at time `now` given the evidence (decayed to now)."""
    ev = advance(ev, now, half_life_days)
    n = ev.pnl_w
    kappa = prior.kappa + n
    mean = scatter = 0.0
    if n > 0:
        mean = ev.pnl_s1 / n
        scatter = max(ev.pnl_scatter, 0.0)
        mu = (prior.kappa * prior.mu + ev.pnl_s1) / kappa
        b = prior.b + 0.5 * scatter + prior.kappa * n * (mean - prior.mu) ** 2 / (2.0 * kappa)
    else:
        mu, b = prior.mu, prior.b
    return Posterior(
        alpha=prior.alpha + ev.win_w,
        beta=prior.beta + ev.loss_w,
        mu=mu,
        kappa=kappa,
        a=prior.a + n / 2.0,
        b=b,
        effective_trades=ev.win_w + ev.loss_w,
        effective_pnl_trades=n,
        pnl_sample_mean=mean,
        pnl_sample_sd=math.sqrt(scatter / (n - 1)) if n > 1 else 0.0,
    )
