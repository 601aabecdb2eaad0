"""Evaluating a CADDM model on a prepared index: frame- and video-level AUC, accuracy, per-method breakdown, ROC.

Scores come from `core.model.inference.Predictor` on test-time aligned crops (`AlignParams()` defaults), the same code
path the analysis engine uses. Video score = mean of its frame scores (the paper's protocol). AUC and the ROC curve
are computed here with NumPy (rank statistic with tied ranks averaged, as scikit-learn's `roc_auc_score`).
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from core.common.atomic import atomic_write_bytes, atomic_write_text
from core.train.dataset import DatasetError, FrameRecord, Index, aligned_crop
from core.faces.align import AlignParams


# ------------------------------------------------------------------------------------------------- metrics
def _rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(len(x), np.float64)
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and xs[j + 1] == xs[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve for binary labels (1 positive). NaN when only one class is present."""
    y = np.asarray(labels).astype(bool).ravel()
    s = np.asarray(scores, np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.shape} vs {s.shape}")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = _rankdata(s)
    return float((r[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_curve(labels, scores):
    """(fpr, tpr, thresholds): one point per distinct score (descending), starting at (0, 0) with +inf."""
    y = np.asarray(labels).astype(bool).ravel()
    s = np.asarray(scores, np.float64).ravel()
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1] if len(s) else np.array([], int)
    tps = np.cumsum(y)[last]
    fps = (last + 1) - tps
    n_pos, n_neg = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    return (np.r_[0.0, fps / n_neg], np.r_[0.0, tps / n_pos], np.r_[np.inf, s[last]])


def threshold_at_fpr(real_scores, fpr: float = 0.05) -> float:
    """The lowest threshold at which at most `fpr` of `real_scores` (P(fake) of real items) score at or above it:
    just above the (floor(fpr * n) + 1)-th highest real score. 1.0 when there are no scores."""
    s = np.sort(np.asarray(real_scores, np.float64))[::-1]
    if s.size == 0:
        return 1.0
    k = int(np.floor(fpr * s.size + 1e-9))
    if k >= s.size:
        return 0.0
    return float(min(1.0, np.nextafter(s[k], np.inf)))


def accuracy(labels, scores, threshold: float = 0.5) -> float:
    y = np.asarray(labels).astype(int).ravel()
    s = np.asarray(scores, np.float64).ravel()
    return float(((s >= threshold).astype(int) == y).mean()) if len(y) else float("nan")


def video_scores(records: list[FrameRecord], probs) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """(video ids, labels, mean frame scores, methods), videos in first-seen order."""
    groups: dict[str, list[float]] = defaultdict(list)
    meta = {}
    for r, p in zip(records, probs):
        groups[r.video].append(float(p))
        meta.setdefault(r.video, (r.label, r.method))
    vids = list(groups)
    return (vids, np.array([meta[v][0] for v in vids]), np.array([np.mean(groups[v]) for v in vids]),
            [meta[v][1] for v in vids])


def _clean(x: float):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 6)


def compute_metrics(records: list[FrameRecord], probs, threshold: float = 0.5) -> dict:
    """Frame and video AUC / accuracy, and per manipulation method: that method's fakes against all reals."""
    probs = np.asarray(probs, np.float64)
    fl = np.array([r.label for r in records])
    fm = [r.method for r in records]
    vids, vl, vs, vm = video_scores(records, probs)
    out = {
        "threshold": threshold,
        "frame": {"auc": _clean(roc_auc(fl, probs)), "accuracy": _clean(accuracy(fl, probs, threshold)),
                  "n": len(fl), "n_fake": int(fl.sum())},
        "video": {"auc": _clean(roc_auc(vl, vs)), "accuracy": _clean(accuracy(vl, vs, threshold)),
                  "n": len(vl), "n_fake": int(vl.sum())},
        "per_method": {},
    }
    vm, fm = np.array(vm), np.array(fm)
    for m in sorted(set(vm.tolist())):
        vsel, fsel = vm == m, fm == m
        entry = {"label": int(vl[vsel][0]), "videos": int(vsel.sum()), "frames": int(fsel.sum()),
                 "video_accuracy": _clean(accuracy(vl[vsel], vs[vsel], threshold)),
                 "frame_accuracy": _clean(accuracy(fl[fsel], probs[fsel], threshold)),
                 "mean_score": _clean(float(vs[vsel].mean()))}
        if entry["label"] == 1:  # this method's fakes against every real video / frame
            vr, fr = vsel | (vl == 0), fsel | (fl == 0)
            entry["video_auc"] = _clean(roc_auc(vl[vr], vs[vr]))
            entry["frame_auc"] = _clean(roc_auc(fl[fr], probs[fr]))
        out["per_method"][m] = entry
    return out


# ------------------------------------------------------------------------------------------------- scoring
def score_records(predictor, root: Path, records: list[FrameRecord], batch_size: int = 32,
                  progress=None) -> np.ndarray:
    """P(fake) of every record, through `predictor.predict` on test-time aligned crops."""
    probs = np.empty(len(records), np.float64)
    params = AlignParams()
    for start in range(0, len(records), batch_size):
        chunk = records[start:start + batch_size]
        crops = np.stack([aligned_crop(root, r, params)[0] for r in chunk])
        for k, fp in enumerate(predictor.predict(crops)):
            probs[start + k] = fp.prob
        if progress:
            progress(min(start + batch_size, len(records)), len(records))
    return probs


def select(index: Index, split: str | None = "test", frames_per_video: int | None = None) -> list[FrameRecord]:
    """Records of a split (all when the split is "all"), at most `frames_per_video` evenly spaced per video."""
    recs = index.split(split)
    if not recs:
        raise DatasetError(index.path, f"has no records in split {split!r}")
    if frames_per_video:
        by_video: dict[str, list[FrameRecord]] = defaultdict(list)
        for r in recs:
            by_video[r.video].append(r)
        recs = []
        for v, rs in by_video.items():
            rs.sort(key=lambda r: r.frame)
            if len(rs) > frames_per_video:
                pick = np.linspace(0, len(rs) - 1, frames_per_video).round().astype(int)
                rs = [rs[i] for i in sorted(set(pick.tolist()))]
            recs += rs
    return recs


def roc_figure(curves: dict[str, tuple[np.ndarray, np.ndarray, float]], title: str = "ROC"):
    """A matplotlib Figure (Agg, no pyplot) with one ROC curve per entry {name: (fpr, tpr, auc)}."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for name, (fpr, tpr, auc) in curves.items():
        label = f"{name} (AUC {auc:.4f})" if auc == auc else f"{name} (AUC n/a)"
        ax.plot(fpr, tpr, label=label, drawstyle="steps-post")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def write_report(out_dir: str | os.PathLike, records: list[FrameRecord], probs: np.ndarray, metrics: dict,
                 title: str = "ROC") -> dict[str, Path]:
    """metrics.json, scores.csv (one row per frame) and roc.png (frame and video curves) in `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "video", "method", "frame", "label", "prob"])
    for r, p in zip(records, probs):
        w.writerow([r.id, r.video, r.method, r.frame, r.label, f"{p:.6f}"])
    atomic_write_text(out / "scores.csv", buf.getvalue())
    fl = [r.label for r in records]
    _, vl, vs, _ = video_scores(records, probs)
    curves = {}
    for name, (y, s) in {"video": (vl, vs), "frame": (fl, probs)}.items():
        fpr, tpr, _ = roc_curve(y, s)
        curves[name] = (fpr, tpr, roc_auc(y, s))
    fig = roc_figure(curves, title)
    png = io.BytesIO()
    fig.savefig(png, format="png")
    atomic_write_bytes(out / "roc.png", png.getvalue())
    return {"metrics": out / "metrics.json", "scores": out / "scores.csv", "roc": out / "roc.png"}


def evaluate(predictor, index: Index, split: str | None = "test", threshold: float = 0.5,
             frames_per_video: int | None = None, out_dir=None, progress=None) -> dict:
    """Score a split and compute metrics; with `out_dir`, also write the report files."""
    records = select(index, split, frames_per_video)
    probs = score_records(predictor, index.root, records, predictor.batch_size, progress)
    metrics = compute_metrics(records, probs, threshold)
    metrics["split"] = split
    metrics["index"] = str(index.path)
    if out_dir is not None:
        write_report(out_dir, records, probs, metrics, title=f"{index.root.name} ({split})")
    return metrics
