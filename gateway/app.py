"""`create_app(settings, backend=None)`: the gateway, with heavy objects made in the lifespan."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from gateway.backends.base import InferenceBackend
from gateway.bayes.allocation import AllocationRules
from gateway.bayes.posterior import Prior
from gateway.errors import install_handlers
from gateway.journal import JournalWriter, open_journal
from gateway.metrics import Metrics
from gateway.middleware import BodyLimitMiddleware, MetricsMiddleware
from gateway.routes import bayesian, root
from gateway.security import require_api_key
from gateway.services.bayesian import BayesConfig, BayesianService
from gateway.services.health import HealthService
from investiq import __version__
from investiq.settings import Settings


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


def create_app(
    settings: Settings, backend: InferenceBackend | None = None, *, clock: Callable[[], float] = time.time
) -> FastAPI:
    """The gateway app. `backend` serves the models (None until a model service is configured);
    `clock` (epoch seconds) is injectable so that tests can move time for the forgetting."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        open_journal(settings.db_path, settings.db_busy_timeout_ms).close()  # create / migrate, or fail
        writer = JournalWriter(settings.db_path, settings.db_busy_timeout_ms)
        writer.start()
        service = BayesianService(
            writer,
            settings.db_path,
            bayes_config(settings),
            busy_timeout_ms=settings.db_busy_timeout_ms,
            clock=clock,
        )
        app.state.writer = writer
        app.state.bayesian = service
        app.state.health = HealthService(writer, service, backend, __version__)
        try:
            yield
        finally:
            writer.close()  # flushes what is queued
            if backend is not None:
                await backend.close()

    app = FastAPI(
        title="InvestIQ ML gateway",
        version=__version__,
        summary="Sentiment, price direction and strategy weights for a trading agent.",
        lifespan=lifespan,
        dependencies=[Depends(require_api_key)],
    )
    app.state.api_key = settings.api_key.get_secret_value() if settings.api_key else None
    app.state.metrics = Metrics()
    install_handlers(app)
    app.include_router(root.router)
    app.include_router(bayesian.router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)  # outermost: counts 413s too
    return app
