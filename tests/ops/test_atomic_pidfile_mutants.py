"""Kill tests of a mutation audit of atomic installs (investiq/core/atomic.py) and PID files
(investiq/ops/pidfile.py): each fails with the mutant its docstring names applied, and passes on the code as it
is. They work on small folders in tmp_path, sockets bound here on 127.0.0.1, tiny `python -c` children, and fakes
of the system calls where a real one would signal or sleep (no server is started, no real process is signalled
but a child of the test's own)."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from investiq.core import atomic
from investiq.core.atomic import files_into, foreign_to, move_dir, remove, replace_file, staged
from investiq.ops import pidfile, service

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc (Linux)")
NO_PID = 4194305  # above the largest PID Linux hands out (pid_max is at most 2**22): never a live process


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The paths `atomic._sync` flushes, in order (each is still flushed for real)."""
    calls: list[Path] = []
    real = atomic._sync

    def spy(path: Path) -> None:
        calls.append(Path(path))
        real(path)

    monkeypatch.setattr(atomic, "_sync", spy)
    return calls


# -- atomic.py: permissions and fsyncs ------------------------------------------------------------------------


def test_an_installed_folder_is_readable_by_the_servers_other_users(tmp_path: Path):
    """atomic.py:staged, chmod 0o755 made 0o700 (mkdtemp's mode kept: a Triton in a container running as another
    user could not read the installed model)."""
    with staged(tmp_path / "patchtst" / "1") as out:
        (out / "artifact.json").write_text("{}")
    assert oct((tmp_path / "patchtst" / "1").stat().st_mode & 0o777) == "0o755"


def test_an_install_flushes_every_file_and_folder_before_its_name_then_the_parent(
    tmp_path: Path, synced: list[Path]
):
    """atomic.py:staged, `_sync_tree(staging)` dropped, `_sync(Path(directory))` of `_sync_tree` dropped, or
    `_sync(target.parent)` dropped (after a power cut: a model under its final name but truncated, or the rename
    itself lost)."""
    target = tmp_path / "finbert" / "1"
    with staged(target) as out:
        staging = out
        (out / "onnx").mkdir()
        (out / "onnx" / "model.onnx").write_bytes(b"weights")
        (out / "artifact.json").write_text("{}")
    before = synced[:-1]
    assert {staging / "onnx" / "model.onnx", staging / "artifact.json"} <= set(before)  # the files
    assert {staging / "onnx", staging} <= set(before)  # the folders that name them
    assert synced[-1] == target.parent  # the rename, last


def test_replace_file_flushes_the_new_file_before_its_rename_and_the_folder_after(
    tmp_path: Path, synced: list[Path]
):
    """atomic.py:replacing, `_sync(temp)` or `_sync(path.parent)` dropped (a power cut after the rename left an
    empty stamp, or the old one back)."""
    replace_file(tmp_path / "stamp", "new\n")
    assert len(synced) == 2 and synced[1] == tmp_path
    assert synced[0].parent == tmp_path and synced[0].name.startswith(".stamp.") and synced[0].suffix == ".tmp"


def test_files_into_flushes_each_file_before_moving_it_and_the_folder_after(tmp_path: Path, synced: list[Path]):
    """atomic.py:files_into, the `_sync(staging / name)` loop or `_sync(target)` dropped (a report whose index is
    on disk before its parts)."""
    out = tmp_path / "report"
    with files_into(out, "index.md") as folder:
        (folder / "part.md").write_text("part")
        (folder / "index.md").write_text("index")
    assert [p.name for p in synced] == ["part.md", "index.md", "report"]
    assert synced[-1] == out and all(p.parent == folder for p in synced[:2])


def test_a_move_on_one_file_system_flushes_both_folders(tmp_path: Path, synced: list[Path]):
    """atomic.py:move_dir, `_sync(target.parent)` dropped after the rename (a power cut: the version gone from
    the archive and not in the repository)."""
    (tmp_path / "repo" / "2").mkdir(parents=True)
    move_dir(tmp_path / "repo" / "2", tmp_path / "archive" / "2")
    assert synced == [tmp_path / "repo", tmp_path / "archive"]
    assert (tmp_path / "archive" / "2").is_dir()


# -- atomic.py: what an interrupted install left ----------------------------------------------------------------


