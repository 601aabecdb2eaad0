"""The analyst's settings, remembered between sessions in QSettings.

`Preferences.load(qsettings)` / `.save(qsettings)`; the app uses `QSettings("caddm-inspector", "caddm-gui")`,
tests pass an INI file of their own (`QSettings(path, QSettings.IniFormat)`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

from PySide6.QtCore import QSettings

from core.model.device import DEVICE_CHOICES
from core.faces.detector_choice import DEFAULT_DETECTOR, DETECTORS
from core.faces.landmark_sets import DEFAULT_LANDMARK_KEEP, LANDMARK_KEEP
from core.media.frames import MODES, FrameSelection

OVERLAYS = ("faces", "artifacts", "landmarks", "labels", "identity")  # identity: the timeline's identity curve
MAX_RECENT = 10
LISTS = ("recent", "recent_cases")   # the recent videos and case files, newest first


def default_overlays() -> dict[str, bool]:
    return {"faces": True, "artifacts": True, "landmarks": False, "labels": True, "identity": True}


@dataclass
class Preferences:
    model_path: str = ""          # "" = the bundled default model
    device: str = "auto"          # one of core.model.device.DEVICE_CHOICES
    frame_mode: str = "count"     # one of core.media.frames.MODES (see FrameSelection)
    frame_value: int = 32
    threshold: float = 0.5        # the analyst's own threshold, used when model_threshold is off
    model_threshold: bool = True  # use the model's calibrated threshold (its card; 0.5 without one)
    auto_analyse: bool = False
    identity: bool = True         # identity descriptors (AnalysisOptions.identity; off = caddm-analyze --no-identity)
    landmarks: str = DEFAULT_LANDMARK_KEEP  # what results keep of each face (AnalysisOptions.landmarks)
    face_detector: str = DEFAULT_DETECTOR  # one of core.faces.detector_choice.DETECTORS (caddm-analyze --detector)
    overlays: dict[str, bool] = field(default_factory=default_overlays)
    recent: list[str] = field(default_factory=list)
    recent_cases: list[str] = field(default_factory=list)
    export_dir: str = ""
    analyst: str = ""

    def frame_selection(self) -> FrameSelection:
        return FrameSelection(self.frame_mode, max(1, int(self.frame_value)))

    def model_arg(self) -> str | None:
        """What `core.analysis.runner.load_predictor` takes: None for the bundled default."""
        return self.model_path or None

    def add_recent(self, path: str, kind: str = "recent") -> None:
        """Put `path` first in a recent list: "recent" (videos) or "recent_cases"."""
        setattr(self, kind, ([path] + [p for p in getattr(self, kind) if p != path])[:MAX_RECENT])

    # -- QSettings ---------------------------------------------------------------------------------------------
    @classmethod
    def load(cls, s: QSettings) -> "Preferences":
        p = cls()
        for f in fields(cls):
            if f.name in ("overlays",) + LISTS:
                continue
            default = getattr(p, f.name)
            value = s.value(f.name, default)
            try:
                if isinstance(default, bool):
                    value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
                else:
                    value = type(default)(value)
            except (TypeError, ValueError):
                value = default
            setattr(p, f.name, value)
        for name in OVERLAYS:
            v = s.value(f"overlays/{name}", p.overlays[name])
            p.overlays[name] = v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes")
        for name in LISTS:
            v = s.value(name, [])
            setattr(p, name, [v] if isinstance(v, str) else [str(r) for r in (v or [])])
        if p.frame_mode not in MODES:
            p.frame_mode = "count"
        if p.device not in DEVICE_CHOICES:
            p.device = "auto"
        if p.landmarks not in LANDMARK_KEEP:
            p.landmarks = DEFAULT_LANDMARK_KEEP
        if p.face_detector not in DETECTORS:
            p.face_detector = DEFAULT_DETECTOR
        p.threshold = min(1.0, max(0.0, p.threshold))
        p.frame_value = max(1, p.frame_value)
        return p

    def save(self, s: QSettings) -> None:
        for f in fields(self):
            if f.name in ("overlays",) + LISTS:
                continue
            s.setValue(f.name, getattr(self, f.name))
        for name, on in self.overlays.items():
            s.setValue(f"overlays/{name}", bool(on))
        for name in LISTS:
            s.setValue(name, list(getattr(self, name)))
        s.sync()


def app_settings() -> QSettings:
    return QSettings(QSettings.IniFormat, QSettings.UserScope, "caddm-inspector", "caddm-gui")
