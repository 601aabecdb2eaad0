"""Small pure box functions (torch), SSD-style.

Conventions: `xyxy` = [x0, y0, x1, y1]; `cxcywh` = [cx, cy, w, h]; both in the same units (normalised crop units
for anchors and encodings). Shapes are given per function; leading batch dimensions are allowed where stated.
"""
from __future__ import annotations

import torch

VARIANCES = (0.1, 0.2)


def cxcywh_to_xyxy(b: torch.Tensor) -> torch.Tensor:
    """(..., 4) [cx, cy, w, h] -> (..., 4) [x0, y0, x1, y1]."""
    c, s = b[..., :2], b[..., 2:]
    return torch.cat([c - s / 2, c + s / 2], dim=-1)


def xyxy_to_cxcywh(b: torch.Tensor) -> torch.Tensor:
    """(..., 4) [x0, y0, x1, y1] -> (..., 4) [cx, cy, w, h]."""
    return torch.cat([(b[..., :2] + b[..., 2:]) / 2, b[..., 2:] - b[..., :2]], dim=-1)


def box_area(b: torch.Tensor) -> torch.Tensor:
    """(..., 4) xyxy -> (...) area (0 for degenerate boxes)."""
    return (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every pair: a (N, 4) xyxy, b (M, 4) xyxy -> (N, M)."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=-1)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return inter / union.clamp(min=1e-12)


def encode(matched_xyxy: torch.Tensor, anchors: torch.Tensor, variances=VARIANCES) -> torch.Tensor:
    """Regression targets for boxes matched to anchors.

    matched_xyxy (A, 4) xyxy, anchors (A, 4) cxcywh (same units) -> (A, 4) [dx, dy, dw, dh]:
    dx = (cx - acx) / (v0 * aw), dw = log(w / aw) / v1.
    """
    m = xyxy_to_cxcywh(matched_xyxy)
    dxy = (m[:, :2] - anchors[:, :2]) / (variances[0] * anchors[:, 2:])
    dwh = torch.log(m[:, 2:] / anchors[:, 2:]) / variances[1]
    return torch.cat([dxy, dwh], dim=1)


def decode(loc: torch.Tensor, anchors: torch.Tensor, variances=VARIANCES) -> torch.Tensor:
    """Inverse of `encode`: loc (..., A, 4) offsets, anchors (A, 4) cxcywh -> (..., A, 4) xyxy (anchor units)."""
    cxy = anchors[:, :2] + loc[..., :2] * variances[0] * anchors[:, 2:]
    wh = anchors[:, 2:] * torch.exp(loc[..., 2:] * variances[1])
    return torch.cat([cxy - wh / 2, cxy + wh / 2], dim=-1)


def match(gt_xyxy: torch.Tensor, anchors: torch.Tensor, threshold: float = 0.5, variances=VARIANCES):
    """Assign ground-truth boxes to anchors (SSD matching, as the authors' label assignment).

    gt_xyxy (G, 4) xyxy normalised (G may be 0), anchors (A, 4) cxcywh normalised.
    Each anchor takes the ground truth it overlaps most; anchors below `threshold` IoU are background, except that
    every ground-truth box's best anchor is forced positive (and takes that box).
    Returns loc_targets (A, 4) offsets to each anchor's best ground truth (as SSD and the authors: background anchors
    carry them too, the loss reads positives only; all zeros when G = 0) and labels (A,) int64: 1 = artifact, 0 = bg.
    """
    num_anchors = anchors.shape[0]
    if gt_xyxy.numel() == 0:
        return torch.zeros(num_anchors, 4), torch.zeros(num_anchors, dtype=torch.long)
    iou = box_iou(gt_xyxy, cxcywh_to_xyxy(anchors))  # (G, A)
    best_anchor_per_gt = iou.argmax(dim=1)  # (G,)
    best_gt_iou, best_gt = iou.max(dim=0)  # (A,)
    best_gt_iou = best_gt_iou.clone()
    best_gt = best_gt.clone()
    best_gt_iou[best_anchor_per_gt] = 2.0
    for g in range(gt_xyxy.shape[0]):
        best_gt[best_anchor_per_gt[g]] = g
    labels = (best_gt_iou >= threshold).long()
    return encode(gt_xyxy[best_gt], anchors, variances), labels


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression. boxes (N, 4) xyxy, scores (N,) -> kept indices (K,) by descending score."""
    order = scores.argsort(descending=True)
    keep = []
    while order.numel() > 0:
        i = order[0]
        keep.append(int(i))
        if order.numel() == 1:
            break
        ious = box_iou(boxes[i : i + 1], boxes[order[1:]])[0]
        order = order[1:][ious <= iou_threshold]
    return torch.tensor(keep, dtype=torch.long)
