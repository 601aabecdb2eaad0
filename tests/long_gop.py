"""A long-GOP H.264 clip made with PyAV for seek tests: every frame differs (a moving bar and its number)."""
from __future__ import annotations

import cv2
import numpy as np


def numbered_frame(i: int, w: int = 320, h: int = 180) -> np.ndarray:
    """(h, w, 3) uint8 BGR: a bar at x = 7 i (mod w) and the number i."""
    img = np.full((h, w, 3), 40, np.uint8)
    x = (i * 7) % w
    img[:, max(0, x - 12):x + 12] = (200, 120, 60)
    cv2.putText(img, str(i), (10, h - 20), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (255, 255, 255), 4)
    return img


def make_long_gop_clip(path, frames: int, gop: int, w: int = 320, h: int = 180) -> str:
    """Write `frames` numbered frames at 30 fps with a keyframe every `gop` frames (libx264); returns the path."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": "ultrafast", "g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"}
        for i in range(frames):
            for p in s.encode(av.VideoFrame.from_ndarray(numbered_frame(i, w, h), format="bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return str(path)
