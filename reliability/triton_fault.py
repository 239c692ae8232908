"""Fault (a): tritonserver SIGKILLed under load, restarted a few seconds later, while the gateway
keeps running. While Triton is down every prediction gets a 503 that says why; once it is back the
gateway answers again by itself (its gRPC channel reconnects), and how long that takes is measured."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx

from harness.processes import LocalTriton
from reliability import audit
from reliability.processes import gateway_process
from reliability.traffic import Outcome, Traffic, drive

MIX = ("sentiment", "price")  # the requests that need Triton


def run_triton_fault(
    repository: Path,
    work: Path,
    *,
    clients: int = 8,
    up_s: float = 3.0,
    down_s: float = 5.0,
    after_s: float = 5.0,
    triton: LocalTriton | None = None,
) -> dict[str, Any]:
    """Load for `up_s`, kill Triton, restart it `down_s` later, load `after_s` more once it is ready.
    `triton`: a running server to use (left running afterwards), else one of its own."""
    from harness.tiny_repository import context_length

    own = triton is None
    if triton is None:
        triton = LocalTriton(repository, work / "triton-fault")
        triton.start()
    gateway = gateway_process(
        work / "triton-fault.db",
        repository,
        work,
        backend="triton",
        triton_url=triton.url,
        log_name="gateway-tf.log",
    )
    traffic = Traffic(context_length(repository))
    marks: dict[str, float] = {}
    health: dict[str, Any] = {}

    def fault() -> None:
        """Runs beside the clients: kill, look at /health, restart, let the load run on."""
        time.sleep(up_s)
        triton.kill()
        marks["kill"] = time.monotonic()  # once it is dead: a request sent earlier may still get its 200
        time.sleep(min(1.0, down_s / 2))
        health["down"] = inference_health(gateway.get("/health", 30))
        time.sleep(max(0.0, marks["kill"] + down_s - time.monotonic()))
        marks["restart"] = time.monotonic()
        triton.start()
        marks["ready"] = time.monotonic()
        time.sleep(after_s)
        health["after"] = inference_health(gateway.get("/health", 30))

    def scenario() -> list[Outcome]:
        failure: list[BaseException] = []

        def controller() -> None:
            try:
                fault()
            except BaseException as exc:  # re-raised below, once the clients have stopped
                failure.append(exc)

        thread = threading.Thread(target=controller, name="triton-fault")
        thread.start()
        outcomes = drive(gateway.url, traffic, MIX, clients, stop=lambda: not thread.is_alive())
        thread.join()
        if failure:
            raise failure[0]
        return outcomes

    try:
        gateway.start()
        pid = gateway.pid
        outcomes = scenario()
        alive = gateway.running
        gateway.drain()
        gateway.stop()
    finally:
        gateway.kill()
        if own:
            triton.stop()
    report = analyse(outcomes, marks)
    journal = audit.reconcile(outcomes, audit.journal_keys(gateway.db), traffic.run)
    report.update(
        clients=clients,
        down_s=down_s,
        triton_start_s=round(marks["ready"] - marks["restart"], 2),
        health_while_down=health.get("down"),
        health_after=health.get("after"),
        gateway_pid_unchanged=alive and gateway.pid == pid,
        journal_missing=sum(j["missing"] + j["duplicated"] for j in journal.values()),
    )
    report["passed"] = passed(report)
    return report


def inference_health(response: httpx.Response) -> dict[str, Any]:
    """The inference component of /health, or what came instead of a report."""
    try:
        return dict(response.json()["components"]["inference"])
    except (ValueError, KeyError):
        return {"status": f"/health answered {response.status_code}", "reason": response.text[:200]}


def analyse(outcomes: list[Outcome], marks: dict[str, float]) -> dict[str, Any]:
    """Split the requests by when they were sent: before the kill; while Triton was down (until the
    restart began); while it restarted (it may answer before its readiness poll notices); after it
    was ready. Recovery: from Triton ready to the end of the first 200 sent after the restart began."""
    kill, restart, ready = marks["kill"], marks["restart"], marks["ready"]
    before = [o for o in outcomes if o.started < kill]
    down = [o for o in outcomes if kill <= o.started < restart]
    restarting = [o for o in outcomes if restart <= o.started < ready]
    after = [o for o in outcomes if o.started >= ready]
    first_ok = min((o for o in restarting + after if o.status == 200), key=lambda o: o.started, default=None)
    recovered_at = None if first_ok is None else first_ok.started + first_ok.latency_ms / 1000
    down_503 = [o for o in down if o.status == 503]
    return {
        "before": {"requests": len(before), "ok": sum(o.status == 200 for o in before)},
        "down": {
            "requests": len(down),
            "status_503": len(down_503),
            "with_reason": sum("Triton at" in o.detail for o in down_503),
            "other": sorted({f"{o.status}: {o.detail[:120]}" for o in down if o.status != 503})[:5],
            "example": down_503[0].detail if down_503 else None,
        },
        "restarting": {"requests": len(restarting), "ok": sum(o.status == 200 for o in restarting)},
        "after": {
            "requests": len(after),
            "ok": sum(o.status == 200 for o in after),
            "not_ok_after_first_200": sum(
                o.status != 200 for o in after if first_ok is not None and o.started > first_ok.started
            ),
        },
        "status_500": sum(o.status == 500 for o in outcomes),
        "no_answer": sum(o.status is None for o in outcomes),
        "recovery_s": None if recovered_at is None else round(max(0.0, recovered_at - ready), 3),
        "outage_s": None if recovered_at is None else round(recovered_at - kill, 2),
    }


def passed(r: dict[str, Any]) -> bool:
    down = r["down"]
    return bool(
        r["before"]["ok"] > 0
        and down["requests"] > 0
        and down["status_503"] == down["with_reason"] == down["requests"]
        and r["recovery_s"] is not None
        and r["after"]["not_ok_after_first_200"] == 0
        and r["status_500"] == r["no_answer"] == r["journal_missing"] == 0
        and r["gateway_pid_unchanged"]
        and (r["health_while_down"] or {}).get("status") != "healthy"
        and (r["health_after"] or {}).get("status") == "healthy"
    )
