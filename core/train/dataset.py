"""Prepared training/evaluation data: the index format and the torch `Dataset` that makes CADDM training samples.

**Index** (`DIR/index.json`, written by `core.train.prepare`): one record per saved face image

    {"format": "caddm-inspector/index@1", "records": [
      {"id": "ffpp/Deepfakes/519_515/00042",      # unique: dataset/method/video/frame
       "path": "frames/ffpp/Deepfakes/519_515/00042.png",  # relative to DIR; PNG or JPEG (q95)
       "label": 1,                               # 0 real, 1 fake
       "dataset": "ffpp", "method": "Deepfakes", "video": "ffpp/Deepfakes/519_515", "frame": 42,
       "split": "train",                         # train | val | test
       "landmarks": [[x, y] * 68],               # dlib 68 points in the saved image's pixels
       "box": [x0, y0, x1, y1],                  # the detected face, saved image pixels
       "crop_origin": [x, y], "crop_scale": s,   # saved px = (frame px - origin) * s
       "source": "ffpp/original/519/00042" | null}]}   # a fake frame's source (target original) frame

The saved image is a generous cut of the frame around the face (not the aligned crop), so that the training-time
random alignment (`AlignParams.random`) finds real pixels around the face. `crop_origin`/`crop_scale` let a fake
and its source frame, cut separately, be aligned with one and the same frame transform (MFS needs that).

**Samples** (`CADDMDataset`): aligned 224x224 crop (random alignment when `jitter`), then
- real record: the crop, label 0, no boxes (no detection loss);
- fake record with a source and `mfs`: `core.train.mfs.multi_scale_facial_swap` (global or partial swap, boxes);
- fake record without source, or `mfs` off: the fake crop as it is, box = the whole crop;
- self-blended item (`self_blend`, real-only data by default): `core.train.mfs.self_blended_sample`, label 1;
then (when `augment`) a horizontal flip with p = 0.5 and `core.train.augment.augment`. Boxes are matched to the 168
anchors with `core.model.boxes.match`. Every random draw comes from `numpy.random.default_rng([seed, epoch, item])`, so
a sample depends on (seed, epoch, item) only: not on DataLoader workers or processes, and resuming repeats it.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from core.model.anchors import make_anchors
from core.model.boxes import match
from core.common.errors import CaddmError
from core.faces.align import AlignParams, align_face, transform_points

INDEX_FORMAT = "caddm-inspector/index@1"
INDEX_NAME = "index.json"
SPLITS = ("train", "val", "test")
CROP = 224


class DatasetError(CaddmError):
    """Prepared data that cannot be used (missing or malformed index, missing image, empty split)."""


@dataclass
class FrameRecord:
    id: str
    path: str
    label: int
    dataset: str
    method: str
    video: str
    frame: int
    split: str
    landmarks: list
    box: list
    crop_origin: list = field(default_factory=lambda: [0.0, 0.0])
    crop_scale: float = 1.0
    source: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FrameRecord":
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in names})

    def image_to_frame(self) -> np.ndarray:
        """(3, 3) affine: saved-image pixels -> frame pixels."""
        s = float(self.crop_scale)
        return np.array([[1 / s, 0, self.crop_origin[0]], [0, 1 / s, self.crop_origin[1]], [0, 0, 1]], np.float64)


@dataclass
class Index:
    root: Path
    records: list[FrameRecord]
    face_detector: str | None = None  # the detector its crops came from (`caddm-train prepare --detector`); None: unrecorded

    @property
    def path(self) -> Path:
        return self.root / INDEX_NAME

    def by_id(self) -> dict[str, FrameRecord]:
        return {r.id: r for r in self.records}

    def split(self, name: str | None) -> list[FrameRecord]:
        if name in (None, "all"):
            return list(self.records)
        return [r for r in self.records if r.split == name]


def index_path(path: str | os.PathLike) -> Path:
    """DIR or DIR/index.json -> DIR/index.json."""
    p = Path(path)
    return p / INDEX_NAME if p.is_dir() else p


def load_index(path: str | os.PathLike) -> Index:
    """Read DIR/index.json (or the JSON file given). DatasetError naming the file on any problem."""
    p = index_path(path)
    if not p.exists():
        raise DatasetError(p, "index not found (make one with `caddm-train prepare`)")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DatasetError(p, f"is not a readable JSON index ({e})") from None
    if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT:
        raise DatasetError(p, f"is not a CADDM Inspector index (format {data.get('format') if isinstance(data, dict) else None!r})")
    try:
        records = [FrameRecord.from_dict(r) for r in data["records"]]
        for r in records:
            if np.asarray(r.landmarks).shape != (68, 2):
                raise ValueError(f"record {r.id} has landmarks of shape {np.asarray(r.landmarks).shape}")
            if r.label not in (0, 1):
                raise ValueError(f"record {r.id} has label {r.label!r}")
    except (KeyError, TypeError, ValueError) as e:
        raise DatasetError(p, f"has a malformed record ({e})") from None
    detector = data.get("face_detector")
    return Index(p.parent, records, detector if isinstance(detector, str) else None)


def write_index(root: str | os.PathLike, records: list[FrameRecord], **extra) -> Path:
    """Write DIR/index.json atomically (records sorted by id)."""
    from core.common.atomic import atomic_write_text

    root = Path(root)
    head = json.dumps({"format": INDEX_FORMAT, **extra})[:-1]
    rows = ",\n".join(json.dumps(r.to_dict()) for r in sorted(records, key=lambda r: r.id))
    atomic_write_text(root / INDEX_NAME, f'{head}, "records": [\n{rows}\n]}}\n')
    return root / INDEX_NAME


def read_image(root: Path, record: FrameRecord) -> np.ndarray:
    path = root / record.path
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DatasetError(path, f"cannot read the image of record {record.id}")
    return img


def _to3(m: np.ndarray) -> np.ndarray:
    out = np.eye(3)
    out[:2] = m[:2]
    return out


def aligned_crop(root: Path, record: FrameRecord, params: AlignParams = AlignParams()):
    """(crop (224,224,3) uint8, landmarks in crop px (68,2), M image->crop (2,3)) of one record."""
    img = read_image(root, record)
    lm = np.asarray(record.landmarks, np.float64)
    crop, m = align_face(img, lm, params)
    return crop, transform_points(lm, m), m


def aligned_pair(root: Path, fake: FrameRecord, source: FrameRecord, params: AlignParams):
    """Fake and source crops aligned with the fake's landmarks and one frame transform."""
    crop, lm_crop, m = aligned_crop(root, fake, params)
    src_img = read_image(root, source)
    # source image px -> frame px -> fake image px -> crop px
    frame_to_fake = np.linalg.inv(fake.image_to_frame())
    m_src = (_to3(m) @ frame_to_fake @ source.image_to_frame())[:2]
    src_crop = cv2.warpAffine(src_img, m_src, (params.canvas, params.canvas), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return crop, src_crop, lm_crop


@dataclass
class SampleOptions:
    mfs: bool = True  # multi-scale facial swap for fakes with a source
    augment: bool = True  # flip + core.train.augment chain
    jitter: bool = True  # random alignment (AlignParams.random); off: the test-time alignment
    self_blend: str = "auto"  # "auto" (only when the split has no fakes), "on", "off"


class CADDMDataset(Dataset):
    """Training samples from an index split. `__getitem__(i)` -> dict:
    image uint8 (224, 224, 3) BGR tensor, label int64, loc_t (168, 4) float32, conf_t (168,) int64.
    Convert images with `core.model.preprocess.to_model_input` in the training step (cheaper on the device)."""

    def __init__(self, index: Index, split: str | None = "train", options: SampleOptions = SampleOptions(),
                 seed: int = 0, mfs_config=None, augment_config=None):
        from core.train.augment import AugmentConfig
        from core.train.mfs import MFSConfig

        self.root = index.root
        self.records = index.split(split)
        if not self.records:
            raise DatasetError(index.path, f"has no records in split {split!r}")
        self.by_id = index.by_id()
        self.options = options
        self.seed = int(seed)
        self.epoch = 0
        self.mfs_config = mfs_config or MFSConfig()
        self.augment_config = augment_config or AugmentConfig()
        has_fakes = any(r.label == 1 for r in self.records)
        sb = options.self_blend
        if sb not in ("auto", "on", "off"):
            raise ValueError(f"self_blend must be auto, on or off, not {sb!r}")
        self.self_blend = sb == "on" or (sb == "auto" and not has_fakes)
        self.items: list[tuple[int, str]] = [(i, "fake" if r.label else "real") for i, r in enumerate(self.records)]
        if self.self_blend:
            self.items += [(i, "sbi") for i, r in enumerate(self.records) if r.label == 0]
        self.anchors = make_anchors()

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def labels(self) -> np.ndarray:
        return np.array([0 if kind == "real" else 1 for _, kind in self.items])

    def rng(self, item: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(item)])

    def sample(self, item: int, rng: np.random.Generator | None = None):
        """The `core.train.mfs.MFSSample` item `item` becomes (image after MFS, flip and augmentation; boxes xyxy crop px)."""
        from core.train.augment import augment
        from core.train.mfs import MFSSample, flip_sample, multi_scale_facial_swap, real_sample, self_blended_sample

        rng = rng or self.rng(item)
        idx, kind = self.items[item]
        rec = self.records[idx]
        opt = self.options
        params = AlignParams.random(rng) if opt.jitter else AlignParams()
        source = self.by_id.get(rec.source) if rec.source else None
        if kind == "fake" and source is not None and opt.mfs:
            crop, src_crop, lm = aligned_pair(self.root, rec, source, params)
            s = multi_scale_facial_swap(crop, src_crop, lm, rng, self.mfs_config)
        else:
            crop, lm, _ = aligned_crop(self.root, rec, params)
            if kind == "real":
                s = real_sample(crop, lm)
            elif kind == "sbi":
                s = self_blended_sample(crop, lm, rng, self.mfs_config)
            else:
                s = MFSSample(crop, np.array([[0, 0, CROP, CROP]], np.float32), 1, "fake_as_is", "", lm)
        if opt.augment:
            if rng.random() < 0.5:
                s = flip_sample(s)
            s.image = augment(s.image, rng, self.augment_config)
        return s

    def encode(self, boxes_xyxy_px: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        loc_t, conf_t = match(np.asarray(boxes_xyxy_px, np.float32).reshape(-1, 4) / CROP, self.anchors)
        return torch.from_numpy(loc_t), torch.from_numpy(conf_t)

    def __getitem__(self, item: int) -> dict:
        s = self.sample(item)
        loc_t, conf_t = self.encode(s.boxes)
        return {"image": torch.from_numpy(np.ascontiguousarray(s.image)), "label": torch.tensor(s.label),
                "loc_t": loc_t.float(), "conf_t": conf_t.long()}


class EpochSampler(torch.utils.data.Sampler):
    """The items of one epoch for one process: a permutation drawn from (seed, epoch), repeated or cut to
    `num_batches * batch_size * world_size` items (all items when num_batches is None), rank r taking every
    world_size-th batch-sized share. Same sequence whatever the number of DataLoader workers."""

    def __init__(self, n: int, batch_size: int, num_batches: int | None = None, seed: int = 0, rank: int = 0,
                 world_size: int = 1):
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)
        self.rank, self.world_size = int(rank), int(world_size)
        per_rank = num_batches if num_batches else max(1, self.n // (self.batch_size * self.world_size))
        self.num_batches = int(per_rank)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_batches * self.batch_size

    def __iter__(self):
        g = np.random.default_rng([self.seed, self.epoch, 7919])
        total = len(self) * self.world_size
        order = np.concatenate([g.permutation(self.n) for _ in range(-(-total // self.n))])[:total]
        mine = order.reshape(self.num_batches, self.world_size, self.batch_size)[:, self.rank].reshape(-1)
        return iter(mine.tolist())
