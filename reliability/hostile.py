"""Promise 4: a hostile or broken client gets a 4xx that says why, or its connection closed in time; never a
500, never a connection (and its file descriptor) held for as long as it likes, never lost evidence.

    python -m reliability.hostile [--slow-heads 200] [--half-bodies 5000] [--unread-bodies 200] [--silent 200]

Against one real `investiq serve` (its deadlines: http_header_timeout_s, http_body_timeout_s):
(a) slow and stalled clients: connections sending their request head one byte a second (slowloris), sending
    a head and half a body and then nothing, dribbling a body to a route that never reads one (after its
    answer), and connecting and saying nothing, all at once, while a steady client keeps calling; measured:
    how long until the server closed each and what it said (408, or nothing), the server's open file
    descriptors and RSS before, at the peak and after, the steady client's answers;
(b) the input shapes an independent probe got 500s with (issue 15): a lone surrogate in every string field of
    every body, close times in the years 1 and 9999 with offsets of -14:00 to +14:00, invisible characters in
    trade ids, a trade id repeated across strategies, an integer id and its text: each answer's status;
(c) the README's /bayesian examples in order: the posterior of `momentum` before and after the sync.
Results: reliability/results/hostile.{json,md}.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness.results import machine, table
from reliability import results
from reliability.hostile_inputs import run_hostile_input
from reliability.hostile_readme import run_readme
from reliability.hostile_slow import run_slow_clients
from reliability.processes import gateway_process
from reliability.runs import add_common, script_parser, workspace


def run_inputs(repository: Path, work: Path) -> dict[str, Any]:
    """(b) and (c) against one fresh gateway."""
    from harness.tiny_repository import context_length

    gateway = gateway_process(work / "hostile.db", repository, work, log_name="gateway-hostile.log")
    with gateway:
        gateway.start()
        readme = run_readme(gateway.request, gateway.db)
        inputs = run_hostile_input(gateway.url, context_length(repository))
        log = gateway.log_tail(200_000)
    inputs["tracebacks_in_log"] = log.count("Traceback")
    inputs["passed"] = inputs["passed"] and inputs["tracebacks_in_log"] == 0
    return {"readme": readme, "inputs": inputs}


# -- the script -------------------------------------------------------------------------------------------


def markdown(data: dict[str, Any]) -> list[str]:
    lines = ["# Hostile clients: slow, stalled, and the inputs that were 500s", ""]
    if "slow" in data:
        s = data["slow"]
        lines += [
            f"## (a) Slow and stalled clients, all at once (http_header_timeout_s {s['header_timeout_s']:g}, "
            f"http_body_timeout_s {s['body_timeout_s']:g}; slowloris: one byte per {s['byte_interval_s']:g} s)",
            "",
        ]
        head = ["client", "connections", "deadline s", "closed by the server", f"within +{s['slack_s']:g} s"]
        head += ["answered 408", "answered otherwise", "closed silently", "closed after s (p50 / max)"]
        body = []
        for kind, k in s["kinds"].items():
            after = k["closed_after_s"]
            body.append(
                [
                    kind,
                    k["connections"],
                    k["deadline_s"],
                    k["closed_by_server"],
                    k["in_time"],
                    k["answered_408"],
                    ", ".join(f"{n}× {st}" for st, n in k["other_status"].items()) or None,
                    k["closed_without_answer"],
                    f"{after['p50_ms']} / {after['max_ms']}" if after else None,
                ]
            )
        lines += [*table(head, body), ""]
        lat = s["steady_latency_ms"] or {}
        still = {Path(target).name: n for target, n in s["fds_added"].items()}  # the journal, by its name
        lines += [
            f"- Still open after waiting {s['max_wait_s']:g} s: **{s['still_open_at_max_wait']}**.",
            f"- Server's open file descriptors: {s['fds_before']} before, {s['fds_peak']} at the peak, "
            f"**{s['fds_after']} after** (1 s after the clients let go; sockets {s['sockets_before']} before, "
            f"**{s['sockets_after']} after**; opened meanwhile and still open: {still or 'none'}); RSS "
            f"{s['rss_mb_before']} MB before, {s['rss_mb_after']} MB after.",
            f"- A steady client meanwhile: {s['steady_calls']} calls, statuses {s['steady_statuses']}, latency "
            f"p50 {lat.get('p50_ms')} ms, p99 {lat.get('p99_ms')} ms, max {lat.get('max_ms')} ms.",
            f'- `investiq_errors_total{{kind="request_timeout"}}`: {s["metrics_request_timeouts"]:g}; '
            f"/health after: {s['health_after']}.",
            f"- Held: {'yes' if s['passed'] else 'NO'}.",
            "",
        ]
    if "inputs" in data:
        i = data["inputs"]
        lines += ["## (b) The input shapes that were 500s", ""]
        head = ["shape", "answers"]
        body = [
            [shape, ", ".join(f"{n}× {st}" for st, n in sorted(c.items()))] for shape, c in i["by_shape"].items()
        ]
        lines += [*table(head, body), ""]
        lines += [
            f"- {i['requests']} requests: {i['statuses']}; **5xx or no answer: {i['status_5xx']}**; tracebacks in "
            f"the gateway log: {i['tracebacks_in_log']}; /bayesian/health after: {i['bayesian_health_after']}.",
            "- Examples of the answers:",
            *[f"  - {k}: `{v}`" for k, v in sorted(i["examples"].items())[:12]],
            f"- Held: {'yes' if i['passed'] else 'NO'}.",
            "",
        ]
    if "readme" in data:
        r = data["readme"]
        lines += ["## (c) The README's /bayesian examples, in order", ""]
        lines += [
            *table(
                ["call", "status", "momentum's trades"],
                [[s["call"], s["status"], s["momentum_samples"]] for s in r["steps"]],
            ),
            "",
        ]
        lines += [
            f"- momentum's row of `bayesian_state` before the sync equals the one after: "
            f"{r['momentum_state_before_sync'] == r['momentum_state_after_sync']}.",
            f"- Held: {'yes' if r['passed'] else 'NO'}.",
            "",
        ]
    lines += [f"**All promises held: {'yes' if data['passed'] else 'NO'}.**"]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = script_parser("hostile", __doc__)
    parser.add_argument("--only", nargs="+", choices=["slow", "inputs"], default=["slow", "inputs"])
    parser.add_argument("--slow-heads", type=int, default=200, help="slowloris connections")
    parser.add_argument("--half-bodies", type=int, default=5000, help="connections stalled halfway through a body")
    parser.add_argument(
        "--unread-bodies", type=int, default=200, help="bodies dribbled to a route that reads none"
    )
    parser.add_argument("--silent", type=int, default=200, help="connections that send nothing")
    parser.add_argument("--header-timeout", type=float, help="http_header_timeout_s (default: the setting's)")
    parser.add_argument("--body-timeout", type=float, help="http_body_timeout_s (default: the setting's)")
    parser.add_argument("--byte-interval", type=float, default=1.0, help="seconds between a slowloris's bytes")
    parser.add_argument("--max-wait", type=float, default=90.0, help="longest wait for the server to close them")
    add_common(parser, quick="20/100/20/20 connections, 1 s deadlines, 10 s wait")
    args = parser.parse_args(argv)
    if args.quick:
        args.slow_heads, args.half_bodies, args.unread_bodies, args.silent = 20, 100, 20, 20
        args.header_timeout = args.body_timeout = 1.0
        args.byte_interval, args.max_wait = 0.25, 10.0
    began, host = time.monotonic(), machine()
    counts = {
        "slow head": args.slow_heads,
        "half body": args.half_bodies,
        "unread body": args.unread_bodies,
        "silent": args.silent,
    }
    data: dict[str, Any] = {}
    with workspace(args) as (repository, work, models):
        if "slow" in args.only:
            data["slow"] = run_slow_clients(
                repository,
                work,
                counts,
                header_timeout_s=args.header_timeout,
                body_timeout_s=args.body_timeout,
                byte_interval_s=args.byte_interval,
                max_wait_s=args.max_wait,
            )
        if "inputs" in args.only:
            data.update(run_inputs(repository, work))
    data["passed"] = all(data[k]["passed"] for k in ("slow", "inputs", "readme") if k in data)
    data = {"machine": host, "command": results.command(), "seconds": time.monotonic() - began, **data}
    data["models"] = models
    name = "hostile" if len(args.only) == 2 else f"hostile-{args.only[0]}"
    return results.report(args.out, name, data, markdown(data))


if __name__ == "__main__":
    raise SystemExit(main())
