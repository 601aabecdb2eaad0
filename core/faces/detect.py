"""Face detection: dlib's HOG detector on a downscaled copy of the frame, optionally on an exposure-normalised copy,
and dlib's MMOD CNN detector (slower, finds dim, small and turned faces HOG misses) as a fallback.

`FaceDetector.detect(image_bgr (H, W, 3) uint8 BGR, or (H, W) grey) -> list[Detection]`, sorted by score,
highest first. Boxes are xyxy float in **full-resolution frame pixels** (x to the right, y down), whatever
the downscaling used to find them. HOG also returns low-score false hits: scores are kept so callers can
threshold later (`threshold` here is dlib's `adjust_threshold`; 0 is dlib's default operating point).

Exposure normalisation (`normalise_exposure`) is applied to the detector's own downscaled copy only: the frame passed
in is never modified, so the crops the model scores are cut from the untouched frame.

`CnnFaceDetector` (dlib MMOD, `mmod_human_face_detector.dat` from face-recognition-models) returns boxes in the same
convention as HOG's: MMOD boxes sit higher and are a little smaller than HOG boxes on the same face, so each box is
moved by `CNN_TO_HOG` (measured on faces both detectors find, docs/DETECTION.md) before it is returned, and the
68-point landmark fit (trained on HOG-like boxes) starts from the same place. Its score is MMOD's confidence, like
HOG's a detection margin with 0 at dlib's operating point (real faces ~0.7 to 1.3, HOG's ~0.4 to 3), compared with
the same threshold.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.faces.dlib_models import to_dlib_image


@dataclass(frozen=True)
class Detection:
    """One face: box = (x0, y0, x1, y1) float frame pixels; score = the detector's (HOG's or MMOD's margin, 0 at
    dlib's operating point; RetinaFace's face probability); points = RetinaFace's 5 points ((x, y) frame px: eyes,
    nose, mouth corners), None from dlib's detectors."""

    box: tuple[float, float, float, float]
    score: float
    points: tuple[tuple[float, float], ...] | None = None

    def as_array(self) -> np.ndarray:
        return np.asarray(self.box, dtype=np.float64)


STRETCH_PERCENTILES = (0.5, 99.5)  # luma percentiles mapped to 0 and 255 by the exposure normalisation
MAX_GAIN = 8.0  # at most this linear gain (noise grows with it)


