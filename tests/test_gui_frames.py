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
    from core.media.video import VideoReader

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


def test_loader_shows_a_preview_before_the_exact_frame_on_long_gops(qtbot, tmp_path):
    pytest.importorskip("av")
    from caddm_gui.workers import FrameLoader
    from media_corpus import long_gop_clip

    clip = long_gop_clip(tmp_path / "gop.mp4", 650, 300, w=640, h=360)
    loader = FrameLoader(proxy_root=tmp_path / "cache", proxy_min_gop=60, proxy_min_frames=600)
    events = []
    loader.frameReady.connect(lambda i, img: events.append(("exact", i, img)))
    loader.previewReady.connect(lambda i, img: events.append(("preview", i, img)))
    try:
        loader.open(clip)
        loader.request(0)
        qtbot.waitUntil(lambda: loader.preview_frames == 650, timeout=60000)   # the proxy, built in the background
        assert (tmp_path / "cache" / "proxies").is_dir()
        # far into a GOP (keyframes at 0 and 300): the exact frame needs hundreds of frames decoded; near a keyframe
        # the exact frame may win the race, and then no preview is needed
        for target in (290, 570, 260):
            events.clear()
            loader.request(target)
            qtbot.waitUntil(lambda: any(e[0] == "exact" for e in events), timeout=10000)
            kinds = [(e[0], e[1]) for e in events]
            assert kinds == [("preview", target), ("exact", target)], kinds
            preview, exact = events[0][2], events[1][2]
            assert preview.shape == exact.shape == (360, 640, 3)
            assert np.abs(preview.astype(int) - exact.astype(int)).mean() < 6.0
            assert np.array_equal(exact, reference(clip, target))
        # a cached exact frame comes alone, without a preview
        events.clear()
        loader.request(290 if 290 in loader._cache.items else 260)
        qtbot.waitUntil(lambda: bool(events), timeout=5000)
        qtbot.wait(100)
        assert [e[0] for e in events] == ["exact"]
    finally:
        loader.close()


def test_loader_builds_no_proxy_for_short_gops(qtbot, tmp_path, long_clip):
    from caddm_gui.workers import FrameLoader

    loader = FrameLoader(proxy_root=tmp_path / "cache")
    previews = []
    loader.previewReady.connect(lambda i, img: previews.append(i))
    got = []
    loader.frameReady.connect(lambda i, img: got.append(i))
    try:
        loader.open(str(long_clip))
        loader.request(120)
        qtbot.waitUntil(lambda: got == [120], timeout=10000)
        qtbot.wait(300)
        assert previews == [] and loader.preview_frames == 0
        assert not (tmp_path / "cache" / "proxies").exists()
    finally:
        loader.close()


def test_loader_decodes_hinted_frames_while_idle(qtbot, long_clip):
    from caddm_gui.workers import FrameLoader

    loader = FrameLoader(previews=False)
    got = []
    loader.frameReady.connect(lambda i, img: got.append(i))
    try:
        loader.open(str(long_clip))
        loader.request(0)
        qtbot.waitUntil(lambda: got == [0], timeout=10000)
        loader.hint([100, None, 40])
        qtbot.waitUntil(lambda: loader.cached(100) is not None and loader.cached(40) is not None, timeout=10000)
        assert got == [0]                      # hints are not shown
        assert np.array_equal(loader.cached(100), reference(long_clip, 100))
        decoded = loader.decoded
        loader.request(100)
        qtbot.waitUntil(lambda: got == [0, 100], timeout=5000)
        assert loader.decoded == decoded       # from the cache
    finally:
        loader.close()


def test_frame_view_marks_a_preview_until_the_exact_frame(qtbot):
    from caddm_gui.frame_view import FrameView
    from caddm_gui.state import AppState

    state = AppState()
    view = FrameView(state)
    qtbot.addWidget(view)
    state.set_video("x.mp4", 100, 30.0, (640, 360))
    state.set_frame(7)
    small = np.full((180, 320, 3), 90, np.uint8)
    state.set_preview(8, small)                   # not the current frame: ignored
    assert not view.preview and view.shown_index == -1
    state.set_preview(7, small)
    assert view.preview and view.shown_index == 7
    assert view.pixmap.scale() == 2.0 and view.sceneRect().width() == 640 and view.sceneRect().height() == 360
    assert state.image is None                    # a preview is never the frame exports use
    state.set_image(7, np.full((360, 640, 3), 90, np.uint8))
    assert not view.preview and view.pixmap.scale() == 1.0 and state.image_index == 7
    state.set_preview(7, small)                   # the exact frame is shown: a late preview is ignored
    assert not view.preview and view.pixmap.scale() == 1.0
