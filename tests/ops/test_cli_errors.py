"""User mistakes on the command line end in one `Error: ...` saying what to do, never in a traceback: a FinBERT
source that is no model, a journal that is no SQLite file or cannot be read, a mistyped --db, a missing --csv."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from investiq.cli.main import main
from investiq.core.journal import open_journal


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no config.yaml: the defaults; models/ and data/ under tmp_path
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")  # never the network


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def clean_error(result: Result, *fragments: str) -> None:
    """Exit status 1, one `Error: ...` naming every fragment, no exception escaping to a traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.output  # not an exception escaping
    assert result.output.startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


@pytest.mark.parametrize("source", ["/no/such/finbert", "./missing", "~/models/finbert", "../elsewhere/finbert"])
def test_export_finbert_from_a_missing_path_says_what_to_do(tmp_path: Path, source: str):
    result = invoke("export", "finbert", "--source", source, "--repository", str(tmp_path / "repo"))
    clean_error(result, "cannot load FinBERT weights", f"{source!r} is not a local directory", "hf download")


def test_export_finbert_from_a_missing_model_id_still_says_so(tmp_path: Path):
    result = invoke("export", "finbert", "--source", "rel/missing", "--repository", str(tmp_path / "repo"))
    clean_error(result, "'rel/missing' is not a local directory, not in the Hugging Face cache", "hf download")


def test_export_finbert_from_a_folder_without_a_model_names_what_it_lacks(tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke("export", "finbert", "--source", str(empty), "--repository", str(tmp_path / "repo"))
    clean_error(
        result, f"the folder {str(empty)!r} has no config.json, no model weights", "tokenizer", "hf download"
    )
    (empty / "config.json").write_text("{}")
    (empty / "tokenizer.json").write_text("{}")
    result = invoke("export", "finbert", "--source", str(empty), "--repository", str(tmp_path / "repo"))
    clean_error(result, "has no model weights (model.safetensors or pytorch_model.bin): it is not a")
    assert "config.json" not in result.output.split("hf download")[0]


def not_a_journal(tmp_path: Path) -> Path:
    text = tmp_path / "notes.txt"
    text.write_text("this is not SQLite\n" * 20)
    return text


def unreadable_journal(tmp_path: Path) -> Path:
    """A WAL journal whose shared-memory file cannot be opened (a folder in its place: unreadable even as root,
    as a journal in a read-only folder is to its reader)."""
    db = tmp_path / "ro" / "portfolio.db"
    open_journal(db).close()
    (tmp_path / "ro" / "portfolio.db-shm").mkdir()
    (tmp_path / "ro" / "portfolio.db-wal").mkdir()
    return db


@pytest.mark.parametrize("journal", [not_a_journal, unreadable_journal])
@pytest.mark.parametrize(
    "args", [["db", "status"], ["backtest", "--source", "journal"]], ids=["db status", "backtest journal"]
)
def test_a_journal_that_cannot_be_read_is_a_clean_error(
    tmp_path: Path, journal: Callable[[Path], Path], args: list[str]
):
    db = journal(tmp_path)
    result = invoke(*args, "--db", str(db))
    clean_error(result, f"cannot open the journal at {str(db)!r}", "choose another file with --db")


@pytest.mark.parametrize(
    "args",
    [["db", "prune", "--days", "30"], ["resolve"], ["db", "status"]],
    ids=["db prune", "resolve", "db status"],
)
def test_a_mistyped_journal_is_refused_not_created(tmp_path: Path, args: list[str]):
    typo = tmp_path / "typo" / "portfolio.db"
    result = invoke(*args, "--db", str(typo))
    clean_error(result, f"no journal at {typo}: create it with `investiq db init`")
    assert not typo.parent.exists()


def test_train_patchtst_from_csv_without_a_file_asks_for_one():
    result = invoke("train", "patchtst", "--source", "csv")
    clean_error(result, "--source csv needs a bar file: --csv FILE, or the setting price_csv")
    assert "did not record" not in result.output


def test_an_interval_that_is_none_of_the_known_ones_is_a_usage_error():
    result = invoke("train", "patchtst", "--source", "sample", "--interval", "7q")
    assert result.exit_code == 2 and "'7q' is not one of" in result.output  # it trained, before


def test_an_output_folder_the_file_system_refuses_is_named_not_a_traceback(tmp_path: Path):
    """`report --out` under a file (or on a read-only disk) ended in an OSError traceback (a review)."""
    db = tmp_path / "portfolio.db"
    open_journal(db).close()
    (tmp_path / "afile").write_text("")
    result = CliRunner().invoke(main, ["report", "--db", str(db), "--out", str(tmp_path / "afile" / "report")])
    assert result.exit_code == 1 and result.exception is not None and not isinstance(result.exception, OSError)
    assert f"{tmp_path / 'afile'}: a file where a folder goes" in result.output, result.output


def test_bench_summary_without_results_names_the_benchmarks_to_run(tmp_path: Path):
    """Run outside the checkout (its --out is relative), it was a FileNotFoundError traceback (a review)."""
    result = CliRunner().invoke(main, ["bench", "summary", "--out", str(tmp_path)])
    assert result.exit_code == 1 and f"`investiq bench gemm --out {tmp_path}`" in result.output, result.output


def test_a_journal_path_that_is_a_folder_is_named_so(tmp_path: Path):
    """`db status` said "no journal: create it with `investiq db init`", which then failed on the folder."""
    result = CliRunner().invoke(main, ["db", "status"], env={"INVESTIQ_DB_PATH": str(tmp_path)})
    assert result.exit_code == 1 and f"{tmp_path} is a folder, not a journal" in result.output, result.output


def test_ctrl_c_ends_a_command_with_130_as_a_shell_says_interrupted(monkeypatch: pytest.MonkeyPatch):
    """Click printed "Aborted!" and exited 1: a script could not tell an interrupt from a failure (a review)."""

    def interrupted() -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("investiq.cli.main.render_defaults", interrupted)
    result = CliRunner().invoke(main, ["config", "defaults"])
    assert result.exit_code == 130 and "interrupted" in result.output, (result.exit_code, result.output)


def test_a_file_this_user_may_not_read_is_not_told_to_be_written(tmp_path: Path):
    """A model file of mode 000 got "give a path this user can write" (a review)."""
    import errno

    from investiq.cli.main import _refusal

    told = _refusal(PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "artifact.json")))
    assert "change its permissions, or give a path it can read and write" in told


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--interval", "15m"], "the sample holds 1d bars: --interval 15m"),
        (["--days", "30"], "--days 30 cuts csv"),
    ],
)
def test_train_on_the_sample_refuses_what_it_would_ignore(tmp_path: Path, extra: list[str], said: str):
    """`train patchtst --source sample --interval 15m` (or `--days 30`) trained on the whole daily sample without
    a word (a review)."""
    env = {"INVESTIQ_MODELS_DIR": str(tmp_path / "models"), "INVESTIQ_DATA_DIR": str(tmp_path / "data")}
    result = CliRunner().invoke(main, ["train", "patchtst", "--source", "sample", *extra], env=env)
    assert result.exit_code != 0 and said in result.output, result.output
