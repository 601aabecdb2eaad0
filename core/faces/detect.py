"""Face detection with dlib's HOG detector on a downscaled copy of the frame.

`FaceDetector.detect(image_bgr (H, W, 3) uint8 BGR, or (H, W) grey) -> list[Detection]`, sorted by score,
highest first. Boxes are xyxy float in **full-resolution frame pixels** (x to the right, y down), whatever
the downscaling used to find them. HOG also returns low-score false hits: scores are kept so callers can
threshold later (`threshold` here is dlib's `adjust_threshold`; 0 is dlib's default operating point).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Detection:
    """One face: box = (x0, y0, x1, y1) float frame pixels, score = dlib's HOG detection score."""

    box: tuple[float, float, float, float]
    score: float

    def as_array(self) -> np.ndarray:
        return np.asarray(self.box, dtype=np.float64)


def to_dlib_image(image: np.ndarray) -> np.ndarray:
    """BGR (H, W, 3) or grey (H, W) uint8 -> contiguous RGB / grey uint8 as dlib wants it."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"image must be uint8, not {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 3:
        return np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    if img.ndim == 3 and img.shape[2] == 4:
        return np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGRA2RGB))
    if img.ndim == 2:
        return np.ascontiguousarray(img)
    raise ValueError(f"image must be (H, W, 3) BGR or (H, W) grey, not shape {img.shape}")


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

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        img = to_dlib_image(image_bgr)
        h, w = img.shape[:2]
        scale = 1.0
        if self.max_side is not None and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            # Exact per-axis factors after rounding the size.
            sx, sy = w / size[0], h / size[1]
        else:
            sx = sy = 1.0
        rects, scores, _ = self._detector.run(img, self.upsample, self.threshold)
        out = []
        for r, s in zip(rects, scores):
            # dlib rectangles are inclusive pixel indices: right/bottom + 1 gives the exclusive edge.
            box = (r.left() * sx, r.top() * sy, (r.right() + 1) * sx, (r.bottom() + 1) * sy)
            out.append(Detection(box=tuple(float(v) for v in box), score=float(s)))
        out.sort(key=lambda d: -d.score)
        return out
