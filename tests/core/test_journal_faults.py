"""A journal that cannot be written: a full disk reported as such, a read-only file refused at start, and advice
that fits each error opening one."""

from __future__ import annotations

import os
import select
import shutil
import signal
import sqlite3
import tempfile
import threading
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from investiq.core.journal import (
    SCHEMA_VERSION,
    JournalError,
    JournalWriter,
    connect,
    migrate,
    open_journal,
    schema,
)

TRADE = (
    "INSERT INTO trades (symbol, strategy_name, side, quantity, entry_price, opened_at) "
    "VALUES (?, 'm', 'b', 1, 1, 'x')"
)


def no_more_pages(conn: sqlite3.Connection) -> None:
    """Hold the journal to the pages it has: SQLite then fails a write as on a full disk (SQLITE_FULL), and rolls
    the whole transaction back itself, as on a full disk."""
    conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")


def fill(conn: sqlite3.Connection) -> None:
    limit = conn.execute("PRAGMA max_page_count").fetchone()[0]
    no_more_pages(conn)
    try:
        conn.executemany(TRADE, [("x" * 3000,)] * 50)
    finally:
        conn.execute(f"PRAGMA max_page_count = {limit}")


def test_a_full_disk_fails_every_job_of_the_transaction_with_its_own_error(db_path: Path):
    """SQLite rolls the transaction back itself: ROLLBACK TO the job's savepoint raised "no such savepoint", which
    every job of the batch was told in place of "database or disk is full" (a review, on a full tmpfs)."""
    open_journal(db_path).close()
    writer = JournalWriter(db_path)
    writer.start()
    gate = threading.Event()
    writer.submit(lambda conn: gate.wait(5))  # hold the writer so that the next two share a transaction
    first = writer.submit(lambda conn: conn.execute(TRADE, ("first",)))
    filling = writer.submit(fill)
    gate.set()
    for future in (first, filling):
        with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
            future.result(5)
    writer.submit(lambda conn: conn.execute(TRADE, ("after",))).result(5)  # space again: writes go on
    writer.close()
    symbols = [row[0] for row in connect(db_path, readonly=True).execute("SELECT symbol FROM trades")]
    assert symbols == ["after"]  # "first" was rolled back with the transaction: not reported as committed


