"""From the ADM's raw outputs to artifact boxes: decode, per-box fake confidence, threshold, NMS, top-k.

Boxes come out as xyxy **crop pixels** of the aligned 224x224 face (`core.faces.align.crop_to_frame` maps them into
the frame). The two full-crop anchors cover the whole face: a box there says "the whole face is swapped", which is
what MFS teaches for every global swap. numpy only: the ONNX Runtime path never loads torch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.model.anchors import INPUT_SIZE, make_anchors
from core.model.boxes import decode, nms


@dataclass(frozen=True)
class BoxSettings:
    """score_threshold: minimum per-box P(artifact); nms_iou: suppression overlap; top_k: most boxes per face;
    max_area: the largest share of the crop (224 x 224) a box may cover. The whole-face anchors fire on every face
    the detector calls fake and say no more than the face's P(fake): 0.5 keeps the local boxes only (smaller than
    half the aligned face), 1.0 keeps every box."""

    score_threshold: float = 0.3  # bundled model, held-out partial swaps: local boxes on 60%, precision 0.77
    nms_iou: float = 0.3
    top_k: int = 5
    max_area: float = 0.5

    def to_dict(self) -> dict:
        return {"score_threshold": self.score_threshold, "nms_iou": self.nms_iou, "top_k": self.top_k,
                "max_area": self.max_area}


@dataclass(frozen=True)
class ArtifactBox:
    box: tuple[float, float, float, float]  # xyxy crop pixels, clipped to the crop
    score: float  # P(artifact) of this anchor


_ANCHORS = make_anchors()
_ANCHORS.setflags(write=False)


def artifact_probability(conf: np.ndarray) -> np.ndarray:
    """conf (..., 2) logits (background, artifact) -> (...) float32 P(artifact), a softmax."""
    conf = np.asarray(conf, dtype=np.float32)
    e = np.exp(conf - conf.max(axis=-1, keepdims=True))
    return e[..., 1] / e.sum(axis=-1)


def artifact_boxes(loc: np.ndarray, conf: np.ndarray, settings: BoxSettings = BoxSettings(),
                   crop_size: int = INPUT_SIZE) -> list[list[ArtifactBox]]:
    """loc (B, 168, 4), conf (B, 168, 2) float arrays -> per image, up to top_k ArtifactBox sorted by descending
    score."""
    scores = artifact_probability(conf)  # (B, A)
    boxes = (decode(np.asarray(loc, dtype=np.float32), _ANCHORS) * crop_size).clip(0, crop_size)  # (B, A, 4)
    out = []
    for b in range(len(boxes)):
        keep = np.flatnonzero(scores[b] >= settings.score_threshold)
        bx, sc = boxes[b, keep], scores[b, keep]
        w, h = bx[:, 2] - bx[:, 0], bx[:, 3] - bx[:, 1]
        valid = (w > 1) & (h > 1) & (w * h <= settings.max_area * crop_size * crop_size)
        bx, sc = bx[valid], sc[valid]
        kept = nms(bx, sc, settings.nms_iou)[: settings.top_k] if len(sc) else []
        out.append([ArtifactBox(tuple(round(float(v), 2) for v in bx[i]), float(sc[i])) for i in kept])
    return out
