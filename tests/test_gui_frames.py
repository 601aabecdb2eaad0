"""The frame loader: correct frames, the latest request wins, stale requests are dropped, steps back come from the
cache after one short back-fill."""
from __future__ import annotations

import numpy as np
import pytest

from gui_fixtures import write_clip


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("long") / "long.mp4", n=150, size=(320, 240), fps=25)


def reference(path, index):
    from core.video import VideoReader

    with VideoReader(path) as r:
        return r.read_frame(index)


def test_loader_latest_request_wins_and_caches(qtbot, long_clip):
    from caddm_gui.workers import FrameLoader

    loader = FrameLoader()
    got = []
    loader.frameReady.connect(lambda i, img: got.append((i, img)))
    try:
        loader.open(str(long_clip))
        for i in range(0, 140, 3):    # a fast scrub: only the last one matters
            loader.request(i)
        qtbot.waitUntil(lambda: bool(got) and got[-1][0] == 138, timeout=10000)
        assert len(got) < 47        # stale requests were dropped
        assert np.array_equal(got[-1][1], reference(long_clip, 138))
        # stepping back: one back-fill, then the cache answers
        decoded = loader.decoded
        for i in (137, 136, 135, 134):
            got.clear()
            loader.request(i)
            qtbot.waitUntil(lambda: bool(got), timeout=5000)
            assert got[-1][0] == i
            assert np.array_equal(got[-1][1], reference(long_clip, i))
        assert loader.decoded - decoded <= loader.BACK_RUN + 1
        # stepping forward decodes forward from the reader position, no seek
        decoded = loader.decoded
        got.clear()
        loader.request(139)
        qtbot.waitUntil(lambda: bool(got), timeout=5000)
        assert loader.decoded - decoded <= 2   # from where the reader stands (138) to 139
    finally:
        loader.close()


def test_loader_reports_unreadable_frame(qtbot, long_clip):
    from caddm_gui.workers import FrameLoader

    loader = FrameLoader()
    fails = []
    loader.failed.connect(lambda i, msg: fails.append((i, msg)))
    try:
        loader.open(str(long_clip))
        loader.request(10_000)
        qtbot.waitUntil(lambda: bool(fails), timeout=10000)
        assert fails[0][0] == 10_000 and "long.mp4" in fails[0][1]
    finally:
        loader.close()
