"""Kill tests of a mutation audit of `investiq evaluate finbert` (investiq/ops/sentiment_eval.py), the labeled
texts it and `investiq train finbert` read (investiq/core/texts.py), the unmoving-closes warnings
(investiq/core/stale.py) and the artifact records and graph checks (investiq/core/artifacts.py): each fails with
the mutant its docstring names applied, and passes on the code as it is. Figures are judged on probabilities
written by hand; the evaluation runs on small CSVs in tmp_path with a stand-in FinBERT (a table of
probabilities, no download), the finance lexicon and VADER; no clock, no network."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from investiq.core.artifacts import damaged, digests, load_meta, save_meta
from investiq.core.errors import ArtifactError, DataError
from investiq.core.finbert import FINBERT, LABELS
from investiq.core.settings import Settings
from investiq.core.stale import days_text, unmoving_closes, usual_quiet
from investiq.core.texts import LabeledDataError, normalize, read_labeled
from investiq.ops import sentiment_eval
from investiq.ops.sentiment_eval import Scorer, evaluate_sentiment, judge

POS, NEG, NEU = (LABELS.index(x) for x in ("positive", "negative", "neutral"))


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def probabilities(rows: Sequence[Sequence[float]]) -> NDArray[np.float32]:
    return np.array(rows, dtype=np.float32)


def stand_in_finbert(monkeypatch: pytest.MonkeyPatch, table: dict[str, list[float]]) -> list[bool]:
    """FinBERT as a table of probabilities by text (others: neutral), in place of the exported model; the
    `serving` flags it was asked with are returned."""
    asked: list[bool] = []

    def scorer(settings: Settings, serving: bool) -> tuple[Scorer | None, str]:
        asked.append(serving)

        def score(texts: list[str]) -> NDArray[np.float32]:
            return probabilities([table.get(t, [0.1, 0.1, 0.8]) for t in texts])

        return Scorer(FINBERT, "stub", "serving" if serving else "exported, not serving", score), "FinBERT stub"

    monkeypatch.setattr(sentiment_eval, "finbert_scorer", scorer)
    return asked


def settings(tmp_path: Path, **kwargs: Any) -> Settings:
    return Settings(model_repository=tmp_path / "empty", models_dir=tmp_path, **kwargs)


# ---- judge: the figures of the report


def test_a_label_never_predicted_right_counts_as_zero_in_macro_f1_and_per_label_figures_are_their_own():
    """Mutants: `if f1 is not None` -> `if f1` (a label with F1 0 dropped from the mean: macro-F1 0.444 reported
    as 0.667, a model that never finds neutral looks better); precision computed as recall, recall as precision,
    support as the predicted count: the per-label figures of report.json would describe another model."""
    truth = np.array([POS, POS, NEG, NEG, NEU])
    rows = [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1]]
    figures = judge(probabilities(rows), truth)
    assert figures["macro_f1"] == pytest.approx((0.5 + 0.4 + 0.0) / 3)
    negative = figures["per_label"]["negative"]
    assert negative["precision"] == pytest.approx(1 / 3) and negative["recall"] == pytest.approx(1 / 2)
    assert negative["support"] == 2 and figures["per_label"]["neutral"]["support"] == 1
    assert figures["per_label"]["neutral"]["f1"] == 0.0


def test_a_certain_answer_is_in_the_last_calibration_bin_and_a_zero_probability_gives_a_finite_log_loss():
    """Mutants: the bin index clipped to BINS instead of BINS - 1 (a confidence of exactly 1.0 falls out of every
    bin: the calibration table no longer adds up to n); the log loss's clip at 1e-12 dropped (one confident
    mistake makes the log loss infinite, and report.json not JSON); mean confidence taken from the hit rate."""
    figures = judge(probabilities([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.2, 0.7, 0.1]]), np.array([POS, NEG, NEG]))
    assert figures["calibration"][-1] == {"from": 0.9, "to": 1.0, "n": 2, "confidence": 1.0, "accuracy": 0.5}
    assert sum(b["n"] for b in figures["calibration"]) == 3
    assert figures["log_loss"] == pytest.approx((-np.log(1e-12) - np.log(0.7)) / 3, rel=1e-5)
    assert figures["mean_confidence"] == pytest.approx(2.7 / 3)


# ---- evaluate_sentiment: roles, parts, held-out parts, the listed mistakes


def test_an_exported_finbert_that_does_not_serve_leaves_the_lexicon_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Mutants: the lexicon's role "fallback" whenever FinBERT is exported (with `sentiment_model=lexicon` no
    model would be serving: the report fails); `serving=True` passed whatever the setting (FinBERT reported as the
    serving model while the gateway serves the lexicon)."""
    asked = stand_in_finbert(monkeypatch, {})
    data = write(tmp_path / "d.csv", "text,label\nProfit rose,positive\nShares slump,negative\n")
    report = evaluate_sentiment(
        settings(tmp_path, sentiment_model="lexicon"), data, tmp_path / "o", log=lambda _: None
    )
    assert asked == [False] and report["serving"] == "lexicon"
    assert [(m["model"], m["role"]) for m in report["models"]] == [
        (FINBERT, "exported, not serving"),
        ("lexicon", "serving"),
        ("vader", "baseline"),
    ]
    report = evaluate_sentiment(settings(tmp_path), data, tmp_path / "o2", log=lambda _: None)
    assert asked == [False, True] and report["serving"] == FINBERT and report["models"][1]["role"] == "fallback"


