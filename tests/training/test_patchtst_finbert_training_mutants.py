"""The training loops of PatchTST (`training/patchtst.py`) and FinBERT (`training/finbert.py`): what each epoch
trains on and in which mode, which epoch is kept, when training stops, what the artifact says and how it is
written. Each test here kills mutants that every other test survived (a mutation audit); its docstring names them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import stat
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from numpy.typing import NDArray
from safetensors.torch import load_file

from harness import tiny_bert
from harness.tiny_patchtst import TINY
from investiq.core.finbert import MAX_TOKENS
from investiq.core.patchtst import PatchTSTMeta
from investiq.core.texts import LabeledDataError
from training import finbert, patchtst
from training.calibrate import calibrate
from training.finbert import (
    FinetuneConfig,
    fine_tune,
    lacking,
    load_pretrained,
    local,
    macro_f1,
    path_like,
    stratified_split,
    unloadable,
)
from training.forecaster import WEIGHTS, Forecaster, pinball, standardised_targets
from training.windows import make_dataset

Series = dict[str, tuple[NDArray[np.float64], NDArray[Any]]]


def _quiet(_: str) -> None:
    """A log that says nothing."""


def _walk(n: int = 400, seed: int = 5) -> Series:
    """One symbol's random walk of `n` daily closes (400: 209 training and 52 validation windows of TINY)."""
    rng = np.random.default_rng(seed)
    closes = np.asarray(100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))), dtype=np.float64)
    return {"X": (closes, np.arange(n, dtype=np.int64).astype("datetime64[D]"))}


def _parameters(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in net.named_parameters()}


def _assert_saved(model_dir: Path, want: dict[str, torch.Tensor]) -> None:
    """The artifact's network weights (calibration sets buffers only) are `want`."""
    saved = load_file(str(model_dir / WEIGHTS))
    for name, value in want.items():
        torch.testing.assert_close(saved[name], value, rtol=1e-5, atol=1e-7, msg=name)


# --- PatchTST ----------------------------------------------------------------------------------------------------


