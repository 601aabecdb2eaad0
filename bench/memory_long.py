"""Memory over a long all-frames analysis: `caddm-analyze --all-frames --no-cache` in a child process, its resident
memory (VmRSS, Linux /proc) sampled every few seconds; prints the samples (is it flat?) and the peak.

    python bench/memory_long.py VIDEO [--every 10] [-- extra caddm-analyze arguments]

VIDEO: a long clip, e.g. `bench/long_clip.py OUT.mp4 --minutes 30 --height 720 --fps 10 CLIPS...` (18000 frames).
Reports go to a temporary folder (json only) and are removed.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video")
    ap.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("extra", nargs="*", help="more caddm-analyze arguments (after --)")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="caddm-mem-") as out:
        cmd = [sys.executable, "-m", "core.cli.analyze", a.video, "--out", out, "--all-frames", "--no-cache",
               "--format", "json", *a.extra]
        t0 = time.monotonic()
        child = subprocess.Popen(cmd, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        samples = []
        while child.poll() is None:
            r = rss_mb(child.pid)
            if r is not None:
                samples.append((time.monotonic() - t0, r))
                print(f"{samples[-1][0]:7.0f} s  RSS {r:7.0f} MB", flush=True)
            time.sleep(a.every)
        wall = time.monotonic() - t0
    if not samples:
        print("no samples (is this Linux?)")
        return 1
    peak = max(r for _, r in samples)
    half = [r for t, r in samples if t >= wall / 2]
    print(f"exit {child.returncode}; {wall:.0f} s; peak RSS {peak:.0f} MB; first half peak "
          f"{max(r for t, r in samples if t < wall / 2):.0f} MB, second half peak {max(half) if half else peak:.0f} MB")
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
