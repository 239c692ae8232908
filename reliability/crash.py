"""Promise 2: `kill -9` of the gateway loses no acknowledged update and never corrupts the journal,
and the Rust agent's writes to the same file never fail with "database is locked".

    python -m reliability.crash [--rounds 10] [--clients 16] [--kill-after 1 3]

Each round starts `investiq serve` on the same journal, sends write-heavy load (Bayesian updates
with new trade_ids, plus predictions) and SIGKILLs the gateway after a random time. Then: `PRAGMA
integrity_check`; every update answered 200 is in bayesian_events (an update is committed before
its 200); the folded Bayesian state agrees with the events; the updates left without an answer are
retried, as the agent would, and must be counted exactly once. The next round's start is the
restart check. All along, a second process (reliability/agent.py) writes `trades` like the agent.
Results: reliability/results/crash.{json,md}.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from harness.processes import ROOT, GatewayProcess
from harness.results import machine, table
from reliability import audit, results
from reliability.agent import agent_rows
from reliability.processes import gateway_process
from reliability.runs import add_common, script_parser, workspace
from reliability.traffic import Outcome, Traffic, drive

MIX = ("bayesian", "sentiment", "bayesian", "price")  # half of the requests are durable writes


def load_then_kill(gateway: GatewayProcess, traffic: Traffic, clients: int, after_s: float) -> list[Outcome]:
    killed = threading.Event()

    def kill() -> None:
        gateway.kill()  # SIGKILL; the clients stop once their request in flight has failed
        killed.set()

    timer = threading.Timer(after_s, kill)
    timer.start()
    try:
        return drive(gateway.url, traffic, MIX, clients, stop=killed.is_set)
    finally:
        timer.join()


def retry_unanswered(gateway: GatewayProcess, traffic: Traffic, outcomes: list[Outcome]) -> dict[str, int]:
    """Resend the updates that got no answer, as the agent would: each must be acknowledged, and
    counted only if the killed gateway had not committed it (trade_id makes the retry idempotent)."""
    lost = [o.key for o in outcomes if o.endpoint == "bayesian" and o.status is None]
    before = audit.journal_keys(gateway.db)["bayesian"]
    tally = {"retried": len(lost), "already_committed": 0, "counted_now": 0, "wrong": 0}
    for key in lost:
        response = gateway.post("/bayesian/update", traffic.updates[key])
        committed = before.get(key, 0) == 1
        tally["already_committed"] += committed
        if response.status_code != 200 or response.json()["counted"] == committed:
            tally["wrong"] += 1
        else:
            tally["counted_now"] += not committed
    return tally


def check_round(db: Path, traffic: Traffic, outcomes: list[Outcome]) -> dict[str, Any]:
    journal = audit.reconcile(outcomes, audit.journal_keys(db), traffic.run)
    predictions = [journal["sentiment"], journal["price"]]
    return {
        "answered": sum(o.status is not None for o in outcomes),
        # cut mid-way: sent to the live server, no answer; a request refused after the kill never reached it (each
        # client sent one, so counting those made "in flight" the number of clients every round, a review)
        "in_flight_at_kill": sum(o.status is None and o.detail != "ConnectionRefusedError" for o in outcomes),
        "refused_after_kill": sum(o.detail == "ConnectionRefusedError" for o in outcomes if o.status is None),
        "other_than_200": sum(o.status not in (None, 200) for o in outcomes),
        "updates_acknowledged": journal["bayesian"]["acknowledged"],
        "acknowledged_updates_missing": journal["bayesian"]["missing"],
        "updates_duplicated": journal["bayesian"]["duplicated"],
        "predictions_acknowledged": sum(j["acknowledged"] for j in predictions),
        "prediction_logs_lost": sum(j["missing"] for j in predictions),
        "integrity": audit.integrity(db),
        "bayesian_disagreements": audit.bayesian_disagreements(db),
    }


def run_crash(
    repository: Path, work: Path, rounds: int, clients: int, kill_after: tuple[float, float], seed: int = 0
) -> dict[str, Any]:
    from harness.tiny_repository import context_length

    db, traffic, rng = work / "crash.db", Traffic(context_length(repository), seed), random.Random(seed)
    records: list[dict[str, Any]] = []
    agent: subprocess.Popen[str] | None = None
    gateway: GatewayProcess | None = None
    previous: list[Outcome] = []
    try:
        for number in range(rounds + 1):  # the last start only checks the restart
            gateway = gateway_process(db, repository, work, log_name="gateway-crash.log")
            restart_s = gateway.start()
            health = gateway.get("/health").json()
            record: dict[str, Any] = {"round": number, "start_s": round(restart_s, 2), "health": health["status"]}
            record["journal_health"] = health["components"]["journal"]["status"]
            if previous:
                records[-1]["retry"] = retry_unanswered(gateway, traffic, previous)
            if agent is None:  # after the first start: the gateway made the file and its tables
                agent = subprocess.Popen(  # noqa: S603
                    [sys.executable, "-m", "reliability.agent", "--db", str(db)],
                    stdout=subprocess.PIPE,
                    text=True,
                    cwd=ROOT,
                )
            if number == rounds:
                gateway.stop()
                records.append(record)
                break
            after = rng.uniform(*kill_after)
            previous = load_then_kill(gateway, traffic, clients, after)
            records.append({**record, "killed_after_s": round(after, 2), **check_round(db, traffic, previous)})
    finally:
        if gateway is not None:
            gateway.kill()
        agent_report = stop_agent(agent, db)
    in_journal = audit.journal_keys(db)["bayesian"]
    data: dict[str, Any] = {"rounds": records, "agent": agent_report, "integrity": audit.integrity(db)}
    data["updates_sent"] = len(traffic.updates)  # answered, or retried after the restart
    data["updates_journaled_once"] = sum(in_journal.get(k) == 1 for k in traffic.updates)
    data["passed"] = passed(data)
    return data


def stop_agent(agent: subprocess.Popen[str] | None, db: Path) -> dict[str, Any]:
    """SIGTERM the stand-in agent; what it says it wrote, and what of it is in `trades`."""
    if agent is None:
        return {"failures": None}
    agent.terminate()
    out, _ = agent.communicate(timeout=60)
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    report["rows_found"], report["closed_found"] = agent_rows(db)
    return report


def passed(data: dict[str, Any]) -> bool:
    crashes = [r for r in data["rounds"] if "killed_after_s" in r]
    agent = data["agent"]
    return (
        all(r["health"] != "unhealthy" and r["journal_health"] == "healthy" for r in data["rounds"])
        and all(
            r["integrity"] == "ok"
            and r["acknowledged_updates_missing"] == r["updates_duplicated"] == r["other_than_200"] == 0
            and not r["bayesian_disagreements"]
            and r["retry"]["wrong"] == 0
            for r in crashes
        )
        and data["updates_journaled_once"] == data["updates_sent"]
        and agent["failures"] == 0
        and (agent["rows_found"], agent["closed_found"]) == (agent["inserts"], agent["closes"])
        and data["integrity"] == "ok"
    )


def markdown(data: dict[str, Any]) -> list[str]:
    crashes = [r for r in data["rounds"] if "killed_after_s" in r]
    agent = data["agent"]
    lines = [
        "# Crash: kill -9 under write-heavy load",
        "",
        f"{len(crashes)} rounds on one journal, {data['clients']} clients (half of the requests Bayesian updates, "
        "each with a new trade_id), SIGKILL after a random time; models: " + data["models"] + ".",
        "",
    ]
    head = ["round", "killed after s", "answered", "in flight", "updates acked", "acked updates missing"]
    head += ["in-flight updates committed / retried", "prediction logs lost", "integrity", "state = events"]
    head += ["restart s"]
    body = []
    for r, following in zip(crashes, data["rounds"][1:], strict=True):
        retry = r["retry"]
        body.append(
            [
                r["round"],
                r["killed_after_s"],
                r["answered"],
                r["in_flight_at_kill"],
                r["updates_acknowledged"],
                r["acknowledged_updates_missing"],
                f"{retry['already_committed']} / {retry['retried']}",
                r["prediction_logs_lost"],
                r["integrity"],
                not r["bayesian_disagreements"],
                following["start_s"],
            ]
        )
    lines += table(head, body)
    lines += [
        "",
        f"Every update sent ({data['updates_sent']}) is in bayesian_events exactly once after the retries: "
        f"{data['updates_journaled_once'] == data['updates_sent']}. Final integrity check: {data['integrity']}.",
        "Prediction logs are written off the request path (a prediction never waits for the disk), so the "
        "ones still queued when the process dies are lost: that column is expected, the others must be 0.",
        "",
        f"Agent stand-in (own connection, WAL, busy_timeout 5000 ms, INSERT + UPDATE every 5 ms): "
        f"{agent['writes']} writes, {agent['failures']} failures ({agent['locked']} 'database is locked'), "
        f"slowest write {agent['slowest_write_ms']} ms; its rows found: {agent['rows_found']} of "
        f"{agent['inserts']}, closed {agent['closed_found']} of {agent['closes']}.",
        "",
        f"**Promise held: {'yes' if data['passed'] else 'NO'}.**",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = script_parser("crash", __doc__)
    parser.add_argument("--rounds", type=int, default=10, help="kills (default 10)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument(
        "--kill-after", nargs=2, type=float, default=[1.0, 3.0], metavar=("MIN", "MAX"), help="seconds of load"
    )
    parser.add_argument("--seed", type=int, default=0)
    add_common(parser, quick="2 rounds, 8 clients, killed after 0.5-1 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.clients, args.kill_after = 2, 8, [0.5, 1.0]
    began, host = time.monotonic(), machine()
    with workspace(args) as (repository, work, models):
        data = run_crash(repository, work, args.rounds, args.clients, tuple(args.kill_after), args.seed)
    data = {"machine": host, "command": results.command(), "seconds": time.monotonic() - began, **data}
    data.update(models=models, clients=args.clients)
    return results.report(args.out, "crash", data, markdown(data))


if __name__ == "__main__":
    raise SystemExit(main())
