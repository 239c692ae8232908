"""Fault (b): the journal's disk turns read-only or fills up while the gateway runs.

Predictions must still be answered (their logs are written off the request path), the failure must
show in /health (journal degraded, with the reason) and /metrics (investiq_journal_failed_total),
a Bayesian update must be refused with a 503 (it is acknowledged only once durable), and once the
fault is removed logging must resume by itself.

How the faults are made for real, as root (for whom chmod changes nothing):
- read-only: `chattr +i` on the journal, its WAL and their directory. On ext4 an immutable inode
  refuses writes even through a descriptor opened before (and even to root): SQLite gets EPERM,
  i.e. SQLITE_IOERR. (Remounting read-only is refused by the kernel while a file is open for
  writing: EBUSY. tmpfs does not check the flag on open descriptors, so the journal stays on ext4.)
- full: the journal on a small tmpfs (`mount -t tmpfs -o size=16m`), then a file filling it to
  the last byte: SQLite gets ENOSPC, i.e. SQLITE_FULL. Removing the file frees the space.
Each is skipped, with the reason, where the container does not allow it.
"""

from __future__ import annotations

import contextlib
import errno
import subprocess
import time
from pathlib import Path
from typing import Any, Protocol

from harness.processes import GatewayProcess
from reliability import audit
from reliability.processes import gateway_process
from reliability.traffic import Outcome, Traffic


class DiskFault(Protocol):
    name: str

    def prepare(self, directory: Path) -> str | None:
        """Make `directory` ready for the journal; the reason this fault cannot be made here, or None."""

    def apply(self, db: Path) -> None: ...

    def remove(self, db: Path) -> None: ...

    def cleanup(self, directory: Path) -> None: ...


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    except FileNotFoundError:  # no such tool here: the fault is skipped with this reason
        return subprocess.CompletedProcess(cmd, 127, "", f"{cmd[0]} is not installed")


class ReadOnly:
    name = "read-only"

    def prepare(self, directory: Path) -> str | None:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / "probe"
        with probe.open("w") as held:  # opened before the flag is set, as SQLite's files are
            done = _run("chattr", "+i", str(probe))
            if done.returncode != 0:
                return f"chattr +i is not possible here: {done.stderr.strip() or done.returncode}"
            try:
                held.write("x")
                held.flush()
                refused = None
            except OSError as exc:
                refused = exc
            _run("chattr", "-i", str(probe))
        probe.unlink()
        return None if refused else "this filesystem lets an immutable file be written through an open descriptor"

    def _targets(self, db: Path) -> list[str]:
        return [str(p) for p in (db, db.with_name(db.name + "-wal"), db.parent) if p.exists()]

    def apply(self, db: Path) -> None:
        _run("chattr", "+i", *self._targets(db))

    def remove(self, db: Path) -> None:
        _run("chattr", "-i", *self._targets(db))

    def cleanup(self, directory: Path) -> None:
        _run("chattr", "-R", "-i", str(directory))


