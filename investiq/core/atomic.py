"""Installing an export atomically: build in a staging directory, validate, then rename into place.

A failed or interrupted export leaves the installed version untouched and no half-written files
in the version directory Triton and the embedded backend read.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged(target: Path) -> Iterator[Path]:
    """Yield an empty staging directory beside `target`; on success it replaces `target`.

    The staging directory is a sibling (same filesystem, so the rename is atomic) whose name
    starts with a dot, which Triton does not take for a version. An exception discards it.

    An existing `target` is swapped with the staging directory in one step where the system can (Linux's
    renameat2 RENAME_EXCHANGE); elsewhere it is renamed aside first, and a crash between the two renames left
    no `target` at all, only `.<name>.old-<host>_<pid>-` (a review: the trained model gone from its directory),
    which the next install of `target` puts back first (`_restore`).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    _restore(target)
    _sweep(target.parent)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-{_owner()}-", dir=target.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    staging.chmod(0o755)  # mkdtemp makes 0700; servers in containers run as other users
    _sync_tree(staging)  # the files are on disk before their name is: no truncated model after a power cut
    old = None
    if target.exists() and _exchange(staging, target):
        old = staging  # now holding what was installed
    else:
        if target.exists():
            old = target.with_name(f".{target.name}.old-{_owner()}-")
            os.rename(target, old)
        os.rename(staging, target)
    _sync(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def files_into(target: Path, last: str) -> Iterator[Path]:
    """Yield an empty staging directory inside `target` (dotted, so on its file system even where `target` is a
    mount point); on success each file written there replaces its namesake in `target` (os.replace: a reader sees
    the old file or the new one), `last` after the others, so that a report's index is never newer than its
    parts; what else `target` holds stays. On failure nothing in `target` changes. For an output folder that is
    not ours alone (`staged` replaces a folder whole)."""
    target.mkdir(parents=True, exist_ok=True)
    _sweep(target)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{_owner()}-", dir=target))
    try:
        yield staging
        names = sorted((p.name for p in staging.iterdir()), key=lambda name: name == last)
        for name in names:
            _sync(staging / name)
        for name in names:
            os.replace(staging / name, target / name)
        _sync(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def foreign_to(target: Path, marker: str, ours: Callable[[Path], bool] | None = None) -> str | None:
    """Why `staged` must not replace `target` (a folder a user named as an output), or None: it holds files and is
    not an earlier output of the same kind, so replacing it whole would delete what is not ours (`report --out
    reports` deleted the committed reports; `--output-dir models` would have taken every model with it; a review),
    or it is the current directory. An earlier output holds `marker`, the file every output of that kind holds, and
    passes `ours` where given: a marker many outputs share (report.json) is not enough (`report --out` replaced
    a committed evaluation report, README and all, as it held a report.json; a review)."""
    if target.resolve() == Path.cwd().resolve():
        return f"{target} is the current directory, and the output replaces its folder whole: give a new folder"
    if target.is_dir() and any(target.iterdir()):
        if not (target / marker).exists():
            held = f"holds other files and no {marker}"
        elif ours is not None and not ours(target):
            held = "holds an output of another kind, or files of its own"
        else:
            return None
        whole = "and the output replaces its folder whole: give a new folder"
        return f"{target} {held}, {whole}, such as {target / 'new'}"
    return None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux's renameat2 with RENAME_EXCHANGE): True once done, False where the system
    or the file system cannot (then nothing moved)."""
    rename2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None) if sys.platform == "linux" else None
    if rename2 is None:
        return False
    at_cwd, exchange = -100, 2  # AT_FDCWD, RENAME_EXCHANGE
    if rename2(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):  # EPERM: a seccomp filter's refusal
        return False
    raise OSError(code, os.strerror(code), str(b))


def _restore(target: Path) -> None:
    """Put back what an install interrupted between its two renames left aside (`staged`), when `target` is
    missing: the newest `.<name>.old-<host>_<pid>-`."""
    if target.exists():
        return
    aside = sorted(target.parent.glob(f".{target.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if aside:
        os.rename(aside[-1], target)
        _sync(target.parent)


def remove(path: Path) -> None:
    """Delete a directory without a reader ever seeing it half deleted (an artifact.json beside no
    model): rename it to a dotted sibling first, which is atomic and never taken for a version."""
    _sweep(path.parent)
    trash = path.with_name(f".{path.name}.removed-{_owner()}-")
    os.rename(path, trash)
    _sync(path.parent)
    shutil.rmtree(trash, ignore_errors=True)


def move_dir(source: Path, target: Path) -> None:
    """Move a directory so that no reader sees half of it at either end: a rename where both are on one file
    system; across file systems (a model repository on a mounted volume, the archive local) it is copied into
    `target` through `staged` while `source` stays whole, then `source` is removed as `remove` does. A crash
    between the two leaves it at both ends, never at neither (its number stays taken). `shutil.move` copied and
    deleted file by file: a reader saw artifact.json beside no model, and a crash left that for good (a review)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    else:
        _sync(source.parent)
        _sync(target.parent)
        return
    with staged(target) as out:
        shutil.copytree(source, out, dirs_exist_ok=True)
    remove(source)


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary file's path beside `path` to write; on success it is synced and renamed over `path`
    (a reader or a crash sees the old file or the new one, never half of one); on failure it is removed."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
        _sync(temp)
        temp.chmod(0o644)  # mkstemp makes 0600; servers in containers run as other users
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _sync(path.parent)


def replace_file(path: Path, text: str) -> None:
    """Write `path` whole or not at all (`replacing`)."""
    with replacing(path) as temp:
        temp.write_text(text)


def _owner() -> str:
    """This process as staging names record it: `<host>_<pid>` (see `_sweep`)."""
    host = "".join(c if c.isalnum() or c in ".-" else "-" for c in socket.gethostname()) or "host"
    return f"{host}_{os.getpid()}"


def _sweep(folder: Path) -> None:
    """Delete what a killed install left in `folder`, on this host, by a process that is gone: a staging directory
    (`staged`, `files_into`), one being removed (`remove`), or an installed version set aside (`staged`) whose
    replacement is in place. SIGKILL (the OOM killer in the middle of an export) runs no cleanup, and each such
    folder held a whole model (440 MB for FinBERT) that nothing removed (a review). One of another host (a model
    repository on a shared volume) or of a live process is left alone, as is a name without an owner (of before
    the owner was recorded)."""
    host, pid = _owner().rsplit("_", 1)
    for path in folder.glob(".*"):
        mark = next((m for m in (".staging-", ".removed-", ".old-") if m in path.name), None)
        if mark is None:
            continue
        name, _, rest = path.name.partition(mark)
        their_host, _, their_pid = rest.rsplit("-", 1)[0].rpartition("_")
        if their_host != host or not their_pid.isdigit() or their_pid == pid or _alive(int(their_pid)):
            continue
        if mark == ".old-" and not (folder / name[1:]).exists():
            continue  # the only copy: `_restore` puts it back
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_tree(root: Path) -> None:
    for directory, _, names in os.walk(root):
        for name in names:
            _sync(Path(directory) / name)
        _sync(Path(directory))
