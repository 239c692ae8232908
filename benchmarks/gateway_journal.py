"""What logging predictions costs the journal's writer thread: rows committed per second, one row per job and
many (`investiq bench gateway`, benchmarks/gateway.py)."""

from __future__ import annotations

import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path


def journal_cost(rows: int) -> dict[str, float]:
    """Rows per second the writer thread commits: one row per job (a single-headline request) and
    many rows per job (a 32-headline request), on a fresh journal file; every job its own commit (no
    journal_log_delay_ms, whose wait would dominate a burst of rows): the writer's worst case."""
    from investiq.core.journal import JournalWriter, open_journal
    from investiq.core.journal.predictions import SentimentRow, insert_sentiment

    def row(i: int) -> SentimentRow:
        now = datetime.now(timezone.utc).isoformat()
        p = (0.05, 0.05, 0.9)
        return SentimentRow(now, "BENCH", f"headline {i}", "neutral", 0.9, 0.0, *p, "bench", "v", 1.0, False)

    out = {}
    for per_job in (1, 32):
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "journal.db"
            open_journal(db).close()
            writer = JournalWriter(db)
            writer.start()
            start = time.perf_counter()
            for j in range(0, rows, per_job):
                writer.log(insert_sentiment([row(i) for i in range(j, j + per_job)]))
            writer.close()  # drains the queue: every row committed
            elapsed = time.perf_counter() - start
        out[f"rows_per_s_{per_job}_per_request"] = rows / elapsed
        out[f"us_per_row_{per_job}_per_request"] = elapsed / rows * 1e6
    return out
