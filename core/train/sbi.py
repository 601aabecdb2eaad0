"""Self-blended images (SBI, Shiohara & Yamasaki, CVPR 2022) on aligned face crops, with CADDM's boxes.

A real face crop is split into a *source* and a *target* copy; one of the two (chosen at random) is changed by the
source-target augmentation, the source is moved slightly, and the source is blended onto the target through a
deformed, blurred face mask at a drawn blend ratio. The result shows one person, one scene and one light: what
separates it from the real crop is only the blending (colour and sharpness mismatch at a soft boundary, a small
misalignment), which is what face swaps of every generator leave behind.

Conventions as in ``core.train.mfs``: BGR ``uint8`` ``(224, 224, 3)`` crops, 68 dlib landmarks ``(68, 2)`` in crop
pixels, boxes float32 ``(K, 4)`` xyxy crop pixel edges. Every draw comes from the ``numpy.random.Generator`` given.

What is drawn (``SBIConfig``; defaults follow the SBI paper's code, adapted to OpenCV/NumPy):
- source-target augmentation, on the source or the target with p 0.5 each: RGB shift +-20 (p 0.3), hue /
  saturation / value shifted by +-0.3 (SBI's albumentations call on uint8 images: next to nothing), brightness and
  contrast +-0.1, then one of a down-and-up resize by 2 or 4 (nearest down, linear up) or an unsharp-mask sharpen
  (alpha 0.2-0.5);
- the source translated by up to 3% (x) / 1.5% (y) and scaled by 0.95-1/0.95;
- mask: the convex hull of the 68 landmarks (or, with p 0.25 each, the hull without the forehead-side eyebrow
  points, or dilated by 5-15 px), elastically warped (p 0.5), resized down and up to soften its outline, then
  blurred by a Gaussian of a drawn odd kernel (5-25 px); the blend ratio is drawn
  from {0.25, 0.5, 0.75, 1, 1, 1};
- with ``p_partial`` the blend is confined to the DSSIM-best window of a drawn CADDM window size, and the sample
  carries that window as a second box (CADDM's partial boxes), else only the whole-face box.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.train.dssim import best_window_in_map, dssim_map
from core.train.mfs import CROP, FULL_BOX, MFSSample, elastic_warp, hull_mask, rect_mask

_EYEBROWS = np.arange(17, 27)


@dataclass(frozen=True)
class SBIConfig:
    """Probabilities and ranges of a self-blended sample (module docstring)."""

    p_rgb_shift: float = 0.3
    rgb_shift: float = 20.0
    hue_shift: float = 0.3  # OpenCV hue units (0..180)
    sat_shift: float = 0.3  # 0..255
    val_shift: float = 0.3
    brightness: float = 0.1  # fraction of 255
    contrast: float = 0.1
    p_downscale: float = 0.5  # else sharpen
    downscale_ratios: tuple[int, ...] = (2, 4)
    sharpen_alpha: tuple[float, float] = (0.2, 0.5)
    shift_x: float = 0.03
    shift_y: float = 0.015
    scale: tuple[float, float] = (0.95, 1 / 0.95)
    p_no_brows: float = 0.25
    p_dilate: float = 0.25
    dilate_px: tuple[int, int] = (5, 15)
    p_elastic: float = 0.5
    elastic_alpha: tuple[int, int] = (300, 500)
    elastic_sigma_frac: float = 0.08
    blur_kernels: tuple[int, int] = (5, 25)  # odd sizes drawn inclusive
    blend_ratios: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
    p_partial: float = 0.2
    windows: tuple[tuple[int, int], ...] = ((40, 80), (80, 120), (120, 160), (224, 224))  # (h, w)


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def source_target_augment(img: np.ndarray, rng: np.random.Generator, cfg: SBIConfig = SBIConfig()) -> np.ndarray:
    """Colour and frequency change of one copy: uint8 BGR ``(H, W, 3)`` in and out."""
    x = img.astype(np.float32)
    if rng.random() < cfg.p_rgb_shift:
        x = x + rng.uniform(-cfg.rgb_shift, cfg.rgb_shift, 3).astype(np.float32)
    hsv = cv2.cvtColor(_u8(x), cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[:, :, 0] = np.mod(hsv[:, :, 0] + rng.uniform(-cfg.hue_shift, cfg.hue_shift), 180.0)
    hsv[:, :, 1] = hsv[:, :, 1] + rng.uniform(-cfg.sat_shift, cfg.sat_shift)
    hsv[:, :, 2] = hsv[:, :, 2] + rng.uniform(-cfg.val_shift, cfg.val_shift)
    x = cv2.cvtColor(_u8(hsv), cv2.COLOR_HSV2BGR).astype(np.float32)
    alpha = 1.0 + rng.uniform(-cfg.contrast, cfg.contrast)
    beta = rng.uniform(-cfg.brightness, cfg.brightness) * 255.0
    x = x * alpha + beta
    h, w = img.shape[:2]
    if rng.random() < cfg.p_downscale:
        r = int(cfg.downscale_ratios[int(rng.integers(len(cfg.downscale_ratios)))])
        small = cv2.resize(_u8(x), (max(1, w // r), max(1, h // r)), interpolation=cv2.INTER_NEAREST)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    a = rng.uniform(*cfg.sharpen_alpha)
    blurred = cv2.GaussianBlur(x, (0, 0), 1.0)
    return _u8(x + a * (x - blurred) * 2.0)


def move(img: np.ndarray, rng: np.random.Generator, cfg: SBIConfig = SBIConfig()) -> np.ndarray:
    """The source copy translated (up to ``shift_x``/``shift_y`` of the side) and scaled about the centre."""
    h, w = img.shape[:2]
    s = rng.uniform(*cfg.scale)
    tx, ty = rng.uniform(-cfg.shift_x, cfg.shift_x) * w, rng.uniform(-cfg.shift_y, cfg.shift_y) * h
    m = np.array([[s, 0.0, (1 - s) * (w - 1) / 2 + tx], [0.0, s, (1 - s) * (h - 1) / 2 + ty]])
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def blend_mask(landmarks: np.ndarray, rng: np.random.Generator, cfg: SBIConfig = SBIConfig(),
               shape_hw: tuple[int, int] = (CROP, CROP)) -> np.ndarray:
    """Soft mask float32 ``(H, W)`` in [0, ratio]: deformed, blurred hull of the landmarks times a blend ratio."""
    lm = np.asarray(landmarks, np.float64)
    u = rng.random()
    if u < cfg.p_no_brows:
        keep = np.setdiff1d(np.arange(len(lm)), _EYEBROWS)
        mask = hull_mask(lm[keep], shape_hw)
    else:
        mask = hull_mask(lm, shape_hw)
        if u < cfg.p_no_brows + cfg.p_dilate:
            k = int(rng.integers(cfg.dilate_px[0], cfg.dilate_px[1] + 1)) | 1
            mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    if rng.random() < cfg.p_elastic:
        alpha = float(rng.integers(cfg.elastic_alpha[0], cfg.elastic_alpha[1] + 1))
        mask = np.where(elastic_warp(mask, rng, alpha, mask.shape[0] * cfg.elastic_sigma_frac) >= 128, 255, 0)
        mask = mask.astype(np.uint8)
    h, w = mask.shape
    r = rng.uniform(0.5, 1.0)  # coarser outline
    small = cv2.resize(mask, (max(1, int(w * r)), max(1, int(h * r))), interpolation=cv2.INTER_LINEAR)
    soft = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    lo, hi = cfg.blur_kernels
    k = int(rng.integers(lo // 2, hi // 2 + 1)) * 2 + 1
    soft = cv2.GaussianBlur(soft, (k, k), 0)
    ratio = float(cfg.blend_ratios[int(rng.integers(len(cfg.blend_ratios)))])
    return np.clip(soft, 0.0, 1.0) * np.float32(ratio)


def self_blended_image(real_crop: np.ndarray, landmarks_crop: np.ndarray, rng: np.random.Generator,
                       cfg: SBIConfig = SBIConfig()) -> MFSSample:
    """One SBI pseudo-fake from a real crop (module docstring). Label 1; kind "sbi2_global" or "sbi2_partial"."""
    if real_crop.dtype != np.uint8 or real_crop.ndim != 3 or real_crop.shape[2] != 3:
        raise ValueError(f"real_crop must be a uint8 (H, W, 3) BGR crop, not {real_crop.dtype} {real_crop.shape}")
    lm = np.asarray(landmarks_crop, np.float32)
    source, target = real_crop.copy(), real_crop.copy()
    if rng.random() < 0.5:
        source = source_target_augment(source, rng, cfg)
    else:
        target = source_target_augment(target, rng, cfg)
    source = move(source, rng, cfg)
    alpha = blend_mask(lm, rng, cfg, real_crop.shape[:2])
    boxes = [FULL_BOX]
    kind = "sbi2_global"
    if rng.random() < cfg.p_partial:
        h, w = cfg.windows[int(rng.integers(len(cfg.windows)))]
        h, w = min(h, real_crop.shape[0]), min(w, real_crop.shape[1])
        hull = hull_mask(lm, real_crop.shape[:2])
        box, score = best_window_in_map(dssim_map(source, target), (h, w), hull, 1)
        if score > 0:
            alpha = alpha * (rect_mask(box, real_crop.shape[:2]).astype(np.float32) / 255.0)
            boxes.append(tuple(float(v) for v in box))
            kind = "sbi2_partial"
    a = alpha[:, :, None]
    out = _u8(a * source.astype(np.float32) + (1.0 - a) * target.astype(np.float32))
    return MFSSample(out, np.asarray(boxes, np.float32).reshape(-1, 4), 1, kind, "alpha", lm)
