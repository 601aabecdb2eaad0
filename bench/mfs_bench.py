"""Throughput of the MFS pieces on one CPU thread (samples/s).

    OMP_NUM_THREADS=1 python bench/mfs_bench.py [--seconds 1.5] [--fixture PATH]

Inputs: the reference fixture's aligned crops when present (../shared), else a synthetic face. Rows:
- window search, authors-style: float64 DSSIM with filter2D and a Python loop over every window position
  (stride 1, 80x120) -- the authors' semantics at full resolution;
- window search, authors-style on their 44-px grid (what their code actually runs);
- window search, ours (GaussianBlur DSSIM + summed-area table, stride 1);
- global swap, partial swap, self-blended sample, and the full pipeline (MFS + flip + augment).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.train.augment import augment  # noqa: E402
from core.train.dssim import best_window, dssim_map  # noqa: E402
from core.train.mfs import BLEND_STATS, MFSConfig, flip_sample, hull_mask, multi_scale_facial_swap, self_blended_sample  # noqa: E402

SHARED = Path(os.environ.get("CADDM_SHARED", Path(__file__).resolve().parents[2] / "shared"))
DEFAULT_FIXTURE = SHARED / "fixtures" / "caddm_reference" / "expected_alignment_mfs.npz"


def authors_style_window(fake, source, hw, mask, step):
    """Their semantics: a float64 DSSIM map, then a Python loop over window positions."""
    d = dssim_map(fake, source).copy()
    d[mask == 0] = 0
    h, w = hw
    best, res = 0.0, None
    for y in range(0, d.shape[0], step):
        for x in range(0, d.shape[1], step):
            if y + h <= d.shape[0] and x + w <= d.shape[1]:
                area = np.sum(d[y:y + h, x:x + w])
                if area > best:
                    best, res = area, (x, y, x + w, y + h)
    return res


def rate(fn, seconds):
    fn()  # warm-up
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n / dt


def load_inputs(path: Path):
    if path.exists():
        d = np.load(path)
        return d["test_crop_fake__img"], d["test_crop_src__img"], d["test_crop_landmarks_warped"], "fixture crops"
    rng = np.random.default_rng(0)
    src = cv2.GaussianBlur(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8), (5, 5), 1.0)
    t = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    lm = np.stack([112 + 70 * np.cos(t), 115 + 90 * np.sin(t)], 1)
    fake = src.copy()
    m = hull_mask(lm) > 0
    fake[m] = cv2.GaussianBlur(src, (9, 9), 3)[m]
    return fake, src, lm, "synthetic face"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.5)
    ap.add_argument("--fixture", type=Path, default=DEFAULT_FIXTURE)
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    fake, src, lm, what = load_inputs(args.fixture)
    hull = hull_mask(lm)
    print(f"inputs: {what}; cv2 threads {cv2.getNumThreads()}; {args.seconds}s per row")
    rng = np.random.default_rng(0)
    g_cfg = MFSConfig(p_global=1.0, p_source_to_fake=0.6, p_fake_to_source=0.4, p_untouched=0.0, p_partial=0.0)
    p_cfg = MFSConfig(p_global=0.0, p_source_to_fake=0.0, p_fake_to_source=0.0, p_untouched=0.0, p_partial=1.0)

    def pipeline():
        s = multi_scale_facial_swap(fake, src, lm, rng)
        if rng.random() < 0.5:
            s = flip_sample(s)
        return augment(s.image, rng)

    rows = [
        ("window 80x120, authors-style loop, stride 1", lambda: authors_style_window(fake, src, (80, 120), hull, 1)),
        ("window 80x120, authors-style loop, 44-px grid", lambda: authors_style_window(fake, src, (80, 120), hull, 44)),
        ("window 80x120, ours (summed-area), stride 1", lambda: best_window(fake, src, (80, 120), hull)),
        ("global swap (MFS)", lambda: multi_scale_facial_swap(fake, src, lm, rng, g_cfg)),
        ("partial swap (MFS)", lambda: multi_scale_facial_swap(fake, src, lm, rng, p_cfg)),
        ("self-blended sample", lambda: self_blended_sample(src, lm, rng)),
        ("augment only", lambda: augment(src, rng)),
        ("full pipeline: MFS + flip + augment", pipeline),
    ]
    for name, fn in rows:
        print(f"{name:48s} {rate(fn, args.seconds):9.1f} samples/s")
    assert authors_style_window(fake, src, (80, 120), hull, 1) == best_window(fake, src, (80, 120), hull)
    print("window parity (authors-style loop vs ours, stride 1): equal")
    print("blending:", dict(BLEND_STATS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
