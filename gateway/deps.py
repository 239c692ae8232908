"""FastAPI dependencies: the objects the lifespan made, taken from app.state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.services.bayesian import BayesianService
from gateway.services.health import HealthService


def _bayesian(request: Request) -> BayesianService:
    service: BayesianService = request.app.state.bayesian
    return service


def _health(request: Request) -> HealthService:
    service: HealthService = request.app.state.health
    return service


Bayesian = Annotated[BayesianService, Depends(_bayesian)]
Health = Annotated[HealthService, Depends(_health)]
