"""The int8 runtime's quality gate (issue 24): does `--runtime onnx-int8` score as the fp32 model does?

    .venv/bin/python bench/int8_gate.py [--model PATH] [--index ../campaign/idx_retinaface] [--out gate.json]

On the held-out split of a prepared index (`resources/models/recipe/prepare.py`; every val frame, aligned as in
training evaluation) both runtimes score the same crops. Printed: frame |P_int8 - P_fp32| (mean, p99, max), the
all-methods video AUC of each (fake videos against real ones, photos excluded) and its change, the videos whose
verdict at the model's calibrated threshold changes, the same on the bundled samples analysed as `caddm-analyze`
does (32 frames), and ms a face of each runtime over the analysis's lanes. Beside the int8 difference, the fp32
model's own (`core.train.consistency.score_stability`): |P_fp32(crop shifted 1 pixel) - P_fp32(crop)| and the same
with each pixel value moved by -1, 0 or +1 at random (invisible; about what an int8 model's rounding does to its
activations), the floors a frame-level figure can be read against. The gate (issue 24): AUC within 0.005, frame
p99 <= 0.02, no verdict change. Without the index (../campaign absent) only the samples are checked.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.common.threads import configure_threads  # noqa: E402

configure_threads()
import numpy as np  # noqa: E402

from core.analysis.engine import AnalysisOptions, analyze_video  # noqa: E402
from core.analysis.runner import load_predictor  # noqa: E402
from core.common.resources import sample_videos  # noqa: E402


def _crops(index_dir: Path):
    from core.faces.align import AlignParams
    from core.train.dataset import aligned_crop, load_index

    index = load_index(index_dir)
    records = index.split("val")
    crops = np.stack([aligned_crop(index.root, r, AlignParams())[0] for r in records])
    return records, crops


def _scores(predictor, crops: np.ndarray) -> tuple[np.ndarray, float]:
    predictor.predict(crops[:32])  # warm
    t = time.perf_counter()
    probs = np.array([p.prob for p in predictor.predict(crops)])
    return probs, (time.perf_counter() - t) / len(crops) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="checkpoint (default: the bundled model)")
    ap.add_argument("--index", default=str(ROOT.parent / "campaign" / "idx_retinaface"))
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args()
    fp32 = load_predictor(args.model, device="cpu", runtime="onnxruntime")
    t = time.perf_counter()
    int8 = load_predictor(args.model, device="cpu", runtime="onnx-int8")
    made = time.perf_counter() - t
    threshold = fp32.info.default_threshold
    print(f"model {fp32.info.name} ({fp32.config.backbone}), threshold {threshold:.4f}; {fp32.runtime} vs "
          f"{int8.runtime} (int8 model ready in {made:.1f} s; made once per checkpoint, then cached)")
    out: dict = {"model": fp32.info.name, "sha256": fp32.info.sha256, "threshold": threshold}
    if Path(args.index, "index.json").is_file():
        from core.train.consistency import score_stability
        from core.train.evaluation import roc_auc, video_scores

        records, crops = _crops(Path(args.index))
        a, ms_a = _scores(fp32, crops)
        b, ms_b = _scores(int8, crops)
        d = np.abs(b - a)
        floor = score_stability(fp32, crops)  # the fp32 model against itself under invisible changes
        keep = [i for i, r in enumerate(records) if r.dataset != "photos"]
        recs = [records[i] for i in keep]
        vids, labels, va, _ = video_scores(recs, a[keep])
        _, _, vb, _ = video_scores(recs, b[keep])
        auc_a, auc_b = roc_auc(labels, va), roc_auc(labels, vb)
        flips = [f"{v} ({x:.4f} -> {y:.4f})" for v, x, y in zip(vids, va, vb) if (x >= threshold) != (y >= threshold)]
        out["heldout"] = {"frames": len(crops), "videos": len(vids), "frame_abs_diff": {
            "mean": float(d.mean()), "p99": float(np.quantile(d, 0.99)), "max": float(d.max())},
            "fp32_shift_1px_abs_diff": floor["shift"], "fp32_noise_1_abs_diff": floor["noise"],
            "auc_fp32": auc_a, "auc_int8": auc_b, "verdict_changes": flips, "ms_per_face": {"fp32": ms_a,
                                                                                         "int8": ms_b}}
        print(f"held-out val: {len(crops)} frames, {len(vids)} videos; frame |dP| mean {d.mean():.4f}, p99 "
              f"{np.quantile(d, 0.99):.4f}, max {d.max():.4f}; video AUC {auc_a:.4f} -> {auc_b:.4f} "
              f"({auc_b - auc_a:+.4f}); verdicts changed: {len(flips)} {flips[:6]}")
        print(f"fp32 against itself, crop shifted 1 pixel: frame |dP| mean {floor['shift']['mean']:.4f}, p99 "
              f"{floor['shift']['p99']:.4f}; each pixel value moved by -1, 0 or +1 at random: mean "
              f"{floor['noise']['mean']:.4f}, p99 {floor['noise']['p99']:.4f}")
        print(f"ms a face over {fp32.lanes} lanes: fp32 {ms_a:.2f}, int8 {ms_b:.2f} ({ms_a / ms_b:.2f}x)")
    else:
        print(f"{args.index}: no prepared index, held-out figures skipped")
    samples = {}
    options = AnalysisOptions(threshold=threshold, identity=False)
    for clip in sample_videos():
        s = [analyze_video(clip, p, options).summary.video_score for p in (fp32, int8)]
        samples[clip.name] = {"fp32": s[0], "int8": s[1], "verdict_changed": (s[0] >= threshold) != (s[1] >= threshold)}
        print(f"{clip.name}: video score fp32 {s[0]:.4f}, int8 {s[1]:.4f}"
              + ("  VERDICT CHANGED" if samples[clip.name]["verdict_changed"] else ""))
    out["samples"] = samples
    h = out.get("heldout")
    ok = all(not v["verdict_changed"] for v in samples.values()) and (
        h is None or (abs(h["auc_int8"] - h["auc_fp32"]) <= 0.005 and h["frame_abs_diff"]["p99"] <= 0.02
                      and not h["verdict_changes"]))
    out["gate_holds"] = ok
    print("gate (AUC within 0.005, frame p99 <= 0.02, no verdict change):", "HOLDS" if ok else "FAILS")
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
