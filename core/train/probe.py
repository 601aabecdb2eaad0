"""The paper's identity-leakage probe: how much of a face's identity a detector's features carry.

Freeze a model, take its backbone's pooled features ((B, C): the global average of the backbone's last map, before
the ADM's projection, so that an untrained projection does not stand between an ImageNet backbone and the probe)
on test-time aligned crops of *real* frames, and fit a linear classifier (multinomial logistic regression,
L2) that predicts who the face is. Top-1 accuracy on held-out frames against chance says how much identity the
features hold: the paper (Sec. 3, Fig. 2) finds a binary detector learns identities, and that MFS reduces it.

Identities: one per person, from the record's video key (`identity_of`): FF++ originals by their id across
compressions (`ffpp/519`), DeepFakeDetection actors by actor number, Celeb-DF real clips by `idN`, any other real
video as its own identity. Identities with fewer than `min_frames` frames (photos) are left out.

Split: within each identity, by time: the frames are ordered by frame index and the last `test_share` of them are
the test set, so that test frames are not the neighbours of training frames (a random split of 30 fps video would
measure near-duplicate lookup, not identity).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass

import numpy as np
import torch

from core.faces.align import AlignParams
from core.model.preprocess import to_model_input
from core.train.dataset import DatasetError, FrameRecord, Index, aligned_crop


def identity_of(record: FrameRecord) -> str:
    """The person a real record shows (see the module docstring)."""
    stem = record.video.rsplit("/", 1)[-1]
    if record.dataset.startswith("ffpp"):
        return f"ffpp/{stem.split('_')[0]}"
    if record.dataset == "dfd":
        return f"dfd/{stem.split('__')[0]}"
    if record.dataset == "celebdf":
        return f"celebdf/{stem.split('_')[0]}"
    return record.video


@dataclass
class ProbeSplit:
    """Records and integer identity labels of the probe's train and test sets; `names[label]` is the identity."""

    names: list[str]
    train: list[FrameRecord]
    train_y: np.ndarray  # (N_train,) int64
    test: list[FrameRecord]
    test_y: np.ndarray  # (N_test,) int64


def probe_split(index: Index, min_frames: int = 8, test_share: float = 0.3,
                max_frames: int | None = None) -> ProbeSplit:
    """Real records of every split grouped by identity, split by time within each identity (module docstring).
    `max_frames`: at most that many evenly spaced frames per identity (None: all)."""
    if not 0 < test_share < 1:
        raise ValueError(f"test_share must lie in (0, 1), not {test_share}")
    groups: dict[str, list[FrameRecord]] = defaultdict(list)
    for r in index.records:
        if r.label == 0:
            groups[identity_of(r)].append(r)
    names = sorted(k for k, v in groups.items() if len(v) >= max(min_frames, 2))
    if len(names) < 2:
        raise DatasetError(index.path, f"has {len(names)} identities with >= {min_frames} real frames; the probe "
                                       "needs at least 2")
    train, test, ty, sy = [], [], [], []
    for label, name in enumerate(names):
        rs = sorted(groups[name], key=lambda r: (r.frame, r.video))
        if max_frames and len(rs) > max_frames:
            rs = [rs[i] for i in sorted(set(np.linspace(0, len(rs) - 1, max_frames).round().astype(int)))]
        cut = min(len(rs) - 1, max(1, int(round(len(rs) * (1 - test_share)))))
        train += rs[:cut]
        test += rs[cut:]
        ty += [label] * cut
        sy += [label] * (len(rs) - cut)
    return ProbeSplit(names, train, np.array(ty, np.int64), test, np.array(sy, np.int64))


def pooled_features(model, root, records: list[FrameRecord], device: torch.device, batch_size: int = 32,
                    progress=None) -> np.ndarray:
    """(N, C) float32 pooled backbone features of test-time aligned crops, the model frozen in eval mode."""
    model = model.to(device).eval()
    params = AlignParams()
    out = []
    for start in range(0, len(records), batch_size):
        chunk = records[start:start + batch_size]
        crops = np.stack([aligned_crop(root, r, params)[0] for r in chunk])
        x = to_model_input(crops, model.convention, device)
        with torch.inference_mode():
            out.append(model.pool(model.backbone.forward_features(x)).float().cpu().numpy())
        if progress:
            progress(min(start + batch_size, len(records)), len(records))
    return np.concatenate(out)


def fit_linear_probe(x: np.ndarray, y: np.ndarray, n_classes: int, weight_decay: float = 1e-3,
                     max_iter: int = 300, seed: int = 0):
    """Multinomial logistic regression on standardised features (full-batch L-BFGS).
    x (N, C) float, y (N,) int -> predict(x (M, C)) -> (M,) int."""
    mean, std = x.mean(0), x.std(0) + 1e-6
    xt = torch.from_numpy(((x - mean) / std).astype(np.float32))
    yt = torch.from_numpy(y.astype(np.int64))
    torch.manual_seed(seed)
    linear = torch.nn.Linear(x.shape[1], n_classes)
    opt = torch.optim.LBFGS(linear.parameters(), lr=1.0, max_iter=max_iter, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(xt), yt) + weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)

    def predict(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return linear(torch.from_numpy(((z - mean) / std).astype(np.float32))).argmax(1).numpy()

    return predict


@dataclass
class ProbeResult:
    """Identity classification from frozen features: top-1 on the test frames with the whole training part
    (`top1`, and `train_top1` on the training frames themselves) and with only k training frames per identity
    (`top1_shots`: {k: top-1}; few frames make the probe read the person rather than the clip), against chance
    (1 / identities) and the majority class's share of the test frames."""

    model: str
    identities: int
    train_frames: int
    test_frames: int
    features: int
    train_top1: float
    top1: float
    top1_shots: dict
    chance: float
    majority: float

    def to_dict(self) -> dict:
        return asdict(self)


def _shot_rows(y: np.ndarray, k: int) -> np.ndarray:
    """Indices of k evenly spaced rows of each label in y (y grouped by label, in time order)."""
    rows = []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        rows += idx[np.unique(np.linspace(0, len(idx) - 1, min(k, len(idx))).round().astype(int))].tolist()
    return np.array(rows, np.int64)


def run_probe(model, name: str, index: Index, split: ProbeSplit, device: torch.device, batch_size: int = 32,
              weight_decay: float = 1e-3, shots: tuple[int, ...] = (1, 4), progress=None) -> ProbeResult:
    """Extract features of `split`'s frames with `model` (a CADDM), fit the probe on train (all of it, and k frames
    per identity for each k in `shots`), score on test."""
    feats = pooled_features(model, index.root, split.train + split.test, device, batch_size, progress)
    xtr, xte = feats[: len(split.train)], feats[len(split.train):]
    predict = fit_linear_probe(xtr, split.train_y, len(split.names), weight_decay)
    few = {}
    for k in shots:
        rows = _shot_rows(split.train_y, k)
        p = fit_linear_probe(xtr[rows], split.train_y[rows], len(split.names), weight_decay)
        few[str(k)] = round(float((p(xte) == split.test_y).mean()), 4)
    counts = np.bincount(split.test_y, minlength=len(split.names))
    return ProbeResult(model=name, identities=len(split.names), train_frames=len(split.train),
                       test_frames=len(split.test), features=int(feats.shape[1]),
                       train_top1=round(float((predict(xtr) == split.train_y).mean()), 4),
                       top1=round(float((predict(xte) == split.test_y).mean()), 4), top1_shots=few,
                       chance=round(1.0 / len(split.names), 4),
                       majority=round(float(counts.max() / counts.sum()), 4))
