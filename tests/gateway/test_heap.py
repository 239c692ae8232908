"""gateway/heap.py: what start-up leaves alive is frozen out of full collections while the gateway serves,
collection pauses are observed, and everything goes back to the collector when it stops."""

from __future__ import annotations

import gc
import weakref

from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.heap import PauseObserver, resettle, settled
from gateway.metrics import Metrics
from investiq.core.settings import Settings
from tests.fakes import FakeBackend


class Cycle:
    """An object only the cyclic collector can free."""

    def __init__(self) -> None:
        self.me = self


def dropped_cycle() -> weakref.ref[Cycle]:
    return weakref.ref(Cycle())


def sample(metrics: Metrics, name: str, generation: str) -> float:
    value = metrics.registry.get_sample_value(name, {"generation": generation})
    return 0.0 if value is None else value


def test_objects_alive_at_start_are_skipped_by_collections_until_the_end():
    metrics = Metrics()
    kept = Cycle()
    gone = weakref.ref(kept)
    with settled(metrics.gc_pause):
        assert gc.get_freeze_count() > 0
        del kept
        gc.collect()
        assert gone() is not None  # frozen: a full collection does not walk it
        made_while_serving = dropped_cycle()
        gc.collect()
        assert made_while_serving() is None  # garbage made while serving is collected as before
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert gone() is None  # handed back to the collector on exit


def test_collection_pauses_are_observed_by_generation_while_settled_only():
    metrics = Metrics()
    with settled(metrics.gc_pause):
        before = sample(metrics, "investiq_gc_pause_seconds_count", "2")
        gc.collect(2)
        gc.collect(0)
        assert sample(metrics, "investiq_gc_pause_seconds_count", "2") >= before + 1
        assert sample(metrics, "investiq_gc_pause_seconds_count", "0") >= 1
        assert sample(metrics, "investiq_gc_pause_seconds_sum", "2") > 0
    after = sample(metrics, "investiq_gc_pause_seconds_count", "2")
    gc.collect(2)
    assert sample(metrics, "investiq_gc_pause_seconds_count", "2") == after  # the callback is gone


def test_resettle_frees_what_was_frozen_and_freezes_the_rest():
    metrics = Metrics()
    kept = Cycle()
    gone = weakref.ref(kept)
    with settled(metrics.gc_pause):
        del kept
        survivor = Cycle()
        resettle()
        assert gone() is None
        assert gc.get_freeze_count() > 0
        alive = weakref.ref(survivor)
        del survivor
        gc.collect()
        assert alive() is not None  # frozen by the resettle
    gc.collect()
    assert alive() is None


def test_the_gateway_freezes_at_start_up_and_exposes_the_pauses(settings: Settings):
    kept = Cycle()
    gone = weakref.ref(kept)
    app = create_app(settings, FakeBackend())
    with TestClient(app) as client:
        del kept
        gc.collect()
        assert gone() is not None
        text = client.get("/metrics").text
    assert "# TYPE investiq_gc_pause_seconds histogram" in text
    assert sample(app.state.metrics, "investiq_gc_pause_seconds_count", "2") >= 1  # the gc.collect() above
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert gone() is None


def test_a_collection_under_way_when_observing_starts_is_not_observed():
    metrics = Metrics()
    observer = PauseObserver(metrics.gc_pause)
    observer("stop", {"generation": 2, "collected": 0, "uncollectable": 0})  # its start came before
    assert sample(metrics, "investiq_gc_pause_seconds_count", "2") == 0
    observer("start", {"generation": 1})
    observer("stop", {"generation": 1, "collected": 0, "uncollectable": 0})
    assert sample(metrics, "investiq_gc_pause_seconds_count", "1") == 1
    assert sample(metrics, "investiq_gc_pause_seconds_sum", "1") < 1


def test_the_heap_stays_frozen_until_the_last_of_two_gateways_stops():
    outer, inner = Metrics(), Metrics()
    with settled(outer.gc_pause):
        with settled(inner.gc_pause):
            pass
        assert gc.get_freeze_count() > 0  # the outer one still serves
    assert gc.get_freeze_count() == 0
