"""The case file in the window (docs/CASES.md): the **Case** tab (header with the audit check, evidence items with
their latest artifact-model result and review, Add videos...), the New case dialog and the dialog that offers a cached review for
import. Views only: what they do goes through `commands.cases` (caddm_gui/case_commands.py)."""
from __future__ import annotations

import html
import os

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QHeaderView,
                               QLabel, QLineEdit, QPlainTextEdit, QPushButton, QStackedWidget, QToolButton,
                               QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from core.case import ReviewOffer, login_name
from core.analysis.findings import ARTIFACT_VERDICT_WORDS, LEVEL_COLOURS
from core.common.formatting import fmt_score

from .commands import VIDEO_FILTER
from .state import AppState

COLUMNS = ("#", "File", "Artifact model", "Score", "Analyses", "Flags", "Notes")
READ_ONLY_STYLE = "QLabel { background: #8a5a00; color: #ffffff; border-radius: 3px; padding: 1px 6px; }"


class CasePanel(QWidget):
    """The open case: id, file, analyst, audit log (entries, chain verified yes / NO), read-only label; one row per
    evidence item (number, file, latest artifact-model result and video score, analyses, flagged frames, notes), the open video's
    row in bold. Double-click a row to open that video."""

    def __init__(self, state: AppState, commands, parent=None):
        super().__init__(parent)
        self.state, self.commands = state, commands
        self.stack = QStackedWidget()

        # no case open
        empty = QWidget()
        el = QVBoxLayout(empty)
        self.empty_label = QLabel("No case open.\n\nA case keeps the evidence, every analysis, the review (flags and "
                                  "notes, recorded as you make them), the exported reports and an audit log in "
                                  "one file.")
        self.empty_label.setWordWrap(True)
        self.empty_buttons = QHBoxLayout()
        el.addWidget(self.empty_label)
        el.addLayout(self.empty_buttons)
        el.addStretch(1)

        # a case open
        page = QWidget()
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setVerticalSpacing(3)
        self.values: dict[str, QLabel] = {}
        for name in ("Case", "File", "Analyst", "Audit log"):
            lab = QLabel("-")
            lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            lab.setWordWrap(name in ("File", "Audit log"))
            self.values[name] = lab
            form.addRow(name, lab)
        self.values["Audit log"].setTextFormat(Qt.TextFormat.RichText)
        bold = QFont()
        bold.setBold(True)
        self.values["Case"].setFont(bold)
        self.read_only = QLabel("READ-ONLY")
        self.read_only.setStyleSheet(READ_ONLY_STYLE)
        self.read_only.setWordWrap(True)
        self.read_only.hide()
        self.items = QTreeWidget()
        self.items.setColumnCount(len(COLUMNS))
        self.items.setHeaderLabels(COLUMNS)
        self.items.setRootIsDecorated(False)
        self.items.setAlternatingRowColors(True)
        self.items.setUniformRowHeights(True)
        head = self.items.header()
        head.setStretchLastSection(False)
        for col in range(len(COLUMNS)):
            head.setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch if COLUMNS[col] == "File"
                                      else QHeaderView.ResizeMode.ResizeToContents)
        self.items.itemDoubleClicked.connect(self._open_row)
        self.add_button = QPushButton("Add videos...")
        self.add_button.setToolTip("Add evidence videos to the case (hashed now, analysed when you open and "
                                   "analyse them)")
        self.add_button.clicked.connect(self.add_videos_dialog)
        self.hint = QLabel("Double-click an item to open it. Flags and notes are recorded in the case as you make "
                           "them.")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("QLabel { color: #9a9ca3; }")
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addStretch(1)
        pl = QVBoxLayout(page)
        pl.setContentsMargins(4, 4, 4, 4)
        pl.addLayout(form)
        pl.addWidget(self.read_only)
        pl.addWidget(self.items, 1)
        pl.addLayout(buttons)
        pl.addWidget(self.hint)

        self.stack.addWidget(empty)
        self.stack.addWidget(page)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.stack)

        self._timer = QTimer(self)          # one refresh for a burst of changes (the audit check reads every row)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.refresh)
        self._shown = None                  # the case the panel shows
        state.caseChanged.connect(lambda: self.refresh() if state.case is not self._shown else self._timer.start())
        state.infoChanged.connect(lambda _i: self._timer.start())
        self.refresh()

    def add_empty_actions(self, actions) -> None:
        """Buttons for New case / Open case on the page shown while no case is open."""
        for a in actions:
            b = QToolButton()
            b.setDefaultAction(a)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            self.empty_buttons.addWidget(b)
        self.empty_buttons.addStretch(1)

    def refresh(self) -> None:
        case = self._shown = self.state.case
        self._timer.stop()
        if case is None:
            self.stack.setCurrentIndex(0)
            self.items.clear()
            return
        self.stack.setCurrentIndex(1)
        m = case.meta
        self.values["Case"].setText(m.case_id)
        self.values["File"].setText(str(case.path))
        self.values["File"].setToolTip(str(case.path))
        self.values["Analyst"].setText(m.analyst + (f"  (notes: {m.notes})" if m.notes else ""))
        try:
            audit = case.check_audit()
            text = audit.summary()
            colour = "#7bc67e" if audit.ok else "#ff6b6b"
            self.values["Audit log"].setText(f'<span style="color:{colour}">{html.escape(text)}</span>')
            self.values["Audit log"].setToolTip("\n".join(audit.problems) or "Every audit entry follows the one "
                                                "before it and every recorded row matches its digest.")
            rows = self._rows(case)
        except Exception as e:  # noqa: BLE001 - a case damaged while open: say so here, keep the window
            self.values["Audit log"].setText(f'<span style="color:#ff6b6b">cannot be read: {html.escape(str(e))}</span>')
            rows = []
        self.add_button.setEnabled(case.writable)
        self.read_only.setVisible(not case.writable)
        self.read_only.setText(f"READ-ONLY: {case.read_only_reason}. Review actions are not recorded." if
                               not case.writable else "")
        self._fill(rows)

    def _rows(self, case) -> list[tuple]:
        out = []
        for it in case.items():
            analyses = case.analyses(it.item)
            last = analyses[-1] if analyses else None
            review = case.review(it.item)
            out.append((it, last, len(analyses), review))
        return out

    def _fill(self, rows) -> None:
        current = self.state.case_item
        self.items.clear()
        for it, last, n, review in rows:
            verdict = "not analysed" if last is None else ARTIFACT_VERDICT_WORDS[last.verdict][0]
            score = "" if last is None else fmt_score(last.video_score, "n/a")
            flags = len(review.flags) + len(review.track_flags)
            notes = len(review.notes) + len(review.track_notes)
            row = QTreeWidgetItem([str(it.item), it.name, verdict, score, str(n), str(flags), str(notes)])
            row.setData(0, Qt.ItemDataRole.UserRole, it.item)
            tip = f"{it.abs_path}\nSHA-256 {it.sha256}\nadded {it.added_utc} by {it.added_by}"
            if last is not None:
                tip += (f"\nlatest analysis {last.id}: {last.model_name}, threshold {last.threshold:g}"
                        f"{', from the cache' if last.from_cache else ''}{'' if last.complete else ', incomplete'}")
            if review.track_flags or review.track_notes:
                tip += f"\nface tracks: {len(review.track_flags)} flagged, {len(review.track_notes)} noted"
            for col in range(len(COLUMNS)):
                row.setToolTip(col, tip)
                if COLUMNS[col] not in ("File", "Artifact model"):
                    row.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if last is not None:
                strong, _ = LEVEL_COLOURS[ARTIFACT_VERDICT_WORDS[last.verdict][1]]
                row.setForeground(2, QColor(strong).lighter(150))
            if it.item == current:
                f = row.font(0)
                f.setBold(True)
                for col in range(len(COLUMNS)):
                    row.setFont(col, f)
            self.items.addTopLevelItem(row)
            if it.item == current:
                self.items.setCurrentItem(row)

    def row_for_item(self, item: int) -> QTreeWidgetItem | None:
        for i in range(self.items.topLevelItemCount()):
            row = self.items.topLevelItem(i)
            if row.data(0, Qt.ItemDataRole.UserRole) == item:
                return row
        return None

    def _open_row(self, row: QTreeWidgetItem, _col: int = 0) -> None:
        self.commands.cases.open_item(int(row.data(0, Qt.ItemDataRole.UserRole)))

    def add_videos_dialog(self) -> None:
        start = os.path.dirname(self.commands.prefs.recent[0]) if self.commands.prefs.recent else ""
        paths, _ = QFileDialog.getOpenFileNames(self, "Add videos to the case", start, VIDEO_FILTER)
        if paths:
            self.commands.cases.add_videos(paths)


