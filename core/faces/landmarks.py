"""68-point facial landmarks (iBUG 300-W scheme) with dlib's shape predictor, at full frame resolution.

`LandmarkPredictor.predict(image_bgr, box_xyxy) -> (68, 2) float32` in frame pixels (x right, y down), for a
face box in frame pixels (e.g. a `Detection.box`). The model file ships with the `face-recognition-models`
package; that package cannot be imported (it needs pkg_resources), so its folder is found with importlib.
The helpers for dlib's model files and cuts (`packaged_model_path`, `load_dlib_model`, `cut_for_dlib`) serve the
identity descriptor (`core.faces.identity`) too.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np

from core.errors import CheckpointError
from core.faces.detect import to_dlib_image

MODEL_NAME = "shape_predictor_68_face_landmarks.dat"


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


def default_landmark_model_path() -> str:
    """Path of `shape_predictor_68_face_landmarks.dat` inside the installed face-recognition-models package."""
    return packaged_model_path(MODEL_NAME, "landmark model")


CUT_MARGIN = 0.5  # of the box size, on each side of the box


def cut_for_dlib(image_bgr: np.ndarray, box_xyxy, margin_x: float, margin_y: float) -> tuple[np.ndarray, int, int]:
    """(the part of the frame around `box_xyxy` (frame px) widened by the margins (px) on each side, clipped to the
    frame, as dlib's RGB; the cut's left and top in frame px). Converting only this cut keeps the cost of a face
    independent of the frame size."""
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    h, w = image_bgr.shape[:2]
    cx0, cy0 = max(0, int(x0 - margin_x)), max(0, int(y0 - margin_y))
    cx1, cy1 = min(w, int(np.ceil(x1 + margin_x))), min(h, int(np.ceil(y1 + margin_y)))
    return to_dlib_image(image_bgr[cy0:cy1, cx0:cx1]), cx0, cy0


class LandmarkPredictor:
    """dlib 68-point shape predictor, loaded once. Thread use: one predictor per thread is the safe choice."""

    def __init__(self, model_path: str | os.PathLike | None = None):
        import dlib

        path = str(model_path) if model_path is not None else default_landmark_model_path()
        self._predictor = load_dlib_model(dlib.shape_predictor, path, "landmark model", "dlib shape predictor")
        self.model_path = path

    def predict(self, image_bgr: np.ndarray, box_xyxy) -> np.ndarray:
        """(68, 2) float32 landmarks in frame pixels for the face in `box_xyxy` (x0, y0, x1, y1 frame pixels).

        Only a cut around the box (half the box size on each side) is converted for dlib, not the whole frame: the
        landmarks are identical (checked on 54 faces of the project's real clips) and the cost no longer grows
        with the frame size."""
        import dlib

        x0, y0, x1, y1 = (float(v) for v in np.asarray(box_xyxy, dtype=np.float64).reshape(4))
        img, cx0, cy0 = cut_for_dlib(image_bgr, (x0, y0, x1, y1), CUT_MARGIN * (x1 - x0), CUT_MARGIN * (y1 - y0))
        # dlib rectangles hold inclusive integer corners; the exclusive xyxy edge is right + 1.
        rect = dlib.rectangle(int(round(x0)) - cx0, int(round(y0)) - cy0,
                              int(round(x1)) - 1 - cx0, int(round(y1)) - 1 - cy0)
        shape = self._predictor(img, rect)
        return np.array([(p.x + cx0, p.y + cy0) for p in shape.parts()], dtype=np.float32)

