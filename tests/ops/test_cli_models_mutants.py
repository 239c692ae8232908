"""Kill tests of a mutation audit of the model commands' command line (investiq/cli/models.py: `export|train
finbert`, `bench ...`; investiq/cli/patchtst.py: `train|evaluate|export patchtst`): each fails with the mutant its
docstring names applied, and passes on the code as it is. They run the commands through click's CliRunner with
the layer below replaced by spies that record what they were asked (nothing trains, exports, benchmarks or
starts a server; no torch is imported for them)."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner, Result

import investiq.cli.models as cli_models
import investiq.cli.patchtst as cli_patchtst
from investiq.cli.main import main
from investiq.cli.patchtst import headline
from investiq.core.artifacts import META, METRICS
from investiq.core.patchtst import ONNX_FILE
from investiq.ops import patchtst as ops
from investiq.ops.lifecycle import RolloutError


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No config.yaml, every folder under tmp_path, never the network."""
    monkeypatch.chdir(tmp_path)
    for name in ("models_dir", "model_repository", "logs_dir", "data_dir"):
        monkeypatch.setenv(f"INVESTIQ_{name.upper()}", str(tmp_path / name))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def spy(calls: list[Any], returns: Any = None) -> Any:
    def record(*args: Any, **kwargs: Any) -> Any:
        calls.append(SimpleNamespace(args=args, kwargs=kwargs))
        return returns

    return record


