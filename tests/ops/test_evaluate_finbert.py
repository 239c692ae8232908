"""`investiq evaluate finbert`: the serving model (the tiny random BERT exported here, or the lexicon
without it) against the finance lexicon and VADER, end to end from the command line; the figures; the
refusal of unusable CSVs."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from harness import tiny_bert
from investiq.cli.main import main
from investiq.core.finbert import LABELS
from investiq.core.settings import Settings
from investiq.core.texts import LabeledDataError, read_labeled
from investiq.ops.sentiment_eval import HEADLINES, evaluate_sentiment, judge
from training.finbert import macro_f1

SMALL = [
    ("Apple beats revenue estimates", "positive", "dev"),
    ("Nvidia raises guidance on strong demand", "positive", "dev"),
    ("Shares soar to a record high", "positive", "test"),
    ("Company Y files for bankruptcy", "negative", "dev"),
    ("Analysts downgrade Initech to sell", "negative", "test"),
    ("Tesla shares slide after deliveries miss", "negative", "test"),
    ("Microsoft to report results on Tuesday", "neutral", "dev"),
    ("Oil prices little changed in quiet trading", "neutral", "test"),
    ("Acme names a new chief financial officer", "neutral", "dev"),
]


def write_csv(
    path: Path, rows: Sequence[tuple[str, ...]], header: tuple[str, ...] = ("text", "label", "split")
) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random BERT, exported (validated) as `investiq export finbert` does."""
    return tiny_bert.exported(tmp_path_factory.mktemp("finbert"))[1]


def run(*args: str) -> Any:
    return CliRunner().invoke(main, ["evaluate", "finbert", *args])


def test_end_to_end_with_an_exported_finbert(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INVESTIQ_FINBERT_RUNTIME", "onnxruntime-int8")  # the same version tag on every CPU
    data = write_csv(tmp_path / "small.csv", SMALL)
    out = tmp_path / "report"
    result = run("--csv", str(data), "--out", str(out), "--repository", str(repo))
    assert result.exit_code == 0, result.output
    assert "finbert " in result.output and "lexicon " in result.output and "vader " in result.output
    report = json.loads((out / "report.json").read_text())
    assert report["serving"] == "finbert"
    assert [(m["model"], m["role"]) for m in report["models"]] == [
        ("finbert", "serving"),
        ("lexicon", "fallback"),
        ("vader", "baseline"),
    ]
    assert report["finbert"].startswith("FinBERT ") and report["splits"] == {"dev": 5, "test": 4}
    for m in report["models"]:
        assert set(m["by_split"]) == {"dev", "test"}
        for part in (m["all"], *m["by_split"].values()):
            confusion = np.array(part["confusion"]["rows_truth_columns_predicted"])
            assert confusion.sum() == part["n"]
            assert part["accuracy"] == pytest.approx(np.trace(confusion) / part["n"])
            assert sum(b["n"] for b in part["calibration"]) == part["n"]
            assert 0 <= part["macro_f1"] <= 1 and part["log_loss"] >= 0
        assert len(m["mistakes"]) == round(m["all"]["n"] * (1 - m["all"]["accuracy"]))
    lexicon = report["models"][1]["all"]
    assert lexicon["accuracy"] == 1.0  # these are easy
    assert report["models"][0]["version"].endswith("-int8")
    md = (out / "report.md").read_text()
    assert "| finbert | serving | all | 9 |" in md and "Calibration (confidence" in md and "Confusion" in md


def test_fp32_can_be_judged(repo: Path, tmp_path: Path):
    data = write_csv(tmp_path / "small.csv", SMALL)
    result = run("--csv", str(data), "--out", str(tmp_path / "r"), "--repository", str(repo), "--no-quantize")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r" / "report.json").read_text())["models"][0]["version"].endswith("-fp32")


def test_the_tiny_bert_path_on_the_committed_headlines(repo: Path, tmp_path: Path):
    """Every path on the committed set (`pytest -s -k tiny_bert` prints the figures). The tiny BERT has
    random weights, so it is near chance: this checks the FinBERT path's wiring, not a model."""
    settings = Settings(model_repository=repo, models_dir=tmp_path)
    report = evaluate_sentiment(settings, None, tmp_path / "out", log=print)
    assert report["n"] >= 150 and report["csv"] == str(HEADLINES)
    figures = {m["model"]: m["all"] for m in report["models"]}
    assert set(figures) == {"finbert", "lexicon", "vader"}
    assert figures["lexicon"]["accuracy"] >= figures["vader"]["accuracy"] + 0.15
    assert figures["lexicon"]["macro_f1"] >= figures["vader"]["macro_f1"] + 0.15
    for name, f in figures.items():
        print(f"{name}: accuracy {f['accuracy']:.3f} macro-F1 {f['macro_f1']:.3f}")


def test_without_finbert_the_lexicon_is_the_serving_model(tmp_path: Path):
    data = write_csv(tmp_path / "small.csv", SMALL)
    settings = Settings(model_repository=tmp_path / "empty", models_dir=tmp_path)
    report = evaluate_sentiment(settings, data, tmp_path / "out", log=lambda _: None)
    assert [(m["model"], m["role"]) for m in report["models"]] == [("lexicon", "serving"), ("vader", "baseline")]
    assert "not exported" in report["finbert"]
    result = run("--csv", str(data), "--out", str(tmp_path / "cli"), "--repository", str(tmp_path / "empty"))
    assert result.exit_code == 0, result.output
    assert "FinBERT is not exported" in result.output


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        (("sentence", "sentiment"), [("Apple beats", "positive")], "needs a header row with columns text,label"),
        (("text",), [("Apple beats",)], "found text"),
        (
            ("text", "label"),
            [("Apple beats", "positive"), ("Tesla slides", "bearish"), ("Oil flat", "")],
            "2 unusable rows .*line 3: unknown label 'bearish'; line 4: unknown label ''",
        ),
        (("text", "label"), [("   ", "neutral")], "line 2: empty text"),
        (("text", "label"), [], "has a header but no rows"),
    ],
)
def test_unusable_csvs_are_refused_with_the_reason(
    tmp_path: Path, header: tuple[str, ...], rows: list[tuple[str, ...]], message: str
):
    data = write_csv(tmp_path / "bad.csv", rows, header)
    result = run("--csv", str(data), "--out", str(tmp_path / "out"), "--repository", str(tmp_path / "empty"))
    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert re.search(message, result.output), result.output
    assert not (tmp_path / "out").exists()


