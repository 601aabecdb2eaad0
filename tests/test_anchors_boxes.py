import numpy as np
import pytest
import torch

from core.model.anchors import NUM_ANCHORS, make_anchors
from core.model.boxes import box_iou, cxcywh_to_xyxy, decode, encode, match, nms, xyxy_to_cxcywh
from tests.conftest import REFERENCE, need


def test_anchor_layout():
    a = make_anchors()
    assert a.shape == (NUM_ANCHORS, 4) == (168, 4) and a.dtype == np.float32
    # first cell of the 7x7 map: centre (0.5 * 32 / 224), sizes 40x80 then 80x40
    np.testing.assert_allclose(a[0], [16 / 224, 16 / 224, 40 / 224, 80 / 224], rtol=1e-6)
    np.testing.assert_allclose(a[1], [16 / 224, 16 / 224, 80 / 224, 40 / 224], rtol=1e-6)
    # second anchor pair is the next column (x moves, y stays)
    assert a[2, 0] > a[0, 0] and a[2, 1] == a[0, 1]
    np.testing.assert_allclose(a[-1], [0.5, 0.5, 1.0, 1.0])
    assert a.min() >= 0 and a.max() <= 1


@pytest.mark.shared
def test_anchors_equal_authors_priors():
    expected = np.load(need(REFERENCE) / "expected_resnet34.npz")["priors"]
    assert np.array_equal(make_anchors(), expected)


def test_box_conversions_and_iou():
    b = np.array([[10.0, 20.0, 30.0, 60.0]], np.float32)
    np.testing.assert_allclose(cxcywh_to_xyxy(xyxy_to_cxcywh(b)), b)
    assert cxcywh_to_xyxy(b).dtype == np.float32
    a = np.array([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 15.0, 15.0]])
    iou = box_iou(a, a)
    np.testing.assert_allclose(np.diag(iou), np.ones(2))
    assert iou[0, 1] == pytest.approx(25 / 175)
    assert box_iou(a[:1], np.array([[20.0, 20.0, 30.0, 30.0]])).item() == 0
    assert box_iou(a[:1], np.zeros((0, 4))).shape == (1, 0)


def _torch_box_iou(a, b):
    """The torch formulation the numpy functions replaced (independent arithmetic for the parity check)."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=-1)
    area = lambda x: (x[..., 2] - x[..., 0]).clamp(min=0) * (x[..., 3] - x[..., 1]).clamp(min=0)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter).clamp(min=1e-12)


def test_box_iou_equals_the_torch_formulation():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 100, (40, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + rng.uniform(-5, 60, (40, 2)).astype(np.float32)], axis=1)  # some degenerate
    want = _torch_box_iou(torch.from_numpy(boxes), torch.from_numpy(boxes[:7])).numpy()
    np.testing.assert_allclose(box_iou(boxes, boxes[:7]), want, rtol=1e-6, atol=1e-7)


def test_encode_decode_round_trip():
    anchors = make_anchors()
    rng = np.random.default_rng(0)
    xy0 = rng.random((168, 2), dtype=np.float32) * 0.5
    boxes = np.concatenate([xy0, xy0 + 0.1 + rng.random((168, 2), dtype=np.float32) * 0.4], axis=1)
    np.testing.assert_allclose(decode(encode(boxes, anchors), anchors), boxes, atol=1e-5)
    # zero offsets decode to the anchors themselves; leading batch dimensions are kept
    np.testing.assert_allclose(decode(np.zeros((2, 168, 4), np.float32), anchors)[1], cxcywh_to_xyxy(anchors),
                               atol=1e-6)


def test_match_forces_best_anchor_and_thresholds():
    anchors = make_anchors()
    small = np.array([[0.40, 0.40, 0.45, 0.45]], np.float32)  # tiny box: no anchor reaches IoU 0.5
    loc, labels = match(small, anchors)
    assert labels.sum() == 1 and labels.dtype == np.int64  # its best anchor is forced positive
    full = np.array([[0.0, 0.0, 1.0, 1.0]], np.float32)
    loc, labels = match(full, anchors)
    assert set(np.flatnonzero(labels).tolist()) == {166, 167}
    np.testing.assert_allclose(loc[166], np.zeros(4), atol=1e-6)
    assert loc.dtype == np.float32
    loc, labels = match(np.zeros((0, 4), np.float32), anchors)
    assert labels.sum() == 0 and np.abs(loc).sum() == 0 and loc.shape == (168, 4)


@pytest.mark.shared
def test_label_assignment_equals_authors():
    """Their stored boxes are [y0,x0,y1,x1] but their matcher reads the numbers as xyxy: fed the same numbers, our
    matcher must assign exactly what theirs did (a zero box marks a real image: no positives)."""
    ref = np.load(need(REFERENCE) / "expected_resnet34.npz")
    anchors = make_anchors()
    for s, boxes in enumerate(ref["label_assign_bboxes"]):
        boxes = boxes[~np.isnan(boxes).any(axis=1)]
        boxes = boxes[boxes[:, 2] > boxes[:, 0]]
        loc, labels = match(boxes / 224.0, anchors)
        assert np.array_equal(labels, ref["label_assign_conf"][s].astype(np.int64))
        np.testing.assert_allclose(loc, ref["label_assign_loc"][s], atol=1e-5)


def test_nms():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9.5]], dtype=np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.95], np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [3, 2]
    assert nms(boxes, scores, 0.99).tolist() == [3, 0, 1, 2]
    assert nms(boxes[:0], scores[:0], 0.5).size == 0
