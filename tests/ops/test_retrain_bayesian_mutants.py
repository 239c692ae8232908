"""`investiq retrain`'s steps and the gateway's Bayesian strategy weights, pinned where a mutation audit found no
fast test that could fail (investiq/ops/retrain.py, gateway/services/bayesian.py). Nothing trains: the steps run
over recording stand-ins for training, export, the gate and the rollout; the Bayesian service over a journal file
in tmp_path."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest

from gateway.services import bayesian
from gateway.services.bayesian import BayesianService, SyncReport, TradeOutcome
from gateway.wiring import bayes_config
from harness.tiny_patchtst import TINY, tiny_meta
from investiq.core.bayes.posterior import Evidence, observe
from investiq.core.errors import ConflictError, DataError, InvalidInputError, JournalUnavailableError
from investiq.core.journal import JournalWriter, open_journal
from investiq.core.journal.timestamps import iso
from investiq.core.market import clean_bars, load_sample
from investiq.core.patchtst import PatchTSTMeta, TrainConfig
from investiq.core.settings import Settings
from investiq.ops import retrain as rt
from investiq.ops.patchtst import Bars, Series
from investiq.ops.retrain import (
    TIMEOUT_HINT,
    UNCHANGED,
    RetrainError,
    Run,
    Steps,
    Stopped,
    load_available,
    log_gate,
    new_run_dir,
    nothing_new,
    prune_runs,
    retrain,
    serving_config,
    signals_to,
)
from tests.fakes import Clock
from tests.gateway.test_api_bayesian import add_trades
from training.gate import GateError
from training.windows import seen_by, symbol_splits

# ---------------------------------------------------------------------------------------------------------------
# Steps: signals, failures, records


def steps_in(tmp_path: Path) -> tuple[Steps, list[str]]:
    said: list[str] = []
    return Steps(tmp_path, said.append), said


@pytest.mark.parametrize(("signum", "status", "hint"), [(signal.SIGTERM, 143, True), (signal.SIGINT, 130, False)])
def test_a_signal_between_steps_stops_the_next_one_at_its_start(
    tmp_path: Path, signum: signal.Signals, status: int, hint: bool
) -> None:
    """Kills retrain.py: Steps.step without its check of a signal received before it began (the next step ran),
    Stopped's status not 128 + the signal, and `again` giving the TimeoutStartSec hint to SIGINT, not SIGTERM."""
    steps, said = steps_in(tmp_path)
    with steps.step("backup"):
        pass
    steps.on_signal(signum, None)  # between steps: remembered, said, not raised
    assert said[-1] == f"== retrain: {signum.name} received during 'backup': the run stops before its next step"
    ran = False
    with pytest.raises(Stopped) as stopped, steps.step("data"):
        ran = True
    assert not ran and stopped.value.status == status
    message = str(stopped.value)
    assert message.startswith(
        f"stopped by {signum.name} at step 'data'\n{UNCHANGED}; run `investiq retrain` again"
    )
    assert message.endswith(TIMEOUT_HINT) is hint
    assert [(d["step"], d["status"]) for d in steps.done] == [("backup", "ok"), ("data", "stopped")]


def test_a_signal_inside_a_step_stops_it_where_it_stands(tmp_path: Path) -> None:
    """Kills Steps.on_signal raising only where signals are held (`if self._stoppable` inverted)."""
    steps, _ = steps_in(tmp_path)
    reached: list[str] = []

    def train() -> None:
        with steps.step("train"):
            steps.on_signal(signal.SIGINT, None)
            reached.append("after the signal")

    with pytest.raises(Stopped) as stopped:
        train()
    assert not reached and stopped.value.status == 130
    assert steps.done[-1]["status"] == "stopped"


def test_a_step_holding_signals_ends_and_the_next_one_stops(tmp_path: Path) -> None:
    """Kills Steps.step making every step stoppable (`_stoppable = True` whatever hold_signals says): a promotion
    is all or nothing, the signal waits for it to end."""
    steps, _ = steps_in(tmp_path)
    finished = False
    with steps.step("promote", hold_signals=True):
        steps.on_signal(signal.SIGTERM, None)
        finished = True
    assert finished and steps.done[-1]["status"] == "ok"
    with pytest.raises(Stopped), steps.step("bayesian", hold_signals=True):
        pass


def test_only_the_first_signal_counts(tmp_path: Path) -> None:
    """Kills Steps.on_signal without ignoring later signals (a Ctrl-C after SIGTERM renamed the run's stop)."""
    steps, said = steps_in(tmp_path)
    steps.on_signal(signal.SIGTERM, None)
    steps.on_signal(signal.SIGINT, None)
    assert steps.signal == signal.SIGTERM and len(said) == 1
    with pytest.raises(Stopped) as stopped, steps.step("data"):
        pass
    assert stopped.value.status == 143


def test_a_signal_after_a_step_ended_is_not_raised_outside_it(tmp_path: Path) -> None:
    """Kills Steps.step leaving the step stoppable once it ended (a signal between steps raised in the code
    between them, past every step's bookkeeping)."""
    steps, said = steps_in(tmp_path)
    with steps.step("backup"):
        pass
    steps.on_signal(signal.SIGTERM, None)  # must not raise here
    assert "received during 'backup'" in said[-1]


def test_a_failing_step_is_failed_and_says_nothing_changed(tmp_path: Path) -> None:
    """Kills Steps.step recording a failure as 'stopped', and its error without '... as they were before'."""
    steps, said = steps_in(tmp_path)
    with pytest.raises(RetrainError) as failed, steps.step("data"):
        raise DataError("no bars")
    assert not isinstance(failed.value, Stopped)
    assert str(failed.value) == f"step 'data' failed: no bars\n{UNCHANGED}"
    entry = steps.done[-1]
    assert (entry["step"], entry["status"], entry["error"]) == ("data", "failed", "no bars")
    assert said[-1] == "== retrain: data FAILED: no bars"
    lines = [json.loads(line) for line in (tmp_path / "steps.jsonl").read_text().splitlines()]
    assert lines == steps.done