def test_a_repeated_text_counts_once_and_one_labeled_two_ways_is_left_out(tmp_path: Path):
    rows = [
        ("Apple beats estimates", "positive", "test"),
        ("Oil flat", "neutral", "dev"),
        ("Apple  beats estimates ", "positive", "dev"),  # the same text once normalized, as the gateway does
        ("Oil flat", "negative", "test"),
        ("Tesla slides", "negative", "test"),
        ("Apple beats estimates", "positive", "test"),
    ]
    labeled = read_labeled(write_csv(tmp_path / "dup.csv", rows))
    assert labeled.texts == ["Apple beats estimates", "Tesla slides"]
    assert labeled.labels.tolist() == [LABELS.index("positive"), LABELS.index("negative")]
    assert labeled.splits == ["test", "test"]  # the first row's
    assert (labeled.repeats, labeled.conflicts) == (2, 1)
    settings = Settings(model_repository=tmp_path / "empty", models_dir=tmp_path)
    report = evaluate_sentiment(settings, tmp_path / "dup.csv", tmp_path / "out", log=lambda _: None)
    assert report["n"] == 2 and report["left_out"] == {"repeats": 2, "conflicting_texts": 1}
    text = (tmp_path / "out" / "report.md").read_text()
    assert "left out: 2 repeated rows (each text counts once), 1 texts labeled two or more ways" in text
    with pytest.raises(LabeledDataError, match="every text is labeled two or more ways"):
        read_labeled(write_csv(tmp_path / "all.csv", rows[1:4:2]))


