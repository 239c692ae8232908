"""The admin token of Triton's model-repository API: the header it travels in, where a gateway finds it (the
environment, or the file `investiq triton start` keeps), and what a refusal tells the operator to set."""

from __future__ import annotations

import os
from pathlib import Path

# Triton's model-repository API takes a model's config and files in a load request and runs them: a python-backend
# model.py sent to `investiq triton start`'s HTTP port ran as Triton's user, and a browser's text/plain POST from
# another origin did the same (an audit). Every Triton this project starts (investiq/ops/triton_server.py,
# docker-compose.yml, deploy/kubernetes) takes calls of that API, and of shared-memory registration (which maps
# memory of Triton's host by name), only with ADMIN_HEADER carrying the admin token; inference, metadata and health
# stay open.
ADMIN_HEADER = "investiq-admin-token"
# Triton 2.51 reads a restricted gRPC call's header with this prefix ("expecting header
# 'triton-grpc-protocol-investiq-admin-token'"); HTTP reads ADMIN_HEADER as it is
GRPC_ADMIN_HEADER = f"triton-grpc-protocol-{ADMIN_HEADER}"
# the token, where the deployment sets it: one value for Triton and the gateways
ADMIN_TOKEN_ENV = "TRITON_ADMIN_TOKEN"  # noqa: S105  (a variable's name)
RESTRICTED = "is restricted, expecting header"  # in Triton's answer to a call without the right token
# The token of each Triton that `investiq triton start`'s code started in this process (tests, benchmarks), by its
# gRPC port on this host: a backend made here finds it without being told (`admin_token`).
LOCAL_TOKENS: dict[int, str] = {}
WORK_DIR = "triton"  # in LOGS_DIR: where `investiq triton start` keeps its PID file, log, backends and the token
TOKEN_FILE = "admin-token"  # noqa: S105  (a file's name, in WORK_DIR)


def configured_token(url: str, logs_dir: Path) -> str | None:
    """The admin token a gateway at Triton's `url` sends: TRITON_ADMIN_TOKEN's value, else, for a Triton on this
    host, the one `investiq triton start` made and keeps in LOGS_DIR/triton (readable by its user alone): a
    gateway in another process (`investiq start`, `serve`, systemd) had none, and its reloads failed. None
    without either."""
    if token := os.environ.get(ADMIN_TOKEN_ENV):
        return token
    if port_here(url) is None:
        return None
    try:
        return (logs_dir / WORK_DIR / TOKEN_FILE).read_text().strip() or None
    except OSError:
        return None


def admin_token(server: str, given: str | None = None) -> str | None:
    """The admin token for `server` (host:port): `given`, else TRITON_ADMIN_TOKEN's value (read at each call), else
    that of a Triton this process started on the server's port of this host (LOCAL_TOKENS); None without one."""
    if given or (given := os.environ.get(ADMIN_TOKEN_ENV)):
        return given
    port = port_here(server)
    return None if port is None else LOCAL_TOKENS.get(port)


def port_here(server: str) -> int | None:
    """The port of `server` (host:port) where its host is this one's loopback (or every interface), else None."""
    host, _, port = server.rpartition(":")
    if host.strip("[]") not in ("127.0.0.1", "localhost", "::1", "0.0.0.0") or not port.isdigit():  # noqa: S104
        return None
    return int(port)


def refusal(sent: bool) -> str:
    """Why Triton refused a load, and what to set."""
    which = "the token this gateway sent is not Triton's" if sent else "this gateway has none"
    return (
        f"its model-repository API wants the admin token ({ADMIN_HEADER}), and {which}: set {ADMIN_TOKEN_ENV} "
        "for the gateway to Triton's (`investiq triton start` keeps it in LOGS_DIR/triton/admin-token)"
    )
