"""Ship a trained run as the bundled default model: one safetensors file with its model card.

    .venv/bin/python resources/models/recipe/export.py RUN/last.safetensors --index IDX --card card.json \
        [--heldout HELDOUT.json] [--precision fp16|fp32] [--out resources/models/caddm_lite_demo.safetensors]

`--heldout`: the JSON `bench/heldout_eval.py --out` wrote for this checkpoint: its calibrated threshold and the
rates at it go into the card's `calibration` (the threshold the app and caddm-analyze use by default), its per-group
AUCs into `metrics.heldout`, the frame score's stability (noise, shift) into `metrics.stability`.

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

from core.common.threads import configure_threads  # noqa: E402

configure_threads()  # first: passive OpenMP waiting, before torch loads
import numpy as np  # noqa: E402

from core.model.checkpoints import load_model, save_model  # noqa: E402
from core.train.dataset import aligned_crop, load_index  # noqa: E402
from core.model.inference import Predictor  # noqa: E402
from core.model.registry import REGISTRY, DEFAULT_MODEL  # noqa: E402


def held_out_crops(index_path: str, limit: int = 96) -> np.ndarray:
    index = load_index(index_path)
    records = (index.split("test") or index.split("val"))[:limit]
    return np.stack([aligned_crop(index.root, r)[0] for r in records])


def with_calibration(card: dict, heldout: dict, sha256: str) -> dict:
    """The card with `calibration` (threshold and its rates on the held-out set) and `metrics.heldout` (per-group
    video AUC and share caught) from a bench/heldout_eval.py result of the same checkpoint."""
    if heldout["sha256"] != sha256:
        sys.exit(f"the held-out figures are of another checkpoint ({heldout['sha256'][:12]}, not {sha256[:12]})")
    fp = heldout["false_positives"]
    every = heldout["groups"]["all fakes vs all real videos"]
    card = dict(card)
    card["calibration"] = {
        "threshold": round(heldout["calibrated_threshold"], 4),
        "fpr_real_videos": round(fp["real_videos"]["rate"], 4), "tpr_fake_videos": round(every["caught"], 4),
        "fpr_photos": round(fp["photos"]["rate"], 4),
        "data": f"the held-out-by-identity set: {fp['real_videos']['n']} real and {every['fakes']} fake videos "
                "(resources/models/README.md)",
        "rule": "lowest threshold at which at most 5% of the held-out real videos score at or above it"}
    metrics = dict(card.get("metrics", {}))
    metrics["heldout"] = {g: {"video_auc": round(e["auc"], 4), "caught": round(e["caught"], 4),
                              "fakes": e["fakes"], "reals": e["reals"]} for g, e in heldout["groups"].items()}
    if "stability" in heldout:  # the frame score's change under invisible noise and a one-pixel shift
        metrics["stability"] = {k: {"mean": round(v["mean"], 4), "p99": round(v["p99"], 4), "frames": v["n"]}
                                for k, v in heldout["stability"].items()}
    card["metrics"] = metrics
    return card


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--index", required=True, help="the training index (its test split is used for the check)")
    ap.add_argument("--card", required=True, help="JSON file with the model card (data, command, metrics, ...)")
    ap.add_argument("--out", default=str(REGISTRY[DEFAULT_MODEL].path))
    ap.add_argument("--precision", choices=["fp16", "fp32"], default="fp32")
    ap.add_argument("--heldout", default=None, help="bench/heldout_eval.py JSON of this checkpoint (calibration)")
    args = ap.parse_args()
    full = load_model(args.checkpoint)
    card = json.loads(Path(args.card).read_text())
    if args.heldout:
        card = with_calibration(card, json.loads(Path(args.heldout).read_text()), full.info.sha256)
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
