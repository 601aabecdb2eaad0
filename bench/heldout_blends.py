"""Held-out blending test: does a model detect blended faces of people it never saw?

    .venv/bin/python bench/heldout_blends.py --index IDX [--model PATH] [--split test] [--seed 0]

Each real face of the index's split (aligned as at test time) is scored, and so is a self-blended copy of it (the
face blended with a colour/geometry-jittered copy of itself, `core.train.mfs.self_blended_sample`, seeded): AUC of real
vs blended and the mean scores. It complements an evaluation on real deepfakes; it does not replace one.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.common.threads import configure_threads  # noqa: E402

configure_threads()  # first: passive OpenMP waiting, before torch loads
import numpy as np  # noqa: E402

from core.model.checkpoints import load_model  # noqa: E402
from core.train.dataset import aligned_crop, load_index  # noqa: E402
from core.train.evaluation import roc_auc  # noqa: E402
from core.model.inference import Predictor  # noqa: E402
from core.train.mfs import MFSConfig, self_blended_sample  # noqa: E402
from core.model.registry import resolve_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--model", default=None, help="checkpoint (default: the bundled model)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    index = load_index(args.index)
    records = [r for r in index.split(args.split) if r.label == 0]
    rng = np.random.default_rng(args.seed)
    real, blended = [], []
    for r in records:
        crop, lm, _ = aligned_crop(index.root, r)
        real.append(crop)
        blended.append(self_blended_sample(crop, lm, rng, MFSConfig()).image)
    predictor = Predictor(load_model(resolve_model(args.model)), device="auto")
    a = np.array([p.prob for p in predictor.predict(np.stack(real))])
    b = np.array([p.prob for p in predictor.predict(np.stack(blended))])
    auc = roc_auc(np.r_[np.zeros(len(a)), np.ones(len(b))], np.r_[a, b])
    print(f"{len(a)} held-out real faces ({args.split}) vs their self-blended copies: AUC {auc:.3f}; "
          f"mean P(fake) real {a.mean():.3f}, blended {b.mean():.3f}; at 0.5: real called fake {np.mean(a >= 0.5):.2f}, "
          f"blended caught {np.mean(b >= 0.5):.2f}")


if __name__ == "__main__":
    main()
