"""Export the report: output folder, formats (HTML, PDF, JSON, CSV) and the case header (case id, analyst, notes).
Flagged frames and notes from the review are always included."""
from __future__ import annotations

from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QPlainTextEdit, QPushButton, QVBoxLayout)

from core.reports import FORMAT_LABELS, FORMATS
from core.analysis.results import CaseInfo


class ExportDialog(QDialog):
    def __init__(self, out_dir: str, case: CaseInfo | None = None, n_flagged: int = 0, parent=None,
                 from_case: bool = False):
        """`from_case`: a case file is open; its header is shown, not edited, and its review goes in."""
        super().__init__(parent)
        self.setWindowTitle("Export report")
        self.setMinimumWidth(520)
        case = case or CaseInfo()
        self.out_dir = QLineEdit(out_dir)
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.out_dir, 1)
        row.addWidget(browse)
        self.formats = {}
        frow = QHBoxLayout()
        for f, label in FORMAT_LABELS.items():
            cb = QCheckBox(label)
            cb.setChecked(True)
            self.formats[f] = cb
            frow.addWidget(cb)
        frow.addStretch(1)
        self.case_id = QLineEdit(case.case_id)
        self.analyst = QLineEdit(case.analyst)
        self.notes = QPlainTextEdit(case.notes)
        self.notes.setFixedHeight(90)
        form = QFormLayout()
        form.addRow("Folder", row)
        form.addRow("Formats", frow)
        form.addRow("Case id", self.case_id)
        form.addRow("Analyst", self.analyst)
        form.addRow("Case notes", self.notes)
        info = QLabel(f"{n_flagged} flagged frame{'s' if n_flagged != 1 else ''} and the notes will be included.")
        if from_case:
            for w in (self.case_id, self.analyst, self.notes):
                w.setReadOnly(True)
            info.setText(info.text() + " The case header and review come from the open case, and the files "
                                       "written are recorded in it.")
            info.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(info)
        lay.addWidget(buttons)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Report folder", self.out_dir.text())
        if d:
            self.out_dir.setText(d)

    def chosen_formats(self) -> list[str]:
        return [f for f in FORMATS if self.formats[f].isChecked()]

    def case(self) -> CaseInfo | None:
        c = CaseInfo(self.case_id.text().strip(), self.analyst.text().strip(), self.notes.toPlainText().strip())
        return c if (c.case_id or c.analyst or c.notes) else None
