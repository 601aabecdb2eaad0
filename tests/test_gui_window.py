"""The main window, offscreen: analysis fills the timeline and table, clicking the timeline seeks, the threshold
line changes the verdict, shortcuts, drop, messages, settings, and closing during an analysis."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from gui_fixtures import win, write_clip, analyse_and_wait, app, clip, errors, open_and_wait, prefs, qsettings, result_cache, \
    tiny_model  # noqa: F401

pytestmark = pytest.mark.slow


def click_timeline_at_frame(qtbot, w, frame: float) -> None:
    vb = w.timeline.viewbox
    scene_pt = vb.mapViewToScene(QPointF(frame, 0.3))
    view_pt = w.timeline.plot.mapFromScene(scene_pt)
    qtbot.mouseClick(w.timeline.plot.viewport(), Qt.MouseButton.LeftButton, pos=view_pt)


def test_analysis_fills_timeline_and_table_and_seeks(qtbot, win, clip):
    state, cmds = win.state, win.commands
    open_and_wait(qtbot, cmds, clip)
    assert "moving_face.mp4" in win.evidence.values["File"].text()
    media = win.evidence.values["Media"].text()
    assert media.startswith(f"Container: {state.info.container}, codec: ") and "rotation applied: 0\u00b0" in media
    assert "frame rate: constant" in media
    assert state.info.sha256[:32] in win.evidence.sha.text()
    result = analyse_and_wait(qtbot, cmds)
    assert result is not None and result.complete
    # table: one row per analysed frame
    assert win.table.model().rowCount() == 6
    # timeline: one curve per track, with the scored frames
    qtbot.waitUntil(lambda: bool(win.timeline.curves), timeout=2000)
    xs = sorted(set().union(*(set(c.getData()[0].tolist()) for c in win.timeline.curves.values())))
    assert set(xs) <= {f.index for f in state.frames}
    assert win.findings.headline_text() == state.result.findings().headline   # the app shows core's findings
    runtime = state.result.settings.runtime      # what ran the model, beside the device
    assert runtime and win.findings.values["Device"].text() == f"cpu ({runtime})"
    assert runtime.split("; face descriptors: ")[0] in win.device_label.text()   # the status bar: the model's
    # click on the timeline seeks to that frame
    click_timeline_at_frame(qtbot, win, 15)
    qtbot.waitUntil(lambda: state.frame_index == 15, timeout=3000)
    assert abs(win.timeline.cursor.value() - 15) < 1e-6
    qtbot.waitUntil(lambda: state.image_index == 15, timeout=5000)
    # one click on a table row seeks to its frame (any column; a double-click too)
    for k, col in ((3, 1), (1, 0), (4, 2)):
        target = state.frames[k].index
        assert state.frame_index != target
        rect = win.table.visualRect(win.table.model().index(win.table.row_for_frame(target), col))
        qtbot.mouseClick(win.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        assert state.frame_index == target
    target = state.frames[3].index
    rect = win.table.visualRect(win.table.model().index(win.table.row_for_frame(target), 1))
    qtbot.mouseClick(win.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # a real double-click
    qtbot.mouseDClick(win.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # starts with a press
    assert state.frame_index == target
    # the frame view draws the analysed frame's boxes
    qtbot.waitUntil(lambda: win.view.shown_index == target, timeout=5000)
    if state.frame_result(target).faces:
        assert win.view.overlay_items
    # each move names the next and previous suspicious frames to the frame loader, decoded ahead while idle
    hints = []
    cmds.loader.hint = hints.append
    cmds.set_threshold(0.0)                       # every analysed frame is suspicious
    cmds.seek(state.frames[2].index + 1)
    assert hints == [[state.frames[3].index, state.frames[2].index]]


def test_threshold_line_changes_the_headline(qtbot, win, clip):
    state, cmds = win.state, win.commands
    open_and_wait(qtbot, cmds, clip)
    analyse_and_wait(qtbot, cmds)
    video = state.summary().video_score
    win.timeline.threshold.setValue(max(0.0, video - 0.01))   # what a drag of the line does
    assert abs(state.threshold - round(max(0.0, video - 0.01), 3)) < 1e-9
    assert win.findings.headline_text().startswith("MANIPULATION SUSPECTED")
    assert win.findings.rows["artifact"][1].text() == "finding"
    win.timeline.threshold.setValue(min(1.0, video + 0.01))
    assert "MANIPULATION" not in win.findings.headline_text() and "REAL" not in win.findings.headline_text()
    assert win.findings.rows["artifact"][1].text() == "clear"
    assert win.findings.values["Threshold"].text() == f"{state.threshold:.3f}"
    # the threshold set elsewhere moves the line
    cmds.set_threshold(0.25)
    assert abs(win.timeline.threshold.value() - 0.25) < 1e-9


def test_shortcuts_flag_and_playback(qtbot, win, clip):
    state, cmds = win.state, win.commands
    open_and_wait(qtbot, cmds, clip)
    analyse_and_wait(qtbot, cmds)
    win.activateWindow()
    win.view.setFocus()
    qtbot.keyClick(win.view, Qt.Key.Key_Right)
    assert state.frame_index == 1
    qtbot.keyClick(win.view, Qt.Key.Key_Left)
    assert state.frame_index == 0
    cmds.set_threshold(0.0)       # every frame with a face is above
    qtbot.keyClick(win.view, Qt.Key.Key_N)
    nxt = state.next_above(0, +1)
    assert state.frame_index == nxt
    qtbot.keyClick(win.view, Qt.Key.Key_F)
    assert nxt in state.review.flags
    model = win.table.model()
    row = win.table.row_for_frame(nxt)
    assert model.data(model.index(row, 0), Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    qtbot.keyClick(win.view, Qt.Key.Key_Left, Qt.KeyboardModifier.ControlModifier)
    assert state.frame_index == state.next_above(nxt, -1) or state.frame_index == nxt
    # note from the review panel
    win.review.note.setPlainText("lip sync off")
    win.review.commit_note()
    assert state.review.notes[state.frame_index] == "lip sync off"
    # play advances frames, space stops
    qtbot.keyClick(win.view, Qt.Key.Key_Space)
    start = state.frame_index
    qtbot.waitUntil(lambda: state.frame_index > start + 1, timeout=5000)
    qtbot.keyClick(win.view, Qt.Key.Key_Space)
    assert not win.play_timer.isActive()


def test_bad_file_and_drop(qtbot, win, clip, tmp_path):
    state, cmds = win.state, win.commands
    bad = tmp_path / "evidence.mp4"
    bad.write_bytes(b"\x00" * 2000)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(bad))])
    ev = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                    Qt.KeyboardModifier.NoModifier)
    win.dropEvent(ev)
    assert win.messages.isVisible() and "evidence.mp4" in win.messages.text()
    assert win.messages.level == "error"
    assert state.video_path is None and win.isVisible()
    # a good file dropped afterwards opens
    mime.setUrls([QUrl.fromLocalFile(str(clip))])
    with qtbot.waitSignal(cmds.infoReady, timeout=20000):
        win.dropEvent(QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                                 Qt.KeyboardModifier.NoModifier))
    assert state.video_path == str(clip)
    assert not win.messages.isVisible()


def test_close_during_analysis_stops_the_thread(qtbot, win, tmp_path):
    state, cmds = win.state, win.commands
    cmds.prefs.frame_mode, cmds.prefs.frame_value = "all", 1
    open_and_wait(qtbot, cmds, write_clip(tmp_path / "long.mp4", n=300))  # still running when we close
    with qtbot.waitSignal(state.frameScored, timeout=120000):
        assert cmds.analyse()
    worker = cmds._analysis
    assert worker is not None and worker.isRunning()
    # the analyst says no: the window stays, the analysis goes on
    win.confirm_close = lambda: False
    assert not win.close()
    assert win.isVisible() and worker.isRunning()
    win.confirm_close = lambda: True
    assert win.close()
    assert worker.isFinished()
    assert not cmds._workers
    assert not list(cmds.cache.root.glob("*.json")) if cmds.cache.root.exists() else True


def test_settings_dialog_and_preferences_roundtrip(qtbot, qsettings, tiny_model):
    from caddm_gui.preferences import Preferences
    from caddm_gui.settings_dialog import SettingsDialog

    p = Preferences(model_path=str(tiny_model), device="cpu", frame_mode="stride", frame_value=5, threshold=0.7,
                    model_threshold=False,
                    auto_analyse=True)
    p.overlays["landmarks"] = True
    p.add_recent("/videos/a.mp4")
    p.save(qsettings)
    q = Preferences.load(qsettings)
    assert q == p
    dlg = SettingsDialog(q)
    qtbot.addWidget(dlg)
    assert dlg.show_metadata().wait(30000)
    qtbot.waitUntil(lambda: "tiny-test" in dlg.meta.toPlainText(), timeout=5000)
    assert "resnet18" in dlg.meta.toPlainText()
    dlg.threshold.setValue(0.4)
    dlg.frame_mode.setCurrentIndex(dlg.frame_mode.findData("count"))
    dlg.frame_value.setValue(8)
    r = dlg.result_prefs()
    assert (r.threshold, r.frame_mode, r.frame_value, r.model_path) == (0.4, "count", 8, str(tiny_model))
    assert r.frame_selection().indices(100)[:2] == [0, 14]
    # the face detector: RetinaFace unless chosen, kept across sessions, refused when unknown
    assert q.face_detector == "retinaface" and dlg.face_detector.currentData() == "retinaface"
    assert [dlg.face_detector.itemData(i) for i in range(dlg.face_detector.count())] == ["retinaface", "hog", "cnn"]
    dlg.face_detector.setCurrentIndex(dlg.face_detector.findData("hog"))
    r = dlg.result_prefs()
    assert r.face_detector == "hog"
    r.save(qsettings)
    assert Preferences.load(qsettings).face_detector == "hog"
    qsettings.setValue("face_detector", "mtcnn")
    assert Preferences.load(qsettings).face_detector == "retinaface"
    bad = SettingsDialog(Preferences(model_path="/nope/model.safetensors"))
    qtbot.addWidget(bad)
    assert bad.show_metadata().wait(30000)
    qtbot.waitUntil(lambda: "Cannot load" in bad.meta.toPlainText(), timeout=5000)
    assert "model.safetensors" in bad.meta.toPlainText()


def test_show_metadata_runs_off_the_ui_thread(qtbot, monkeypatch, tiny_model):
    """Reading a checkpoint (seconds for the authors' large pickles) never blocks the dialog."""
    import threading

    from caddm_gui import settings_dialog as sd
    from caddm_gui.preferences import Preferences

    seen, release = [], threading.Event()

    def slow_describe(path):
        seen.append(threading.current_thread() is threading.main_thread())
        release.wait(10)
        return "described"

    monkeypatch.setattr(sd, "describe_checkpoint", slow_describe)
    dlg = sd.SettingsDialog(Preferences(model_path=str(tiny_model)))
    qtbot.addWidget(dlg)
    w = dlg.show_metadata()  # returns at once although the read is still running
    assert dlg.meta.toPlainText() == "Reading the checkpoint..."
    release.set()
    assert w.wait(10000)
    qtbot.waitUntil(lambda: dlg.meta.toPlainText() == "described", timeout=5000)
    assert seen == [False]


def test_export_dialog_values(qtbot):
    from caddm_gui.export_dialog import ExportDialog
    from core.analysis.results import CaseInfo

    dlg = ExportDialog("/tmp/out", CaseInfo(analyst="B. Examiner"), n_flagged=2)
    qtbot.addWidget(dlg)
    dlg.formats["pdf"].setChecked(False)
    dlg.case_id.setText("C-1")
    assert dlg.chosen_formats() == ["json", "csv", "html"]
    assert dlg.case() == CaseInfo("C-1", "B. Examiner", "")


def test_cli_help():
    import subprocess
    import sys

    from conftest import ROOT

    out = subprocess.run([sys.executable, "-m", "caddm_gui.app", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "--model" in out.stdout and "--device" in out.stdout


def test_settings_threshold_from_the_model_card(qtbot, tiny_model, tmp_path):
    from caddm_gui.preferences import Preferences
    from caddm_gui.settings_dialog import SettingsDialog
    from core.model.checkpoints import load_model, save_model

    cal = save_model(load_model(tiny_model), tmp_path / "cal.safetensors", calibration={"threshold": 0.62})
    dlg = SettingsDialog(Preferences(model_path=str(cal), threshold=0.4))
    qtbot.addWidget(dlg)
    assert dlg.use_model_threshold.isChecked() and not dlg.threshold.isEnabled()
    assert abs(dlg.threshold.value() - 0.62) < 1e-9
    dlg.use_model_threshold.setChecked(False)        # the analyst's own
    assert dlg.threshold.isEnabled() and abs(dlg.threshold.value() - 0.4) < 1e-9
    dlg.threshold.setValue(0.45)
    r = dlg.result_prefs()
    assert not r.model_threshold and r.threshold == 0.45
