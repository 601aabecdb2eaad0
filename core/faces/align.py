"""Five-point face alignment to the model's crop (the CADDM authors' alignment), and the way back to the frame.

Coordinates: points are `(x, y)` with x to the right and y down. **Frame pixels** are the full-resolution
video frame; **crop pixels** are the `canvas x canvas` (224x224) aligned face the model sees. A pixel's
coordinate refers to its centre, as in `cv2.warpAffine` (pixel (0, 0) covers [-0.5, 0.5]).

An alignment is a 2x3 affine matrix `M` (float64) mapping frame pixels to crop pixels:
`crop_xy = M[:, :2] @ frame_xy + M[:, 2]`. At test time (the default `AlignParams`) it is a similarity: the
least-squares fit of five landmark points (eye centres, nose tip, mouth corners) to the authors' mean face,
exactly as their `align_5p` computes it (including their truncation of the eye centres to whole pixels, which
moves a crop by up to one frame pixel; matching it keeps crops identical to those their weights were trained
and tested on: the fixture crop is reproduced to within one grey level). Training adds a random scale, shift, rotation about the crop centre
and a small stretch (`AlignParams.random`).

Deviation from the authors, by design: their stretch (p=0.2, 0.97-1.03) maps the four eye/mouth points with a
perspective transform; here it is replaced by the least-squares affine fit of the same four point pairs, so
every alignment stays a 2x3 affine that can be inverted exactly. With stretch (1, 1), the default and 80% of
the training draws, the two are identical.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# The authors' mean face: left eye, right eye, nose tip, left and right mouth corner, in face-width units
# centred on the face (their cropface.MEAN_FACE).
MEAN_FACE = np.array([
    [-0.17607, -0.172844],
    [0.1736, -0.17356],
    [-0.00182, 0.0357164],
    [-0.14617, 0.20185],
    [0.14496, 0.19943],
], dtype=np.float64)


def five_points(landmarks68: np.ndarray, truncate_eyes: bool = False) -> np.ndarray:
    """(68, 2) dlib landmarks -> (5, 2) float64: left eye centre (mean of 36-41), right eye centre (mean of
    42-47), nose tip (30), left mouth corner (48), right mouth corner (54), in the landmarks' coordinates.

    `truncate_eyes=True` reproduces the authors' code, which casts the eye centres to int (truncation toward
    zero); the alignment uses it so crops match the ones their models were trained and tested on.
    """
    ld = np.asarray(landmarks68, dtype=np.float64)
    if ld.shape != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2), not {ld.shape}")
    left = ld[36:42].mean(axis=0)
    right = ld[42:48].mean(axis=0)
    if truncate_eyes:
        left, right = np.trunc(left), np.trunc(right)
    return np.stack([left, right, ld[30], ld[48], ld[54]])


@dataclass(frozen=True)
class AlignParams:
    """How a face is placed on the crop. The defaults are the authors' test-time alignment.

    canvas: crop side in pixels; face_width: their face-width parameter (80); scale: multiplies the mean face
    (0.9 at test); shift: (dx, dy) crop pixels added after the fit; rotation_deg: rotation about the crop
    centre, counter-clockwise on screen for positive values (OpenCV convention); stretch: (sa, sb), the
    authors' eye/mouth stretch factors (1 = none).
    """

    canvas: int = 224
    face_width: float = 80.0
    scale: float = 0.9
    shift: tuple[float, float] = (0.0, 0.0)
    rotation_deg: float = 0.0
    stretch: tuple[float, float] = (1.0, 1.0)

    @classmethod
    def random(cls, rng: np.random.Generator, canvas: int = 224, face_width: float = 80.0) -> "AlignParams":
        """The authors' training distribution: scale N(0.9, 0.1), shift uniform +-25 px in x and y, rotation
        30*u^3 degrees with u uniform in [-1, 1], and each stretch factor uniform in [0.97, 1.03] with p=0.2."""
        scale = float(rng.normal(0.9, 0.1))
        shift = (float(rng.uniform(-25, 25)), float(rng.uniform(-25, 25)))
        rotation = float(30.0 * rng.uniform(-1, 1) ** 3)
        sa = float(rng.uniform(0.97, 1.03)) if rng.random() > 0.8 else 1.0
        sb = float(rng.uniform(0.97, 1.03)) if rng.random() > 0.8 else 1.0
        return cls(canvas=canvas, face_width=face_width, scale=scale, shift=shift, rotation_deg=rotation,
                   stretch=(sa, sb))


def mean_face(params: AlignParams = AlignParams()) -> np.ndarray:
    """(5, 2) float64 target positions of the five points in crop pixels (the authors' get_mean_face)."""
    mf = MEAN_FACE * params.scale
    c = float(params.canvas)
    ratio = params.face_width / (c * 0.34967)
    ratio_y = (mf[0, 1] * ratio + 0.5) * (1 + 1.42)
    out = np.empty_like(mf)
    out[:, 0] = (mf[:, 0] * ratio + 0.5) * c
    out[:, 1] = (mf[:, 1] * ratio + 0.5) * c / ratio_y
    return out


def _similarity_lstsq(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(2, 3) least-squares similarity (rotation, uniform scale, translation; no reflection) src -> dst."""
    ms, md = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - ms, dst - md
    c1 = (d[:, 0] * s[:, 0] + d[:, 1] * s[:, 1]).sum()
    c2 = (d[:, 0] * s[:, 1] - d[:, 1] * s[:, 0]).sum()
    c3 = (s ** 2).sum()
    if c3 <= 0:
        raise ValueError("landmarks are degenerate (all five points coincide)")
    a, b = c1 / c3, c2 / c3
    return np.array([[a, b, md[0] - a * ms[0] - b * ms[1]],
                     [-b, a, md[1] - a * ms[1] + b * ms[0]]], dtype=np.float64)


def _to3(m: np.ndarray) -> np.ndarray:
    out = np.eye(3)
    out[:2] = m
    return out


def _stretch_matrix(mf: np.ndarray, params: AlignParams) -> np.ndarray:
    """(3, 3) affine: the authors' stretch of eyes/mouth corners plus the shift, fitted by least squares."""
    src = mf[[0, 1, 3, 4]].copy()
    dst = src.copy()

    def stretch(i, j, s):
        m = (dst[i] + dst[j]) * 0.5
        d = (dst[i] - dst[j]) * 0.5
        dst[i], dst[j] = m + d * s, m - d * s

    sa, sb = params.stretch
    if (sa, sb) != (1.0, 1.0):
        stretch(0, 1, sa)
        stretch(2, 3, 1.0 / sa)
        stretch(0, 2, sb)
        stretch(1, 3, 1.0 / sb)
    dst = dst + np.asarray(params.shift, dtype=np.float64)
    if (sa, sb) == (1.0, 1.0):
        out = np.eye(3)
        out[:2, 2] = params.shift
        return out
    a = np.hstack([src, np.ones((4, 1))])
    sol, *_ = np.linalg.lstsq(a, dst, rcond=None)  # (3, 2)
    return _to3(sol.T)


def alignment_matrix(landmarks68: np.ndarray, params: AlignParams = AlignParams(),
                     points5: np.ndarray | None = None) -> np.ndarray:
    """(68, 2) landmarks in frame pixels -> (2, 3) float64 affine mapping frame pixels to crop pixels.
    `points5`: (5, 2) frame px in `five_points`' order (a detector's own points, e.g. RetinaFace's) to align from
    instead of the landmarks' five (eye centres truncated alike)."""
    if points5 is None:
        pts = five_points(landmarks68, truncate_eyes=True)
    else:
        pts = np.array(points5, dtype=np.float64)
        if pts.shape != (5, 2):
            raise ValueError(f"points5 must have shape (5, 2), not {pts.shape}")
        pts[:2] = np.trunc(pts[:2])
    mf = mean_face(params)
    m1 = _to3(_similarity_lstsq(pts, mf))
    c = params.canvas / 2.0
    m2 = _to3(cv2.getRotationMatrix2D((c, c), float(params.rotation_deg), 1.0))
    m3 = _stretch_matrix(mf, params)
    return (m3 @ m2 @ m1)[:2].copy()


def align_face(image_bgr: np.ndarray, landmarks68: np.ndarray, params: AlignParams = AlignParams(),
               points5: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Warp a frame (H, W, 3) uint8 BGR to the aligned crop. Returns (crop (canvas, canvas, 3) uint8, M (2, 3)).

    Bilinear interpolation, black outside the frame (as the authors' warp). `points5`: see `alignment_matrix`.
    """
    m = alignment_matrix(landmarks68, params, points5)
    crop = cv2.warpAffine(image_bgr, m, (params.canvas, params.canvas), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return crop, m


def invert_affine(m: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) affine (e.g. crop -> frame from frame -> crop)."""
    m = np.asarray(m, dtype=np.float64)
    if m.shape != (2, 3):
        raise ValueError(f"affine must have shape (2, 3), not {m.shape}")
    return np.linalg.inv(_to3(m))[:2].copy()


def transform_points(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine to (N, 2) points; returns (N, 2) float64."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    m = np.asarray(m, dtype=np.float64)
    return p @ m[:, :2].T + m[:, 2]


def crop_to_frame(boxes_xyxy_crop: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map (N, 4) xyxy boxes in crop pixels back to the frame through the inverse of `m` (frame -> crop).

    Returns (corners (N, 4, 2) frame pixels in the order top-left, top-right, bottom-right, bottom-left of
    the crop box, i.e. a possibly rotated quadrilateral; boxes (N, 4) their axis-aligned xyxy bounds).
    """
    b = np.asarray(boxes_xyxy_crop, dtype=np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    corners = np.stack([np.stack([x0, y0], -1), np.stack([x1, y0], -1),
                        np.stack([x1, y1], -1), np.stack([x0, y1], -1)], axis=1)  # (N, 4, 2)
    inv = invert_affine(m)
    frame = transform_points(corners.reshape(-1, 2), inv).reshape(-1, 4, 2)
    bounds = np.concatenate([frame.min(axis=1), frame.max(axis=1)], axis=1) if len(b) else np.zeros((0, 4))
    return frame, bounds
