"""Multi-scale facial swap (MFS, CADDM paper section 3.3) and a self-blended variant, on aligned face crops.

Everything here works on the **aligned 224x224 crop** (see ``core.faces.align``):
- images are BGR ``uint8`` ``(224, 224, 3)``;
- landmarks are the 68 dlib points ``(68, 2)`` float ``[x, y]`` in crop pixels (pixel centres at integers);
- boxes are float32 ``(K, 4)`` **xyxy** ``[x0, y0, x1, y1]`` in crop pixel edges, 0 <= x0 < x1 <= 224
  (the authors' partial boxes come out ``[y0, x0, y1, x1]``; that transposition is not reproduced here);
- windows are ``(h, w)`` (height first, as the authors' ``sliding_win``).

What a fake sample is (``multi_scale_facial_swap``), following the authors' ``prepare_train_input``:
- with ``p_global`` (0.8) a global swap: the face hull mask (convex hull of the landmarks, elastic warp with
  ``p_elastic``, Gaussian blur 5x5 sigma 3) blends the source face onto the fake crop (0.4), the fake face onto
  the source crop (0.2), or leaves the fake crop untouched (0.2); box ``[0, 0, 224, 224]``;
- with ``p_partial`` (0.2) a partial swap: a window size is drawn from ``windows``; the window is the one that
  maximises DSSIM(fake, source) inside the face hull (``core.train.dssim.best_window``); the fake crop is blended
  onto the source crop inside that rectangle; boxes ``[0, 0, 224, 224]`` and the window.
Blending is Poisson (``cv2.seamlessClone``, uint8 mask, centre ``(x, y)`` of the mask's bounding box) with
``p_poisson`` and alpha otherwise; when OpenCV raises, alpha is used and the fallback is counted
(``BLEND_STATS`` and ``MFSSample.blend``).

Differences from the authors, on purpose: the window is searched directly on the aligned crops (the authors
search on a margin-expanded cut of the frame, place it with the unexpanded offset, then re-search the label
on a 44-px grid); the label is therefore exactly the blended rectangle. Every draw comes from the
``numpy.random.Generator`` passed in, so one seed gives bit-identical samples.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import cv2
import numpy as np

from core.train.dssim import best_window_in_map, dssim_map

CROP = 224
FULL_BOX = (0.0, 0.0, float(CROP), float(CROP))

# Blending counters of this process: "poisson", "alpha", "poisson_fallback" (OpenCV raised; alpha used).
BLEND_STATS: Counter = Counter()

# dlib 68-point index of each point's mirror image under a horizontal flip (an involution).
FLIP_PERM_68 = np.array(
    list(range(16, -1, -1))  # jaw 0..16
    + list(range(26, 16, -1))  # eyebrows 17..21 <-> 26..22
    + [27, 28, 29, 30]  # nose bridge
    + [35, 34, 33, 32, 31]  # nostrils
    + [45, 44, 43, 42, 47, 46]  # eye 36..41 <-> 45..42, 47, 46
    + [39, 38, 37, 36, 41, 40]  # eye 42..47
    + [54, 53, 52, 51, 50, 49, 48]  # outer lip top
    + [59, 58, 57, 56, 55]  # outer lip bottom
    + [64, 63, 62, 61, 60]  # inner lip top
    + [67, 66, 65],  # inner lip bottom
    dtype=np.int64,
)


@dataclass(frozen=True)
class MFSConfig:
    """Probabilities and sizes of the swap (defaults: the paper / the authors' code)."""

    p_global: float = 0.8
    p_source_to_fake: float = 0.4  # of all fakes: source face blended onto the fake crop
    p_fake_to_source: float = 0.2  # fake face blended onto the source crop
    p_untouched: float = 0.2  # fake crop as it is
    p_partial: float = 0.2
    windows: tuple[tuple[int, int], ...] = ((40, 80), (80, 120), (120, 160), (224, 224))  # (h, w)
    p_poisson: float = 0.5
    p_elastic: float = 0.5
    elastic_alpha: tuple[int, int] = (300, 500)  # integer drawn inclusive, as random.randint
    elastic_sigma_frac: float = 0.08  # sigma = 0.08 * mask height
    blur_ksize: int = 5
    blur_sigma: float = 3.0
    window_stride: int = 1  # 1 = every position; the authors' label search uses 44 (224 // 5)
    # Self-blended sample (beyond the paper): jitter of the pasted copy of the real face.
    sbi_hue: float = 5.0  # OpenCV hue units (0..180), +-
    sbi_saturation: tuple[float, float] = (0.8, 1.2)
    sbi_brightness: tuple[float, float] = (-20.0, 20.0)  # added, 0..255 scale
    sbi_contrast: tuple[float, float] = (0.85, 1.15)
    sbi_scale: tuple[float, float] = (0.95, 1.05)
    sbi_shift: float = 0.03  # fraction of the crop, +-

    def __post_init__(self):
        if abs(self.p_global + self.p_partial - 1.0) > 1e-6:
            raise ValueError("p_global + p_partial must be 1")
        if abs(self.p_source_to_fake + self.p_fake_to_source + self.p_untouched - self.p_global) > 1e-6:
            raise ValueError("p_source_to_fake + p_fake_to_source + p_untouched must equal p_global")
        if not self.windows or any(h < 1 or w < 1 or h > CROP or w > CROP for h, w in self.windows):
            raise ValueError(f"windows must be (h, w) within {CROP}x{CROP}")


@dataclass
class MFSSample:
    """One training image: ``image`` uint8 (224,224,3) BGR, ``boxes`` float32 (K,4) xyxy crop px, ``label``
    (1 fake, 0 real), ``kind`` (how it was made), ``blend`` ("poisson", "alpha", "poisson_fallback" or "")."""

    image: np.ndarray
    boxes: np.ndarray
    label: int
    kind: str
    blend: str = ""
    landmarks: np.ndarray | None = field(default=None, repr=False)


# ----------------------------------------------------------------------------------------------- masks


def hull_mask(landmarks: np.ndarray, shape_hw: tuple[int, int] = (CROP, CROP)) -> np.ndarray:
    """Filled convex hull of the landmarks: uint8 ``(H, W)``, 255 inside, 0 outside."""
    mask = np.zeros(tuple(int(v) for v in shape_hw[:2]), np.uint8)
    pts = np.round(np.asarray(landmarks, np.float64)).astype(np.int32).reshape(-1, 1, 2)
    hull = cv2.convexHull(pts)
    cv2.fillConvexPoly(mask, hull, 255)
    return mask


def elastic_warp(mask: np.ndarray, rng: np.random.Generator, alpha: float, sigma: float) -> np.ndarray:
    """Elastic deformation (Simard et al.) of a uint8 ``(H, W)`` mask; returns uint8 ``(H, W)``.

    Displacements are uniform(-1, 1) fields smoothed by a Gaussian of ``sigma`` (radius 4 sigma, reflected
    border) times ``alpha``; sampling is bilinear with zeros outside (the authors' scipy calls, in OpenCV).
    """
    h, w = mask.shape[:2]
    radius = int(4.0 * sigma + 0.5)
    k = 2 * radius + 1
    dx = cv2.GaussianBlur(rng.uniform(-1.0, 1.0, (h, w)).astype(np.float32), (k, k), sigma,
                          borderType=cv2.BORDER_REFLECT) * alpha
    dy = cv2.GaussianBlur(rng.uniform(-1.0, 1.0, (h, w)).astype(np.float32), (k, k), sigma,
                          borderType=cv2.BORDER_REFLECT) * alpha
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    out = cv2.remap(mask.astype(np.float32), gx + dx, gy + dy, cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def face_mask(landmarks: np.ndarray, rng: np.random.Generator, cfg: MFSConfig,
              shape_hw: tuple[int, int] = (CROP, CROP)) -> np.ndarray:
    """Hull mask, elastically warped with ``cfg.p_elastic``: uint8 ``(H, W)`` 0/255 (hard, unblurred)."""
    mask = hull_mask(landmarks, shape_hw)
    if rng.random() < cfg.p_elastic:
        alpha = float(rng.integers(cfg.elastic_alpha[0], cfg.elastic_alpha[1] + 1))
        mask = elastic_warp(mask, rng, alpha, mask.shape[0] * cfg.elastic_sigma_frac)
        mask = np.where(mask >= 128, 255, 0).astype(np.uint8)
    return mask


def rect_mask(box_xyxy, shape_hw: tuple[int, int] = (CROP, CROP)) -> np.ndarray:
    """uint8 ``(H, W)`` mask, 255 inside the xyxy rectangle."""
    mask = np.zeros(tuple(int(v) for v in shape_hw[:2]), np.uint8)
    x0, y0, x1, y1 = (int(round(v)) for v in box_xyxy)
    mask[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = 255
    return mask


def soften(mask: np.ndarray, cfg: MFSConfig) -> np.ndarray:
    """Blurred float32 alpha ``(H, W)`` in [0, 1] from a uint8 0/255 mask (Gaussian 5x5, sigma 3)."""
    k = int(cfg.blur_ksize)
    return cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (k, k), cfg.blur_sigma)


# ------------------------------------------------------------------------------------------- blending


def alpha_blend(background: np.ndarray, foreground: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``alpha * foreground + (1 - alpha) * background`` rounded to uint8; ``alpha`` float ``(H, W)`` in [0, 1]."""
    a = alpha.astype(np.float32)[:, :, None]
    out = a * foreground.astype(np.float32) + (1.0 - a) * background.astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def poisson_center(mask: np.ndarray) -> tuple[int, int] | None:
    """``(x, y)`` centre to give ``cv2.seamlessClone`` so the cloned region stays where it is.

    OpenCV ignores the mask's outermost pixel ring, takes the bounding box ``(x, y, w, h)`` of the rest and
    pastes it at ``(cx - w // 2, cy - h // 2)``; so ``cx = x + w // 2``, ``cy = y + h // 2``. None if empty.
    """
    inner = np.zeros_like(mask)
    inner[1:-1, 1:-1] = mask[1:-1, 1:-1]
    x, y, w, h = cv2.boundingRect(inner)
    if w == 0 or h == 0:
        return None
    return x + w // 2, y + h // 2


def poisson_blend(background: np.ndarray, foreground: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``cv2.seamlessClone(foreground, background, mask, centre, NORMAL_CLONE)`` with ``mask`` uint8 ``(H, W)``
    0/255, the foreground kept in place. Raises ``cv2.error``/``ValueError`` when OpenCV cannot do it."""
    m = np.where(mask > 0, 255, 0).astype(np.uint8)
    centre = poisson_center(m)
    if centre is None:
        raise ValueError("empty blending mask")
    return cv2.seamlessClone(np.ascontiguousarray(foreground), np.ascontiguousarray(background), m, centre,
                             cv2.NORMAL_CLONE)


def blend(background: np.ndarray, foreground: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
          cfg: MFSConfig) -> tuple[np.ndarray, str]:
    """Poisson with ``cfg.p_poisson`` else alpha (blurred mask). Returns (image uint8, blend name)."""
    if rng.random() < cfg.p_poisson:
        try:
            out = poisson_blend(background, foreground, mask)
            BLEND_STATS["poisson"] += 1
            return out, "poisson"
        except (cv2.error, ValueError):
            BLEND_STATS["poisson_fallback"] += 1
            return alpha_blend(background, foreground, soften(mask, cfg)), "poisson_fallback"
    BLEND_STATS["alpha"] += 1
    return alpha_blend(background, foreground, soften(mask, cfg)), "alpha"


# ---------------------------------------------------------------------------------------------- samples


def _check_crop(name: str, img: np.ndarray) -> None:
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{name} must be a uint8 (H, W, 3) BGR crop, not {img.dtype} {img.shape}")


def _boxes(*boxes) -> np.ndarray:
    return np.asarray(boxes, np.float32).reshape(-1, 4)


def _partial(background: np.ndarray, foreground: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator,
             cfg: MFSConfig, kind: str) -> MFSSample | None:
    h, w = cfg.windows[int(rng.integers(len(cfg.windows)))]
    h, w = min(h, background.shape[0]), min(w, background.shape[1])
    hull = hull_mask(landmarks, background.shape[:2])
    box, score = best_window_in_map(dssim_map(foreground, background), (h, w), hull, cfg.window_stride)
    if score <= 0:
        return None  # the two crops are identical inside the face: nothing to swap
    out, how = blend(background, foreground, rect_mask(box, background.shape[:2]), rng, cfg)
    return MFSSample(out, _boxes(FULL_BOX, box), 1, kind, how, np.asarray(landmarks, np.float32))


def real_sample(real_crop: np.ndarray, landmarks_crop: np.ndarray | None = None) -> MFSSample:
    """A genuine crop as a sample: label 0, no boxes (``(0, 4)``)."""
    _check_crop("real_crop", real_crop)
    lm = None if landmarks_crop is None else np.asarray(landmarks_crop, np.float32)
    return MFSSample(real_crop.copy(), np.zeros((0, 4), np.float32), 0, "real", "", lm)


def multi_scale_facial_swap(fake_crop: np.ndarray, source_crop: np.ndarray, landmarks_crop: np.ndarray,
                            rng: np.random.Generator, cfg: MFSConfig = MFSConfig()) -> MFSSample:
    """One MFS training image from a fake crop, its source crop and the 68 landmarks (crop px). Label 1.

    ``kind`` is "global_source_to_fake", "global_fake_to_source", "global_untouched" or "partial". A partial
    draw on crops that are identical inside the face falls back to the global draw below it.
    """
    _check_crop("fake_crop", fake_crop)
    _check_crop("source_crop", source_crop)
    if fake_crop.shape != source_crop.shape:
        raise ValueError(f"fake and source crops differ in shape: {fake_crop.shape} vs {source_crop.shape}")
    lm = np.asarray(landmarks_crop, np.float32)
    u = rng.random()
    if u >= cfg.p_global:
        s = _partial(source_crop, fake_crop, lm, rng, cfg, "partial")
        if s is not None:
            return s
        u = rng.random() * cfg.p_global
    full = _boxes(FULL_BOX)
    if u < cfg.p_source_to_fake:
        out, how = blend(fake_crop, source_crop, face_mask(lm, rng, cfg, fake_crop.shape[:2]), rng, cfg)
        return MFSSample(out, full, 1, "global_source_to_fake", how, lm)
    if u < cfg.p_source_to_fake + cfg.p_fake_to_source:
        out, how = blend(source_crop, fake_crop, face_mask(lm, rng, cfg, fake_crop.shape[:2]), rng, cfg)
        return MFSSample(out, full, 1, "global_fake_to_source", how, lm)
    return MFSSample(fake_crop.copy(), full, 1, "global_untouched", "", lm)


def jitter_copy(crop: np.ndarray, rng: np.random.Generator, cfg: MFSConfig = MFSConfig()) -> np.ndarray:
    """A colour-jittered (hue, saturation, brightness, contrast) and slightly scaled/shifted copy of ``crop``."""
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[:, :, 0] = np.mod(hsv[:, :, 0] + rng.uniform(-cfg.sbi_hue, cfg.sbi_hue), 180.0)
    hsv[:, :, 1] = np.clip(hsv[:, :, 1] * rng.uniform(*cfg.sbi_saturation), 0, 255)
    img = cv2.cvtColor(np.clip(np.rint(hsv), 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.float32)
    c = rng.uniform(*cfg.sbi_contrast)
    b = rng.uniform(*cfg.sbi_brightness)
    mean = img.mean(axis=(0, 1), keepdims=True)
    img = np.clip(np.rint((img - mean) * c + mean + b), 0, 255).astype(np.uint8)
    h, w = crop.shape[:2]
    s = rng.uniform(*cfg.sbi_scale)
    tx, ty = rng.uniform(-cfg.sbi_shift, cfg.sbi_shift, 2) * np.array([w, h])
    m = np.array([[s, 0.0, (1 - s) * (w - 1) / 2 + tx], [0.0, s, (1 - s) * (h - 1) / 2 + ty]])
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def self_blended_sample(real_crop: np.ndarray, landmarks_crop: np.ndarray, rng: np.random.Generator,
                        cfg: MFSConfig = MFSConfig()) -> MFSSample:
    """A pseudo-fake made from one real crop (after Self-Blended Images, Shiohara & Yamasaki 2022). Label 1.

    A jittered copy (``jitter_copy``) is blended onto the crop: with ``p_global`` inside the face mask (kind
    "sbi_global", box ``[0, 0, 224, 224]``), else inside the DSSIM-best window of a drawn size (kind
    "sbi_partial", boxes full + window). Blending as in MFS.
    """
    _check_crop("real_crop", real_crop)
    lm = np.asarray(landmarks_crop, np.float32)
    copy = jitter_copy(real_crop, rng, cfg)
    if rng.random() >= cfg.p_global:
        s = _partial(real_crop, copy, lm, rng, cfg, "sbi_partial")
        if s is not None:
            return s
    out, how = blend(real_crop, copy, face_mask(lm, rng, cfg, real_crop.shape[:2]), rng, cfg)
    return MFSSample(out, _boxes(FULL_BOX), 1, "sbi_global", how, lm)


# ------------------------------------------------------------------------------------------------- flip


def hflip(image: np.ndarray, boxes: np.ndarray | None = None, landmarks: np.ndarray | None = None):
    """Mirror left-right. Returns ``(image, boxes, landmarks)`` (None stays None).

    Boxes are pixel edges: ``x -> W - x`` (x0 and x1 swap roles). Landmarks are pixel centres:
    ``x -> W - 1 - x``, and the 68 points are renumbered with ``FLIP_PERM_68`` so that index 36 stays the
    outer corner of the eye on the image's left.
    """
    w = image.shape[1]
    out = np.ascontiguousarray(image[:, ::-1])
    b = None
    if boxes is not None:
        b = np.array(boxes, np.float32, copy=True).reshape(-1, 4)
        b[:, [0, 2]] = w - b[:, [2, 0]]
    lm = None
    if landmarks is not None:
        lm = np.array(landmarks, copy=True)
        lm[:, 0] = (w - 1) - lm[:, 0]
        if lm.shape[0] == 68:
            lm = lm[FLIP_PERM_68]
    return out, b, lm


def flip_sample(sample: MFSSample) -> MFSSample:
    """``hflip`` applied to a sample (image, boxes and landmarks)."""
    img, b, lm = hflip(sample.image, sample.boxes, sample.landmarks)
    return MFSSample(img, b, sample.label, sample.kind, sample.blend, lm)


# ---------------------------------------------------------------------------------------------- preview


def draw_sample(sample: MFSSample, scale: int = 1) -> np.ndarray:
    """BGR image of the sample (enlarged ``scale`` times) with its boxes: full face box in yellow, other
    (partial) boxes in red, and a caption (kind, blend)."""
    img = sample.image
    if scale != 1:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    img = np.ascontiguousarray(img.copy())
    h, w = sample.image.shape[:2]
    for b in np.asarray(sample.boxes, np.float32).reshape(-1, 4):
        x0, y0, x1, y1 = (float(v) * scale for v in b)
        full = b[0] <= 0 and b[1] <= 0 and b[2] >= w and b[3] >= h
        colour = (0, 220, 255) if full else (0, 0, 255)
        cv2.rectangle(img, (int(round(x0)), int(round(y0))), (int(round(x1)) - 1, int(round(y1)) - 1),
                      colour, 2 if full else 1)
    caption = sample.kind + (f" {sample.blend}" if sample.blend else "")
    (tw, th), base = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
    y = img.shape[0] - 4
    cv2.rectangle(img, (2, y - th - 3), (min(6 + tw, img.shape[1] - 1), min(y + base, img.shape[0] - 1)),
                  (0, 0, 0), -1)
    cv2.putText(img, caption, (4, y - 1), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def preview_grid(samples, cols: int = 4, pad: int = 4, scale: int = 1) -> np.ndarray:
    """Grid of ``draw_sample`` tiles, ``cols`` per row, grey padding; BGR uint8."""
    tiles = [draw_sample(s, scale) for s in samples]
    if not tiles:
        return np.full((CROP, CROP, 3), 64, np.uint8)
    cols = max(1, min(int(cols), len(tiles)))
    th = max(t.shape[0] for t in tiles)
    tw = max(t.shape[1] for t in tiles)
    rows = (len(tiles) + cols - 1) // cols
    grid = np.full((rows * (th + pad) + pad, cols * (tw + pad) + pad, 3), 64, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        y, x = pad + r * (th + pad), pad + c * (tw + pad)
        grid[y:y + t.shape[0], x:x + t.shape[1]] = t
    return grid
