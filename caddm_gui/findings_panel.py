"""The findings at the current threshold (`core.analysis.findings`): a headline that names what the evidence found
(MANIPULATION SUSPECTED, IDENTITY MISMATCH, IDENTITY CHANGE IN A TRACK), else INCONCLUSIVE or NO FINDING, never
"REAL"; the sentence under it; one row per line of evidence (artifact model, identity against the reference, identity
within tracks, coverage) with its status, its figure and, on hover, what its threshold means in measurements; then
the highest frame, the share of frames above the threshold, the frames, model and device. "Model limits" shows the
model card's measured limits. Updates live while an analysis runs, at most every `LIVE_REFRESH_MS` (the summary is
recomputed over all frames so far; once per scored frame made an all-frames run quadratic), and at once when the
analysis ends or anything else changes. While frames stream in, the identity lines wait for the finished result."""
from __future__ import annotations

import html

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QFormLayout, QFrame, QGridLayout, QGroupBox, QLabel, QMessageBox, QScrollArea,
                               QVBoxLayout, QWidget)

from core.analysis.findings import LEVEL_COLOURS, LINE_NAMES, Findings, assess
from core.common.formatting import fmt_score, fmt_share

from .state import AppState

LIVE_REFRESH_MS = 200
NOT_ANALYSED = ("NOT ANALYSED", "#d0d0d0", "#3a3a3e")
#: a line's status as the table shows it: its colour (the status words are core.analysis.findings.STATUSES)
STATUS_COLOURS = {"finding": "#ef5350", "clear": "#b0bec5", "inconclusive": "#ffb74d", "not run": "#808080",
                  "pending": "#808080"}