def test_an_epoch_is_adamw_descent_on_minibatches_of_the_seeded_permutation(tmp_path: Path) -> None:
    """One epoch of `train` is what a plain loop does: the network initialised under the config's seed, AdamW at
    the config's rate, minibatches of the permutation drawn from a generator seeded with the config's seed, each
    step on its own batch's gradient. The saved weights (calibration sets buffers only) are that loop's.
    Mutants (training/patchtst.py:train): torch.manual_seed(config.seed) dropped; the shuffle's generator seeded 0,
    or not used (the global RNG); a batch slice starting one window late; optimizer.zero_grad() dropped (gradients
    accumulate) or moved after backward (no step moves anything)."""
    config = dataclasses.replace(TINY, epochs=1, seed=3, batch_size=48, learning_rate=1e-3)
    series = _walk()
    patchtst.train(series, config, tmp_path / "m", log=_quiet)

    data = make_dataset(series, config)
    x, y = (torch.from_numpy(a) for a in data.train)
    torch.manual_seed(config.seed)
    net = Forecaster(config).train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.learning_rate)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(config.seed))
    for start in range(0, len(x), config.batch_size):
        i = order[start : start + config.batch_size]
        u, target = standardised_targets(net, x[i], y[i])
        loss = pinball(u, target, net.levels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    _assert_saved(tmp_path / "m", _parameters(net))


class _Spy:
    """Records every loss computed through training/patchtst.py's `standardised_targets` and `pinball`: the
    network's mode, whether autograd was on, the batch's windows and the loss."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[dict[str, Any]] = []
        self.calibrated_in_training_mode: list[bool] = []

        def spy_targets(net: Forecaster, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            self.calls.append({"training": net.training, "grad": torch.is_grad_enabled(), "x": x.detach().clone()})
            return standardised_targets(net, x, y)

        def spy_loss(u: torch.Tensor, target: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
            out = pinball(u, target, levels)
            self.calls[-1]["loss"] = float(out.detach())
            return out

        def spy_calibrate(forecaster: Forecaster, *args: Any) -> dict[str, Any]:
            self.calibrated_in_training_mode.append(forecaster.training)
            result: dict[str, Any] = calibrate(forecaster, *args)
            return result

        monkeypatch.setattr(patchtst, "standardised_targets", spy_targets)
        monkeypatch.setattr(patchtst, "pinball", spy_loss)
        monkeypatch.setattr(patchtst, "calibrate", spy_calibrate)

    def trained(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["grad"]]


def test_each_epoch_trains_on_every_window_once_in_training_mode_and_validates_in_eval_mode_without_grad(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two epochs: each trains on every training window once, in training mode (dropout on) with autograd, then
    scores every validation window in eval mode without autograd; the curve's train loss is the mean of the epoch's
    batch losses and its validation loss the mean over windows (batches weighted by their size: 48 and 4 windows);
    calibration sees the network in eval mode (`save(net.cpu())` without `.eval()` is an equivalent mutant: the
    last validation left it so).
    Mutants (training/patchtst.py): train: model.train() dropped (the second epoch trains in eval mode); the
    curve's train loss the last batch's; train_windows counting validation windows; evaluate_loss: model.eval()
    dropped; torch.no_grad() dropped; batch means not weighted by size; the sum divided by the number of
    batches."""
    spy = _Spy(monkeypatch)
    config = dataclasses.replace(TINY, epochs=2, patience=5, batch_size=48, learning_rate=1e-3)
    metrics = patchtst.train(_walk(), config, tmp_path / "m", log=_quiet)
    data = make_dataset(_walk(), config)
    n_train, n_val = len(data.train[0]), len(data.val[0])
    assert (metrics["train_windows"], metrics["val_windows"]) == (n_train, n_val) == (209, 52)
    steps, checks = math.ceil(n_train / 48), math.ceil(n_val / 48)
    assert len(spy.calls) == 2 * (steps + checks) and metrics["epochs_run"] == 2
    for epoch in range(2):
        first = epoch * (steps + checks)
        fit, scored = spy.calls[first : first + steps], spy.calls[first + steps : first + steps + checks]
        assert all(c["training"] and c["grad"] for c in fit), epoch
        assert not any(c["training"] or c["grad"] for c in scored), epoch
        assert sum(len(c["x"]) for c in fit) == n_train and sum(len(c["x"]) for c in scored) == n_val
        curve = metrics["curve"][epoch]
        assert curve["train_loss"] == pytest.approx(np.mean([c["loss"] for c in fit]), rel=1e-12)
        weighted = sum(c["loss"] * len(c["x"]) for c in scored) / n_val
        assert curve["val_loss"] == pytest.approx(weighted, rel=1e-12)
    assert spy.calibrated_in_training_mode == [False]


def test_a_plateau_stops_training_after_patience_epochs_without_a_better_validation_loss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At a learning rate of 0 the validation loss is the same every epoch: the first epoch is the best, a tie is
    no improvement, and training stops once `patience` (2) epochs in a row did not improve: after epoch 3 of 6.
    Mutants (training/patchtst.py:train): `val_loss < best` as `<=` (a plateau never stops); `stale >= patience` as
    `>` (one epoch too many); `stale += 1` as `stale = 1` (it never reaches 2)."""
    config = dataclasses.replace(TINY, epochs=6, patience=2, batch_size=128, learning_rate=0.0)
    metrics = patchtst.train(_walk(), config, tmp_path / "m", log=_quiet)
    losses = [c["val_loss"] for c in metrics["curve"]]
    assert losses == [losses[0]] * 3 and metrics["epochs_run"] == 3
    assert metrics["best_val_loss"] == losses[0]


def test_the_best_epoch_is_saved_and_reported_not_the_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validation losses 2, 1, 3 (faked; the weights each epoch really trained are recorded): the artifact holds
    the second epoch's weights, and the metrics report 1 as the best validation loss.
    Mutants (training/patchtst.py:train): the best state not cloned (it aliases the live weights: the last epoch's
    were saved); the best state never loaded back; best_val_loss the last epoch's."""
    scripted, snapshots = iter([2.0, 1.0, 3.0]), []

    def evaluate_loss(net: Forecaster, *_: Any, **__: Any) -> float:
        snapshots.append(_parameters(net))
        return next(scripted)

    monkeypatch.setattr(patchtst, "evaluate_loss", evaluate_loss)
    config = dataclasses.replace(TINY, epochs=3, patience=5, batch_size=128, learning_rate=1e-2)
    metrics = patchtst.train(_walk(), config, tmp_path / "m", log=_quiet)
    assert [c["val_loss"] for c in metrics["curve"]] == [2.0, 1.0, 3.0] and metrics["best_val_loss"] == 1.0
    assert not torch.equal(snapshots[1]["head.weight"], snapshots[2]["head.weight"])  # the epochs differ
    _assert_saved(tmp_path / "m", snapshots[1])


def test_no_epoch_starts_once_the_time_budget_is_spent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A clock that moves 10 s each time it is read: with a 15 s budget the first epoch starts (10 s spent) and the
    second does not (20 s); with 5 s none does, and the untrained head (the random walk: a zero head) is saved.
    Mutants (training/patchtst.py): train: the budget doubled; the budget ignored; the `best_state is not None`
    guard dropped (no epoch: a crash); _agree: one process never stops (the budget and early stopping ignored)."""
    ticks = iter(range(0, 10_000, 10))
    monkeypatch.setattr(patchtst, "time", SimpleNamespace(monotonic=lambda: float(next(ticks))))
    config = dataclasses.replace(TINY, epochs=3, patience=5, batch_size=128)
    assert patchtst.train(_walk(), config, tmp_path / "a", log=_quiet, budget_s=15)["epochs_run"] == 1
    lines: list[str] = []
    metrics = patchtst.train(_walk(), config, tmp_path / "b", log=lines.append, budget_s=5)
    assert metrics["epochs_run"] == 0 and metrics["curve"] == [] and metrics["best_val_loss"] == math.inf
    assert "time budget of 5 s spent: stopping before epoch 1" in lines
    head = load_file(str(tmp_path / "b" / WEIGHTS))["head.weight"]
    assert torch.count_nonzero(head) == 0


@pytest.fixture
def as_rank(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Makes `train` run as `rank` of two torchrun processes, in this one: no process group (DDP, the barrier and
    the agreement are stand-ins), the same code path otherwise."""
    import torch.distributed as dist
    import torch.nn.parallel

    monkeypatch.setattr(torch.nn.parallel, "DistributedDataParallel", lambda model, device_ids=None: model)
    monkeypatch.setattr(dist, "barrier", lambda: None)
    monkeypatch.setattr(dist, "destroy_process_group", lambda: None)
    monkeypatch.setattr(patchtst, "_agree", lambda stop, world: stop)

    def become(rank: int) -> None:
        monkeypatch.setattr(patchtst, "_device", lambda: (rank, torch.device("cpu"), 2))

    return become


def test_two_ranks_train_on_equal_disjoint_shares_and_only_rank_0_logs_and_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_rank: Callable[[int], None]
) -> None:
    """Data-parallel training on 209 training windows (odd): each of the two ranks trains on 104 of them (DDP needs
    as many steps on every rank), none on both; rank 1 neither logs nor writes the artifact.
    Mutants (training/patchtst.py:train): the shares not cut to a multiple of the world size (rank 0 trains on
    105); `rank != 0` as `rank == 0` for the silent log. (The real two-process run,
    tests/training/test_patchtst.py, has an even count and survived the first.)"""
    config = dataclasses.replace(TINY, epochs=1, batch_size=128)
    shares: list[set[bytes]] = []
    logs: list[list[str]] = []
    for rank in (0, 1):
        as_rank(rank)
        spy = _Spy(monkeypatch)
        lines: list[str] = []
        patchtst.train(_walk(), config, tmp_path / f"rank{rank}", log=lines.append)
        windows = torch.cat([c["x"] for c in spy.trained()])
        assert len(windows) == 104, rank
        shares.append({w.numpy().tobytes() for w in windows})
        logs.append(lines)
    assert len(shares[0]) == len(shares[1]) == 104 and not shares[0] & shares[1]
    assert logs[0] and logs[1] == []
    assert (tmp_path / "rank0" / WEIGHTS).is_file() and not (tmp_path / "rank1").exists()