def test_a_full_disk_while_migrating_is_reported_as_such(db_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A ROLLBACK after SQLite had rolled back raised "cannot rollback - no transaction is active" (a review, on a
    full tmpfs). The last migration here is one row bigger than the pages left: SQLite rolls a statement that
    writes one row back with its transaction, as it does on a full disk (one of several rows, it rolls back alone).
    """
    conn = open_journal(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    one_big_row = (TRADE.replace("?", "randomblob(100000)"),)
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS[:-1], one_big_row))
    no_more_pages(conn)
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        migrate(conn)
    assert not conn.in_transaction
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION - 1
    conn.close()


def test_a_journal_this_user_may_not_write_is_refused_at_start(db_path: Path, monkeypatch: pytest.MonkeyPatch):
    """SQLite opens a file it may not write (mode 444, a directory it cannot create the WAL in) read-only without
    a word: the gateway started and every write failed (a review). Root writes a file of mode 444, so the open is
    made read-only here as SQLite makes it then (mode=ro)."""
    open_journal(db_path).close()
    real = sqlite3.connect

    def as_sqlite_opens_a_read_only_file(database: str, **kwargs: Any) -> sqlite3.Connection:
        conn: sqlite3.Connection = real(database.replace("mode=rwc", "mode=ro"), **kwargs)
        return conn

    monkeypatch.setattr(sqlite3, "connect", as_sqlite_opens_a_read_only_file)
    with pytest.raises(JournalError, match=f"{db_path}.*readonly.*may not write the file or its directory"):
        open_journal(db_path)
    with pytest.raises(JournalError, match="may not write"):
        JournalWriter(db_path).start()


def test_a_write_lock_held_by_the_agent_does_not_fail_the_start(db_path: Path):
    """The write probe waited the busy timeout for a lock the agent held and failed the start (a review):
    a held lock says nothing of whether this user may write, and a migrated journal opens without one."""
    open_journal(db_path).close()
    agent = sqlite3.connect(db_path, isolation_level=None)
    agent.execute("BEGIN IMMEDIATE")
    agent.execute(
        "INSERT INTO trades (symbol, strategy_name, side, quantity, entry_price, opened_at) "
        "VALUES ('SPY', 's', 'buy', 1, 100, '2026-01-02T00:00:00Z')"
    )
    try:
        open_journal(db_path, busy_timeout_ms=300).close()  # the release before the probe opened it too
    finally:
        agent.execute("ROLLBACK")
        agent.close()


NOBODY = 65534
CANNOT_BECOME_NOBODY = "this process may not become nobody"


def as_a_user_who_may_not_write(job: Callable[[], str]) -> str:
    """What `job()` returns, or "<its error's type>: <message>", run in a child process as a user for whom file
    modes count: this one, or nobody when the tests run as root (root writes a file of mode 444 and any folder)."""
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe and never returns
        try:
            os.close(reader)
            try:
                if os.geteuid() == 0:
                    os.setgroups([])
                    os.setgid(NOBODY)
                    os.setuid(NOBODY)
            except OSError as exc:  # a container without CAP_SETUID
                answer = f"{CANNOT_BECOME_NOBODY}: {exc}"
            else:
                try:
                    answer = job()
                except Exception as exc:
                    answer = f"{type(exc).__name__}: {exc}"
            os.write(writer, answer.encode())
        finally:
            os._exit(0)
    os.close(writer)
    try:
        if not select.select([reader], [], [], 60)[0]:
            os.kill(child, signal.SIGKILL)
            pytest.fail("the child process answered nothing in 60 s")
        with os.fdopen(reader, "rb", closefd=False) as pipe:
            answer = pipe.read().decode()
    finally:
        os.close(reader)
        os.waitpid(child, 0)
    if answer.startswith(CANNOT_BECOME_NOBODY):
        pytest.skip(answer)
    return answer


def opened(open_it: Callable[..., sqlite3.Connection], *args: Any, **kwargs: Any) -> str:
    """ "opened" once `open_it(*args, **kwargs)` has opened a connection, closed again."""
    open_it(*args, **kwargs).close()
    return "opened"


@pytest.fixture
def folder():
    """A folder that nobody (as_a_user_who_may_not_write) may read but not write; pytest's own are root's only."""
    path = Path(tempfile.mkdtemp(prefix="investiq-ro-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        path.chmod(0o755)
        shutil.rmtree(path)


def test_a_journal_of_mode_444_is_refused_at_start(folder: Path):
    db_path = folder / "portfolio.db"
    open_journal(db_path).close()
    db_path.chmod(0o444)
    answer = as_a_user_who_may_not_write(lambda: opened(open_journal, db_path))
    assert answer.startswith("JournalError:") and "may not write the file or its directory" in answer


def test_a_journal_at_rest_reads_in_a_folder_this_user_may_not_write(folder: Path):
    """`investiq db status` and `report` by another user than the gateway's failed with "attempt to write a
    readonly database": SQLite could not create the WAL's -shm file (an audit). A journal whose WAL is
    checkpointed reads as it is on disk; one with transactions still in its WAL is refused, not read without
    them."""
    db_path = folder / "portfolio.db"
    conn = open_journal(db_path)
    conn.executemany(TRADE, [("SPY",)] * 3)
    conn.close()
    assert not db_path.with_name("portfolio.db-wal").exists()  # checkpointed and removed by the last close
    folder.chmod(0o555)

    def count() -> str:
        with closing(connect(db_path, readonly=True)) as reader:
            return str(reader.execute("SELECT count(*) FROM trades").fetchone()[0])

    assert as_a_user_who_may_not_write(count) == "3"
    folder.chmod(0o755)
    writer = connect(db_path)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.executemany(TRADE, [("QQQ",)] * 2)  # committed, in the WAL only, while the writer stays open
    shutil.copy(db_path.with_name("portfolio.db-wal"), folder / "held.db-wal")
    shutil.copy(db_path, folder / "held.db")
    writer.close()
    folder.chmod(0o555)
    held = folder / "held.db"
    answer = as_a_user_who_may_not_write(lambda: opened(connect, held, readonly=True))
    assert answer.startswith("JournalError: cannot open the journal") and "run this as the user who runs" in answer


def test_a_file_that_is_not_sqlite_is_told_so(db_path: Path):
    """It was told to check that its directory exists and is writable."""
    db_path.write_text("symbol,price\nAAPL,100\n" * 100)
    with pytest.raises(JournalError) as error:
        open_journal(db_path)
    assert "It is not an SQLite database (another file at this path?): choose another file" in str(error.value)
    assert "directory" not in str(error.value)


def test_a_waiter_cancelled_mid_write_leaves_the_writer_running(db_path: Path):
    """A task awaiting `run` cancelled while its job ran: setting the cancelled future raised in the writer
    thread, which died, and every later write failed until a restart (a review). The job is committed still."""
    import asyncio
    import contextlib

    from investiq.core.journal import JournalWriter, open_journal

    open_journal(db_path).close()
    writer = JournalWriter(db_path)
    writer.start()
    started, release = threading.Event(), threading.Event()

    def slow(conn: sqlite3.Connection) -> int:
        started.set()
        release.wait(10)
        return int(conn.execute("SELECT count(*) FROM bayesian_state").fetchone()[0])

    async def main() -> int:
        task = asyncio.create_task(writer.run(slow))
        await asyncio.to_thread(started.wait, 10)
        task.cancel()
        release.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return await writer.run(lambda conn: 2)  # the next write still commits

    try:
        assert asyncio.run(main()) == 2 and writer.alive
    finally:
        writer.close()


def damage_pages(path: Path) -> None:
    """Every page after the first overwritten (once the WAL is in the file): the header still reads, the tables
    do not, as after a backup copied over a journal in use (an audit)."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    data[4096:] = b"\xff" * (len(data) - 4096)
    path.write_bytes(bytes(data))


def test_a_damaged_journal_is_refused_at_start_naming_the_restore(db_path: Path):
    """The gateway served a damaged journal: updates acknowledged, readiness 200, the resolver failing each
    second (an audit of the journal under crashes)."""
    conn = open_journal(db_path)
    conn.executemany(TRADE, [("S" * 60,)] * 3000)
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db_path.read_bytes())
    data[20 * 4096 + 100 : 20 * 4096 + 400] = b"\xff" * 300  # a page of the trades: found by quick_check alone
    db_path.write_bytes(bytes(data))
    with pytest.raises(JournalError, match=r"is damaged \(.*\): stop the gateway and restore it from a backup"):
        open_journal(db_path)
    damage_pages(db_path)  # worse: SQLite itself refuses it on opening
    with pytest.raises(JournalError, match=r"malformed. The file is damaged: stop the gateway and restore it"):
        open_journal(db_path)