def test_judge_against_hand_counts():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 200)
    logits = rng.normal(size=(200, 3)) + 2.0 * np.eye(3)[truth]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    figures = judge(p.astype(np.float32), truth)
    predicted = p.argmax(axis=1)
    assert figures["accuracy"] == pytest.approx((predicted == truth).mean())
    assert figures["macro_f1"] == pytest.approx(macro_f1(truth, predicted, 3))
    assert figures["log_loss"] == pytest.approx(-np.log(p[np.arange(200), truth]).mean(), rel=1e-5)
    confusion = np.array(figures["confusion"]["rows_truth_columns_predicted"])
    assert confusion[1, 2] == ((truth == 1) & (predicted == 2)).sum()
    assert figures["confusion"]["labels"] == list(LABELS)
    bins = figures["calibration"]
    assert sum(b["n"] for b in bins) == 200 and all(b["from"] <= b["confidence"] <= b["to"] for b in bins)
    ece = sum(b["n"] * abs(b["accuracy"] - b["confidence"]) for b in bins) / 200
    assert figures["expected_calibration_error"] == pytest.approx(ece)


def test_a_phrasebank_file_in_windows_1252_is_judged_and_the_log_says_how_it_was_read(tmp_path: Path):
    bank = tmp_path / "Sentences_AllAgree.txt"
    bank.write_bytes("Sales in S\u00e3o Paulo rose .@positive\r\nProfit fell .@negative\r\n".encode("cp1252"))
    settings = Settings(model_repository=tmp_path / "empty", models_dir=tmp_path)
    lines: list[str] = []
    report = evaluate_sentiment(settings, bank, tmp_path / "out", log=lines.append)
    assert report["n"] == 2 and report["encoding"] == "cp1252"
    assert f"{bank}: not UTF-8: read as Windows-1252 (Latin-1 with curly quotes and the euro sign)" in lines


def test_parts_are_listed_dev_first_then_by_name_with_their_numbers_counted(tmp_path: Path):
    splits = ["fresh10", "holdout", "fresh2", "test", "fresh", "fresh9", "dev"]
    rows = [(f"Shares of company {k} rise", "positive", split) for k, split in enumerate(splits)]
    data = write_csv(tmp_path / "parts.csv", rows)
    settings = Settings(model_repository=tmp_path / "empty", models_dir=tmp_path)
    report = evaluate_sentiment(settings, data, tmp_path / "out", log=lambda _: None)
    assert list(report["splits"]) == ["dev", "test", "fresh", "fresh2", "fresh9", "fresh10", "holdout"]


def test_the_mistakes_of_held_out_parts_are_counted_not_written(tmp_path: Path):
    """A part kept to judge later changes keeps its figures; its wrong answers are not written anywhere."""
    rows = [
        ("Apple beats revenue estimates", "negative", "dev"),  # labeled against the lexicon: mistakes on purpose
        ("Company files for bankruptcy", "positive", "dev"),
        ("Nvidia raises guidance on strong demand", "negative", "fresh8"),
        ("Shares slide after deliveries miss", "positive", "fresh8"),
    ]
    data = write_csv(tmp_path / "held.csv", rows)
    result = run("--csv", str(data), "--out", str(tmp_path / "out"), "--repository", str(tmp_path / "empty"),
                 "--held-out", "fresh8")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    lexicon = next(m for m in report["models"] if m["model"] == "lexicon")
    assert report["held_out"] == ["fresh8"] and lexicon["by_split"]["fresh8"]["n"] == 2
    assert {x["split"] for x in lexicon["mistakes"]} == {"dev"} and lexicon["held_out_mistakes"] == 2
    written = (tmp_path / "out" / "report.md").read_text() + (tmp_path / "out" / "report.json").read_text()
    assert "Nvidia" not in written and "deliveries" not in written
    assert "(and 2 in the held-out parts fresh8, not listed)" in written

    refused = run("--csv", str(data), "--out", str(tmp_path / "x"), "--repository", str(tmp_path / "empty"),
                  "--held-out", "fresh9")  # fmt: skip
    assert (
        refused.exit_code != 0
        and "fresh9, which" in refused.output
        and "its splits: dev, fresh8" in refused.output
    )
