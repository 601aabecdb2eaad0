"""Held-out-by-identity validation of detectors: real deepfakes and real footage that no model here trained on.

    .venv/bin/python bench/heldout_eval.py --index out/default-model/idx --models A.safetensors [B ...]
        [--fpr 0.05] [--threshold T] [--out DIR]

The index is the one `resources/models/recipe/prepare.py` makes; its "val" split holds the FF++ official VAL pairs
585/599 and 672/720 (every method, c40 and FaceShifter c23), their originals, the DeepFakeDetection actors and
fakes, Celeb-DF crops, DeeperForensics clips, 14 real clips from elsewhere and held-out photos. Video score = mean
frame P(fake) over the prepared frames (32 evenly spaced per video, the paper's protocol).

Printed per model:
- video AUC per FF++ method on the VAL pairs against the 14 real VAL clips (4 FF++ originals + 10 actors),
  FaceShifter (c23) against the c23 originals + actors, DeepFakeDetection against the actors, Celeb-DF crops,
  DeeperForensics, and all fakes against all real videos;
- the threshold at which at most `--fpr` of all held-out real videos score above it (the calibration a model card
  stores), and at that threshold (or at `--threshold`): false-positive rate on real videos (all, and the non-FF++
  clips alone), on photos (frames), and the share of fakes caught per group;
- the frame score's stability: its change under +-1 pixel noise and a one-pixel shift (every 4th frame).
With `--out`, one JSON per model (the figures and every video's score).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.common.threads import configure_threads  # noqa: E402

configure_threads()  # first: passive OpenMP waiting, before torch loads
from core.model.checkpoints import load_model  # noqa: E402
from core.model.inference import Predictor  # noqa: E402
from core.train.dataset import load_index  # noqa: E402
from core.train.heldout import evaluate_heldout  # noqa: E402

def evaluate_model(path: str, index, fpr: float, threshold: float | None, batch_size: int = 32,
                   split: str = "val") -> dict:
    model = load_model(path)
    pred = Predictor(model, device="auto", batch_size=batch_size)
    out = evaluate_heldout(pred, index, split, fpr, threshold, batch_size)
    return {"model": model.info.name, "path": str(path), "sha256": model.info.sha256, **out}


def print_table(results: list[dict]) -> None:
    names = list(results[0]["groups"])
    head = "| group | " + " | ".join(r["model"] for r in results) + " |"
    print(head)
    print("|" + " --- |" * (len(results) + 1))
    for g in names:
        cells = []
        for r in results:
            e = r["groups"].get(g)
            cells.append("n/a" if e is None else f"AUC {e['auc']:.3f}, caught {e['caught']:.0%}")
        e0 = results[0]["groups"][g]
        print(f"| {g} ({e0['fakes']} fake / {e0['reals']} real videos) | " + " | ".join(cells) + " |")
    print("| threshold (calibrated at the FPR target on real videos / used) | " + " | ".join(
        f"{r['calibrated_threshold']:.3f} / {r['threshold_used']:.3f}" for r in results) + " |")
    for key, label in (("real_videos", "false positives, all held-out real videos"),
                       ("non_ffpp_real_clips", "false positives, non-FF++ real clips"),
                       ("photos", "false positives, held-out photos (frames)")):
        fp = results[0]["false_positives"][key]
        print(f"| {label} ({fp['n']}) | " + " | ".join(
            f"{r['false_positives'][key]['rate']:.1%}" for r in results) + " |")
    print("| real videos over 0.5 | " + " | ".join(
        str(r["false_positives"]["real_videos_over_0.5"]) for r in results) + " |")
    print(f"| FF++ fake above its own original ({results[0]['pairs']['ffpp']['n']} VAL pairs) | " + " | ".join(
        f"{r['pairs']['ffpp']['win_rate']:.0%}" for r in results) + " |")
    if "sbi" in results[0]["pairs"]:
        print(f"| self-blend above its own real face ({results[0]['pairs']['sbi']['n']} held-out faces) | " + " | ".join(
            f"{r['pairs']['sbi']['win_rate']:.0%} (AUC {r['pairs']['sbi']['auc']:.3f})" for r in results) + " |")
    if "stability" in results[0]:
        for kind, label in (("noise", "+-1 pixel values"), ("shift", "crop moved 1 pixel")):
            n = results[0]["stability"][kind]["n"]
            print(f"| frame score change, {label} ({n} frames): mean / p99 | " + " | ".join(
                f"{r['stability'][kind]['mean']:.3f} / {r['stability'][kind]['p99']:.3f}" for r in results) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", default=str(ROOT / "out" / "default-model" / "idx"))
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--split", default="val")
    ap.add_argument("--fpr", type=float, default=0.05, help="false-positive target on real videos (0.05)")
    ap.add_argument("--threshold", type=float, default=None, help="use this threshold instead of the calibrated one")
    ap.add_argument("--out", default=None, help="folder for one JSON per model")
    args = ap.parse_args()
    index = load_index(args.index)
    records = index.split(args.split)
    results = []
    for m in args.models:
        r = evaluate_model(m, index, args.fpr, args.threshold, split=args.split)
        results.append(r)
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{Path(m).stem}_{r['sha256'][:8]}.json").write_text(json.dumps(r, indent=1, sort_keys=True))
    print(f"{len(records)} frames of {len({r.video for r in records})} held-out videos/photos ({args.split} split)\n")
    print_table(results)


if __name__ == "__main__":
    main()