def test_the_handlers_before_the_run_are_restored_after_it(tmp_path: Path) -> None:
    """Kills signals_to restoring SIG_DFL instead of the handlers it found (a caller's own handler lost)."""

    def mine(signum: int, frame: object) -> None:  # pragma: no cover - never called
        pass

    before_term = signal.signal(signal.SIGTERM, mine)
    before_int = signal.signal(signal.SIGINT, mine)
    try:
        steps = Steps(tmp_path, lambda _: None)
        with signals_to(steps):
            assert signal.getsignal(signal.SIGTERM) == steps.on_signal
            assert signal.getsignal(signal.SIGINT) == steps.on_signal
        assert signal.getsignal(signal.SIGTERM) is mine and signal.getsignal(signal.SIGINT) is mine
    finally:
        signal.signal(signal.SIGTERM, before_term)
        signal.signal(signal.SIGINT, before_int)


# ---------------------------------------------------------------------------------------------------------------
# run folders


def test_runs_in_the_same_second_get_numbered_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kills new_run_dir naming the first run `<stamp>-1` and reusing a folder that exists (exist_ok)."""
    first, second, third = (new_run_dir(tmp_path / "runs") for _ in range(3))
    assert first.is_dir() and second.is_dir() and third.is_dir()
    assert len({first, second, third}) == 3
    stamp = first.name
    assert len(stamp) == len("20261205T030000Z") and stamp.endswith("Z")
    if second.name.startswith(stamp):  # the same second (almost always)
        assert second.name == f"{stamp}-2"


def test_prune_runs_keeps_the_newest_keep_and_leaves_staging_folders_and_files(tmp_path: Path) -> None:
    """Kills prune_runs deleting one run more than keep says, and taking '.staging' folders for runs."""
    runs = tmp_path / "retrain"
    names = [f"2026110{d}T000000Z" for d in range(1, 6)]
    for name in names:
        (runs / name).mkdir(parents=True)
    (runs / ".candidate.staging-x").mkdir()
    said: list[str] = []
    prune_runs(runs, 3, said.append)
    assert sorted(p.name for p in runs.iterdir()) == [".candidate.staging-x", *names[2:]]
    assert said == [f"deleted the old retrain run {runs / n} (keep_retrain_runs=3)" for n in names[:2]]


def test_prune_runs_orders_runs_of_one_second_by_their_number(tmp_path: Path) -> None:
    """retrain.py:prune_runs: run folders sorted by name, so a second's tenth run (-10) came before its second
    (-2) and was deleted first, the newest run of all (fails before)."""
    runs = tmp_path / "retrain"
    stamp = "20261207T120000Z"
    names = [stamp, *(f"{stamp}-{n}" for n in range(2, 11))]
    for name in names:
        (runs / name).mkdir(parents=True)
    prune_runs(runs, 3, log=lambda _: None)
    assert sorted(p.name for p in runs.iterdir()) == sorted(names[-3:])


def test_prune_runs_never_deletes_the_current_run(tmp_path: Path) -> None:
    """Kills prune_runs without its `current` guard."""
    runs = tmp_path / "retrain"
    for name in ("20271205T030000Z", "20261205T055901Z"):
        (runs / name).mkdir(parents=True)
    prune_runs(runs, 1, lambda _: None, current=runs / "20261205T055901Z")
    assert sorted(p.name for p in runs.iterdir()) == ["20261205T055901Z", "20271205T030000Z"]


# ---------------------------------------------------------------------------------------------------------------
# the candidate's configuration


def test_serving_config_repeats_the_serving_models_and_takes_the_epochs_asked(tmp_path: Path) -> None:
    """Kills serving_config ignoring `epochs` (settings.retrain_epochs always)."""
    meta = tiny_meta("2020-01-01")
    config = serving_config(meta, Settings(retrain_epochs=7), 3, None)
    assert config == dataclasses.replace(TINY, epochs=3)
    assert serving_config(meta, Settings(retrain_epochs=7), None, None).epochs == 7


def test_an_artifact_without_train_config_takes_its_days_from_the_settings() -> None:
    """Kills serving_config's fallback for old artifacts using a constant for days, not settings.price_days."""
    meta = dataclasses.replace(tiny_meta("2020-01-01"), train_config={})
    config = serving_config(meta, Settings(price_days=123), None, None)
    assert (config.days, config.symbols, config.source, config.interval) == (123, ("SPX",), "sample", "1d")
    assert (config.context_length, config.prediction_length) == (TINY.context_length, TINY.prediction_length)


def csv_meta(csv_path: str | None) -> PatchTSTMeta:
    return PatchTSTMeta.of(dataclasses.replace(TINY, source="csv", csv_path=csv_path), "v1", "2020-01-01")


def test_csv_is_refused_for_a_model_not_trained_from_a_csv(tmp_path: Path) -> None:
    """Kills serving_config accepting --csv for a model trained on other bars."""
    with pytest.raises(RetrainError, match="--csv is for a model trained from a CSV file; the serving one was "):
        serving_config(tiny_meta("2020-01-01"), Settings(), None, tmp_path / "bars.csv")


def test_the_recorded_csv_wins_over_the_settings_and_csv_over_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kills serving_config reading settings.price_csv over the file the model recorded, and a relative --csv kept
    relative (the candidate records it, and the next retrain run elsewhere would not find it)."""
    settings = Settings(price_csv=tmp_path / "settings.csv")
    recorded = serving_config(csv_meta("/data/recorded.csv"), settings, None, None)
    assert recorded.csv_path == "/data/recorded.csv"
    assert serving_config(csv_meta(None), settings, None, None).csv_path == str(
        (tmp_path / "settings.csv").resolve()
    )
    monkeypatch.chdir(tmp_path)
    given = serving_config(csv_meta("/data/recorded.csv"), settings, None, Path("given.csv"))
    assert given.csv_path == str(tmp_path.resolve() / "given.csv")


# ---------------------------------------------------------------------------------------------------------------
# the data step


def frame(days: int, end: str = "2026-01-30") -> pd.DataFrame:
    index = pd.date_range(end=end, periods=days, freq="D")
    return pd.DataFrame({"close": np.linspace(100.0, 110.0, days)}, index=index)


class FakeLoad:
    """load_bars over a fixed set of symbols with bars; others raise DataError (`why` of each), `together` raises
    when several are asked at once."""

    def __init__(self, have: dict[str, pd.DataFrame], why: dict[str, str], together: str | None) -> None:
        self.have, self.why, self.together = have, why, together
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, source: str, symbols: tuple[str, ...], **_: Any) -> dict[str, tuple[pd.DataFrame, str]]:
        self.calls.append(tuple(symbols))
        if len(symbols) > 1 and self.together is not None:
            raise DataError(self.together)
        (symbol,) = symbols
        if symbol not in self.have:
            raise DataError(self.why[symbol])
        return {symbol: (self.have[symbol], f"cleaned {symbol}")}


BARS = Bars("csv", ("A", "B", "C"), 100, "1d", Path("bars.csv"))


def test_each_symbol_with_bars_is_kept_when_one_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kills load_available keeping the last symbol's bars alone (`=` for `|=`)."""
    fake = FakeLoad({"A": frame(5), "C": frame(6)}, {"B": "B has no rows"}, "B has no rows")
    monkeypatch.setattr("investiq.core.market.load_bars", fake)
    loaded, left_out = load_available(Settings(), BARS)
    assert sorted(loaded) == ["A", "C"] and left_out == {"B": "B has no rows"}