def test_evaluate_loss_is_the_mean_over_windows_in_eval_mode_at_any_batch_size() -> None:
    """On a network with a trained-looking head, left in training mode (dropout 0.2): the loss over 52 windows in
    batches of 5 (the last of 2) is the loss in one batch, again the same on a second call, and the network is left
    in eval mode.
    Mutants (training/patchtst.py:evaluate_loss): model.eval() dropped; batch means not weighted by their size; the
    sum divided by the number of batches."""
    data = make_dataset(_walk(), TINY)
    x, y = (torch.from_numpy(a) for a in data.val)
    torch.manual_seed(0)
    net = Forecaster(TINY)
    with torch.no_grad():
        net.head.weight.normal_(0, 0.5)
    net.train()
    cpu = torch.device("cpu")
    batched = patchtst.evaluate_loss(net, x, y, 5, cpu)
    assert not net.training
    net.train()
    assert patchtst.evaluate_loss(net, x, y, 5, cpu) == batched
    assert patchtst.evaluate_loss(net, x, y, len(x), cpu) == pytest.approx(batched, rel=1e-6)


def test_the_baseline_artifact_says_why_carries_its_dates_and_version_and_is_readable_by_others(
    tmp_path: Path,
) -> None:
    """The untrained baseline: its calibration rule starts with why it was written, its metrics record the reason
    and the version the artifact names, the artifact's dates are the dataset's (trained until the last training
    target, validated until the last validation target), and the weights are 0644 (safetensors writes 0600).
    Mutants (training/patchtst.py): save: the baseline's rule prefix on the wrong artifacts; weights left 0600;
    trained_until and validated_until swapped; the metrics without the version; baseline: no baseline_reason."""
    series, out = _walk(), tmp_path / "m"
    metrics = patchtst.baseline(series, TINY, out, "a test", log=_quiet)
    meta, data = PatchTSTMeta.load(out), make_dataset(series, TINY)
    assert metrics["baseline_reason"] == "a test" and metrics["version"] == meta.version
    assert meta.calibration["rule"].startswith("untrained baseline (a test); ")
    assert (meta.trained_until, meta.validated_until) == (data.trained_until, data.validated_until)
    assert meta.trained_until < meta.validated_until
    assert stat.S_IMODE((out / WEIGHTS).stat().st_mode) == 0o644
    assert json.loads((out / "metrics.json").read_text())["version"] == meta.version


