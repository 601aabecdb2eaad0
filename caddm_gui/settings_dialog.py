"""Settings: the model (bundled default or a checkpoint file: the authors' .pkl or one from `caddm-train`, with its
metadata shown), the device, which frames to analyse, the threshold, analyse-on-open, identity descriptors on/off
and the overlays. The values are remembered between sessions (QSettings, via `Preferences`)."""
from __future__ import annotations

import copy
import os

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton,
                               QSpinBox, QVBoxLayout)

from core.model.device import DEVICE_CHOICES, DEVICE_LABELS
from core.common.errors import CaddmError
from core.faces.detector_choice import DETECTOR_LABELS
from core.faces.landmark_sets import LANDMARK_LABELS
from core.media.frames import MODE_LABELS
from core.model.registry import DEFAULT_MODEL, REGISTRY, default_model_path, model_default_threshold

from .preferences import OVERLAYS, Preferences
from .workers import TaskWorker


def describe_checkpoint(path: str | None) -> str:
    """A checkpoint's identity and card, for the dialog (`core.model.checkpoints.read_checkpoint_info`: the header only
    for our files, no model is built); a one-line error when it cannot be read. Slow for large pickles: call it
    off the UI thread."""
    from core.model.checkpoints import read_checkpoint_info
    from core.model.registry import resolve_model

    try:
        return read_checkpoint_info(resolve_model(path or None)).describe()
    except CaddmError as e:
        return f"Cannot load: {e}"
    except Exception as e:  # noqa: BLE001
        return f"Cannot load: {type(e).__name__}: {e}"


