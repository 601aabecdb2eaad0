"""The analysed frames as a sortable table: flag, frame, time, P(fake) (coloured by the threshold), faces, artifact
boxes, tracks, identity distance (`core.analysis.identities.identity_series`: to the reference when one is loaded, else
to the track's median descriptor; blank for a frame with no described face) and the analyst's note. Double-click a row
to seek to it; tick the flag box to flag a frame; double-click the note cell (or press F2) to write a note. Flags and
notes go to `result.review` via the commands.
"""
from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from core.common.formatting import fmt_score, fmt_time
from core.analysis.identities import identity_series
from core.analysis.frame_results import FrameResult

from .frame_view import score_qcolor
from .state import AppState

COLUMNS = ("Flag", "Frame", "Time", "P(fake)", "Faces", "Boxes", "Track", "Identity", "Note")
FLAG, FRAME, TIME, SCORE, FACES, ARTS, TRACK, IDENTITY, NOTE = range(len(COLUMNS))
SORT_ROLE = Qt.ItemDataRole.UserRole + 1


class FrameTableModel(QAbstractTableModel):
    def __init__(self, state: AppState, commands, parent=None):
        super().__init__(parent)
        self.state, self.commands = state, commands
        self.rows: list[FrameResult] = []
        self.row_of: dict[int, int] = {}
        self.identity: dict[int, list[float]] = {}   # frame index -> its described faces' distances (track order)
        self.identity_kind: str | None = None
        state.framesReset.connect(self.reset)
        state.frameScored.connect(self.append)
        state.reviewChanged.connect(self._review_changed)
        state.thresholdChanged.connect(lambda _t: self._column_changed(SCORE))

    def reset(self) -> None:
        self.beginResetModel()
        self.rows = list(self.state.frames)
        self.row_of = {f.index: i for i, f in enumerate(self.rows)}
        self.identity_kind, series = identity_series(self.rows)
        self.identity = {}
        for _track, (indices, dists) in series.items():
            for i, d in zip(indices.tolist(), dists.tolist()):
                self.identity.setdefault(i, []).append(d)
        self.endResetModel()

    def append(self, fr: FrameResult) -> None:
        n = len(self.rows)
        self.beginInsertRows(QModelIndex(), n, n)
        self.rows.append(fr)
        self.row_of[fr.index] = n
        self.endInsertRows()

    def _review_changed(self, index: int) -> None:
        if index < 0:
            if self.rows:
                self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, len(COLUMNS) - 1))
        elif index in self.row_of:
            r = self.row_of[index]
            self.dataChanged.emit(self.index(r, 0), self.index(r, len(COLUMNS) - 1))

    def _column_changed(self, col: int) -> None:
        if self.rows:
            self.dataChanged.emit(self.index(0, col), self.index(len(self.rows) - 1, col))

    # -- Qt model --------------------------------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return {FLAG: "flagged for the report", SCORE: "highest P(fake) over the frame's faces",
                    ARTS: "artifact boxes over all faces", NOTE: "double-click to write a note",
                    IDENTITY: {"reference": "identity distance to the reference (nearest reference face)"}.get(
                        self.identity_kind, "identity distance to the track's median descriptor (consistency; no "
                        "reference loaded)") + "; blank: no face of the frame described"}.get(section)
        return None

    def flags(self, index):
        f = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == FLAG:
            f |= Qt.ItemFlag.ItemIsUserCheckable
        if index.column() == NOTE:
            f |= Qt.ItemFlag.ItemIsEditable
        return f

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        fr, col = self.rows[index.row()], index.column()
        review = self.state.review
        if role == Qt.ItemDataRole.CheckStateRole and col == FLAG:
            return Qt.CheckState.Checked if fr.index in review.flags else Qt.CheckState.Unchecked
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            if col == FRAME:
                return str(fr.index)
            if col == TIME:
                return fmt_time(fr.time_s)
            if col == SCORE:
                return fmt_score(fr.score, missing="no face")
            if col == FACES:
                return str(len(fr.faces))
            if col == ARTS:
                return str(sum(len(f.artifacts_at(self.state.threshold)) for f in fr.faces))
            if col == TRACK:
                return ", ".join(str(t) for t in sorted({f.track for f in fr.faces})) or "-"
            if col == IDENTITY:
                return " / ".join(f"{d:.3f}" for d in self.identity.get(fr.index, []))
            if col == NOTE:
                return review.notes.get(fr.index, "")
            return None
        if role == SORT_ROLE:
            return {FLAG: int(fr.index in review.flags), FRAME: fr.index, TIME: fr.time_s,
                    SCORE: -1.0 if fr.score is None else fr.score, FACES: len(fr.faces),
                    ARTS: sum(len(f.artifacts_at(self.state.threshold)) for f in fr.faces),
                    TRACK: min((f.track for f in fr.faces), default=-1),
                    IDENTITY: max(self.identity.get(fr.index, []), default=-1.0),
                    NOTE: review.notes.get(fr.index, "")}.get(col)
        if role == Qt.ItemDataRole.ForegroundRole and col == SCORE:
            return QColor("#8a8a8a") if fr.score is None else score_qcolor(fr.score, self.state.threshold)
        if role == Qt.ItemDataRole.TextAlignmentRole and col not in (NOTE, TRACK):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and col == NOTE:
            return review.notes.get(fr.index) or "double-click to write a note"
        return None

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid():
            return False
        fr = self.rows[index.row()]
        if index.column() == FLAG and role == Qt.ItemDataRole.CheckStateRole:
            on = value in (Qt.CheckState.Checked, Qt.CheckState.Checked.value, 2, True)
            self.commands.set_flag(fr.index, on)
            return True
        if index.column() == NOTE and role == Qt.ItemDataRole.EditRole:
            self.commands.set_note(fr.index, str(value))
            return True
        return False


