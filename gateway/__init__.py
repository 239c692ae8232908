"""The FastAPI gateway: sentiment, price and Bayesian services behind one port, journaled to SQLite."""

from gateway.app import create_app

__all__ = ["create_app"]
