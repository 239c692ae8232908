"""Prometheus metrics of one gateway instance (its own registry: no module-level globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "investiq_http_requests_total",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "investiq_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "investiq_errors_total",
            "Requests answered with an error, by kind: the response body's `error`, except `validation` "
            "for requests that do not match the schema (their body says invalid_input).",
            ["kind"],
            registry=self.registry,
        )
        self.journal_committed = Gauge(
            "investiq_journal_committed_total", "Journal writes committed.", registry=self.registry
        )
        self.journal_failed = Gauge(
            "investiq_journal_failed_total", "Journal writes that failed.", registry=self.registry
        )
        self.journal_pending = Gauge(
            "investiq_journal_pending", "Journal writes queued, not yet committed.", registry=self.registry
        )

        self.sentiment_cache = Counter(
            "investiq_sentiment_cache_total",
            "Sentiment cache lookups by result (hit, miss).",
            ["result"],
            registry=self.registry,
        )
        self.sentiment_predictions = Counter(
            "investiq_sentiment_predictions_total",
            "Sentiment predictions by model and label.",
            ["model", "label"],
            registry=self.registry,
        )
        self.sentiment_cache_hit_rate = Gauge(
            "investiq_sentiment_cache_hit_rate",
            "Share of sentiment cache lookups that hit, since start.",
            registry=self.registry,
        )
        self.price_predictions = Counter(
            "investiq_price_predictions_total",
            "Price forecasts by direction.",
            ["direction"],
            registry=self.registry,
        )
        self.price_skill = Gauge(
            "investiq_price_skill",
            "Live skill of a price model version over a window, from resolved forecasts: hit_rate, "
            "always_up_rate, brier_skill, coverage80, coverage90, mae_ratio (to the random walk).",
            ["model_version", "window", "figure"],
            registry=self.registry,
        )
        self.price_skill_resolved = Gauge(
            "investiq_price_skill_resolved",
            "Resolved forecasts behind the live skill figures of a price model version over a window.",
            ["model_version", "window"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "investiq_batch_size",
            "Items per forward pass, by model.",
            ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )

    def count_error(self, kind: str) -> None:
        """`kind` is a code constant (an error class's `kind`, a fixed status map): never client text."""
        self.errors.labels(kind).inc()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
