"""The one place a face crop becomes model input.

Callers always hand over BGR uint8 crops (B, H, W, 3) (OpenCV's order). Each model's `InputConvention` says what its
backbone expects: the authors' CADDM models take raw BGR values 0..255 as float (no normalisation); the
ImageNet-pretrained lite backbones take RGB scaled (x - 127.5) / 127.5.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class InputConvention:
    """Colour order ("bgr"/"rgb") and per-channel (x - mean) / std applied to 0..255 values, in that colour order."""

    color: str = "bgr"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self):
        if self.color not in ("bgr", "rgb"):
            raise ValueError(f"colour order must be 'bgr' or 'rgb', not {self.color!r}")

    def to_dict(self) -> dict:
        return {"color": self.color, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> "InputConvention":
        return cls(color=d["color"], mean=tuple(float(v) for v in d["mean"]), std=tuple(float(v) for v in d["std"]))


RAW_BGR = InputConvention("bgr", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
RGB_SYMMETRIC = InputConvention("rgb", (127.5, 127.5, 127.5), (127.5, 127.5, 127.5))


def to_model_input(crops_bgr, convention: InputConvention, device=None) -> torch.Tensor:
    """BGR uint8 crops (B, H, W, 3) (numpy or torch) -> float32 tensor (B, 3, H, W) in `convention`, on `device`.

    The uint8 -> float conversion and normalisation run on `device` (cheaper to move uint8 to a GPU).
    """
    if isinstance(crops_bgr, np.ndarray):
        if crops_bgr.ndim == 3:
            crops_bgr = crops_bgr[None]
        t = torch.from_numpy(np.ascontiguousarray(crops_bgr))
    else:
        t = crops_bgr if crops_bgr.ndim == 4 else crops_bgr[None]
    if t.shape[-1] != 3:
        raise ValueError(f"expected crops of shape (B, H, W, 3), got {tuple(t.shape)}")
    t = t.to(device=device).permute(0, 3, 1, 2).float()
    if convention.color == "rgb":
        t = t.flip(1)
    if any(convention.mean) or any(s != 1.0 for s in convention.std):
        mean = torch.tensor(convention.mean, device=t.device).view(1, 3, 1, 1)
        std = torch.tensor(convention.std, device=t.device).view(1, 3, 1, 1)
        t = (t - mean) / std
    return t.contiguous()
