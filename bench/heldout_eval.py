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
  clips alone), on photos (frames), and the share of fakes caught per group.
With `--out`, one JSON per model (the figures and every video's score).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.threads import configure_threads  # noqa: E402

configure_threads()  # first: passive OpenMP waiting, before torch loads
import numpy as np  # noqa: E402

from core.checkpoints import load_model  # noqa: E402
from core.inference import Predictor  # noqa: E402
from core.train.dataset import load_index  # noqa: E402
from core.train.evaluation import roc_auc, score_records, threshold_at_fpr, video_scores  # noqa: E402

FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")


def groups(videos: dict) -> dict[str, tuple[list[str], list[str]]]:
    """{group name: (fake video keys, real video keys)} over the val split's videos {key: (label, dataset, method)}."""
    def keys(pred):
        return sorted(k for k, v in videos.items() if pred(k, *v))

    c40_real = keys(lambda k, lab, ds, m: lab == 0 and (ds == "ffpp_c40" or ds == "dfd"))
    c23_real = keys(lambda k, lab, ds, m: lab == 0 and (ds == "ffpp_c23" or ds == "dfd"))
    actors = keys(lambda k, lab, ds, m: lab == 0 and ds == "dfd")
    out = {f"FF++ c40 {m}": (keys(lambda k, lab, ds, m_, m=m: lab == 1 and ds == "ffpp_c40" and m_ == m), c40_real)
           for m in FFPP_METHODS}
    out["FF++ c23 FaceShifter"] = (keys(lambda k, lab, ds, m: lab == 1 and m == "FaceShifter"), c23_real)
    out["DeepFakeDetection"] = (keys(lambda k, lab, ds, m: lab == 1 and m == "DeepFakeDetection"), actors)
    out["Celeb-DF crops"] = (keys(lambda k, lab, ds, m: lab == 1 and ds == "celebdf"),
                             keys(lambda k, lab, ds, m: lab == 0 and ds == "celebdf"))
    out["DeeperForensics"] = (keys(lambda k, lab, ds, m: lab == 1 and ds == "dfo"),
                              keys(lambda k, lab, ds, m: lab == 0 and ds == "dfo"))
    out["all fakes vs all real videos"] = (keys(lambda k, lab, ds, m: lab == 1),
                                           keys(lambda k, lab, ds, m: lab == 0 and ds != "photos"))
    return out


def evaluate_model(path: str, index, records, fpr: float, threshold: float | None, batch_size: int = 32) -> dict:
    model = load_model(path)
    pred = Predictor(model, device="auto", batch_size=batch_size)
    probs = score_records(pred, index.root, records, batch_size)
    vids, labels, scores, _ = video_scores(records, probs)
    meta = {r.video: (r.label, r.dataset, r.method) for r in records}
    score_of = dict(zip(vids, scores.tolist()))
    real_videos = [v for v in vids if meta[v][0] == 0 and meta[v][1] != "photos"]
    cal = threshold_at_fpr([score_of[v] for v in real_videos], fpr)
    t = cal if threshold is None else threshold
    out = {"model": model.info.name, "path": str(path), "sha256": model.info.sha256, "calibrated_threshold": cal,
           "threshold_used": t, "groups": {}, "video_scores": score_of}
    for name, (fakes, reals) in groups(meta).items():
        if not fakes or not reals:
            continue
        y = [1] * len(fakes) + [0] * len(reals)
        s = [score_of[v] for v in fakes] + [score_of[v] for v in reals]
        out["groups"][name] = {"auc": roc_auc(y, s), "fakes": len(fakes), "reals": len(reals),
                               "caught": float(np.mean([score_of[v] >= t for v in fakes]))}
    others = [v for v in real_videos if meta[v][1] == "real"]
    photo_frames = [p for r, p in zip(records, probs) if r.dataset == "photos" and r.label == 0]
    out["false_positives"] = {
        "real_videos": {"n": len(real_videos), "rate": float(np.mean([score_of[v] >= t for v in real_videos])),
                        "over": sorted(v for v in real_videos if score_of[v] >= t)},
        "non_ffpp_real_clips": {"n": len(others), "rate": float(np.mean([score_of[v] >= t for v in others]))},
        "photos": {"n": len(photo_frames), "rate": float(np.mean(np.asarray(photo_frames) >= t))},
        "real_videos_over_0.5": int(sum(score_of[v] >= 0.5 for v in real_videos))}
    return out


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
        r = evaluate_model(m, index, records, args.fpr, args.threshold)
        results.append(r)
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{Path(m).stem}_{r['sha256'][:8]}.json").write_text(json.dumps(r, indent=1, sort_keys=True))
    print(f"{len(records)} frames of {len({r.video for r in records})} held-out videos/photos ({args.split} split)\n")
    print_table(results)


if __name__ == "__main__":
    main()