def test_a_failure_while_writing_the_artifact_leaves_the_previous_one_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The artifact is staged and swapped in: when its last file fails to write (the curve's plot), the directory
    holds the previous artifact, file for file.
    Mutant (training/patchtst.py:save): written in place, not staged."""
    out = tmp_path / "m"
    patchtst.baseline(_walk(), TINY, out, "the first", log=_quiet)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(curve: Any, path: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(patchtst, "plot_curve", broken)
    with pytest.raises(OSError, match="disk full"):
        patchtst.baseline(_walk(seed=6), TINY, out, "the second", log=_quiet)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_the_curve_plots_each_loss_under_its_own_label(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutant (training/patchtst.py:plot_curve): the validation line drawn from the train losses."""
    import matplotlib.pyplot as plt

    figures: list[Any] = []
    close = plt.close

    def keep(fig: Any = None) -> None:
        figures.append(fig)
        close(fig)

    monkeypatch.setattr(plt, "close", keep)
    curve = [{"epoch": 1, "train_loss": 0.9, "val_loss": 0.7}, {"epoch": 2, "train_loss": 0.8, "val_loss": 0.75}]
    patchtst.plot_curve(curve, tmp_path / "curve.png")
    lines = {line.get_label(): list(line.get_ydata()) for line in figures[0].axes[0].get_lines()}
    assert lines == {"train": [0.9, 0.8], "validation": [0.7, 0.75]}
    assert (tmp_path / "curve.png").stat().st_size > 0


# --- FinBERT: the split, the score, where the weights come from --------------------------------------------------


def test_the_split_ignores_row_order_follows_the_seed_and_keeps_every_row() -> None:
    """Rows of three labels (8, 3 and 2 of them) at a fifth held out: each label holds out round(n / 5) but at
    least one (2, 1, 1), every row lands in exactly one part, the split does not depend on which label's rows come
    first, and another seed draws another split.
    Mutants (training/finbert.py:stratified_split): labels taken in first-seen order, not sorted (the split
    depended on the file's row order); the seed ignored; no minimum of one, and a label of two rows held out none
    (each: the label of two held out none); round as floor (8 rows held out 1); a row lost between the two parts.
    """
    pos = [(f"p{i}", "positive") for i in range(8)]
    neg = [(f"n{i}", "negative") for i in range(3)]
    neu = [(f"u{i}", "neutral") for i in range(2)]
    train, val = stratified_split(pos + neg + neu, 0.2, seed=1)
    assert sorted(train + val) == sorted(pos + neg + neu)
    held = {label: sum(1 for _, lab in val if lab == label) for label in ("positive", "negative", "neutral")}
    assert held == {"positive": 2, "negative": 1, "neutral": 1}
    assert stratified_split(neu + neg + pos, 0.2, seed=1) == (train, val)
    assert any(stratified_split(pos + neg + neu, 0.2, seed=s)[1] != val for s in range(2, 6))


def test_macro_f1_leaves_out_a_class_absent_from_truth_and_predictions() -> None:
    """Mutant (training/finbert.py:macro_f1): a class neither true nor predicted scored 0, not left out."""
    truth, pred = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])
    assert macro_f1(truth, pred, 3) == pytest.approx((2 / 3 + 0.8) / 2)