def test_the_most_confident_mistakes_are_listed_first_fifteen_of_them_and_held_out_ones_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Mutants: mistakes sorted least confident first; MISTAKES 14; held_out_mistakes set to the number listed (it
    is the number held back); the "(and N in the held-out parts ...)" line put elsewhere; the split of a listed
    mistake not shown; a confidence printed as a fraction ("0.7%") or rounded to 1 decimal in report.json; a part
    matched by prefix (fresh judged with fresh2's rows); train listed before dev; evidence written for every
    model (it is the lexicon's own explanation)."""
    table: dict[str, list[float]] = {}
    lines = ["text,label,split"]
    for k in range(17):  # wrong (positive) at 0.5000 + 0.0123 k, labeled neutral
        c = round(0.5 + 0.0123 * k, 4)
        table[f"Item {k} is listed"] = [c, (1 - c) * 0.6, (1 - c) * 0.4]
        lines.append(f"Item {k} is listed,neutral,dev")
    for k in range(3):  # held out: wrong, and never to be written
        table[f"Secret {k} item"] = [0.9, 0.05, 0.05]
        lines.append(f"Secret {k} item,negative,fresh")
    lines += ["Another item,neutral,fresh2", "Third item,neutral,train"]
    stand_in_finbert(monkeypatch, table)
    data = write(tmp_path / "d.csv", "\n".join(lines) + "\n")
    out = tmp_path / "o"
    report = evaluate_sentiment(settings(tmp_path), data, out, log=lambda _: None, held_out=frozenset({"fresh"}))
    assert list(report["splits"]) == ["dev", "train", "fresh", "fresh2"]
    finbert = report["models"][0]
    assert finbert["by_split"]["fresh"]["n"] == 3 and finbert["by_split"]["fresh"]["accuracy"] == 0.0
    assert finbert["held_out_mistakes"] == 3 and len(finbert["mistakes"]) == 17
    assert [x["confidence"] for x in finbert["mistakes"][:2]] == [0.6968, 0.6845]
    assert all("evidence" not in x for m in report["models"] if m["model"] != "lexicon" for x in m["mistakes"])
    md = (out / "report.md").read_text()
    assert (
        "Most confident mistakes (15 of 17):\n(and 3 in the held-out parts fresh, not listed)\n\n"
        "- 'Item 16 is listed': neutral -> positive at 69.7%, dev\n" in md
    )
    assert "'Item 2 is listed'" in md and "'Item 1 is listed'" not in md and "Secret" not in md


def test_a_held_out_part_of_a_file_without_parts_is_refused_saying_it_has_none(tmp_path: Path):
    """Mutant: `or "none"` dropped: the refusal ended in "(its splits: )", not saying the file has no parts."""
    data = write(tmp_path / "d.csv", "text,label\nProfit rose,positive\n")
    with pytest.raises(DataError, match=r"--held-out names fresh, which .* does not have \(its splits: none\)"):
        evaluate_sentiment(
            settings(tmp_path), data, tmp_path / "o", log=lambda _: None, held_out=frozenset({"fresh"})
        )


def test_repeats_alone_are_said_to_be_left_out(tmp_path: Path):
    """Mutant: the repeated rows named only when some text is also labeled two ways: a file with repeats alone
    was reported with more rows judged than it has."""
    data = write(tmp_path / "d.csv", "text,label\nProfit rose,positive\nProfit rose,positive\n")
    said: list[str] = []
    evaluate_sentiment(settings(tmp_path), data, tmp_path / "o", log=said.append)
    assert said[0] == (
        f"{data}: 1 texts (1 positive, 0 negative, 0 neutral); left out: 1 repeated rows (each text counts once)"
    )  # the counts as report.md writes them: the log printed a Python dict (the audit; fails before)


def test_held_out_mistakes_are_said_even_when_none_is_listed(tmp_path: Path):
    """A bug the audit found (fails before): where every mistake of a model lay in held-out parts, report.md
    did not say any were held back (the line was written only beside listed mistakes); report.json counted them."""
    data = write(
        tmp_path / "d.csv",
        "text,label,split\nProfit rose sharply,positive,dev\nCompany files for bankruptcy,positive,fresh\n",
    )
    report = evaluate_sentiment(
        settings(tmp_path), data, tmp_path / "o", log=lambda _: None, held_out=frozenset({"fresh"})
    )
    lexicon = next(m for m in report["models"] if m["model"] == "lexicon")
    assert lexicon["mistakes"] == [] and lexicon["held_out_mistakes"] == 1
    assert "(and 1 in the held-out parts fresh, not listed)" in (tmp_path / "o" / "report.md").read_text()


# ---- texts: normalize and read_labeled


def test_normalize_turns_tabs_and_newlines_into_spaces_and_drops_invisible_characters():
    """Mutants: whitespace no longer exempted (a tab, a control character, was dropped: "a\\tb" scored as "ab");
    only control characters dropped (a zero-width space kept: the same headline cached and scored twice); the
    runs of spaces not collapsed."""
    assert normalize(" Profit\trose\n  sharply ") == "Profit rose sharply"
    assert normalize("Pro\u200bfit\x00 rose\ufeff") == "Profit rose"


def test_a_phrasebank_file_is_known_by_a_label_in_any_case_with_spaces_after_it(tmp_path: Path):
    """Mutants: `re.IGNORECASE` dropped, or `\\s*` before the end: a Sentences_*.txt whose first line ends
    "@Positive" or "@positive " was read as a CSV and refused for its header."""
    data = read_labeled(write(tmp_path / "a.txt", "Profit rose .@Positive \n   \nShares slump .@negative\n"))
    assert data.texts == ["Profit rose .", "Shares slump ."] and data.labels.tolist() == [POS, NEG]


def test_a_csv_with_spaces_around_its_header_and_splits_is_read(tmp_path: Path):
    """Mutants: header names not stripped (" label" is no column: the file refused); a split not stripped
    (" dev" a part of its own)."""
    data = read_labeled(write(tmp_path / "d.csv", "text, label, split\nProfit rose,positive, dev\n"))
    assert data.texts == ["Profit rose"] and data.splits == ["dev"]


def test_unusable_rows_are_named_in_line_order_with_the_label_as_written_ten_of_them(tmp_path: Path):
    """Mutants: the problems not sorted (the extra-field rows, found first, named before an earlier line); the
    unknown label named lowercased (not what the user wrote); `>= SHOWN` ("; and 0 more" for ten); SHOWN 9."""
    refused = write(tmp_path / "a.csv", "text,label\nProfit rose,Bullish\nShares,slump,negative\n")
    with pytest.raises(
        LabeledDataError, match=r"2 unusable rows .*: line 2: unknown label 'Bullish'; line 3: more fields"
    ):
        read_labeled(refused)
    ten = write(tmp_path / "ten.csv", "text,label\n" + "".join(f"t{k},bad\n" for k in range(10)))
    with pytest.raises(LabeledDataError) as caught:
        read_labeled(ten)
    assert str(caught.value).endswith("line 11: unknown label 'bad'")
    eleven = write(tmp_path / "eleven.csv", "text,label\n" + "".join(f"t{k},bad\n" for k in range(11)))
    with pytest.raises(LabeledDataError) as caught:
        read_labeled(eleven)
    assert str(caught.value).endswith("line 11: unknown label 'bad'; and 1 more")


def test_a_file_that_cannot_be_read_or_has_three_headerless_columns_is_refused_with_the_reason(tmp_path: Path):
    """Mutants: the unreadable file's OSError re-raised bare (a traceback, not "cannot read"); a headerless file
    of three columns taken as label,text rows (it needs a header: refused as such)."""
    with pytest.raises(LabeledDataError, match=r"cannot read .*missing\.csv: No such file"):
        read_labeled(tmp_path / "missing.csv")
    with pytest.raises(LabeledDataError, match="needs a header row with columns text,label"):
        read_labeled(write(tmp_path / "three.csv", "positive,Profit rose,dev\n"))


def test_a_latin_1_file_says_it_was_read_as_latin_1(tmp_path: Path):
    """Mutant: read_as() empty for anything but Latin-1 or the reverse: the log must say a file was not UTF-8."""
    data = tmp_path / "l.csv"
    data.write_bytes(b"text,label\nProfit \x81 rose,positive\n")  # 0x81: undefined in Windows-1252
    labeled = read_labeled(data)
    assert labeled.encoding == "latin-1" and labeled.read_as() == "not UTF-8: read as Latin-1"


# ---- stale: the bounds of the warnings


def test_exactly_ten_equal_last_closes_or_half_the_moves_flat_are_warned_about():
    """Mutants: `tail + 1 > STALE_TAIL` (ten equal closes, the documented threshold, unsaid); `zero > FLAT_SHARE`
    (a window with half its moves zero unsaid)."""
    rng = np.random.default_rng(1)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 60)))
    closes[-10:] = closes[-10]
    assert unmoving_closes(closes)[0].startswith("the last 10 closes are all ")
    closes[-9:] = closes[-9] * 1.0
    closes[-10] = closes[-9] * 1.01
    assert unmoving_closes(closes) == []
    half = np.array([1.0, 1.0, 2.0, 2.0, 3.0])  # moves 0, 1, 0, 1
    [warning] = unmoving_closes(half)
    assert warning.startswith("50% of the window's one-bar moves are zero, so its volatility")


