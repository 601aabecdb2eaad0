"""Training-time image augmentations (the CADDM authors' ``add_noise`` chain, in OpenCV/NumPy, reproducible).

``augment(image_bgr, rng, cfg)`` takes a BGR ``uint8`` ``(H, W, 3)`` image (the aligned 224x224 crop after MFS)
and returns a new BGR ``uint8`` image of the same shape. Geometry is never changed (no box moves), so the MFS
boxes stay valid. Every random draw comes from the ``numpy.random.Generator`` passed in.

Steps, in the authors' order, each with its probability (``AugmentConfig``, defaults = their rates):
JPEG re-encode, quality 15..79 (p 0.3; OpenCV's codec instead of their C++ ``jpegpy``) -> contrast stretch
(p 0.5) -> low-resolution quantisation noise, sigma 2 (p 0.5) -> HSV (p 0.25: saturation x[0.5, 1.15] p 0.5,
value x[0.5, 2] p 0.5) -> gamma 0.6..1.4 (always) -> linear motion blur, 1..10 px at 0..360 deg (p 0.3) ->
Gaussian blur 3x3, sigma 0/1/2 (p 0.3) -> Gaussian noise, sigma 15..21 or 0..4 (p 0.3) -> colour tone, blend
of up to 0.3 towards a random colour (p 0.3) -> down-and-up resize by 1..2 with a random interpolation (p 0.25;
the authors compute it and throw the result away: here it is applied; ``p_resize=0`` reproduces them).
Beyond the authors' chain, off by default (``caddm-train fit`` turns them on with ``augment_low_light`` and
``augment_h264``): low light (``low_light``, strength 0.2..0.7) and, last, as video reaches an analyst, an H.264
encode and decode of the image as one intra frame (libx264 through PyAV, CRF 18..40: FF++ c23 is about CRF 23,
c40 about 40).
Arithmetic is in float32 with clipping to [0, 255] after each step (the authors' ``add_noise`` overflows uint8
under NumPy 2).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_INTERPOLATIONS = (cv2.INTER_CUBIC, cv2.INTER_LINEAR, cv2.INTER_NEAREST, cv2.INTER_AREA, cv2.INTER_LANCZOS4)


@dataclass(frozen=True)
class AugmentConfig:
    p_jpeg: float = 0.3
    jpeg_quality: tuple[int, int] = (15, 79)  # inclusive
    p_normalize: float = 0.5
    p_quant_noise: float = 0.5
    quant_noise_sigma: float = 2.0
    p_hsv: float = 0.25
    p_gamma: float = 1.0
    gamma: tuple[float, float] = (0.6, 1.4)
    p_motion_blur: float = 0.3
    motion_length: tuple[int, int] = (1, 10)  # inclusive, px
    p_gaussian_blur: float = 0.3
    p_noise: float = 0.3
    noise_sigma_strong: tuple[int, int] = (15, 21)  # inclusive
    noise_sigma_weak: tuple[int, int] = (0, 4)
    p_tone: float = 0.3
    tone_strength: float = 0.3
    p_resize: float = 0.25
    resize_ratio: tuple[float, float] = (1.0, 2.0)
    p_low_light: float = 0.0
    low_light_strength: tuple[float, float] = (0.2, 0.7)
    p_h264: float = 0.0
    h264_crf: tuple[int, int] = (18, 40)  # inclusive


def _clip(img: np.ndarray) -> np.ndarray:
    return np.clip(img, 0.0, 255.0)


def _u8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """JPEG encode and decode (OpenCV, 4:2:0) at ``quality``; uint8 BGR in and out."""
    ok, buf = cv2.imencode(".jpg", _u8(img), [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def h264(img: np.ndarray, crf: int) -> np.ndarray:
    """One H.264 intra frame (libx264 through PyAV, yuv420p, ``crf``, preset ultrafast) encoded and decoded; uint8
    BGR in and out, same shape (odd sides are padded by edge replication for the encoder and cut back)."""
    import av

    src = _u8(img)
    h, w = src.shape[:2]
    pad = np.pad(src, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = pad.shape[1], pad.shape[0], "yuv420p"
    enc.options = {"crf": str(int(crf)), "preset": "ultrafast", "tune": "zerolatency"}
    enc.thread_count = 1
    packets = list(enc.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(pad), format="bgr24")))
    packets += list(enc.encode(None))
    dec = av.CodecContext.create("h264", "r")
    dec.thread_count = 1
    out = None
    for pkt in packets + [None]:
        for frame in dec.decode(pkt):
            out = frame.to_ndarray(format="bgr24")
    if out is None:
        raise RuntimeError("H.264 round trip produced no frame")
    return np.ascontiguousarray(out[:h, :w])


def gamma_correct(img: np.ndarray, gamma: float) -> np.ndarray:
    """``255 * (img / 255) ** (1 / gamma)`` in float32 (gamma > 1 brightens)."""
    return _clip(255.0 * np.power(np.asarray(img, np.float32) / 255.0, np.float32(1.0 / gamma)))


def low_light(img: np.ndarray, strength: float = 0.7, rng: np.random.Generator | None = None) -> np.ndarray:
    """Simulated night / dim-room footage: ``255 * scale * (img / 255) ** gamma`` with gamma = 1 + 1.5 * strength
    (shadows sink first) and scale = 1 - 0.75 * strength, then, when ``rng`` is given, sensor noise of sigma
    3 * strength. ``strength`` in [0, 1] (0: unchanged). uint8 BGR (or grey) in and out, same shape. Used by the
    detector-recall bench (``bench/detector_recall.py``) and its tests; not part of the training chain."""
    if not 0.0 <= float(strength) <= 1.0:
        raise ValueError(f"strength must be in [0, 1], not {strength}")
    x = np.asarray(img, np.float32) / 255.0
    out = 255.0 * (1.0 - 0.75 * float(strength)) * np.power(x, np.float32(1.0 + 1.5 * float(strength)))
    if rng is not None and strength > 0:
        out = out + rng.standard_normal(out.shape).astype(np.float32) * np.float32(3.0 * strength)
    return _u8(out)


def motion_kernel(angle_deg: float, length: int) -> np.ndarray:
    """Normalised float32 kernel of a line of ``length`` px from the centre at ``angle_deg``."""
    length = max(int(length), 1)
    k = 2 * length + 1
    kern = np.zeros((k, k), np.float32)
    c = length
    a = np.deg2rad(angle_deg)
    end = (int(round(c + length * np.cos(a))), int(round(c + length * np.sin(a))))
    cv2.line(kern, (c, c), end, 1.0, 1)
    s = kern.sum()
    if s <= 0:
        kern[c, c] = 1.0
        s = 1.0
    return kern / s


def augment(image_bgr: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """Apply the augmentation chain (module docstring); returns a new BGR uint8 image of the same shape."""
    if image_bgr.dtype != np.uint8 or image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise ValueError(f"augment expects a uint8 (H, W, 3) BGR image, not {image_bgr.dtype} {image_bgr.shape}")
    h, w = image_bgr.shape[:2]
    img = image_bgr.astype(np.float32)

    if rng.random() < cfg.p_jpeg:
        q = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
        img = jpeg(img, q).astype(np.float32)

    if rng.random() < cfg.p_normalize:  # contrast stretch
        lo, hi = float(img.min()), float(img.max())
        img = (img - lo) / (hi - lo + 1.0) * 255.0

    if rng.random() < cfg.p_quant_noise:
        small = rng.standard_normal((max(h // 4, 1), max(w // 4, 1))).astype(np.float32) * cfg.quant_noise_sigma
        img = _clip(img + cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)[:, :, None])

    if rng.random() < cfg.p_hsv:
        hsv = cv2.cvtColor(_u8(img), cv2.COLOR_BGR2HSV).astype(np.float32)
        if rng.random() < 0.5:  # saturation
            r = 1.0 - 0.5 * rng.random() if rng.random() < 0.5 else 1.0 + 0.15 * rng.random()
            hsv[:, :, 1] = _clip(hsv[:, :, 1] * r)
        if rng.random() < 0.5:  # brightness
            r = 1.0 + rng.random() if rng.random() < 0.5 else 1.0 - 0.5 * rng.random()
            hsv[:, :, 2] = _clip(hsv[:, :, 2] * r)
        img = cv2.cvtColor(_u8(hsv), cv2.COLOR_HSV2BGR).astype(np.float32)

    if rng.random() < cfg.p_gamma:
        img = gamma_correct(img, rng.uniform(*cfg.gamma))

    if rng.random() < cfg.p_motion_blur:
        angle = rng.uniform(0.0, 360.0)
        length = int(rng.integers(cfg.motion_length[0], cfg.motion_length[1] + 1))
        img = cv2.filter2D(img, -1, motion_kernel(angle, length), borderType=cv2.BORDER_REFLECT_101)

    if rng.random() < cfg.p_gaussian_blur:
        img = cv2.GaussianBlur(img, (3, 3), float(rng.integers(0, 3)))

    if rng.random() < cfg.p_noise:
        lo, hi = cfg.noise_sigma_strong if rng.random() < 0.5 else cfg.noise_sigma_weak
        sigma = float(rng.integers(lo, hi + 1))
        img = _clip(img + rng.standard_normal(img.shape).astype(np.float32) * np.float32(sigma))

    if rng.random() < cfg.p_tone:
        colour = (60.0 + 195.0 * rng.random(3)).astype(np.float32)
        p = np.float32(rng.random() * cfg.tone_strength)
        img = _clip((1.0 - p) * img + p * colour)

    if rng.random() < cfg.p_resize:
        r = rng.uniform(*cfg.resize_ratio)
        down = _INTERPOLATIONS[int(rng.integers(len(_INTERPOLATIONS)))]
        up = _INTERPOLATIONS[int(rng.integers(len(_INTERPOLATIONS)))]
        small = cv2.resize(img, (max(int(w / r), 1), max(int(h / r), 1)), interpolation=down)
        img = _clip(cv2.resize(small, (w, h), interpolation=up))

    if cfg.p_low_light and rng.random() < cfg.p_low_light:
        img = low_light(_u8(img), float(rng.uniform(*cfg.low_light_strength)), rng).astype(np.float32)

    if cfg.p_h264 and rng.random() < cfg.p_h264:
        img = h264(img, int(rng.integers(cfg.h264_crf[0], cfg.h264_crf[1] + 1))).astype(np.float32)

    return _u8(img)