def test_the_newest_copy_set_aside_is_the_one_put_back(tmp_path: Path):
    """atomic.py:_restore, `aside[-1]` made `aside[0]` (of two installs killed between their renames, the older
    model was put back)."""
    target = tmp_path / "model"
    for name, text, mtime in (
        (".model.old-elsewhere_1-", "older", 1_000),
        (".model.old-elsewhere_2-", "newer", 2_000),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "artifact.json").write_text(text)
        os.utime(tmp_path / name, (mtime, mtime))
    with pytest.raises(RuntimeError), staged(target):
        raise RuntimeError("the next install fails")
    assert (target / "artifact.json").read_text() == "newer"


def test_a_copy_set_aside_is_left_alone_while_the_target_is_there(tmp_path: Path):
    """atomic.py:_restore, `if target.exists(): return` dropped (an install moved another host's aside copy over
    the installed model, or failed on it)."""
    target = tmp_path / "model"
    with staged(target) as out:
        (out / "artifact.json").write_text("installed")
    aside = tmp_path / ".model.old-elsewhere_1-"
    aside.mkdir()
    (aside / "artifact.json").write_text("aside")
    with staged(target) as out:
        (out / "artifact.json").write_text("new")
    assert (target / "artifact.json").read_text() == "new"
    assert (aside / "artifact.json").read_text() == "aside"


def test_remove_sweeps_what_a_killed_install_left_and_leaves_no_trash(tmp_path: Path):
    """atomic.py:remove, `_sweep(path.parent)` dropped (a dead process's staging folder, a whole model, stayed)
    or the final `shutil.rmtree(trash)` dropped (each removed version stayed on disk, hidden)."""
    host = atomic._owner().rsplit("_", 1)[0]
    with staged(tmp_path / "patchtst" / "1") as out:
        (out / "artifact.json").write_text("{}")
    (tmp_path / "patchtst" / f".2.staging-{host}_{NO_PID}-abc").mkdir()
    remove(tmp_path / "patchtst" / "1")
    assert list((tmp_path / "patchtst").iterdir()) == []


def test_another_users_process_counts_as_alive(monkeypatch: pytest.MonkeyPatch):
    """atomic.py:_alive, EPERM taken for dead (an install swept the staging folder of another user's export that
    was still writing into it)."""

    def refused(pid: int, sig: int) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "kill", refused)
    assert atomic._alive(1234)


@linux_only
@pytest.mark.parametrize("code", [errno.EPERM, errno.EINVAL])
def test_an_exchange_a_seccomp_filter_refuses_falls_back_to_two_renames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
):
    """atomic.py:_exchange, EPERM dropped from the refusals (in a container whose seccomp profile denies
    renameat2, every install failed with 'Operation not permitted' instead of renaming)."""
    target = tmp_path / "model"
    with staged(target) as out:
        (out / "artifact.json").write_text("old")
    libc = SimpleNamespace(renameat2=lambda *args: -1)
    fake = SimpleNamespace(CDLL=lambda *args, **kwargs: libc, get_errno=lambda: code)
    monkeypatch.setattr(atomic, "ctypes", fake)
    assert atomic._exchange(tmp_path / "a", target) is False
    with staged(target) as out:
        (out / "artifact.json").write_text("new")
    assert (target / "artifact.json").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["model"]


def test_an_output_folder_is_refused_unless_empty_or_an_earlier_output_of_its_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """atomic.py:foreign_to, the current-directory check dropped, `any(target.iterdir())` dropped (an empty folder
    refused), the marker test inverted, or `ours` inverted (`report --out` replaced a committed report folder
    whole, or refused its own earlier output)."""
    out = tmp_path / "out"
    assert foreign_to(out, "report.json") is None  # not there yet
    out.mkdir()
    assert foreign_to(out, "report.json") is None  # empty
    (out / "README.md").write_text("mine")
    assert foreign_to(out, "report.json") == (
        f"{out} holds other files and no report.json, and the output replaces its folder whole: give a new folder,"
        f" such as {out / 'new'}"
    )
    (out / "report.json").write_text("{}")
    assert foreign_to(out, "report.json") is None
    assert foreign_to(out, "report.json", ours=lambda p: True) is None
    refused = foreign_to(out, "report.json", ours=lambda p: False)
    assert refused is not None and "holds an output of another kind" in refused
    monkeypatch.chdir(out)
    here = foreign_to(Path("."), "report.json")
    assert here is not None and "is the current directory" in here


# -- pidfile.py -------------------------------------------------------------------------------------------------


