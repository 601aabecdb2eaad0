"""The analyst's review of the current frame: its score, a Flag box (shortcut F) and a note. Both are stored in
`result.review` and appear in the exported reports."""
from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QCheckBox, QGroupBox, QHBoxLayout, QLabel, QPlainTextEdit, QVBoxLayout

from core.common.formatting import fmt_score, fmt_time

from .state import AppState


class ReviewPanel(QGroupBox):
    def __init__(self, state: AppState, commands, parent=None):
        super().__init__("Review: current frame", parent)
        self.state, self.commands = state, commands
        self.where = QLabel("-")
        self.flag = QCheckBox("Flag for the report")
        self.flag.toggled.connect(lambda on: self.commands.set_flag(self.state.frame_index, on))
        self.note = QPlainTextEdit()
        self.note.setPlaceholderText("Note on this frame (saved with the result and printed in the report)")
        self.note.setFixedHeight(self.fontMetrics().height() * 3 + 14)
        self._commit = QTimer(self)
        self._commit.setSingleShot(True)
        self._commit.setInterval(500)
        self._commit.timeout.connect(self.commit_note)
        self.note.textChanged.connect(self._commit.start)
        self._note_frame = -1
        top = QHBoxLayout()
        top.addWidget(self.where, 1)
        top.addWidget(self.flag)
        box = QVBoxLayout(self)
        box.addLayout(top)
        box.addWidget(self.note)
        state.frameChanged.connect(self.refresh)
        state.reviewChanged.connect(lambda i: i in (-1, self.state.frame_index) and self.refresh())
        state.framesReset.connect(self.refresh)
        state.frameScored.connect(lambda fr: fr.index == self.state.frame_index and self.refresh())
        state.thresholdChanged.connect(lambda _t: self.refresh())
        state.caseChanged.connect(self._update_enabled)     # (not refresh: a note being recorded is not shown yet)
        state.infoChanged.connect(lambda _i: self._update_enabled())
        self.refresh()

    def commit_note(self) -> None:
        if self._note_frame >= 0:
            self.commands.set_note(self._note_frame, self.note.toPlainText())

    def refresh(self, *_args) -> None:
        s = self.state
        if self._commit.isActive():          # a note typed on the previous frame is kept
            self._commit.stop()
            self.commit_note()
        i = s.frame_index
        if s.video_path is None:
            self.where.setText("-")
        else:
            fr = s.frame_result(i)
            score = "not analysed" if fr is None else ("no face" if fr.score is None else
                                                      f"P(fake) {fmt_score(fr.score)}" + (" (above)" if s.above(fr) else ""))
            self.where.setText(f"Frame {i}  {fmt_time(s.time_of(i))}  {score}")
        self.flag.blockSignals(True)
        self.flag.setChecked(i in s.review.flags)
        self.flag.blockSignals(False)
        text = s.review.notes.get(i, "")
        if self._note_frame != i or self.note.toPlainText().strip() != text:
            self.note.blockSignals(True)
            self.note.setPlainText(text)
            self.note.blockSignals(False)
        self._note_frame = i if s.video_path is not None else -1
        self._update_enabled()

    def _update_enabled(self) -> None:
        refused = self.state.review_refused()     # a case open read-only, or the hash not known yet
        on = self.state.video_path is not None and not refused
        for w in (self.flag, self.note):
            w.setEnabled(on)
            w.setToolTip(refused or "")
