"""Prometheus metrics of one gateway instance (its own registry: no module-level globals)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

METHODS = frozenset(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])  # labelled as sent

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
INFERENCE_BUCKETS = (0.0005, *LATENCY_BUCKETS)
GC_BUCKETS = (0.0001, 0.00025, *INFERENCE_BUCKETS)


class JournalCounters(Collector):
    """The journal writer's own running counts, exposed as counters.

    The writer counts its commits and failures itself (on its thread); a prometheus_client Counter can
    only be incremented, so mirroring them into one would take a delta per scrape. Exposing the writer's
    absolute numbers with the counter type is what they are: they only grow, and start from 0 with
    the process, which Prometheus' rate() reads as a counter reset."""

    def __init__(self) -> None:
        self.committed = 0
        self.failed = 0

    def update(self, committed: int, failed: int) -> None:
        self.committed, self.failed = committed, failed

    def describe(self) -> Iterator[Metric]:
        return self.collect()

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "investiq_journal_committed", "Journal writes committed by this process.", value=self.committed
        )
        yield CounterMetricFamily(
            "investiq_journal_failed", "Journal writes that failed in this process.", value=self.failed
        )


# What a model age source returns: (model, version, when it was trained in epoch seconds), or None.
Trained = Callable[[], tuple[str, str, float] | None]


