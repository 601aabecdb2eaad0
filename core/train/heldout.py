"""The project's held-out-by-identity evaluation: per-group video AUC, calibrated false positives, paired win rates.

The index is the one `resources/models/recipe/prepare.py` makes; its "val" split holds the FF++ official VAL pairs
585/599 and 672/720 (every method at c40, FaceShifter at c23), their originals, the DeepFakeDetection actors and
fakes, Celeb-DF crops, DeeperForensics clips, 14 real clips from elsewhere and held-out photos. Video score = mean
frame P(fake) over the prepared frames (32 evenly spaced per video, the paper's protocol).

`evaluate_heldout(predictor, index)` returns a JSON-ready dict:
- `groups`: {name: {auc, fakes, reals, caught}}: each FF++ method against the c40 VAL real clips (FF++ originals and
  actors), FaceShifter (c23) against the c23 originals and actors, DeepFakeDetection against the actors, Celeb-DF
  crops, DeeperForensics, and all fakes against all real videos;
- `calibrated_threshold`: the lowest threshold at which at most `fpr` of the held-out real videos score at or above
  it (what a model card stores), and `false_positives` at the threshold used;
- `pairs`: paired checks that separate the manipulation from the scene: `ffpp` (each VAL fake video against the
  original of its target, the same scene: share of pairs where the fake scores higher) and `sbi` (each held-out real
  face against its own self-blend, seeded: share where the blend scores higher, and that AUC);
- `stability` (`stability_every` > 0): |P(fake) change| (mean, p99) on every `stability_every`-th held-out frame when
  each pixel value moves by -1, 0 or +1 (`noise`) and when the crop moves by one pixel (`shift`), seeded
  (`core.train.consistency.score_stability`): changes no analyst can see, which a frame score should not follow.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from core.faces.align import AlignParams
from core.train.dataset import FrameRecord, Index, aligned_crop
from core.train.evaluation import roc_auc, score_records, threshold_at_fpr, video_scores

FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
ALL_GROUP = "all fakes vs all real videos"


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
    out[ALL_GROUP] = (keys(lambda k, lab, ds, m: lab == 1), keys(lambda k, lab, ds, m: lab == 0 and ds != "photos"))
    return out


def ffpp_pairs(videos: dict) -> list[tuple[str, str]]:
    """(fake video key, its target's original video key) for FF++ fakes named DATASET/METHOD/TARGET_SOURCE whose
    original DATASET/original/TARGET is among `videos` ({key: (label, dataset, method)})."""
    out = []
    for k, (lab, ds, m) in sorted(videos.items()):
        if lab != 1 or not ds.startswith("ffpp"):
            continue
        target = k.rsplit("/", 1)[-1].split("_")[0]
        orig = f"{ds}/original/{target}"
        if orig in videos:
            out.append((k, orig))
    return out


def sbi_pair_scores(predictor, root, records: list[FrameRecord], seed: int = 0, batch_size: int = 32):
    """(real P(fake), self-blend P(fake)) arrays over `records` (real faces), test-time aligned; the blend of record
    i is drawn from `numpy.random.default_rng([seed, i])` (the same blends for every model)."""
    from core.train.sbi import self_blended_image

    params = AlignParams()
    real, fake = [], []
    for start in range(0, len(records), batch_size):
        crops, blends = [], []
        for i, r in enumerate(records[start:start + batch_size], start):
            crop, lm, _ = aligned_crop(root, r, params)
            crops.append(crop)
            blends.append(self_blended_image(crop, lm, np.random.default_rng([seed, i])).image)
        real += [p.prob for p in predictor.predict(np.stack(crops))]
        fake += [p.prob for p in predictor.predict(np.stack(blends))]
    return np.asarray(real, np.float64), np.asarray(fake, np.float64)


def evaluate_heldout(predictor, index: Index, split: str = "val", fpr: float = 0.05, threshold: float | None = None,
                     batch_size: int = 32, sbi_pairs: bool = True, stability_every: int = 4) -> dict:
    """The held-out figures of one model (module docstring); `threshold` None: the calibrated one."""
    records = index.split(split)
    probs = score_records(predictor, index.root, records, batch_size)
    vids, _, scores, _ = video_scores(records, probs)
    meta = {r.video: (r.label, r.dataset, r.method) for r in records}
    score_of = dict(zip(vids, scores.tolist()))
    real_videos = [v for v in vids if meta[v][0] == 0 and meta[v][1] != "photos"]
    cal = threshold_at_fpr([score_of[v] for v in real_videos], fpr)
    t = cal if threshold is None else threshold
    out = {"calibrated_threshold": cal, "threshold_used": t, "fpr_target": fpr, "groups": {},
           "video_scores": score_of}
    for name, (fakes, reals) in groups(meta).items():
        if not fakes or not reals:
            continue
        y = [1] * len(fakes) + [0] * len(reals)
        s = [score_of[v] for v in fakes] + [score_of[v] for v in reals]
        out["groups"][name] = {"auc": roc_auc(y, s), "fakes": len(fakes), "reals": len(reals),
                               "caught": float(np.mean([score_of[v] >= t for v in fakes]))}
    others = [v for v in real_videos if meta[v][1] == "real"]
    photo_frames = [p for r, p in zip(records, probs) if r.dataset == "photos" and r.label == 0]

    def rate(vs):
        return float(np.mean([score_of[v] >= t for v in vs])) if vs else float("nan")

    out["false_positives"] = {
        "real_videos": {"n": len(real_videos), "rate": rate(real_videos),
                        "over": sorted(v for v in real_videos if score_of[v] >= t)},
        "non_ffpp_real_clips": {"n": len(others), "rate": rate(others)},
        "photos": {"n": len(photo_frames),
                   "rate": float(np.mean(np.asarray(photo_frames) >= t)) if photo_frames else float("nan")},
        "real_videos_over_0.5": int(sum(score_of[v] >= 0.5 for v in real_videos))}
    pairs = ffpp_pairs(meta)
    by_method = defaultdict(list)
    for f, o in pairs:
        by_method[meta[f][2]].append(score_of[f] > score_of[o])
    out["pairs"] = {"ffpp": {"n": len(pairs), "win_rate": float(np.mean([w for ws in by_method.values() for w in ws]))
                             if pairs else float("nan"),
                             "by_method": {m: float(np.mean(ws)) for m, ws in sorted(by_method.items())}}}
    if sbi_pairs:
        reals = [r for r in records if r.label == 0]
        r_s, f_s = sbi_pair_scores(predictor, index.root, reals, batch_size=batch_size)
        out["pairs"]["sbi"] = {"n": len(reals), "win_rate": float(np.mean(f_s > r_s)) if len(reals) else float("nan"),
                               "auc": roc_auc([0] * len(r_s) + [1] * len(f_s), np.r_[r_s, f_s])}
    if stability_every:
        from core.train.consistency import score_stability
        params = AlignParams()
        chosen = records[::stability_every]
        crops = np.stack([aligned_crop(index.root, r, params)[0] for r in chosen])
        out["stability"] = score_stability(predictor, crops)
    return out



def summary_row(result: dict) -> dict:
    """One flat row of a learning curve: per-group AUC, false positives at the calibrated threshold, win rates."""
    row = {f"auc {k}": round(v["auc"], 4) for k, v in result["groups"].items()}
    fp = result["false_positives"]
    row.update({"calibrated_threshold": round(result["calibrated_threshold"], 4),
                "fp_real_videos": round(fp["real_videos"]["rate"], 4),
                "fp_non_ffpp_clips": round(fp["non_ffpp_real_clips"]["rate"], 4),
                "fp_photos": round(fp["photos"]["rate"], 4),
                "real_videos_over_0.5": fp["real_videos_over_0.5"],
                "win_ffpp_pairs": round(result["pairs"]["ffpp"]["win_rate"], 4)})
    if "sbi" in result["pairs"]:
        row["win_sbi_pairs"] = round(result["pairs"]["sbi"]["win_rate"], 4)
    for kind, v in result.get("stability", {}).items():
        row[f"{kind}_dp_mean"], row[f"{kind}_dp_p99"] = round(v["mean"], 4), round(v["p99"], 4)
    return row
