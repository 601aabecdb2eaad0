"""The one place a face crop becomes model input.

Callers always hand over BGR uint8 crops (B, H, W, 3) (OpenCV's order). Each model's `InputConvention` says what its
backbone expects: the authors' CADDM models take raw BGR values 0..255 as float (no normalisation); the
ImageNet-pretrained lite backbones take RGB scaled (x - 127.5) / 127.5. `model_input` is the numpy conversion (ONNX
Runtime and torch on the CPU); `to_model_input` gives a torch tensor, converting on the device for a GPU. torch is
imported only by `to_model_input`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class InputConvention:
    """Colour order ("bgr"/"rgb") and per-channel (x - mean) / std applied to 0..255 values, in that colour order."""

    color: str = "bgr"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self):
        if self.color not in ("bgr", "rgb"):
            raise ValueError(f"colour order must be 'bgr' or 'rgb', not {self.color!r}")

    def uint8_grid(self) -> tuple[float, int] | None:
        """(scale, zero point) with which every input value is exactly (p - zero point) * scale for a pixel value
        p in 0..255, the same for all channels: the lossless uint8 quantization of this input (int8 models,
        `core.model.int8`). None when there is none: channels that differ, or a mean that is no integer (RGB
        scaled to [-1, 1]: mean 127.5)."""
        if len(set(self.mean)) != 1 or len(set(self.std)) != 1 or self.std[0] <= 0:
            return None
        mean = self.mean[0]
        if mean != round(mean) or not 0 <= mean <= 255:
            return None
        return 1.0 / self.std[0], int(mean)

    def to_dict(self) -> dict:
        return {"color": self.color, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> "InputConvention":
        return cls(color=d["color"], mean=tuple(float(v) for v in d["mean"]), std=tuple(float(v) for v in d["std"]))


RAW_BGR = InputConvention("bgr", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
RGB_SYMMETRIC = InputConvention("rgb", (127.5, 127.5, 127.5), (127.5, 127.5, 127.5))


def _normalises(convention: InputConvention) -> bool:
    return any(convention.mean) or any(v != 1.0 for v in convention.std)


def model_input(crops_bgr: np.ndarray, convention: InputConvention) -> np.ndarray:
    """BGR uint8 crops (B, H, W, 3) or one (H, W, 3) -> float32 array (B, 3, H, W) in `convention`, contiguous."""
    x = np.asarray(crops_bgr)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected crops of shape (B, H, W, 3), got {tuple(x.shape)}")
    if convention.color == "rgb":
        x = x[..., ::-1]
    x = np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)
    if _normalises(convention):
        x -= np.asarray(convention.mean, np.float32).reshape(1, 3, 1, 1)
        x /= np.asarray(convention.std, np.float32).reshape(1, 3, 1, 1)
    return x


def to_model_input(crops_bgr, convention: InputConvention, device=None):
    """BGR uint8 crops (B, H, W, 3) (numpy or torch) -> float32 torch tensor (B, 3, H, W) in `convention`, on
    `device`. On the CPU this is `model_input`; on a GPU the uint8 -> float conversion and normalisation run there
    (cheaper to move uint8), with the same arithmetic."""
    import torch

    if isinstance(crops_bgr, np.ndarray) and (device is None or torch.device(device).type == "cpu"):
        return torch.from_numpy(model_input(crops_bgr, convention))
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
    if _normalises(convention):
        mean = torch.tensor(convention.mean, device=t.device).view(1, 3, 1, 1)
        std = torch.tensor(convention.std, device=t.device).view(1, 3, 1, 1)
        t = (t - mean) / std
    return t.contiguous()
