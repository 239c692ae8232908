"""The SQLite journal (`portfolio.db`), shared with the Rust agent.

`connection` opens connections the same way everywhere (WAL, busy timeout), `schema` creates and
migrates the tables, `writer` is the gateway's one writer thread, and `bayesian` / `trades` hold the
SQL of the tables they are named after. Only these modules speak SQL.
"""

from investiq.core.journal.connection import (
    BUSY_TIMEOUT_MS,
    JournalError,
    connect,
    open_journal,
    require_journal,
)
from investiq.core.journal.schema import SCHEMA_VERSION, migrate
from investiq.core.journal.writer import JournalWriter

__all__ = [
    "BUSY_TIMEOUT_MS",
    "SCHEMA_VERSION",
    "JournalError",
    "JournalWriter",
    "connect",
    "migrate",
    "open_journal",
    "require_journal",
]