class NewCaseDialog(QDialog):
    """The new case's id (default: the file's name), analyst (default: the login name) and notes."""

    def __init__(self, path: str, analyst: str = "", parent=None):
        super().__init__(parent)
        self.setWindowTitle("New case")
        self.setMinimumWidth(460)
        self.path = path
        name = QLabel(path)
        name.setWordWrap(True)
        self.case_id = QLineEdit(os.path.basename(path).removesuffix(".caddmcase"))
        self.analyst = QLineEdit(analyst or login_name())
        self.notes = QPlainTextEdit()
        self.notes.setPlaceholderText("Case notes for the report header (optional)")
        self.notes.setFixedHeight(70)
        form = QFormLayout()
        form.addRow("File", name)
        form.addRow("Case id", self.case_id)
        form.addRow("Analyst", self.analyst)
        form.addRow("Notes", self.notes)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(buttons)

    def values(self) -> tuple[str, str, str]:
        return self.case_id.text().strip(), self.analyst.text().strip(), self.notes.toPlainText().strip()


def describe_offer(offer: ReviewOffer) -> str:
    """The actions and conflicts of a cached review offered for import, one a line."""
    lines = []
    for target, index, kind, value in offer.actions:
        lines.append(f"import: {target} {index} " + ("flag" if kind == "flag" else f"note {value!r}"))
    lines += [f"conflict: {c}" for c in offer.conflicts]
    return "\n".join(lines)


class ReviewOfferDialog(QDialog):
    """Review work the result cache holds for the open video and the case lacks: each action and conflict listed,
    Import or Skip."""

    def __init__(self, offer: ReviewOffer, video: str, case_id: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Import the cached review?")
        self.setMinimumWidth(560)
        n = len(offer.actions)
        head = QLabel(f"The result cache holds review work on <b>{os.path.basename(video)}</b> that case "
                      f"<b>{case_id}</b> lacks ({len(offer.sources)} cache entr"
                      f"{'y' if len(offer.sources) == 1 else 'ies'}): {n} action{'s' * (n != 1)}"
                      + (f", {len(offer.conflicts)} conflict{'s' * (len(offer.conflicts) != 1)} (the case's "
                         "notes are kept)" if offer.conflicts else "") + ". Import them into the case?")
        head.setWordWrap(True)
        self.text = QPlainTextEdit(describe_offer(offer))
        self.text.setReadOnly(True)
        buttons = QDialogButtonBox()
        buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton("Skip", QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        note = QLabel("Skip leaves the cache and the case as they are (offered again when the video is opened).")
        note.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addWidget(head)
        lay.addWidget(self.text, 1)
        lay.addWidget(note)
        lay.addWidget(buttons)
