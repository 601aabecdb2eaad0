"""Linking face detections across frames into tracks by box overlap.

`FaceTracker.update(frame_index, boxes (N, 4) xyxy frame pixels) -> list[int]`: one track id per box, in the
boxes' order. Matching is greedy on IoU with each live track's last box, highest IoU first, pairs below
`iou_threshold` never matched. Unmatched boxes open new tracks, numbered 0, 1, 2, ... in order of appearance
(within a frame, in the order the boxes are given). A track not matched for more than `max_gap` frames (by
frame index, so sparse sampling counts the skipped frames) ends and its id is never reused.

With frames sampled sparsely (e.g. every 10th frame), set `max_gap` to at least the sampling step; faces
that move more than about their own size between two processed frames will not be linked.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.model.boxes import box_iou


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) xyxy -> (N, M) IoU (`core.model.boxes.box_iou`); degenerate boxes give 0."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    return box_iou(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))


@dataclass
class Track:
    """A live track: its id, last box (xyxy frame px), the frame it was last seen in, and how often seen."""

    track_id: int
    box: np.ndarray
    last_frame: int
    first_frame: int
    hits: int = 1


class FaceTracker:
    """Greedy IoU tracker. Frame indices passed to `update` must not decrease."""

    def __init__(self, iou_threshold: float = 0.3, max_gap: int = 30):
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], not {iou_threshold}")
        if max_gap < 0:
            raise ValueError(f"max_gap must be >= 0, not {max_gap}")
        self.iou_threshold = float(iou_threshold)
        self.max_gap = int(max_gap)
        self.reset()

    def reset(self) -> None:
        self._tracks: list[Track] = []
        self._next_id = 0
        self._last_frame: int | None = None

    @property
    def tracks(self) -> list[Track]:
        """Live tracks (those not yet ended), in order of id."""
        return list(self._tracks)

    def update(self, frame_index: int, boxes) -> list[int]:
        frame_index = int(frame_index)
        if self._last_frame is not None and frame_index < self._last_frame:
            raise ValueError(f"frame indices must not decrease ({frame_index} after {self._last_frame})")
        self._last_frame = frame_index
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)

        # End tracks unseen for more than max_gap frames.
        self._tracks = [t for t in self._tracks if frame_index - t.last_frame <= self.max_gap]
        # Tracks already updated in this frame (a repeated frame index) take no further boxes.
        live = [t for t in self._tracks if t.last_frame < frame_index]

        ids = [-1] * len(b)
        if live and len(b):
            iou = _iou_matrix(np.stack([t.box for t in live]), b)
            order = np.argsort(-iou, axis=None, kind="stable")
            used_t, used_b = set(), set()
            for flat in order:
                ti, bi = divmod(int(flat), len(b))
                if iou[ti, bi] < self.iou_threshold:
                    break
                if ti in used_t or bi in used_b:
                    continue
                used_t.add(ti)
                used_b.add(bi)
                t = live[ti]
                t.box, t.last_frame, t.hits = b[bi].copy(), frame_index, t.hits + 1
                ids[bi] = t.track_id
        for bi in range(len(b)):
            if ids[bi] < 0:
                t = Track(self._next_id, b[bi].copy(), frame_index, frame_index)
                self._next_id += 1
                self._tracks.append(t)
                ids[bi] = t.track_id
        return ids
