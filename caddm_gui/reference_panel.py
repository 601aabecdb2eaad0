"""The claimed person's reference, in its own tab: photos and videos of who the suspect video says it shows, and
what comparing the video's faces with them found (identity evidence, never part of P(fake); docs/IDENTITY.md).

- `ReferenceSet` (no widgets, tested without a window): the reference files, read off the UI thread by
  `core.analysis.reference_scan.scan_reference` (every face of a photo, every person of a video, with thumbnails), and
  which of each file's faces are used (by default the largest face of a photo, the person who is the largest face in
  most frames of a video). Every change rebuilds the `core.analysis.reference.Reference` and hands it to
  `Commands.set_reference`, which compares the current result's stored descriptors with it (distances and track
  verdicts recomputed, nothing re-analysed) and every result opened or analysed after. The files are only read.
- `ReferencePanel`: *Add photos/video...*, *Remove file*, *Clear*; the reference faces as checkable thumbnails
  (file name, SHA-256 prefix, which face or person); the comparison per face track with the person it belongs to
  (`AnalysisResult.identities`; a face thumbnail each, cut from the video in a worker).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QListView,
                               QListWidget, QListWidgetItem, QPushButton, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from core.media.evidence import reference_file_filter
from core.faces.identity import DIFFERENT_MIN, SAME_MAX
from core.common.formatting import DASH
from core.analysis.reference import Reference, ReferenceFile, ReferenceScan
from core.analysis.reference_scan import REFERENCE_FRAMES, scan_reference

from .frame_view import bgr_to_qimage
from .state import AppState

THUMB = 72          # px, the longer side of a reference face thumbnail
PEOPLE_THUMB = 48   # px, a person's face in the comparison table
VERDICT_COLOURS = {"same person": "#66bb6a", "different person": "#ef5350", "inconclusive": "#f3c341"}


@dataclass
class ReferenceEntry:
    """One reference file: what its scan found and which of its faces (indices into `scan.faces`) are used."""

    scan: ReferenceScan
    chosen: set[int] = field(default_factory=set)

    def file(self) -> ReferenceFile:
        """As `ReferenceScan.file`: the default's notes when the choice is the default, the analyst's otherwise."""
        return self.scan.file() if self.chosen == set(self.scan.default) else self.scan.file(sorted(self.chosen))

    @property
    def name(self) -> str:
        return os.path.basename(self.scan.path)


class ReferenceSet(QObject):
    changed = Signal()          # files, choices or the busy state changed

    def __init__(self, commands, frames: int = REFERENCE_FRAMES, parent=None):
        super().__init__(parent)
        self.commands, self.state = commands, commands.state
        self.frames = frames
        self.entries: list[ReferenceEntry] = []
        self.busy = False
        self._queue: list[str] = []
        self._models = None                 # (FacePipeline, FaceEmbedder), made in a worker on first need
        self._models_lock = threading.Lock()
        self.scanner = self._scan           # path -> ReferenceScan, run in a worker (tests replace it)

    def _scan(self, path: str) -> ReferenceScan:
        with self._models_lock:  # one scan at a time uses the models
            if self._models is None:
                from core.faces.embedder import FaceEmbedder
                from core.faces.pipeline import FacePipeline

                self._models = (FacePipeline(), FaceEmbedder())
            pipeline, embedder = self._models
            return scan_reference(path, self.frames, pipeline, embedder, thumb_side=THUMB)

    # -- files -----------------------------------------------------------------------------------------------
    def add_files(self, paths) -> int:
        """Read these files in a worker and add them (a file already in the reference is skipped); returns how
        many were queued."""
        known = {e.scan.path for e in self.entries} | set(self._queue)
        new, again = [], []
        for p in paths:
            path = os.path.abspath(os.fspath(p))
            (again if path in known else new).append(path)
            known.add(path)
        if again:
            self.state.info_msg("Already in the reference: " + ", ".join(os.path.basename(p) for p in again))
        self._queue += new
        self._next()
        return len(new)

    def _next(self) -> None:
        if self.busy or not self._queue:
            return
        paths, self._queue = self._queue, []
        scanner = self.scanner
        self.busy = True
        self.state.info_msg(f"Reading {len(paths)} reference file{'s' if len(paths) > 1 else ''}...")
        self.changed.emit()
        self.commands._task(lambda: [scanner(p) for p in paths], self._on_scanned, self._on_failed, "reference")

    def _on_scanned(self, scans: list[ReferenceScan]) -> None:
        self.busy = False
        for scan in scans:
            self.entries.append(ReferenceEntry(scan, set(scan.default)))
            if scan.notes:  # unreadable, no face
                self.state.warning(f"Reference {scan.path}: {'; '.join(scan.notes)}")
            elif len(scan.faces) > 1:
                what = "faces" if scan.kind == "photo" else "people"
                self.state.warning(f"Reference {scan.path}: {len(scan.faces)} {what} found; the "
                                   f"{'largest' if scan.kind == 'photo' else 'main one'} is used. Tick the claimed "
                                   f"person's in the Reference tab.")
        self._apply()
        self._next()

    def _on_failed(self, msg: str) -> None:
        self.busy = False
        self.state.error(f"Reference files could not be read: {msg}")
        self.changed.emit()
        self._next()

    def remove(self, index: int) -> None:
        if 0 <= index < len(self.entries):
            del self.entries[index]
            self._apply()

    def clear(self) -> None:
        self.entries.clear()
        self._apply()

    def set_chosen(self, index: int, face: int, on: bool) -> None:
        """Use (or stop using) face `face` of file `index`."""
        chosen = self.entries[index].chosen
        if on != (face in chosen):
            (chosen.add if on else chosen.discard)(face)
            self._apply()

    # -- the reference ---------------------------------------------------------------------------------------
    def reference(self) -> Reference | None:
        """The reference the files and choices make, or None without files."""
        return Reference([e.file() for e in self.entries]) if self.entries else None

    def _apply(self) -> None:
        self.commands.set_reference(self.reference())
        self.changed.emit()

    def status_lines(self) -> list[str]:
        """What the panel says about the reference: how many faces are used, and each file's notes."""
        ref = self.reference()
        lines = []
        if self.busy:
            lines.append("Reading reference files...")
        if ref is None:
            lines.append("No reference: the identity curve shows each track's consistency (each face's distance "
                         "to the track's median). Add photos or a video of the claimed person to compare.")
        else:
            used = len(ref.descriptors)
            lines.append(f"{used} reference face{'s' if used != 1 else ''} used from {len(ref.files)} "
                         f"file{'s' if len(ref.files) != 1 else ''}." if used else
                         "No face of the reference is used: no identity distances.")
            for e, f in zip(self.entries, ref.files):
                lines += [f"{e.name}: {n}" for n in f.notes]
        if not self.commands.prefs.identity:
            lines.append("Identity descriptors are off in Settings: new analyses cannot be compared.")
        return lines


