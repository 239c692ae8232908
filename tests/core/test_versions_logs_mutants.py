"""Kill tests of a mutation audit of the model repository's numbered versions (investiq/core/versions.py), the
`investiq models list|promote` layer (investiq/ops/models.py) and the gateway's structured logs (gateway/logs.py):
each fails with the mutant its docstring names applied, and passes on the code as it is. Versions are folders made
in tmp_path holding an artifact.json and a few bytes of "graph" (nothing trains or exports); the rollout's reload
is replaced by a stand-in that answers at once; logs go through a handler on a StringIO, each test in a fresh
contextvars.Context so no request context leaks between tests."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.logs import (
    UVICORN_LOGGERS,
    JsonFormatter,
    TextFormatter,
    annotate,
    configure_logging,
    current_request,
    start_request,
)
from investiq.core.patchtst import PATCHTST, RANDOM_WALK, PatchTSTMeta
from investiq.core.settings import Settings
from investiq.core.versions import (
    VersionError,
    install,
    next_number,
    number_for,
    prune,
    prune_retired,
    restore,
    retire,
    retired_root,
    serving,
    serving_copy,
    serving_dir,
    version_dir,
    versions,
)
from investiq.ops import lifecycle
from investiq.ops.models import promote_version, version_rows

M = PATCHTST


def make_version(root: Path, number: int, weights: str = "", graph: bool = True, **meta: Any) -> Path:
    """root/<number> holding a PatchTST artifact.json (weights `weights`, default w<number>) and, with `graph`, a
    tiny model.onnx and a config file."""
    directory = root / str(number)
    directory.mkdir(parents=True)
    artifact = PatchTSTMeta(weights or f"w{number}", 8, 2, "1d", "log_return", ["X"], "s", "2020-01-01", **meta)
    artifact.save(directory)
    if graph:
        (directory / "model.onnx").write_bytes(b"graph")
        (directory / "config.pbtxt").write_text("name: 'patchtst'")
    return directory


def numbers_in(root: Path) -> list[int]:
    """Every numbered folder under `root`, complete or not, ascending."""
    return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit()) if root.is_dir() else []


# ---- versions.py: which serves, numbering


def test_only_complete_versions_count_and_the_highest_number_serves(tmp_path: Path):
    """Mutants: a folder without artifact.json counted, numbers sorted as text, the oldest taken as serving, or
    the fallback path of an empty repository named version 0: a half-installed version 11 served, 9 served over
    10, version 2 served after every promote, or an error message pointing at patchtst/0."""
    repo = tmp_path / "repo"
    for n in (2, 9, 10):
        make_version(repo / M, n)
    (repo / M / "11").mkdir()  # an install that died before its artifact.json
    (repo / M / "staging").mkdir()
    assert versions(repo, M) == [2, 9, 10]
    assert serving(repo, M) == 10
    assert serving_dir(repo, M) == repo / M / "10"
    assert serving_dir(tmp_path / "empty", M) == tmp_path / "empty" / M / "1"
    assert versions(tmp_path / "empty", M) == [] and serving(tmp_path / "empty", M) is None
    assert retired_root(tmp_path / "models") == tmp_path / "models" / "retired"


def test_a_new_number_is_above_every_number_ever_taken(tmp_path: Path):
    """Mutants: the retired versions, or the half-installed folders, left out of the numbers taken, the first
    number 2, or the count of versions used instead of the highest: a number reused, so `models promote 5` names
    a different model than the one retired as 5, or an install lands on an existing folder."""
    repo, retired = tmp_path / "repo", tmp_path / "models" / "retired"
    assert next_number(repo, M) == 1
    make_version(repo / M, 3)
    (repo / M / "4").mkdir()  # incomplete: still taken
    assert next_number(repo, M) == 5
    make_version(retired / M, 7)
    assert next_number(repo, M, retired) == 8
    assert next_number(repo, M) == 5


def test_an_export_of_the_serving_weights_replaces_it_and_other_weights_take_a_new_number(tmp_path: Path):
    """Mutants: the weights compared with != , or the retired versions forgotten when numbering a new export:
    a re-export piles up copies (and a rollback serves the same weights), a new model overwrites the serving
    one, or it takes a number a retired version still holds."""
    repo, retired = tmp_path / "repo", tmp_path / "models" / "retired"
    make_version(repo / M, 1, weights="abc")
    make_version(retired / M, 2, weights="old")
    assert number_for(repo, M, "abc", retired) == 1
    assert number_for(repo, M, "new", retired) == 3


def test_only_an_identical_artifact_is_a_copy_of_the_serving_version(tmp_path: Path):
    """Mutants: any export taken for a copy of the serving version, or an unreadable serving artifact.json a
    traceback: `models promote <new export>` refused as "already serves", or the way out of a broken version
    blocked."""
    repo = tmp_path / "repo"
    make_version(repo / M, 1)
    same = make_version(tmp_path / "exports", 1)
    other = make_version(tmp_path / "exports", 2)
    assert serving_copy(same, repo, M) == 1
    assert serving_copy(other, repo, M) is None
    (repo / M / "1" / "artifact.json").write_text("{not json")
    assert serving_copy(other, repo, M) is None


def test_install_copies_every_file_under_a_number_no_retired_one_holds(tmp_path: Path):
    """Mutants: the copy leaving out the ONNX graph, or the install numbered without the retired versions: a
    version installed with no graph (every forecast fails after the rollout), or installed over the number of
    a retired one."""
    repo, retired = tmp_path / "repo", tmp_path / "models" / "retired"
    make_version(repo / M, 1)
    make_version(retired / M, 2)
    source = make_version(tmp_path / "export", 5)
    assert install(source, repo, M, retired) == 3
    installed = version_dir(repo, M, 3)
    assert sorted(p.name for p in installed.iterdir()) == ["artifact.json", "config.pbtxt", "model.onnx"]
    assert (installed / "model.onnx").read_bytes() == b"graph"
    assert serving(repo, M) == 3 and numbers_in(retired / M) == [2]


def test_install_refuses_what_is_not_an_export_before_taking_a_number(tmp_path: Path):
    """Mutants: the artifact.json check or the ONNX check dropped, or the advice to export left out of the
    message: a folder of anything, or a training output, installed as the newest version and then refused by
    the stack, its number burnt; or a user told what is wrong but not what to run."""
    repo = tmp_path / "repo"
    make_version(repo / M, 1)
    empty = tmp_path / "nothing"
    empty.mkdir()
    (empty / "model.onnx").write_bytes(b"graph")
    with pytest.raises(VersionError, match=r"is not an exported version \(no artifact.json\)"):
        install(empty, repo, M)
    trained = make_version(tmp_path / "trained", 1, graph=False)
    with pytest.raises(VersionError, match=re.escape(f"(`investiq export {M} --model-dir {trained}`)")):
        install(trained, repo, M)
    assert numbers_in(repo / M) == [1] and next_number(repo, M) == 2


# ---- versions.py: retire, restore, prune


def test_retire_moves_a_complete_version_to_archive_model_number_and_restore_brings_it_back(tmp_path: Path):
    """Mutants: the archive path without the model's folder, or restore putting it back one number higher: a
    retired version `models promote N` cannot find, or a rollback that failed leaves the wrong number serving."""
    repo, archive = tmp_path / "repo", tmp_path / "models" / "retired"
    make_version(repo / M, 1)
    make_version(repo / M, 2)
    where = retire(repo, M, 2, archive)
    assert where == archive / M / "2" and (where / "artifact.json").is_file()
    assert versions(repo, M) == [1]
    restore(where, repo, M, 2)
    assert versions(repo, M) == [1, 2] and not where.exists()


def test_retire_refuses_an_incomplete_version_and_an_occupied_target(tmp_path: Path):
    """Mutants: only the folder's existence checked instead of its being a complete version, or an existing
    target accepted: a half-installed folder retired as if it were a model, or someone's folder overwritten or
    merged with the version."""
    repo, archive = tmp_path / "repo", tmp_path / "models" / "retired"
    make_version(repo / M, 1)
    (repo / M / "2").mkdir()
    with pytest.raises(VersionError, match=r"has no version 2 in .* \(has \[1\]\)"):
        retire(repo, M, 2, archive)
    assert (repo / M / "2").is_dir() and not (archive / M / "2").exists()
    make_version(repo / M, 3)
    (archive / M / "3").mkdir(parents=True)
    (archive / M / "3" / "mine.txt").write_text("someone else's")
    with pytest.raises(VersionError, match=r"cannot retire version 3: .* exists already"):
        retire(repo, M, 3, archive)
    assert versions(repo, M) == [1, 3]
    assert [p.name for p in (archive / M / "3").iterdir()] == ["mine.txt"]


def test_prune_retired_deletes_the_oldest_by_number(tmp_path: Path):
    """Mutants: the retired numbers sorted as text, or the newest deleted instead of the oldest: with 9, 10 and
    11 retired and keep 2, 10 (or 11) deleted and 9 kept, so the version a user would promote back is gone."""
    retired = tmp_path / "retired"
    for n in (9, 10, 11):
        make_version(retired / M, n)
    assert prune_retired(retired, M, 2) == [9]
    assert numbers_in(retired / M) == [10, 11]
    assert prune_retired(tmp_path / "none", M, 2) == []


def test_prune_keeps_the_newest_versions_and_never_the_serving_one(tmp_path: Path):
    """Mutants: the oldest `keep` kept instead of the newest, one version too many deleted, keep 1 deleting
    nothing, or keep 0 (or 0 retired alike) deleting everything: the serving version deleted under a running
    gateway, rollback targets lost, or the disk filled."""
    repo, retired = tmp_path / "repo", tmp_path / "retired"
    for n in (1, 2, 3, 4, 5):
        make_version(repo / M, n)
    make_version(retired / M, 6)
    assert prune(repo, M, 0) == [] and prune_retired(retired, M, 0) == []
    assert versions(repo, M) == [1, 2, 3, 4, 5] and numbers_in(retired / M) == [6]
    assert prune(repo, M, 2) == [1, 2, 3]
    assert versions(repo, M) == [4, 5]
    assert prune(repo, M, 1) == [4]
    assert versions(repo, M) == [5] and serving(repo, M) == 5


# ---- ops/models.py: `models list` and `models promote`


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Kept versions 1 (validation kept nothing: random_walk) and 2 (serving); retired 9 and 10, a corrupt 11 and
    a staging folder; keep_versions 3. The rollout's reload answers at once."""
    made = Settings(model_repository=tmp_path / "repo", models_dir=tmp_path / "models", keep_versions=3)
    kept, retired = made.model_repository / M, retired_root(made.models_dir) / M
    make_version(kept, 1, calibration={"alpha": 0.0, "slope": 0.0, "spread": 0.0})
    make_version(kept, 2, trained_at="2021-01-02T00:00:00+00:00", validated_until="2020-06-01")
    make_version(retired, 10)
    make_version(retired, 9)
    (retired / "11").mkdir()
    (retired / "11" / "artifact.json").write_text("{broken")
    (retired / ".staging-12").mkdir()
    monkeypatch.setattr(lifecycle, "reload", lambda settings, timeout_s=180.0: "reloaded")
    return made