def test_symbols_that_load_one_by_one_but_not_together_raise_the_joint_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Kills load_available returning every symbol and no error when none fails alone (the joint failure, e.g. a
    file that cannot be read as a whole, swallowed)."""
    fake = FakeLoad({"A": frame(5), "B": frame(5), "C": frame(5)}, {}, "the file lost its symbol column")
    monkeypatch.setattr("investiq.core.market.load_bars", fake)
    with pytest.raises(DataError, match="the file lost its symbol column"):
        load_available(Settings(), BARS)


def test_none_with_bars_for_different_reasons_names_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kills load_available raising the joint error when the symbols fail for different reasons (`== 1` as
    `>= 1`): each symbol's reason is said."""
    why = {"A": "A delisted", "B": "B no rows", "C": "C no rows"}
    monkeypatch.setattr("investiq.core.market.load_bars", FakeLoad({}, why, "together"))
    with pytest.raises(DataError) as failed:
        load_available(Settings(), BARS)
    assert str(failed.value) == (
        "none of the serving model's symbols has bars now (A: A delisted; B: B no rows; C: C no rows)"
    )
    same = dict.fromkeys("ABC", "the file is gone")
    monkeypatch.setattr("investiq.core.market.load_bars", FakeLoad({}, same, "the file is gone"))
    with pytest.raises(DataError, match=r"^the file is gone$"):
        load_available(Settings(), BARS)


@dataclasses.dataclass
class Cleaning:
    """What load_bars reports of its cleaning (a stand-in: refresh logs it and reports its fields)."""

    symbol: str

    def __str__(self) -> str:
        return f"{self.symbol}: nothing dropped"


def make_run(
    tmp_path: Path, config: TrainConfig = TINY, meta: PatchTSTMeta | None = None
) -> tuple[Run, list[str]]:
    said: list[str] = []
    (tmp_path / "serving").mkdir(exist_ok=True)
    (tmp_path / "serving" / "artifact.json").write_text("{}")
    (tmp_path / "run").mkdir(exist_ok=True)
    settings = Settings(
        model_repository=tmp_path / "repo", models_dir=tmp_path / "models", data_dir=tmp_path / "d"
    )
    meta = meta or tiny_meta("2026-01-10", validated_until="2026-01-20")
    run = Run(
        settings, Steps(tmp_path / "run", said.append), tmp_path / "run", 4, tmp_path / "serving", meta, config, {}
    )
    return run, said


def test_refresh_leaves_a_symbol_without_bars_out_of_the_candidates_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kills refresh keeping a left-out symbol in the candidate's configuration (it would train on none)."""
    run, said = make_run(tmp_path, dataclasses.replace(TINY, symbols=("A", "B"), source="csv", csv_path="x.csv"))
    monkeypatch.setattr(rt, "trained_bars", lambda config: BARS)
    monkeypatch.setattr(rt, "load_available", lambda *_: ({"A": (frame(30), Cleaning("A"))}, {"B": "B gone"}))
    series = rt.refresh(run)
    assert list(series) == ["A"] and run.config.symbols == ("A",)
    assert run.report["symbols_left_out"] == {"B": "B gone"} and run.report["config"]["symbols"] == ("A",)
    assert "warning: B left out, it has no bars now: B gone" in said


