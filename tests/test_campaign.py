"""Self-blended images, paired training items, the held-out evaluation and the training campaign (tiny data)."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

import core.cli.train
import core.train.mfs
import core.train.sbi as sbi_mod
from core.faces.align import AlignParams
from core.train.dataset import SampleOptions, aligned_crop, load_index
from core.train.fit import ConfigError, fit, load_config
from core.train.pairs import PairedDataset, flatten_pairs
from core.train.sbi import SBIConfig, blend_mask, self_blended_image, source_target_augment
from tests.test_training import TINY, prepared  # noqa: F401 - the module-scoped index fixture

pytestmark = pytest.mark.long  # tens of seconds: started first (tests/conftest.py)

FACE = Path(__file__).parent / "data" / "astronaut_face.jpg"


@pytest.fixture(scope="module")
def face_crop(prepared):  # noqa: F811
    ix = load_index(prepared)
    rec = next(r for r in ix.records if r.label == 0)
    crop, lm, _ = aligned_crop(ix.root, rec, AlignParams())
    return crop, lm


def test_sbi_mask_lies_on_the_face_and_follows_the_blend_ratio(face_crop):
    crop, lm = face_crop
    for seed in range(8):
        m = blend_mask(lm, np.random.default_rng(seed), SBIConfig(p_elastic=0.0))
        assert m.shape == crop.shape[:2] and m.dtype == np.float32
        assert 0.0 <= m.min() and m.max() <= 1.0 + 1e-6 and m.max() > 0.2
        assert m[:4, :4].max() == 0 and m[-4:, -4:].max() == 0  # crop corners: never blended
        cx, cy = lm[30]  # nose tip: inside the face
        assert m[int(cy), int(cx)] >= 0.2


def test_source_target_augment_changes_the_copy_not_its_shape(face_crop):
    crop, _ = face_crop
    out = source_target_augment(crop, np.random.default_rng(1))
    assert out.shape == crop.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - crop).mean() > 1.0


def test_self_blended_image_is_seeded_and_boxed(face_crop):
    crop, lm = face_crop
    a = self_blended_image(crop, lm, np.random.default_rng(5))
    b = self_blended_image(crop, lm, np.random.default_rng(5))
    assert np.array_equal(a.image, b.image) and a.label == 1
    assert a.boxes[0].tolist() == [0, 0, 224, 224]
    part = self_blended_image(crop, lm, np.random.default_rng(5), SBIConfig(p_partial=1.0, windows=((80, 120),)))
    assert part.kind == "sbi2_partial" and part.boxes.shape == (2, 4)
    x0, y0, x1, y1 = part.boxes[1]
    assert (y1 - y0, x1 - x0) == (80, 120)
    assert not np.array_equal(a.image, crop)


def test_pairs_share_scene_and_augmentation(prepared, monkeypatch):  # noqa: F811
    ix = load_index(prepared)
    ds = PairedDataset(ix, "train", SampleOptions(), seed=2)
    kinds = {k for _, k in ds.items}
    assert kinds == {"sbi", "ffpp"}
    assert len(ds) == sum(r.label == 0 for r in ds.records) + sum(r.label == 1 for r in ds.records)
    item = ds[0]
    assert item["image"].shape == (2, 224, 224, 3) and item["label"].tolist() == [0, 1]
    assert int(item["conf_t"][0].sum()) == 0 and int(item["conf_t"][1].sum()) > 0  # boxes on the fake only
    assert torch.equal(ds[3]["image"], ds[3]["image"])  # a function of (seed, epoch, item)
    # With a blend that changes nothing, both halves must come out identical: same flip, same augmentation draws.
    monkeypatch.setattr(sbi_mod, "self_blended_image",
                        lambda crop, lm, rng, cfg=None: core.train.mfs.MFSSample(crop.copy(), np.zeros((1, 4), np.float32),
                                                                            1, "same", "", lm))
    for i, (_, kind) in enumerate(ds.items):
        if kind == "sbi":
            halves = ds[i]["image"]
            assert torch.equal(halves[0], halves[1])
    batch = torch.utils.data.default_collate([ds[0], ds[1]])
    flat = flatten_pairs(batch)
    assert flat["image"].shape == (4, 224, 224, 3) and flat["label"].tolist() == [0, 1, 0, 1]


def test_fit_with_pairs_reports_data_and_compute_time(prepared, tmp_path):  # noqa: F811
    cfg = load_config(None, [f"train_index={prepared}", f"out={tmp_path / 'run'}", *TINY, "batch_size=4",
                             "pairs=true", "epochs=1", "val_split=none"])
    r = fit(cfg, log=lambda s: None)
    row = r.history[0]
    assert r.steps == 2 and row["data_s_per_step"] >= 0 and row["compute_s_per_step"] > 0
    meta = json.loads(json.dumps(row))
    assert meta["samples_per_s"] > 0
    with pytest.raises(ConfigError, match="even"):
        fit(load_config(None, [f"train_index={prepared}", f"out={tmp_path / 'odd'}", *TINY, "batch_size=3",
                               "pairs=true", "epochs=1"]), log=lambda s: None)


def test_campaign_resumes_and_keeps_a_learning_curve(prepared, tmp_path, tiny_model_path, capsys):  # noqa: F811
    train = {k: yaml.safe_load(v) for k, v in (t.split("=", 1) for t in TINY)}
    train.update(train_index=str(prepared), pairs=True, batch_size=4, val_split="none")
    cfg = tmp_path / "campaign.yaml"
    cfg.write_text(yaml.safe_dump({"train": train, "heldout_index": str(prepared), "eval_every_epochs": 1,
                                   "baseline": str(tiny_model_path)}))
    work = tmp_path / "work"
    args = ["campaign", str(cfg), "--work", str(work), "--hours", "0.00001"]
    assert core.cli.train.main(args) == 0
    assert core.cli.train.main(args) == 0  # a second call continues the run
    with (work / "curve.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epochs"]) for r in rows] == [1, 2] and [int(r["steps"]) for r in rows] == [2, 4]
    assert {"auc all fakes vs all real videos", "fp_real_videos", "win_sbi_pairs", "calibrated_threshold",
            "beats_baseline", "noise_dp_p99", "shift_dp_mean"} <= set(rows[0])
    assert all(0 < float(r["leg_cpu_s"]) <= float(r["leg_wall_s"]) * os.cpu_count() + 1 for r in rows)
    ev = json.loads((work / "evals" / "step_000004.json").read_text())
    assert ev["pairs"]["sbi"]["n"] > 0 and 0 <= ev["pairs"]["sbi"]["win_rate"] <= 1
    st = ev["stability"]
    assert st["noise"]["n"] > 0 and 0 <= st["shift"]["mean"] <= st["shift"]["p99"] <= 1
    assert json.loads((work / "baseline.json").read_text())["path"] == str(tiny_model_path)
    for r in rows:
        if r["beats_baseline"] == "1":
            assert (work / "candidates" / f"step_{int(r['steps']):06d}.safetensors").exists()


def test_campaign_config_errors_name_the_file(tmp_path, capsys):
    bad = tmp_path / "c.yaml"
    bad.write_text("train: {}\nheldout_index: x\nbogus: 1\n")
    assert core.cli.train.main(["campaign", str(bad), "--work", str(tmp_path / "w")]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "bogus" in err


def test_ffpp_pairs_match_each_fake_with_the_original_of_its_scene():
    from core.train.heldout import ffpp_pairs, groups

    videos = {"ffpp_c40/original/585": (0, "ffpp_c40", "original"),
              "ffpp_c40/FaceSwap/585_599": (1, "ffpp_c40", "FaceSwap"),
              "ffpp_c40/FaceSwap/599_585": (1, "ffpp_c40", "FaceSwap"),  # its original is absent: no pair
              "ffpp_c23/FaceShifter/585_599": (1, "ffpp_c23", "FaceShifter"),  # c23 original absent
              "dfd/actors/01": (0, "dfd", "original"), "photos/real/a": (0, "photos", "original")}
    assert ffpp_pairs(videos) == [("ffpp_c40/FaceSwap/585_599", "ffpp_c40/original/585")]
    g = groups(videos)
    assert g["FF++ c40 FaceSwap"] == (["ffpp_c40/FaceSwap/585_599", "ffpp_c40/FaceSwap/599_585"],
                                      ["dfd/actors/01", "ffpp_c40/original/585"])
    assert "photos/real/a" not in g["all fakes vs all real videos"][1]


def test_the_recipe_campaign_configs_load():
    """Every campaign config of the model recipe (rounds 3 and 4 and the comparisons) parses into a training config."""
    from pathlib import Path

    from core.train.campaign import load_campaign_config
    from core.train.fit import build_config

    recipe = Path(__file__).parents[1] / "resources" / "models" / "recipe"
    paths = [*sorted(recipe.glob("campaign_*.yaml")), *sorted((recipe / "compare").glob("*.yaml"))]
    assert len(paths) == 7
    train = {p.stem: build_config({**load_campaign_config(p).train, "out": "x"}, p) for p in paths}
    assert list(train["sbi_only"].pair_kinds) == ["sbi"] and train["lite2_imagenet"].backbone == "efficientnet-lite2"
    assert not train["adm_off"].adm and train["campaign_lite0"].adm
    assert train["campaign_sbi_retinaface"].train_index.endswith("idx_retinaface")
    assert train["campaign_consistency"].consistency > 0 and not train["campaign_sbi_retinaface"].consistency
