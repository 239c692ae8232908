"""Every default is defined once: `up`, `train patchtst` and `retrain` follow the price_* settings.

The commands take no default of their own for the bars to train on; here the settings change (through
a config file, as a user changes a default) and each command is seen to ask for exactly those bars.
Training itself is replaced by a spy that records its configuration: these tests are about wiring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from investiq.cli.main import main
from investiq.core import market
from investiq.core.patchtst import PATCHTST, PatchTSTMeta, TrainConfig
from investiq.core.settings import Settings
from investiq.ops import bootstrap
from investiq.ops import patchtst as ops


class Stop(Exception):
    """Raised by the spies: the command got as far as training, with the configuration recorded."""


@pytest.fixture
def changed(tmp_path: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        "price_source: csv\nprice_symbols: [AAA, BBB]\nprice_interval: 1h\nprice_days: 123\n"
        f"price_csv: {tmp_path / 'bars.csv'}\nretrain_epochs: 7\n"
        f"models_dir: {tmp_path / 'models'}\nmodel_repository: {tmp_path / 'repo'}\n"
        f"data_dir: {tmp_path / 'data'}\n"
    )
    (tmp_path / "bars.csv").write_text("timestamp,open,high,low,close,symbol\n")
    return config


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    def load_bars(source: str, symbols: Any, **kw: Any) -> dict[str, Any]:
        seen.append({"load_bars": (source, tuple(symbols), kw["days"], kw["interval"], kw["csv_path"])})
        return {}

    def train(series: Any, config: TrainConfig, out: Path, log: Any = None, **_: Any) -> dict[str, Any]:
        seen.append({"train": config, "out": out})
        raise Stop

    import training.patchtst

    monkeypatch.setattr(market, "load_bars", load_bars)
    monkeypatch.setattr(ops, "load_bars", load_bars)
    monkeypatch.setattr(training.patchtst, "train", train)
    return seen


def bars_of(config: TrainConfig) -> tuple[Any, ...]:
    return (config.source, config.symbols, config.days, config.interval)


WANT = ("csv", ("AAA", "BBB"), 123, "1h")


def test_train_patchtst_takes_its_bars_and_output_dir_from_the_settings(changed: Path, spies: list[Any]):
    result = CliRunner().invoke(main, ["train", "patchtst", "--config", str(changed)])
    assert isinstance(result.exception, Stop), result.output
    trained = next(s for s in spies if "train" in s)
    assert bars_of(trained["train"]) == WANT
    assert trained["train"].csv_path == str(changed.parent / "bars.csv")
    assert trained["out"] == changed.parent / "models" / PATCHTST
    assert trained["train"].epochs == TrainConfig.__dataclass_fields__["epochs"].default


def test_up_trains_its_first_model_on_the_same_bars(
    changed: Path, spies: list[Any], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(bootstrap, "serve", lambda *a: None)
    monkeypatch.setattr(bootstrap, "prepare_finbert", lambda *a: None)
    result = CliRunner().invoke(main, ["up", "--config", str(changed), "--db", str(changed.parent / "p.db")])
    assert isinstance(result.exception, Stop), result.output
    assert spies[0]["load_bars"][:4] == WANT  # the reachability check, then training
    assert bars_of(next(s for s in spies if "train" in s)["train"]) == WANT


def test_retrain_falls_back_on_the_settings_and_takes_its_epochs_from_them(changed: Path, spies: list[Any]):
    settings = Settings(model_repository=changed.parent / "repo")
    serving = settings.model_repository / PATCHTST / "1"
    serving.mkdir(parents=True)
    # an artifact from before train_config was recorded: its days come from the settings
    PatchTSTMeta("v1", 64, 4, "1h", "log_return", ["AAA", "BBB"], "csv", "2026-01-01T00:00:00").save(serving)
    result = CliRunner().invoke(main, ["retrain", "--config", str(changed)])
    assert result.exit_code == 1 and "step 'train' failed" in result.output, result.output
    trained = next(s for s in spies if "train" in s)["train"]
    assert bars_of(trained) == WANT
    assert trained.epochs == 7
    assert spies[0]["load_bars"][4] == changed.parent / "bars.csv"