def quiet(_: str) -> None:
    pass


def test_models_list_marks_the_serving_version_and_lists_the_retired_in_numeric_order(settings: Settings):
    """Mutants: the serving mark inverted, the retired sorted as text or not listed, a staging folder among them,
    an unreadable artifact's error replaced by its type, an unknown training time given as "" instead of null,
    seen_until read from trained_until, or the served name taken as patchtst always: `models list` shows the
    wrong version serving, hides what promote can bring back, crashes, or claims a random walk is the network."""
    rows = version_rows(settings)
    assert [(r["number"], r["state"]) for r in rows] == [
        (1, "kept"),
        (2, "serving"),
        (9, "retired"),
        (10, "retired"),
        (11, "retired"),
    ]
    one, two = rows[0], rows[1]
    assert one["serves_as"] == RANDOM_WALK and two["serves_as"] == PATCHTST
    assert one["trained_at"] is None and two["trained_at"] == "2021-01-02T00:00:00+00:00"
    assert two["seen_until"] == "2020-06-01" and one["seen_until"] == "2020-01-01"
    assert two["model_version"] == "w2" and two["path"] == str(settings.model_repository / M / "2")
    assert "artifact.json is corrupt" in rows[4]["error"] and "model_version" not in rows[4]


def test_promoting_a_kept_version_installs_a_copy_and_keeps_the_original(settings: Settings):
    """Mutants: the already-serving check inverted, a kept number looked up among the retired first, or the
    source removed when it is not a retired one: promoting version 1 refused or "not found", or version 1 itself
    deleted from the repository after its copy went in."""
    assert promote_version(settings, "1", quiet) == 12
    assert versions(settings.model_repository, M) == [1, 2, 12]
    assert serving(settings.model_repository, M) == 12
    with pytest.raises(VersionError, match="version 12 already serves"):
        promote_version(settings, "12", quiet)
    with pytest.raises(VersionError, match=r"no version 7 of patchtst: see `investiq models list`"):
        promote_version(settings, "7", quiet)


