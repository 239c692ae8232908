"""Installing and removing version directories so that no reader ever sees half of one."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from investiq.core import atomic
from investiq.core.atomic import files_into, remove, replace_file, staged
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


@pytest.mark.parametrize("copy_fails", [False, True])
def test_retire_and_restore_across_file_systems_never_show_half_a_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, copy_fails: bool
):
    """A model repository on a mounted volume and the archive local: a rename between them fails (EXDEV), and
    `shutil.move` copied and deleted file by file, so a reader saw the retired version still serving with its
    model gone, and a crash left it so (a review). Each copy here checks what a reader sees meanwhile."""
    import errno
    import shutil

    from investiq.core.versions import restore, retire

    repo, archive = tmp_path / "repo", tmp_path / "models" / "retired"
    for n in (1, 2):
        with staged(repo / "patchtst" / str(n)) as out:
            (out / "artifact.json").write_text("{}")
            (out / "model.onnx").write_text("weights")
    real_rename, real_copy = os.rename, shutil.copytree

    def rename(src: Any, dst: Any) -> None:
        if Path(src).is_relative_to(repo) != Path(dst).is_relative_to(repo):  # two file systems
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_rename(src, dst)

    seen: list[list[int]] = []

    def copy(src: Any, dst: Any, **kwargs: Any) -> Any:
        listed = versions(repo, "patchtst")
        assert all((repo / "patchtst" / str(n) / "model.onnx").is_file() for n in listed)  # each listed is whole
        seen.append(listed)
        if copy_fails:
            real_copy(src, dst, **kwargs)
            (Path(dst) / "model.onnx").unlink()  # half copied when the disk filled, or the process was stopped
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_copy(src, dst, **kwargs)

    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(shutil, "copytree", copy)
    if copy_fails:
        with pytest.raises(OSError, match="No space"):
            retire(repo, "patchtst", 2, archive)
        assert (versions(repo, "patchtst"), seen) == ([1, 2], [[1, 2]])  # version 2 whole where it was
        assert (repo / "patchtst" / "2" / "model.onnx").is_file()
        assert sorted(p.name for p in (repo / "patchtst").iterdir()) == ["1", "2"]
        assert sorted(p.name for p in (archive / "patchtst").iterdir()) == []  # no half copy left
        return
    retired = retire(repo, "patchtst", 2, archive)
    assert (retired / "model.onnx").read_text() == "weights" and versions(repo, "patchtst") == [1]
    restore(retired, repo, "patchtst", 2)
    # during the retire's copy version 2 still served whole; during the restore's it was not listed yet
    assert (versions(repo, "patchtst"), seen) == ([1, 2], [[1, 2], [1]])
    assert (repo / "patchtst" / "2" / "model.onnx").read_text() == "weights" and not retired.exists()
    assert sorted(p.name for p in (repo / "patchtst").iterdir()) == ["1", "2"]
    assert sorted(p.name for p in (archive / "patchtst").iterdir()) == []


def test_files_into_moves_a_reports_files_in_index_last_and_leaves_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """`evaluate patchtst` wrote its report in place: an interrupt left this run's report.json beside the last
    run's report.md and plots (a review). Nothing changes until the report is whole; then each file is replaced,
    report.json last, and a README of the folder's own stays."""
    out = tmp_path / "reports" / "patchtst-sample"
    out.mkdir(parents=True)
    for name, text in (("report.json", "old"), ("report.md", "old"), ("README.md", "mine")):
        (out / name).write_text(text)

    def interrupted() -> None:
        with atomic.files_into(out, last="report.json") as folder:
            (folder / "report.json").write_text("new")
            raise KeyboardInterrupt  # Ctrl-C while the plots are drawn

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        "report.json": "old",
        "report.md": "old",
        "README.md": "mine",
    }
    moved: list[str] = []
    real = os.replace

    def replace(a: Any, b: Any) -> None:
        moved.append(Path(b).name)
        real(a, b)

    monkeypatch.setattr(os, "replace", replace)
    with atomic.files_into(out, last="report.json") as folder:
        assert folder.parent == out  # on its file system even where `out` is a mount point (a review: EXDEV)
        for name in ("report.json", "report.md", "hit_rate.png"):
            (folder / name).write_text("new")
    assert moved[-1] == "report.json" and sorted(moved) == ["hit_rate.png", "report.json", "report.md"]
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        "report.json": "new",
        "report.md": "new",
        "hit_rate.png": "new",
        "README.md": "mine",
    }
    assert sorted(p.name for p in out.parent.iterdir()) == ["patchtst-sample"]  # no staging left


def test_what_a_killed_install_left_is_swept_by_the_next_one(tmp_path: Path):
    """SIGKILL (the OOM killer mid-export) runs no cleanup: its staging folders, each a whole model, stayed for
    good. The next install in the folder removes those of this host's dead processes; a live process's, another
    host's and an unowned name stay, and an installed version set aside stays while it is the only copy."""
    import signal
    import subprocess

    repo, report = tmp_path / "repo" / "finbert", tmp_path / "report"
    child = (
        "import os, signal, sys\nfrom pathlib import Path\nfrom investiq.core.atomic import files_into, staged\n"
        "with files_into(Path(sys.argv[2]), 'index.md') as out:\n"
        "    (out / 'part.md').write_text('half')\n"
        "    with staged(Path(sys.argv[1]) / '2') as model:\n"
        "        (model / 'model.onnx').write_bytes(b'0' * 1000)\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", child, str(repo), str(report)], check=False)
    assert killed.returncode == -signal.SIGKILL
    left = sorted(p.name for p in repo.iterdir()) + sorted(p.name for p in report.iterdir())
    assert len(left) == 2 and all(".staging-" in name for name in left), left

    host = atomic._owner().rsplit("_", 1)[0]
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        gone = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
        )
        dead_pid = int(gone.stdout)
        kept = [f".2.staging-{host}_{live.pid}-abc", f".2.staging-elsewhere_{dead_pid}-abc", ".2.staging-abc_def"]
        (repo / "1").mkdir()
        swept = [f".1.old-{host}_{dead_pid}-", f".2.removed-{host}_{dead_pid}-"]
        only_copy = f".3.old-{host}_{dead_pid}-"
        for name in kept + swept + [only_copy]:
            (repo / name).mkdir()
        with staged(repo / "2") as out:
            (out / "model.onnx").write_bytes(b"1")
        with files_into(report, "index.md") as out:
            (out / "index.md").write_text("whole")
        assert sorted(p.name for p in repo.iterdir()) == sorted(["1", "2", only_copy, *kept])
        assert sorted(p.name for p in report.iterdir()) == ["index.md"]
    finally:
        live.kill()
        live.wait()
