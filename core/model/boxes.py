"""Small pure box functions (numpy), SSD-style.

Conventions: `xyxy` = [x0, y0, x1, y1]; `cxcywh` = [cx, cy, w, h]; both in the same units (normalised crop units
for anchors and encodings). Shapes are given per function; leading batch dimensions are allowed where stated. The
functions keep their inputs' float type (float32 in, float32 out) and need no torch: inference, tracking and the
training data workers share them.
"""
from __future__ import annotations

import numpy as np

VARIANCES = (0.1, 0.2)


def cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    """(..., 4) [cx, cy, w, h] -> (..., 4) [x0, y0, x1, y1]."""
    c, s = b[..., :2], b[..., 2:]
    return np.concatenate([c - s / 2, c + s / 2], axis=-1)


def xyxy_to_cxcywh(b: np.ndarray) -> np.ndarray:
    """(..., 4) [x0, y0, x1, y1] -> (..., 4) [cx, cy, w, h]."""
    return np.concatenate([(b[..., :2] + b[..., 2:]) / 2, b[..., 2:] - b[..., :2]], axis=-1)


def box_area(b: np.ndarray) -> np.ndarray:
    """(..., 4) xyxy -> (...) area (0 for degenerate boxes)."""
    return (b[..., 2] - b[..., 0]).clip(min=0) * (b[..., 3] - b[..., 1]).clip(min=0)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every pair: a (N, 4) xyxy, b (M, 4) xyxy -> (N, M); 0 where both boxes are degenerate."""
    a, b = np.asarray(a), np.asarray(b)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clip(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return inter / union.clip(min=1e-12)


def encode(matched_xyxy: np.ndarray, anchors: np.ndarray, variances=VARIANCES) -> np.ndarray:
    """Regression targets for boxes matched to anchors.

    matched_xyxy (A, 4) xyxy, anchors (A, 4) cxcywh (same units) -> (A, 4) [dx, dy, dw, dh]:
    dx = (cx - acx) / (v0 * aw), dw = log(w / aw) / v1. A degenerate box (zero width or height: the zero box of a
    real image) gives -inf there, which the loss never reads (it reads positive anchors only).
    """
    m = xyxy_to_cxcywh(matched_xyxy)
    dxy = (m[:, :2] - anchors[:, :2]) / (variances[0] * anchors[:, 2:])
    with np.errstate(divide="ignore"):
        dwh = np.log(m[:, 2:] / anchors[:, 2:]) / variances[1]
    return np.concatenate([dxy, dwh], axis=1)


def decode(loc: np.ndarray, anchors: np.ndarray, variances=VARIANCES) -> np.ndarray:
    """Inverse of `encode`: loc (..., A, 4) offsets, anchors (A, 4) cxcywh -> (..., A, 4) xyxy (anchor units)."""
    cxy = anchors[:, :2] + loc[..., :2] * variances[0] * anchors[:, 2:]
    wh = anchors[:, 2:] * np.exp(loc[..., 2:] * variances[1])
    return np.concatenate([cxy - wh / 2, cxy + wh / 2], axis=-1)


def match(gt_xyxy: np.ndarray, anchors: np.ndarray, threshold: float = 0.5, variances=VARIANCES):
    """Assign ground-truth boxes to anchors (SSD matching, as the authors' label assignment).

    gt_xyxy (G, 4) xyxy normalised (G may be 0), anchors (A, 4) cxcywh normalised.
    Each anchor takes the ground truth it overlaps most; anchors below `threshold` IoU are background, except that
    every ground-truth box's best anchor is forced positive (and takes that box).
    Returns loc_targets (A, 4) offsets to each anchor's best ground truth (as SSD and the authors: background anchors
    carry them too, the loss reads positives only; all zeros when G = 0) and labels (A,) int64: 1 = artifact, 0 = bg.
    """
    gt_xyxy = np.asarray(gt_xyxy).reshape(-1, 4)
    num_anchors = anchors.shape[0]
    if len(gt_xyxy) == 0:
        return np.zeros((num_anchors, 4), np.float32), np.zeros(num_anchors, np.int64)
    iou = box_iou(gt_xyxy, cxcywh_to_xyxy(anchors))  # (G, A)
    best_anchor_per_gt = iou.argmax(axis=1)  # (G,)
    best_gt = iou.argmax(axis=0)  # (A,)
    best_gt_iou = iou[best_gt, np.arange(num_anchors)]
    best_gt_iou[best_anchor_per_gt] = 2.0
    for g in range(len(gt_xyxy)):
        best_gt[best_anchor_per_gt[g]] = g
    labels = (best_gt_iou >= threshold).astype(np.int64)
    return encode(gt_xyxy[best_gt], anchors, variances), labels


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression. boxes (N, 4) xyxy, scores (N,) -> kept indices (K,) int64 by descending
    score (ties: the lower index first)."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(int(i))
        if order.size == 1:
            break
        ious = box_iou(boxes[i : i + 1], boxes[order[1:]])[0]
        order = order[1:][ious <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)
