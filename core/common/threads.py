"""Thread set-up for a process that runs the model beside busy decode/face threads: an explicit call at each entry
point (CLIs, app, benches), never an import-time effect.

Idle OpenMP threads must sleep instead of spinning: with a decode/face thread busy beside a torch forward, spinning
workers made a 2-thread forward collapse (21 -> 0.3 img/s); passive waiting keeps both cores useful (analysis of a
720p clip: 11 -> 18 frames/s). OpenMP reads `OMP_WAIT_POLICY` once, when torch loads its runtime, so
`configure_threads()` must run before the first `import torch`; called later it warns and analysis falls back to
one torch thread fewer than the cores.
"""
from __future__ import annotations

import os
import sys
import warnings

_PASSIVE: bool | None = None  # what configure_threads() established; None: it was not called


def configure_threads() -> bool:
    """Ask for passive OpenMP waiting in this process. Returns True when it is in effect: set here (or already
    PASSIVE in the environment) before torch was loaded. Warns (RuntimeWarning) when torch was loaded first
    without it. Idempotent."""
    global _PASSIVE
    torch_loaded = "torch" in sys.modules
    wanted = os.environ.get("OMP_WAIT_POLICY", "").upper()
    if not torch_loaded and not wanted:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        wanted = "PASSIVE"
    passive = wanted == "PASSIVE"
    if torch_loaded and _PASSIVE is None and not passive:
        warnings.warn("torch was imported before core.common.threads.configure_threads(): OpenMP threads spin while idle, "
                      "so analysis keeps one core free for decoding (slower); call it first thing at start-up",
                      RuntimeWarning, stacklevel=2)
    if _PASSIVE is None or not torch_loaded:
        _PASSIVE = passive
    return _PASSIVE


def omp_passive() -> bool:
    """Whether idle OpenMP threads sleep in this process (see the module docstring). Without a call to
    `configure_threads`, the environment decides: PASSIVE set when the process started."""
    if _PASSIVE is not None:
        return _PASSIVE
    return os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"


def cpu_threads() -> int:
    """The CPU cores this process may run on (its affinity where the system tells, else the CPU count): how many
    threads the model uses by default."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