# -- export finbert ---------------------------------------------------------------------------------------------


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The calls of export.finbert.export_finbert (a stand-in module: the real one imports torch)."""
    calls: list[Any] = []
    monkeypatch.setitem(sys.modules, "export.finbert", SimpleNamespace(export_finbert=spy(calls)))
    monkeypatch.setattr("investiq.ops.service.running", lambda settings: None)
    return calls


@pytest.mark.parametrize(("flag", "want"), [("--no-quantize", False), ("--quantize", True)])
def test_export_finbert_exports_the_source_into_the_repository_with_the_quantize_flag(
    tmp_path: Path, exported: list[Any], flag: str, want: bool
):
    """models.py:export finbert, `--source` ignored for the setting, `--repository` dropped from the settings,
    `--quantize/--no-quantize` dropped from the settings, or `quantize=True` passed whatever was asked (a user's
    own fine-tuned model or repository was not the one exported; --no-quantize still wrote INT8)."""
    ok(invoke("export", "finbert", "--source", "my/finbert", "--repository", str(tmp_path / "repo"), flag))
    [call] = exported
    assert call.args == ("my/finbert", tmp_path / "repo") and call.kwargs["quantize"] is want


def test_export_finbert_names_the_running_gateway_to_restart(monkeypatch: pytest.MonkeyPatch, exported: list[Any]):
    """models.py:export finbert, `if pid is not None` made `if pid is None` (a running gateway went on answering
    with the old model while the command said it serves from the next start, and the other way round)."""
    monkeypatch.setattr("investiq.ops.service.running", lambda settings: 4242)
    result = ok(invoke("export", "finbert", "--source", "x"))
    assert "the gateway running now (PID 4242) serves it after a restart" in result.output
    monkeypatch.setattr("investiq.ops.service.running", lambda settings: None)
    assert "a gateway serves it from its next start" in ok(invoke("export", "finbert", "--source", "x")).output


# -- train finbert ----------------------------------------------------------------------------------------------


@pytest.fixture
def tuned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Any]:
    calls: list[Any] = []
    monkeypatch.setattr(cli_models, "fine_tune", spy(calls))
    (tmp_path / "labels.csv").write_text("text,label\nShares rise,positive\n")
    return calls


def test_train_finbert_passes_the_hyperparameters_and_base_given(tmp_path: Path, tuned: list[Any]):
    """models.py:train finbert, the chosen hyperparameters dropped or `--base` ignored for the setting (a
    fine-tuning ran with the defaults, from another model, whatever the user asked)."""
    args = [
        "--epochs",
        "2",
        "--batch-size",
        "3",
        "--learning-rate",
        "0.5",
        "--val-fraction",
        "0.25",
        "--seed",
        "9",
    ]
    ok(invoke("train", "finbert", "--dataset", "labels.csv", "--base", "my/base", *args))
    [call] = tuned
    tuning = call.args[2]
    assert (tuning.base, tuning.epochs, tuning.batch_size, tuning.learning_rate) == ("my/base", 2, 3, 0.5)
    assert (tuning.val_fraction, tuning.seed) == (0.25, 9)
    assert call.args[:2] == (Path("labels.csv"), tmp_path / "models_dir" / "finbert-tuned")


def test_train_finbert_refuses_the_downloaded_base_model_as_output(tmp_path: Path, tuned: list[Any]):
    """models.py:train finbert, the ownership test `metrics.json beside config.json` made always true
    (`--output-dir models/finbert` replaced the downloaded model); the BadParameter made a plain error (exit 1,
    not the usage error's 2); the refusal dropped."""
    base = tmp_path / "finbert"
    base.mkdir()
    (base / "config.json").write_text("{}")
    result = invoke("train", "finbert", "--dataset", "labels.csv", "--output-dir", str(base))
    assert result.exit_code == 2 and "--output-dir" in result.output and not tuned, result.output
    (base / METRICS).write_text("{}")  # one this command wrote is replaced
    ok(invoke("train", "finbert", "--dataset", "labels.csv", "--output-dir", str(base)))
    assert tuned[0].args[1] == base


@pytest.mark.parametrize("bad", [["--val-fraction", "0.95"], ["--epochs", "0"]])
def test_train_finbert_refuses_hyperparameters_out_of_range(tuned: list[Any], bad: list[str]):
    """models.py:train finbert, --val-fraction's bound 0.9 raised to 1.0 or --epochs' bound 1 lowered to 0 (a
    validation split that leaves almost nothing to train on, or a run with no epoch, started)."""
    result = invoke("train", "finbert", "--dataset", "labels.csv", *bad)
    assert result.exit_code == 2 and not tuned, result.output


# -- bench ------------------------------------------------------------------------------------------------------


@pytest.fixture
def benched(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """The calls of each benchmark's run (and the summary's), by module."""
    import benchmarks.backends
    import benchmarks.finbert
    import benchmarks.gateway
    import benchmarks.gemm
    import benchmarks.patchtst
    import benchmarks.plots
    import benchmarks.scaling
    import benchmarks.suite

    calls: dict[str, list[Any]] = {}
    for module in ("suite", "finbert", "patchtst", "gateway", "scaling", "gemm", "backends"):
        monkeypatch.setattr(getattr(benchmarks, module), "run", spy(calls.setdefault(module, [])))
    monkeypatch.setattr(benchmarks.suite, "write_summary", spy(calls.setdefault("summary", [])))
    monkeypatch.setattr(benchmarks.finbert, "prepare_in_child", spy(calls.setdefault("prepare", []), ("m", "R")))
    monkeypatch.setattr(benchmarks.plots, "load", spy(calls.setdefault("load", []), {"loaded": 1}))
    return calls


def test_bench_alone_runs_the_suite_with_its_options_and_a_subcommand_runs_only_itself(
    tmp_path: Path, benched: dict[str, list[Any]]
):
    """models.py:bench, `invoked_subcommand is None` inverted (`bench` ran nothing, `bench gemm` ran every
    benchmark first); --seconds and --runs swapped; --no-triton ignored; the default work dir not MODELS_DIR/bench;
    the default 300 runs changed."""
    ok(invoke("bench", "--seconds", "2", "--runs", "50", "--no-triton", "--out", "o"))
    [suite] = benched["suite"]
    assert suite.args == (Path("o"), tmp_path / "models_dir" / "bench", 2.0, 50, False)
    ok(invoke("bench", "--out", "o", "--work-dir", "w"))
    assert benched["suite"][1].args == (Path("o"), Path("w"), 5.0, 300, True)
    ok(invoke("bench", "gemm", "--out", "o"))
    assert len(benched["suite"]) == 2 and len(benched["gemm"]) == 1


def test_bench_runs_are_at_least_twenty(benched: dict[str, list[Any]]):
    """models.py:bench, --runs' bound 20 lowered to 1 (p99 of a handful of calls reported as a figure)."""
    assert invoke("bench", "--runs", "19").exit_code == 2 and not benched["suite"]


def test_bench_summary_needs_every_result_it_reads(tmp_path: Path, benched: dict[str, list[Any]]):
    """models.py:bench summary, the first missing result overlooked (a FileNotFoundError traceback, or a
    summary of results that are not there). The command it suggests quotes the folder: `--out my results`
    ran nothing the user meant (the audit)."""
    from benchmarks.suite import SOURCES

    tmp_path = tmp_path / "my results"
    tmp_path.mkdir()
    for name in SOURCES[1:]:
        (tmp_path / name).write_text("{}")
    result = invoke("bench", "summary", "--out", str(tmp_path))
    assert result.exit_code == 1 and SOURCES[0] in result.output and not benched["summary"], result.output
    assert f"--out {shlex.quote(str(tmp_path))}`" in result.output, result.output
    (tmp_path / SOURCES[0]).write_text("{}")
    ok(invoke("bench", "summary", "--out", str(tmp_path)))
    assert benched["summary"][0].args == (tmp_path,)


def test_each_benchmark_gets_its_options_in_order(tmp_path: Path, benched: dict[str, list[Any]]):
    """models.py:bench finbert/patchtst/scaling/gemm, two numeric options swapped (--batch-size with
    --concurrency, --batch with --batch-runs), --seconds or --work-dir of `scaling` ignored, or `gemm` reading
    another result than finbert.json (figures recorded under the wrong heading, with a silently wrong load)."""
    ok(invoke("bench", "finbert", "--runs", "11", "--batch-size", "3", "--concurrency", "5", "--work-dir", "w"))
    assert benched["finbert"][0].args == (None, Path("w"), 11, 3, 5, Path("benchmarks/results"))
    ok(invoke("bench", "patchtst", "--runs", "9", "--batch", "7", "--batch-runs", "2", "--work-dir", "w"))
    assert benched["patchtst"][0].args == (Path("w"), 9, 7, 2, Path("benchmarks/results"))
    ok(invoke("bench", "scaling", "--seconds", "2", "--work-dir", "w", "--out", "o"))
    assert benched["prepare"][0].args == (None, Path("w"))
    assert benched["scaling"][0].args == ("R",) and benched["scaling"][0].kwargs == {
        "seconds": 2.0,
        "out": Path("o"),
    }
    ok(invoke("bench", "gemm", "--out", "o"))
    assert benched["load"][0].args == (Path("o") / "finbert.json",)
    assert benched["gemm"][0].args == ({"loaded": 1},) and benched["gemm"][0].kwargs == {"out": Path("o")}


def test_bench_gateway_resolves_the_other_checkout(tmp_path: Path, benched: dict[str, list[Any]]):
    """models.py:bench gateway, `against.resolve()` dropped (a relative `--against ../before` was run from the
    benchmark's own working folder, another checkout or none)."""
    (tmp_path / "before").mkdir()
    ok(invoke("bench", "gateway", "--runs", "20", "--against", "before", "--work-dir", "w"))
    assert benched["gateway"][0].args == (Path("w"), 20, Path("benchmarks/results"), tmp_path.resolve() / "before")


def test_bench_backends_uses_the_repository_concurrencies_and_its_own_triton_logs(
    tmp_path: Path, benched: dict[str, list[Any]]
):
    """models.py:bench backends, --repository dropped from the settings, the --concurrency values replaced by the
    defaults, or the Triton logs written into LOGS_DIR itself (beside the gateway's PID file and logs)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    args = ["--repository", str(repo), "--concurrency", "2", "--concurrency", "8", "--seconds", "1", "--out", "o"]
    ok(invoke("bench", "backends", *args))
    [call] = benched["backends"]
    assert call.args == (repo, [2, 8], 1.0, Path("o"), tmp_path / "logs_dir" / "triton-bench")


# -- train patchtst ---------------------------------------------------------------------------------------------


@pytest.fixture
def training(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Spies on the layer below `train patchtst`; set `metrics` to what the training returns."""
    seen: dict[str, Any] = {"metrics": {}, "train": []}
    monkeypatch.setattr(ops, "torchrun_command", lambda argv: None)
    monkeypatch.setattr(ops, "choose_bars", lambda settings, *args, **kw: seen.setdefault("settings", settings))

    def config_for(bars: Any, **hyper: Any) -> Any:
        seen["hyper"] = hyper
        return "config"

    def train_model(settings: Any, config: Any, out: Path, log: Any) -> dict[str, Any]:
        seen["train"].append(out)
        return dict(seen["metrics"])

    monkeypatch.setattr(ops, "config_for", config_for)
    monkeypatch.setattr(ops, "train_model", train_model)
    return seen


def test_train_patchtst_under_several_gpus_relaunches_and_exits_with_its_status(
    monkeypatch: pytest.MonkeyPatch, training: dict[str, Any]
):
    """patchtst.py:train, the torchrun branch never taken, its exit status replaced by 0, or its message dropped
    (on a multi-GPU machine it trained on one GPU, or a failed distributed run exited 0)."""
    relaunched: list[list[str]] = []

    def relaunch(command: list[str]) -> int:
        relaunched.append(command)
        return 3

    monkeypatch.setattr(ops, "torchrun_command", lambda argv: ["torchrun", *argv])
    monkeypatch.setattr(ops, "relaunch", relaunch)
    result = invoke("train", "patchtst")
    assert result.exit_code == 3 and relaunched and not training["train"], result.output
    assert "several GPUs visible: data-parallel training under torchrun" in result.output


def test_train_patchtst_says_which_epoch_it_kept_and_how_to_use_it(tmp_path: Path, training: dict[str, Any]):
    """patchtst.py:train, the best epoch taken by the highest validation loss or as the last one, the epoch count
    off by one, or the output folder not shell-quoted in the next commands (a path with a space broke them)."""
    training["metrics"] = {"curve": [{"epoch": e, "val_loss": v} for e, v in ((1, 0.5), (2, 0.2), (3, 0.3))]}
    out = tmp_path / "my models" / "p"
    result = ok(invoke("train", "patchtst", "--output-dir", str(out)))
    assert "best validation loss 2.000e-01 at epoch 2 of 3 (kept)" in result.output
    assert f"`investiq evaluate patchtst --model-dir '{out}'`" in result.output
    assert training["train"] == [out]


def test_train_patchtst_without_a_curve_still_says_what_is_next(training: dict[str, Any]):
    """patchtst.py:train, `metrics.get("curve") or []` made `metrics["curve"]` (a KeyError traceback after a
    training whose metrics hold no curve)."""
    assert "next: judge it with" in ok(invoke("train", "patchtst")).output


def test_train_patchtst_passes_hyperparameters_and_reads_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, training: dict[str, Any]
):
    """patchtst.py:train, the hyperparameters dropped before `config_for`, or --config ignored (its models_dir
    was not where the model went)."""
    monkeypatch.delenv("INVESTIQ_MODELS_DIR")  # the environment wins over the file
    config = tmp_path / "elsewhere.yaml"  # not ./config.yaml, which is read without --config
    config.write_text(f"models_dir: {tmp_path / 'mine'}\n")
    ok(invoke("train", "patchtst", "--config", str(config), "--epochs", "3", "--context-length", "32"))
    assert training["hyper"]["epochs"] == 3 and training["hyper"]["context_length"] == 32
    assert training["train"] == [tmp_path / "mine" / "patchtst"]


def test_train_patchtst_refuses_a_context_shorter_than_sixteen_bars(training: dict[str, Any]):
    """patchtst.py:train, --context-length's bound 16 lowered to 1 (a model that sees fewer bars than a
    patch)."""
    assert invoke("train", "patchtst", "--context-length", "15").exit_code == 2 and not training["train"]


def test_train_patchtst_replaces_only_its_own_earlier_output(tmp_path: Path, training: dict[str, Any]):
    """patchtst.py:_trained_here, the `no exported graph` condition dropped or the `metrics.json` condition
    dropped, or foreign_to's ownership test dropped (an exported version, or a folder with only an artifact.json,
    was replaced by the training)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / META).write_text("{}")
    refused = invoke("train", "patchtst", "--output-dir", str(out))
    assert refused.exit_code == 2 and "holds an output of another kind" in refused.output, refused.output
    (out / METRICS).write_text("{}")
    (out / ONNX_FILE).write_text("graph")
    refused = invoke("train", "patchtst", "--output-dir", str(out))
    assert refused.exit_code == 2 and not training["train"], refused.output
    (out / ONNX_FILE).unlink()
    ok(invoke("train", "patchtst", "--output-dir", str(out)))
    assert training["train"] == [out]


# -- evaluate patchtst ------------------------------------------------------------------------------------------

TABLES = "# PatchTST evaluation\n\n## Headline\n\n- MAE ratio 0.98\n\n## Per symbol\n\n| a |\n"


@pytest.fixture
def evaluated(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The calls of ops.evaluate_model; the report renders as TABLES (a stand-in for training.evaluate_report)."""
    calls: list[Any] = []
    monkeypatch.setattr(ops, "evaluate_model", spy(calls, {"report": 1}))
    monkeypatch.setitem(sys.modules, "training.evaluate_report", SimpleNamespace(render=lambda report: TABLES))
    return calls


def test_evaluate_patchtst_defaults(tmp_path: Path, evaluated: list[Any]):
    """patchtst.py:evaluate, the default cost 5 bps made 0, long-only made --allow-short, or the GARCH
    innovations' default "t" made "normal" (every report judged on other terms than documented)."""
    result = ok(invoke("evaluate", "patchtst"))
    [call] = evaluated
    _, directory, cost, short, out, _, csv, garch = call.args
    assert (directory, cost, short, out, csv, garch) == (
        tmp_path / "models_dir" / "patchtst",
        5.0,
        False,
        None,
        None,
        "t",
    )
    assert "(the tables are in report.md)" in result.output and "| a |" not in result.output


def test_evaluate_patchtst_passes_what_was_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, evaluated: list[Any]
):
    """patchtst.py:evaluate, --csv, --garch-dist, --model-dir or --config dropped on the way to the evaluation (the
    report judged another model, on other bars or another baseline, than the user named)."""
    monkeypatch.delenv("INVESTIQ_MODELS_DIR")  # the environment wins over the file
    (tmp_path / "m").mkdir()
    (tmp_path / "bars.csv").write_text("x\n")
    config = tmp_path / "elsewhere.yaml"  # not ./config.yaml, which is read without --config
    config.write_text(f"models_dir: {tmp_path / 'mine'}\n")
    args = [
        "--config",
        str(config),
        "--csv",
        "bars.csv",
        "--garch-dist",
        "normal",
        "--cost-bps",
        "2",
        "--allow-short",
    ]
    ok(invoke("evaluate", "patchtst", *args, "--model-dir", str(tmp_path / "m"), "--out", "o"))
    ok(invoke("evaluate", "patchtst", "--config", str(config)))
    first, second = evaluated
    assert first.args[1:5] == (tmp_path / "m", 2.0, True, Path("o")) and first.args[6:] == (
        Path("bars.csv"),
        "normal",
    )
    assert second.args[0].models_dir == tmp_path / "mine" and second.args[1] == tmp_path / "mine" / "patchtst"