def test_refresh_refuses_bars_that_end_before_the_serving_models_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kills refresh without check_fresh (a file cut short was judged on bars both models had seen)."""
    run, _ = make_run(tmp_path)
    monkeypatch.setattr(
        rt, "load_available", lambda *_: ({"SPX": (frame(30, end="2026-01-15"), Cleaning("SPX"))}, {})
    )
    with pytest.raises(GateError, match="before the serving model's last bar 2026-01-20"):
        rt.refresh(run)


# ---------------------------------------------------------------------------------------------------------------
# nothing new to train on


@pytest.fixture(scope="module")
def spx() -> Series:
    bars = clean_bars(load_sample("SPX"), "SPX", "1d")[0].tail(600)
    return {"SPX": (bars["close"].to_numpy(dtype=np.float64), bars.index.to_numpy())}


def served_on(series: Series, config: TrainConfig) -> PatchTSTMeta:
    """The artifact of a model of `config` trained on `series`: what it records of the bars it saw."""
    trained, validated, stats = seen_by(series, symbol_splits(series, config), config.prediction_length)
    return PatchTSTMeta.of(config, "v1", trained, train_stats=stats, validated_until=validated)


def test_an_artifact_without_validated_until_is_never_nothing_new(spx: Series) -> None:
    """Kills nothing_new without its check that the artifact recorded its configuration and what it validated on
    (an artifact without train_config failed the data step with a KeyError)."""
    meta = dataclasses.replace(served_on(spx, TINY), validated_until="")
    assert nothing_new(spx, TINY, meta) is None
    old = dataclasses.replace(served_on(spx, TINY), train_config={})  # an artifact from before train_config
    assert nothing_new(spx, TINY, old) is None


def test_another_configuration_is_something_new_another_file_is_not(spx: Series) -> None:
    """Kills nothing_new without its configuration check, and comparing the csv file too (the same bars from a
    moved file are nothing new)."""
    assert nothing_new(spx, dataclasses.replace(TINY, d_model=32), served_on(spx, TINY)) is None
    csv = dataclasses.replace(TINY, source="csv", csv_path="/old/bars.csv")
    moved = dataclasses.replace(csv, csv_path="/new/bars.csv")
    assert nothing_new(spx, moved, served_on(spx, csv)) is not None


def test_other_end_dates_are_something_new(spx: Series) -> None:
    """Kills nothing_new without its comparison of the end dates of training and validation."""
    meta = served_on(spx, TINY)
    later = dataclasses.replace(
        meta, validated_until=str(pd.Timestamp(meta.validated_until) + pd.Timedelta(days=1))
    )
    assert nothing_new(spx, TINY, later) is None


def test_one_statistic_off_is_something_new(spx: Series) -> None:
    """Kills nothing_new requiring any statistic to match instead of all."""
    meta = served_on(spx, TINY)
    key = sorted(meta.train_stats)[0]
    off = dataclasses.replace(meta, train_stats=meta.train_stats | {key: meta.train_stats[key] * 1.5 + 1.0})
    assert len(meta.train_stats) > 1 and nothing_new(spx, TINY, off) is None


def utc(stamp: str) -> pd.Timestamp:
    moment = pd.Timestamp(stamp)
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")


def test_the_same_instant_written_with_an_offset_is_the_same_end(spx: Series) -> None:
    """Kills _utc dropping the offset without converting to UTC (10:00+05:00 taken for 10:00 UTC)."""
    meta = served_on(spx, TINY)
    shifted = {
        f: utc(getattr(meta, f)).tz_convert("Asia/Karachi").isoformat()
        for f in ("trained_until", "validated_until")
    }
    assert "+05:00" in shifted["trained_until"]
    assert nothing_new(spx, TINY, dataclasses.replace(meta, **shifted)) is not None


def test_nothing_new_names_the_last_bar_of_all_symbols(spx: Series) -> None:
    """Kills nothing_new naming the earliest symbol's last bar (`min` for `max`)."""
    closes, stamps = spx["SPX"]
    two: Series = {"SPX": (closes, stamps), "B": (closes[:-5] * 2.0, stamps[:-5])}
    config = dataclasses.replace(TINY, symbols=("SPX", "B"))
    why = nothing_new(two, config, served_on(two, config))
    assert why is not None and why.startswith(f"nothing new to train on: the bars end on {stamps[-1]}, ")


# ---------------------------------------------------------------------------------------------------------------
# the steps after the data, over stand-ins


def gate_result(promote: bool, enough: bool) -> dict[str, Any]:
    decision = "passes" if promote else ("is rejected" if enough else "not enough evidence")
    return {
        "promote": promote,
        "enough_evidence": enough,
        "decision": decision,
        "horizon": 4,
        "candidate": {"mae": 0.01},
        "serving": {"mae": 0.02},
        "random_walk": {"mae": 0.03},
        "origins": 50,
        "bar_times": 25,
        "holdout_from": "2026-01-01",
        "holdout_to": "2026-01-25",
        "bootstrap": {"block": 5},
    }


class Stack:
    """Stand-ins for what run_steps and promote_candidate call: training, export, the gate, the rollout."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, candidate_version: str, gate: dict[str, Any]) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.resync_error: Exception | None = None
        self.rollback_error: Exception | None = None
        self.prune_error: OSError | None = None
        self.during_promote: Any = None
        series: Series = {"SPX": (np.ones(3), np.arange(3))}
        monkeypatch.setattr(rt, "refresh", lambda run: series)
        monkeypatch.setattr(rt, "nothing_new", lambda *_: None)

        def train(series: Series, config: TrainConfig, out: Path, log: Any) -> dict[str, Any]:
            self.calls.append(("train", config, out))
            return {"best_val_loss": 0.5, "epochs_run": 2, "train_windows": 40, "history": [1, 2]}

        def load_forecaster(directory: Path) -> tuple[str, PatchTSTMeta]:
            meta = tiny_meta("2026-01-10", validated_until="2026-01-20")
            return "forecaster", dataclasses.replace(meta, version=candidate_version)

        def write_export(forecaster: str, meta: PatchTSTMeta, out: Path, log: Any) -> None:
            (out / "model.onnx").write_text("graph")

        def compare(candidate: Path, serving: Path, *rest: Any) -> dict[str, Any]:
            self.calls.append(("compare", candidate.name, serving.name, *rest[1:]))
            return gate

        def promote(settings: Settings, source: Path, log: Any) -> int:
            self.calls.append(("promote", source.name))
            if self.during_promote is not None:
                self.during_promote()
            return 5

        def resync(settings: Settings) -> str:
            self.calls.append(("resync",))
            if self.resync_error is not None:
                raise self.resync_error
            return "synced"

        def rollback(settings: Settings, log: Any) -> int:
            self.calls.append(("rollback",))
            if self.rollback_error is not None:
                raise self.rollback_error
            return 4

        def prune_old(settings: Settings, log: Any) -> None:
            self.calls.append(("prune_old",))
            if self.prune_error is not None:
                raise self.prune_error

        monkeypatch.setattr("training.patchtst.train", train)
        monkeypatch.setattr("training.forecaster.load_forecaster", load_forecaster)
        monkeypatch.setattr("export.patchtst.write_export", write_export)
        monkeypatch.setattr("training.gate.compare", compare)
        monkeypatch.setattr("training.gate.onnx_model", lambda directory: directory)
        monkeypatch.setattr(rt, "promote", promote)
        monkeypatch.setattr(rt, "resync_bayesian", resync)
        monkeypatch.setattr(rt, "rollback", rollback)
        monkeypatch.setattr(rt, "prune_old", prune_old)

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


def test_a_passing_candidate_is_judged_against_the_serving_model_and_promoted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kills run_steps passing the serving model as the candidate to the gate (and the other way round), the
    training figures or the deciding rule left out of the report, and promote_candidate without prune_old."""
    stack = Stack(monkeypatch, "v2", gate_result(True, True))
    run, said = make_run(tmp_path)
    rt.run_steps(run)
    settings = run.settings
    assert stack.calls[1] == (
        "compare",
        "export",
        "serving",
        TINY,
        settings.promote_metric,
        settings.promote_tolerance,
    )
    assert stack.names() == ["train", "compare", "promote", "resync", "prune_old"]
    report = run.report
    assert report["outcome"] == "promoted" and report["promoted_version"] == 5
    assert report["training"] == {"best_val_loss": 0.5, "epochs_run": 2, "train_windows": 40}
    assert report["decision"] == "passes" and report["gate"]["origins"] == 50
    assert (tmp_path / "run" / "backup" / "patchtst-4" / "artifact.json").exists()
    assert "gate: candidate passes" in said
    assert any(
        line.startswith("  MAE (share of the last close, mean over 4 steps): candidate 0.01000") for line in said
    )


