"""The face crops an int8 model is calibrated on (`core.model.int8`): real faces from files the project ships, so
an int8 model made from the same checkpoint is the same on every machine.

Sources (resources/calibration/README.md): dlib's example photos (Boost licence) in `resources/calibration/`, the
public-domain astronaut photo in `resources/source/`, and `FRAMES_PER_SAMPLE` evenly spaced frames of each sample
clip in `resources/samples/` (a real and a face-swapped clip). Every face the analysis's pipeline finds (RetinaFace,
68 landmarks, the 224 alignment) is kept, and each crop mirrored: about 130 crops.

`calibration() -> core.model.int8.Calibration`; `.crops()` -> (N, 224, 224, 3) BGR uint8, made on first use.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from core.common.errors import CheckpointError
from core.common.resources import resource_path, sample_videos
from core.model.int8 import Calibration

#: Names the calibration set: bump when its files or its crops change (the cached int8 exports carry it).
CALIBRATION_VERSION = "1"
FRAMES_PER_SAMPLE = 8


def _images():
    import cv2

    paths = sorted(resource_path("calibration").glob("*.jpg")) + [resource_path("source", "astronaut.png")]
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is not None:
            yield image
    from core.media.video import VideoReader, quick_probe

    for clip in sample_videos():
        count = quick_probe(clip)[0]
        indices = np.linspace(0, max(0, count - 1), FRAMES_PER_SAMPLE).round().astype(int)
        with VideoReader(clip) as reader:
            for frame in reader.frames(indices.tolist()):
                yield frame.image


@lru_cache(maxsize=1)
def calibration_crops() -> np.ndarray:
    """(N, 224, 224, 3) BGR uint8: every face of the calibration sources, aligned, then the same mirrored.
    CheckpointError when the shipped files give no face (a damaged installation)."""
    from core.faces.pipeline import DetectorSettings, FacePipeline

    pipeline = FacePipeline(DetectorSettings())
    crops = []
    for image in _images():
        pipeline.reset()
        crops += [face.crop for face in pipeline.process(0, image)]
    if not crops:
        raise CheckpointError(resource_path("calibration"), "no face found in the int8 calibration files")
    crops = np.stack(crops)
    out = np.concatenate([crops, crops[:, :, ::-1]])
    out.setflags(write=False)
    return out


def calibration() -> Calibration:
    return Calibration(CALIBRATION_VERSION, calibration_crops)