def test_a_twelve_hour_gap_is_a_market_that_closes_and_two_days_read_as_days():
    """Mutants: `widest > SESSIONS` (a 12-hour night not widened to a long weekend: its Monday warned as a
    halt); `stamps.size < 3` (two bars give no quiet); `hours > 48` ("48.0 hours")."""
    times = np.array(["2024-01-02T20:00", "2024-01-03T08:00"], dtype="datetime64[ns]")
    assert usual_quiet(times) == (timedelta(days=5), timedelta(hours=12))
    assert days_text(timedelta(hours=48)) == "2.0 days" and days_text(timedelta(hours=47)) == "47.0 hours"


# ---- artifacts: what a record holds and what a check accepts


@dataclass(frozen=True)
class Record:
    version: str
    labels: list[str] = dataclasses.field(default_factory=list)


def test_save_meta_records_sorted_keys_and_the_digests_of_graph_files_only(tmp_path: Path):
    """Mutants: the files' digests not recorded (nothing to check an export against); every file digested (a
    tokenizer or README edit reads as a damaged graph); keys unsorted (re-exports no longer diff cleanly)."""
    (tmp_path / "model.onnx").write_bytes(b"graph")
    (tmp_path / "model.data").write_bytes(b"weights")
    (tmp_path / "tokenizer.json").write_text("{}")
    save_meta(Record("v1", ["b", "a"]), tmp_path)
    text = (tmp_path / "artifact.json").read_text()
    record = json.loads(text)
    assert sorted(record["files"]) == ["model.data", "model.onnx"] and record["files"] == digests(tmp_path)
    assert list(record) == ["files", "labels", "version"] and text.index('"files"') < text.index('"version"')


