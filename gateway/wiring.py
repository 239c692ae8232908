"""From settings to the objects the lifespan holds: backend, scorers, service configs."""

from __future__ import annotations

import logging

from gateway.backends.base import InferenceBackend
from gateway.backends.embedded import EmbeddedBackend
from gateway.backends.providers import session_providers
from gateway.metrics import Metrics
from gateway.services.bayesian import BayesConfig
from gateway.services.price import PriceService
from gateway.services.scorers import FinbertScorer, LexiconScorer, Scorer
from gateway.services.sentiment import SentimentLimits, SentimentService
from gateway.services.skill import SkillConfig, SkillService
from investiq.core.bayes.allocation import AllocationRules
from investiq.core.bayes.posterior import Prior
from investiq.core.errors import ArtifactError, InvestIQError, SettingsError
from investiq.core.finbert import FINBERT, FINBERT_MODEL, FINBERT_TOKENIZER, FinbertMeta, finbert_dir
from investiq.core.journal.writer import JournalWriter
from investiq.core.patchtst import PATCHTST, PatchTSTMeta
from investiq.core.settings import Settings
from investiq.core.versions import serving, version_dir

log = logging.getLogger(__name__)


class StartupError(InvestIQError):
    """The gateway cannot start with these settings; the message says what to change."""


def build_backend(settings: Settings) -> InferenceBackend:
    if settings.backend == "triton":
        from gateway.backends.triton import TritonBackend
        from gateway.backends.triton_admin import configured_token

        token = configured_token(settings.triton_url, settings.logs_dir)
        return TritonBackend(settings.triton_url, settings.triton_timeout_s, token)
    try:
        return EmbeddedBackend(
            settings.model_repository,
            quantize=settings.quantize,
            max_tokens=settings.sentiment_max_tokens,
            finbert_runtime=settings.finbert_runtime,
            patchtst_runtime=settings.patchtst_runtime,
            max_pass_rows=settings.sentiment_batch_size,
            providers=session_providers(settings.embedded_providers, settings.models_dir),
        )
    except (ArtifactError, SettingsError) as exc:
        raise StartupError(str(exc)) from None


def slot_timeout_s(settings: Settings) -> float | None:
    """How long a request waits for a call slot to Triton: its timeout (services/batching.py `slot_timeout`); the
    embedded backend's queue is the CPU's work, and is not cut short."""
    return settings.triton_timeout_s if settings.backend == "triton" else None


def max_inflight(settings: Settings) -> int:
    """Batches in flight to the backend at once: Triton's instances and dynamic batcher take several
    (`triton_max_inflight`); the embedded backend runs one at a time on each model's worker thread."""
    return settings.triton_max_inflight if settings.backend == "triton" else 1


def build_sentiment(
    settings: Settings, backend: InferenceBackend, writer: JournalWriter, metrics: Metrics
) -> SentimentService:
    """FinBERT when exported (and chosen); the finance lexicon otherwise, reported as degraded."""
    scorer: Scorer
    reason = None
    try:
        if settings.sentiment_model == "lexicon":
            raise LookupError
        # the backend's own metadata where it read one (embedded): read again here, an export that landed in
        # between labelled one model's answers by the other's labels and version (a review)
        meta = getattr(backend, "finbert", None)
        if meta is None:
            meta = FinbertMeta.load(finbert_dir(settings.model_repository))  # ArtifactError: not exported
            if hasattr(backend, "finbert"):  # the embedded backend found none when it loaded
                raise ArtifactError(
                    f"FinBERT in {finbert_dir(settings.model_repository)} was exported while the gateway started: "
                    "restart it to serve FinBERT"
                )
        # the runtime the backend serves: embedded, as chosen on this CPU (finbert_runtime); "triton", which
        # chooses on its own host
        variant = getattr(backend, "finbert_variant", "int8" if settings.quantize else "fp32")
        scorer = FinbertScorer(
            backend,
            meta.labels,
            f"{meta.version}-{variant}",
            max_batch=settings.sentiment_batch_size,
            max_wait_s=settings.sentiment_max_wait_ms / 1000,
            on_batch=metrics.batch_size.labels(FINBERT).observe,
            on_infer=metrics.inference_latency.labels(FINBERT).observe,
            max_inflight=max_inflight(settings),
            slot_timeout_s=slot_timeout_s(settings),
            # the embedded backend on the CPU cuts a burst into passes by token count: hand it bursts whole
            cut=not getattr(backend, "plans_finbert_passes", False),
        )
    except LookupError:
        scorer = LexiconScorer()
    except ArtifactError as exc:
        scorer = LexiconScorer()
        reason = f"FinBERT is not available ({exc}); answering with the finance lexicon fallback"
        log.warning(reason)
    limits = SentimentLimits(max_texts=settings.sentiment_max_texts, max_chars=settings.sentiment_max_chars)
    return SentimentService(
        scorer,
        writer,
        metrics,
        limits=limits,
        cache_size=settings.sentiment_cache_size,
        degraded_reason=reason,
    )


