"""The CADDM training loss: image-level cross-entropy plus the ADM's SSD-style detection loss.

    total = CE(logits, y) + det_weight * (smoothL1_sum + conf_CE_sum) / N

- `logits` (B, 2), `y` (B,) int64 (1 = fake).
- `loc` (B, A, 4) predicted offsets, `conf` (B, A, 2) anchor logits (A = 168), as `CADDM.forward` returns them.
- `loc_t` (B, A, 4) encoded targets and `conf_t` (B, A) int64 anchor labels (1 = artifact, 0 = background), as
  `core.model.boxes.match` makes them per image.
- smoothL1_sum: Smooth-L1 (beta 1) summed over the positive anchors' four offsets.
- conf_CE_sum: cross-entropy summed over the positive anchors plus, per image, the `neg_pos` x (its positives)
  background anchors with the highest background loss (hard negative mining; capped at A - 1). An image with no
  positive anchor (a real image) therefore contributes nothing to the detection loss.
- N: positive anchors in the whole batch (1 when there are none).

This is the authors' MultiBoxLoss with their weighting (det_weight 0.1, neg_pos 2); `tests/test_loss.py` checks it
against their numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class LossParts:
    total: torch.Tensor  # scalar, differentiable
    cls: torch.Tensor  # CE of the image logits (mean over the batch)
    loc: torch.Tensor  # smoothL1_sum / N
    conf: torch.Tensor  # conf_CE_sum / N
    num_pos: int  # N before the "at least 1" rule

    def as_floats(self) -> dict[str, float]:
        return {"loss": float(self.total.detach()), "loss_cls": float(self.cls), "loss_loc": float(self.loc),
                "loss_conf": float(self.conf)}


def detection_loss(loc: torch.Tensor, conf: torch.Tensor, loc_t: torch.Tensor, conf_t: torch.Tensor,
                   neg_pos: int = 2) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(smoothL1_sum / N, conf_CE_sum / N, N) for a batch; shapes as in the module docstring."""
    loc, conf = loc.float(), conf.float()
    conf_t = conf_t.long()
    pos = conf_t > 0  # (B, A)
    num_pos_img = pos.sum(dim=1, keepdim=True)  # (B, 1)
    num_pos = int(num_pos_img.sum())
    loss_l = F.smooth_l1_loss(loc[pos], loc_t.float()[pos], reduction="sum")

    # Hard negative mining: rank background anchors by their CE under the background label.
    with torch.no_grad():
        per_anchor = torch.logsumexp(conf, dim=2) - conf.gather(2, conf_t.unsqueeze(2)).squeeze(2)  # (B, A)
        per_anchor = per_anchor.masked_fill(pos, 0.0)
        _, order = per_anchor.sort(dim=1, descending=True)
        _, rank = order.sort(dim=1)
        num_neg = torch.clamp(neg_pos * num_pos_img, max=pos.shape[1] - 1)
        neg = rank < num_neg
    chosen = pos | neg
    loss_c = F.cross_entropy(conf[chosen], conf_t[chosen], reduction="sum")
    n = max(num_pos, 1)
    return loss_l / n, loss_c / n, num_pos


def caddm_loss(outputs: dict[str, torch.Tensor], labels: torch.Tensor, loc_t: torch.Tensor, conf_t: torch.Tensor,
               det_weight: float = 0.1, neg_pos: int = 2) -> LossParts:
    """The full loss from `CADDM.forward` outputs. `det_weight=0` trains the classifier alone (ADM off)."""
    cls = F.cross_entropy(outputs["logits"].float(), labels.long())
    if det_weight == 0:
        zero = cls.new_zeros(())
        return LossParts(cls, cls.detach(), zero, zero, int((conf_t > 0).sum()))
    loss_l, loss_c, n = detection_loss(outputs["loc"], outputs["conf"], loc_t, conf_t, neg_pos)
    total = cls + det_weight * (loss_l + loss_c)
    return LossParts(total, cls.detach(), loss_l.detach(), loss_c.detach(), n)
