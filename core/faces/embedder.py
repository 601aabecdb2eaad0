"""The face descriptor: who a face is, as a (128,) float32 vector (`core.faces.identity` compares them).

`FaceEmbedder.describe(image_bgr, landmarks68 (68, 2) frame px) -> (128,) float32`: dlib's ResNet face-recognition
model (`dlib_face_recognition_resnet_model_v1.dat`, shipped by the face-recognition-models package) on dlib's own
aligned 150x150 chip (`dlib.get_face_chip`, padding 0.25) cut from around the face. Descriptors are compared by
Euclidean distance; dlib's published operating point is 0.6 (same person below, 99.38% on LFW).
"""
from __future__ import annotations

import os

import numpy as np

from core.faces.dlib_models import cut_for_dlib, load_dlib_model, packaged_model_path

DESCRIPTOR_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
CHIP_SIZE, CHIP_PADDING = 150, 0.25  # what the model was trained on (dlib's defaults)
CUT_MARGIN = 0.5  # of the landmarks' larger side, on each side: the chip (padding 0.25, any rotation) lies inside


def default_descriptor_model_path() -> str:
    """Path of `dlib_face_recognition_resnet_model_v1.dat` in the installed face-recognition-models package
    (CheckpointError naming the file when it is missing)."""
    return packaged_model_path(DESCRIPTOR_MODEL, "face descriptor model")


#: What computes the descriptors: "auto" (ONNX Runtime when it is installed and its export agrees with dlib, else
#: dlib), "dlib", "onnxruntime" (or a ValueError saying why not).
DESCRIPTOR_RUNTIMES = ("auto", "dlib", "onnxruntime")


class FaceEmbedder:
    """dlib's 128-D face descriptor, model loaded once. `runtime` (DESCRIPTOR_RUNTIMES) says what runs the network;
    `self.runtime` names the one that does ("onnxruntime 1.32.0", "dlib 20.0.1"): ONNX Runtime gives dlib's
    descriptors (within 3e-7, checked on every load; `core.faces.descriptor_ort`) about 15x faster and without
    holding Python's lock; dlib's own network is then loaded only to export it (once per model file and
    version). Thread use: one embedder per thread is the safe choice."""

    def __init__(self, model_path: str | os.PathLike | None = None, runtime: str = "auto"):
        import dlib

        if runtime not in DESCRIPTOR_RUNTIMES:
            raise ValueError(f"runtime: choose from {', '.join(DESCRIPTOR_RUNTIMES)}, not {runtime!r}")
        path = str(model_path) if model_path is not None else default_descriptor_model_path()
        if not os.path.isfile(path):
            self._dlib_model(path)  # the CheckpointError naming the file
        self.model_path = path
        self._model = None
        self._ort = None
        self.runtime = f"dlib {dlib.__version__}"
        if runtime != "dlib":
            self._ort = self._onnx_runtime(path, runtime)
        if self._ort is None:
            self._model = self._dlib_model(path)

    @staticmethod
    def _dlib_model(path: str):
        import dlib

        return load_dlib_model(dlib.face_recognition_model_v1, path, "face descriptor model",
                               "dlib face recognition model")

    def _onnx_runtime(self, path: str, runtime: str):
        from core.model import onnx
        from core.faces.descriptor_ort import OrtDescriptor

        def dlib_network():
            self._model = self._model or self._dlib_model(path)
            return self._model.compute_face_descriptor

        ort = onnx.open_or_fallback(lambda: OrtDescriptor(path, dlib_network), runtime == "onnxruntime",
                                    "compute face descriptors", "dlib computes the face descriptors")
        if ort is not None:
            self.runtime = onnx.version()
        return ort

    @staticmethod
    def chip(image_bgr: np.ndarray, landmarks68) -> np.ndarray:
        """dlib's aligned face chip (150, 150, 3) RGB uint8 for a face with 68 landmarks in frame pixels. Only a
        cut around the landmarks is converted to RGB (the chip is identical to one from the whole frame)."""
        import dlib

        lm = np.asarray(landmarks68, dtype=np.float64).reshape(68, 2)
        x0, y0 = lm.min(axis=0)
        x1, y1 = lm.max(axis=0)
        margin = CUT_MARGIN * max(x1 - x0, y1 - y0, 1.0)
        img, cx0, cy0 = cut_for_dlib(image_bgr, (x0, y0, x1, y1), margin, margin)
        pts = np.rint(lm - (cx0, cy0)).astype(int)
        # get_face_chip only uses the parts; the rectangle is required by the type
        shape = dlib.full_object_detection(dlib.rectangle(0, 0, img.shape[1] - 1, img.shape[0] - 1),
                                           [dlib.point(int(x), int(y)) for x, y in pts])
        return dlib.get_face_chip(img, shape, size=CHIP_SIZE, padding=CHIP_PADDING)

    def describe(self, image_bgr: np.ndarray, landmarks68) -> np.ndarray:
        """(128,) float32 descriptor of the face with these landmarks ((68, 2) frame px) in a BGR uint8 frame."""
        chip = self.chip(image_bgr, landmarks68)
        if self._ort is not None:
            return self._ort(chip[None])[0]
        return np.asarray(self._model.compute_face_descriptor(chip), dtype=np.float32)
