"""The main window: frame view with the transport bar and the timeline on the left; findings, review of the current
frame and the frames table / evidence / reference tabs on the right; menus, toolbar, a message bar for problems and
a status bar with the analysis progress and the compute device. It only wires views to `AppState` and actions to
`Commands`."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QFileDialog, QFrame, QHBoxLayout, QLabel, QMainWindow, QMessageBox, QProgressBar,
                               QPushButton, QSplitter, QStyle, QTabWidget, QToolBar, QToolButton,
                               QVBoxLayout, QWidget)

from core.common.formatting import fmt_time

from .case_commands import CASE_FILTER, case_path
from .case_panel import CasePanel, NewCaseDialog, ReviewOfferDialog
from .commands import VIDEO_FILTER, Commands
from .evidence_panel import EvidencePanel
from .export_dialog import ExportDialog
from .frame_table import FrameTable
from .frame_view import FrameView
from .preferences import Preferences
from .reference_panel import ReferencePanel
from .review_panel import ReviewPanel
from .settings_dialog import SettingsDialog
from .state import AppState
from .timeline import Timeline
from .findings_panel import FindingsPanel

MESSAGE_COLOURS = {"info": ("#dfe9f5", "#23364d"), "warning": ("#3b2f00", "#f3c341"), "error": ("#ffffff", "#a32020")}


class MessageBar(QFrame):
    """A non-modal bar above the view for warnings and errors (info goes to the status bar)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("\u2715")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 4, 4, 4)
        lay.addWidget(self.label, 1)
        lay.addWidget(close)
        self.level = ""
        self.hide()

    def show_message(self, level: str, text: str) -> None:
        fg, bg = MESSAGE_COLOURS.get(level, MESSAGE_COLOURS["info"])
        self.setStyleSheet(f"MessageBar {{ background: {bg}; border-radius: 3px; }} QLabel, QToolButton {{ color: {fg}; }}")
        self.level = level
        self.label.setText(text)
        self.show()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""


