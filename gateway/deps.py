"""FastAPI dependencies: the objects the lifespan made, taken from app.state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.services.bayesian import BayesianService
from gateway.services.health import HealthService
from gateway.services.models import ModelsService
from gateway.services.price import PriceService
from gateway.services.sentiment import SentimentService


async def _bayesian(request: Request) -> BayesianService:
    service: BayesianService = request.app.state.bayesian
    return service


async def _health(request: Request) -> HealthService:
    service: HealthService = request.app.state.health
    return service


async def _sentiment(request: Request) -> SentimentService:
    service: SentimentService = request.app.state.sentiment
    return service


async def _price(request: Request) -> PriceService:
    service: PriceService = request.app.state.price
    return service


async def _models(request: Request) -> ModelsService:
    service: ModelsService = request.app.state.models
    return service


Bayesian = Annotated[BayesianService, Depends(_bayesian)]
Health = Annotated[HealthService, Depends(_health)]
Sentiment = Annotated[SentimentService, Depends(_sentiment)]
Price = Annotated[PriceService, Depends(_price)]
Models = Annotated[ModelsService, Depends(_models)]
