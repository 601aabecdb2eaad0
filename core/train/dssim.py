"""Structural dissimilarity (DSSIM) maps and a vectorised sliding-window search.

Used by the multi-scale facial swap (`core.train.mfs`) to find where a fake face differs most from its source.

Conventions
- Images are ``(H, W)`` or ``(H, W, C)`` arrays of any numeric dtype on the 0..255 scale (BGR uint8 crops in
  practice); both images of a pair have the same shape.
- ``dssim_map`` follows the CADDM authors: SSIM with an 11x11 Gaussian window (sigma 1.5), C1=(0.01*255)^2,
  C2=(0.03*255)^2, computed per channel in float64 with OpenCV's default border (reflect-101), and
  ``DSSIM = |1 - SSIM| / 2``. The result keeps the channel axis: ``(H, W, C)`` (a 2-D input gives ``(H, W, 1)``;
  the authors stack a grey map three times, which scales every window score by 3 and changes no argmax).
- Windows are given as ``window_hw = (h, w)`` (height first, as the authors' config ``sliding_win``) and returned
  as **xyxy** ``(x0, y0, x1, y1)`` in the image's pixel edges: columns ``x0..x1-1`` and rows ``y0..y1-1``.
- ``valid_mask`` (``(H, W)``, nonzero = inside the face hull) zeroes the DSSIM outside the face before the
  search, as the authors do; windows therefore maximise the dissimilarity that lies inside the face.
- ``stride`` is the step of the window's top-left corner (an int or ``(sy, sx)``). The authors use
  ``(H // 5, W // 5)``: see :func:`authors_stride`. Ties go to the first window in row-major order (smallest
  ``y0``, then smallest ``x0``), which is what the authors' strict ``>`` loop keeps. "Tie" means equal up to
  float noise (``TIE_RTOL`` of the best sum): a window larger than the changed region has many positions
  that contain all of it, and their sums differ only by rounding, so a plain argmax would pick one of them
  by noise. Sums at or below ``ZERO_ATOL`` count as "no difference".
"""
from __future__ import annotations

import cv2
import numpy as np

TIE_RTOL = 1e-9
ZERO_ATOL = 1e-7
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


def _as_hwc(img: np.ndarray, dtype) -> np.ndarray:
    a = np.asarray(img, dtype=dtype)
    return a[:, :, None] if a.ndim == 2 else a


def _gauss(a: np.ndarray) -> np.ndarray:
    # The authors filter with filter2D and the outer product of getGaussianKernel(11, 1.5); the separable
    # GaussianBlur uses the same kernel (equal up to float rounding) and is several times faster.
    out = cv2.GaussianBlur(a, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT_101)
    return out[:, :, None] if out.ndim == 2 else out


def dssim_map(img1: np.ndarray, img2: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Per-pixel, per-channel DSSIM ``(H, W, C)`` in [0, 1] (see the module docstring)."""
    a = _as_hwc(img1, dtype)
    b = _as_hwc(img2, dtype)
    if a.shape != b.shape:
        raise ValueError(f"dssim_map: shapes differ {a.shape} vs {b.shape}")
    mu1, mu2 = _gauss(a), _gauss(b)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s1 = _gauss(a * a) - mu1_sq
    s2 = _gauss(b * b) - mu2_sq
    s12 = _gauss(a * b) - mu12
    ssim = ((2 * mu12 + _C1) * (2 * s12 + _C2)) / ((mu1_sq + mu2_sq + _C1) * (s1 + s2 + _C2))
    return np.abs((1.0 - ssim) / 2.0)


def dssim(img1: np.ndarray, img2: np.ndarray) -> float:
    """Mean DSSIM of two images (a scalar in [0, 1]; 0 for identical images)."""
    return float(dssim_map(img1, img2).mean())


def authors_stride(shape_hw: tuple[int, int]) -> tuple[int, int]:
    """The authors' window step for an image of ``(H, W)``: ``(H // 5, W // 5)`` (44 px on a 224 crop)."""
    h, w = int(shape_hw[0]), int(shape_hw[1])
    return max(h // 5, 1), max(w // 5, 1)


def window_sums(score: np.ndarray, window_hw: tuple[int, int]) -> np.ndarray:
    """Sum of ``score`` (``(H, W)`` or ``(H, W, C)``, channels summed) over every ``h x w`` window.

    Returns ``(H - h + 1, W - w + 1)`` float64: entry ``[y, x]`` is the window with top-left ``(x, y)``.
    Computed from a summed-area table (``cv2.integral``), O(H*W) whatever the window size.
    """
    s = np.asarray(score, dtype=np.float64)
    if s.ndim == 3:
        s = s.sum(axis=2)
    h, w = int(window_hw[0]), int(window_hw[1])
    H, W = s.shape
    if not (0 < h <= H and 0 < w <= W):
        raise ValueError(f"window {h}x{w} does not fit in a {H}x{W} image")
    ii = cv2.integral(s, sdepth=cv2.CV_64F)  # (H+1, W+1), ii[y, x] = sum of s[:y, :x]
    return ii[h:, w:] - ii[:-h, w:] - ii[h:, :-w] + ii[:-h, :-w]


def best_window_in_map(
    score: np.ndarray,
    window_hw: tuple[int, int],
    valid_mask: np.ndarray | None = None,
    stride: int | tuple[int, int] = 1,
) -> tuple[tuple[int, int, int, int], float]:
    """Window of ``window_hw`` maximising the summed ``score``; returns ``((x0, y0, x1, y1), window_sum)``.

    ``score`` is ``(H, W)`` or ``(H, W, C)``; values where ``valid_mask == 0`` count as zero. When no window
    sums above ``ZERO_ATOL`` (identical images), the first window ``(0, 0, w, h)`` is returned with sum 0.
    """
    s = np.asarray(score, dtype=np.float64)
    if valid_mask is not None:
        m = np.asarray(valid_mask) != 0
        if m.shape != s.shape[:2]:
            raise ValueError(f"valid_mask shape {m.shape} does not match image {s.shape[:2]}")
        s = s * (m[:, :, None] if s.ndim == 3 else m)
    sy, sx = (int(stride), int(stride)) if np.isscalar(stride) else (int(stride[0]), int(stride[1]))
    if sy < 1 or sx < 1:
        raise ValueError(f"stride must be >= 1, not {stride}")
    sums = window_sums(s, window_hw)[::sy, ::sx]
    h, w = int(window_hw[0]), int(window_hw[1])
    top = float(sums.max())
    if not top > ZERO_ATOL:
        return (0, 0, w, h), 0.0
    # first window (row-major) within float noise of the maximum
    k = int(np.argmax(sums.ravel() >= top - TIE_RTOL * top))
    iy, ix = divmod(k, sums.shape[1])
    best = float(sums[iy, ix])
    y0, x0 = iy * sy, ix * sx
    return (x0, y0, x0 + w, y0 + h), best


def best_window(
    fake: np.ndarray,
    source: np.ndarray,
    window_hw: tuple[int, int],
    valid_mask: np.ndarray | None = None,
    stride: int | tuple[int, int] = 1,
) -> tuple[int, int, int, int]:
    """xyxy window ``(x0, y0, x1, y1)`` of size ``window_hw = (h, w)`` maximising DSSIM(fake, source) inside it.

    ``valid_mask`` (face hull, nonzero inside) zeroes the DSSIM outside the face; ``stride`` as in the module
    docstring (1 = every position; :func:`authors_stride` for the authors' coarse grid).
    """
    box, _ = best_window_in_map(dssim_map(fake, source), window_hw, valid_mask, stride)
    return box