@pytest.mark.parametrize(("enough", "outcome"), [(True, "rejected"), (False, "not_enough_evidence")])
def test_a_candidate_that_does_not_pass_is_rejected_or_waits_for_evidence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enough: bool, outcome: str
) -> None:
    """Kills run_steps swapping 'rejected' and 'not_enough_evidence', and log_gate printing figures the gate did
    not compute (a KeyError without enough evidence)."""
    gate = gate_result(False, enough)
    if not enough:
        gate = {k: gate[k] for k in ("promote", "enough_evidence", "decision")}
    stack = Stack(monkeypatch, "v2", gate)
    run, said = make_run(tmp_path)
    rt.run_steps(run)
    assert run.report["outcome"] == outcome and "promote" not in stack.names()
    assert (
        said[-1]
        == f"version 4 keeps serving; to promote anyway: investiq models promote {tmp_path / 'run' / 'export'}"
    )


def test_log_gate_says_only_the_decision_without_evidence(tmp_path: Path) -> None:
    run, said = make_run(tmp_path)
    """Kills log_gate printing the figures of a gate that judged nothing (a KeyError, the run failed)."""
    log_gate(run, {"decision": "not enough evidence", "enough_evidence": False})
    assert said == ["gate: candidate not enough evidence"]


def test_a_candidate_with_the_serving_models_weights_is_not_judged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kills run_steps without its check of the candidate's version (the serving model judged against itself)."""
    stack = Stack(monkeypatch, "v1", gate_result(True, True))
    run, _ = make_run(tmp_path)
    rt.run_steps(run)
    assert stack.names() == ["train"] and run.report["outcome"] == "unchanged"
    assert run.report["decision"].startswith("not promoted: the candidate is the serving model's weights (v1)")


def test_nothing_new_ends_the_run_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kills run_steps going on to train when the data step found nothing new (`is not None` inverted)."""
    stack = Stack(monkeypatch, "v2", gate_result(True, True))
    monkeypatch.setattr(rt, "nothing_new", lambda *_: "nothing new to train on: x")
    run, said = make_run(tmp_path)
    rt.run_steps(run)
    assert stack.calls == [] and run.report["outcome"] == "unchanged"
    assert said[-1] == "nothing new to train on: x; version 4 keeps serving"


def test_a_failed_resync_rolls_the_promotion_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kills promote_candidate without its rollback (a version serving with weights never re-synced)."""
    stack = Stack(monkeypatch, "v2", gate_result(True, True))
    stack.resync_error = RuntimeError("gateway down")
    run, _ = make_run(tmp_path)
    with pytest.raises(RetrainError, match="step 'bayesian' failed: gateway down"):
        rt.run_steps(run)
    assert stack.names()[-3:] == ["promote", "resync", "rollback"]


def test_a_failed_rollback_says_the_first_line_of_the_failure_and_what_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kills promote_candidate's message quoting the whole failure (with 'unchanged', which is then untrue)."""
    from investiq.ops.lifecycle import RolloutError

    stack = Stack(monkeypatch, "v2", gate_result(True, True))
    stack.resync_error = RuntimeError("gateway down")
    stack.rollback_error = RolloutError("refused")
    run, _ = make_run(tmp_path)
    with pytest.raises(RetrainError) as failed:
        rt.run_steps(run)
    assert str(failed.value) == (
        "step 'bayesian' failed: gateway down\nand rolling back the promotion failed too: refused\n"
        "version 5 still serves: `investiq models rollback` once that is fixed"
    )
    assert UNCHANGED not in str(failed.value)


def test_old_versions_that_cannot_be_deleted_do_not_fail_a_promotion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Housekeeping after a promotion: old versions that cannot be deleted are a warning, the new one serves."""
    stack = Stack(monkeypatch, "v2", gate_result(True, True))
    stack.prune_error = PermissionError("read-only")
    run, said = make_run(tmp_path)
    rt.run_steps(run)
    assert run.report["outcome"] == "promoted" and said[-1] == "warning: could not delete old versions: read-only"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_the_promotion_lets_it_end_then_rolls_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signum: signal.Signals
) -> None:
    """Kills promote_candidate's promote step not holding signals (stopped half way: no rollback, a version
    installed and nothing said), and the bayesian step not holding them."""
    stack = Stack(monkeypatch, "v2", gate_result(True, True))
    run, _ = make_run(tmp_path)
    stack.during_promote = lambda: run.steps.on_signal(signum, None)
    with pytest.raises(Stopped) as stopped:
        rt.run_steps(run)
    assert stopped.value.status == 128 + signum
    assert run.report["promoted_version"] == 5 and stack.names()[-2:] == ["promote", "rollback"]
    assert [(d["step"], d["status"]) for d in run.steps.done][-2:] == [("promote", "ok"), ("bayesian", "stopped")]


def test_a_signal_during_the_resync_lets_it_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kills the bayesian step not holding signals (stopped inside the re-sync)."""
    stack = Stack(monkeypatch, "v2", gate_result(True, True))
    run, _ = make_run(tmp_path)

    def resync(settings: Settings) -> str:
        run.steps.on_signal(signal.SIGTERM, None)
        stack.calls.append(("resync",))
        return "synced"

    monkeypatch.setattr(rt, "resync_bayesian", resync)
    rt.run_steps(run)
    assert stack.names()[-3:] == ["promote", "resync", "prune_old"] and run.report["outcome"] == "promoted"


# ---------------------------------------------------------------------------------------------------------------
# retrain(): the report of every run


