"""The CPU's matrix-multiply instruction sets, read once from /proc/cpuinfo: they decide which
inference path is fastest (INT8 is ~4x fp32 only with VNNI or AMX; BF16 pays only with AMX or
AVX-512 BF16), so serving chooses its runtime from them at start-up and benchmarks record them.

    instruction_sets()  -> frozenset({"avx2", "avx512f", "avx512_vnni", "amx_int8", ...})
    describe()          -> "Intel(R) Xeon(R) Processor (avx2, avx512_vnni, amx_int8, amx_bf16)"

Every function takes the cpuinfo text as an optional argument, so tests pass a sample line and the
machine's own file is read only when none is given.
"""

from __future__ import annotations

import os
import platform
from functools import cache
from pathlib import Path

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


def usable_cores() -> int:
    """The cores this process may run on (its affinity: a container limited to 2 of a host's 64 has 2), which
    os.cpu_count() overstates; at least 1."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
