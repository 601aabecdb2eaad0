"""Make the bundled sample clip from NASA's public-domain astronaut portrait (Eileen Collins; the copy scikit-image
ships as `astronaut.png`): a 4-second, 640x480, 25 fps clip with a slow camera move (zoom, pan, slight roll) so the
face moves as in real footage. Deterministic: running it again gives the same frames.

    python resources/make_sample.py  ->  resources/samples/astronaut_real.mp4
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "source" / "astronaut.png"
OUT = HERE / "samples" / "astronaut_real.mp4"
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


if __name__ == "__main__":
    write(OUT, cv2.imread(str(SOURCE)))
    print(OUT)