@linux_only
def test_a_process_whose_name_holds_a_parenthesis_is_read_alive():
    """pidfile.py:_state, `rindex(")")` made `index(")")` (a process named `x) Z (y` was read as a zombie: a
    live server taken for stopped and started twice)."""
    code = "open('/proc/self/comm', 'w').write('x) Z (y')\nprint(0, flush=True)\nimport time\ntime.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"0\n"
        assert Path(f"/proc/{proc.pid}/comm").read_text().strip() == "x) Z (y"
        assert pidfile.alive(proc.pid)
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_dead_process_is_not_alive(monkeypatch: pytest.MonkeyPatch):
    """pidfile.py:alive, "X" dropped from the dead states (a process being torn down was taken for a server)."""
    monkeypatch.setattr(pidfile, "_state", lambda pid: "X")
    assert not pidfile.alive(os.getpid())


def test_a_process_of_another_user_counts_by_its_command_line(monkeypatch: pytest.MonkeyPatch):
    """pidfile.py:alive, PermissionError taken for dead (a gateway run by another user, systemd's, was reported
    stopped and a second one started on its port)."""

    def refused(pid: int, sig: int) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "kill", refused)
    assert pidfile.alive(os.getpid())
    assert not pidfile.alive(os.getpid(), "no-such-program")


@linux_only
def test_markers_match_a_paths_last_part_and_all_must_be_there():
    """pidfile.py:alive, the path's last part not taken (`/opt/venv/bin/investiq serve` not taken for the gateway)
    or `all` made `any` (`investiq triton start` taken for the gateway, whose markers are investiq and serve)."""
    code = "print(0, flush=True)\nimport time\ntime.sleep(60)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "/opt/venv/bin/investiq", "triton"], stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"0\n"
        assert pidfile.alive(proc.pid, "investiq", "triton")
        assert not pidfile.alive(proc.pid, *service.MARKERS)  # investiq, but no serve
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.parametrize("text", ["0", "-1"])
def test_a_pid_file_holding_zero_or_a_negative_number_names_no_process(tmp_path: Path, text: str):
    """pidfile.py:read, `pid > 0` made `pid >= 0` or dropped (a PID file of "0" or "-1" was read as a live
    gateway: kill(0) is this process group and kill(-1) every process, and `stop` would have signalled them)."""
    (tmp_path / "gateway.pid").write_text(text)
    assert pidfile.read(tmp_path / "gateway.pid") is None
    assert pidfile.read(tmp_path / "gateway.pid", *service.MARKERS) is None


class FakeProcess:
    """A process that ignores SIGTERM and lingers `linger` polls after SIGKILL, on a fake clock: `terminate`
    against it sends no real signal and sleeps for no real time."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, linger: int) -> None:
        self.signals: list[signal.Signals] = []
        self.polls: list[tuple[str, ...]] = []
        self.linger, self.now = linger, 0.0
        monkeypatch.setattr(pidfile, "_signal", lambda pid, sig: self.signals.append(sig))
        monkeypatch.setattr(pidfile, "alive", self.alive)
        monkeypatch.setattr(pidfile, "time", SimpleNamespace(monotonic=lambda: self.now, sleep=self.sleep))

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def alive(self, pid: int, *markers: str) -> bool:
        self.polls.append(markers)
        if signal.SIGKILL not in self.signals:
            return True
        self.linger -= 1
        return self.linger >= 0


def test_terminate_returns_once_the_killed_process_is_gone(monkeypatch: pytest.MonkeyPatch):
    """pidfile.py:terminate, the wait after SIGKILL dropped (`stop` returned while the gateway still held its
    port and journal: the next `start` failed on the port)."""
    fake = FakeProcess(monkeypatch, linger=2)
    assert pidfile.terminate(123, 1.0, *service.MARKERS) is False
    assert fake.signals == [signal.SIGTERM, signal.SIGKILL]
    assert fake.linger < 0  # polled until it was gone


def test_terminate_waits_on_the_program_its_markers_name(monkeypatch: pytest.MonkeyPatch):
    """pidfile.py:terminate, the markers dropped from the wait after SIGKILL (a PID the kernel handed to another
    program meanwhile was waited on as if it were the server)."""
    fake = FakeProcess(monkeypatch, linger=1)
    pidfile.terminate(123, 0.5, *service.MARKERS)
    assert fake.polls and all(markers == service.MARKERS for markers in fake.polls)


def test_signals_go_to_the_group_then_to_the_process_and_a_gone_one_is_no_error(monkeypatch: pytest.MonkeyPatch):
    """pidfile.py:_signal, killpg made kill (Triton's backend stubs outlived it), the fallback to kill dropped (a
    server that is not a group leader was never signalled), or a process gone in the meantime raised."""
    sent: list[tuple[str, int, int]] = []
    groups: set[int] = {10}
    alive: set[int] = {10, 20}

    def killpg(pid: int, sig: int) -> None:
        if pid not in groups:
            raise ProcessLookupError(errno.ESRCH, "No such process")
        sent.append(("group", pid, sig))

    def kill(pid: int, sig: int) -> None:
        if pid not in alive:
            raise ProcessLookupError(errno.ESRCH, "No such process")
        sent.append(("process", pid, sig))

    monkeypatch.setattr(os, "killpg", killpg)
    monkeypatch.setattr(os, "kill", kill)
    pidfile._signal(10, signal.SIGTERM)
    pidfile._signal(20, signal.SIGTERM)
    pidfile._signal(30, signal.SIGTERM)  # gone: no error
    assert sent == [("group", 10, signal.SIGTERM), ("process", 20, signal.SIGTERM)]


@linux_only
def test_a_port_whose_listener_closed_has_no_listener_whatever_connections_remain():
    """pidfile.py:_listening, the LISTEN state filter dropped (a connection still open on the port was taken for
    its listener: `start` named this process as the one holding a free port)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
    with client, accepted:
        assert pidfile.bound(os.getpid(), port) == set()  # the connection accepted on it is no listener


