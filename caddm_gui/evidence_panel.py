"""The evidence file: name, folder, size, container, codec, resolution, frame rate, frames, duration, the media
facts the reports print (`core.media.evidence.media_summary`: rotation applied, constant or variable frame rate, pixel
format, interlacing, resolution changes, truncation) and its SHA-256 (computed in a worker; "computing..." until then), with a button to copy the hash."""
from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from core.media.evidence import VideoInfo, media_summary
from core.common.formatting import fmt_size, fmt_time

from .state import AppState


class EvidencePanel(QGroupBox):
    FIELDS = ("File", "Folder", "Size", "Container", "Codec", "Resolution", "Frame rate", "Frames", "Duration",
              "Media")

    def __init__(self, state: AppState, parent=None):
        super().__init__("Evidence", parent)
        self.state = state
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(3)
        self.values: dict[str, QLabel] = {}
        for name in self.FIELDS:
            lab = QLabel("-")
            lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            lab.setWordWrap(name in ("File", "Folder", "Media"))
            self.values[name] = lab
            form.addRow(name, lab)
        self.sha = QLabel("-")
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.sha.setFont(mono)
        self.sha.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy = QPushButton("Copy")
        self.copy.setToolTip("Copy the SHA-256 to the clipboard")
        self.copy.setEnabled(False)
        self.copy.clicked.connect(self._copy)
        sha_row = QHBoxLayout()
        sha_row.addWidget(self.sha, 1)
        sha_row.addWidget(self.copy, 0, Qt.AlignmentFlag.AlignTop)
        form.addRow("SHA-256", sha_row)
        box = QVBoxLayout(self)
        box.addLayout(form)
        state.videoOpened.connect(self._on_video)
        state.infoChanged.connect(self._on_info)

    def _on_video(self, path: str) -> None:
        s = self.state
        self.values["File"].setText(os.path.basename(path))
        self.values["File"].setToolTip(path)
        self.values["Folder"].setText(os.path.dirname(path))
        w, h = s.size
        self.values["Resolution"].setText(f"{w} x {h}")
        self.values["Frame rate"].setText(f"{s.fps:.3f} fps" if s.fps else "-")
        self.values["Frames"].setText(f"{s.frame_count} (container)")
        for k in ("Size", "Container", "Codec", "Duration", "Media"):
            self.values[k].setText("...")
        self.sha.setText("computing...")
        self.copy.setEnabled(False)

    def _on_info(self, info: VideoInfo | None) -> None:
        if info is None:
            return
        v = self.values
        v["Size"].setText(fmt_size(info.size_bytes))
        v["Container"].setText(info.container)
        v["Codec"].setText(info.codec)
        v["Resolution"].setText(f"{info.width} x {info.height}" + (f", rotated {info.rotation}" if info.rotation else ""))
        v["Frame rate"].setText(f"{info.fps:.3f} fps")
        v["Frames"].setText(f"{info.frame_count}")
        v["Duration"].setText(fmt_time(info.duration_s))
        v["Media"].setText(media_summary(info))
        self.sha.setText(f"{info.sha256[:32]}\n{info.sha256[32:]}")
        self.sha.setToolTip(info.sha256)
        self.copy.setEnabled(True)

    def _copy(self) -> None:
        if self.state.info is not None:
            QGuiApplication.clipboard().setText(self.state.info.sha256)
