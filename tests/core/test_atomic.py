"""Installing and removing version directories so that no reader ever sees half of one."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from investiq.core import atomic
from investiq.core.atomic import remove, replace_file, staged
from investiq.core.versions import versions


def test_staged_replaces_the_target_whole_or_not_at_all(tmp_path: Path):
    target = tmp_path / "patchtst" / "1"
    with staged(target) as out:
        (out / "artifact.json").write_text("{}")

    def failed_export() -> None:
        with staged(target) as out:
            (out / "artifact.json").write_text('{"half": true}')
            raise RuntimeError("validation failed")

    with pytest.raises(RuntimeError, match="validation"):
        failed_export()
    assert (target / "artifact.json").read_text() == "{}"  # the failed one left no trace
    with staged(target) as out:
        (out / "artifact.json").write_text('{"new": true}')
    assert (target / "artifact.json").read_text() == '{"new": true}'
    assert sorted(p.name for p in target.parent.iterdir()) == ["1"]  # no staging or old directories


def test_remove_hides_the_directory_before_deleting_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for n in (1, 2):
        with staged(tmp_path / "patchtst" / str(n)) as out:
            (out / "artifact.json").write_text("{}")
    monkeypatch.setattr("investiq.core.atomic.shutil.rmtree", lambda *_, **__: None)  # killed mid-delete
    remove(tmp_path / "patchtst" / "2")
    assert versions(tmp_path, "patchtst") == [1]  # what is left of 2 is not taken for a version
    monkeypatch.undo()
    remove(tmp_path / "patchtst" / "1")
    assert not (tmp_path / "patchtst" / "1").exists()


def test_replace_file_writes_whole_or_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "stamp"
    replace_file(target, "old\n")
    assert target.read_text() == "old\n" and oct(target.stat().st_mode & 0o777) == "0o644"
    replace_file(target, "new\n")
    assert target.read_text() == "new\n"

    def crash(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("investiq.core.atomic.os.replace", crash)
    with pytest.raises(OSError, match="disk full"):
        replace_file(target, "half\n")
    assert target.read_text() == "new\n" and sorted(p.name for p in tmp_path.iterdir()) == ["stamp"]


def test_an_install_swaps_the_target_in_one_step_where_the_system_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """On Linux the installed directory and the staged one are exchanged by one renameat2: no moment without a
    model, so nothing is renamed aside (a review killed an install between its two renames: the model was gone)."""
    target = tmp_path / "model"
    with staged(target) as out:
        (out / "artifact.json").write_text("old")
    renames: list[str] = []
    real = os.rename

    def counted(a: Path, b: Path) -> None:
        renames.append(str(b))
        real(a, b)

    monkeypatch.setattr(os, "rename", counted)
    with staged(target) as out:
        (out / "artifact.json").write_text("new")
    assert (target / "artifact.json").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == [
        "model"
    ]
    if sys.platform == "linux":
        assert renames == []


def test_an_install_killed_between_its_renames_is_put_back_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Where no exchange exists, the old directory goes aside first; a crash then left no target, only the aside,
    and every later load failed. The next install restores it before it starts."""
    target = tmp_path / "model"
    with staged(target) as out:
        (out / "artifact.json").write_text("old")
    monkeypatch.setattr(atomic, "_exchange", lambda *_: False)
    real = os.rename

    def killed(a: Path, b: Path) -> None:
        if ".staging-" in str(a):
            raise KeyboardInterrupt  # the process dies after the first rename
        real(a, b)

    monkeypatch.setattr(os, "rename", killed)
    with pytest.raises(KeyboardInterrupt), staged(target) as out:
        (out / "artifact.json").write_text("new")
    assert not target.exists()
    monkeypatch.setattr(os, "rename", real)
    with pytest.raises(RuntimeError), staged(target):
        raise RuntimeError("the next install fails: the old model is back all the same")
    assert (target / "artifact.json").read_text() == "old"
