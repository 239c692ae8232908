"""`create_app(settings, backend=None)`: the gateway, with heavy objects made in the lifespan."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from functools import partial

# scipy.stats (~0.8 s to import) is imported where it is used, when first needed, so that the CLI starts without
# it; the gateway loads it here, at start-up, so that no request waits for it and its objects are frozen with the
# rest (gateway/heap.py). The Bayesian service's credible intervals and the resolver's report use it.
import scipy.stats  # noqa: F401
from fastapi import Depends, FastAPI
from starlette.routing import Route

from gateway import fastlane
from gateway.backends.base import InferenceBackend
from gateway.docs import GLOBALS, saying_when_offline
from gateway.errors import install_handlers
from gateway.heap import settled
from gateway.metrics import Metrics
from gateway.middleware import (
    BodyLimitMiddleware,
    HostGuardMiddleware,
    MetricsMiddleware,
    RequestContextMiddleware,
)
from gateway.query import checked_query
from gateway.ratelimit import RateLimiter, RateLimitMiddleware
from gateway.routes import admin, bayesian, price, root, sentiment
from gateway.security import require_api_key
from gateway.services.bayesian import BayesianService
from gateway.services.health import HealthService
from gateway.services.models import ModelsService
from gateway.services.price import PriceService
from gateway.services.resolver import resolve_periodically
from gateway.services.retention import prune_periodically
from gateway.wiring import align_triton, bayes_config, build_backend, build_price, build_sentiment
from investiq import __version__
from investiq.core.errors import JournalUnavailableError
from investiq.core.journal import JournalWriter, open_journal
from investiq.core.settings import Settings

log = logging.getLogger(__name__)


def log_failure(task: asyncio.Task[None]) -> None:
    """Log what a background task raised (an asyncio task's exception is otherwise seen by no one)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("%s failed: %r", task.get_name(), exc, exc_info=exc)


def price_trained(service: PriceService) -> tuple[str, str, float] | None:
    """(model, version, training time in epoch seconds) of the price model served now, for the model age;
    None when none serves or its artifact predates trained_at."""
    meta = service.meta
    if meta is None or not meta.trained_at:
        return None
    trained = datetime.fromisoformat(meta.trained_at)
    if trained.tzinfo is None:  # written as UTC (investiq/core/patchtst.py)
        trained = trained.replace(tzinfo=timezone.utc)
    return meta.served_as(), meta.version, trained.timestamp()


def _docs_behind_the_key(app: FastAPI) -> None:
    """FastAPI serves its docs (/openapi.json, /docs, /docs/oauth2-redirect, /redoc) as plain Starlette routes,
    outside the app's dependencies: open to anyone even with a key set. Every route but the health checks requires
    the key, so they are served again by the same functions as API routes (outside the schema, as before), which
    take the app's dependencies, require_api_key among them. Without a key nothing changes. /docs and /redoc say
    why they are blank when their scripts cannot load (gateway/docs.py)."""
    docs = {app.openapi_url, app.docs_url, app.swagger_ui_oauth2_redirect_url, app.redoc_url} - {None}
    pages = {app.docs_url: GLOBALS["docs"], app.redoc_url: GLOBALS["redoc"]}  # each says why when blank
    plain = [r for r in app.router.routes if type(r) is Route and r.path in docs]
    for route in plain:
        app.router.routes.remove(route)
        endpoint = route.endpoint
        if route.path in pages and app.openapi_url is not None:
            endpoint = saying_when_offline(endpoint, pages[route.path], app.openapi_url)
        app.add_api_route(route.path, endpoint, methods=sorted(route.methods or {"GET"}), include_in_schema=False)


def create_app(
    settings: Settings, backend: InferenceBackend | None = None, *, clock: Callable[[], float] = time.time
) -> FastAPI:
    """The gateway app. `backend` serves the models (None: built from settings at start-up);
    `clock` (epoch seconds) is injectable so that tests can move time for the forgetting and the model age."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        open_journal(settings.db_path, settings.db_busy_timeout_ms).close()  # create / migrate, or fail
        models = backend if backend is not None else build_backend(settings)
        writer = JournalWriter(
            settings.db_path, settings.db_busy_timeout_ms, log_delay_s=settings.journal_log_delay_ms / 1000
        )
        writer.start()
        app.state.sentiment = build_sentiment(settings, models, writer, app.state.metrics)
        app.state.price = build_price(settings, models, writer, app.state.metrics)
        app.state.metrics.model_age.track("price", partial(price_trained, app.state.price))
        app.state.models = ModelsService(models, settings.model_repository, app.state.price)
        app.state.price.follow = app.state.models.adopt
        app.state.db_path = settings.db_path
        app.state.busy_timeout_ms = settings.db_busy_timeout_ms
        # beside serving, not before it: a Triton that does not answer held start-up up to 120 s a model and
        # server, and the liveness probe killed the gateway over and over (a review); not ready until it is done
        aligning = asyncio.create_task(align_triton(models, app.state.sentiment, app.state.price), name="triton")
        aligning.add_done_callback(log_failure)
        tasks = [aligning]
        if settings.price_resolve_every_s > 0:
            resolver = resolve_periodically(
                settings.db_path,
                writer,
                app.state.price.cache,
                app.state.price.fetch,
                settings.price_resolve_every_s,
                app.state.metrics,
                settings.db_busy_timeout_ms,
            )
            tasks.append(asyncio.create_task(resolver, name="price-resolver"))
        if settings.journal_retention_days > 0:
            pruning = prune_periodically(writer, settings.journal_retention_days)
            tasks.append(asyncio.create_task(pruning, name="journal-retention"))
        if app.state.price.skill is not None:
            skill = app.state.price.skill.refresh_periodically()
            tasks.append(asyncio.create_task(skill, name="price-skill"))
        service = BayesianService(
            writer,
            settings.db_path,
            bayes_config(settings),
            busy_timeout_ms=settings.db_busy_timeout_ms,
            clock=clock,
        )
        try:
            if refolded := await service.refold():
                log.info(
                    "Bayesian state of %d strategies replayed from their trades (folded with another "
                    "bayes_half_life_days, or by an older release)",
                    refolded,
                )
        except JournalUnavailableError as exc:  # reads replay it meanwhile: slower, still right
            log.warning("Bayesian state not refolded with the new half-life: %s", exc)
        app.state.writer = writer
        app.state.bayesian = service
        app.state.health = HealthService(
            writer, service, app.state.sentiment, app.state.price, models, __version__, aligning
        )
        try:
            with settled(app.state.metrics.gc_pause):  # the last step: start-up's objects out of collections
                yield
        finally:
            for task in tasks:
                task.cancel()
            await app.state.sentiment.scorer.close()
            await models.close()
            writer.close()  # flushes what is queued, the last predictions' logs included

    app = FastAPI(
        title="InvestIQ ML gateway",
        version=__version__,
        summary="Sentiment, price direction and strategy weights for a trading agent.",
        lifespan=lifespan,
        dependencies=[Depends(require_api_key), Depends(checked_query)],
        # No trailing-slash redirect: Starlette's answers before any route (so before the key check) with a
        # Location built from the Host header. /bayesian/weights/ is a 404 like any path that is not a route.
        redirect_slashes=False,
    )
    app.state.api_key = settings.api_key.get_secret_value() if settings.api_key else None
    app.state.api_key_env = settings.api_key_env  # named in a 401
    app.state.metrics = Metrics(clock)
    app.state.metrics.model_max_age.set(settings.max_model_age_days * 86400)
    install_handlers(app)
    _docs_behind_the_key(app)
    app.include_router(root.router)
    app.include_router(sentiment.router)
    app.include_router(price.router)
    app.include_router(bayesian.router)
    app.include_router(admin.router)
    fastlane.install(app, sentiment.predict)  # one headline, and one window: what the agent waits on most
    fastlane.install(app, price.predict)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        metrics=app.state.metrics,
        timeout_s=settings.http_body_timeout_s,
    )
    # Outside the body limit (an oversized request still costs a token), inside the metrics and the request
    # context (a 429 is counted and gets an access line and a request id). On app.state: tests set its clock.
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
    app.add_middleware(RateLimitMiddleware, limiter=app.state.rate_limiter, metrics=app.state.metrics)
    app.state.allowed_hosts = None  # every host; `investiq serve` narrows it (HostGuardMiddleware)
    app.add_middleware(HostGuardMiddleware, metrics=app.state.metrics)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)  # outside the body limit: counts 413s too
    # Outermost: every line logged below it carries the request id, 413s get an access line, and its
    # duration covers all the gateway does, while the metrics' latency leaves out writing the log line.
    app.add_middleware(RequestContextMiddleware)
    return app
