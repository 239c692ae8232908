"""Opening journal connections: WAL mode and a busy timeout on every one of them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from investiq.core.errors import InvestIQError


class JournalError(InvestIQError):
    """The journal cannot be opened or written; the message names the path and what to do."""


def connect(path: Path, busy_timeout_ms: int = 5000, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit `BEGIN ... COMMIT`).

    WAL lets the Rust agent write `trades` while the gateway reads and writes its own tables;
    synchronous=FULL makes a committed transaction survive a power cut, not only a crash,
    because a committed Bayesian update has been acknowledged to the agent.
    """
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}?mode=rwc"
    try:
        conn = sqlite3.connect(
            uri, uri=True, isolation_level=None, timeout=busy_timeout_ms / 1000, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if not readonly:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(f"journal {str(path)!r} could not switch to WAL mode (got {mode!r})")
            conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # reads the file: not SQLite, unreadable
    except sqlite3.Error as exc:
        raise JournalError(
            f"cannot open the journal at {str(path)!r}: {exc}. Check that the directory exists and is "
            "writable, or choose another file with --db or INVESTIQ_DB_PATH."
        ) from None
    conn.row_factory = sqlite3.Row
    return conn


def require_journal(path: Path, more: str = "") -> None:
    """JournalError unless the journal `path` exists: commands that only read or tidy one never create it
    (a mistyped --db would otherwise get an empty journal). `more` adds other ways to get one."""
    if not path.is_file():
        raise JournalError(f"no journal at {path}: create it with `investiq db init`{more}")


def open_journal(path: Path, busy_timeout_ms: int = 5000) -> sqlite3.Connection:
    """Create the parent directory if needed, open read-write and migrate; the start-up check."""
    from investiq.core.journal.schema import migrate

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
        raise JournalError(f"cannot create the tables of the journal {str(path)!r}: {exc}") from None
    return conn
