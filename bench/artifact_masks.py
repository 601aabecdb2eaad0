"""Do the artifact boxes land on the manipulated region? FF++ example frames against their manipulation masks, and
partial swaps with known windows on held-out faces.

    .venv/bin/python bench/artifact_masks.py [--model PATH] [--box-threshold 0.5] [--index IDX --partial 200]

1. For each manipulated example (`../shared/data/images/ffpp/ex_<method>.png` with `ex_<method>_mask.png`) and the
   original frame: P(fake) of the face, and for each artifact box (mapped back into the frame as a quadrilateral)
   the share of its area inside the mask. "local" marks a box smaller than half the aligned face (area < 0.5 x
   224^2); the line "local box >= 50% inside the mask" is the check the model card reports per fake frame.
2. With `--index` (made by resources/models/recipe/prepare.py): `--partial` held-out real faces (its "val" split)
   get a self-blended partial swap in a window of 40x80, 80x120 or 120x160 crop px placed where the swap differs
   most (as in training, seeded). Local boxes at or above the box threshold are scored against the window:
   precision (share of a box's area inside the window; top box and mean), recall (share of the window covered by
   the union of local boxes), and the hit rate (samples whose top local box has >= 50% of its area inside).
FF++ media are research only: read from ../shared, never copied.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.common.threads import configure_threads  # noqa: E402

configure_threads()  # first: passive OpenMP waiting, before torch loads
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from core.model.artifacts import BoxSettings  # noqa: E402
from core.model.checkpoints import load_model  # noqa: E402
from core.faces.pipeline import FacePipeline  # noqa: E402
from core.faces.align import crop_to_frame  # noqa: E402
from core.model.inference import Predictor  # noqa: E402
from core.model.registry import resolve_model  # noqa: E402

SHARED = Path(os.environ.get("CADDM_SHARED", ROOT.parent / "shared"))
EXAMPLES = ["deepfakes", "neuraltextures", "deepfakedetection"]


def inside_share(corners: np.ndarray, mask: np.ndarray) -> float:
    """Share of the quadrilateral's pixels (corners (4, 2) frame px) where the mask is set."""
    poly = np.zeros(mask.shape, np.uint8)
    cv2.fillConvexPoly(poly, np.round(corners).astype(np.int32), 1)
    area = int(poly.sum())
    return float((poly & mask).sum()) / area if area else 0.0


LOCAL_MAX_AREA = 0.5 * 224 * 224  # "local": smaller than half the aligned face


def is_local(box) -> bool:
    return (box[2] - box[0]) * (box[3] - box[1]) < LOCAL_MAX_AREA


