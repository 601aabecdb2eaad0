"""The CADDM loss against the authors' MultiBoxLoss numbers, and its behaviour on real images."""
from __future__ import annotations

import numpy as np
import torch

from core.model.anchors import make_anchors
from core.model.boxes import match
from core.train.loss import caddm_loss, detection_loss
from tests.conftest import REFERENCE, need


def test_loss_parity_with_authors():
    d = np.load(need(REFERENCE / "expected_resnet34.npz"))
    outputs = {"loc": torch.from_numpy(d["train_nodrop_loc"]), "conf": torch.from_numpy(d["train_nodrop_conf"]),
               "logits": torch.from_numpy(d["train_nodrop_logits"])}
    loc_t = torch.from_numpy(d["label_assign_loc"][[0, 2]])
    conf_t = torch.from_numpy(d["label_assign_conf"][[0, 2]]).long()
    parts = caddm_loss(outputs, torch.tensor([0, 1]), loc_t, conf_t)
    assert np.isclose(float(parts.loc), float(d["loss_l"]), rtol=1e-5)
    assert np.isclose(float(parts.conf), float(d["loss_c"]), rtol=1e-5)
    assert np.isclose(float(parts.cls), float(d["loss_cls"]), rtol=1e-5)
    assert np.isclose(float(parts.total), float(d["loss_total"]), rtol=1e-5)


def test_our_label_assignment_feeds_the_same_loss():
    """Targets from core.model.boxes.match give the same loss (their matcher read the stored numbers as xyxy, so the
    same numbers are fed here)."""
    d = np.load(need(REFERENCE / "expected_resnet34.npz"))
    anchors = make_anchors()
    b = d["label_assign_bboxes"][2]
    b = b[~np.isnan(b).any(axis=1)] / 224.0
    loc2, conf2 = (torch.from_numpy(a) for a in match(b.astype(np.float32), anchors))
    loc_t = torch.stack([torch.zeros(168, 4), loc2])
    conf_t = torch.stack([torch.zeros(168, dtype=torch.long), conf2])
    l, c, n = detection_loss(torch.from_numpy(d["train_nodrop_loc"]), torch.from_numpy(d["train_nodrop_conf"]),
                             loc_t, conf_t)
    assert n == 4
    assert np.isclose(float(l), float(d["loss_l"]), rtol=1e-4)
    assert np.isclose(float(c), float(d["loss_c"]), rtol=1e-4)


def test_real_images_carry_no_detection_loss_and_mining_ratio():
    g = torch.Generator().manual_seed(0)
    loc = torch.randn(2, 168, 4, generator=g, requires_grad=True)
    conf = torch.randn(2, 168, 2, generator=g, requires_grad=True)
    conf_t = torch.zeros(2, 168, dtype=torch.long)
    conf_t[1, [3, 50, 100]] = 1
    loc_t = torch.randn(2, 168, 4, generator=g)
    l, c, n = detection_loss(loc, conf, loc_t, conf_t)
    (l + c).backward()
    assert n == 3
    assert loc.grad[0].abs().sum() == 0 and conf.grad[0].abs().sum() == 0  # the real image
    # image 1: 3 positives + 6 hardest negatives get a confidence gradient
    assert int((conf.grad[1].abs().sum(dim=1) > 0).sum()) == 9
    # no positives anywhere: zero detection loss, N counted as 1
    l0, c0, n0 = detection_loss(loc, conf, loc_t, torch.zeros_like(conf_t))
    assert n0 == 0 and float(l0.detach()) == 0 and float(c0.detach()) == 0


def test_adm_off_is_classification_only():
    out = {"logits": torch.tensor([[2.0, -1.0], [0.0, 1.0]]), "loc": torch.zeros(2, 168, 4),
           "conf": torch.zeros(2, 168, 2)}
    conf_t = torch.zeros(2, 168, dtype=torch.long)
    conf_t[1, 0] = 1
    parts = caddm_loss(out, torch.tensor([0, 1]), torch.ones(2, 168, 4), conf_t, det_weight=0.0)
    expect = torch.nn.functional.cross_entropy(out["logits"], torch.tensor([0, 1]))
    assert torch.isclose(parts.total, expect)
