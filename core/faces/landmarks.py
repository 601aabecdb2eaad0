"""68-point facial landmarks (iBUG 300-W scheme) with dlib's shape predictor, at full frame resolution.

`LandmarkPredictor.predict(image_bgr, box_xyxy) -> (68, 2) float32` in frame pixels (x right, y down), for a
face box in frame pixels (e.g. a `Detection.box`). The model file ships with the `face-recognition-models`
package; that package cannot be imported (it needs pkg_resources), so its folder is found with importlib.
dlib's model files and cuts: `core.faces.dlib_models`.
"""
from __future__ import annotations

import os
import threading

import numpy as np

from core.faces.dlib_models import cut_for_dlib, load_dlib_model, packaged_model_path

MODEL_NAME = "shape_predictor_68_face_landmarks.dat"


def default_landmark_model_path() -> str:
    """Path of `shape_predictor_68_face_landmarks.dat` inside the installed face-recognition-models package."""
    return packaged_model_path(MODEL_NAME, "landmark model")


CUT_MARGIN = 0.5  # of the box size, on each side of the box

_LOADED: dict[tuple[str, int, int], object] = {}
_LOADED_LOCK = threading.Lock()


def _shape_predictor(path: str):
    """The parsed dlib shape predictor of the file at `path`, read once per process and file version (path, size,
    mtime): parsing the 99 MB model takes ~0.45 s, which every analysis, reference scan and training-pack worker
    paid again. dlib documents a shape_predictor as usable from several threads at once without synchronisation.
    A missing or unreadable file raises CheckpointError each time (nothing is remembered for it)."""
    import dlib

    try:
        st = os.stat(path)
        key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    except OSError:
        key = None
    with _LOADED_LOCK:
        found = _LOADED.get(key) if key is not None else None
    if found is not None:
        return found
    model = load_dlib_model(dlib.shape_predictor, path, "landmark model", "dlib shape predictor")
    if key is not None:
        with _LOADED_LOCK:
            model = _LOADED.setdefault(key, model)
    return model


class LandmarkPredictor:
    """dlib 68-point shape predictor; the model is parsed once per process (`_shape_predictor`) and shared, which
    dlib allows across threads."""

    def __init__(self, model_path: str | os.PathLike | None = None):
        path = str(model_path) if model_path is not None else default_landmark_model_path()
        self._predictor = _shape_predictor(path)
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

