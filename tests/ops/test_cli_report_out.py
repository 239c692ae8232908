"""`investiq report --out`: the report replaces its folder whole, so a folder of other files is refused."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from investiq.cli.main import main
from investiq.core.journal import open_journal


def test_a_folder_holding_other_files_is_refused_and_kept(tmp_path: Path):
    """`--out reports` deleted the committed reports beside the journal's (a review): refused, nothing touched."""
    db = tmp_path / "portfolio.db"
    open_journal(db).close()
    mine = tmp_path / "reports" / "backtest-sample"
    mine.mkdir(parents=True)
    (mine / "report.md").write_text("keep me")
    result = CliRunner().invoke(main, ["report", "--db", str(db), "--out", str(tmp_path / "reports")])
    assert (
        result.exit_code == 2 and "holds other files and no report.json, and the output replaces" in result.output
    )
    assert (mine / "report.md").read_text() == "keep me"
    done = CliRunner().invoke(main, ["report", "--db", str(db), "--out", str(tmp_path / "reports" / "journal")])
    assert done.exit_code == 0, done.output
    again = CliRunner().invoke(main, ["report", "--db", str(db), "--out", str(tmp_path / "reports" / "journal")])
    assert again.exit_code == 0, again.output  # an earlier report is replaced


def test_a_folder_of_another_report_or_with_files_of_its_own_is_refused_and_kept(tmp_path: Path):
    """Any folder holding a report.json was taken for an earlier journal report: `report --out
    reports/patchtst-sample` replaced the committed evaluation report, README and all (a review)."""
    import json

    db = tmp_path / "portfolio.db"
    open_journal(db).close()
    evaluation = tmp_path / "patchtst-sample"
    evaluation.mkdir()
    (evaluation / "report.json").write_text(json.dumps({"model_version": "v1", "interval": "1d"}))
    (evaluation / "README.md").write_text("keep me")
    journal = tmp_path / "journal"
    assert CliRunner().invoke(main, ["report", "--db", str(db), "--out", str(journal)]).exit_code == 0
    (journal / "notes.txt").write_text("mine")  # a file of the user's beside an earlier journal report
    for folder, kept in ((evaluation, "README.md"), (journal, "notes.txt")):
        result = CliRunner().invoke(main, ["report", "--db", str(db), "--out", str(folder)])
        assert result.exit_code == 2 and "holds an output of another kind, or files of its own" in result.output
        assert (folder / kept).is_file()


def test_a_window_past_a_century_is_refused_by_the_option():
    """--days 1000000 overflowed the date arithmetic into a traceback (a review)."""
    result = CliRunner().invoke(main, ["report", "--days", "1000000"])
    assert result.exit_code == 2 and "--days" in result.output


def test_training_into_a_folder_of_other_files_is_refused_before_it_trains(tmp_path: Path):
    """`train patchtst --output-dir models` would have replaced the whole models folder with one model."""
    models = tmp_path / "models"
    (models / "retrain").mkdir(parents=True)
    result = CliRunner().invoke(
        main, ["train", "patchtst", "--source", "sample", "--epochs", "1", "--output-dir", str(models)]
    )
    assert result.exit_code == 2 and "holds other files and no artifact.json" in result.output
    assert (models / "retrain").is_dir()


def test_fine_tuning_into_the_downloaded_base_model_is_refused_before_it_trains(tmp_path: Path):
    """A Hugging Face folder holds config.json, which was all the check asked: `train finbert --output-dir
    models/finbert` would have replaced the downloaded base model with the fine-tuned one. One this command wrote
    (metrics.json beside it) is replaced."""
    base = tmp_path / "finbert"
    base.mkdir()
    (base / "config.json").write_text("{}")
    (base / "pytorch_model.bin").write_text("weights")
    dataset = tmp_path / "labels.csv"
    dataset.write_text("text,label\nShares rise,positive\n")
    args = ["train", "finbert", "--dataset", str(dataset), "--output-dir", str(base)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "holds an output of another kind, or files of its own" in result.output
    assert (base / "pytorch_model.bin").read_text() == "weights"


def test_training_into_an_exported_version_is_refused_before_it_trains(tmp_path: Path):
    """An exported version holds artifact.json, the marker of a trained model's folder: `train patchtst
    --output-dir model_repository/patchtst/2` would have replaced a version Triton serves (a review)."""
    version = tmp_path / "model_repository" / "patchtst" / "2"
    version.mkdir(parents=True)
    (version / "artifact.json").write_text("{}")
    (version / "model.onnx").write_text("graph")
    result = CliRunner().invoke(
        main, ["train", "patchtst", "--source", "sample", "--epochs", "1", "--output-dir", str(version)]
    )
    assert result.exit_code == 2 and "holds an output of another kind" in result.output, result.output
    assert (version / "model.onnx").read_text() == "graph"
