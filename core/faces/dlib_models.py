"""dlib's side of the face stages: finding its model files in the face-recognition-models package, loading them with
a message that names the file, and converting (a cut of) a frame to the RGB dlib wants. The detectors, the
landmark predictor and the face descriptor share these.

The package cannot be imported (it needs pkg_resources), so its folder is found with importlib."""
from __future__ import annotations

import importlib.util
import os

import cv2
import numpy as np

from core.common.errors import CheckpointError


def to_dlib_image(image: np.ndarray) -> np.ndarray:
    """BGR (H, W, 3) or grey (H, W) uint8 -> contiguous RGB / grey uint8 as dlib wants it."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"image must be uint8, not {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 3:
        return np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    if img.ndim == 3 and img.shape[2] == 4:
        return np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGRA2RGB))
    if img.ndim == 2:
        return np.ascontiguousarray(img)
    raise ValueError(f"image must be (H, W, 3) BGR or (H, W) grey, not shape {img.shape}")


def packaged_model_path(name: str, what: str) -> str:
    """Path of dlib's model file `name` inside the installed face-recognition-models package; CheckpointError
    naming the file (`what`: what the file is, for the message) when the package or the file is missing."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(name, f"{what} not available: the face-recognition-models package is not installed")
    path = os.path.join(list(spec.submodule_search_locations)[0], "models", name)
    if not os.path.isfile(path):
        raise CheckpointError(path, f"{what} file is missing from face-recognition-models")
    return path


def load_dlib_model(factory, path: str, what: str, kind: str):
    """`factory(path)` (a dlib model class) for the model file at `path`; CheckpointError naming the file when it is
    missing (`what`: what the file is) or not a `kind` (dlib's own reason, its last line)."""
    if not os.path.isfile(path):
        raise CheckpointError(path, f"{what} file not found")
    try:
        return factory(path)
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        raise CheckpointError(path, f"not a {kind} ({reason})") from None


def cut_for_dlib(image_bgr: np.ndarray, box_xyxy, margin_x: float, margin_y: float) -> tuple[np.ndarray, int, int]:
    """(the part of the frame around `box_xyxy` (frame px) widened by the margins (px) on each side, clipped to the
    frame, as dlib's RGB; the cut's left and top in frame px). Converting only this cut keeps the cost of a face
    independent of the frame size."""
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    h, w = image_bgr.shape[:2]
    cx0, cy0 = max(0, int(x0 - margin_x)), max(0, int(y0 - margin_y))
    cx1, cy1 = min(w, int(np.ceil(x1 + margin_x))), min(h, int(np.ceil(y1 + margin_y)))
    return to_dlib_image(image_bgr[cy0:cy1, cx0:cx1]), cx0, cy0
