"""The verdict at the current threshold: FAKE / REAL / NO FACE in large type, the video score (mean P(fake) over the
frames with a face), the highest frame score, the share of frames above the threshold, the model and device, and
how many frames were analysed (with a face / analysed / in the video). Updates live while an analysis runs, at most
every `LIVE_REFRESH_MS` (the summary is recomputed over all frames so far; once per scored frame made an all-frames
run quadratic), and at once when the analysis ends or anything else changes."""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QVBoxLayout

from core.formatting import fmt_score, fmt_share

from .state import AppState

VERDICT_STYLE = {
    "fake": ("FAKE", "#ffffff", "#c62828"),
    "real": ("REAL", "#ffffff", "#2e7d32"),
    "no face": ("NO FACE", "#ffffff", "#616161"),
    None: ("NOT ANALYSED", "#d0d0d0", "#3a3a3e"),
}
LIVE_REFRESH_MS = 200


class VerdictPanel(QGroupBox):
    def __init__(self, state: AppState, parent=None):
        super().__init__("Verdict", parent)
        self.state = state
        self.verdict = QLabel()
        self.verdict.setAlignment(Qt.AlignmentFlag.AlignCenter)
        f = QFont()
        f.setPointSizeF(f.pointSizeF() * 1.9 if f.pointSizeF() > 0 else 18)
        f.setBold(True)
        self.verdict.setFont(f)
        self.verdict.setMinimumHeight(46)
        self.detail = QLabel()
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail.setWordWrap(True)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setVerticalSpacing(3)
        self.values: dict[str, QLabel] = {}
        for name in ("Video score", "Highest frame", "Above threshold", "Threshold", "Frames", "Model", "Device"):
            lab = QLabel("-")
            lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            lab.setWordWrap(name in ("Model", "Device"))     # long names and "...; face descriptors: ..."
            self.values[name] = lab
            form.addRow(name, lab)
        box = QVBoxLayout(self)
        box.addWidget(self.verdict)
        box.addWidget(self.detail)
        box.addLayout(form)
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

    def verdict_text(self) -> str:
        return self.verdict.text()

    def refresh(self, *_args) -> None:
        self._live.stop()
        s = self.state
        sm = s.summary()
        key = sm.verdict if sm is not None else None
        text, fg, bg = VERDICT_STYLE[key]
        if s.busy and sm is not None:
            text += " (so far)"
        self.verdict.setText(text)
        self.verdict.setStyleSheet(f"QLabel {{ color: {fg}; background: {bg}; border-radius: 4px; padding: 4px; }}")
        if sm is None:
            self.detail.setText("Analysing..." if s.busy else ("Press Analyse (Ctrl+R)" if s.video_path else
                                                                "Open a video (Ctrl+O)"))
        elif s.result is not None and not s.result.complete:
            self.detail.setText("Incomplete: the analysis was cancelled")
        else:
            parts = ["from the cache" if s.from_cache else ("" if not s.busy else "Analysing..."),
                     "" if s.case_analysis is None else f"case analysis {s.case_analysis}"]
            self.detail.setText("; ".join(p for p in parts if p))
        v = self.values
        v["Video score"].setText(fmt_score(sm.video_score, missing="-") if sm else "-")
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
