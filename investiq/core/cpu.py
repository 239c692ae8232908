"""The CPU's matrix-multiply instruction sets, read once from /proc/cpuinfo: they decide which
inference path is fastest (INT8 is ~4x fp32 only with VNNI or AMX; BF16 pays only with AMX or
AVX-512 BF16), so serving chooses its runtime from them at start-up and benchmarks record them.

    instruction_sets()  -> frozenset({"avx2", "avx512f", "avx512_vnni", "amx_int8", ...})
    describe()          -> "Intel(R) Xeon(R) Processor (avx2, avx512_vnni, amx_int8, amx_bf16)"

Every function takes the cpuinfo text as an optional argument, so tests pass a sample line and the
machine's own file is read only when none is given.
"""

from __future__ import annotations

import math
import os
import platform
from functools import cache
from pathlib import Path, PurePosixPath

CGROUP = Path("/sys/fs/cgroup")  # where the kernel's control groups are mounted
OWN_GROUPS = Path("/proc/self/cgroup")  # which group this process is in, per hierarchy

# The sets that matter for GEMM speed, in the order they are listed (oldest first). Names as the
# Linux kernel spells them in the `flags` line.
MATMUL_SETS = (
    "avx2",
    "avx_vnni",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)


@cache
def _machine_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no sets known, the portable paths are chosen
        return ""


def _field(cpuinfo: str, name: str) -> str | None:
    """The value of the first `name : value` line (cpuinfo repeats each field once per core)."""
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == name:
            return value.strip()
    return None


def instruction_sets(cpuinfo: str | None = None) -> frozenset[str]:
    """The MATMUL_SETS this CPU has (from the `flags` line of `cpuinfo`, default /proc/cpuinfo)."""
    text = _machine_cpuinfo() if cpuinfo is None else cpuinfo
    flags = set((_field(text, "flags") or "").split())
    return frozenset(s for s in MATMUL_SETS if s in flags)


def has_amx(sets: frozenset[str]) -> bool:
    """AMX tiles for both INT8 and BF16 (Sapphire Rapids and later)."""
    return {"amx_int8", "amx_bf16"} <= sets


def model_name(cpuinfo: str | None = None) -> str:
    text = _machine_cpuinfo() if cpuinfo is None else cpuinfo
    return _field(text, "model name") or platform.processor() or platform.machine()


def describe(cpuinfo: str | None = None) -> str:
    """Model name and the matmul sets in MATMUL_SETS order, e.g. 'Intel Xeon (avx2, amx_int8)'."""
    sets = instruction_sets(cpuinfo)
    listed = ", ".join(s for s in MATMUL_SETS if s in sets) or "no AVX2"
    return f"{model_name(cpuinfo)} ({listed})"


def usable_cores(cgroup: Path = CGROUP) -> int:
    """The cores this process may run on (its affinity: a container limited to 2 of a host's 64 has 2), which
    os.cpu_count() overstates, and no more than its CPU quota rounded up (`docker run --cpus 2`, a Kubernetes CPU
    limit: the affinity still lists every core of the host, and threads for each of them would be throttled by
    turns); at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cpu_quota(cgroup)
    return max(1, min(cores, math.ceil(quota)) if quota is not None else cores)


def cpu_quota(cgroup: Path = CGROUP) -> float | None:
    """The CPUs' worth of time this process's control group may use per period, or None where it is unlimited or
    unknown: the tightest of cgroup v2's cpu.max in the process's own group and every group above it (a
    container sees its own as the root; a systemd slice's CPUQuota binds the services inside it, whose own
    groups say "max"), else v1's cfs quota and period along the cpu controller's path the same way."""
    lines = _read(OWN_GROUPS).splitlines()
    own = next((line[3:].strip() for line in lines if line.startswith("0::")), "")
    v2 = [
        fields for fields in (_read(group / "cpu.max").split() for group in _up(cgroup, own)) if len(fields) == 2
    ]
    if v2:
        shares = [_share(quota, period) for quota, period in v2]
    else:
        v1 = (line.split(":", 2) for line in lines if line.count(":") >= 2)
        own = next((path.strip() for _, names, path in v1 if "cpu" in names.split(",")), "")
        shares = [
            _share(_read(group / "cpu.cfs_quota_us").strip(), _read(group / "cpu.cfs_period_us").strip())
            for group in _up(cgroup / "cpu", own)
        ]
    return min((share for share in shares if share is not None), default=None)


def _up(root: Path, own: str) -> list[Path]:
    """The folders of the group `own` (a path as /proc/self/cgroup writes it) and of each group above it, under
    the hierarchy mounted at `root`, the root's last."""
    group = PurePosixPath("/", own)
    return [root / part.relative_to("/") for part in (group, *group.parents)]


def _share(quota: str, period: str) -> float | None:
    """quota / period, None for "max" (v2), v1's -1 (unlimited), no file or nonsense."""
    try:
        share = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None
    return share if share > 0 else None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