def test_path_like_sources_are_directories_and_model_ids_are_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`~/models/finbert`, `C:\\models\\finbert` and `a/b/c` are directories, `owner/name` and `name` model ids; a
    ~ is expanded to the home directory, and a folder there holding a model's files can be loaded.
    Mutants (training/finbert.py): path_like: `owner/name` taken for a path; ~ not path-like; a backslash not
    path-like; local: ~ not expanded."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")
    assert path_like("~/models/finbert") and path_like("C:\\models\\finbert") and path_like("a/b/c")
    assert not path_like("ProsusAI/finbert") and not path_like("finbert")
    assert local("~/m") == str(tmp_path / "m") and local("ProsusAI/finbert") == "ProsusAI/finbert"
    (tmp_path / "m").mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (tmp_path / "m" / name).write_text("{}")
    assert unloadable("~/m") is None
    windows = "C:\\models\\finbert"
    assert unloadable(windows) == f"{windows!r} is not a local directory"


def test_a_file_or_a_folder_short_of_one_need_is_no_model(tmp_path: Path) -> None:
    """A file is not a local directory (not a folder lacking a model's files); a folder with a config and weights
    but no tokenizer names the tokenizer as what it lacks.
    Mutants (training/finbert.py): unloadable: is_dir() as exists(); lacking: one missing need tolerated."""
    file = tmp_path / "weights.bin"
    file.write_text("")
    assert unloadable(str(file)) == f"{str(file)!r} is not a local directory"
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "pytorch_model.bin").write_text("")
    assert lacking(folder) == (
        f"the folder {str(folder)!r} has no tokenizer (tokenizer.json or vocab.txt): it is not a Hugging Face "
        "model folder"
    )