def box_mask(box, shape=(224, 224)) -> np.ndarray:
    m = np.zeros(shape, bool)
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    m[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = True
    return m


def partial_swap_test(model, index_path: str, n: int, box_threshold: float, seed: int = 0) -> dict:
    """Localisation on self-blended partial swaps of held-out faces (module docstring, part 2)."""
    from core.train.dataset import aligned_crop, load_index
    from core.train.mfs import MFSConfig, self_blended_sample

    index = load_index(index_path)
    records = [r for r in index.split("val") if r.label == 0]
    rng = np.random.default_rng(seed)
    records = [records[i] for i in sorted(rng.choice(len(records), min(n, len(records)), replace=False))]
    cfg = MFSConfig(p_global=0.0, p_source_to_fake=0.0, p_fake_to_source=0.0, p_untouched=0.0, p_partial=1.0,
                    windows=((40, 80), (80, 120), (120, 160)))
    crops, windows = [], []
    for i, r in enumerate(records):
        crop, lm, _ = aligned_crop(index.root, r)
        s = self_blended_sample(crop, lm, np.random.default_rng([seed, i]), cfg)
        if s.kind != "sbi_partial":
            continue
        crops.append(s.image)
        windows.append(s.boxes[1])
    loose = Predictor(model, device="auto", boxes=BoxSettings(score_threshold=0.0, top_k=50))
    preds = loose.predict(np.stack(crops))
    hits, top_prec, mean_prec, recall, found, probs = [], [], [], [], [], []
    for pred, win in zip(preds, windows):
        wm = box_mask(win)
        local = [a for a in pred.artifacts if is_local(a.box)]
        probs.append(pred.prob)
        top = local[0] if local else None  # sorted by descending P(artifact)
        if top is not None:
            tm = box_mask(top.box)
            prec = float((tm & wm).sum() / max(tm.sum(), 1))
            top_prec.append(prec)
            hits.append(prec >= 0.5)
        kept = [a for a in local if a.score >= box_threshold]
        found.append(bool(kept))
        if kept:
            union = np.zeros_like(wm)
            precs = []
            for a in kept:
                bm = box_mask(a.box)
                union |= bm
                precs.append((bm & wm).sum() / max(bm.sum(), 1))
            mean_prec.append(float(np.mean(precs)))
            recall.append(float((union & wm).sum() / wm.sum()))
        else:
            recall.append(0.0)
    return {"samples": len(crops), "mean_p_fake": float(np.mean(probs)),
            "top_local_box_hit_rate": float(np.mean(hits)) if hits else 0.0,
            "top_local_box_precision": float(np.mean(top_prec)) if top_prec else 0.0,
            "share_with_local_box_over_threshold": float(np.mean(found)),
            "precision_of_local_boxes_over_threshold": float(np.mean(mean_prec)) if mean_prec else float("nan"),
            "recall_over_threshold": float(np.mean(recall))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="checkpoint (default: the bundled model)")
    ap.add_argument("--box-threshold", type=float, default=0.5)
    ap.add_argument("--index", default=None, help="index with a val split, for the partial-swap test")
    ap.add_argument("--partial", type=int, default=200, help="held-out faces for the partial-swap test (200)")
    args = ap.parse_args()
    folder = SHARED / "data" / "images" / "ffpp"
    if not folder.exists():
        sys.exit(f"{folder}: absent")
    model = load_model(resolve_model(args.model))
    predictor = Predictor(model, device="auto", boxes=BoxSettings(score_threshold=args.box_threshold))
    if args.index:
        r = partial_swap_test(model, args.index, args.partial, args.box_threshold)
        print(f"partial swaps on {r['samples']} held-out faces (mean P(fake) {r['mean_p_fake']:.3f}): top local box "
              f">= 50% inside the window {r['top_local_box_hit_rate']:.1%} (its precision {r['top_local_box_precision']:.2f}); "
              f"with a local box >= {args.box_threshold}: {r['share_with_local_box_over_threshold']:.1%}, their "
              f"precision {r['precision_of_local_boxes_over_threshold']:.2f}, window recall {r['recall_over_threshold']:.2f}")
    pipeline = FacePipeline()
    print(f"model {model.metadata.get('name')}; boxes with P(artifact) >= {args.box_threshold}")
    rows = [("original", folder / "ex_original.png", None)]
    rows += [(m, folder / f"ex_{m}.png", folder / f"ex_{m}_mask.png") for m in EXAMPLES]
    for name, image_path, mask_path in rows:
        if not image_path.exists():
            continue
        image = cv2.imread(str(image_path))
        pipeline.reset()
        faces = pipeline.process(0, image)
        if not faces:
            print(f"{name:18s} no face found")
            continue
        face = max(faces, key=lambda f: f.box[2] - f.box[0])
        pred = predictor.predict(face.crop[None])[0]
        mask = None
        if mask_path is not None and mask_path.exists():
            mask = (cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE) > 127).astype(np.uint8)
        face_share = inside_share(crop_to_frame(np.array([[0, 0, 224, 224]], float), face.matrix)[0][0], mask) \
            if mask is not None else float("nan")
        print(f"{name:18s} P(fake) {pred.prob:.3f}; {len(pred.artifacts)} boxes; aligned face in mask "
              f"{face_share:.2f}")
        local_hit = False
        for a in pred.artifacts:
            corners = crop_to_frame(np.array([a.box]), face.matrix)[0][0]
            share = inside_share(corners, mask) if mask is not None else float("nan")
            w, h = a.box[2] - a.box[0], a.box[3] - a.box[1]
            local_hit |= is_local(a.box) and share >= 0.5
            print(f"    box {w:5.0f}x{h:<4.0f} crop px  P(artifact) {a.score:.3f}  inside mask {share:.2f}"
                  f"{'  local' if is_local(a.box) else ''}")
        if mask is not None:
            print(f"    local box >= 50% inside the mask: {'yes' if local_hit else 'no'}")


if __name__ == "__main__":
    main()
