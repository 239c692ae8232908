"""This checkout's gateway against another's (`investiq bench gateway --against DIR`): two gateways up at
once on the same models, one headline and one window timed on both in alternating blocks, both start orders
(the start-order bias: benchmarks/gateway.py's docstring), and the lines of its table."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks.common import request
from benchmarks.gateway_calls import http_calls
from harness.results import percentiles

AGAINST_CALLS = ("finbert_single", "patchtst_single")
AGAINST_BLOCK = 40  # requests to one server before the other's turn
AGAINST_BLOCKS = 16  # at least, per server: the machine's drift averages out over many turns


async def against(servers: dict[str, str], context: int, runs: int) -> dict[str, Any]:
    """Per call of AGAINST_CALLS: the round trip's percentiles on each of two gateways up at once ({side: base
    URL}), one request at a time on a keep-alive connection to each, in alternating blocks of AGAINST_BLOCK (at
    least AGAINST_BLOCKS blocks and `runs` requests per server), and the difference of the two p50s (first side
    minus second). Both servers should be equally fresh: one that has served a whole benchmark carries its
    journal and heap into the comparison."""
    found: dict[str, Any] = {}
    addresses = {side: base.removeprefix("http://").split(":") for side, base in servers.items()}
    calls = {side: http_calls(host, context) for side, (host, _) in addresses.items()}
    for name in AGAINST_CALLS:
        conns = {side: await asyncio.open_connection(host, int(port)) for side, (host, port) in addresses.items()}
        lat: dict[str, list[float]] = {side: [] for side in servers}
        try:
            for block in range(-1, max(AGAINST_BLOCKS, -(-runs // AGAINST_BLOCK))):  # block -1 warms up, untimed
                for side in list(conns)[:: 1 if block % 2 == 0 else -1]:
                    head, bodies = calls[side][name]
                    for k in range(AGAINST_BLOCK):
                        begin = time.perf_counter()
                        await request(conns[side], head, bodies[k % len(bodies)])
                        if block >= 0:
                            lat[side].append((time.perf_counter() - begin) * 1000)
        finally:
            for conn in conns.values():
                conn[1].close()
        first, second = (percentiles(lat[side]) for side in servers)
        found[name] = dict(zip(servers, (first, second), strict=True))
        found[name]["p50_difference_ms"] = first["p50_ms"] - second["p50_ms"]
    return found


def both_orders(orders: list[dict[str, Any]]) -> dict[str, Any]:
    """`against`'s figures with this gateway started first, then with the other started first: per call both, and
    the mean of their p50 differences, in which the start order's bias cancels (benchmarks/gateway.py's
    docstring)."""
    this_first, against_first = orders
    return {
        name: {
            "this_first": this_first[name],
            "against_first": against_first[name],
            "p50_difference_ms": (this_first[name]["p50_difference_ms"] + against_first[name]["p50_difference_ms"])
            / 2,
        }
        for name in this_first
    }


def render_against(a: dict[str, Any], runs: int) -> list[str]:
    lines = [
        "",
        f"This checkout against `{a['checkout']}` (`--against`): two fresh gateways up at once on the same "
        f"models, one request at a time on a keep-alive connection to each, alternating blocks of "
        f"{AGAINST_BLOCK}, at least {max(runs, AGAINST_BLOCKS * AGAINST_BLOCK)} requests per server:",
        "",
        "started twice, this one first and then the other first; the difference is the mean of the two orders' "
        "(the gateway started second answers faster: benchmarks/gateway.py).",
        "",
        "| call | started first | this p50 ms | against p50 ms | difference | this p95 ms | against p95 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, c in a["calls"].items():
        for order, label in (("this_first", "this"), ("against_first", "against")):
            o = c[order]
            lines.append(
                f"| {name} | {label} | {o['this']['p50_ms']:.2f} | {o['against']['p50_ms']:.2f} | "
                f"{o['p50_difference_ms']:+.2f} ms | {o['this']['p95_ms']:.2f} | {o['against']['p95_ms']:.2f} |"
            )
        lines.append(f"| {name} | mean of both | | | **{c['p50_difference_ms']:+.2f} ms** | | |")
    return lines