def test_promoting_a_retired_version_takes_it_out_of_the_retired_and_prunes(settings: Settings):
    """Mutants: the retired source left in place, or the prune after a promote dropped: version 10 listed both
    serving (as 12) and retired (and 9 pruned in its stead), or keep_versions exceeded after every promote until
    the disk fills."""
    settings = settings.model_copy(update={"keep_versions": 2})
    assert promote_version(settings, "10", quiet) == 12
    assert versions(settings.model_repository, M) == [2, 12]
    assert numbers_in(retired_root(settings.models_dir) / M) == [9, 11]  # 10 moved back: 2 left, none pruned


def test_promoting_an_export_that_is_a_copy_of_the_serving_version_is_refused(settings: Settings, tmp_path: Path):
    """Mutant: the copy check on an exported directory dropped: the same export promoted twice took two numbers,
    and a rollback then "went back" to the same weights."""
    copy = tmp_path / "export"
    make_version(copy, 2, trained_at="2021-01-02T00:00:00+00:00", validated_until="2020-06-01")
    with pytest.raises(VersionError, match="is version 2, which already serves"):
        promote_version(settings, str(copy / "2"), quiet)
    assert versions(settings.model_repository, M) == [1, 2]


# ---- gateway/logs.py


def fresh_context(fn: Callable[[], None]) -> None:
    """Runs `fn` in an empty contextvars.Context: no request context before, none left after."""
    contextvars.Context().run(fn)


