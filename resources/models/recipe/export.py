"""Ship a trained run as the bundled default model: one safetensors file with its model card.

    .venv/bin/python resources/models/recipe/export.py RUN/last.safetensors --index IDX --card card.json \
        [--precision fp16|fp32] [--out resources/models/caddm_lite_demo.safetensors]

With fp16 (weight tensors in half precision), the copy ships only if P(fake) stays within 1e-3 of the fp32 weights
on the held-out test faces of the index (aligned as at test time); prints the largest difference and the file size.
The default model ships in fp32: fp16 moved its scores by up to 7.6e-3.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from core.threads import configure_threads  # noqa: E402

configure_threads()  # first: passive OpenMP waiting, before torch loads
import numpy as np  # noqa: E402

from core.checkpoints import load_model, save_model  # noqa: E402
from core.train.dataset import aligned_crop, load_index  # noqa: E402
from core.inference import Predictor  # noqa: E402
from core.registry import REGISTRY, DEFAULT_MODEL  # noqa: E402


def held_out_crops(index_path: str, limit: int = 96) -> np.ndarray:
    index = load_index(index_path)
    records = index.split("test")[:limit]
    return np.stack([aligned_crop(index.root, r)[0] for r in records])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--index", required=True, help="the training index (its test split is used for the check)")
    ap.add_argument("--card", required=True, help="JSON file with the model card (data, command, metrics, ...)")
    ap.add_argument("--out", default=str(REGISTRY[DEFAULT_MODEL].path))
    ap.add_argument("--precision", choices=["fp16", "fp32"], default="fp32")
    args = ap.parse_args()
    full = load_model(args.checkpoint)
    card = json.loads(Path(args.card).read_text())
    out = Path(args.out)
    save_model(full, out, half=args.precision == "fp16", **{**card, "precision": args.precision})
    half = load_model(out)
    crops = held_out_crops(args.index)
    a = np.array([p.prob for p in Predictor(full, device="cpu").predict(crops)])
    b = np.array([p.prob for p in Predictor(half, device="cpu").predict(crops)])
    diff = float(np.abs(a - b).max())
    print(f"{out}: {out.stat().st_size / 2**20:.1f} MiB; max |P(fake) {args.precision} copy - fp32| on {len(crops)} held-out faces "
          f"{diff:.2e}")
    if diff > 1e-3:
        out.unlink()
        sys.exit("fp16 copy changes scores by more than 1e-3: not shipped")


if __name__ == "__main__":
    main()
