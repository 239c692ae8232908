"""Where gateways serve, however they were started (`investiq start`, `up`, `serve`, systemd): the URL the
settings name, the record each gateway keeps in LOGS_DIR while it serves (LOGS_DIR/gateway-PORT.serving.json),
which recorded gateways still listen where they say, and the `investiq up` processes still preparing. Rollouts,
the Bayesian re-sync and `investiq status|stop` find the running gateways here."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from investiq.core.atomic import replacing
from investiq.core.settings import Settings
from investiq.ops import pidfile

logger = logging.getLogger(__name__)


def gateway_url(settings: Settings) -> str:
    """Where the gateway answers on this host: a wildcard bind is reached over loopback, and `localhost` at the
    address uvicorn binds for it (IPv4's: where localhost resolves to ::1 first, another program there got the
    rollouts' API key, a review)."""
    loopback = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1", "localhost": "127.0.0.1"}  # noqa: S104
    host = loopback.get(settings.host, settings.host)
    return http_url(host, settings.port)


def http_url(host: str, port: int) -> str:
    """http://host:port, an IPv6 address in brackets (`http://::1:8080` is no URL)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def recorded(state_path: Path) -> dict[str, Any]:
    """What `investiq start` recorded, whether or not its gateway still runs; {} when nothing readable, or when the
    file is another user's or anyone may write it: rollouts send the API key to the url a record names, and a
    record planted in a shared logs folder had it posted to a listener of the planter's (a review)."""
    try:
        found = state_path.stat()
        if found.st_uid != os.getuid() or found.st_mode & 0o002:  # group-writable is a user's own group's umask
            logger.warning(
                "%s is not this user's alone: not read (it may name where the API key goes)", state_path
            )
            return {}
        state = json.loads(state_path.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _serving_path(settings: Settings) -> Path:
    return settings.logs_dir / f"gateway-{settings.port}.serving.json"


@contextmanager
def serving_record(settings: Settings) -> Iterator[None]:
    """While a gateway serves (`investiq up`, `serve`, and the `serve` that `investiq start` runs), its PID and URL
    in LOGS_DIR, so that the commands that talk to the running gateways (a model's rollout, the Bayesian re-sync,
    `stop`'s advice) find one on a port that their own settings do not name: `up --port 8091` had a new model
    rolled out to nobody, with "no gateway running at http://127.0.0.1:8080". uvicorn re-raises SIGTERM once it
    has drained, which ended the process before the record was removed (`investiq stop`, a supervisor's stop: a
    new user's walkthrough found them left behind): SIGTERM removes it first, then ends the process as before. One
    a SIGKILL leaves, whose PID no longer runs `investiq`, is ignored, and the next gateway on the port writes its
    own. A LOGS_DIR that cannot be written is a warning, not the end of the gateway: the container's user in a
    root-owned working directory, where the relative default `logs` pointed, died at start on the
    PermissionError, and restarted in a loop."""
    path = _serving_path(settings)
    written = _record(path, settings)

    def remove() -> None:
        if written and recorded(path).get("pid") == os.getpid():  # not a later gateway's on the same port
            path.unlink(missing_ok=True)

    with _on_sigterm(remove):
        try:
            yield
        finally:
            remove()


@contextmanager
def _on_sigterm(first: Callable[[], None]) -> Iterator[None]:
    """While inside, SIGTERM calls `first`, then ends the process by SIGTERM as the handler before would have
    (its default: the exit status a supervisor reads as stopped). Only the main thread may set a handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.getsignal(signal.SIGTERM)
    before = signal.SIG_DFL if before is None else before  # a handler not set from Python

    def handle(signum: int, frame: FrameType | None) -> None:
        first()
        signal.signal(signum, before)
        signal.raise_signal(signum)

    signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _record(path: Path, settings: Settings) -> bool:
    """Write this gateway's serving record at `path`; False, with a warning naming the path and the setting,
    where it cannot."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(path) as temp:  # a reader never sees half of it
            temp.write_text(json.dumps({"pid": os.getpid(), "url": gateway_url(settings)}))
    except OSError as exc:
        logger.warning(
            "cannot record where this gateway serves in %s (%s): it serves, but rollouts and the Bayesian re-sync "
            "find it only at the URL their own settings name; set logs_dir (INVESTIQ_LOGS_DIR) to a writable "
            "directory",
            path,
            exc,
        )
        return False
    return True


def serving_gateways(settings: Settings) -> list[dict[str, Any]]:
    """What every gateway still serving recorded (`serving_record`): pid and url, by port; only where that pid
    listens on that url (`listens_there`)."""
    records = [recorded(path) for path in sorted(settings.logs_dir.glob("gateway-*.serving.json"))]
    return [
        r
        for r in records
        if isinstance(r.get("pid"), int)
        and isinstance(r.get("url"), str)
        and pidfile.alive(r["pid"], "investiq")
        and listens_there(r["pid"], r["url"])
    ]


def listens_there(pid: int, url: str) -> bool:
    """Whether `pid` listens at `url`: at every address its host is (localhost or a name: each address it resolves
    to, which a client may connect to), each one of this machine's. Rollouts send the API key where a record
    points: one naming a live gateway's pid and a listener of someone else's (or another host) had the key posted
    there, and the impostor reported as serving the new model (a review); the port alone was not enough either
    (a gateway on 127.0.0.1:P recorded as localhost, which resolves to ::1 first where another program listened on
    [::1]:P, a review). Where listeners cannot be told (not Linux), the addresses alone are checked."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return False
    addresses = _addresses(parts.hostname or "")
    if port is None or parts.scheme != "http" or not addresses or not all(map(_bindable, addresses)):
        return False
    if not Path("/proc/net/tcp").exists():
        return True
    listening = pidfile.bound(pid, port)
    return all(_covers(listening, address) for address in addresses)


def _covers(listening: set[pidfile.IPAddress], address: pidfile.IPAddress) -> bool:
    """Whether sockets bound to `listening` take connections to `address` (:: takes IPv4 too, Linux's default)."""
    v4_any, v6_any = ipaddress.ip_address("0.0.0.0"), ipaddress.ip_address("::")  # noqa: S104 (compared)
    return address in listening or v6_any in listening or (address.version == 4 and v4_any in listening)


def _addresses(host: str) -> list[pidfile.IPAddress]:
    """The addresses `host` is: itself for an IP address, else what it resolves to (localhost included); [] when
    it does not resolve."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]


def _bindable(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((str(address), 0))
    except OSError:
        return False
    return True


def foreground_pid(settings: Settings) -> int | None:
    """The PID of an `investiq` process (`up` or `serve` in a terminal, or under systemd) listening on the
    configured port; None if there is none or it cannot be told (not Linux, another user's process)."""
    return pidfile.listener(settings.port, "investiq")


def preparing(serving: set[int]) -> list[dict[str, Any]]:
    """This user's `investiq up` processes that do not serve yet (not among the `serving` PIDs): they prepare
    the journal and a first model, about two minutes on a first start, and `status` said only "not running"
    meanwhile (a new user's walkthrough). Empty where /proc cannot be read."""
    try:
        pids = [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit()]
    except OSError:
        return []
    found = []
    for pid in sorted(set(pids) - serving - {os.getpid()}):
        try:
            mine = Path(f"/proc/{pid}").stat().st_uid == os.getuid()
        except OSError:  # ended meanwhile
            continue
        if mine and pidfile.alive(pid, "investiq", "up"):
            found.append({"pid": pid, "command": " ".join(pidfile.arguments(pid) or ["investiq", "up"])})
    return found
