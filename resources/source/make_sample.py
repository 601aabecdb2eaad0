"""Make the bundled sample clips from NASA's public-domain astronaut portrait (Eileen Collins; the copy scikit-image
ships as `astronaut.png`): 4-second, 640x480, 25 fps clips with a slow camera move (zoom, pan, slight roll) so the
face moves as in real footage. Deterministic: running it again gives the same frames.

- `astronaut_real.mp4`: the portrait as it is.
- `astronaut_fake.mp4`: the same portrait with its face swapped for a manipulated copy of itself, made with the
  project's own multi-scale facial swap code (`core.train.mfs`): the face inside the landmarks' hull is replaced by a
  colour-shifted, slightly enlarged copy, alpha-blended with a softened hull mask, the kind of blending trace CADDM
  is trained to find. It is a demonstration fake made from public-domain material, not a real deepfake.

    python resources/source/make_sample.py  ->  resources/samples/astronaut_{real,fake}.mp4
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "astronaut.png"
SAMPLES = HERE.parent / "samples"
SIZE = (640, 480)
FPS = 25
SECONDS = 4


def camera(t: float) -> np.ndarray:
    """(2, 3) affine from the 512x512 portrait into the 640x480 frame at time t in [0, 1]."""
    zoom = 1.32 + 0.12 * (0.5 - 0.5 * math.cos(math.pi * t))  # the portrait always covers the frame
    roll = 2.5 * math.sin(2 * math.pi * t)
    cx, cy = 256 + 8 * math.sin(math.pi * t), 205 + 6 * math.sin(2 * math.pi * t)
    m = cv2.getRotationMatrix2D((cx, cy), roll, zoom)
    m[:, 2] += np.array([SIZE[0] / 2 - cx, SIZE[1] / 2 - cy])
    return m


def frames(image: np.ndarray):
    n = FPS * SECONDS
    for i in range(n):
        yield cv2.warpAffine(image, camera(i / (n - 1)), SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    if not writer.isOpened():
        sys.exit(f"cannot write {path}")
    for frame in frames(image):
        writer.write(frame)
    writer.release()


def swapped_face(image: np.ndarray) -> np.ndarray:
    """The portrait with its face replaced by a manipulated copy of itself (see the module docstring)."""
    sys.path.insert(0, str(HERE.parents[1]))
    from core.faces.detect import FaceDetector
    from core.faces.landmarks import LandmarkPredictor
    from core.train.mfs import MFSConfig, alpha_blend, hull_mask, soften

    face = FaceDetector(max_side=None, upsample=1).detect(image)[0]
    lm = LandmarkPredictor().predict(image, face.box)
    # the copy: warmer and brighter, enlarged 6% about the nose tip (landmark 30), as a swapped-in face would be
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[:, :, 0] = np.mod(hsv[:, :, 0] - 4.0, 180.0)
    hsv[:, :, 1] = np.clip(hsv[:, :, 1] * 1.25, 0, 255)
    hsv[:, :, 2] = np.clip(hsv[:, :, 2] * 1.08 + 6, 0, 255)
    copy = cv2.cvtColor(np.rint(hsv).astype(np.uint8), cv2.COLOR_HSV2BGR)
    cx, cy = lm[30]
    m = cv2.getRotationMatrix2D((float(cx), float(cy)), 0.0, 1.06)
    copy = cv2.warpAffine(copy, m, image.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    mask = hull_mask(lm[:27], image.shape[:2])  # jaw line and brows: the inner face
    return alpha_blend(image, copy, soften(mask, MFSConfig()))


if __name__ == "__main__":
    portrait = cv2.imread(str(SOURCE))
    for name, image in (("astronaut_real.mp4", portrait), ("astronaut_fake.mp4", swapped_face(portrait))):
        write(SAMPLES / name, image)
        print(SAMPLES / name)
