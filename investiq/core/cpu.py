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
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")  # where the kernel's control groups are mounted

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
    unknown: cgroup v2's cpu.max in the process's own group (a container sees its own as the root), else v1's
    cfs quota and period at the root of the cpu controller (a container's)."""
    own = next(
        (line[3:].strip() for line in _read(Path("/proc/self/cgroup")).splitlines() if line.startswith("0::")), ""
    )
    v2 = _read(cgroup / own.lstrip("/") / "cpu.max").split() or _read(cgroup / "cpu.max").split()
    if len(v2) == 2:
        quota, period = v2
    else:
        quota, period = (
            _read(cgroup / "cpu" / "cpu.cfs_quota_us").strip(),
            _read(cgroup / "cpu" / "cpu.cfs_period_us").strip(),
        )
    try:
        share = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):  # "max" (v2), no file, or nonsense
        return None
    return share if share > 0 else None  # v1's -1: unlimited


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