def test_a_tokenizer_that_cannot_be_built_or_is_not_fast_is_a_weights_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tokenizer whose loading raises ValueError is a WeightsError naming the first line of why; one without a
    fast (Rust) tokenizer is refused.
    Mutants (training/finbert.py:load_pretrained): ValueError not caught (a traceback, not the advice); the is_fast
    check dropped."""
    import transformers

    from investiq.core.finbert import WeightsError

    folder = tmp_path / "m"
    folder.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (folder / name).write_text("{}")

    def unbuildable(source: str) -> Any:
        raise ValueError("no tokenizer class fits\nthe details")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", unbuildable)
    with pytest.raises(WeightsError, match=r"cannot load FinBERT weights: no tokenizer class fits\.\n"):
        load_pretrained(str(folder))
    monkeypatch.setattr(
        transformers.AutoTokenizer, "from_pretrained", lambda source: SimpleNamespace(is_fast=False)
    )
    model = SimpleNamespace(eval=lambda: None)  # never reached: the tokenizer is refused first
    monkeypatch.setattr(transformers.AutoModelForSequenceClassification, "from_pretrained", lambda source: model)
    with pytest.raises(WeightsError, match="has no fast tokenizer"):
        load_pretrained(str(folder))


def test_fine_tuning_reads_texts_as_long_as_the_gateway_serves_them() -> None:
    """Mutant (training/finbert.py:FinetuneConfig): max_tokens' default other than the served MAX_TOKENS."""
    assert FinetuneConfig(base="x").max_tokens == MAX_TOKENS


def test_a_split_with_nothing_to_train_on_is_refused_before_loading_the_base(tmp_path: Path) -> None:
    """Every text held out (a validation fraction of 1): refused, as nothing held out is.
    Mutant (training/finbert.py:fine_tune): only an empty validation part refused."""
    path = tmp_path / "data.csv"
    path.write_text("text,label\na,positive\nb,positive\nc,negative\nd,negative\n")
    config = FinetuneConfig(base=str(tmp_path / "no-model-needed"), val_fraction=1.0)
    with pytest.raises(LabeledDataError, match="0 to train on and 4 to validate on"):
        fine_tune(path, tmp_path / "out", config, log=_quiet)


# --- FinBERT: the fine-tuning loop on the tiny BERT --------------------------------------------------------------

CAPITALISED = {0: "Positive", 1: "Negative", 2: "Neutral"}  # as some checkpoints name them
LONG = " ".join(tiny_bert.CORPUS)  # about 50 tokens
ROWS = [
    (text + " again" * i, ("positive", "negative", "neutral")[j % 3])
    for i in range(5)
    for j, text in enumerate(tiny_bert.CORPUS)
] + [(LONG, "neutral")]  # 15 positive, 15 negative, 11 neutral: 3, 3 and 2 held out at a fifth


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT, its labels capitalised in its config."""
    return tiny_bert.build(tmp_path_factory.mktemp("finbert") / "base", labels=CAPITALISED)


def _dataset(path: Path) -> Path:
    import csv

    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(ROWS)
    return path


class _Tokenizer:
    """The real tokenizer, recording each call's texts and encoded width; `fail_save` makes saving fail."""

    def __init__(self, real: Any, calls: list[dict[str, Any]]) -> None:
        self.real, self.calls, self.fail_save = real, calls, False

    def __call__(self, texts: list[str], **kwargs: Any) -> Any:
        enc = self.real(texts, **kwargs)
        self.calls.append({"texts": list(texts), "width": enc["input_ids"].shape[1]})
        return enc

    def save_pretrained(self, out: Path) -> Any:
        if self.fail_save:
            raise OSError("disk full")
        return self.real.save_pretrained(out)


