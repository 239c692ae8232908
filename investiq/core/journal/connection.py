"""Opening journal connections: WAL mode and a busy timeout on every one of them."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from pathlib import Path

from investiq.core.errors import InvestIQError

log = logging.getLogger(__name__)

# The WAL keeps the size of the biggest transaction written since the journal was opened for as long as any
# connection stays open (a prune of 400,000 rows left 170 MB of it, a review): each time a writer starts it
# over, it is cut back to this.
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
PROBE_WAIT_MS = 200  # how long the write probe of a read-write connection waits for another's write lock


class JournalError(InvestIQError):
    """The journal cannot be opened or written; the message names the path and what to do."""


BUSY_TIMEOUT_MS = 5000  # how long a connection waits for a lock: setting db_busy_timeout_ms's default


def connect(path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit `BEGIN ... COMMIT`).

    WAL lets the Rust agent write `trades` while the gateway reads and writes its own tables;
    synchronous=FULL makes a committed transaction survive a power cut, not only a crash,
    because a committed Bayesian update has been acknowledged to the agent.
    A read-write connection proves it can write (`_probe_write`).
    """
    try:
        conn = _open(path, busy_timeout_ms, "mode=ro" if readonly else "mode=rwc", write=not readonly)
    except sqlite3.Error as exc:
        waiting = _wal_bytes(path) if readonly and _no_shared_memory(exc) else None
        if waiting is None:
            # from exc: a reader tells the writer of damage it met (JournalWriter.saw)
            raise JournalError(_cannot_open(path, exc, advice(exc))) from exc
        if waiting:
            raise JournalError(
                _cannot_open(
                    path,
                    exc,
                    "This user may not write its folder, where SQLite reads a journal whose -wal file holds "
                    "transactions: run this as the user who runs the gateway, or on a copy "
                    f'(`sqlite3 {path.name} ".backup copy.db"` as that user)',
                )
            ) from exc
        try:
            conn = _open(path, busy_timeout_ms, "mode=ro&immutable=1", write=False)
        except sqlite3.Error as again:
            raise JournalError(_cannot_open(path, again, advice(again))) from again
        log.info("journal %s read as it is on disk: this user may not write its folder", path)
    conn.row_factory = sqlite3.Row
    return conn


def _cannot_open(path: Path, exc: sqlite3.Error, what_to_do: str) -> str:
    """The message of a journal `path` that SQLite would not open (`exc`), with `what_to_do`."""
    return f"cannot open the journal at {str(path)!r}: {exc}. {what_to_do}"