class Full:
    name = "full"

    def __init__(self, size_mb: int = 16) -> None:
        self.size_mb = size_mb

    def prepare(self, directory: Path) -> str | None:
        directory.mkdir(parents=True, exist_ok=True)
        done = _run("mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m", "tmpfs", str(directory))
        return None if done.returncode == 0 else f"mount -t tmpfs is not permitted: {done.stderr.strip()}"

    def apply(self, db: Path) -> None:
        chunk = b"\0" * (1 << 16)
        with (db.parent / "filler").open("wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
            with contextlib.suppress(OSError):  # the last bytes, smaller than a chunk
                while True:
                    filler.write(b"\0" * 512)

    def remove(self, db: Path) -> None:
        (db.parent / "filler").unlink(missing_ok=True)

    def cleanup(self, directory: Path) -> None:
        if _run("umount", str(directory)).returncode != 0:
            _run("umount", "-l", str(directory))  # still busy: detach now, freed when closed


def send(gateway: GatewayProcess, traffic: Traffic, endpoints: tuple[str, ...]) -> list[Outcome]:
    out = []
    for endpoint in endpoints:
        path, body, key = traffic.request(endpoint)
        began = time.monotonic()
        response = gateway.post(path, body)
        detail = "" if response.status_code == 200 else response.text[:300]
        out.append(Outcome(endpoint, key, response.status_code, began, (time.monotonic() - began) * 1000, detail))
    return out


def journal_health(gateway: GatewayProcess) -> dict[str, Any]:
    return dict(gateway.get("/health").json()["components"]["journal"])


def until(gateway: GatewayProcess, traffic: Traffic, wanted: str, timeout_s: float) -> tuple[list[Outcome], Any]:
    """Send predictions until the journal's health is `wanted`: (outcomes, (seconds, report) or None)."""
    began, outcomes = time.monotonic(), []
    while time.monotonic() - began < timeout_s:
        outcomes += send(gateway, traffic, ("sentiment", "price"))
        time.sleep(0.05)  # let the writer take the logs
        report = journal_health(gateway)
        if report["status"] == wanted:
            return outcomes, (round(time.monotonic() - began, 2), report)
    return outcomes, None


def run_disk_fault(
    repository: Path, work: Path, fault: DiskFault, hold_s: float = 0.0, timeout_s: float = 30.0
) -> dict[str, Any]:
    """The journal of a running gateway under `fault` (kept `hold_s` more once /health shows it, with
    predictions sent all along), then without it; `passed` is the promise held."""
    from harness.tiny_repository import context_length

    directory = work / f"disk-{fault.name}"
    reason = fault.prepare(directory)
    if reason is not None:
        return {"fault": fault.name, "skipped": reason, "passed": None}
    db = directory / "journal.db"
    gateway = gateway_process(db, repository, work, log_name=f"gateway-{fault.name}.log")
    traffic = Traffic(context_length(repository))
    try:
        gateway.start()
        before = send(gateway, traffic, ("sentiment", "price", "bayesian"))
        gateway.drain()
        fault.apply(db)
        during, detected = until(gateway, traffic, "degraded", timeout_s)
        during += until(gateway, traffic, "no such status: hold the fault", hold_s)[0]
        failed_total = gateway.metric("investiq_journal_failed_total")
        update = send(gateway, traffic, ("bayesian",))[0]
        stack = gateway.get("/health").json()["status"]
        fault.remove(db)
        after, recovered = until(gateway, traffic, "healthy", timeout_s)
        after += send(gateway, traffic, ("sentiment", "price", "bayesian"))
        gateway.drain()
        gateway.stop()
        journal = audit.reconcile(before + after, audit.journal_keys(db), traffic.run)
        lost = audit.reconcile(during, audit.journal_keys(db), traffic.run)
        integrity = audit.integrity(db)
    finally:
        gateway.kill()
        fault.remove(db)
        fault.cleanup(directory)
    report = {
        "fault": fault.name,
        "predictions_during_fault": len(during),
        "predictions_answered_200": sum(o.status == 200 for o in during),
        "detected_after_s": None if detected is None else detected[0],
        "health_journal": None if detected is None else detected[1],
        "health_stack": stack,
        "metrics_journal_failed_total": failed_total,
        "bayesian_update_during_fault": {"status": update.status, "detail": update.detail[:200]},
        "recovered_after_s": None if recovered is None else recovered[0],
        "logs_lost_during_fault": sum(j["missing"] for j in lost.values()),
        "answered_outside_fault": sum(j["acknowledged"] for j in journal.values()),
        "journaled_outside_fault": sum(j["journaled_once"] for j in journal.values()),
        "integrity": integrity,
    }
    report["passed"] = passed(report)
    return report


def passed(r: dict[str, Any]) -> bool:
    health = r["health_journal"] or {}
    return bool(
        r["predictions_answered_200"] == r["predictions_during_fault"] > 0
        and health.get("status") == "degraded"
        and "journal write failed" in str(health.get("reason"))
        and r["health_stack"] == "degraded"
        and r["metrics_journal_failed_total"] > 0
        and r["bayesian_update_during_fault"]["status"] == 503
        and r["recovered_after_s"] is not None
        and r["journaled_outside_fault"] == r["answered_outside_fault"] > 0
        and r["integrity"] == "ok"
    )