def test_a_damaged_graph_is_found_after_an_unrecorded_one_and_after_a_same_size_rewrite(tmp_path: Path):
    """Mutants: an unrecorded name ends the check (`return None`: a damaged graph after it passed); the digest
    cached by size alone (a file rewritten in place with the same size served as checked); a directory where the
    graph belongs hashed (IsADirectoryError) instead of named missing."""
    graph = tmp_path / "model.onnx"
    graph.write_bytes(b"good graph")
    files = digests(tmp_path)
    assert damaged(tmp_path, files, ["old.onnx", "model.onnx"]) is None
    graph.write_bytes(b"evil graph")
    stat = graph.stat()
    os.utime(graph, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert damaged(tmp_path, files, ["old.onnx", "model.onnx"]) == (
        f"{graph} is not the file exported (its sha256 differs from artifact.json's): export the model again"
    )
    graph.unlink()
    graph.mkdir()
    assert damaged(tmp_path, files, ["model.onnx"]) == f"{graph} is missing; export the model again"


def test_a_newer_record_is_named_even_without_a_defaulted_field_and_an_unreadable_one_is_an_artifact_error(
    tmp_path: Path,
):
    """Mutants: a default_factory field counted as required (a newer record that omits it called corrupt, with
    the advice to export again); the OSError branch gone (artifact.json a directory: a traceback, not
    ArtifactError)."""
    (tmp_path / "artifact.json").write_text(json.dumps({"version": "v2", "tokens": 3}))
    with pytest.raises(ArtifactError, match=r"newer InvestIQ \(fields this one does not know: tokens\)"):
        load_meta(Record, tmp_path, "export it")
    (tmp_path / "artifact.json").unlink()
    (tmp_path / "artifact.json").mkdir()
    with pytest.raises(ArtifactError, match=r"cannot read .*artifact\.json \(.*\): export it"):
        load_meta(Record, tmp_path, "export it")
