"""What the CPU can do, as far as choosing a default embedding engine needs to know."""

from __future__ import annotations

from functools import cache
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


@cache
def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``); empty elsewhere."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    return frozenset(
        flag
        for line in text.splitlines()
        if line.startswith("flags") and ":" in line
        for flag in line.split(":", 1)[1].split()
    )


def cpu_has_amx_bf16(cpuinfo: Path = CPUINFO) -> bool:
    """Whether this CPU reports AMX bfloat16 tiles (Intel Xeon 4th generation and later).
    ``Settings.cpu_amx`` (``INTAJ_CPU_AMX=false``) makes a CPU with AMX choose as one without."""
    return "amx_bf16" in cpu_flags(cpuinfo)


def cpu_has_avx512_bf16(cpuinfo: Path = CPUINFO) -> bool:
    """Whether this CPU multiplies bfloat16 with AVX-512 instructions (AMD Zen 4 and later,
    Intel Cooper Lake and the AMX generations). ``Settings.cpu_avx512_bf16``
    (``INTAJ_CPU_AVX512_BF16=false``) makes such a CPU choose as one without."""
    return "avx512_bf16" in cpu_flags(cpuinfo)