@linux_only
def test_the_server_that_inherited_a_launchers_socket_is_its_listener():
    """pidfile.py:listener gave up at the first holder of the listening socket: where a launcher without the
    markers opened it and a server inherited it (systemd's socket activation, a wrapper), `investiq status`
    found no gateway while `investiq serve` served (found by mutation round 8: the mutant that went on looking
    behaved better than the code)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()  # this process, the launcher, holds it first (a lower PID)
        port = held.getsockname()[1]
        code = "import time; print(0, flush=True); time.sleep(30)"
        server = subprocess.Popen(
            [sys.executable, "-c", code, "investiq", "serve"], pass_fds=[held.fileno()], stdout=subprocess.PIPE
        )
        try:
            assert server.stdout is not None and server.stdout.readline()
            assert pidfile.listener(port, "investiq", "serve") == server.pid
            assert pidfile.listener(port, "investiq", "retrain") is None  # neither holder carries both markers
        finally:
            server.kill()
            server.wait()


@linux_only
def test_the_port_asked_about_is_the_port_bound_not_another():
    """pidfile.py:_listening, `== port` made `>= port` (a listener on the next port up was taken for the
    gateway's)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert pidfile.bound(os.getpid(), port - 1) == set()
        assert pidfile.bound(os.getpid(), port) != set()


def test_a_command_line_is_shortened_for_a_message(monkeypatch: pytest.MonkeyPatch):
    """pidfile.py:command, `<= 60` made `< 60`, the cut at 57 made 60 (longer than 60 with its dots), the
    program's path kept, the runs of white space kept, or an empty command line (a kernel thread) crashed."""
    lines: dict[int, list[str]] = {
        1: ["/opt/venv/bin/investiq", "serve", "--port", "8080"],
        2: ["/usr/bin/x", "a" * 58],  # 60 characters: whole
        3: ["/usr/bin/x", "a" * 59],  # 61: cut to 57 and "..."
        4: ["python", "-c", "import time\n    time.sleep(60)"],
        5: [],
    }
    monkeypatch.setattr(pidfile, "arguments", lambda pid: lines.get(pid))
    assert pidfile.command(1) == "investiq serve --port 8080"
    assert pidfile.command(2) == "x " + "a" * 58
    assert pidfile.command(3) == "x " + "a" * 55 + "..." and len(pidfile.command(3) or "") == 60
    assert pidfile.command(4) == "python -c import time time.sleep(60)"
    assert pidfile.command(5) is None
    assert pidfile.command(6) is None


@linux_only
def test_the_arguments_of_a_process_are_its_argv_without_empty_parts():
    """pidfile.py:arguments, empty parts kept (the NUL that ends /proc/PID/cmdline made an empty last argument)."""
    assert pidfile.arguments(os.getpid()) == sys.orig_argv
    assert pidfile.arguments(NO_PID) is None
