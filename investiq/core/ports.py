"""Free local TCP ports for the servers that tests, benchmarks and reliability scripts start.

A port is free when the kernel hands it out for a bind to port 0; the sockets stay bound until all
`n` are chosen, so one call never returns the same port twice.
"""

from __future__ import annotations

import socket
from contextlib import ExitStack


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports on 127.0.0.1."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


def free_port() -> int:
    return free_ports(1)[0]
