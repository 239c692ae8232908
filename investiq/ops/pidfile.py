"""PID files of the detached servers (`investiq start` and `investiq triton start`).

A PID file outlives its process (a crash, a reboot, a SIGKILL), and the kernel hands PIDs out
again, so a PID only counts when the process lives and its command line names the program that
wrote the file. Zombies count as dead: in a container whose init never reaps, a stopped server
stays a zombie, and `kill(pid, 0)` alone would take it for alive.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import sys
import time
from pathlib import Path

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _state(pid: int) -> str | None:
    """The state letter of /proc/PID/stat (R, S, Z...); None where it cannot be read (not Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :][:1]  # after "(comm)", which may itself hold spaces and parentheses


def arguments(pid: int) -> list[str] | None:
    """The command line of `pid`, program first; None where it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # not Linux, or another user's process: trust kill(pid, 0) alone
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def alive(pid: int, *markers: str) -> bool:
    """Whether `pid` runs (not a zombie) and each marker is one of its arguments, whole or as a path's
    last part (`/opt/venv/bin/investiq` is `investiq`; `--model-repository=/opt/investiq/...` is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    if _state(pid) in ("Z", "X"):
        return False
    args = arguments(pid) if markers else None
    if args is None:
        return True
    names = {arg.rsplit("/", 1)[-1] for arg in args}
    return all(marker in names for marker in markers)


def read(pid_file: Path, *markers: str) -> int | None:
    """The PID in `pid_file` if that process is alive and its command line carries the markers."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if pid > 0 and alive(pid, *markers) else None


def terminate(pid: int, wait_s: float, *markers: str) -> bool:
    """SIGTERM the process group `pid` leads (servers start in their own session), wait up to
    wait_s seconds, then SIGKILL it. True when it exited on SIGTERM, False when it had to be killed."""
    _signal(pid, signal.SIGTERM)
    if _wait_gone(pid, wait_s, markers):
        return True
    _signal(pid, signal.SIGKILL)
    _wait_gone(pid, 5.0, markers)
    return False


def _wait_gone(pid: int, wait_s: float, markers: tuple[str, ...]) -> bool:
    deadline = time.monotonic() + wait_s
    while alive(pid, *markers):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)  # the whole group: a server's own children (Triton's backend stubs) too
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):  # it went away in the meantime
            os.kill(pid, sig)  # not a group leader after all


# -- who listens on a port (Linux /proc), for gateways started in a terminal (`investiq up` / `serve`) --


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes (as /proc/PID/fd links name them) listening on TCP `port`, any address."""
    return set(_listening(port))


def _listening(port: int) -> dict[str, IPAddress]:
    """The sockets listening on TCP `port`: inode (as /proc/PID/fd links name it) -> the address bound."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) <= 9 or fields[3] != "0A":  # 0A: LISTEN
                continue
            address, _, bound_port = fields[1].rpartition(":")
            if int(bound_port, 16) == port:
                found[f"socket:[{fields[9]}]"] = _address(address)
    return found


def _address(hexadecimal: str) -> IPAddress:
    """An address as /proc/net/tcp{,6} writes it: 32-bit words in the host's order (little-endian on x86/ARM)."""
    raw = bytes.fromhex(hexadecimal)
    words = b"".join(raw[i : i + 4][:: -1 if sys.byteorder == "little" else 1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(words)


def listener(port: int, *markers: str) -> int | None:
    """The PID of the live process that listens on TCP `port` (its command line carrying the markers),
    or None: nothing listens, the socket belongs to another user, or this is not Linux. Of several holders of
    the socket (a launcher that opened it, the server that inherited it: systemd's socket activation), the first
    whose command line carries the markers is named, not the first found."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:  # gone, or another user's
            continue
        if inodes.intersection(_links(fds)) and alive(pid := int(entry.name), *markers):
            return pid
    return None


def bound(pid: int, port: int) -> set[IPAddress]:
    """The addresses at which `pid` listens on TCP `port` (0.0.0.0 or :: for every one): another process on the
    same port at another address is not it (`listener` names the first it finds). Empty where it cannot be told."""
    sockets = _listening(port)
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir()) if sockets else []
    except OSError:  # gone, or another user's
        return set()
    return {sockets[link] for link in _links(fds) if link in sockets}


def _links(fds: list[Path]) -> set[str]:
    out = set()
    for fd in fds:
        with contextlib.suppress(OSError):  # closed in the meantime (the listing's own descriptor is)
            out.add(os.readlink(fd))
    return out


def command(pid: int) -> str | None:
    """The command line of `pid`, shortened for a message (`investiq serve --port 8080`); None if unknown."""
    args = arguments(pid)
    if not args:
        return None
    text = " ".join(" ".join([args[0].rsplit("/", 1)[-1], *args[1:]]).split())  # one line
    return text if len(text) <= 60 else text[:57] + "..."
