"""Build a long H.264 test clip from short real ones (bench only; needs PyAV: `pip install av`).

    python bench/long_clip.py OUT.mp4 --minutes 10 --height 1080 --gop-seconds 10 [--fps 30] CLIP [CLIP ...]

The clips are played forward then backward, in turn, until the duration is reached; frames are scaled to the
requested height (width keeps the aspect, rounded to even) and encoded with libx264 (preset superfast, B-frames,
one keyframe every `gop-seconds`, no scene-cut keyframes) at `--fps` (30) frames/s: the long-GOP camera/stream files
on which seeking is slowest, and long files for memory checks.
"""
from __future__ import annotations

import argparse
import sys
import time


def _frames(path: str, height: int):
    import av
    import cv2

    with av.open(path) as c:
        out = []
        for f in c.decode(video=0):
            img = f.to_ndarray(format="rgb24")
            h, w = img.shape[:2]
            if h != height:
                width = int(round(w * height / h / 2)) * 2
                img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
            out.append(img)
    return out


def build(out_path: str, clips: list[str], minutes: float, height: int, gop_seconds: float, fps: int = 30) -> int:
    """Write the clip; returns the number of frames written."""
    import av

    total = int(round(minutes * 60 * fps))
    sources = [_frames(p, height) for p in clips]
    width = sources[0][0].shape[1]
    with av.open(out_path, "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        gop = int(round(gop_seconds * fps))
        s.options = {"preset": "superfast", "crf": "23", "g": str(gop), "keyint_min": str(gop), "sc_threshold": "0",
                     "bf": "3"}
        n, k = 0, 0
        while n < total:
            seq = sources[k % len(sources)]
            seq = seq if (k // len(sources)) % 2 == 0 else seq[::-1]
            k += 1
            for img in seq:
                if n >= total:
                    break
                if img.shape[1] != width:
                    import cv2
                    img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
                for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    c.mux(p)
                n += 1
        for p in s.encode():
            c.mux(p)
    return n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--gop-seconds", type=float, default=10.0)
    ap.add_argument("--fps", type=int, default=30)
    a = ap.parse_args(argv)
    t = time.perf_counter()
    n = build(a.out, a.clips, a.minutes, a.height, a.gop_seconds, a.fps)
    print(f"{a.out}: {n} frames, {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
