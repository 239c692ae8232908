"""Health of the stack: each component answers healthy | degraded | unhealthy, with the reason."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gateway.backends.base import InferenceBackend
from gateway.services.bayesian import BayesianService
from gateway.services.price import PriceService
from gateway.services.sentiment import SentimentService
from investiq.core.cpu import describe
from investiq.core.errors import InvestIQError, JournalUnavailableError
from investiq.core.finbert import FINBERT
from investiq.core.journal.connection import RESTORE
from investiq.core.journal.writer import JournalWriter
from investiq.core.lexicon import NAME as LEXICON
from investiq.core.patchtst import PATCHTST

log = logging.getLogger(__name__)
ORDER = {"healthy": 0, "degraded": 1, "unhealthy": 2}
TASKS = {FINBERT: "sentiment", PATCHTST: "price"}  # a backend model -> the task it answers
# How long /health/ready waits for the backend to say whether a model is ready; past it the model is reported not
# ready. The kubelet's probe gives up after timeoutSeconds (1 s by default; 2 s in deploy/kubernetes) and the
# probe waited the backend's whole triton_timeout_s (5 s) on a Triton that accepted and never answered: every
# probe failed while the gateway itself could serve. A ready Triton answers is_model_ready in 0.24 ms (median of
# 200, localhost; 0.55 ms asking each of two servers, gateway/backends/triton.py `ready`).
READY_DEADLINE_S = 0.5
# /metrics' wait for each model's answer: a hung Triton held a scrape triton_timeout_s (5 s, up to 300), past
# Prometheus' own 10 s, and every series went stale with it, the alert on the backend too (a review)
SCRAPE_DEADLINE_S = 2.0
Report = dict[str, Any]


def worst(*statuses: str) -> str:
    return max(statuses, key=ORDER.__getitem__, default="healthy")


class HealthService:
    def __init__(
        self,
        writer: JournalWriter,
        bayesian: BayesianService,
        sentiment: SentimentService,
        price: PriceService,
        backend: InferenceBackend,
        version: str,
        aligning: asyncio.Task[None] | None = None,
    ) -> None:
        self._writer = writer
        self._aligning = aligning  # Triton loading the models this gateway reads (wiring.align_triton)
        self._bayesian = bayesian
        self._sentiment = sentiment
        self._price = price
        self._backend = backend
        self._version = version

    def journal(self) -> Report:
        w = self._writer
        report: Report = {
            "status": "healthy",
            "committed": w.committed,
            "failed": w.failed,
            "pending": w.pending,
        }
        if not w.alive:
            report.update(status="unhealthy", reason="the journal writer has stopped")
        elif w.detached or w.damage:
            report.update(status="unhealthy", reason=detached_reason(w))
        elif w.failing:
            report.update(status="degraded", reason=f"the latest journal write failed: {w.last_error}")
        return report

    async def bayesian(self) -> Report:
        try:
            stats = await self._bayesian.all_stats()
            events = await self._bayesian.event_count()
        except JournalUnavailableError as exc:
            return {"status": "unhealthy", "reason": str(exc)}
        report: Report = {
            "status": "healthy",
            "strategies": len(stats),
            "proven": sum(s.proven for s in stats),
            "events": events,
        }
        if not self._writer.alive:
            report.update(status="unhealthy", reason="updates cannot be recorded: the journal writer has stopped")
        return report

    async def inference(self) -> Report:
        """The backend's report. `models` is there whatever the state (each served model false where the backend
        is not ready or does not answer): it was left out then, which a client parsing the answer with strict
        types cannot read (an audit acting as the agent)."""
        none_ready = dict.fromkeys(self._served(), False)
        try:
            ready = await asyncio.wait_for(self._backend.ready(), SCRAPE_DEADLINE_S)
        except asyncio.TimeoutError:
            reason = f"it did not say whether it is ready within {SCRAPE_DEADLINE_S:g} s"
            return {"status": "unhealthy", "backend": self._backend.name, "models": none_ready, "reason": reason}
        except Exception as exc:  # a health check reports, it never raises
            return {
                "status": "unhealthy",
                "backend": self._backend.name,
                "models": none_ready,
                "reason": f"{type(exc).__name__}: {exc}",
            }
        where = f"{self._backend.name} backend at {self._backend.target}"
        if not ready:
            reason = f"no model is ready ({where})"
            return {"status": "degraded", "backend": self._backend.name, "models": none_ready, "reason": reason}
        models, unreadable = await self._served_models(SCRAPE_DEADLINE_S)
        report: Report = {
            "status": "healthy",
            "backend": self._backend.name,
            "models": models,
            **self.finbert_runtime(),
            **self.patchtst_runtime(),
        }
        if not all(models.values()):  # the server answers, a model does not (unloaded from Triton, say)
            down = ", ".join(name for name, up in models.items() if not up)
            why = f" ({PATCHTST}: {unreadable})" if unreadable else ""
            report.update(status="degraded", reason=f"not ready on the {where}: {down}{why}")
        return report

    async def backend_models(self, deadline_s: float | None = None) -> dict[str, bool]:
        """Task (sentiment, price) -> whether the backend can answer it with the trained model it serves (within
        `deadline_s` each, else not); a task answered by a fallback on purpose (the lexicon) is not in it. Price
        with no PatchTST exported is not ready: nothing answers it (every /price forecast a 503), and with no
        series at all no alert could fire (a review: /health/ready 200, the metric empty). PatchTST's version is
        followed first (`follow_price`), so that investiq_model_info names the version the backend serves."""
        served, _ = await self._served_models(deadline_s)
        models = {TASKS[model]: up for model, up in served.items()}
        return models | ({TASKS[PATCHTST]: False} if self._price.meta is None else {})

    async def _served_models(self, deadline_s: float | None = None) -> tuple[dict[str, bool], str | None]:
        """Each model this gateway serves through the backend (not the lexicon), and whether it can answer; one
        whose answer takes longer than deadline_s (None: the backend's own timeout) counts as not ready. PatchTST
        is not ready either where the backend serves a version of it this gateway cannot read (`follow_price`,
        within deadline_s too): Triton called it ready, and every forecast was a 503 while readiness, /health and
        investiq_backend_ready said it could answer (an audit). With it, why PatchTST cannot answer, or None."""
        served = self._served()
        # at once: each waits up to the backend's timeout when Triton does not answer (a /metrics scrape asks)
        asked = asyncio.gather(*(self._model_ready(model, deadline_s) for model in served))
        ready, unreadable = await asyncio.gather(asked, self._unreadable(served, deadline_s))
        models = dict(zip(served, ready, strict=True))
        if unreadable is not None:
            models[PATCHTST] = False
        return models, unreadable

    def _served(self) -> list[str]:
        """The models this gateway serves through the backend (not the lexicon)."""
        return ([FINBERT] if self._sentiment.scorer.model != LEXICON else []) + (
            [PATCHTST] if self._price.meta is not None else []
        )

    async def _unreadable(self, served: list[str], deadline_s: float | None) -> str | None:
        """`follow_price`'s reason where this gateway serves PatchTST through the backend."""
        return await self.follow_price(deadline_s) if PATCHTST in served else None

    async def sentiment(self) -> Report:
        """/sentiment/health: the service's report, unhealthy when the backend cannot answer with FinBERT."""
        report = self._sentiment.health()
        if self._sentiment.scorer.model == LEXICON:
            return report
        return self._answerable(report, FINBERT, await self._model_ready(FINBERT, SCRAPE_DEADLINE_S))

    async def price(self) -> Report:
        """/price/health: the service's report, unhealthy when the backend cannot answer with PatchTST. A backend
        shared with other gateways (Triton) may serve a version another one rolled out: followed first, so that the
        report names the version that answers (it named the one this gateway read until its next forecast)."""
        # whether the backend can answer, asked beside the following: each within SCRAPE_DEADLINE_S, together too
        ready = asyncio.ensure_future(self._model_ready(PATCHTST, SCRAPE_DEADLINE_S))
        moved = await self.follow_price()
        report: Report = self._price.health()
        if moved is not None:  # the backend serves a version this gateway cannot read: its forecasts fail
            ready.cancel()
            return unhealthy(report, moved)
        if self._price.meta is None:
            ready.cancel()
            return report
        return self._answerable(report, PATCHTST, await ready)

    async def follow_price(self, deadline_s: float | None = None) -> str | None:
        """Adopt the PatchTST version the backend serves where it no longer serves the one read (the rule pinned
        forecasts follow: `TritonBackend.serving_version`); why not, where it cannot. Not before Triton has loaded
        what this gateway reads at start-up (it moved the gateway back to the version Triton had, a review), and
        at most deadline_s (None: SCRAPE_DEADLINE_S) for the question and the adoption together: a hung Triton, or
        a reload here holding the adoption's lock for minutes, held the report as long (a review). /metrics and
        /admin/models ask it too: until 2026-12-06 they named the old version until a forecast or a /price/health;
        so does /health/ready, within its READY_DEADLINE_S."""
        serving_version = getattr(self._backend, "serving_version", None)
        number, follow = self._price.repository_version, self._price.follow
        aligned = self._aligning is None or self._aligning.done()
        if serving_version is None or follow is None or number is None or not aligned:
            return None

        async def move() -> None:
            serving = await serving_version(PATCHTST, number)
            if serving is not None:
                await follow(serving, number)

        try:
            await asyncio.wait_for(move(), SCRAPE_DEADLINE_S if deadline_s is None else deadline_s)
        except InvestIQError as exc:  # a version this gateway cannot read (ModelsService.adopt)
            return str(exc)
        except Exception as exc:  # a health check reports, it never raises (a timeout included)
            log.debug("could not follow the version of %s the backend serves: %r", PATCHTST, exc)
        return None

    def _answerable(self, report: Report, model: str, ready: bool) -> Report:
        if ready:
            return report
        where = f"the {self._backend.name} backend at {self._backend.target}"
        reason = f"{model} is not ready on {where}: its requests fail (503) until it is"
        return unhealthy(report, reason)

    def finbert_runtime(self) -> Report:
        """How FinBERT runs, when the backend chose it on this CPU (the embedded one): the runtime, why, and
        the CPU's matrix-multiply instruction sets it was chosen from."""
        runtime = getattr(self._backend, "finbert_runtime", None)
        if runtime is None:
            return {}
        return {
            "finbert_runtime": runtime,
            "finbert_runtime_reason": getattr(self._backend, "finbert_choice", ""),
            "cpu": describe(),
        }

    def patchtst_runtime(self) -> Report:
        """How PatchTST runs, when the backend chose it on this CPU (the embedded one): the runtime and why."""
        runtime = getattr(self._backend, "patchtst_runtime", None)
        if runtime is None:
            return {}
        return {
            "patchtst_runtime": runtime,
            "patchtst_runtime_reason": getattr(self._backend, "patchtst_choice", ""),
        }

    async def _model_ready(self, model: str, deadline_s: float | None = None) -> bool:
        try:
            return await asyncio.wait_for(self._backend.ready(model), deadline_s)
        except Exception:  # a probe reports, it never raises; the deadline's TimeoutError is "not ready" too
            return False

    async def readiness(self) -> Report:
        """Whether this process can serve (the readiness probe, /health/ready): its journal writer runs on the file
        at the journal's path (`journal_writable`), and Triton has loaded the models this gateway reads, at
        start-up (`align_triton`; at once without Triton). Each model's readiness is reported beside it and does
        not decide it: a model that cannot answer is the backend's (Triton down, rolling out, rebuilding engines)
        and every replica would say the same, so a readiness gated on it would take every gateway out of its
        Service at once, the Bayesian weights with them, and turn a 503 that names the model into a refused
        connection. `ready` false comes with the reason. The models' answers are bounded by READY_DEADLINE_S, so
        that the probe answers within its timeout whatever the backend does."""
        lexicon = {LEXICON: True} if self._sentiment.scorer.model == LEXICON else {}  # it always answers
        served, _ = await self._served_models(READY_DEADLINE_S)
        models = lexicon | served
        aligned = self._aligning is None or self._aligning.done()
        journal = journal_writable(self._writer)
        report: Report = {"ready": journal and aligned, "journal": journal, "models": models}
        if not self._writer.alive:
            report["reason"] = "the journal writer has stopped: nothing can be journaled"
        elif not journal:
            report["reason"] = detached_reason(self._writer)
        elif not aligned:  # until then Triton may answer with the model it had, under this gateway's labels
            report["reason"] = "Triton is loading the models this gateway reads (at most 120 s a model and server)"
        return report

    async def stack(self) -> Report:
        """Every component's report, asked at once, each bounded: a hung Triton held /health 17 s (its timeout of
        5 s thrice, one check after another), past `investiq start`'s and `status`' probes (a review)."""
        bayesian, sentiment, price, inference = await asyncio.gather(
            self.bayesian(), self.sentiment(), self.price(), self.inference()
        )
        components = {
            "journal": self.journal(),
            "bayesian": bayesian,
            "sentiment": sentiment,
            "price": price,
            "inference": inference,
        }
        # Only the journal and the Bayesian service make the stack unhealthy (503): a model that cannot
        # answer degrades it, and its own /health says unhealthy, while the rest keeps serving.
        core = {"journal", "bayesian"}
        status = worst(
            *(
                c["status"] if name in core else min(c["status"], "degraded", key=ORDER.__getitem__)
                for name, c in components.items()
            )
        )
        return {"status": status, "version": self._version, "components": components}


def journal_writable(writer: JournalWriter) -> bool:
    """Whether what is journaled reaches the file the agent reads: the writer runs, on the file at its path.
    Moved or replaced under the gateway, the journal was unhealthy in /health alone, while readiness, the metrics
    and so every alert said all was well (an audit): each asks this."""
    return writer.alive and not writer.detached and writer.damage is None


def detached_reason(writer: JournalWriter) -> str:
    """Why a running writer's journal is not writable: damaged (`JournalWriter.saw`), or no longer at its path."""
    if writer.damage is not None:
        return f"{writer.path} is damaged ({writer.damage}): {RESTORE}"
    return (
        f"{writer.path} was moved, deleted or replaced while the gateway ran: writes go to the file it opened, "
        "which the agent no longer reads; restart the gateway to journal into the file now at that path"
    )


def unhealthy(report: Report, reason: str) -> Report:
    """`report` as unhealthy for `reason`, before any reason it gave."""
    return {**report, "status": "unhealthy", "reason": "; ".join(filter(None, [reason, report.get("reason")]))}