def on(stream: io.StringIO, formatter: logging.Formatter) -> logging.Logger:
    """A logger of its own (no propagation) writing through `formatter` to `stream`."""
    logger = logging.getLogger(f"investiq.test.{id(stream)}")
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    return logger


TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def test_a_json_line_carries_the_request_and_its_fields():
    """Mutants: the context not set, annotate replacing the model (or version) with None when only the other is
    given, model and version swapped, the context winning over `extra=`, null fields kept, seconds instead of
    milliseconds, the UTC offset kept instead of Z, the level as a number, the unformatted message, uvicorn's
    color_message logged, or non-ASCII escaped: lines a log query cannot join to their request, or garbled."""
    stream = io.StringIO()
    log = on(stream, JsonFormatter())

    def body() -> None:
        context = start_request("req-1")
        assert current_request() is context
        annotate(model_version="6")
        annotate(model=PATCHTST)
        assert (context.model, context.model_version) == (PATCHTST, "6")
        annotate(model_version="7")
        assert (context.model, context.model_version) == (PATCHTST, "7")
        log.info("n=%d café", 3, extra={"path": Path("/x"), "color_message": "\x1b[1mn\x1b[0m", "none": None})
        log.info("other", extra={"model": "finbert"})

    fresh_context(body)
    first, second = stream.getvalue().splitlines()
    assert "café" in first
    entry = json.loads(first)
    assert re.fullmatch(TIME, entry.pop("time"))
    assert entry == {
        "level": "INFO",
        "logger": log.name,
        "message": "n=3 café",
        "request_id": "req-1",
        "model": PATCHTST,
        "model_version": "7",
        "path": "/x",
    }
    assert json.loads(second)["model"] == "finbert" and json.loads(second)["model_version"] == "7"


