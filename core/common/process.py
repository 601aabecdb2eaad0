"""How long this process has run: what a user waited for since typing the command, for the start-up timings a
result records (`timings["startup"]`). Linux reads the start from /proc; elsewhere None (callers then time from
their own start)."""
from __future__ import annotations

import os
import time


def process_age_s() -> float | None:
    """Seconds since this process started (10 ms resolution), or None where the system does not tell."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        with open("/proc/uptime", "rb") as f:
            uptime = float(f.read().split()[0])
        start = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat, counted after the command name
    except (OSError, ValueError, IndexError):
        return None
    age = uptime - start
    return age if 0.0 <= age < 10 * 365 * 86400 else None


_IMPORTED_AT = time.perf_counter()


def since_start_s() -> float:
    """`process_age_s()`, or where unknown the seconds since this module was first imported."""
    age = process_age_s()
    return age if age is not None else time.perf_counter() - _IMPORTED_AT