def _open(path: Path, busy_timeout_ms: int, mode: str, *, write: bool) -> sqlite3.Connection:
    """`connect`'s connection, opened with the URI parameters `mode`; closed again on any error."""
    conn = sqlite3.connect(
        f"file:{path}?{mode}",
        uri=True,
        isolation_level=None,
        timeout=busy_timeout_ms / 1000,
        check_same_thread=False,
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if write:
            _probe_write(conn, busy_timeout_ms)
            journal_mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(journal_mode).lower() != "wal":
                raise JournalError(f"journal {str(path)!r} could not switch to WAL mode (got {journal_mode!r})")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # reads the file: not SQLite, unreadable
    except BaseException:
        conn.close()
        raise
    return conn


def _no_shared_memory(exc: sqlite3.Error) -> bool:
    """Whether SQLite refused a read-only open for want of the WAL's -shm file, which it may not create beside the
    journal: "attempt to write a readonly database" (or "unable to open database file")."""
    message = str(exc).lower()
    return "readonly" in message or "unable to open" in message


def _wal_bytes(path: Path) -> int | None:
    """The bytes of committed transactions the journal `path` holds in its -wal file, not yet in the file itself:
    0 for none (no -wal file, or an empty one: a gateway's last connection checkpoints it on close); None where
    that cannot be told (no journal, or a -wal that is not a file).

    At 0, `immutable` reads the journal exactly without the -shm file or locks, for a user who may not write its
    folder (`investiq db status` or `report` run by another user than the gateway's, or a copy on read-only media:
    they failed with "attempt to write a readonly database", an audit). A writer that starts meanwhile must be able
    to write the folder; what it writes is not seen."""
    wal = path.with_name(path.name + "-wal")
    try:
        if not wal.exists():
            return 0 if path.is_file() else None
        return wal.stat().st_size if wal.is_file() else None
    except OSError:
        return None


def _probe_write(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """Write the schema version as it is, in a transaction rolled back. SQLite opens a file it may not write (mode
    444, or in a directory where it cannot create the WAL) read-only without a word: the gateway started, and every
    write failed after (a review). In WAL mode even BEGIN IMMEDIATE succeeds on such a file; a write does not.
    A write lock held by another process (the agent mid-transaction) proves nothing either way and is no error:
    the probe waits PROBE_WAIT_MS for it, not the busy timeout (a journal migrated before opened with no lock at
    all, a review of the probe)."""
    conn.execute(f"PRAGMA busy_timeout = {PROBE_WAIT_MS}")
    try:
        conn.execute("BEGIN IMMEDIATE")
        user_version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        conn.execute(f"PRAGMA user_version = {user_version}")
    except sqlite3.OperationalError as exc:
        if not _is_locked(exc):
            raise
    finally:
        roll_back(conn)
        conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")


RESTORE = (
    'stop the gateway and restore it from a backup (`sqlite3 portfolio.db ".restore backup.db"`; a file copied '
    "over a journal in use damages it); `investiq db status` shows the damage"
)


# What to do about an error SQLite gave on opening the journal, by words of its message (Python 3.10 has no error
# codes on sqlite3.Error). One sentence for every error told a file that is not SQLite to check its directory.
_ADVICE = (
    (
        "not a database",
        "It is not an SQLite database (another file at this path?): choose another file with --db or "
        "INVESTIQ_DB_PATH, or move this one away.",
    ),
    (
        "readonly",
        "This user may not write the file or its directory (SQLite creates its -wal and -shm files beside it): "
        "make both writable, or choose another file with --db or INVESTIQ_DB_PATH.",
    ),
    (
        "locked",
        "Another process held the write lock past the busy timeout (db_busy_timeout_ms): try again, and keep "
        "the agent's write transactions short.",
    ),
    ("malformed", f"The file is damaged: {RESTORE}."),
    ("full", "Its disk is full: free space there, or choose another file with --db or INVESTIQ_DB_PATH."),
)


def advice(exc: sqlite3.Error) -> str:
    """What to do about `exc`, an error opening the journal."""
    message = str(exc).lower()
    for words, what_to_do in _ADVICE:
        if words in message:
            return what_to_do
    return "Check that the directory exists and is writable, or choose another file with --db or INVESTIQ_DB_PATH."


def roll_back(conn: sqlite3.Connection) -> None:
    """ROLLBACK the open transaction, if one is still open; a failure is logged, for the caller to raise the error
    that made it roll back. SQLite rolls a transaction back itself on some errors (a full disk, an I/O error),
    and a ROLLBACK then raised "no transaction is active", reported in place of "database or disk is full"."""
    if not conn.in_transaction:
        return
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        log.exception("journal rollback failed")


def require_journal(
    path: Path, more: str = "", *, tables: bool = False, busy_timeout_ms: int = BUSY_TIMEOUT_MS
) -> None:
    """JournalError unless the journal `path` exists: commands that only read or tidy one never create it
    (a mistyped --db would otherwise get an empty journal). `more` adds other ways to get one. With `tables`,
    unless it holds the gateway's tables too: a command that tidies one must not migrate another program's
    SQLite file into a journal (`db prune --db other.sqlite` did, a review)."""
    from investiq.core.journal.schema import GATEWAY_TABLES

    if path.is_dir():  # "create it with db init" sent the user to a command that failed on it (a review)
        raise JournalError(f"{path} is a folder, not a journal: point --db / INVESTIQ_DB_PATH at a file in it")
    if not path.is_file():
        raise JournalError(f"no journal at {path}: create it with `investiq db init`{more}")
    if not tables:
        return
    conn = connect(path, busy_timeout_ms, readonly=True)
    try:  # by its tables, not its user_version alone, which another program may set (a review)
        found = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()
    if found.isdisjoint(GATEWAY_TABLES):
        raise JournalError(
            f"{path} holds none of the gateway's tables: point --db / INVESTIQ_DB_PATH at the gateway's journal, "
            "or make this file one with `investiq db init`"
        )


def is_damage(error: BaseException | None) -> bool:
    """Whether SQLite's `error` says the file is damaged (SQLITE_CORRUPT, SQLITE_NOTADB), not busy or full."""
    if not isinstance(error, sqlite3.DatabaseError):
        return False
    code = getattr(error, "sqlite_errorcode", None)  # Python 3.11+, extended (779: SQLITE_CORRUPT_INDEX)
    return (code or 0) & 0xFF in (11, 26) or "malformed" in str(error) or "not a database" in str(error)


def damage(conn: sqlite3.Connection) -> str | None:
    """The first problem `PRAGMA quick_check` finds, or None: a full pass over the file (0.8 s for 270 MB). Its
    other errors (locked, an I/O error) are raised: told as damage, they advised a restore (a review)."""
    try:
        found = str(conn.execute("PRAGMA quick_check").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        if is_damage(exc):
            return str(exc)
        raise
    return None if found == "ok" else found.splitlines()[0]


# Start-up's tries at a journal another process holds locked: gateways started together on one journal each check
# it, switch it to WAL and migrate it in turn, and on a loaded machine one waited past the busy timeout for the
# others ("cannot open the journal ...: database is locked", three gateways started at once beside a test run)
OPEN_ATTEMPTS = 3


def open_journal(path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """Create the parent directory if needed, open read-write and migrate; the start-up check. A lock another
    process holds past the busy timeout is waited for again, up to OPEN_ATTEMPTS tries in all."""
    for attempt in range(1, OPEN_ATTEMPTS + 1):
        try:
            return _open_journal(path, busy_timeout_ms)
        except JournalError as exc:
            cause = exc.__cause__
            locked = isinstance(cause, sqlite3.OperationalError) and _is_locked(cause)
            if not locked or attempt == OPEN_ATTEMPTS:
                raise
            log.warning(
                "journal %s locked by another process at start (try %d of %d): waiting again",
                path,
                attempt,
                OPEN_ATTEMPTS,
            )
    raise AssertionError("unreachable")  # the last try returns or raises


def _is_locked(exc: sqlite3.Error) -> bool:
    """Whether `exc` is another connection's lock ("database is locked", SQLITE_BUSY), not a fault of the file."""
    message = str(exc).lower()
    return "locked" in message or "busy" in message


def _open_journal(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """`open_journal`'s one try."""
    from investiq.core.journal.schema import migrate, refuse_foreign, version

    if path.is_dir():  # "unable to open database file. Check that the directory exists and is writable" (a review)
        raise JournalError(f"{path} is a folder, not a journal: point --db / INVESTIQ_DB_PATH at a file in it")
    if path.is_file():  # another program's file is refused before anything changes it (WAL mode, a migration)
        with closing(connect(path, busy_timeout_ms, readonly=True)) as reader:
            try:
                refuse_foreign(reader, version(reader))
            except JournalError as exc:
                raise JournalError(f"{path}: {exc}") from None
            # a damaged journal served: every update acknowledged, readiness 200, the resolver failing each second
            # (an audit of the journal under crashes)
            try:
                found = damage(reader)
            except sqlite3.Error as exc:
                raise JournalError(f"cannot check the journal at {str(path)!r}: {exc}. {advice(exc)}") from exc
            if found is not None:
                raise JournalError(f"{path} is damaged ({found}): {RESTORE}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise JournalError(
            f"cannot create the directory of the journal {str(path)!r}: {exc.strerror}. "
            "Choose another file with --db or INVESTIQ_DB_PATH."
        ) from None
    conn = connect(path, busy_timeout_ms)
    try:
        migrate(conn)
    except sqlite3.Error as exc:
        conn.close()
        raise JournalError(f"cannot create the tables of the journal {str(path)!r}: {exc}") from exc
    except JournalError:
        conn.close()
        raise
    return conn