def test_a_journal_damaged_while_the_gateway_runs_makes_it_unready(db_path: Path):
    from fastapi.testclient import TestClient

    from gateway.app import create_app
    from investiq.core.settings import Settings

    with TestClient(create_app(Settings(db_path=db_path))) as client:
        assert client.post("/bayesian/update", json={"strategy_name": "a", "won": True}).status_code == 200
        assert client.get("/health/ready").status_code == 200
        damage_pages(db_path)
        assert client.get("/bayesian/all-stats").status_code == 503  # read on a connection of its own
        ready = client.get("/health/ready")
        assert ready.status_code == 503 and "is damaged" in ready.json()["reason"], ready.text
        assert client.get("/health").json()["components"]["journal"]["status"] == "unhealthy"
        assert "investiq_journal_writable 0.0" in client.get("/metrics").text


def test_only_damage_makes_the_journal_unwritable_and_only_damage_is_told_as_such(db_path: Path):
    """A locked or full journal is not damaged: told as damage, the start-up advised a restore from a backup (a
    review). The writer judges a JournalError by the SQLite error it came from (a reader's `connect`)."""
    from investiq.core.journal.connection import damage

    writer = JournalWriter(db_path)
    for passing in (sqlite3.OperationalError("database is locked"), sqlite3.OperationalError("disk I/O error")):
        writer.saw(passing)
        assert writer.damage is None
    try:
        cause = sqlite3.DatabaseError("database disk image is malformed")
        raise JournalError("cannot open the journal") from cause
    except JournalError as exc:
        writer.saw(exc)
    assert writer.damage == "database disk image is malformed"

    class Locked:  # a connection whose quick_check meets another process's lock
        def execute(self, sql: str) -> Any:
            raise sqlite3.OperationalError("database is locked")

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        damage(Locked())  # type: ignore[arg-type]


def test_a_journal_another_process_holds_locked_at_start_is_waited_for_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three gateways started at once on one journal: one waited past the busy timeout for the others' start-up
    ("cannot open the journal ...: database is locked", a CI run beside other work) and exited. The lock held
    through the first try (a rollback-mode journal locked EXCLUSIVE blocks even reads) is let go after it: the
    second try opens and migrates the journal."""
    from investiq.core.journal import connection

    path = tmp_path / "portfolio.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    real, tries = connection._open_journal, []

    def first_try_under_the_lock(at: Path, busy_timeout_ms: int) -> sqlite3.Connection:
        tries.append(busy_timeout_ms)
        try:
            return real(at, busy_timeout_ms)
        finally:
            if holder.in_transaction:
                holder.execute("ROLLBACK")  # the other process lets go once the first try has waited

    monkeypatch.setattr(connection, "_open_journal", first_try_under_the_lock)
    with closing(open_journal(path, busy_timeout_ms=50)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    holder.close()
    assert tries == [50, 50]


def test_start_up_tries_a_locked_journal_a_bounded_number_of_times_and_nothing_else_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """open_journal: a lock held through every try fails after OPEN_ATTEMPTS, with the lock's message; any other
    error (a folder where the journal should be) fails at once."""
    from investiq.core.journal import connection

    tries: list[Path] = []

    def always_locked(at: Path, busy_timeout_ms: int) -> sqlite3.Connection:
        tries.append(at)
        try:
            raise sqlite3.OperationalError("database is locked")
        except sqlite3.OperationalError as exc:
            raise JournalError(f"cannot open the journal at {str(at)!r}: {exc}") from exc

    monkeypatch.setattr(connection, "_open_journal", always_locked)
    with pytest.raises(JournalError, match="database is locked"):
        open_journal(tmp_path / "portfolio.db", busy_timeout_ms=10)
    assert len(tries) == connection.OPEN_ATTEMPTS
    monkeypatch.undo()
    (tmp_path / "folder.db").mkdir()
    with pytest.raises(JournalError, match="is a folder"):
        open_journal(tmp_path / "folder.db")
