"""AUC, ROC curve and the metrics breakdown against hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core.train.dataset import FrameRecord
from core.train.evaluation import accuracy, compute_metrics, roc_auc, roc_curve


def test_auc_hand_computed():
    # pairs (pos, neg): 0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1 yes, 0.8>0.4 yes -> 3/4
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)  # a tie counts one half
    # pos {0.5, 0.9}, neg {0.5, 0.2, 0.7}: 0.5 beats 0.2, ties 0.5 (1/2), loses to 0.7 -> 1.5; 0.9 beats all -> 3
    assert roc_auc([1, 1, 0, 0, 0], [0.5, 0.9, 0.5, 0.2, 0.7]) == pytest.approx(4.5 / 6)
    assert roc_auc([1, 1, 0], [0.1, 0.2, 0.9]) == 0.0
    assert math.isnan(roc_auc([1, 1], [0.3, 0.4]))


def test_roc_curve_points_and_trapezoid_equals_auc():
    y, s = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    fpr, tpr, thr = roc_curve(y, s)
    assert fpr.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert tpr.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert thr[0] == np.inf and thr[1:].tolist() == [0.8, 0.4, 0.35, 0.1]
    g = np.random.default_rng(0)
    y = g.integers(0, 2, 200)
    s = np.round(g.random(200) + 0.3 * y, 2)  # with ties
    fpr, tpr, _ = roc_curve(y, s)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(y, s))


def _rec(video, method, label, frame):
    return FrameRecord(id=f"{video}/{frame}", path="x.png", label=label, dataset="d", method=method, video=video,
                       frame=frame, split="test", landmarks=[[0, 0]] * 68, box=[0, 0, 1, 1])


def test_metrics_video_mean_and_per_method():
    recs = [_rec("r1", "real", 0, 0), _rec("r1", "real", 0, 1), _rec("r2", "real", 0, 0),
            _rec("f1", "Deepfakes", 1, 0), _rec("f1", "Deepfakes", 1, 1), _rec("f2", "FaceSwap", 1, 0)]
    probs = [0.1, 0.5, 0.4, 0.9, 0.5, 0.2]  # videos: r1 0.3, r2 0.4, f1 0.7, f2 0.2
    m = compute_metrics(recs, probs)
    assert m["video"]["n"] == 4 and m["frame"]["n"] == 6
    assert m["video"]["auc"] == pytest.approx(0.5)  # f1 beats both reals, f2 beats none
    assert m["video"]["accuracy"] == pytest.approx(0.75)  # r1, r2, f1 right; f2 wrong
    assert m["per_method"]["Deepfakes"]["video_auc"] == 1.0
    assert m["per_method"]["FaceSwap"]["video_auc"] == 0.0
    assert m["per_method"]["real"]["video_accuracy"] == 1.0 and "video_auc" not in m["per_method"]["real"]
    assert accuracy([0, 1], [0.5, 0.5], 0.5) == 0.5


def test_threshold_at_fpr_lets_through_at_most_the_target_share():
    from core.train.evaluation import threshold_at_fpr

    real = np.linspace(0.0, 0.99, 40)  # 40 real scores: 5% = 2 may score at or above the threshold
    t = threshold_at_fpr(real, 0.05)
    assert np.sum(real >= t) == 2 and real[-3] < t <= real[-2]
    assert np.sum(real >= threshold_at_fpr(real, 0.0)) == 0
    assert threshold_at_fpr([], 0.05) == 1.0 and threshold_at_fpr([0.3], 1.0) == 0.0
