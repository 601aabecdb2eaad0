import numpy as np
import pytest

from core.faces.track import FaceTracker


def _box(cx, cy, s=60.0):
    return [cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2]


def test_two_faces_moving_and_crossing():
    tr = FaceTracker(iou_threshold=0.3, max_gap=5)
    history = {0: [], 1: []}
    for f in range(0, 41):
        a = _box(100 + 5 * f, 100)  # left to right
        b = _box(300 - 5 * f, 130)  # right to left, a little lower: they overlap around f = 20
        boxes = [a, b] if f % 2 == 0 else [b, a]  # detector order changes from frame to frame
        ids = tr.update(f, boxes)
        got = dict(zip(ids, boxes))
        assert sorted(ids) == [0, 1]
        history[0].append(got[0])
        history[1].append(got[1])
    # Id 0 is the face first given at frame 0 (a) and keeps moving right; id 1 keeps moving left.
    xs0 = [bx[0] for bx in history[0]]
    xs1 = [bx[0] for bx in history[1]]
    assert all(np.diff(xs0) > 0) and all(np.diff(xs1) < 0)


def test_gap_within_and_beyond_max_gap():
    tr = FaceTracker(iou_threshold=0.3, max_gap=10)
    assert tr.update(0, [_box(100, 100)]) == [0]
    assert tr.update(1, [_box(102, 100)]) == [0]
    assert tr.update(5, np.zeros((0, 4))) == []
    assert tr.update(11, [_box(104, 100)]) == [0]  # 10 frames unseen: still the same track
    assert tr.update(22, [_box(104, 100)]) == [1]  # 11 frames unseen: ended, a new id
    assert [t.track_id for t in tr.tracks] == [1]
    # A second face appears: next id; ids are never reused.
    assert tr.update(23, [_box(104, 100), _box(400, 300)]) == [1, 2]
    tr.reset()
    assert tr.update(0, [_box(10, 10)]) == [0]


def test_greedy_prefers_highest_iou_and_threshold():
    tr = FaceTracker(iou_threshold=0.3, max_gap=3)
    tr.update(0, [_box(100, 100), _box(150, 100)])
    # The new box at 140 overlaps track 1 (at 150) more than track 0 (at 100): it goes to track 1, and the
    # other new box at 95 to track 0.
    assert tr.update(1, [_box(95, 100), _box(140, 100)]) == [0, 1]
    # Far away: below the threshold, a new track.
    assert tr.update(2, [_box(500, 500)]) == [2]
    # Each track takes at most one box per frame; two boxes on one face give a new id to the second.
    assert tr.update(3, [_box(95, 100), _box(96, 100)]) == [0, 3]
    with pytest.raises(ValueError):
        tr.update(2, [])
    with pytest.raises(ValueError):
        FaceTracker(iou_threshold=0.0)