def test_outside_a_request_no_request_fields_and_annotate_does_nothing():
    """Mutants: annotate without its no-request guard (an AttributeError from a backend's start-up code), or
    None fields kept: lines outside a request carrying "request_id": null."""
    stream = io.StringIO()
    log = on(stream, JsonFormatter())

    def body() -> None:
        annotate(model="x", model_version="1")
        assert current_request() is None
        start = start_request("r")
        log.info("in a request with no model yet")
        assert start.model is None

    fresh_context(body)
    entry = json.loads(stream.getvalue())
    assert "model" not in entry and "model_version" not in entry and entry["request_id"] == "r"
    fresh_context(lambda: log.warning("outside"))
    outside = json.loads(stream.getvalue().splitlines()[-1])
    assert set(outside) == {"time", "level", "logger", "message"}


def test_exceptions_and_stacks_are_kept_in_both_formats():
    """Mutants: the exception or the stack left out of the JSON line, or the traceback out of the text line: a
    crash logged with nothing to debug it by."""
    for formatter in (JsonFormatter(), TextFormatter()):
        stream = io.StringIO()
        log = on(stream, formatter)
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            log.exception("it broke")
        log.info("where", stack_info=True)
        text = stream.getvalue()
        assert "ZeroDivisionError: division by zero" in text and "Stack (most recent call last)" in text
        if isinstance(formatter, JsonFormatter):
            broke, where = (json.loads(line) for line in text.splitlines())
            assert "ZeroDivisionError" in broke["exception"] and "Stack" in where["stack"]


def test_a_text_line_names_time_level_logger_and_escapes_control_characters_in_fields():
    """Mutants: level and logger swapped, a field's value written raw, U+2028/U+2029 or the C1 controls (NEL,
    U+0085) left out of the escaped set, or control characters replaced by a space: a client's path forging a
    line of its own in the text log, or the escaped value no longer says what the client sent."""
    stream = io.StringIO()
    log = on(stream, TextFormatter())
    fresh_context(lambda: log.warning("seen", extra={"path": "/a\nb\u2028c\x85d"}))
    (line,) = stream.getvalue().splitlines()
    assert re.fullmatch(TIME + re.escape(f" WARNING {log.name}: seen path=/a\\nb\\u2028c\\x85d"), line), line


@pytest.fixture
def root_restored() -> Iterator[None]:
    """The root logger, uvicorn's loggers and warnings capture as they were before configure_logging."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    loggers = [logging.getLogger(name) for name in UVICORN_LOGGERS]
    uvicorn = {logger.name: (list(logger.handlers), logger.propagate) for logger in loggers}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, (kept, propagate) in uvicorn.items():
        logging.getLogger(name).handlers[:] = kept
        logging.getLogger(name).propagate = propagate
    logging.captureWarnings(False)


def test_configure_logging_one_handler_its_level_uvicorn_and_warnings_through_it(root_restored: None):
    """Mutants: the stream given ignored, the earlier handler not removed, the level ignored, uvicorn's own
    handlers kept or its propagation turned off, warnings not captured, or json and text swapped: lines on
    stderr instead of the file asked, every line twice, debug noise, a second non-JSON copy (or none) of
    uvicorn's lines, raw warnings text, or text where a log shipper expects JSON."""
    side = io.StringIO()
    logging.getLogger("uvicorn.error").addHandler(logging.StreamHandler(side))
    logging.getLogger("uvicorn.access").propagate = False
    stream = io.StringIO()
    configure_logging("info", "text", stream=stream)
    configure_logging("warning", "json", stream=stream)
    logging.getLogger("investiq.test.cfg").info("not at warning")
    logging.getLogger("uvicorn.error").warning("from uvicorn")
    logging.getLogger("uvicorn.access").error("access")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        configure_logging("warning", "json", stream=stream)
        warnings.warn("careful", UserWarning, stacklevel=1)
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["logger"], e["level"]) for e in entries] == [
        ("uvicorn.error", "WARNING"),
        ("uvicorn.access", "ERROR"),
        ("py.warnings", "WARNING"),
    ]
    assert "careful" in entries[2]["message"] and side.getvalue() == ""