def normalise_exposure(image: np.ndarray) -> np.ndarray:
    """An exposure-normalised copy for detection only: one linear map, the same for every channel, that takes the
    luma's STRETCH_PERCENTILES to 0 and 255 (gain at most MAX_GAIN). Linear on purpose: HOG's block normalisation
    ignores gain only up to its epsilon, so a dim face's weak gradients come back with a gain, while a gamma (which
    bends the gradients) or CLAHE (which lifts the noise) lost faces in the bench (docs/DETECTION.md).
    RGB (H, W, 3) or grey (H, W) uint8 in (dlib's order), a new array out; the input is never modified."""
    img = np.asarray(image)
    luma = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    lo, hi = np.percentile(luma, STRETCH_PERCENTILES)
    gain = min(MAX_GAIN, 255.0 / max(float(hi - lo), 1.0))
    lut = np.clip(np.rint((np.arange(256, dtype=np.float64) - lo) * gain), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(cv2.LUT(img, lut))


def _downscaled(img: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float, float]:
    """(copy whose longer side is at most max_side (INTER_AREA), x factor, y factor back to the original)."""
    h, w = img.shape[:2]
    if max_side is not None and max(h, w) > max_side:
        scale = max_side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        # Exact per-axis factors after rounding the size.
        return cv2.resize(img, size, interpolation=cv2.INTER_AREA), w / size[0], h / size[1]
    return img, 1.0, 1.0


class DetectionCopies:
    """The detectors' inputs for one frame, each made once however many detectors look: `get(max_side, normalise)`
    -> (dlib RGB/grey copy whose longer side is at most max_side, x factor, y factor back to frame pixels), plain or
    exposure-normalised. The frame is downscaled before its channels are reordered (the same pixels, less work)."""

    def __init__(self, image_bgr: np.ndarray):
        self.image = np.asarray(image_bgr)
        self._made: dict[tuple[int | None, bool], tuple[np.ndarray, float, float]] = {}

    def get(self, max_side: int | None, normalise: bool = False) -> tuple[np.ndarray, float, float]:
        key = (max_side, bool(normalise))
        if key not in self._made:
            if normalise:
                img, sx, sy = self.get(max_side)
                self._made[key] = (normalise_exposure(img), sx, sy)
            else:
                small, sx, sy = _downscaled(self.image, max_side)
                self._made[key] = (to_dlib_image(small), sx, sy)
        return self._made[key]


class FaceDetector:
    """dlib frontal-face HOG detector.

    max_side: the frame is downscaled (INTER_AREA) so its longer side is at most this many pixels before
    detection (None: full size); upsample: dlib's upsampling count (each doubles the size, ~4x the cost);
    threshold: dlib's adjust_threshold (lower finds more, and more false hits).
    """

    def __init__(self, max_side: int | None = 640, upsample: int = 0, threshold: float = 0.0):
        import dlib

        if max_side is not None and int(max_side) < 32:
            raise ValueError(f"max_side must be >= 32 or None, not {max_side}")
        self.max_side = None if max_side is None else int(max_side)
        self.upsample = int(upsample)
        self.threshold = float(threshold)
        self._detector = dlib.get_frontal_face_detector()

    def detect(self, image_bgr: np.ndarray | DetectionCopies, normalise: bool = False) -> list[Detection]:
        """normalise: detect on an exposure-normalised copy (`normalise_exposure`) of the downscaled frame. Pass a
        frame's `DetectionCopies` when several detectors look at it, so each copy is made once."""
        copies = image_bgr if isinstance(image_bgr, DetectionCopies) else DetectionCopies(image_bgr)
        img, sx, sy = copies.get(self.max_side, normalise)
        rects, scores, _ = self._detector.run(img, self.upsample, self.threshold)
        out = []
        for r, s in zip(rects, scores):
            # dlib rectangles are inclusive pixel indices: right/bottom + 1 gives the exclusive edge.
            box = (r.left() * sx, r.top() * sy, (r.right() + 1) * sx, (r.bottom() + 1) * sy)
            out.append(Detection(box=tuple(float(v) for v in box), score=float(s)))
        out.sort(key=lambda d: -d.score)
        return out


# MMOD box -> HOG box, in units of the MMOD box's width (x) and height (y): [dx0, dy0, dx1, dy1], the median over
# faces both detectors find (bench/detector_recall.py --offsets; docs/DETECTION.md).
CNN_TO_HOG = (0.017, 0.094, 0.012, 0.088)
CNN_MODEL_NAME = "mmod_human_face_detector.dat"


class CnnFaceDetector:
    """dlib's MMOD CNN face detector on a copy downscaled to `max_side` (CPU: about 1 to 2 s a 640x360 frame).
    Boxes are mapped to the HOG convention (`CNN_TO_HOG`) in full-resolution frame pixels; detections scoring below
    `threshold` are dropped (MMOD's confidence; the same cut-off as HOG's score)."""

    def __init__(self, max_side: int | None = 640, upsample: int = 0, threshold: float = 0.0,
                 model_path: str | None = None, map_to_hog: bool = True):
        import dlib

        from core.faces.dlib_models import load_dlib_model, packaged_model_path

        if max_side is not None and int(max_side) < 32:
            raise ValueError(f"max_side must be >= 32 or None, not {max_side}")
        self.max_side = None if max_side is None else int(max_side)
        self.upsample = int(upsample)
        self.threshold = float(threshold)
        self.map_to_hog = bool(map_to_hog)  # False: MMOD's own boxes (for measuring CNN_TO_HOG)
        path = model_path or packaged_model_path(CNN_MODEL_NAME, "CNN face detector")
        self._detector = load_dlib_model(dlib.cnn_face_detection_model_v1, path, "CNN face detector",
                                         "dlib MMOD detector")

    def detect(self, image_bgr: np.ndarray | DetectionCopies, normalise: bool = False) -> list[Detection]:
        copies = image_bgr if isinstance(image_bgr, DetectionCopies) else DetectionCopies(image_bgr)
        img, sx, sy = copies.get(self.max_side, normalise)
        out = []
        for d in self._detector(img, self.upsample):
            if d.confidence < self.threshold:
                continue
            r = d.rect
            x0, y0, x1, y1 = r.left(), r.top(), r.right() + 1, r.bottom() + 1
            w, h = x1 - x0, y1 - y0
            a, b, c, e = CNN_TO_HOG if self.map_to_hog else (0.0, 0.0, 0.0, 0.0)
            box = ((x0 + a * w) * sx, (y0 + b * h) * sy, (x1 + c * w) * sx, (y1 + e * h) * sy)
            out.append(Detection(box=tuple(float(v) for v in box), score=float(d.confidence)))
        out.sort(key=lambda d: -d.score)
        return out