class MainWindow(QMainWindow):
    def __init__(self, state: AppState | None = None, commands: Commands | None = None, settings=None,
                 prefs: Preferences | None = None):
        super().__init__()
        self.state = state or AppState()
        self.commands = commands or Commands(self.state, prefs or Preferences(), settings)
        s, c = self.state, self.commands
        self.setWindowTitle("CADDM Inspector")
        self.setAcceptDrops(True)
        self.confirm_close = self._ask_close   # replaced in tests
        self.ask_read_only = self._ask_read_only
        self.ask_import = self._ask_import
        self._case_shown = None

        self.view = FrameView(s)
        self.timeline = Timeline(s, c)
        self.table = FrameTable(s, c)
        self.evidence = EvidencePanel(s)
        self.findings = FindingsPanel(s)
        self.review = ReviewPanel(s, c)
        self.case_panel = CasePanel(s, c)
        self.reference = ReferencePanel(s, c)
        self.messages = MessageBar()

        self._build_actions()
        self._build_layout()
        self._build_status()

        self.play_timer = QTimer(self)
        self.play_timer.timeout.connect(self._tick)

        s.message.connect(self._on_message)
        s.videoOpened.connect(self._on_video)
        s.frameChanged.connect(self._update_position)
        s.infoChanged.connect(lambda _i: self._update_position(s.frame_index))
        s.busyChanged.connect(self._on_busy)
        s.progressChanged.connect(self._on_progress)
        s.resultChanged.connect(lambda _r: self._update_actions())
        s.framesReset.connect(self._update_actions)
        s.overlaysChanged.connect(self._sync_overlay_actions)
        s.modelChanged.connect(lambda: self.device_label.setText(f"Device: {s.device_name}"))
        s.caseChanged.connect(self._on_case)
        c.cases.caseLocked.connect(self._on_case_locked)
        c.cases.reviewOffered.connect(self._on_review_offered)
        self._update_actions()
        self._update_position(0)
        self.device_label.setText(f"Device: {s.device_name}")

    # -- actions ---------------------------------------------------------------------------------------------------
    def _action(self, text, slot, shortcut=None, icon=None, tip=None) -> QAction:
        a = QAction(text, self)
        if icon is not None:
            a.setIcon(self.style().standardIcon(icon))
        if shortcut:
            keys = shortcut if isinstance(shortcut, list) else [shortcut]
            a.setShortcuts([QKeySequence(k) for k in keys])
        if tip:
            a.setToolTip(tip)
            a.setStatusTip(tip)
        a.triggered.connect(slot)
        self.addAction(a)   # shortcuts work whatever has focus
        return a

    def _build_actions(self) -> None:
        c, P = self.commands, QStyle.StandardPixmap
        self.act_open = self._action("&Open video...", self.open_dialog, QKeySequence.StandardKey.Open,
                                     P.SP_DialogOpenButton, "Open a suspect video (or drop it on the window)")
        self.act_analyse = self._action("&Analyse", lambda: c.analyse(), "Ctrl+R", P.SP_MediaSeekForward,
                                        "Score the video's frames with the model")
        self.act_cancel = self._action("&Cancel analysis", c.cancel_analysis, "Esc", P.SP_BrowserStop,
                                       "Stop the analysis (the frames scored so far are kept)")
        self.act_export = self._action("&Export report...", self.export_dialog, "Ctrl+E", P.SP_DialogSaveButton,
                                       "Write the HTML / PDF / JSON / CSV report")
        self.act_png = self._action("Export frame as &PNG...", self.export_png_dialog, "Ctrl+Shift+E", None,
                                    "Save the current frame with its boxes")
        self.act_settings = self._action("&Settings...", self.settings_dialog, "Ctrl+,", P.SP_FileDialogDetailedView,
                                         "Model, device, frames, threshold, overlays")
        self.act_quit = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_new_case = self._action("&New case...", self.new_case_dialog, None, P.SP_FileDialogNewFolder,
                                         "Create a case file: evidence, analyses, review, exports and an audit log")
        self.act_open_case = self._action("Open &case...", self.open_case_dialog, None, P.SP_DirOpenIcon,
                                          "Open a case file (.caddmcase)")
        self.act_close_case = self._action("C&lose case", lambda: c.cases.close_case(), None, None,
                                           "Close the case file (its writer lock is released)")
        self.act_play = self._action("Play / pause", self.toggle_play, "Space", P.SP_MediaPlay)
        self.act_prev = self._action("Previous frame", lambda: c.step(-1), "Left", P.SP_MediaSeekBackward)
        self.act_next = self._action("Next frame", lambda: c.step(+1), "Right", P.SP_MediaSeekForward)
        self.act_prev_above = self._action("Previous frame above threshold", lambda: c.jump_above(-1),
                                           ["Ctrl+Left", "P"], P.SP_MediaSkipBackward)
        self.act_next_above = self._action("Next frame above threshold", lambda: c.jump_above(+1),
                                           ["Ctrl+Right", "N"], P.SP_MediaSkipForward)
        self.act_first = self._action("First frame", lambda: c.seek(0), "Home")
        self.act_last = self._action("Last frame", lambda: c.seek(self.state.frame_count - 1), "End")
        self.act_flag = self._action("Flag current frame", lambda: c.toggle_flag(), "F")
        self.act_fit = self._action("Fit frame to view", self.view.fit, "0")
        self.act_zoom_in = self._action("Zoom in", lambda: self.view.zoom(1.25), QKeySequence.StandardKey.ZoomIn)
        self.act_zoom_out = self._action("Zoom out", lambda: self.view.zoom(0.8), QKeySequence.StandardKey.ZoomOut)
        self.overlay_actions = {}
        names = {"faces": "Face boxes", "artifacts": "Artifact boxes", "landmarks": "Landmarks",
                 "labels": "Score labels", "identity": "Identity curve on the timeline"}
        keys = {"faces": "Ctrl+1", "artifacts": "Ctrl+2", "landmarks": "L", "labels": "Ctrl+3", "identity": "Ctrl+4"}
        for name, text in names.items():
            a = self._action(text, lambda on, n=name: self._set_overlay(n, on), keys[name])
            a.setCheckable(True)
            a.setChecked(self.state.overlays.get(name, False))
            self.overlay_actions[name] = a

        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addAction(self.act_open)
        self.recent_menu = m.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        m.addSeparator()
        m.addActions([self.act_new_case, self.act_open_case])
        self.recent_cases_menu = m.addMenu("Open recent c&ase")
        self.recent_cases_menu.aboutToShow.connect(self._fill_recent)
        m.addAction(self.act_close_case)
        m.addSeparator()
        m.addActions([self.act_export, self.act_png])
        m.addSeparator()
        m.addAction(self.act_quit)
        m = mb.addMenu("&Analysis")
        m.addActions([self.act_analyse, self.act_cancel])
        m.addSeparator()
        m.addAction(self.act_settings)
        m = mb.addMenu("&Playback")
        m.addActions([self.act_play, self.act_prev, self.act_next, self.act_prev_above, self.act_next_above,
                      self.act_first, self.act_last])
        m.addSeparator()
        m.addAction(self.act_flag)
        m = mb.addMenu("&View")
        m.addActions(list(self.overlay_actions.values()))
        m.addSeparator()
        m.addActions([self.act_fit, self.act_zoom_in, self.act_zoom_out])
        m = mb.addMenu("&Help")
        m.addAction(self._action("Keyboard shortcuts", self.show_shortcuts, "F1"))

        tb = QToolBar("Main")
        tb.setObjectName("main-toolbar")
        tb.setMovable(False)
        tb.setIconSize(QSize(18, 18))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.addActions([self.act_open, self.act_analyse, self.act_cancel])
        tb.addSeparator()
        tb.addActions([self.act_export, self.act_png])
        tb.addSeparator()
        tb.addAction(self.act_settings)
        self.addToolBar(tb)

    def _build_layout(self) -> None:
        # transport bar under the frame
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 2, 6, 2)
        for a in (self.act_prev_above, self.act_prev, self.act_play, self.act_next, self.act_next_above):
            b = QToolButton()
            b.setDefaultAction(a)
            b.setAutoRaise(True)
            b.setIconSize(QSize(20, 20))
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            bar.addWidget(b)
        self.position = QLabel()
        self.position.setMinimumWidth(320)
        bar.addSpacing(8)
        bar.addWidget(self.position)
        bar.addStretch(1)
        self.zoom_label = QLabel()
        fit = QToolButton()
        fit.setDefaultAction(self.act_fit)
        fit.setText("Fit")
        fit.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        bar.addWidget(fit)

        left_top = QWidget()
        lt = QVBoxLayout(left_top)
        lt.setContentsMargins(0, 0, 0, 0)
        lt.setSpacing(0)
        lt.addWidget(self.view, 1)
        lt.addLayout(bar)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(left_top)
        left.addWidget(self.timeline)
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 1)
        left.setChildrenCollapsible(False)

        self.tabs = QTabWidget()
        self.tabs.addTab(self.table, "Frames")
        self.tabs.addTab(self.evidence, "Evidence")
        self.tabs.addTab(self.reference, "Reference")
        self.tabs.addTab(self.case_panel, "Case")
        self.case_panel.add_empty_actions([self.act_new_case, self.act_open_case])
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.findings)
        rl.addWidget(self.review)
        rl.addWidget(self.tabs, 1)
        right.setMinimumWidth(400)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 0)
        split.setChildrenCollapsible(False)
        self.splitter, self.left_splitter = split, left

        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(6, 6, 6, 0)
        cl.addWidget(self.messages)
        cl.addWidget(split, 1)
        self.setCentralWidget(central)

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setFormat("%v / %m frames")
        self.progress.hide()
        self.eta = QLabel()
        self.eta.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.commands.cancel_analysis)
        self.cancel_button.hide()
        self.device_label = QLabel()
        self.case_label = QLabel()
        self.case_label.hide()
        sb.addPermanentWidget(self.case_label)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.eta)
        sb.addPermanentWidget(self.cancel_button)
        sb.addPermanentWidget(self.device_label)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        w = self.width()
        right = max(470, min(600, int(w * 0.34)))
        self.splitter.setSizes([w - right, right])
        h = self.left_splitter.height()
        self.left_splitter.setSizes([int(h * 0.68), h - int(h * 0.68)])

    # -- state -> window ---------------------------------------------------------------------------------------------
    def _on_message(self, level: str, text: str) -> None:
        if level == "info":
            self.statusBar().showMessage(text, 8000)
        else:
            self.messages.show_message(level, text)
            self.statusBar().showMessage(text, 8000)

    def _on_video(self, path: str) -> None:
        self.stop()
        self.messages.hide()
        self._update_title()
        self._update_actions()

    def _update_title(self) -> None:
        s = self.state
        parts = ["CADDM Inspector"] + ([os.path.basename(s.video_path)] if s.video_path else [])
        if s.case is not None:
            parts.append(f"case {s.case.meta.case_id}" + ("" if s.case.writable else " (read-only)"))
        self.setWindowTitle(" - ".join(parts))

    def _on_case(self) -> None:
        case = self.state.case
        if case is not None and case is not self._case_shown:   # a case just opened: show its tab
            self.tabs.setCurrentWidget(self.case_panel)
        self._case_shown = case
        self.case_label.setVisible(case is not None)
        if case is not None:
            self.case_label.setText(f"Case {case.meta.case_id}" + ("" if case.writable else " (READ-ONLY)"))
            self.case_label.setStyleSheet("" if case.writable else "QLabel { color: #f3c341; font-weight: bold; }")
            self.case_label.setToolTip(str(case.path) + ("" if case.writable else f"\n{case.read_only_reason}"))
        self._update_title()
        self._update_actions()

    def _update_position(self, index: int) -> None:
        s = self.state
        if s.video_path is None:
            self.position.setText("No video")
            return
        end = s.time_of(s.frame_count - 1) if s.frame_count else 0
        fr = s.frame_result(index)
        tag = "" if fr is None else ("  \u2022 analysed" if fr.score is not None else "  \u2022 analysed, no face")
        self.position.setText(f"Frame {index} / {s.frame_count - 1}   {fmt_time(s.time_of(index))} / {fmt_time(end)}{tag}")

    def _update_actions(self, *_args) -> None:
        s = self.state
        has_video = s.video_path is not None
        for a in (self.act_play, self.act_prev, self.act_next, self.act_first, self.act_last, self.act_flag,
                  self.act_png):
            a.setEnabled(has_video)
        self.act_analyse.setEnabled(has_video and not s.busy)
        self.act_cancel.setEnabled(s.busy)
        self.act_export.setEnabled(s.result is not None and not s.busy)
        self.act_open.setEnabled(not s.busy)
        for a in (self.act_new_case, self.act_open_case):
            a.setEnabled(not s.busy)
        self.act_close_case.setEnabled(s.case is not None and not s.busy)
        for a in (self.act_prev_above, self.act_next_above):
            a.setEnabled(bool(s.frames))

    def _on_busy(self, busy: bool) -> None:
        for w in (self.progress, self.eta, self.cancel_button):
            w.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
            self.eta.setText("loading the model...")
        self._update_actions()

    def _on_progress(self, done: int, total: int, elapsed: float, remaining: float) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            rem = "--:--" if remaining < 0 else _mmss(remaining)
            self.eta.setText(f"elapsed {_mmss(elapsed)}  remaining {rem}")

    def _set_overlay(self, name: str, on: bool) -> None:
        self.state.set_overlay(name, on)
        self.commands.prefs.overlays[name] = on
        self.commands.save_prefs()

    def _sync_overlay_actions(self) -> None:
        for name, a in self.overlay_actions.items():
            a.blockSignals(True)
            a.setChecked(self.state.overlays.get(name, False))
            a.blockSignals(False)

    # -- playback ----------------------------------------------------------------------------------------------------
    def toggle_play(self) -> None:
        if self.play_timer.isActive():
            self.stop()
        elif self.state.video_path is not None:
            if self.state.frame_index >= self.state.frame_count - 1:
                self.commands.seek(0)
            fps = self.state.fps if self.state.fps > 0 else 25.0
            self.play_timer.start(max(10, int(1000 / fps)))
            self.act_play.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPause))

    def stop(self) -> None:
        self.play_timer.stop()
        self.act_play.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))

    def _tick(self) -> None:
        if self.state.frame_index >= self.state.frame_count - 1:
            self.stop()
        else:
            self.commands.step(+1)

    # -- dialogs -----------------------------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        start = os.path.dirname(self.commands.prefs.recent[0]) if self.commands.prefs.recent else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open video", start, VIDEO_FILTER)
        if path:
            self.commands.open_video(path)

    def _fill_recent(self) -> None:
        prefs, c = self.commands.prefs, self.commands
        for menu, paths, open_ in ((self.recent_menu, prefs.recent, c.open_video),
                                   (self.recent_cases_menu, prefs.recent_cases, c.cases.open_case)):
            menu.clear()
            for p in paths:
                a = menu.addAction(p)
                a.triggered.connect(lambda _=False, p=p, f=open_: f(p))
            if not paths:
                menu.addAction("(none)").setEnabled(False)

    # -- case --------------------------------------------------------------------------------------------------------
    def _case_folder(self) -> str:
        prefs = self.commands.prefs
        if prefs.recent_cases:
            return os.path.dirname(prefs.recent_cases[0])
        return os.path.dirname(prefs.recent[0]) if prefs.recent else ""

    def new_case_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "New case file", os.path.join(self._case_folder(), "case.caddmcase"),
                                              CASE_FILTER, options=QFileDialog.Option.DontConfirmOverwrite)
        if not path:
            return
        dlg = NewCaseDialog(case_path(path), self.commands.prefs.analyst, self)
        if dlg.exec():
            self.commands.cases.new_case(dlg.path, *dlg.values())

    def open_case_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open case", self._case_folder(), CASE_FILTER)
        if path:
            self.commands.cases.open_case(path)

    def _on_case_locked(self, path: str, message: str, holder: str) -> None:
        if self.ask_read_only(message):
            self.commands.cases.open_case(path, read_only=True, why=f"open for writing by {holder}")

    def _ask_read_only(self, message: str) -> bool:
        box = QMessageBox(QMessageBox.Icon.Warning, "Case in use", message, parent=self)
        box.setInformativeText("Open it read-only? You can read it and export its reports; review actions are not "
                               "recorded.")
        ro = box.addButton("Open read-only", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is ro

    def _on_review_offered(self, offer) -> None:
        s = self.state
        if s.case is not None and self.ask_import(offer):
            self.commands.cases.accept_offer(offer)

    def _ask_import(self, offer) -> bool:
        dlg = ReviewOfferDialog(offer, self.state.video_path or "", self.state.case.meta.case_id, self)
        return bool(dlg.exec())

    def default_export_dir(self) -> str:
        s, prefs = self.state, self.commands.prefs
        stem = Path(s.video_path).stem if s.video_path else "report"
        base = Path(prefs.export_dir).parent if prefs.export_dir else Path(s.video_path or ".").parent
        return str(base / f"{stem}-report")

    def export_dialog(self) -> None:
        s = self.state
        if s.result is None:
            s.warning("Nothing to export yet: analyse the video first.")
            return
        from core.analysis.results import CaseInfo
        case = s.result.case or CaseInfo(analyst=self.commands.prefs.analyst)
        if s.case is not None:   # the header comes from the case file
            m = s.case.meta
            case = CaseInfo(m.case_id, m.analyst, m.notes)
        dlg = ExportDialog(self.default_export_dir(), case, len(s.review.flags), self, from_case=s.case is not None)
        if dlg.exec() and dlg.chosen_formats():
            self.commands.export_report(dlg.out_dir.text().strip(), dlg.chosen_formats(), dlg.case())

    def export_png_dialog(self) -> None:
        s = self.state
        if s.video_path is None:
            return
        name = f"{Path(s.video_path).stem}_frame{s.frame_index:06d}.png"
        base = Path(self.commands.prefs.export_dir or Path(s.video_path).parent)
        path, _ = QFileDialog.getSaveFileName(self, "Export frame as PNG", str(base / name), "PNG image (*.png)")
        if path:
            self.commands.export_frame_png(path)

    def settings_dialog(self) -> None:
        dlg = SettingsDialog(self.commands.prefs, self)
        if dlg.exec():
            self.commands.apply_preferences(dlg.result_prefs())

    def show_shortcuts(self) -> None:
        rows = [(a.text(), ", ".join(k.toString() for k in a.shortcuts())) for a in self.actions() if a.shortcuts()]
        text = "\n".join(f"{k:<22} {t}" for t, k in rows)
        box = QMessageBox(QMessageBox.Icon.Information, "Keyboard shortcuts", text, parent=self)
        box.setStyleSheet("QLabel { font-family: monospace; }")
        box.setModal(False)
        box.show()

    # -- drag and drop, closing ----------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.commands.open_video(files[0])

    def _ask_close(self) -> bool:
        answer = QMessageBox.question(self, "Analysis running",
                                      "An analysis is running. Cancel it and quit? (Nothing is cached from a "
                                      "cancelled run.)")
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event) -> None:
        if self.commands.analysing and not self.confirm_close():
            event.ignore()
            return
        self.stop()
        self.review.commit_note()
        self.commands.shutdown()
        event.accept()


def _mmss(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"
