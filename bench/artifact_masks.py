"""Do the artifact boxes land on the manipulated region? FF++ example frames against their manipulation masks.

    .venv/bin/python bench/artifact_masks.py [--model PATH] [--box-threshold 0.5]

For each manipulated example (`../shared/data/images/ffpp/ex_<method>.png` with `ex_<method>_mask.png`) and the
original frame: P(fake) of the face, and for each artifact box (mapped back into the frame as a quadrilateral) the
share of its area inside the mask. The full-crop box (the whole aligned face) is listed too. FF++ media are research
only: read from ../shared, never copied.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.threads import configure_threads  # noqa: E402

configure_threads()  # first: passive OpenMP waiting, before torch loads
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from core.artifacts import BoxSettings  # noqa: E402
from core.checkpoints import load_model  # noqa: E402
from core.faces.pipeline import FacePipeline  # noqa: E402
from core.faces.align import crop_to_frame  # noqa: E402
from core.inference import Predictor  # noqa: E402
from core.registry import resolve_model  # noqa: E402

SHARED = Path(os.environ.get("CADDM_SHARED", ROOT.parent / "shared"))
EXAMPLES = ["deepfakes", "neuraltextures", "deepfakedetection"]


def inside_share(corners: np.ndarray, mask: np.ndarray) -> float:
    """Share of the quadrilateral's pixels (corners (4, 2) frame px) where the mask is set."""
    poly = np.zeros(mask.shape, np.uint8)
    cv2.fillConvexPoly(poly, np.round(corners).astype(np.int32), 1)
    area = int(poly.sum())
    return float((poly & mask).sum()) / area if area else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="checkpoint (default: the bundled model)")
    ap.add_argument("--box-threshold", type=float, default=0.5)
    args = ap.parse_args()
    folder = SHARED / "data" / "images" / "ffpp"
    if not folder.exists():
        sys.exit(f"{folder}: absent")
    model = load_model(resolve_model(args.model))
    predictor = Predictor(model, device="auto", boxes=BoxSettings(score_threshold=args.box_threshold))
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
        for a in pred.artifacts:
            corners = crop_to_frame(np.array([a.box]), face.matrix)[0][0]
            share = inside_share(corners, mask) if mask is not None else float("nan")
            w, h = a.box[2] - a.box[0], a.box[3] - a.box[1]
            print(f"    box {w:5.0f}x{h:<4.0f} crop px  P(artifact) {a.score:.3f}  inside mask {share:.2f}")


if __name__ == "__main__":
    main()