@pytest.fixture
def serving_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A serving version 4 (its artifact stood in), the settings of a retrain in tmp_path."""
    current = tmp_path / "repo" / "patchtst" / "4"
    current.mkdir(parents=True)
    monkeypatch.setattr(rt, "serving", lambda repository, model: 4)
    monkeypatch.setattr(rt, "version_dir", lambda repository, model, number: current)
    meta = tiny_meta("2026-01-10", validated_until="2026-01-20")
    monkeypatch.setattr(PatchTSTMeta, "load", classmethod(lambda cls, directory: meta))
    return Settings(model_repository=tmp_path / "repo", models_dir=tmp_path / "models", keep_retrain_runs=1)


def test_a_stopped_run_reports_the_signal_and_its_steps(
    serving_model: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kills retrain() leaving the signal's name out of report.json."""

    def stopped(run: Run) -> None:
        run.steps.on_signal(signal.SIGTERM, None)
        with run.steps.step("data"):
            pass

    monkeypatch.setattr(rt, "run_steps", stopped)
    with pytest.raises(Stopped):
        retrain(serving_model, log=lambda _: None)
    [run] = (serving_model.models_dir / "retrain").iterdir()
    report = json.loads((run / "report.json").read_text())
    assert report["signal"] == "SIGTERM" and report["outcome"] == "failed"
    assert [s["step"] for s in report["steps"]] == ["data"]


