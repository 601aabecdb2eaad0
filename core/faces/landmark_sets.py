"""Which landmarks an analysis result keeps of each face (`AnalysisOptions.landmarks`, `caddm-analyze --landmarks`):
nothing, five points, or all 68 (iBUG 300-W). Numpy only, so that the command line imports it cheaply."""
from __future__ import annotations

import numpy as np

LANDMARK_KEEP = ("none", "5", "68")
DEFAULT_LANDMARK_KEEP = "5"
#: What a menu calls each choice.
LANDMARK_LABELS = {"5": "5 points (eyes, nose, mouth corners)", "68": "all 68 points (larger results)",
                   "none": "none (smallest results)"}
FIVE_POINT_NAMES = ("left eye", "right eye", "nose tip", "mouth left", "mouth right")  # image left/right


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """(68, 2) iBUG points -> (5, 2): the two eye centres (means of points 36-41 and 42-47), the nose tip (30) and
    the mouth corners (48, 54), in the same coordinates (the usual 5-point face layout, image left first)."""
    lm = np.asarray(landmarks68, np.float64)
    return np.stack([lm[36:42].mean(0), lm[42:48].mean(0), lm[30], lm[48], lm[54]])


def keep_landmarks(landmarks68: np.ndarray | None, keep: str) -> np.ndarray | None:
    """What a result stores of (68, 2) landmarks for `keep` in LANDMARK_KEEP: None, (5, 2) or (68, 2)."""
    if keep not in LANDMARK_KEEP:
        raise ValueError(f"landmarks: choose from {', '.join(LANDMARK_KEEP)}, not {keep!r}")
    if landmarks68 is None or keep == "none":
        return None
    return five_points(landmarks68) if keep == "5" else np.asarray(landmarks68)