class SettingsDialog(QDialog):
    def __init__(self, prefs: Preferences, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self.prefs = copy.deepcopy(prefs)
        self._meta_gen = 0
        self._meta_workers: set[TaskWorker] = set()

        # model
        self.model_kind = QComboBox()
        bundled = default_model_path()
        self.model_kind.addItem(f"Bundled default ({DEFAULT_MODEL})" + ("" if bundled else " - not installed"), "")
        self.model_kind.addItem("Checkpoint file (authors' .pkl or caddm-train .safetensors)", "file")
        self.model_path = QLineEdit(prefs.model_path)
        self.model_path.setPlaceholderText("path to a checkpoint")
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        show = QPushButton("Show metadata")
        show.clicked.connect(self.show_metadata)
        self.meta = QPlainTextEdit()
        self.meta.setReadOnly(True)
        self.meta.setFixedHeight(110)
        self.meta.setPlaceholderText("Model metadata (press Show metadata)")
        path_row = QHBoxLayout()
        path_row.addWidget(self.model_path, 1)
        path_row.addWidget(browse)
        path_row.addWidget(show)
        self.model_kind.currentIndexChanged.connect(self._kind_changed)
        self.model_kind.setCurrentIndex(1 if prefs.model_path else 0)
        self._kind_changed()
        known = ", ".join(n for n in REGISTRY if n != DEFAULT_MODEL)
        hint = QLabel(f"Known architectures: {known}. Nothing is downloaded: pass the file.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: palette(mid);")
        mbox = QGroupBox("Model")
        ml = QVBoxLayout(mbox)
        ml.addWidget(self.model_kind)
        ml.addLayout(path_row)
        ml.addWidget(hint)
        ml.addWidget(self.meta)

        # analysis
        self.device = QComboBox()
        for value in DEVICE_CHOICES:
            self.device.addItem(DEVICE_LABELS[value], value)
        self.device.setCurrentIndex(max(0, self.device.findData(prefs.device)))
        self.frame_mode = QComboBox()
        for value, text in MODE_LABELS.items():
            self.frame_mode.addItem(text, value)
        self.frame_mode.setCurrentIndex(max(0, self.frame_mode.findData(prefs.frame_mode)))
        self.frame_value = QSpinBox()
        self.frame_value.setRange(1, 100000)
        self.frame_value.setValue(prefs.frame_value)
        self.frame_mode.currentIndexChanged.connect(self._mode_changed)
        self._mode_changed()
        frames_row = QHBoxLayout()
        frames_row.addWidget(self.frame_mode, 1)
        frames_row.addWidget(self.frame_value)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setDecimals(3)
        self.threshold.setSingleStep(0.01)
        self.threshold.setValue(prefs.threshold)
        self.use_model_threshold = QCheckBox("the model's calibrated threshold")
        self.use_model_threshold.setToolTip("Chosen on held-out data and stored in the model's card (0.5 for a model "
                                            "without one). Off: your own threshold.")
        self.use_model_threshold.setChecked(prefs.model_threshold)
        self.use_model_threshold.toggled.connect(self._threshold_mode_changed)
        self.model_path.editingFinished.connect(self._threshold_mode_changed)
        self.model_kind.currentIndexChanged.connect(self._threshold_mode_changed)
        self._threshold_mode_changed()
        threshold_row = QHBoxLayout()
        threshold_row.addWidget(self.threshold)
        threshold_row.addWidget(self.use_model_threshold, 1)
        self.auto = QCheckBox("Analyse automatically when a video is opened")
        self.auto.setChecked(prefs.auto_analyse)
        self.identity = QCheckBox("Identity descriptors (who each face is; about 0.64x the speed)")
        self.identity.setToolTip("A face-recognition descriptor for a track's first face and then every 3rd "
                                 "analysed frame: the identity curve, the people in the video and the comparison "
                                 "with a reference. Never part of P(fake). Off: as caddm-analyze --no-identity.")
        self.identity.setChecked(prefs.identity)
        self.landmarks = QComboBox()
        for key, label in LANDMARK_LABELS.items():
            self.landmarks.addItem(label, key)
        self.landmarks.setCurrentIndex(max(0, self.landmarks.findData(prefs.landmarks)))
        self.landmarks.setToolTip("The landmarks each face keeps in the result, the case and report.json (as "
                                  "caddm-analyze --landmarks). Scores do not change.")
        self.face_detector = QComboBox()
        for key, label in DETECTOR_LABELS.items():
            self.face_detector.addItem(label, key)
        self.face_detector.setCurrentIndex(max(0, self.face_detector.findData(prefs.face_detector)))
        self.face_detector.setToolTip("Which detector finds the faces (as caddm-analyze --detector). RetinaFace finds "
                                      "dim, turned and degraded faces dlib misses; dlib HOG is the detector of "
                                      "results made before it. Crops come from the 68 landmarks either way.")
        abox = QGroupBox("Analysis")
        af = QFormLayout(abox)
        af.addRow("Device", self.device)
        af.addRow("Frames", frames_row)
        af.addRow("Threshold P(fake)", threshold_row)
        af.addRow("", self.auto)
        af.addRow("", self.identity)
        af.addRow("Landmarks kept", self.landmarks)
        af.addRow("Face detector", self.face_detector)

        # overlays
        self.overlays = {}
        obox = QGroupBox("Overlays on the frame and the timeline")
        ol = QHBoxLayout(obox)
        names = {"faces": "Face boxes", "artifacts": "Artifact boxes", "landmarks": "Landmarks", "labels": "Scores",
                 "identity": "Identity curve"}
        for name in OVERLAYS:
            cb = QCheckBox(names[name])
            cb.setChecked(prefs.overlays.get(name, True))
            self.overlays[name] = cb
            ol.addWidget(cb)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        for w in (mbox, abox, obox):
            lay.addWidget(w)
        lay.addWidget(buttons)

    def _kind_changed(self, *_args) -> None:
        is_file = self.model_kind.currentData() == "file"
        self.model_path.setEnabled(is_file)

    def chosen_model_threshold(self) -> float:
        """The calibrated threshold of the model chosen in the dialog (header read only; 0.5 without one)."""
        path = self.model_path.text().strip() if self.model_kind.currentData() == "file" else ""
        return model_default_threshold(path or None)

    def _threshold_mode_changed(self, *_args) -> None:
        if not hasattr(self, "use_model_threshold"):
            return
        by_model = self.use_model_threshold.isChecked()
        self.threshold.setEnabled(not by_model)
        self.threshold.setValue(self.chosen_model_threshold() if by_model else self.prefs.threshold)

    def _mode_changed(self, *_args) -> None:
        mode = self.frame_mode.currentData()
        self.frame_value.setEnabled(mode != "all")
        self.frame_value.setPrefix("N = " if mode == "count" else "k = ")

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a checkpoint", os.path.dirname(self.model_path.text()),
                                              "Checkpoints (*.safetensors *.pkl *.pth *.pt);;All files (*)")
        if path:
            self.model_path.setText(path)
            self.model_kind.setCurrentIndex(1)
            self.show_metadata()

    def show_metadata(self) -> TaskWorker:
        """Read the chosen checkpoint's metadata in a worker; the text box shows it when ready (a newer request
        replaces an older one's answer). Returns the worker."""
        path = self.model_path.text().strip() if self.model_kind.currentData() == "file" else ""
        self._meta_gen += 1
        gen = self._meta_gen
        self.meta.setPlainText("Reading the checkpoint...")
        w = TaskWorker(lambda: describe_checkpoint(path or None), "describe-checkpoint")
        w.succeeded.connect(lambda text, g=gen: g == self._meta_gen and self.meta.setPlainText(text))
        w.failed.connect(lambda msg, g=gen: g == self._meta_gen and self.meta.setPlainText(f"Cannot load: {msg}"))
        self._meta_workers.add(w)
        w.finished.connect(lambda w=w: self._meta_workers.discard(w))
        w.start()
        return w

    def done(self, r: int) -> None:
        for w in list(self._meta_workers):  # a closing dialog waits for a metadata read still running
            w.wait()
        super().done(r)

    def result_prefs(self) -> Preferences:
        p = self.prefs
        p.model_path = self.model_path.text().strip() if self.model_kind.currentData() == "file" else ""
        p.device = self.device.currentData()
        p.frame_mode = self.frame_mode.currentData()
        p.frame_value = self.frame_value.value()
        p.model_threshold = self.use_model_threshold.isChecked()
        if not p.model_threshold:
            p.threshold = self.threshold.value()
        p.auto_analyse = self.auto.isChecked()
        p.identity = self.identity.isChecked()
        p.landmarks = self.landmarks.currentData()
        p.face_detector = self.face_detector.currentData()
        p.overlays = {n: cb.isChecked() for n, cb in self.overlays.items()}
        return p
