"""Which decoder for analysis: OpenCV (cv2.VideoCapture, FFmpeg backend) or PyAV (thread_type='AUTO')?

    .venv/bin/python bench/decode_bench.py [--clips ghost_nggyup.mp4,spectre_mead_W040_level_3_happy_029.mp4]
                                           [--repeats 2]

Decode throughput: every frame of a 720p and a 1080p shared clip into BGR uint8 (H, W, 3) arrays, best of
`--repeats` interleaved runs; then timestamp correctness on the variable-frame-rate corpus case (tests/media_corpus.py):
largest error of each decoder's frame times against the pts written (OpenCV through core.media.video.VideoReader,
which reads CAP_PROP_POS_MSEC; PyAV from frame.time). Clips are read from ../shared/data/videos/real (never
copied). The conclusion is in docs/MEDIA.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from tests import media_corpus as mc  # noqa: E402

SHARED = Path(os.environ.get("CADDM_SHARED", ROOT.parent / "shared"))
CLIPS = "ghost_nggyup.mp4,spectre_mead_W040_level_3_happy_029.mp4"


def decode_opencv(path: Path) -> tuple[int, float]:
    t = time.perf_counter()
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    n = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        assert img.dtype == np.uint8 and img.ndim == 3
        n += 1
    cap.release()
    return n, time.perf_counter() - t


def decode_pyav(path: Path) -> tuple[int, float]:
    import av

    t = time.perf_counter()
    n = 0
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for f in c.decode(s):
            img = f.to_ndarray(format="bgr24")
            assert img.dtype == np.uint8 and img.ndim == 3
            n += 1
    return n, time.perf_counter() - t


def vfr_errors(folder: Path) -> dict[str, float]:
    import av

    from core.media.video import VideoReader, probe_video

    case = mc.build("vfr", folder)
    probe_video(case.path)
    with VideoReader(case.path) as r:
        cv_times = [f.time_s for f in r.frames()]
    with av.open(str(case.path)) as c:
        av_times = [float(f.time) for f in c.decode(c.streams.video[0])]
    av_times = [t - av_times[0] for t in av_times]
    written = np.asarray(case.pts_s)
    raw = cv2.VideoCapture(str(case.path), cv2.CAP_FFMPEG)
    raw_times = []
    while raw.grab():
        raw_times.append(raw.get(cv2.CAP_PROP_POS_MSEC) / 1000)
    raw.release()
    return {"OpenCV POS_MSEC": float(np.abs(np.asarray(raw_times) - written).max()),
            "core.media.video.VideoReader": float(np.abs(np.asarray(cv_times) - written).max()),
            "PyAV frame.time": float(np.abs(np.asarray(av_times) - written).max())}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", default=CLIPS)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    print(f"OpenCV {cv2.__version__}; ", end="")
    import av

    print(f"PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info}); {os.cpu_count()} CPUs")
    print(f"{'clip':44s} {'size':>10s} {'frames':>6s} {'OpenCV fps':>10s} {'PyAV fps':>9s} {'PyAV/OpenCV':>11s}")
    for name in args.clips.split(","):
        path = SHARED / "data" / "videos" / "real" / name
        if not path.exists():
            print(f"{name}: absent ({path})")
            continue
        cap = cv2.VideoCapture(str(path))
        size = f"{int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))}x{int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))}"
        cap.release()
        runs = {"opencv": [], "pyav": []}
        for _ in range(args.repeats):  # interleaved, so a busy neighbour slows both alike
            runs["opencv"].append(decode_opencv(path))
            runs["pyav"].append(decode_pyav(path))
        best = {k: (v[0][0], v[0][0] / min(r[1] for r in v)) for k, v in runs.items()}
        assert best["opencv"][0] == best["pyav"][0], best
        print(f"{name:44s} {size:>10s} {best['opencv'][0]:6d} {best['opencv'][1]:10.1f} {best['pyav'][1]:9.1f} "
              f"{best['pyav'][1] / best['opencv'][1]:11.2f}")
    with tempfile.TemporaryDirectory() as d:
        errs = vfr_errors(Path(d))
    print("VFR case (24 frames, intervals 17..250 ms), largest |frame time - written pts|:")
    for k, v in errs.items():
        print(f"  {k:24s} {v * 1000:8.3f} ms")


if __name__ == "__main__":
    main()
