"""What the CPU can do, as far as choosing a default embedding engine needs to know."""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def cpu_has_amx_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU reports AMX bfloat16 (Linux ``/proc/cpuinfo`` flags); False elsewhere.
    ``Settings.cpu_amx`` (``INTAJ_CPU_AMX=false``) makes a CPU with AMX choose as one without."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(
        "amx_bf16" in line.split(":", 1)[1].split()
        for line in text.splitlines()
        if line.startswith("flags") and ":" in line
    )