class _Recorder:
    """Loads the base through the real `load_pretrained` and records, for each forward pass, the model's mode,
    whether autograd was on, the labels, the loss or the logits, and the classifier's gradient of that batch's loss
    alone; and, at each optimiser step, the classifier's gradient the step used. With `fail_save`, saving the
    tokenizer fails."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_save: bool = False) -> None:
        self.passes: list[dict[str, Any]] = []
        self.tokenized: list[dict[str, Any]] = []
        self.stepped_with: list[torch.Tensor] = []
        self.tokenizer: _Tokenizer | None = None
        self.model: Any = None
        real_load = finbert.load_pretrained

        def load(source: str, then: str = finbert.EXPORT_NEXT) -> tuple[Any, Any]:
            model, tokenizer = real_load(source, then)
            model.register_forward_hook(self._record, with_kwargs=True)
            self.model, self.tokenizer = model, _Tokenizer(tokenizer, self.tokenized)
            self.tokenizer.fail_save = fail_save
            return model, self.tokenizer

        recorder = self

        class AdamW(torch.optim.AdamW):
            def step(self, closure: Any = None) -> Any:
                grad = recorder.model.classifier.weight.grad
                recorder.stepped_with.append(torch.zeros(0) if grad is None else grad.clone())
                return super().step(closure)

        monkeypatch.setattr(finbert, "load_pretrained", load)
        monkeypatch.setattr(torch.optim, "AdamW", AdamW)

    def _record(self, module: Any, args: Any, kwargs: dict[str, Any], output: Any) -> None:
        labels = kwargs.get("labels")
        row: dict[str, Any] = {"training": module.training, "grad": torch.is_grad_enabled(), "labels": labels}
        if labels is not None:
            row["loss"] = float(output.loss.detach())
            if output.loss.requires_grad:
                row["own_grad"] = torch.autograd.grad(output.loss, module.classifier.weight, retain_graph=True)[0]
        else:
            row["logits"] = output.logits.detach().clone()
        self.passes.append(row)


def test_fine_tuning_trains_on_each_text_once_an_epoch_and_scores_validation_as_it_says(
    base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two epochs on 41 texts (8 held out), batches of 8, at most 16 tokens, on a base whose labels are
    capitalised: every epoch trains on each training text once, shuffled, each epoch in its own order, its label
    beside it, in training mode with autograd, each step on its own batch's gradient; validation runs in eval mode
    without autograd; the report's train loss is the mean of the batch losses, its accuracy and macro-F1 those of
    the logits validation saw; no batch is wider than max_tokens; metrics.json counts the parts, and the weights
    are 0644.
    Mutants (training/finbert.py:fine_tune): label names not lower-cased (a capitalised base fails); the training
    batches never shuffled; one order for every epoch (the code until stop 66); a batch slice starting one text
    late; labels misaligned with their texts; max_length not passed (no truncation at max_tokens); zero_grad
    dropped (gradients accumulate); model.train() dropped; model.eval() dropped; torch.no_grad() dropped; accuracy
    as the error rate; train loss the last batch's; metrics' train count all rows; weights left 0600."""
    recorder = _Recorder(monkeypatch)
    config = FinetuneConfig(
        base=str(base), epochs=2, batch_size=8, learning_rate=1e-3, val_fraction=0.2, seed=4, max_tokens=16
    )
    reports = fine_tune(_dataset(tmp_path / "data.csv"), tmp_path / "out", config, log=_quiet)
    train, val = stratified_split(finbert.read_dataset(tmp_path / "data.csv", _quiet), 0.2, 4)
    label_of = dict(train + val)
    ids = {"positive": 0, "negative": 1, "neutral": 2}
    assert (len(train), len(val)) == (33, 8) and len(reports) == 2
    fits = [p for p in recorder.passes if p["labels"] is not None]
    scores = [p for p in recorder.passes if p["labels"] is None]
    batches = [c["texts"] for c in recorder.tokenized]
    assert len(fits) == 2 * 5 and len(scores) == 2 * 1 and len(batches) == 2 * 6
    assert max(c["width"] for c in recorder.tokenized) == 16
    assert batches[0:5] != batches[6:11]  # each epoch its own order (every epoch trained on the first's)
    for epoch, report in enumerate(reports):
        fit, scored = fits[5 * epoch : 5 * epoch + 5], scores[epoch]
        texts = [t for b in batches[6 * epoch : 6 * epoch + 5] for t in b]
        assert sorted(texts) == sorted(t for t, _ in train) and texts != [t for t, _ in train]
        for batch, p in zip(batches[6 * epoch : 6 * epoch + 5], fit, strict=True):
            assert p["labels"].tolist() == [ids[label_of[t]] for t in batch]
            assert p["training"] and p["grad"]
        assert not scored["training"] and not scored["grad"]
        assert report.train_loss == pytest.approx(np.mean([p["loss"] for p in fit]), rel=1e-12)
        truth = np.array([ids[label_of[t]] for t in batches[6 * epoch + 5]])
        pred = scored["logits"].argmax(-1).numpy()
        assert report.accuracy == pytest.approx(float((truth == pred).mean()))
        assert report.macro_f1 == pytest.approx(macro_f1(truth, pred, 3))
    for p, used in zip(fits, recorder.stepped_with, strict=True):
        torch.testing.assert_close(used, p["own_grad"])
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert (metrics["train"], metrics["validation"]) == (33, 8)
    assert [stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "out").glob("*.safetensors")] == [0o644]