class ModelAge(Collector):
    """investiq_model_age_seconds{task,model,version}: seconds since the model that serves a task was trained,
    computed at each scrape from the artifact it serves now (a hot swap needs no update). A task is tracked
    with a source that reads its served artifact; one whose artifact records no training time (FinBERT's
    exports do not) has no series."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._sources: dict[str, Trained] = {}

    def track(self, task: str, source: Trained) -> None:
        self._sources[task] = source

    def describe(self) -> Iterator[Metric]:
        return self.collect()

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "investiq_model_age_seconds",
            "Seconds since the served model version was trained (PatchTST: its artifact's trained_at).",
            labels=["task", "model", "version"],
        )
        now = self._clock()
        for task, source in self._sources.items():
            served = source()
            if served is not None:
                model, version, trained = served
                family.add_metric([task, model, version], max(0.0, now - trained))
        yield family


class Metrics:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        """`clock` (epoch seconds) dates the model age; tests move it."""
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
        self.journal = JournalCounters()  # investiq_journal_committed_total, investiq_journal_failed_total
        self.registry.register(self.journal)
        self.journal_writable = Gauge(
            "investiq_journal_writable",
            "1 while the journal writer runs on the file at the journal's path; 0 when it has stopped, or the "
            "file was moved, deleted or replaced under the gateway (its writes reach no one: restart it).",
            registry=self.registry,
        )
        self.journal_pending = Gauge(
            "investiq_journal_pending",
            "Journal writes queued or in the batch being committed, not yet committed.",
            registry=self.registry,
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
            "always_up_rate, edge_over_always_up (their paired difference), brier_skill, brier_skill_vs_coin, "
            "coverage80, coverage90 (and _gaps_ahead: of the forecasts whose intervals were fitted to the gaps "
            "ahead), mae_ratio (to the random walk); each with <figure>_ci95_low and _ci95_high, the ends of its "
            "95% interval, where it has one. Window 'judged' repeats the window /price/health judges on.",
            ["model_version", "window", "figure"],
            registry=self.registry,
        )
        self.price_symbol_worse = Gauge(
            "investiq_price_symbol_worse",
            "Live MAE ratio to the random walk of a symbol significantly worse than it in the window "
            "/price/health judges on, with every symbol judged accounted for (Bonferroni), which degrades "
            "/price/health; present only while it is.",
            ["model_version", "symbol"],
            registry=self.registry,
        )
        self.price_skill_resolved = Gauge(
            "investiq_price_skill_resolved",
            "Resolved forecasts behind the live skill figures of a price model version over a window.",
            ["model_version", "window"],
            registry=self.registry,
        )
        # the resolver, which scores forecasts against the bars that followed: while it cannot get bars, live
        # skill and /price/health judge on evidence that stops growing, and nothing else says so
        self.resolver_runs = Counter(
            "investiq_price_resolver_runs",
            "Passes of the price resolver by result: ok (it ran; symbols may have failed), failed (it raised).",
            ["result"],
            registry=self.registry,
        )
        self.resolved = Counter(
            "investiq_price_resolved",
            "Price forecasts resolved: scored against the bars that followed them, or found unscorable "
            "(investiq_price_unscorable_total).",
            registry=self.registry,
        )
        self.unscorable = Counter(
            "investiq_price_unscorable",
            "Price forecasts resolved without an outcome: the bars after them have a hole of over 5 days that the "
            "source cannot fill (an outage longer than it keeps bars, a market closed that long). Not in skill.",
            registry=self.registry,
        )
        self.forecasts_waiting = Gauge(
            "investiq_price_forecasts_waiting",
            "Price forecasts past their horizon that the resolver's last pass could not score (no bars yet).",
            registry=self.registry,
        )
        self.resolver_symbols_failing = Gauge(
            "investiq_price_resolver_symbols_failing",
            "Symbols whose bars the resolver's last pass could not get (the gateway's log names them and why).",
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "investiq_batch_size",
            "Items per inference backend call (a micro-batch; the embedded backend on a CPU runs a FinBERT "
            "batch in passes of texts of like length), by model.",
            ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),  # price batches go to 1,000 (Triton: 1,024)
            registry=self.registry,
        )
        self.inference_latency = Histogram(
            "investiq_inference_duration_seconds",
            "Seconds per inference backend call (one batch, failures included), by model.",
            ["model"],
            buckets=INFERENCE_BUCKETS,
            registry=self.registry,
        )
        self.model_info = Gauge(
            "investiq_model_info",
            "1 for each model and artifact version this gateway serves now, by task (sentiment, price): the model "
            "is what the answers name (finbert or lexicon; patchtst or random_walk), the task stays the same.",
            ["task", "model", "version"],
            registry=self.registry,
        )
        self._backend_ready = Gauge(
            "investiq_backend_ready",
            "1 when the inference backend can answer a task (sentiment, price) with the trained model it serves, "
            "0 when it cannot (Triton down, the model not loaded): its requests fail with 503. Set at each "
            "scrape; no series while a fallback answers the task on purpose (the lexicon, no model exported).",
            ["task"],
            registry=self.registry,
        )
        self.model_age = ModelAge(clock)
        self.registry.register(self.model_age)
        self.model_max_age = Gauge(
            "investiq_model_max_age_seconds",
            "The age past which the served price model counts as stale (setting max_model_age_days; 0: never); "
            "the model-age alert compares investiq_model_age_seconds with it.",
            registry=self.registry,
        )
        self.gc_pause = Histogram(
            "investiq_gc_pause_seconds",
            "Seconds per garbage collection in this process, by generation (0-2): the event loop stops for "
            "each (gateway/heap.py keeps start-up's objects out of them).",
            ["generation"],
            buckets=GC_BUCKETS,
            registry=self.registry,
        )
        self._serving: dict[str, tuple[str, str]] = {}
        self._ready_tasks: set[str] = set()
        # (method, route, status) -> its counter and histogram children: labels() takes a lock and builds a
        # key on every call. One entry per series that exists anyway (route templates, not raw paths).
        self._per_request: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def serve_model(self, task: str, model: str, version: str) -> None:
        """`task` ("sentiment", "price") is now answered by `model` at `version`: its model_info series
        replaces the one it had (a hot swap leaves no stale version behind)."""
        old = self._serving.get(task)
        if old is not None and old != (model, version):
            with contextlib.suppress(KeyError):
                self.model_info.remove(task, *old)
        self._serving[task] = (model, version)
        self.model_info.labels(task, model, version).set(1)

    def backend_ready(self, tasks: dict[str, bool]) -> None:
        """Each task's investiq_backend_ready from `tasks` (task -> can answer); the others' series go."""
        for task in self._ready_tasks - set(tasks):
            self._backend_ready.remove(task)
        for task, up in tasks.items():
            self._backend_ready.labels(task).set(float(up))
        self._ready_tasks = set(tasks)

    def count_error(self, kind: str) -> None:
        """`kind` is a code constant (an error class's `kind`, a fixed status map): never client text."""
        self.errors.labels(kind).inc()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        # a method outside HTTP's usual ones is "other": any client could add a series per method llhttp accepts
        # (PROPFIND, MKCOL, PURGE...) to every route, /metrics 16 KB -> 1.3 MB and 200 ms a scrape (a review)
        method = method if method in METHODS else "other"
        children = self._per_request.get((method, route, status))
        if children is None:
            children = self.requests.labels(method, route, str(status)), self.latency.labels(method, route)
            self._per_request[method, route, status] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