class FindingsPanel(QGroupBox):
    def __init__(self, state: AppState, parent=None):
        super().__init__("Findings", parent)
        self.state = state
        self.findings: Findings | None = None
        self.headline = QLabel()
        self.headline.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.headline.setWordWrap(True)
        f = QFont()
        f.setPointSizeF(f.pointSizeF() * 1.6 if f.pointSizeF() > 0 else 16)
        f.setBold(True)
        self.headline.setFont(f)
        self.headline.setMinimumHeight(42)
        self.detail = QLabel()
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail.setWordWrap(True)
        self.limits = QLabel('<a href="limits">Model limits</a>')
        self.limits.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.limits.linkActivated.connect(lambda _: self.show_limits())
        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(2)
        grid.setColumnStretch(2, 1)
        self.rows: dict[str, tuple[QLabel, QLabel, QLabel]] = {}
        for r, (key, name) in enumerate(LINE_NAMES.items()):
            cells = (QLabel(name), QLabel("-"), QLabel("-"))
            cells[2].setWordWrap(True)
            cells[2].setTextFormat(Qt.TextFormat.RichText)
            cells[2].setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            for c, lab in enumerate(cells):
                grid.addWidget(lab, r, c, Qt.AlignmentFlag.AlignTop)
            self.rows[key] = cells
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setVerticalSpacing(3)
        self.values: dict[str, QLabel] = {}
        for name in ("Threshold", "Highest frame", "Above threshold", "Frames", "Model", "Device"):
            lab = QLabel("-")
            lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            lab.setWordWrap(name in ("Model", "Device"))     # long names and "...; face descriptors: ..."
            self.values[name] = lab
            form.addRow(name, lab)
        body = QWidget()                   # the lines and figures scroll when the panel is short; the headline stays
        inner = QVBoxLayout(body)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addLayout(grid)
        inner.addLayout(form)
        inner.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        box = QVBoxLayout(self)
        box.addWidget(self.headline)
        box.addWidget(self.detail)
        box.addWidget(self.limits)
        box.addWidget(scroll, 1)
        for sig in (state.framesReset, state.resultChanged, state.thresholdChanged, state.modelChanged,
                    state.infoChanged, state.busyChanged, state.videoOpened, state.caseChanged):
            sig.connect(self.refresh)
        self._live = QTimer(self)          # while frames stream in: one refresh per LIVE_REFRESH_MS at most
        self._live.setSingleShot(True)
        self._live.setInterval(LIVE_REFRESH_MS)
        self._live.timeout.connect(self.refresh)
        state.frameScored.connect(self._frame_scored)
        self.refresh()

    def _frame_scored(self, _fr) -> None:
        if not self._live.isActive():
            self._live.start()

    def headline_text(self) -> str:
        return self.headline.text()

    def _assess(self, summary) -> Findings:
        """The findings at the state's threshold: the finished result's tracks, people and reference when there is
        one (and it is what is shown), else the frames so far alone."""
        r = self.state.result
        if r is None:
            return assess(summary, [], [], None, {})
        ref = r.reference
        return assess(summary, r.tracks, r.identities or [], None if ref is None else len(ref.descriptors),
                      r.model.metadata, r.complete)

    def refresh(self, *_args) -> None:
        self._live.stop()
        s = self.state
        sm = s.summary()
        self.findings = found = None if sm is None else self._assess(sm)
        if found is None:
            text, fg, bg = NOT_ANALYSED
        else:
            text, (bg, _), fg = found.headline, LEVEL_COLOURS[found.level], "#ffffff"
        if s.busy and sm is not None:
            text += " (so far)"
        self.headline.setText(text)
        self.headline.setStyleSheet(f"QLabel {{ color: {fg}; background: {bg}; border-radius: 4px; padding: 4px; }}")
        if sm is None:
            self.detail.setText("Analysing..." if s.busy else ("Press Analyse (Ctrl+R)" if s.video_path else
                                                                "Open a video (Ctrl+O)"))
        else:
            parts = ["" if s.busy or s.result is None else found.reason,
                     "Analysing..." if s.busy else "",
                     "Incomplete: the analysis was cancelled" if s.result is not None and not s.result.complete
                     else "",
                     "from the cache" if s.from_cache else "",
                     "" if s.case_analysis is None else f"case analysis {s.case_analysis}"]
            self.detail.setText("; ".join(p for p in parts if p))
        self._fill_rows(found)
        v = self.values
        v["Highest frame"].setText(fmt_score(sm.max_score, missing="-") if sm else "-")
        v["Above threshold"].setText("-" if not sm or sm.share_above is None else
                                     fmt_share(sm.share_above, decimals=0) + " of frames with a face")
        v["Threshold"].setText(fmt_score(s.threshold))
        total = s.frame_count if s.video_path else 0
        v["Frames"].setText(f"{sm.frames_with_faces} with a face / {sm.frames_analysed} analysed / {total}"
                            if sm else (f"0 analysed / {total}" if total else "-"))
        v["Model"].setText(s.model_name or "(set in Settings)")
        st = s.result.settings if s.result is not None else None
        v["Device"].setText((f"{st.device} ({st.runtime})" if st is not None and st.runtime else
                             st.device if st is not None else s.device_name) or "-")

    def _fill_rows(self, found: Findings | None) -> None:
        waiting = self.state.result is None      # live: the identity lines need the finished result
        for key, (name, status, text) in self.rows.items():
            line = None if found is None else found.line(key)
            if line is None or (waiting and key in ("identity", "consistency")):
                word, words, tip = ("pending" if line is not None else "-"), "after the analysis" if line else "-", ""
            else:
                word, words, tip = line.status, line.text, f"{line.name}: {line.meaning}"
                words = html.escape(words)
                if key == "artifact":     # the false-positive rate behind the threshold, in sight
                    words += f'<br><span style="color:#9e9e9e">{html.escape(line.meaning)}</span>'
            status.setText(word)
            status.setStyleSheet(f"QLabel {{ color: {STATUS_COLOURS.get(word, '#d0d0d0')}; font-weight: bold; }}")
            text.setText(words)
            for lab in (name, status, text):
                lab.setToolTip(tip)

    def limits_text(self) -> str:
        """The model card's measured limits and calibration, for "Model limits"."""
        from core.reports.content import calibration_text

        r = self.state.result
        if r is None:
            return "Analyse a video first: the limits come from the model card of the model that ran."
        card = r.model.metadata
        out = [f"Model: {r.model.name}"]
        if isinstance(card.get("limits"), str):
            out.append(card["limits"])
        out.append("Calibrated threshold: " + calibration_text(card, self.state.threshold))
        out.append("No finding is not proof that a video is authentic: manipulation methods the model was not "
                   "trained on may score low. See the model card (resources/models/README.md).")
        return "\n\n".join(out)

    def show_limits(self) -> None:
        QMessageBox.information(self, "Model limits", self.limits_text())
