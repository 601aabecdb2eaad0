"""Scoring aligned face crops: the one place a crop becomes P(fake) and artifact boxes.

The analysis engine and the evaluation command both call `Predictor.predict`, so a frame scores the same in both.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .artifacts import ArtifactBox, BoxSettings, artifact_boxes
from .device import resolve_device
from .model import CADDM
from .preprocess import to_model_input


@dataclass
class FacePrediction:
    prob: float  # P(fake) of this face crop
    logits: tuple[float, float]
    artifacts: list[ArtifactBox] = field(default_factory=list)  # xyxy crop pixels


class Predictor:
    """Batched inference under `torch.inference_mode()` on `device` ("auto": cuda, mps, cpu).

    crops: BGR uint8 (B, 224, 224, 3). `channels_last` memory format speeds convolutions on CPU and GPU.
    """

    def __init__(self, model: CADDM, device="auto", batch_size: int = 16, boxes: BoxSettings = BoxSettings(),
                 channels_last: bool = True):
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.channels_last = channels_last
        self.batch_size = max(1, int(batch_size))
        self.boxes = boxes

    def raw(self, crops_bgr: np.ndarray) -> dict[str, torch.Tensor]:
        """Model outputs for one batch (B <= any size): logits, prob, loc, conf (on the model's device)."""
        x = to_model_input(crops_bgr, self.model.convention, self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return self.model(x)

    def predict(self, crops_bgr: np.ndarray, boxes: BoxSettings | None = None) -> list[FacePrediction]:
        """Score (B, 224, 224, 3) BGR uint8 crops in batches of `batch_size`; artifact boxes per `boxes` (default:
        the predictor's own settings)."""
        settings = self.boxes if boxes is None else boxes
        results: list[FacePrediction] = []
        for start in range(0, len(crops_bgr), self.batch_size):
            out = self.raw(crops_bgr[start : start + self.batch_size])
            boxes = artifact_boxes(out["loc"], out["conf"], settings)
            logits = out["logits"].float().cpu().numpy()
            probs = out["prob"].float().cpu().numpy()
            results += [FacePrediction(float(p), (float(l[0]), float(l[1])), b) for p, l, b in zip(probs, logits, boxes)]
        return results
