"""Seek latency in the app's frame loader: time from a request to the decoded target frame, per kind of seek.

    python bench/seek_latency.py VIDEO [--clicks 30] [--seed 0] [--pause 1.0] [--no-previews] [--no-hints]

VIDEO: a long-GOP file, e.g. from `bench/long_clip.py` (10 minutes, 1080p, 10-second GOPs). Builds its preview
proxy first (`core.media.proxy`; in the cache root, $CADDM_CACHE_DIR) unless --no-previews, then runs, through
`caddm_gui.workers.FrameLoader` exactly as the app uses it (latest request wins; previews in their own thread):

- timeline clicks: uniformly random frames, one after another (each waits for the previous to show);
- next suspicious: a walk through a fixed list of "suspicious" frames (one every 5-40 s), the analyst looking at
  each for `--pause` seconds before pressing the key (the loader may use that time);
- table clicks: random analysed frames (every 10th frame) with the same pause;
- step forward / back: one frame at a time after a click.

Prints p50 / p90 / max milliseconds per kind, until the frame shows (a preview or the exact frame, whichever comes
first) and until the exact frame is decoded. Figures depend on the machine and on the load: run it alone.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time

from PySide6.QtCore import Qt


def _percentiles(ms: list[float]) -> str:
    s = sorted(ms)
    p = lambda q: s[min(len(s) - 1, int(round(q * (len(s) - 1))))]  # noqa: E731
    return f"p50 {p(0.5):6.0f} p90 {p(0.9):6.0f} max {s[-1]:6.0f} mean {statistics.mean(s):6.0f} (n={len(s):2d})"


class _Probe:
    """Request a frame and wait for it: `go(i)` -> (ms until something of frame i shows (preview or exact),
    ms until the exact frame)."""

    def __init__(self, loader):
        self.loader = loader
        self.exact = threading.Event()
        self.shown = threading.Event()
        self.want = -1
        self.t_shown = 0.0
        loader.frameReady.connect(self._ready, Qt.ConnectionType.DirectConnection)
        loader.previewReady.connect(self._preview, Qt.ConnectionType.DirectConnection)
        loader.failed.connect(lambda i, m: print(f"frame {i} failed: {m}", file=sys.stderr),
                              Qt.ConnectionType.DirectConnection)

    def _mark_shown(self):
        if not self.shown.is_set():
            self.t_shown = time.perf_counter()
            self.shown.set()

    def _ready(self, index, _img):
        if index == self.want:
            self._mark_shown()
            self.exact.set()

    def _preview(self, index, _img):
        if index == self.want:
            self._mark_shown()

    def go(self, index: int, timeout: float = 30.0) -> tuple[float, float]:
        self.want = index
        self.exact.clear()
        self.shown.clear()
        t = time.perf_counter()
        self.loader.request(index)
        if not self.exact.wait(timeout):
            raise TimeoutError(f"frame {index} did not come in {timeout} s")
        return (self.t_shown - t) * 1000.0, (time.perf_counter() - t) * 1000.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video")
    ap.add_argument("--clicks", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pause", type=float, default=1.0, help="seconds the analyst looks at a frame before the next key")
    ap.add_argument("--no-previews", dest="previews", action="store_false",
                    help="the loader without core.media.proxy previews (the proxy is built first otherwise)")
    ap.add_argument("--no-hints", dest="hints", action="store_false",
                    help="do not name the next suspicious frame to the loader (as before hint() existed)")
    a = ap.parse_args(argv)

    from caddm_gui.workers import FrameLoader
    from core.media import proxy
    from core.media.video import quick_probe

    n, fps, (w, h) = quick_probe(a.video)
    print(f"{a.video}: {n} frames, {fps:.2f} fps, {w}x{h}; keyframe gaps: {proxy.keyframe_gaps(a.video)}")
    if a.previews:
        t = time.perf_counter()
        st = proxy.build(a.video, proxy.proxy_dir(a.video))
        print(f"preview proxy: {st.frames} frames, {time.perf_counter() - t:.1f} s (0 when it was already built)")
    loader = FrameLoader(previews=a.previews)
    probe = _Probe(loader)
    rng = random.Random(a.seed)
    rows: dict[str, list[tuple[float, float]]] = {}
    try:
        loader.open(a.video)
        probe.go(0)
        time.sleep(0.5)
        rows["timeline click"] = [probe.go(rng.randrange(n)) for _ in range(a.clicks)]

        suspicious, i = [], 0
        while True:
            i += int(rng.uniform(5, 40) * fps)
            if i >= n:
                break
            suspicious.append(i)
        ms = []
        probe.go(0)
        for k, target in enumerate(suspicious[: a.clicks]):
            if a.hints:
                loader.hint(suspicious[k:k + 1])    # what the app hints: the next suspicious frame
            time.sleep(a.pause)
            ms.append(probe.go(target))
        rows["next suspicious"] = ms

        analysed = list(range(0, n, 10))
        ms = []
        for _ in range(a.clicks):
            time.sleep(a.pause)
            ms.append(probe.go(rng.choice(analysed)))
        rows["table click"] = ms

        fwd, back = [], []
        for _ in range(max(3, a.clicks // 6)):
            start = rng.randrange(20, n - 20)
            probe.go(start)
            fwd += [probe.go(start + d) for d in range(1, 6)]
            back += [probe.go(start + 5 - d) for d in range(1, 11)]
        rows["step forward"] = fwd
        rows["step back"] = back
    finally:
        loader.close()
    print(f"previews {'on' if a.previews else 'off'}, hints {'on' if a.hints else 'off'}; "
          f"decoded frames: {loader.decoded}")
    print(f"{'':16s} {'shown (preview or exact), ms':58s} | exact frame, ms")
    for name, ms in rows.items():
        print(f"{name:16s} {_percentiles([m[0] for m in ms])} | {_percentiles([m[1] for m in ms])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
