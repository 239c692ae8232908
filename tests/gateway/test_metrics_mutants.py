"""Kill tests of a mutation audit of the gateway's Prometheus metrics (gateway/metrics.py): each fails with the
mutant its docstring names applied, and passes on the code as it is. They build a Metrics on its own registry
(no app, no server), feed it directly and read it back with get_sample_value or its rendered text; the model age
runs on a clock the test holds, never the wall clock."""

from __future__ import annotations

from gateway.metrics import Metrics

USUAL = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")  # written out: METHODS is under test


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    """The sample `name` with exactly `labels`, or None when there is no such series."""
    return metrics.registry.get_sample_value(name, labels)


def series(metrics: Metrics, name: str) -> list[dict[str, str]]:
    """The label sets of every sample named `name` (a family's series as a scrape sees them)."""
    return [dict(s.labels) for family in metrics.registry.collect() for s in family.samples if s.name == name]


def test_every_usual_method_keeps_its_own_label():
    """Mutants: PATCH, or HEAD, dropped from METHODS: a dashboard's PATCH or HEAD traffic shows up as `other`."""
    metrics = Metrics()
    for method in USUAL:
        metrics.observe_request(method, "/health", 200, 0.01)
    for method in USUAL:
        assert value(metrics, "investiq_http_requests_total", method=method, route="/health", status="200") == 1
    assert value(metrics, "investiq_http_requests_total", method="other", route="/health", status="200") is None


def test_a_method_in_lower_case_is_other_not_a_series_of_its_own():
    """Mutant: the method compared case-folded: `get`, `gEt`... each add a series per route (HTTP methods are
    case-sensitive; a client could multiply the series as it likes)."""
    metrics = Metrics()
    metrics.observe_request("get", "/health", 405, 0.01)
    assert value(metrics, "investiq_http_requests_total", method="other", route="/health", status="405") == 1
    assert value(metrics, "investiq_http_requests_total", method="get", route="/health", status="405") is None


def test_each_status_of_a_route_is_counted_on_its_own_series():
    """Mutants: the per-request cache keyed without the status, the status and route labels swapped, the count
    or the latency observation dropped, a request counted twice, or the latency labelled (route, method): a 404
    counted as the route's first status, or a latency panel with nothing in it."""
    metrics = Metrics()
    metrics.observe_request("GET", "/price/{symbol}", 200, 0.25)
    metrics.observe_request("GET", "/price/{symbol}", 404, 0.5)
    metrics.observe_request("GET", "/price/{symbol}", 200, 0.25)
    count = "investiq_http_requests_total"
    assert value(metrics, count, method="GET", route="/price/{symbol}", status="200") == 2
    assert value(metrics, count, method="GET", route="/price/{symbol}", status="404") == 1
    latency = "investiq_http_request_duration_seconds"
    assert value(metrics, f"{latency}_count", method="GET", route="/price/{symbol}") == 3
    assert value(metrics, f"{latency}_sum", method="GET", route="/price/{symbol}") == 1.0


def test_request_latency_buckets_reach_ten_seconds_and_start_at_one_millisecond():
    """Mutants: the 10 s latency bucket dropped, or the request latency given the inference buckets: a request
    of 7 s falls in +Inf only (the p99 panel reads infinity), or a 0.5 ms bucket the alerts do not expect."""
    metrics = Metrics()
    metrics.observe_request("GET", "/health", 200, 7.0)
    bucket = "investiq_http_request_duration_seconds_bucket"
    assert value(metrics, bucket, method="GET", route="/health", le="5.0") == 0
    assert value(metrics, bucket, method="GET", route="/health", le="10.0") == 1
    les = [s["le"] for s in series(metrics, bucket)]
    assert les[0] == "0.001" and "0.0005" not in les


def test_inference_latency_has_a_half_millisecond_bucket():
    """Mutants: INFERENCE_BUCKETS without 0.0005, or the inference latency given the request buckets: a fast
    ONNX batch of 0.3 ms is only known to be under 1 ms."""
    metrics = Metrics()
    metrics.inference_latency.labels("patchtst").observe(0.0003)
    bucket = "investiq_inference_duration_seconds_bucket"
    assert value(metrics, bucket, model="patchtst", le="0.0005") == 1


def test_gc_pauses_have_a_tenth_of_a_millisecond_bucket():
    """Mutant: GC_BUCKETS without 0.0001: a young-generation pause of 50 us is only known to be under 0.25 ms."""
    metrics = Metrics()
    metrics.gc_pause.labels("0").observe(0.00005)
    assert value(metrics, "investiq_gc_pause_seconds_bucket", generation="0", le="0.0001") == 1


def test_a_price_batch_of_a_thousand_falls_in_the_1024_bucket():
    """Mutant: the batch size's 1024 bucket dropped: a full price batch (up to 1,000) lands in +Inf only."""
    metrics = Metrics()
    metrics.batch_size.labels("patchtst").observe(1000)
    bucket = "investiq_batch_size_bucket"
    assert value(metrics, bucket, model="patchtst", le="512.0") == 0
    assert value(metrics, bucket, model="patchtst", le="1024.0") == 1


def test_the_journal_counters_say_committed_and_failed_each_in_its_own_series():
    """Mutants: update() swapping committed and failed, or either counter exposing the other's value: the
    journal-failure alert fires on successful writes, or never."""
    metrics = Metrics()
    metrics.journal.update(7, 2)
    assert value(metrics, "investiq_journal_committed_total") == 7
    assert value(metrics, "investiq_journal_failed_total") == 2


