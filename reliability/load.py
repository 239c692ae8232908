"""Promise 1: under many concurrent clients, every answered request is journaled exactly once, no
request gets a 5xx, and latency stays measured.

    python -m reliability.load [--backends embedded triton] [--concurrency 1 8 32 64] [--seconds 8]

For each backend (in-process ONNX Runtime, and a local tritonserver through gRPC) one `investiq
serve` process takes, at each concurrency level in turn, a mix of /sentiment/predict,
/price/predict (with prices) and /bayesian/update (a new trade_id each) for a fixed time. Then the
journal writer is drained and the gateway stopped with SIGTERM (prediction logs are written off the
request path, so counting before that would miss the queued ones), and every 200 is looked up in
the journal by its key. Results: reliability/results/load.{json,md}.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness.processes import LocalTriton
from harness.results import machine, table
from reliability import audit, results
from reliability.processes import gateway_process
from reliability.runs import add_common, script_parser, workspace
from reliability.traffic import Traffic, drive, summarize

MIX = ("sentiment", "price", "bayesian")


def run_load(
    repository: Path,
    work: Path,
    backends: list[str],
    levels: list[int],
    seconds: float,
    warmup_s: float = 1.0,
    triton: LocalTriton | None = None,
) -> dict[str, Any]:
    """Measure each backend at each concurrency level; `passed` is the promise held. `triton`: a
    running server for the triton backend (left running), else one of its own."""
    from harness.tiny_repository import context_length

    traffic = Traffic(context_length(repository))
    rows: list[dict[str, Any]] = []
    audits: dict[str, Any] = {}
    for backend in backends:
        server = triton if backend == "triton" else None
        own = backend == "triton" and server is None
        if own:
            server = LocalTriton(repository, work / "triton-load")
            server.start()
        gateway = gateway_process(
            work / f"load-{backend}.db",
            repository,
            work,
            backend=backend,
            triton_url=server.url if server else None,
            log_name=f"gateway-{backend}.log",
        )
        try:
            gateway.start()
            outcomes = drive(gateway.url, traffic, MIX, 2, seconds=warmup_s)  # sessions warm up
            for clients in levels:
                began = time.monotonic()
                level = drive(gateway.url, traffic, MIX, clients, seconds=seconds)
                elapsed = time.monotonic() - began
                outcomes += level
                for endpoint, figures in summarize(level, elapsed).items():
                    rows.append({"backend": backend, "clients": clients, "endpoint": endpoint, **figures})
            drained = gateway.drain()
            exit_code = gateway.stop()
        finally:
            gateway.kill()
            if own and server is not None:
                server.stop()
        audits[backend] = {
            "drained": drained,
            "exit_code": exit_code,
            "integrity": audit.integrity(gateway.db),
            "journal": audit.reconcile(outcomes, audit.journal_keys(gateway.db), traffic.run),
            "bayesian_disagreements": audit.bayesian_disagreements(gateway.db),
        }
    return {"rows": rows, "audit": audits, "passed": passed(rows, audits)}


def passed(rows: list[dict[str, Any]], audits: dict[str, Any]) -> bool:
    every_answer_ok = all(r["status_5xx"] == 0 and r["no_answer"] == 0 for r in rows)
    journal_exact = all(
        a["drained"]
        and a["integrity"] == "ok"
        and not a["bayesian_disagreements"]
        and all(
            j["missing"] == 0 and j["duplicated"] == 0 and j["unacknowledged_rows"] == 0
            for j in a["journal"].values()
        )
        for a in audits.values()
    )
    return every_answer_ok and journal_exact


def markdown(data: dict[str, Any]) -> list[str]:
    lines = [
        "# Load: every answer journaled once, no 5xx",
        "",
        f"{data['seconds_per_level']:.0f} s per concurrency level and backend; each client sends "
        "/sentiment/predict (one headline), /price/predict (given closes) and /bayesian/update "
        "(a new trade_id) in turn. "
        f"Models: {data['models']}. Latency of the 200s, as the clients saw it (the clients share the CPUs).",
        "",
    ]
    head = [
        "backend",
        "clients",
        "endpoint",
        "requests",
        "200/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "5xx",
        "no answer",
    ]
    body = [
        [
            r["backend"],
            r["clients"],
            r["endpoint"],
            r["requests"],
            r["ok_per_s"],
            r["p50_ms"],
            r["p95_ms"],
            r["p99_ms"],
            r["status_5xx"],
            r["no_answer"],
        ]
        for r in data["rows"]
    ]
    lines += table(head, body)
    lines += ["", "## Journal after a graceful stop (SIGTERM; writer drained)", ""]
    head = ["backend", "endpoint", "200s", "with exactly one row", "missing", "duplicated", "rows without a 200"]
    body = []
    for backend, a in data["audit"].items():
        for endpoint, j in a["journal"].items():
            body.append([backend, endpoint, j["acknowledged"], j["journaled_once"], j["missing"]])
            body[-1] += [j["duplicated"], j["unacknowledged_rows"]]
    lines += table(head, body)
    checks = ", ".join(
        f"{b}: integrity {a['integrity']}, Bayesian state = events: {not a['bayesian_disagreements']}"
        for b, a in data["audit"].items()
    )
    lines += ["", f"{checks}.", "", f"**Promise held: {'yes' if data['passed'] else 'NO'}.**"]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = script_parser("load", __doc__)
    parser.add_argument("--backends", nargs="+", choices=["embedded", "triton"], default=["embedded", "triton"])
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 8, 32, 64], help="client counts")
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each level (default 8)")
    add_common(parser, quick="2 levels (1, 8) of 2 s each")
    args = parser.parse_args(argv)
    if args.quick:
        args.concurrency, args.seconds = [1, 8], 2.0
    began, host = time.monotonic(), machine()
    with workspace(args) as (repository, work, models):
        data = run_load(repository, work, args.backends, args.concurrency, args.seconds)
    data = {
        "machine": host,
        "command": results.command(),
        "seconds": time.monotonic() - began,
        "seconds_per_level": args.seconds,
        "models": models,
        **data,
    }
    return results.report(args.out, "load", data, markdown(data))


if __name__ == "__main__":
    raise SystemExit(main())
