"""The gateway's one writer: a thread that owns the only read-write connection of the gateway.

Jobs are functions of a connection. They are run in arrival order; whatever is queued is taken
together into one transaction (one fsync for many prediction logs), each job inside its own
SAVEPOINT so that a failing job rolls back alone. A job's future resolves only after COMMIT:
`await writer.run(job)` returns once the row is durable (Bayesian updates), while `log(job)`
never waits and never raises (prediction logs), so journaling can neither fail nor slow a request.

`log_delay_s` groups prediction logs: a transaction that holds only logs is committed at most that
long after its first one was queued, so that a stream of single-headline requests costs one commit
(an fsync, a thread wake-up and the GIL) per interval rather than one per request, which on a 2-core
machine ran beside the next request's inference and slowed it by ~1 ms (benchmarks/results/
gateway_profile.md). A job someone waits for (`run`, `flush`) commits at once, with whatever is queued.
The price: a crash loses at most that interval more of prediction logs, which were never acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from investiq.core.journal.connection import BUSY_TIMEOUT_MS, JournalError, connect, is_damage, roll_back

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], T]
log = logging.getLogger(__name__)


@dataclass
class _Item:
    job: Job[Any]
    future: Future[Any] | None  # None: fire-and-forget
    counted: bool = True  # False for flush()'s barrier, which writes nothing and proves nothing
    tries: int = 0  # times it was queued again because another connection held the write lock


_STOP = object()
# Tries more for a prediction log when another connection holds the write lock past the busy timeout (each
# try waits busy_timeout_ms in SQLite: 12 x 5 s = a minute at the default); then it is counted as failed.
LOCKED_RETRIES = 12


# How long a checkpoint that truncates the WAL waits for readers to move past it. It holds off every writer while
# it waits, and the agent's writes time out after 5 s: better a WAL left as it is (journal_size_limit cuts it back
# when it is next started over) than an agent's write refused.
CHECKPOINT_WAIT_MS = 200


def _locked(error: BaseException | None) -> bool:
    return isinstance(error, sqlite3.OperationalError) and ("locked" in str(error) or "busy" in str(error))


class JournalWriter:
    def __init__(
        self, path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS, max_batch: int = 512, log_delay_s: float = 0.0
    ) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._max_batch = max_batch
        self._log_delay_s = log_delay_s
        self._queue: queue.Queue[Any] = queue.Queue()
        # writes queued and not settled yet (`pending`), counted where they are queued and settled: the queue
        # alone read 0 while a batch taken from it waited out its delay: "drained" before the commit (a review)
        self._unsettled = 0
        self._count_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file opened at start
        self._closed = False
        self.committed = 0
        self.failed = 0
        self.last_error: str | None = None
        self.last_failure_ts: float | None = None
        self.last_commit_ts: float | None = None
        self.damage: str | None = None  # what SQLite said of the file once damaged (`saw`); until a restart

    def start(self) -> None:
        conn = connect(self._path, self._busy_timeout_ms)  # fail at start, not on the first write
        self._identity = _identity(self._path)
        self._thread = threading.Thread(target=self._loop, args=(conn,), name="journal-writer", daemon=True)
        self._thread.start()

    def submit(self, job: Job[T]) -> Future[T]:
        """Queue `job`; the future holds its result once committed, or its exception."""
        if self._closed or self._thread is None:
            raise JournalError("the journal writer is not running")
        future: Future[T] = Future()
        self._enqueue(_Item(job, future))
        return future

    async def run(self, job: Job[T]) -> T:
        """Run `job` in the writer and wait, off the event loop, until it is committed."""
        return await asyncio.wrap_future(self.submit(job))

    def log(self, job: Job[Any]) -> None:
        """Fire and forget: a failure is counted and logged, never raised."""
        if self._closed or self._thread is None:
            self._record_failure("journal writer is not running; a log row was dropped")
            return
        self._enqueue(_Item(job, None))

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every job queued before this call is committed (or has failed). While another connection
        holds the write lock past the busy timeout, it raises that error, and the logs before it stay queued."""
        if self._closed or self._thread is None:
            return
        barrier: Future[None] = Future()
        self._enqueue(_Item(lambda conn: None, barrier, counted=False))
        barrier.result(timeout)

    def truncate_wal(self) -> bool:
        """Copy the WAL into the journal and truncate it to nothing, after a big delete (a prune); True when done.
        While any connection is open, the WAL keeps the size of the biggest transaction since (a prune of 400,000
        rows left 170 MB, a review). On a connection of its own: no checkpoint runs inside the writer's
        transactions. False, logged, when a reader outlasted CHECKPOINT_WAIT_MS or the journal refused."""
        try:
            conn = connect(self._path, self._busy_timeout_ms)
        except JournalError as exc:
            log.warning("journal WAL not truncated: %s", exc)
            return False
        try:
            conn.execute(f"PRAGMA busy_timeout = {CHECKPOINT_WAIT_MS}")
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.Error as exc:
            log.warning("journal WAL not truncated: %s", exc)
            return False
        finally:
            conn.close()
        if busy:
            log.info("journal WAL not truncated: a reader held it past %d ms", CHECKPOINT_WAIT_MS)
        return not busy

    @property
    def pending(self) -> int:
        """Writes queued and not committed (or failed) yet, the batch being gathered or committed included."""
        return self._unsettled

    def _enqueue(self, item: _Item) -> None:
        with self._count_lock:
            self._unsettled += 1
        self._queue.put(item)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def detached(self) -> bool:
        """Whether the journal's path no longer names the file this writer writes: moved, deleted or replaced
        (a backup restored over it) while the gateway ran. SQLite keeps writing through its open handle, into a
        file the agent no longer reads, and lost on close if deleted; only a restart opens the path again."""
        return self._identity is not None and _identity(self._path) != self._identity

    def saw(self, error: BaseException) -> None:
        """Note `error` of any connection to the journal: one that says the file is damaged (a backup copied over
        it while the gateway ran: updates were acknowledged into it and readiness said 200, an audit) makes it
        unwritable for good (`damage`), until it is restored and the gateway restarted. A JournalError is judged
        by the SQLite error it was raised from (`connect`)."""
        if isinstance(error, JournalError) and error.__cause__ is not None:
            error = error.__cause__
        if self.damage is None and is_damage(error):
            self.damage = str(error)
            log.error("the journal %s is damaged: %s", self._path, error)

    def close(self, timeout: float = 10.0) -> None:
        """Flush what is queued, then stop the thread."""
        if self._thread is None or self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():  # a stuck disk: say so rather than pretend everything was flushed
            log.error("journal writer busy after %.0f s; %d queued writes may be lost", timeout, self.pending)

    # -- the writer thread ---------------------------------------------------------------------
    def _loop(self, conn: sqlite3.Connection) -> None:
        try:
            stop = False
            while not stop:
                batch: list[_Item] = []
                item = self._queue.get()
                due = time.monotonic() + self._log_delay_s  # only logs so far: commit them by then
                while True:
                    if item is _STOP:
                        stop = True
                        break
                    batch.append(item)
                    if len(batch) >= self._max_batch:
                        break
                    if item.future is not None:  # someone waits: commit what is queued now
                        due = 0.0
                    try:
                        left = due - time.monotonic()
                        item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                    except queue.Empty:
                        break
                if batch:
                    self._run_batch(conn, batch)
        finally:
            conn.close()
            self._drop_leftovers()

    def _drop_leftovers(self) -> None:
        """What is still queued once the loop ends (a log queued again for the lock just as close() queued the
        stop): counted and told as failed, never left without an answer."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is _STOP:
                continue
            error = JournalError("the journal writer stopped before this write could be committed")
            self._settle([(item, None, error)])

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Item]) -> None:
        outcomes = self._transact(conn, batch)
        error = outcomes[0][2] if outcomes else None
        if _locked(error) and all(e is error for _, _, e in outcomes) and not self._closed:
            # Another process (the agent) held the write lock past the busy timeout. Whoever waits gets the
            # error now (a 503 to retry); a prediction log, acknowledged already, goes to the back of the queue
            # for another try, up to LOCKED_RETRIES: they were dropped here at once before (found by a probe).
            again = [item for item, _, _ in outcomes if item.future is None and item.tries < LOCKED_RETRIES]
            for item in again:
                item.tries += 1
                self._queue.put(item)
            if again:
                self.last_error, self.last_failure_ts = f"{type(error).__name__}: {error}", time.time()
                log.warning("journal locked by another connection: %d log rows queued again", len(again))
            queued = {id(item) for item in again}  # by identity: items are dataclasses, equal by their fields
            outcomes = [o for o in outcomes if id(o[0]) not in queued]
        self._settle(outcomes)

    def _transact(
        self, conn: sqlite3.Connection, batch: list[_Item]
    ) -> list[tuple[_Item, Any, BaseException | None]]:
        """Run the batch in one transaction, each job in its own savepoint: (item, result, error) each."""
        outcomes: list[tuple[_Item, Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for item in batch:
                conn.execute("SAVEPOINT job")
                try:
                    result = item.job(conn)
                except Exception as exc:
                    if not conn.in_transaction:
                        # SQLite rolled the whole transaction back itself (a full disk, an I/O error): the jobs
                        # before this one are undone too, and ROLLBACK TO raised "no such savepoint" in place of
                        # this error for every job of the batch (a review).
                        raise
                    conn.execute("ROLLBACK TO job")
                    outcomes.append((item, None, exc))
                else:
                    outcomes.append((item, result, None))
                conn.execute("RELEASE job")
            conn.execute("COMMIT")
        except Exception as exc:  # BEGIN or COMMIT failed, or the transaction is gone: nothing of it is durable
            roll_back(conn)
            outcomes = [(item, None, exc) for item in batch]
        return outcomes

    def _settle(self, outcomes: list[tuple[_Item, Any, BaseException | None]]) -> None:
        with self._count_lock:
            self._unsettled -= len(outcomes)
        for item, result, error in outcomes:
            if error is None:
                if item.counted:
                    self.committed += 1
                    self.last_commit_ts = time.time()
                if item.future is not None:
                    _settle_one(item.future, result, None)
            elif item.future is not None:
                self.saw(error)
                self._record_failure(f"{type(error).__name__}: {error}", quiet=True)
                _settle_one(item.future, None, error)
            else:
                self.saw(error)
                self._record_failure(f"{type(error).__name__}: {error}")

    @property
    def failing(self) -> bool:
        """Whether the latest write failed (a success since then clears it)."""
        return self.last_failure_ts is not None and (self.last_commit_ts or 0.0) < self.last_failure_ts

    def _record_failure(self, message: str, *, quiet: bool = False) -> None:
        self.failed += 1
        self.last_error = message
        self.last_failure_ts = time.time()
        if not quiet:  # a failed awaited job is the caller's to report
            log.warning("journal write failed: %s", message)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _settle_one(future: Future[Any], result: Any, error: BaseException | None) -> None:
    """Give `future` its outcome, unless its waiter cancelled it (a task cancelled while awaiting `run`): setting
    a cancelled future raised InvalidStateError in the writer thread, which died, and every later write failed
    until a restart (a review). A cancelled job is committed all the same."""
    try:
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
    except InvalidStateError:
        pass
