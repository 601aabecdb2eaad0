"""Score consistency under invisible changes: perturbations of a face crop that no analyst can see and that must not
move the model's score, and the loss that asks the model to agree with itself across them.

Images are BGR uint8 (B, H, W, 3) torch tensors, as the training loader collates them. Kinds (`KINDS`):
- "noise": each value moved by -1, 0 or +1 at random, clipped to 0..255;
- "shift": the crop translated by one pixel up, down, left or right, the vacated edge repeated;
- "jpeg": one JPEG re-encode at quality 90..95 (OpenCV's codec).
`perturb` draws one kind per image from the kinds asked for. The loss (`logodds_consistency`) is the mean squared
difference of the log-odds of fake (logit 1 - logit 0) between each image and its perturbed copy: the quantity
that a change of P(fake) near the threshold follows most directly.

Why: the bundled model's frame score moves by p99 0.22 when each pixel value moves by -1, 0 or +1 (README of
resources/models), and more with training on self-blends; int8 rounding is a change of the same kind.
"""
from __future__ import annotations

import numpy as np
import torch

from core.train.augment import jpeg

KINDS = ("noise", "shift", "jpeg")
JPEG_QUALITY = (90, 95)  # inclusive


def _shift(img: torch.Tensor, direction: int) -> torch.Tensor:
    """(H, W, 3) moved by one pixel: 0 down, 1 up, 2 right, 3 left; the vacated row or column repeated."""
    out = img.clone()
    if direction == 0:
        out[1:] = img[:-1]
    elif direction == 1:
        out[:-1] = img[1:]
    elif direction == 2:
        out[:, 1:] = img[:, :-1]
    else:
        out[:, :-1] = img[:, 1:]
    return out


def _perturb_one(img: torch.Tensor, kind: str, rng: np.random.Generator) -> torch.Tensor:
    if kind == "noise":
        step = torch.from_numpy(rng.integers(-1, 2, size=tuple(img.shape), dtype=np.int16))
        return (img.to(torch.int16) + step).clamp_(0, 255).to(torch.uint8)
    if kind == "shift":
        return _shift(img, int(rng.integers(4)))
    q = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
    return torch.from_numpy(jpeg(img.numpy(), q))


def perturb(images: torch.Tensor, rng: np.random.Generator, kinds=KINDS, per_image: bool = True) -> torch.Tensor:
    """A perturbed copy of uint8 (B, H, W, 3) `images`: one kind of `kinds` drawn per image from `rng`
    (`per_image` False: `kinds` must be one kind, applied to every image)."""
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"expected uint8 images (B, H, W, 3), got {images.dtype} {tuple(images.shape)}")
    unknown = [k for k in kinds if k not in KINDS]
    if not kinds or unknown or (not per_image and len(kinds) != 1):
        raise ValueError(f"consistency kinds must be among {KINDS}, got {list(kinds)}")
    out = torch.empty_like(images)
    for i, img in enumerate(images):
        out[i] = _perturb_one(img, kinds[int(rng.integers(len(kinds)))] if per_image else kinds[0], rng)
    return out


def score_stability(predictor, crops: np.ndarray, kinds=("noise", "shift"), seed: int = 0) -> dict:
    """{kind: {"mean", "p99", "n"}} of |P(fake) change| when every crop of BGR uint8 `crops` (N, H, W, 3) is
    perturbed by that kind alone (seeded: the same perturbations for every model). `predictor.predict(crops)` ->
    objects with `.prob`."""
    base = np.asarray([p.prob for p in predictor.predict(crops)], np.float64)
    out = {}
    for j, kind in enumerate(kinds):
        moved = perturb(torch.from_numpy(np.ascontiguousarray(crops)), np.random.default_rng([seed, j]), (kind,),
                        per_image=False).numpy()
        d = np.abs(np.asarray([p.prob for p in predictor.predict(moved)], np.float64) - base)
        out[kind] = {"mean": float(d.mean()), "p99": float(np.quantile(d, 0.99)), "n": int(len(d))}
    return out


def logodds_consistency(logits: torch.Tensor, logits_perturbed: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ((l1 - l0) - (l1' - l0'))**2 for image logits (B, 2); differentiable through both."""
    a = logits.float()
    b = logits_perturbed.float()
    return ((a[:, 1] - a[:, 0]) - (b[:, 1] - b[:, 0])).pow(2).mean()


__all__ = ["KINDS", "JPEG_QUALITY", "perturb", "score_stability", "logodds_consistency"]