def test_the_model_age_is_now_minus_trained_by_task_model_and_version():
    """Mutants: the age computed as trained - now, read from the wall clock instead of the metrics' clock, or its
    labels given as (task, version, model): the stale-model alert compares the wrong number, or joins nothing."""
    metrics = Metrics(clock=lambda: 1_000_000.0)
    metrics.model_age.track("price", lambda: ("patchtst", "v3", 1_000_000.0 - 600.0))
    age = value(metrics, "investiq_model_age_seconds", task="price", model="patchtst", version="v3")
    assert age == 600.0


def test_a_model_trained_after_now_is_zero_seconds_old_not_negative():
    """Mutant: the age not floored at 0: an artifact trained on a machine whose clock runs ahead shows a negative
    age."""
    metrics = Metrics(clock=lambda: 1_000.0)
    metrics.model_age.track("price", lambda: ("patchtst", "v3", 1_060.0))
    assert value(metrics, "investiq_model_age_seconds", task="price", model="patchtst", version="v3") == 0.0


def test_a_task_whose_artifact_records_no_training_time_has_no_age_series():
    """Mutant: a source's None not skipped: /metrics fails on every scrape once a FinBERT export (no trained_at)
    is tracked, and the price model's age with it."""
    metrics = Metrics(clock=lambda: 1_000.0)
    metrics.model_age.track("sentiment", lambda: None)
    metrics.model_age.track("price", lambda: ("patchtst", "v3", 900.0))
    assert series(metrics, "investiq_model_age_seconds") == [
        {"task": "price", "model": "patchtst", "version": "v3"}
    ]
    assert b'investiq_model_age_seconds{model="patchtst",task="price",version="v3"} 100.0' in metrics.render()


def test_tracking_a_task_again_replaces_its_source():
    """Mutant: track() keeping a task's first source: after the gateway re-tracks price (a new service), the age
    still reads the old one."""
    metrics = Metrics(clock=lambda: 1_000.0)
    metrics.model_age.track("price", lambda: ("patchtst", "v1", 0.0))
    metrics.model_age.track("price", lambda: ("patchtst", "v2", 400.0))
    assert series(metrics, "investiq_model_age_seconds") == [
        {"task": "price", "model": "patchtst", "version": "v2"}
    ]


def test_a_hot_swap_leaves_only_the_new_version_in_model_info():
    """Mutants: the old series not removed, removed only when the version is the same, the served version not
    remembered, set to 0, or labelled (task, version, model): after a swap model_info names two versions (or
    none), and the per-version alerts join the wrong one."""
    metrics = Metrics()
    metrics.serve_model("price", "patchtst", "v1")
    metrics.serve_model("price", "patchtst", "v2")
    metrics.serve_model("price", "patchtst", "v2")  # the same again: kept
    metrics.serve_model("sentiment", "lexicon", "1")
    assert series(metrics, "investiq_model_info") == [
        {"task": "price", "model": "patchtst", "version": "v2"},
        {"task": "sentiment", "model": "lexicon", "version": "1"},
    ]
    assert value(metrics, "investiq_model_info", task="price", model="patchtst", version="v2") == 1
    metrics.serve_model("price", "random_walk", "v2")
    assert value(metrics, "investiq_model_info", task="price", model="random_walk", version="v2") == 1
    assert value(metrics, "investiq_model_info", task="price", model="patchtst", version="v2") is None


def test_backend_ready_sets_each_task_and_drops_the_tasks_no_longer_given():
    """Mutants: the removal of tasks no longer given dropped or computed the wrong way round, the tasks not
    remembered, or the value inverted: a task answered by the lexicon on purpose keeps a stale 0 (the alert
    fires), or a ready backend reads 0."""
    metrics = Metrics()
    metrics.backend_ready({"sentiment": True, "price": False})
    assert value(metrics, "investiq_backend_ready", task="sentiment") == 1
    assert value(metrics, "investiq_backend_ready", task="price") == 0
    metrics.backend_ready({"sentiment": True})
    assert series(metrics, "investiq_backend_ready") == [{"task": "sentiment"}]
    metrics.backend_ready({"price": True})
    assert series(metrics, "investiq_backend_ready") == [{"task": "price"}]


def test_render_exposes_this_gateways_own_registry():
    """Mutant: render() exposing the process-wide default registry: /metrics shows Python's process metrics and
    none of the gateway's."""
    metrics = Metrics()
    metrics.count_error("rate_limited")
    text = metrics.render().decode()
    assert 'investiq_errors_total{kind="rate_limited"} 1.0' in text.splitlines()
    assert "python_gc_objects_collected_total" not in text


def test_the_skill_gauge_takes_version_window_and_figure_in_that_order():
    """Mutant: the skill gauge's labels declared (model_version, figure, window): the skill service's positional
    labels(version, window, figure) put `judged` in `figure`, and the alerts on window="judged" read nothing."""
    metrics = Metrics()
    metrics.price_skill.labels("v1", "judged", "hit_rate").set(0.6)
    assert value(metrics, "investiq_price_skill", model_version="v1", window="judged", figure="hit_rate") == 0.6


def test_the_max_model_age_is_exposed_under_the_name_the_alert_compares_with():
    """Mutant: the gauge renamed investiq_model_max_age: the model-age alert's right-hand side reads nothing and
    it never fires."""
    metrics = Metrics()
    metrics.model_max_age.set(14 * 86400)
    assert value(metrics, "investiq_model_max_age_seconds") == 14 * 86400
