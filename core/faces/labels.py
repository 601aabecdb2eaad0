"""Labelled face boxes (ground truth for detector recall) and matching detections to them.

Sources:
- dlib imglab XML (`load_imglab_xml`): `<image file=...><box top left width height/>...`; boxes come back xyxy frame
  pixels, exclusive right/bottom (`left + width`). `ignore='1'` boxes are dropped.
- this project's JSON of boxes on frames of the shared clips (`load_frame_boxes`, `bench/data/face_boxes.json`):
  `{"clips": [{"file": "name.mp4", "folder": "videos/real", "frames": [{"index": 12, "boxes": [[x0, y0, x1, y1]],
  "tags": ["profile"]}]}]}`; boxes xyxy frame px of the full-resolution frame; no images are stored.

`match(detections, truth, iou_min=0.4)` is pure: one-to-one greedy matching by IoU (highest first); a pair counts when
IoU >= `iou_min` or the detection's centre lies inside the true box (HOG and MMOD boxes are tighter than many
hand-drawn boxes, so IoU alone undercounts). Returns `Match(tp, fp, fn, pairs)`. Numpy only; no OpenCV or dlib.
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class LabelledImage:
    """One labelled image or frame: `path` (an image file, or a video with `frame`), `boxes` (N, 4) xyxy px."""

    path: Path
    boxes: np.ndarray
    frame: int | None = None  # frame index in a video; None for a photo
    tags: tuple[str, ...] = ()  # e.g. "profile", "dim"


def load_imglab_xml(path: str | Path) -> list[LabelledImage]:
    """dlib imglab XML -> labelled images (paths resolved against the XML's folder)."""
    path = Path(path)
    root = ET.parse(path).getroot()
    out = []
    for img in root.iter("image"):
        boxes = []
        for b in img.iter("box"):
            if b.get("ignore", "0") not in ("0", ""):
                continue
            x0, y0 = float(b.get("left")), float(b.get("top"))
            boxes.append([x0, y0, x0 + float(b.get("width")), y0 + float(b.get("height"))])
        out.append(LabelledImage(path.parent / img.get("file"), np.asarray(boxes, np.float64).reshape(-1, 4)))
    return out


def load_frame_boxes(path: str | Path, data_root: str | Path) -> list[LabelledImage]:
    """This project's JSON of face boxes on video frames -> labelled frames (videos under `data_root/folder`)."""
    doc = json.loads(Path(path).read_text())
    out = []
    for clip in doc["clips"]:
        video = Path(data_root) / clip.get("folder", "videos/real") / clip["file"]
        for fr in clip["frames"]:
            boxes = np.asarray(fr["boxes"], np.float64).reshape(-1, 4)
            if np.any(boxes[:, 2] <= boxes[:, 0]) or np.any(boxes[:, 3] <= boxes[:, 1]):
                raise ValueError(f"{path}: {clip['file']} frame {fr['index']}: a box is not x0 < x1, y0 < y1")
            out.append(LabelledImage(video, boxes, int(fr["index"]), tuple(fr.get("tags", ()))))
    return out


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) xyxy -> (N, M) IoU."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


@dataclass(frozen=True)
class Match:
    tp: int
    fp: int
    fn: int
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (detection index, truth index)


def match(detections, truth, iou_min: float = 0.4) -> Match:
    """One-to-one matching of detection boxes (N, 4) to true boxes (M, 4), both xyxy in the same pixels.

    Candidate pairs: IoU >= iou_min, or the detection's centre inside the true box. Pairs are taken greedily by IoU,
    highest first (a centre-inside pair with lower IoU still counts when both are free). TP = pairs, FP = unpaired
    detections, FN = unpaired true boxes."""
    d = np.asarray(detections, np.float64).reshape(-1, 4)
    t = np.asarray(truth, np.float64).reshape(-1, 4)
    if len(d) == 0 or len(t) == 0:
        return Match(0, len(d), len(t), [])
    iou = iou_matrix(d, t)
    cx, cy = (d[:, 0] + d[:, 2]) / 2, (d[:, 1] + d[:, 3]) / 2
    inside = ((cx[:, None] >= t[None, :, 0]) & (cx[:, None] <= t[None, :, 2])
              & (cy[:, None] >= t[None, :, 1]) & (cy[:, None] <= t[None, :, 3]))
    ok = (iou >= iou_min) | inside
    order = sorted(zip(*np.nonzero(ok)), key=lambda p: -iou[p])
    used_d, used_t, pairs = set(), set(), []
    for i, j in order:
        if i in used_d or j in used_t:
            continue
        used_d.add(int(i))
        used_t.add(int(j))
        pairs.append((int(i), int(j)))
    return Match(len(pairs), len(d) - len(pairs), len(t) - len(pairs), pairs)
