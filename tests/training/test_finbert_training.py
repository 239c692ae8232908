"""Fine-tuning and the export/train command lines on the tiny BERT."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from harness import tiny_bert
from investiq.cli.main import main
from investiq.core.finbert import FinbertMeta
from investiq.core.texts import LabeledDataError
from training.finbert import macro_f1, read_dataset, stratified_split


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


ROWS = (
    [(t, "positive") for t in tiny_bert.CORPUS[::3]] * 4
    + [(t, "negative") for t in tiny_bert.CORPUS[1::3]] * 4
    + [(t, "neutral") for t in tiny_bert.CORPUS[2::3]] * 4
)


def test_fine_tune_then_export_from_the_command_line(tmp_path: Path):
    base = tiny_bert.build(tmp_path / "base")
    data = write_csv(tmp_path / "data.csv", ROWS)
    out = tmp_path / "tuned"
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "train",
            "finbert",
            "--dataset",
            str(data),
            "--output-dir",
            str(out),
            "--base",
            str(base),
            "--epochs",
            "3",
            "--batch-size",
            "8",
            "--learning-rate",
            "1e-3",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "validation accuracy" in result.output and "macro-F1" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["epochs"]) == 3
    assert metrics["epochs"][-1]["train_loss"] < metrics["epochs"][0]["train_loss"]
    repo = tmp_path / "repo"
    result = runner.invoke(main, ["export", "finbert", "--source", str(out), "--repository", str(repo)])
    assert result.exit_code == 0, result.output
    assert "validated  fp32" in result.output and "validated  int8" in result.output
    # every row compared is counted (issue 15: the message said "40 texts" while counting 44 rows)
    assert "of 45 comparisons (40 texts, the first 4 again one at a time, and all of them as one long text)" in (
        result.output
    )
    assert FinbertMeta.load(repo / "finbert_model" / "1").source == str(out)
    assert "serves it from its next start" in result.output or "serves it after a restart" in result.output


def test_export_without_weights_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")
    result = CliRunner().invoke(main, ["export", "finbert", "--repository", str(tmp_path / "repo")])
    assert result.exit_code == 1
    assert "cannot load FinBERT weights" in result.output
    assert not (tmp_path / "repo" / "finbert_model" / "1").exists()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (
            "text,label\nup we go,bullish\n",
            "data.csv: 1 unusable rows (labels must be one of positive, negative, "
            "neutral): line 2: unknown label 'bullish'",
        ),
        ("headline,label\nx,positive\n", "needs a header row with columns text,label"),
        ("text,label\n,positive\n", "line 2: empty text"),
        ("text,label\na,positive\nb,positive\n", "at least two different labels"),
    ],
)
def test_datasets_are_checked(tmp_path: Path, content: str, fragment: str):
    path = tmp_path / "data.csv"
    path.write_text(content)
    with pytest.raises(LabeledDataError, match=re.escape(fragment)):
        read_dataset(path)


def test_split_is_stratified_and_seeded():
    rows = [(f"p{i}", "positive") for i in range(50)] + [(f"n{i}", "negative") for i in range(10)]
    train, val = stratified_split(rows, 0.2, seed=1)
    assert sorted(label for _, label in val) == ["negative"] * 2 + ["positive"] * 10
    assert not set(train) & set(val)
    assert stratified_split(rows, 0.2, seed=1) == (train, val)


def test_macro_f1_against_a_hand_count():
    truth = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0])
    # F1: class0 = 2*1/(2+1+1) = .5, class1 = 2*2/(4+1+0) = .8, class2 = 2*1/(2+0+1) = 2/3
    assert macro_f1(truth, pred, 3) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_up_exports_finbert_when_its_weights_are_at_hand(tmp_path: Path):
    from investiq.core.settings import Settings
    from investiq.ops.bootstrap import prepare_finbert

    source = tiny_bert.build(tmp_path / "hf")
    settings = Settings(model_repository=tmp_path / "repo", finbert_model=str(source))
    prepare_finbert(settings, print)
    meta = FinbertMeta.load(tmp_path / "repo" / "finbert_model" / "1")
    assert meta.source == str(source)
    prepare_finbert(settings, print)  # present: nothing to do
    assert FinbertMeta.load(tmp_path / "repo" / "finbert_model" / "1").version == meta.version


def test_a_dataset_counts_each_text_once_in_any_form_the_evaluation_reads(tmp_path: Path):
    path = tmp_path / "Sentences_50Agree.txt"  # Financial PhraseBank as published, which repeats some sentences
    path.write_bytes("Profit rose .@positive\nProfit rose .@positive\nSales fell .@negative\n".encode("cp1252"))
    lines: list[str] = []
    assert read_dataset(path, lines.append) == [("Profit rose .", "positive"), ("Sales fell .", "negative")]
    assert lines == [f"{path}: left out 1 repeated rows and 0 texts labeled two or more ways"]


def test_a_dataset_too_small_to_hold_one_text_out_is_refused_before_training(tmp_path: Path):
    """Two texts of two labels: nothing to validate on, every epoch scored nan and the first was saved as the best
    (a review). Refused before the base model is even loaded."""
    from training.finbert import FinetuneConfig, fine_tune

    path = tmp_path / "data.csv"
    path.write_text("text,label\nShares rise,positive\nShares fall,negative\n")
    config = FinetuneConfig(base=str(tmp_path / "no-model-needed"))
    with pytest.raises(LabeledDataError, match="2 to train on and 0 to validate on: give each label at least two"):
        fine_tune(path, tmp_path / "out", config, log=lambda _: None)
    assert not (tmp_path / "out").exists()


def test_a_base_that_cannot_be_had_says_to_train_from_a_downloaded_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Offline, the advice was the export's (`investiq export finbert --source ...`), which does not train (a
    review): it names --base."""
    from investiq.core.finbert import WeightsError
    from training.finbert import FinetuneConfig, fine_tune

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")
    path = tmp_path / "data.csv"
    rows = [f"Shares rise {i},positive\nShares fall {i},negative\nShares flat {i},neutral" for i in range(4)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(WeightsError) as info:
        fine_tune(path, tmp_path / "out", FinetuneConfig(base="ProsusAI/finbert"), log=lambda _: None)
    assert "--base models/finbert" in str(info.value) and "export finbert" not in str(info.value)