def test_a_signal_in_a_steps_bookkeeping_is_a_stopped_run(
    serving_model: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kills retrain() raising a plain RetrainError for a _Terminated that escaped the steps (exit status 1, not
    143)."""

    def terminated(run: Run) -> None:
        raise rt._Terminated(signal.SIGTERM, "gate")

    monkeypatch.setattr(rt, "run_steps", terminated)
    with pytest.raises(Stopped) as stopped:
        retrain(serving_model, log=lambda _: None)
    assert stopped.value.status == 143
    assert str(stopped.value).startswith("stopped by SIGTERM at step 'gate'\n")


def test_a_report_that_cannot_be_written_is_said_and_the_outcome_returned(
    serving_model: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kills retrain() raising the OSError of a report it cannot write (a promoted run said to have failed)."""

    def blocked(run: Run) -> None:
        (run.path / "report.json").mkdir()
        run.report["outcome"] = "promoted"

    monkeypatch.setattr(rt, "run_steps", blocked)
    said: list[str] = []
    report = retrain(serving_model, log=said.append)
    assert report["outcome"] == "promoted"
    assert any(line.startswith("warning: cannot write ") and "report.json" in line for line in said)


def test_the_run_just_made_survives_its_own_pruning_when_the_clock_went_back(
    serving_model: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kills retrain() pruning without naming its own run (keep_retrain_runs=1 and a run named in the future)."""
    future = serving_model.models_dir / "retrain" / "29991231T000000Z"
    future.mkdir(parents=True)
    monkeypatch.setattr(rt, "run_steps", lambda run: run.report.update(outcome="unchanged"))
    report = retrain(serving_model, log=lambda _: None)
    assert Path(report["run"]).is_dir() and (Path(report["run"]) / "report.json").exists()


# ---------------------------------------------------------------------------------------------------------------
# gateway/services/bayesian.py: the strategy weights over a journal file

NOW = 1_800_000_000.0


class Journal:
    """A journal file with its writer and the gateway's service on a clock the test holds."""

    def __init__(self, db: Path, seed: int | None = None) -> None:
        open_journal(db).close()
        self.db, self.clock = db, Clock(NOW)
        self.writer = JournalWriter(db)
        self.writer.start()
        config = bayes_config(Settings())
        if seed is not None:
            config = dataclasses.replace(config, seed=seed)
        self.service = BayesianService(self.writer, db, config, clock=self.clock)

    def rows(self, rows: list[tuple[str, float, float]]) -> None:
        """Rows (strategy, P&L, closed_ts) of the agent's trades table; their ids are 1, 2, ... in order."""
        add_trades(self.db, [(name, pnl, iso(ts)) for name, pnl, ts in rows])

    def update(self, name: str, **fields: Any) -> bool:
        outcome = TradeOutcome(
            name, fields.get("won"), fields.get("pnl"), fields.get("ts"), fields.get("trade_id")
        )
        counted, _ = asyncio.run(self.service.update(outcome))
        return counted

    def sync(self, days: int = 30) -> SyncReport:
        return asyncio.run(self.service.sync(days))


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "portfolio.db")
    yield j
    j.writer.close()


def test_an_update_without_closed_at_is_not_taken_for_a_synced_row_closed_now(journal: Journal) -> None:
    """Kills update recognising a synced row for an update that gave no closed_at (stamped now: it is another
    trade, closed after the row)."""
    journal.rows([("a", 5.0, NOW)])
    assert journal.sync().imported == 1
    assert journal.update("a", pnl=5.0) is True
    assert journal.update("a", pnl=5.0, ts=NOW) is False  # with its close time: the row's trade


def test_the_first_trade_of_a_strategy_is_learnt_from_its_close(journal: Journal) -> None:
    """Kills update starting a strategy's evidence at the time received instead of the trade's close, and the sync
    doing so (`Evidence(ref_ts=now)`): the same trade, learnt either way, is the same evidence."""
    closed = NOW - 20 * 86_400
    journal.update("a", pnl=4.0, ts=closed)
    journal.rows([("b", 4.0, closed)])
    journal.sync()
    half_life = journal.service.half_life_days
    expected = observe(Evidence(ref_ts=closed), closed, None, 4.0, half_life)
    stats = {s.strategy_name: s.evidence for s in asyncio.run(journal.service.all_stats())}
    assert stats["a"] == stats["b"] == expected


def test_sync_days_run_from_one_to_max_sync_days(journal: Journal) -> None:
    """Kills sync accepting 0 days, and refusing max_sync_days."""
    top = bayes_config(Settings()).max_sync_days
    with pytest.raises(InvalidInputError, match=f"days must be between 1 and {top}, got 0"):
        journal.sync(0)
    assert journal.sync(top).days == top
    with pytest.raises(InvalidInputError):
        journal.sync(top + 1)


def test_a_sync_of_one_day_takes_a_trade_closed_hours_ago(journal: Journal) -> None:
    """Kills sync's window one day short."""
    journal.rows([("a", 1.0, NOW - 12 * 3600), ("a", 1.0, NOW - 30 * 3600)])
    assert journal.sync(1).imported == 1


def test_a_journal_without_a_trades_table_is_a_conflict_not_the_callers_fault(journal: Journal) -> None:
    """Kills sync answering a broken trades table as invalid input (a 422 blaming the caller)."""
    with closing(sqlite3.connect(journal.db)) as conn:
        conn.execute("DROP TABLE trades")
        conn.commit()
    with pytest.raises(ConflictError, match=r"^cannot sync: "):
        journal.sync()


def test_steps_of_a_sync_take_every_row_and_skip_what_others_own(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kills sync's steps dropping a row at each step's end, the skipped rows of a step not added up, and a trade
    id recorded for another strategy counted."""
    monkeypatch.setattr(bayesian, "SYNC_STEP", 2)
    journal.update("other", pnl=1.0, ts=NOW - 86_400, trade_id="2")  # row 2's id, for another strategy
    journal.rows([("a", float(i + 1), NOW - 86_400 * (6 - i)) for i in range(5)])
    report = journal.sync()
    assert (report.imported, report.already_recorded) == (4, 0)
    assert report.skipped == {"trade id recorded for another strategy": 1}
    again = journal.sync()
    assert (again.imported, again.already_recorded) == (0, 4)
    assert again.skipped == {"trade id recorded for another strategy": 1}


def test_an_id_recorded_after_the_syncs_reading_is_looked_up(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kills _SyncStep.owner trusting the ids read before the first step (an update since: its id inserted again,
    the row neither learnt nor counted)."""
    journal.rows([("a", 3.0, NOW - 86_400)])
    journal.update("a", pnl=3.0, ts=NOW - 86_400, trade_id="1")
    monkeypatch.setattr("investiq.core.journal.bayesian.recorded_ids", lambda conn: {})  # read before that update
    report = journal.sync()
    assert (report.imported, report.already_recorded) == (0, 1)


def test_a_row_an_update_told_of_without_an_id_takes_the_rows_id(journal: Journal) -> None:
    """Kills the sync not attaching the row's id to the update's event (an update sending that id later was
    learnt again), and rows recognised as such updates not counted as recorded."""
    journal.update("a", pnl=2.0, ts=NOW - 86_400)
    journal.update("a", pnl=-1.0, ts=NOW - 2 * 86_400)
    journal.rows([("a", 2.0, NOW - 86_400), ("a", -1.0, NOW - 2 * 86_400)])
    report = journal.sync()
    assert (report.imported, report.already_recorded) == (0, 2)
    assert journal.update("a", pnl=2.0, ts=NOW - 86_400, trade_id="1") is False


def test_a_synced_row_keeps_its_id_so_an_update_with_it_is_a_retry(journal: Journal) -> None:
    """Kills the sync recording its events without the row's id."""
    journal.rows([("a", 2.0, NOW - 86_400)])
    journal.sync()
    assert journal.update("a", pnl=2.0, ts=NOW - 86_400, trade_id="1") is False


def test_the_state_records_when_it_was_saved(journal: Journal) -> None:
    """Kills update and the sync saving the state stamped with another time than now (updated_at)."""
    journal.update("a", pnl=1.0, ts=NOW - 3 * 86_400)
    journal.rows([("b", 1.0, NOW - 86_400)])
    journal.sync()
    with closing(sqlite3.connect(journal.db)) as conn:
        stamps = dict(conn.execute("SELECT strategy_name, updated_at FROM bayesian_state").fetchall())
    assert stamps == {"a": iso(NOW), "b": iso(NOW)}


def test_thompson_weights_follow_the_seed(tmp_path: Path) -> None:
    """Kills stats_from drawing with seed 0 whatever bayes_seed says."""
    weights = []
    for seed in (1, 2):
        j = Journal(tmp_path / f"{seed}.db", seed=seed)
        try:
            for i in range(12):
                j.update("a", pnl=1.0 + i % 3, ts=NOW - 3600 * (i + 1))
                j.update("b", pnl=0.5 + i % 4 - 1.2, ts=NOW - 3600 * (i + 1))
            weights.append([s.weight for s in asyncio.run(j.service.all_stats("thompson"))])
        finally:
            j.writer.close()
    assert weights[0] != weights[1]


def test_a_pnl_at_the_bound_is_learnt(journal: Journal) -> None:
    """Kills update refusing a P&L of exactly MAX_ABS_PNL (`>` as `>=`)."""
    assert journal.update("a", pnl=-bayesian.MAX_ABS_PNL) is True


def retry_conflict(journal: Journal, first: dict[str, Any], retry: dict[str, Any]) -> str | None:
    journal.update("a", trade_id="t", **first)
    try:
        counted = journal.update("a", trade_id="t", **retry)
    except ConflictError as exc:
        return str(exc)
    assert counted is False
    return None


def test_a_retry_a_second_off_is_the_same_trade(journal: Journal) -> None:
    """Kills changed_outcome refusing a retry exactly SAME_CLOSE_S off (`>` as `>=`)."""
    assert retry_conflict(journal, {"pnl": 1.0, "ts": NOW - 60}, {"pnl": 1.0, "ts": NOW - 59}) is None


def test_a_trade_sent_without_closed_at_takes_any_close_a_retry_gives(journal: Journal) -> None:
    """Kills changed_outcome comparing the close time of a trade recorded without one (stamped when it came), and
    update recording its events as a sync's (so that they seem to have been given a close time)."""
    assert retry_conflict(journal, {"pnl": 1.0}, {"pnl": 1.0, "ts": NOW - 3 * 86_400}) is None


def test_a_retry_adding_a_pnl_is_refused(journal: Journal) -> None:
    """Kills changed_outcome acknowledging a retry that adds a P&L to a trade learnt from won alone."""
    said = retry_conflict(journal, {"won": True, "ts": NOW - 60}, {"won": True, "pnl": 3.0, "ts": NOW - 60})
    assert said is not None and "no profit_loss (learnt from won alone); this update says 3.0" in said


def test_a_breakeven_is_a_loss_for_a_retry_too(journal: Journal) -> None:
    """Kills changed_outcome's won() taking a P&L of 0 for a win (the rule every trade is learnt by: > 0)."""
    assert retry_conflict(journal, {"pnl": 0.0, "ts": NOW - 60}, {"won": False, "ts": NOW - 60}) is None


def test_a_retry_that_says_nothing_of_the_outcome_is_the_same_trade(journal: Journal) -> None:
    """Kills changed_outcome comparing a recorded win with a retry that tells neither won nor P&L."""
    assert retry_conflict(journal, {"won": True, "ts": NOW - 60}, {"ts": NOW - 60}) is None


def test_an_update_answers_the_strategys_own_stats(journal: Journal) -> None:
    """Kills stats_of giving a strategy with state the prior's stats (`also` put in whatever the states hold)."""
    journal.update("a", pnl=2.0, ts=NOW - 86_400)
    _, stats = asyncio.run(journal.service.update(TradeOutcome("a", None, 3.0, NOW - 3600)))
    [held] = asyncio.run(journal.service.all_stats())
    assert stats.evidence == held.evidence and stats.evidence != Evidence(ref_ts=stats.evidence.ref_ts)


def test_trades_without_a_pnl_prove_a_strategy_for_the_win_rate_not_for_pnl(journal: Journal) -> None:
    """Kills stats_from judging `proven` by the default method whatever method weighed."""
    for i in range(40):
        journal.update("w", won=i % 3 > 0, ts=NOW - 3600 * (i + 1))
    [mean] = asyncio.run(journal.service.all_stats("mean"))
    [pnl] = asyncio.run(journal.service.all_stats("pnl"))
    assert (mean.proven, pnl.proven) == (True, False)


class SeeingWriter:
    """A stand-in journal writer: its jobs fail with `error`; `saw` records what the service told it."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error, self.seen = error, list[BaseException]()

    async def run(self, job: Any) -> Any:
        assert self.error is not None
        raise self.error

    def saw(self, error: BaseException) -> None:
        self.seen.append(error)


def service_over(writer: SeeingWriter, db: Path) -> BayesianService:
    return BayesianService(cast(JournalWriter, writer), db, bayes_config(Settings()), clock=Clock(NOW))


def test_a_stopped_writer_is_an_unavailable_journal(tmp_path: Path) -> None:
    """Kills _write letting the writer's RuntimeError (stopped) through as a 500 instead of a 503."""
    service = service_over(SeeingWriter(RuntimeError("journal writer is not running")), tmp_path / "j.db")
    with pytest.raises(
        JournalUnavailableError, match="could not record the change: journal writer is not running"
    ):
        asyncio.run(service.update(TradeOutcome("a", True, None, NOW)))


def test_a_journal_that_cannot_be_opened_or_read_is_told_to_the_writer(tmp_path: Path) -> None:
    """Kills _read keeping from the writer what a read found (the writer judges whether the file is damaged, and
    readiness with it): when the journal cannot be opened, and when a query fails."""
    missing = SeeingWriter()
    with pytest.raises(JournalUnavailableError):
        asyncio.run(service_over(missing, tmp_path / "gone" / "j.db").all_stats())
    assert len(missing.seen) == 1
    bare = tmp_path / "bare.db"
    with closing(sqlite3.connect(bare)) as conn:
        conn.execute("CREATE TABLE other (x INTEGER)")
        conn.commit()
    tableless = SeeingWriter()
    with pytest.raises(JournalUnavailableError, match="the journal could not be read: "):
        asyncio.run(service_over(tableless, bare).all_stats())
    assert [type(e) for e in tableless.seen] == [sqlite3.OperationalError]


def agents_table(db: Path, columns: str, rows: list[tuple[Any, ...]]) -> None:
    """The agent's own trades table in place of the journal's: `columns`, `rows`."""
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("DROP TABLE trades")
        conn.execute(f"CREATE TABLE trades ({columns})")
        conn.executemany(f"INSERT INTO trades VALUES ({', '.join('?' * len(rows[0]))})", rows)
        conn.commit()


def test_two_rows_with_one_id_are_one_trade(journal: Journal) -> None:
    """Kills the sync not noting the id of a row it learns (an agent's own trades table, its ids text and not
    unique: the second row with the id was neither learnt nor counted as recorded)."""
    row = ("x1", "a", 2.0, iso(NOW - 86_400))
    agents_table(journal.db, "id TEXT, strategy_name TEXT, profit_loss REAL, closed_at TEXT", [row, row])
    report = journal.sync()
    assert (report.imported, report.already_recorded) == (1, 1)


def test_rows_without_ids_are_counted_once_and_alike_rows_are_two_trades(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kills the sync not counting a row without an id that an update told of as recorded, and not marking the
    events it learnt as taken (two like rows in two steps: the second taken for the first's event)."""
    monkeypatch.setattr(bayesian, "SYNC_STEP", 1)
    journal.update("a", pnl=4.0, ts=NOW - 2 * 86_400)
    row = ("b", 2.0, iso(NOW - 86_400))
    told = ("a", 4.0, iso(NOW - 2 * 86_400))
    agents_table(journal.db, "strategy_name TEXT, profit_loss REAL, closed_at TEXT", [told, row, row])
    report = journal.sync()
    assert (report.imported, report.already_recorded) == (2, 1)


def test_the_refold_at_start_reads_with_the_services_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kills refold passing the journal's default busy timeout, not the one the service was given (a shared
    journal's longer wait, `db_busy_timeout_ms`, lost at start)."""
    asked: list[tuple[Any, ...]] = []

    def refold_in_steps(*args: Any) -> int:
        asked.append(args)
        return 0

    monkeypatch.setattr("investiq.core.journal.bayesian.refold_in_steps", refold_in_steps)
    writer = SeeingWriter()
    service = BayesianService(
        cast(JournalWriter, writer),
        tmp_path / "j.db",
        bayes_config(Settings()),
        busy_timeout_ms=12_345,
        clock=Clock(NOW),
    )
    assert asyncio.run(service.refold()) == 0
    assert asked == [(tmp_path / "j.db", writer, service.half_life_days, NOW, 12_345)]


def test_a_close_before_year_one_is_refused_as_invalid_input(journal: Journal) -> None:
    """Kills update without its range check of closed_at (a time no ISO text can hold failed in the journal
    writer, a 500)."""
    with pytest.raises(InvalidInputError, match="closed_at is outside 0001-01-01T00:00:00Z to 9999-12-31"):
        journal.update("a", pnl=1.0, ts=-1e12)
    assert asyncio.run(journal.service.all_stats()) == []