class FrameTable(QTableView):
    def __init__(self, state: AppState, commands, parent=None):
        super().__init__(parent)
        self.state, self.commands = state, commands
        self.source = FrameTableModel(state, commands, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.source)
        self.proxy.setSortRole(SORT_ROLE)
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(FRAME, Qt.SortOrder.AscendingOrder)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        h = self.horizontalHeader()
        h.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        h.setSectionResizeMode(NOTE, QHeaderView.ResizeMode.Stretch)
        h.setMinimumSectionSize(30)
        fm = self.fontMetrics()
        samples = {FLAG: "Flag", FRAME: "Frame 00", TIME: "00:00.000", SCORE: "P(fake)", FACES: "Faces",
                   ARTS: "Boxes", TRACK: "Track", IDENTITY: "Identity"}
        for col, text in samples.items():
            self.setColumnWidth(col, fm.horizontalAdvance(text) + 14)
        h.setHighlightSections(False)
        self.clicked.connect(self._clicked)
        self.doubleClicked.connect(self._double_clicked)
        self.selectionModel().selectionChanged.connect(self._selection_changed)
        state.frameChanged.connect(self.show_frame)

    def _clicked(self, proxy_index) -> None:
        """One click on a row moves the video to its frame."""
        src = self.proxy.mapToSource(proxy_index)
        self.commands.seek(self.source.rows[src.row()].index)

    def _double_clicked(self, proxy_index) -> None:
        if proxy_index.column() == NOTE:
            self.edit(proxy_index)

    def _selection_changed(self, *_args) -> None:
        rows = {self.proxy.mapToSource(i).row() for i in self.selectionModel().selectedRows()}
        self.state.selection = sorted(self.source.rows[r].index for r in rows)

    def row_for_frame(self, frame_index: int) -> int | None:
        """The view row showing this frame (after sorting), or None."""
        r = self.source.row_of.get(frame_index)
        if r is None:
            return None
        return self.proxy.mapFromSource(self.source.index(r, 0)).row()

    def show_frame(self, frame_index: int) -> None:
        """Highlight the row of the current frame (when it was analysed) without stealing focus."""
        row = self.row_for_frame(frame_index)
        if row is None:
            return
        self.blockSignals(True)
        self.selectRow(row)
        self.blockSignals(False)
        self.scrollTo(self.proxy.index(row, 0), QAbstractItemView.ScrollHint.EnsureVisible)