def test_evaluate_patchtst_refuses_a_negative_cost(evaluated: list[Any]):
    """patchtst.py:evaluate, --cost-bps' bound 0 dropped (a negative cost turned trading into income)."""
    assert invoke("evaluate", "patchtst", "--cost-bps", "-1").exit_code == 2 and not evaluated


def test_the_headline_keeps_data_warnings_when_they_are_the_last_section():
    """patchtst.py:headline, `len(sections) > 2` made `> 3`, or the warnings section not shown (what cleaning the
    bars found went missing from the terminal when no table followed it)."""
    md = "# T\n\n## Headline\n\n- a\n\n## Data warnings\n\n- split-like jump\n"
    assert headline(md) == md
    assert headline(md + "\n## Tables\n\n| x |\n").endswith("- split-like jump\n\n(the tables are in report.md)")


# -- export patchtst --------------------------------------------------------------------------------------------


@pytest.fixture
def rollout(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The lock and the rollout of `export patchtst`, replaced: `seen` records the settings, whether the lock was
    held and the folder exported; set `error` to refuse the rollout."""
    seen: dict[str, Any] = {"locked": False, "error": None}

    @contextmanager
    def exclusive(settings: Any) -> Iterator[None]:
        seen["locked"] = True
        yield
        seen["locked"] = False

    def export_and_serve(settings: Any, export: Any, log: Any) -> None:
        seen["settings"], seen["locked_then"] = settings, seen["locked"]
        export()
        if seen["error"]:
            raise RolloutError(seen["error"])

    monkeypatch.setattr(cli_patchtst, "exclusive", exclusive)
    monkeypatch.setattr(cli_patchtst, "export_and_serve", export_and_serve)
    monkeypatch.setattr(ops, "export_model", lambda settings, directory, log: seen.setdefault("dir", directory))
    return seen


def test_export_patchtst_exports_the_model_asked_into_the_repository_asked_under_the_lock(
    tmp_path: Path, rollout: dict[str, Any]
):
    """patchtst.py:export, the lifecycle lock not taken, --repository dropped from the settings, or --model-dir
    ignored (an export raced a retrain, or installed the default model into the default repository)."""
    (tmp_path / "m").mkdir()
    ok(invoke("export", "patchtst", "--model-dir", "m", "--repository", str(tmp_path / "repo")))
    assert rollout["locked_then"] and rollout["dir"] == Path("m")
    assert rollout["settings"].model_repository == tmp_path / "repo"


def test_a_refused_rollout_is_an_error_that_says_why(rollout: dict[str, Any]):
    """patchtst.py:export, the RolloutError swallowed (exit 0 after the stack refused the version), or its reason
    dropped from the message."""
    rollout["error"] = "the gateway could not load version 3"
    result = invoke("export", "patchtst")
    assert result.exit_code == 1 and "the gateway could not load version 3" in result.output, result.output
    assert "exported, but the stack refused it" in result.output