# ----------------------------------------------------------------------------------------------------------------
# the view


def _icon(img_bgr: np.ndarray | None, side: int, width: int) -> QIcon:
    """`_pixmap` centred on a transparent `width` x `side` canvas: a wider icon gives the text below it room."""
    pm = _pixmap(img_bgr, side)
    out = QPixmap(width, side)
    out.fill(QColor(0, 0, 0, 0))
    p = QPainter(out)
    p.drawPixmap((width - pm.width()) // 2, (side - pm.height()) // 2, pm)
    p.end()
    return QIcon(out)


def _pixmap(img_bgr: np.ndarray | None, side: int) -> QPixmap:
    """The BGR image as a pixmap scaled to fit `side`, or a grey placeholder when None."""
    if img_bgr is None:
        pm = QPixmap(side, side)
        pm.fill(QColor("#3a3a3e"))
        p = QPainter(pm)
        p.setPen(QColor("#a0a0a0"))
        p.drawText(pm.rect(), Qt.AlignmentFlag.AlignCenter, "no face")
        p.end()
        return pm
    pm = QPixmap.fromImage(bgr_to_qimage(np.ascontiguousarray(img_bgr)))
    return pm.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)


def _elide(name: str, n: int = 14) -> str:
    """At most n characters, the middle elided (the start and the extension stay)."""
    return name if len(name) <= n else name[:(n - 1) // 2] + "\u2026" + name[-(n // 2):]


class ReferencePanel(QWidget):
    COLUMNS = ("Face", "Track", "Person", "Faces", "Median", "Verdict", "Consistency")
    TIPS = ("the person's face (the described face nearest their median descriptor)", "face track",
            "the distinct person the track belongs to", "faces of the track with a descriptor",
            "median distance of those faces to the reference (nearest reference face)",
            f"same person at or below {SAME_MAX:.2f}, different person at or above {DIFFERENT_MIN:.2f}, "
            "inconclusive in between or with fewer than 3 faces",
            "largest distance of a face to the track's median descriptor (no reference needed)")

    def __init__(self, state: AppState, commands, parent=None):
        super().__init__(parent)
        self.state, self.commands = state, commands
        self.refs = ReferenceSet(commands, parent=self)
        self.add_button = QPushButton("Add photos/video...")
        self.add_button.setToolTip("Photos or a video of the person the suspect video claims to show")
        self.add_button.clicked.connect(self.add_dialog)
        self.remove_button = QPushButton("Remove file")
        self.remove_button.clicked.connect(self.remove_selected)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.refs.clear)
        row = QHBoxLayout()
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        row.addWidget(self.clear_button)
        row.addStretch(1)

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.faces = QListWidget()
        self.faces.setViewMode(QListView.ViewMode.IconMode)
        self.faces.setIconSize(QSize(THUMB + 20, THUMB))  # the text under an icon is as wide as the icon
        self.faces.setGridSize(QSize(THUMB + 36, THUMB + 58))
        font = self.faces.font()
        font.setPointSizeF(font.pointSizeF() * 0.85)
        self.faces.setFont(font)
        self.faces.setResizeMode(QListView.ResizeMode.Adjust)
        self.faces.setMovement(QListView.Movement.Static)
        self.faces.setWordWrap(True)
        self.faces.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.faces.setMinimumHeight(THUMB + 60)
        self.faces.setToolTip("Ticked faces are the reference; untick a face that is not the claimed person")
        self.faces.itemChanged.connect(self._item_changed)
        self.faces.itemSelectionChanged.connect(self._update_buttons)

        self.people = QLabel()
        self.people.setWordWrap(True)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        for col, tip in enumerate(self.TIPS):
            self.table.horizontalHeaderItem(col).setToolTip(tip)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setIconSize(QSize(PEOPLE_THUMB, PEOPLE_THUMB))
        self.table.verticalHeader().setDefaultSectionSize(PEOPLE_THUMB + 6)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self._people_thumbs: dict[tuple, QPixmap] = {}
        self._thumbs_asked: set[tuple] = set()

        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(row)
        lay.addWidget(self.status)
        lay.addWidget(self.faces, 2)
        lay.addWidget(self.people)
        lay.addWidget(self.table, 3)

        self.refs.changed.connect(self.refresh_faces)
        state.resultChanged.connect(lambda _r: self.refresh_comparison())
        state.videoOpened.connect(lambda _p: self.refresh_comparison())
        self.refresh_faces()
        self.refresh_comparison()

    # -- reference files -------------------------------------------------------------------------------------
    def add_dialog(self) -> None:
        start = os.path.dirname(self.refs.entries[-1].scan.path) if self.refs.entries else ""
        paths, _ = QFileDialog.getOpenFileNames(self, "Add reference photos or video of the claimed person", start,
                                                reference_file_filter())
        if paths:
            self.refs.add_files(paths)

    def remove_selected(self) -> None:
        items = self.faces.selectedItems()
        if items:
            self.refs.remove(items[0].data(Qt.ItemDataRole.UserRole)[0])

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(bool(self.faces.selectedItems()) and not self.refs.busy)
        self.clear_button.setEnabled(bool(self.refs.entries) and not self.refs.busy)
        self.add_button.setEnabled(not self.refs.busy)

    def refresh_faces(self) -> None:
        """One item per candidate face (checkable) or, for a file without a face, one placeholder."""
        self.faces.blockSignals(True)
        self.faces.clear()
        for i, e in enumerate(self.refs.entries):
            scan, sha = e.scan, (e.scan.sha256 or "no hash")[:8]
            for k, face in enumerate(scan.faces):
                if len(scan.faces) == 1:
                    which = f"{len(face.descriptors)} faces" if scan.kind == "video" else "photo"
                elif scan.kind == "photo":
                    which = f"face {k + 1} of {len(scan.faces)}"
                else:
                    which = f"person {k + 1} of {len(scan.faces)}, {len(face.descriptors)} faces"
                item = QListWidgetItem(_icon(face.thumbnail, THUMB, THUMB + 20),
                                       f"{_elide(e.name)}\n{sha}\n{which}")
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                              | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if k in e.chosen else Qt.CheckState.Unchecked)
                item.setData(Qt.ItemDataRole.UserRole, (i, k))
                item.setToolTip(f"{scan.path}\nSHA-256 {scan.sha256}\n{which}" + (
                    f", frame {face.frame}" if scan.kind == "video" else ""))
                self.faces.addItem(item)
            if not scan.faces:
                item = QListWidgetItem(_icon(None, THUMB, THUMB + 20), f"{_elide(e.name)}\n{sha}\nnot used")
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                item.setForeground(QBrush(QColor("#f3c341")))
                item.setData(Qt.ItemDataRole.UserRole, (i, -1))
                item.setToolTip(f"{scan.path}\n" + "\n".join(scan.notes))
                self.faces.addItem(item)
        self.faces.blockSignals(False)
        self.status.setText("\n".join(self.refs.status_lines()))
        self._update_buttons()

    def _item_changed(self, item: QListWidgetItem) -> None:
        i, k = item.data(Qt.ItemDataRole.UserRole)
        if k >= 0:
            self.refs.set_chosen(i, k, item.checkState() == Qt.CheckState.Checked)

    def checked_faces(self) -> list[tuple[int, int]]:
        """(file index, face index) of the ticked thumbnails, in list order."""
        out = []
        for r in range(self.faces.count()):
            item = self.faces.item(r)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(item.data(Qt.ItemDataRole.UserRole))
        return out

    # -- the comparison --------------------------------------------------------------------------------------
    def refresh_comparison(self) -> None:
        """One row per face track: its person (with the face), described faces, median distance to the reference,
        verdict and consistency."""
        r = self.state.result
        self.status.setText("\n".join(self.refs.status_lines()))  # the Settings' identity switch may have changed
        self.table.setRowCount(0)
        if r is None:
            self.people.setText("Analyse the video to compare its faces." if self.state.video_path else "")
            return
        people = r.identities or []
        if not people:
            self.people.setText("No face of this analysis was described (identity off in Settings when it ran, or "
                                "no face found): nothing to compare.")
            return
        person_of = {t: c for c in people for t in c.tracks}
        text = f"People in the video: {len(people)}"
        close = [c for c in people if c.nearest is not None and c.nearest < c.id and c.nearest_distance < DIFFERENT_MIN]
        if close:
            text += " (" + "; ".join(f"{c.id} and {c.nearest} are {c.nearest_distance:.2f} apart: may be one person"
                                     for c in close) + ")"
        ref = r.reference
        text += "." if ref is None else f". Compared with {len(ref.descriptors)} reference faces."
        self.people.setText(text)
        rows = [t for t in r.tracks if t.identity is not None]
        self.table.setRowCount(len(rows))
        for row, t in enumerate(rows):
            i, c = t.identity, person_of.get(t.track)
            verdict = i.verdict or ("no reference" if ref is None else "no distance")
            cells = ["", str(t.track), DASH if c is None else str(c.id), str(i.n),
                     DASH if i.median is None else f"{i.median:.3f}", verdict,
                     DASH if i.consistency_max is None else f"{i.consistency_max:.3f}"]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 5 and verdict in VERDICT_COLOURS:
                    item.setForeground(QBrush(QColor(VERDICT_COLOURS[verdict])))
                if col == 0 and c is not None:
                    pm = self._people_thumbs.get(self._thumb_key(c))
                    if pm is not None:
                        item.setIcon(QIcon(pm))
                self.table.setItem(row, col, item)
        self._load_people_thumbs(people)

    def _thumb_key(self, c) -> tuple:
        return (self.state.video_path, c.face_frame, tuple(c.face_box))

    def _load_people_thumbs(self, people) -> None:
        """Cut each person's face from the video in a worker (once per video, frame and box)."""
        path = self.state.video_path
        todo = [c for c in people if self._thumb_key(c) not in self._thumbs_asked]
        if not todo or path is None:
            return
        keys = [self._thumb_key(c) for c in todo]
        self._thumbs_asked.update(keys)
        wanted = sorted(((c.face_frame, c.face_box), k) for c, k in zip(todo, keys))

        def cut():
            from core.faces.thumbnail import face_thumbnail
            from core.media.video import VideoReader

            with VideoReader(path) as reader:
                return {k: face_thumbnail(reader.read_frame(frame), box, PEOPLE_THUMB * 2)
                        for (frame, box), k in wanted}

        def done(thumbs) -> None:
            for k, img in thumbs.items():
                if img is not None:
                    self._people_thumbs[k] = _pixmap(img, PEOPLE_THUMB)
            self.refresh_comparison()

        def failed(msg) -> None:
            self._thumbs_asked.difference_update(keys)
            self.state.warning(f"Could not cut the people's faces from the video: {msg}")

        self.commands._task(cut, done, failed, "people-thumbnails")
