"""The face detectors an analysis can run (`core.faces.pipeline.DetectorSettings.detector`), kept apart from the
pipeline so that command-line parsers can list them without loading dlib, OpenCV or ONNX Runtime.

- "retinaface": the default: RetinaFace MobileNet-0.25 in ONNX Runtime (`core.faces.retinaface`); at or above
  the others on every set of `bench/detector_recall.py` (docs/DETECTION.md);
- "hog": dlib's HOG with the upsample and exposure retries and the MMOD CNN fallback (every result made before
  RetinaFace; a recorded result without a `detector` ran it);
- "cnn": dlib's MMOD CNN alone (slow; for comparison).
"""
DETECTORS = ("retinaface", "hog", "cnn")
DEFAULT_DETECTOR = "retinaface"  # better on every set of bench/detector_recall.py (docs/DETECTION.md)
#: What a recorded detector setting without a `detector` key ran.
LEGACY_DETECTOR = "hog"
#: What a menu calls each choice.
DETECTOR_LABELS = {"retinaface": "RetinaFace (ONNX Runtime)", "hog": "dlib HOG + retries + CNN fallback",
                   "cnn": "dlib MMOD CNN alone (slow)"}
