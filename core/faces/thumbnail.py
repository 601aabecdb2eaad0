"""Regions around face boxes and plain face thumbnails (nothing drawn): the identity thumbnails of the reference,
the reports and the app, and the close-up regions of the report figures. Boxes are xyxy frame pixels."""
from __future__ import annotations

import math

import cv2
import numpy as np


def box_region(boxes, width: int, height: int, margin: float = 0.35) -> tuple[int, ...] | None:
    """xyxy frame px of a square-ish region around `boxes` ((N, 4) xyxy frame px): their union grown by `margin` of
    its size on each side, clipped to the frame; None when empty."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not len(b):
        return None
    x0, y0 = b[:, 0].min(), b[:, 1].min()
    x1, y1 = b[:, 2].max(), b[:, 3].max()
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hw = max(side, (x1 - x0) * (1 + 2 * margin)) / 2
    hh = max(side, (y1 - y0) * (1 + 2 * margin)) / 2
    r = (int(max(0, math.floor(cx - hw))), int(max(0, math.floor(cy - hh))),
         int(min(width, math.ceil(cx + hw))), int(min(height, math.ceil(cy + hh))))
    return r if r[2] > r[0] and r[3] > r[1] else None


def face_thumbnail(frame_bgr: np.ndarray, box, side: int = 112, margin: float = 0.2) -> np.ndarray | None:
    """A plain crop (nothing drawn) around one face box (xyxy frame px) grown by `margin` on each side, scaled so
    its longer side is `side` px: BGR uint8, or None when the box lies outside the frame. The identity thumbnails
    of the reports and the app."""
    h, w = frame_bgr.shape[:2]
    region = box_region([box], w, h, margin)
    if region is None:
        return None
    x0, y0, x1, y1 = region
    crop = frame_bgr[y0:y1, x0:x1]
    zoom = side / max(crop.shape[:2])
    size = (max(1, int(round(crop.shape[1] * zoom))), max(1, int(round(crop.shape[0] * zoom))))
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA if zoom < 1 else cv2.INTER_CUBIC)