def build_price(
    settings: Settings, backend: InferenceBackend, writer: JournalWriter, metrics: Metrics
) -> PriceService:
    """PatchTST as exported (unhealthy with the reason when it is not); bars from the cache, then Yahoo."""
    from investiq.core.bar_cache import BarCache
    from investiq.core.yahoo import fetch_yfinance

    # read once: the number pins each forecast to the version whose artifact is read (a version installed
    # between two reads would label one version's forecasts with the other's name)
    number = serving(settings.model_repository, PATCHTST)
    try:
        meta: PatchTSTMeta | None = PatchTSTMeta.load(
            version_dir(settings.model_repository, PATCHTST, number or 1)
        )
    except ArtifactError as exc:
        log.warning("price forecasts unavailable: %s", exc)
        meta = None
    return PriceService(
        backend,
        meta,
        writer,
        metrics,
        BarCache(settings.data_dir / "bars"),
        fetch_yfinance,
        max_batch=settings.price_batch_size,
        repository_version=number if meta is not None else None,
        max_age_days=settings.max_model_age_days,
        # The embedded backend's PatchTST worker thread serializes forecasts anyway: no limit needed there.
        max_inflight=settings.triton_max_inflight if settings.backend == "triton" else None,
        slot_timeout_s=slot_timeout_s(settings),
        skill=SkillService(
            settings.db_path,
            metrics,
            SkillConfig(
                tuple(settings.skill_windows_days),
                settings.skill_min_resolved,
                settings.skill_refresh_s,
                settings.db_busy_timeout_ms,
            ),
            saw=writer.saw,
        ),
    )


def bayes_config(settings: Settings) -> BayesConfig:
    return BayesConfig(
        prior=Prior(
            alpha=settings.bayes_prior_alpha,
            beta=settings.bayes_prior_beta,
            mu=settings.bayes_pnl_prior_mean,
            kappa=settings.bayes_pnl_prior_kappa,
            a=settings.bayes_pnl_prior_shape,
            b=settings.bayes_pnl_prior_scale,
        ),
        half_life_days=settings.bayes_half_life_days,
        rules=AllocationRules(
            min_trades=settings.bayes_min_trades,
            floor=settings.bayes_weight_floor,
            cap=settings.bayes_weight_cap,
            draws=settings.bayes_thompson_draws,
        ),
        seed=settings.bayes_seed,
        max_sync_days=settings.bayes_max_sync_days,
    )


async def align_triton(backend: InferenceBackend, sentiment: SentimentService, price: PriceService) -> None:
    """With Triton: have it load the models whose artifacts this gateway has just read (label order, version,
    context length), so that both serve the same files. Triton keeps the model it loaded until asked: after
    `investiq export finbert`, or a rollback made while no gateway ran, it would go on serving the other one
    under this one's labels. The ensemble's tokenizer step reads the export's vocabulary when it loads, so it is
    reloaded too (the export stamps its directory when the vocabulary changes; between the two loads, requests
    through Triton may pair one vocabulary with the other's weights). A reload whose files did not change
    leaves the model as it is; Triton unreachable or failing to load is logged, as at any start (the gateway
    recovers once Triton serves). Triton loads the newest PatchTST of its own repository, which may be another
    version than the one read here (another copy of the repository): that is a warning naming both, not "serves
    ... from the files this gateway reads" while every forecast failed (an audit). It runs beside serving
    (gateway/app.py), not before it."""
    if backend.name != "triton":
        return
    models = [FINBERT_MODEL, FINBERT_TOKENIZER] if sentiment.scorer.model == FINBERT else []
    models += [PATCHTST] if price.meta is not None else []
    for model in models:
        try:
            await backend.reload(model)
        except InvestIQError as exc:
            log.warning("could not have Triton load %s as this gateway reads it: %s", model, exc)
            continue
        if model == PATCHTST and (other := await _other_version(backend, price)) is not None:
            log.warning(
                "Triton serves version %d of %s, not version %s, which this gateway reads: it reads another copy "
                "of the model repository, or a version landed meanwhile. Forecasts follow version %d where this "
                "gateway's repository holds it, else fail (503) naming it, until both read the same files",
                other,
                model,
                price.repository_version,
                other,
            )
        else:
            log.info("Triton serves %s from the files this gateway reads", model)


async def _other_version(backend: InferenceBackend, price: PriceService) -> int | None:
    """The PatchTST version the backend serves instead of the one `price` reads (`serving_version`: where no server
    serves that one any more), or None; a failure to say is None too, as the start-up goes on either way."""
    serving_version = getattr(backend, "serving_version", None)
    if serving_version is None or price.repository_version is None:
        return None
    try:
        other: int | None = await serving_version(PATCHTST, price.repository_version)
    except InvestIQError as exc:
        log.warning("could not ask Triton which version of %s it serves: %s", PATCHTST, exc)
        return None
    return other