def test_the_first_epoch_with_the_best_macro_f1_is_the_one_saved(
    base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Macro-F1s of 0.5, 0.7, 0.7 and 0.2 (faked; the weights each epoch really trained are recorded): the second
    epoch's weights are saved, not a later tie's nor the last's.
    Mutants (training/finbert.py:fine_tune): a tie replaces the best (`>=`); the best not cloned (it aliases the
    live weights); the best never loaded back."""
    recorder = _Recorder(monkeypatch)
    scripted, snapshots = iter([0.5, 0.7, 0.7, 0.2]), []

    def scored(truth: Any, pred: Any, n_classes: int) -> float:
        snapshots.append({k: v.detach().clone() for k, v in recorder.model.state_dict().items()})
        return next(scripted)

    monkeypatch.setattr(finbert, "macro_f1", scored)
    config = FinetuneConfig(base=str(base), epochs=4, batch_size=16, learning_rate=1e-2, seed=1, max_tokens=16)
    fine_tune(_dataset(tmp_path / "data.csv"), tmp_path / "out", config, log=_quiet)
    saved = load_file(str(tmp_path / "out" / "model.safetensors"))
    weight = "classifier.weight"
    assert not torch.equal(snapshots[1][weight], snapshots[2][weight])  # the epochs differ
    assert weight in saved and set(saved) <= set(snapshots[1])
    for name, value in saved.items():
        torch.testing.assert_close(value, snapshots[1][name], msg=name)


def test_the_same_seed_fine_tunes_the_same_and_a_failed_save_leaves_the_previous_model(
    base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs with the same seed draw the same dropout: their first batch losses (before any step) are the same.
    The second, at ten times the learning rate (other weights), fails to save its tokenizer: the first one's
    directory is left as it was, file for file.
    Mutants (training/finbert.py:fine_tune): torch.manual_seed(config.seed) dropped; written in place, not staged.
    """
    config = FinetuneConfig(base=str(base), epochs=1, batch_size=16, learning_rate=1e-3, seed=2, max_tokens=16)
    data, out = _dataset(tmp_path / "data.csv"), tmp_path / "out"
    losses: list[list[float]] = []
    for attempt in range(2):
        with monkeypatch.context() as patch:
            recorder = _Recorder(patch, fail_save=attempt == 1)
            if attempt == 0:
                fine_tune(data, out, config, log=_quiet)
                before = {p.name: p.read_bytes() for p in out.iterdir()}
            else:
                with pytest.raises(OSError, match="disk full"):
                    fine_tune(data, out, dataclasses.replace(config, learning_rate=1e-2), log=_quiet)
            losses.append([p["loss"] for p in recorder.passes if p["labels"] is not None])
    assert losses[0][0] == losses[1][0] and len(losses[0]) == len(losses[1]) == 3
    assert losses[0][1:] != losses[1][1:]  # the second run's steps moved its weights elsewhere
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
