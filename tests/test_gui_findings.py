"""The findings panel while an analysis streams frames in: the summary over all frames so far is recomputed at most
every LIVE_REFRESH_MS, not once per frame (that made an all-frames run quadratic), and at once when it ends."""
from __future__ import annotations

import sys

from report_fixtures import face


def test_qt_binding_keeps_its_references():
    """PySide6 6.12.0 under Python 3.11 dropped a reference to True on each emit() from Python: a long analysis
    (3 signals per frame) would abort the app with "deallocating True" after about 14,000 frames. pyproject.toml
    keeps PySide6 below 6.12; this fails on a binding with that bug."""
    from PySide6.QtCore import QObject, Signal

    class Emitter(QObject):
        sig = Signal(object)

    e = Emitter()
    e.sig.connect(lambda _: None)
    before = sys.getrefcount(True)
    for i in range(200):
        e.sig.emit(i)
    assert sys.getrefcount(True) >= before - 5


def test_live_verdict_is_throttled_and_exact_at_the_end(qtbot):
    from caddm_gui.state import AppState
    from caddm_gui.findings_panel import LIVE_REFRESH_MS, FindingsPanel
    from core.analysis.frame_results import FrameResult

    state = AppState()
    state.set_video("clip.mp4", 1000, 25.0, (640, 360))
    panel = FindingsPanel(state)
    qtbot.addWidget(panel)
    calls = []
    summary = state.summary
    state.summary = lambda: calls.append(len(state.frames)) or summary()
    state.set_busy(True)
    state.begin_scoring()
    calls.clear()
    fake, real = [face(0, 100.0, 0.9)], [face(0, 100.0, 0.1)]
    frames = [FrameResult(index=i, time_s=i / 25, faces=fake if i < 600 else real) for i in range(1050)]
    for fr in frames[:1000]:
        state.add_frame(fr)
    assert calls == []                                # 1000 frames, no summary yet: the panel waits
    qtbot.waitUntil(lambda: len(calls) == 1, timeout=5 * LIVE_REFRESH_MS)
    assert calls == [1000] and panel.headline_text() == "MANIPULATION SUSPECTED (so far)"
    assert panel.values["Frames"].text() == "1000 with a face / 1000 analysed / 1000"
    qtbot.wait(2 * LIVE_REFRESH_MS)
    assert calls == [1000]                            # nothing new, no recomputation
    for fr in frames[1000:]:                          # a few more frames, then the end: refreshed at once
        state.add_frame(fr)
    state.set_busy(False)
    assert calls[-1] == 1050 and panel.headline_text() == "MANIPULATION SUSPECTED"
    n = len(calls)
    qtbot.wait(2 * LIVE_REFRESH_MS)
    assert len(calls) == n                            # and the pending live refresh was dropped
