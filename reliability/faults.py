"""Promise 3: the gateway degrades visibly and recovers by itself when what it depends on fails.

    python -m reliability.faults [--only triton disk model] [--down-seconds 5] [--hold-seconds 5]

(a) tritonserver SIGKILLed under load and restarted (reliability/triton_fault.py): 503s that say
    why while it is down, no 500, recovery without restarting the gateway, time to recover.
(b) the journal's disk read-only (chattr +i) or full (a filled tmpfs) under a running gateway
    (reliability/disk_fault.py): predictions still answered, the failure in /health and /metrics,
    logging back once the fault is gone.
(c) a corrupt or missing model file (reliability/model_fault.py): `investiq serve` exits with an
    error naming the file.
Results: reliability/results/faults.{json,md}.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness.results import machine, table
from reliability import results
from reliability.disk_fault import Full, ReadOnly, run_disk_fault
from reliability.model_fault import run_model_faults
from reliability.runs import add_common, script_parser, workspace
from reliability.triton_fault import run_triton_fault


def run_faults(repository: Path, work: Path, only: list[str], down_s: float, hold_s: float) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if "triton" in only:
        data["triton"] = run_triton_fault(repository, work, down_s=down_s, up_s=3.0, after_s=5.0)
    if "disk" in only:
        data["disk"] = [run_disk_fault(repository, work, fault, hold_s) for fault in (ReadOnly(), Full())]
    if "model" in only:
        data["model"] = run_model_faults(repository, work)
    outcomes = [data["triton"]["passed"]] if "triton" in data else []
    outcomes += [d["passed"] for d in data.get("disk", []) if d["passed"] is not None]  # None: skipped
    outcomes += [m["passed"] for m in data.get("model", [])]
    data["passed"] = all(outcomes)
    return data


def markdown(data: dict[str, Any]) -> list[str]:
    lines = ["# Faults: degrade visibly, recover by itself", ""]
    if "triton" in data:
        t = data["triton"]
        down, restarting, after = t["down"], t["restarting"], t["after"]
        lines += [
            "## (a) Triton SIGKILLed under load, restarted after "
            f"{t['down_s']:.0f} s ({t['clients']} clients, sentiment + price)",
            "",
            f"- Before the kill: {t['before']['ok']} of {t['before']['requests']} answered 200.",
            f"- While down: {down['requests']} requests, {down['status_503']} answered 503, {down['with_reason']} "
            f"of them naming Triton and its address; other answers: {down['other'] or 'none'}.",
            f"- Example 503 body: `{down['example']}`",
            f"- /health while down, inference component: `{t['health_while_down']}`.",
            f"- Triton took {t['triton_start_s']} s to start again; {restarting['ok']} of "
            f"{restarting['requests']} requests sent meanwhile were answered.",
            f"- **Recovery: {t['recovery_s']} s after Triton was ready** (outage from the kill: "
            f"{t['outage_s']} s); after recovery {after['ok']} of {after['requests']} answered 200, "
            f"non-200 after the first 200: {after['not_ok_after_first_200']}; same gateway process: "
            f"{t['gateway_pid_unchanged']}.",
            f"- 500s over the whole run: **{t['status_500']}**; requests without an answer: {t['no_answer']}; "
            f"answers missing from the journal: {t['journal_missing']}.",
            f"- Held: {'yes' if t['passed'] else 'NO'}.",
            "",
        ]
    if "disk" in data:
        lines += ["## (b) The journal's disk read-only or full, under a running gateway", ""]
        lines += ["How: " + DISK_HOW, ""]
        head = ["fault", "predictions during the fault", "answered 200", "in /health after s", "journal reason"]
        head += ["failed_total", "Bayesian update", "logging back after s", "logs lost", "integrity", "held"]
        body = []
        for d in data["disk"]:
            if d["passed"] is None:
                body.append([d["fault"], f"skipped: {d['skipped']}"] + [None] * 9)
                continue
            reason = (d["health_journal"] or {}).get("reason")
            body.append(
                [
                    d["fault"],
                    d["predictions_during_fault"],
                    d["predictions_answered_200"],
                    d["detected_after_s"],
                    f"`{reason}`",
                    d["metrics_journal_failed_total"],
                    d["bayesian_update_during_fault"]["status"],
                    d["recovered_after_s"],
                    d["logs_lost_during_fault"],
                    d["integrity"],
                    d["passed"],
                ]
            )
        lines += [*table(head, body), ""]
    if "model" in data:
        lines += ["## (c) A corrupt or missing model file (`investiq serve` on a copy of the repository)", ""]
        head = ["file", "exit code", "exit after s", "error names the file", "traceback", "`investiq serve` says"]
        body = [
            [m["case"], m["exit_code"], m["seconds"], m["passed"], m["traceback"], f"`{short(m)}`"]
            for m in data["model"]
        ]
        lines += [*table(head, body), ""]
    lines += [f"**All promises held: {'yes' if data['passed'] else 'NO'}.**"]
    return lines


def short(m: dict[str, Any]) -> str:
    """The error line with the throw-away repository's path written <repo>."""
    return str(m["error_line"]).replace(m["repository"], "<repo>")


DISK_HOW = (
    "read-only = `chattr +i` on the journal, its WAL and their directory (ext4 refuses writes to an immutable "
    "inode even through descriptors opened before, and even to root; a read-only remount is refused while files "
    "are open for writing); full = the journal on a 16 MiB tmpfs filled to the last byte by another file. "
    "Removing the flag or the file ends the fault."
)


def main(argv: list[str] | None = None) -> int:
    parser = script_parser("faults", __doc__)
    parser.add_argument(
        "--only", nargs="+", choices=["triton", "disk", "model"], default=["triton", "disk", "model"]
    )
    parser.add_argument("--down-seconds", type=float, default=5.0, help="Triton down before its restart")
    parser.add_argument("--hold-seconds", type=float, default=5.0, help="disk fault kept after /health shows it")
    add_common(parser, quick="Triton down 1 s, disk faults held 0 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.down_seconds, args.hold_seconds = 1.0, 0.0
    began, host = time.monotonic(), machine()
    with workspace(args) as (repository, work, models):
        data = run_faults(repository, work, args.only, args.down_seconds, args.hold_seconds)
    data = {"machine": host, "command": results.command(), "seconds": time.monotonic() - began, **data}
    data["models"] = models
    name = "faults" if len(args.only) == 3 else "faults-" + "-".join(args.only)  # a subset never overwrites
    return results.report(args.out, name, data, markdown(data))


if __name__ == "__main__":
    raise SystemExit(main())
