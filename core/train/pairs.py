"""Paired training samples: a real face and its fake side by side, in the same step, with the same augmentation.

A classifier trained on unpaired frames can separate real from fake by scene, person or light, because those differ
between its real and fake sets. Here every item is a *pair* that shares all of that, so only the manipulation
separates its two halves (as the SBI paper batches a real frame with its self-blend):
- ``"sbi"`` pair, for each real record: the real crop (label 0) and its self-blended image
  (``core.train.sbi.self_blended_image``, label 1), made from one and the same aligned crop;
- ``"ffpp"`` pair, for each fake record with a source frame: the source frame (label 0) and the MFS sample of the
  fake (``core.train.mfs.multi_scale_facial_swap``, label 1), both aligned with the fake's landmarks and one frame
  transform (``core.train.dataset.aligned_pair``). Fakes without a source are left out.
Both halves then get the same flip and the same augmentation draws (two generators seeded alike), so a JPEG
quality, a blur or a colour tone never tells them apart.

``PairedDataset[i]`` -> dict of stacked halves: image uint8 (2, 224, 224, 3) BGR, label int64 (2,) = [0, 1],
loc_t (2, 168, 4) float32, conf_t (2, 168) int64. ``flatten_pairs(batch)`` turns a collated batch of B pairs into
2B samples for the training step.
"""
from __future__ import annotations

import numpy as np
import torch

from core.faces.align import AlignParams
from core.train.dataset import CADDMDataset, DatasetError, Index, SampleOptions, aligned_crop, aligned_pair


class PairedDataset(CADDMDataset):
    """Pairs of (real, fake) samples from an index split (module docstring). Same constructor as CADDMDataset;
    ``sbi_config`` is a ``core.train.sbi.SBIConfig``. ``kinds`` limits the pair kinds ("sbi", "ffpp")."""

    def __init__(self, index: Index, split: str | None = "train", options: SampleOptions = SampleOptions(),
                 seed: int = 0, mfs_config=None, augment_config=None, sbi_config=None,
                 kinds: tuple[str, ...] = ("sbi", "ffpp")):
        from core.train.sbi import SBIConfig

        super().__init__(index, split, options, seed, mfs_config, augment_config)
        self.sbi_config = sbi_config or SBIConfig()
        bad = set(kinds) - {"sbi", "ffpp"}
        if bad or not kinds:
            raise ValueError(f"pair kinds must be among sbi, ffpp, not {sorted(bad) or kinds!r}")
        items = []
        if "sbi" in kinds:
            items += [(i, "sbi") for i, r in enumerate(self.records) if r.label == 0]
        if "ffpp" in kinds:
            items += [(i, "ffpp") for i, r in enumerate(self.records)
                      if r.label == 1 and r.source and r.source in self.by_id]
        if not items:
            raise DatasetError(index.path, f"has no pairs of kinds {', '.join(kinds)} in split {split!r}")
        self.items = items
        self.unpaired_fakes = sum(1 for r in self.records if r.label == 1 and not (r.source and r.source in self.by_id))

    def labels(self) -> np.ndarray:
        return np.ones(len(self.items), np.int64)  # every item holds a fake (and its real)

    def pair(self, item: int, rng: np.random.Generator | None = None):
        """(real MFSSample, fake MFSSample) of item ``item`` after flip and augmentation."""
        from core.train.augment import augment
        from core.train.mfs import FULL_BOX, MFSSample, flip_sample, multi_scale_facial_swap, real_sample
        from core.train.sbi import self_blended_image

        rng = rng or self.rng(item)
        idx, kind = self.items[item]
        rec = self.records[idx]
        params = AlignParams.random(rng) if self.options.jitter else AlignParams()
        if kind == "sbi":
            crop, lm, _ = aligned_crop(self.root, rec, params)
            real, fake = real_sample(crop, lm), self_blended_image(crop, lm, rng, self.sbi_config)
        else:
            crop, src_crop, lm = aligned_pair(self.root, rec, self.by_id[rec.source], params)
            real = real_sample(src_crop, lm)
            if self.options.mfs:
                fake = multi_scale_facial_swap(crop, src_crop, lm, rng, self.mfs_config)
            else:
                fake = MFSSample(crop.copy(), np.array([FULL_BOX], np.float32), 1, "fake_as_is", "", lm)
        if self.options.augment:
            if rng.random() < 0.5:
                real, fake = flip_sample(real), flip_sample(fake)
            state = int(rng.integers(2**63))
            real.image = augment(real.image, np.random.default_rng(state), self.augment_config)
            fake.image = augment(fake.image, np.random.default_rng(state), self.augment_config)
        return real, fake

    def __getitem__(self, item: int) -> dict:
        halves = []
        for s in self.pair(item):
            loc_t, conf_t = self.encode(s.boxes)
            halves.append((torch.from_numpy(np.ascontiguousarray(s.image)), loc_t.float(), conf_t.long()))
        return {"image": torch.stack([h[0] for h in halves]), "label": torch.tensor([0, 1]),
                "loc_t": torch.stack([h[1] for h in halves]), "conf_t": torch.stack([h[2] for h in halves])}


def flatten_pairs(batch: dict) -> dict:
    """A collated batch of B pairs (image (B, 2, H, W, 3), ...) -> 2B samples (image (2B, H, W, 3), ...);
    a batch of single samples is returned as it is."""
    if batch["image"].ndim != 5:
        return batch
    return {k: v.flatten(0, 1) for k, v in batch.items()}
