import numpy as np
import pytest
import torch

from core.model.anchors import NUM_ANCHORS, make_anchors
from core.model.boxes import box_iou, cxcywh_to_xyxy, decode, encode, match, nms, xyxy_to_cxcywh
from tests.conftest import REFERENCE, need


def test_anchor_layout():
    a = make_anchors()
    assert a.shape == (NUM_ANCHORS, 4) == (168, 4)
    # first cell of the 7x7 map: centre (0.5 * 32 / 224), sizes 40x80 then 80x40
    assert torch.allclose(a[0], torch.tensor([16 / 224, 16 / 224, 40 / 224, 80 / 224]))
    assert torch.allclose(a[1], torch.tensor([16 / 224, 16 / 224, 80 / 224, 40 / 224]))
    # second anchor pair is the next column (x moves, y stays)
    assert a[2, 0] > a[0, 0] and a[2, 1] == a[0, 1]
    assert torch.allclose(a[-1], torch.tensor([0.5, 0.5, 1.0, 1.0]))
    assert a.min() >= 0 and a.max() <= 1


@pytest.mark.shared
def test_anchors_equal_authors_priors():
    expected = np.load(need(REFERENCE) / "expected_resnet34.npz")["priors"]
    assert np.array_equal(make_anchors().numpy(), expected)


def test_box_conversions_and_iou():
    b = torch.tensor([[10.0, 20.0, 30.0, 60.0]])
    assert torch.allclose(cxcywh_to_xyxy(xyxy_to_cxcywh(b)), b)
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 15.0, 15.0]])
    iou = box_iou(a, a)
    assert torch.allclose(iou.diag(), torch.ones(2))
    assert iou[0, 1].item() == pytest.approx(25 / 175)
    assert box_iou(a[:1], torch.tensor([[20.0, 20.0, 30.0, 30.0]])).item() == 0


def test_encode_decode_round_trip():
    anchors = make_anchors()
    gen = torch.Generator().manual_seed(0)
    xy0 = torch.rand(168, 2, generator=gen) * 0.5
    boxes = torch.cat([xy0, xy0 + 0.1 + torch.rand(168, 2, generator=gen) * 0.4], dim=1)
    assert torch.allclose(decode(encode(boxes, anchors), anchors), boxes, atol=1e-5)
    # zero offsets decode to the anchors themselves
    assert torch.allclose(decode(torch.zeros(168, 4), anchors), cxcywh_to_xyxy(anchors), atol=1e-6)


def test_match_forces_best_anchor_and_thresholds():
    anchors = make_anchors()
    small = torch.tensor([[0.40, 0.40, 0.45, 0.45]])  # tiny box: no anchor reaches IoU 0.5
    loc, labels = match(small, anchors)
    assert labels.sum() == 1  # its best anchor is forced positive
    full = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    loc, labels = match(full, anchors)
    assert set(torch.nonzero(labels).flatten().tolist()) == {166, 167}
    assert torch.allclose(loc[166], torch.zeros(4), atol=1e-6)
    loc, labels = match(torch.zeros(0, 4), anchors)
    assert labels.sum() == 0 and loc.abs().sum() == 0


@pytest.mark.shared
def test_label_assignment_equals_authors():
    """Their stored boxes are [y0,x0,y1,x1] but their matcher reads the numbers as xyxy: fed the same numbers, our
    matcher must assign exactly what theirs did (a zero box marks a real image: no positives)."""
    ref = np.load(need(REFERENCE) / "expected_resnet34.npz")
    anchors = make_anchors()
    for s, boxes in enumerate(ref["label_assign_bboxes"]):
        boxes = boxes[~np.isnan(boxes).any(axis=1)]
        boxes = boxes[boxes[:, 2] > boxes[:, 0]]
        loc, labels = match(torch.from_numpy(boxes / 224.0), anchors)
        assert np.array_equal(labels.numpy(), ref["label_assign_conf"][s].astype(np.int64))
        np.testing.assert_allclose(loc.numpy(), ref["label_assign_loc"][s], atol=1e-5)


def test_nms():
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9.5]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    assert nms(boxes, scores, 0.5).tolist() == [3, 2]
    assert nms(boxes, scores, 0.99).tolist() == [3, 0, 1, 2]
    assert nms(boxes[:0], scores[:0], 0.5).numel() == 0
