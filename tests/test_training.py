"""Training pipeline end to end on tiny synthetic data: prepare -> preview -> fit -> eval, resume, DDP, NaN stop."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import core.cli.train
from core.train.dataset import CADDMDataset, EpochSampler, SampleOptions, load_index
from core.train.fit import ConfigError, fit, load_config, load_state
from tests.conftest import SHARED_DATA, need

pytestmark = pytest.mark.long  # tens of seconds: started first (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[1]
FACE = Path(__file__).parent / "data" / "astronaut_face.jpg"
TINY = ["backbone=timm:resnet18", "adm_width=32", "batch_size=2", "batches_per_epoch=2", "workers=0",
        "log_every=1", "val_frames=2", "device=cpu"]


def _write_video(path: Path, frames: list[np.ndarray]) -> None:
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (w, h))
    for f in frames:
        vw.write(f)
    vw.release()


def _frames(seed: int, fake: bool, n: int = 4) -> list[np.ndarray]:
    face = cv2.imread(str(FACE))
    g = np.random.default_rng(seed)
    out = []
    for i in range(n):
        canvas = np.full((256, 320, 3), 40 + 10 * seed, np.uint8)
        dx = 20 + 4 * i + int(g.integers(0, 8))
        img = np.clip(face.astype(np.int16) + int(g.integers(-20, 20)), 0, 255).astype(np.uint8)
        if fake:  # a crude manipulation of the face area: hue shift and blur
            roi = img[60:150, 90:170]
            hsv = cv2.cvtColor(roi, cv2.COLOR_BGR2HSV)
            hsv[..., 0] = (hsv[..., 0].astype(int) + 12) % 180
            img[60:150, 90:170] = cv2.GaussianBlur(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR), (7, 7), 2)
        canvas[:, dx:dx + 256] = img[:, : 320 - dx][:, :256]
        out.append(canvas)
    return out


def make_videos(base: Path) -> Path:
    """train/real t0,t1 + train/fake t0_x,t1_x (fakes of them); val/real v0,v1 + val/fake v0_x,v1_x."""
    for split, prefix, seeds in (("train", "t", (0, 1)), ("val", "v", (2, 3))):
        for kind in ("real", "fake"):
            (base / split / kind).mkdir(parents=True, exist_ok=True)
        for k, s in enumerate(seeds):
            _write_video(base / split / "real" / f"{prefix}{k}.mp4", _frames(s, False))
            _write_video(base / split / "fake" / f"{prefix}{k}_x.mp4", _frames(s, True))
    return base


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    base = make_videos(tmp_path_factory.mktemp("videos"))
    out = tmp_path_factory.mktemp("data")
    for split in ("train", "val"):
        rc = core.cli.train.main(["prepare", "folder", str(base / split / "fake"), "--label", "fake", "--source-of",
                             str(base / split / "real"), "--split", split, "--out", str(out), "--frames", "3",
                             "--quiet"])
        assert rc == 0
    return out


def _cfg(index: Path, out: Path, *extra):
    return load_config(None, [f"train_index={index}", f"out={out}", *TINY, *extra])


def test_prepare_index(prepared, capsys):
    ix = load_index(prepared)
    assert {r.split for r in ix.records} == {"train", "val"}
    fakes = [r for r in ix.records if r.label == 1]
    assert len(fakes) == 12 and all(r.source in ix.by_id() for r in fakes)
    r = fakes[0]
    img = cv2.imread(str(prepared / r.path))
    lm = np.asarray(r.landmarks)
    assert img is not None and lm.shape == (68, 2)
    assert (lm >= 0).all() and (lm[:, 0] < img.shape[1]).all() and (lm[:, 1] < img.shape[0]).all()


def test_prepare_is_resumable_and_reports_skips(tmp_path, capsys):
    from core.train.prepare import folder_tasks, run_tasks
    (tmp_path / "v").mkdir()
    _write_video(tmp_path / "v" / "a.mp4", _frames(0, False, 2))
    (tmp_path / "v" / "broken.mp4").write_bytes(b"not a video at all")
    cv2.imwrite(str(tmp_path / "v" / "blank.png"), np.zeros((120, 120, 3), np.uint8))
    tasks = folder_tasks(tmp_path / "v", "real", frames=2, split="train")
    s = run_tasks(tasks, tmp_path / "out", progress=False)
    assert s["prepared"] == 3 and s["records"] == 2
    assert set(s["skipped"]) == {"v/real/broken", "v/real/blank"}
    assert s["skipped"]["v/real/blank"] == "no face found" and s["skipped"]["v/real/broken"].startswith("unreadable")
    s2 = run_tasks(tasks, tmp_path / "out", progress=False)
    assert s2["prepared"] == 0 and s2["done_before"] == 3 and s2["records"] == 2


def test_prepare_records_its_face_detector_and_keeps_one_per_folder(tmp_path):
    """The index names the detector its crops came from (the analysis default unless asked), a model trained on it
    carries that name, and adding another detector's crops to the same folder is refused."""
    from core.faces.detector_choice import DEFAULT_DETECTOR
    from core.train.dataset import DatasetError
    from core.train.prepare import FaceFinder, folder_tasks, run_tasks
    (tmp_path / "v").mkdir()
    _write_video(tmp_path / "v" / "a.mp4", _frames(0, False, 2))
    tasks = folder_tasks(tmp_path / "v", "real", frames=2, split="train")
    s = run_tasks(tasks, tmp_path / "out", progress=False)
    assert s["records"] == 2 and s["face_detector"] == DEFAULT_DETECTOR == "retinaface"
    assert load_index(tmp_path / "out").face_detector == "retinaface"
    with pytest.raises(DatasetError, match="prepared with the retinaface face detector"):
        run_tasks(tasks, tmp_path / "out", finder=FaceFinder("hog"), progress=False)
    h = run_tasks(tasks, tmp_path / "hog", finder=FaceFinder("hog"), progress=False)
    assert h["records"] == 2 and load_index(tmp_path / "hog").face_detector == "hog"
    with pytest.raises(DatasetError, match="face detector"):
        FaceFinder("mtcnn")


def test_dataset_samples_are_deterministic_and_encoded(prepared):
    ds = CADDMDataset(load_index(prepared), "train", SampleOptions(), seed=3)
    ds.set_epoch(1)
    a, b = ds[5], ds[5]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["conf_t"], b["conf_t"])
    assert a["image"].shape == (224, 224, 3) and a["image"].dtype == torch.uint8
    for i in range(len(ds)):
        s = ds[i]
        assert (int(s["conf_t"].sum()) > 0) == bool(s["label"])  # fakes have positive anchors, reals none
    off = CADDMDataset(load_index(prepared), "train", SampleOptions(mfs=False, augment=False, jitter=False))
    kinds = {off.sample(i).kind for i in range(len(off))}
    assert kinds == {"real", "fake_as_is"}
    sbi = CADDMDataset(load_index(prepared), "train", SampleOptions(self_blend="on"))
    assert len(sbi) == len(ds) + 6 and sbi.sample(len(sbi) - 1).kind.startswith("sbi")


def test_epoch_sampler_shards():
    s0, s1 = (EpochSampler(10, 2, 3, seed=1, rank=r, world_size=2) for r in (0, 1))
    a, b = list(s0), list(s1)
    assert len(a) == len(b) == 6
    one = list(EpochSampler(10, 2, 6, seed=1))
    assert sorted(a + b) == sorted(one)


def test_cli_end_to_end(prepared, tmp_path, capsys):
    grid = tmp_path / "grid.png"
    assert core.cli.train.main(["preview", "--index", str(prepared), "--out", str(grid), "--n", "6"]) == 0
    assert cv2.imread(str(grid)).shape[0] > 224
    run = tmp_path / "run"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"train_index: {prepared}\nout: {run}\nepochs: 2\n")
    assert core.cli.train.main(["fit", "--config", str(cfg), *TINY]) == 0
    err = capsys.readouterr().err
    assert "samples/s" in err and "lr 0.00036" in err
    for f in ("last.safetensors", "best.safetensors", "last.state.pt", "metrics.csv", "config.yaml"):
        assert (run / f).exists(), f
    rows = (run / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3 and "val_video_auc" in rows[0]
    from core.model.checkpoints import load_model
    m = load_model(run / "last.safetensors")
    assert m.metadata["steps"] == 4 and m.metadata["data"]["train_records"] == 12
    assert m.metadata["data"]["face_detector"] == "retinaface"  # the detector of the index it trained on
    assert "caddm-train fit" in m.metadata["command"] and "licence" in m.metadata
    assert m.metadata["config"]["backbone"] == "timm:resnet18"
    st = torch.load(run / "last.state.pt", weights_only=True)
    assert st["epoch"] == 2
    ev = tmp_path / "eval"
    assert core.cli.train.main(["eval", "--model", str(run / "best.safetensors"), "--index", str(prepared),
                           "--out", str(ev), "--split", "val"]) == 0
    metrics = json.loads((ev / "metrics.json").read_text())
    assert metrics["video"]["n"] == 4 and metrics["frame"]["n"] == 12
    assert 0 <= metrics["video"]["auc"] <= 1 and "fake" in metrics["per_method"]
    assert cv2.imread(str(ev / "roc.png")) is not None and (ev / "scores.csv").exists()


def _weights(path):
    from core.model.checkpoints import load_model
    return load_model(path).state_dict()


def test_resume_equals_straight_run(prepared, tmp_path):
    straight = fit(_cfg(prepared, tmp_path / "a", "epochs=2"))
    fit(_cfg(prepared, tmp_path / "b", "epochs=1"))
    resumed = fit(_cfg(prepared, tmp_path / "b", "epochs=2"), resume=tmp_path / "b")
    wa, wb = _weights(straight.last), _weights(resumed.last)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert [h["loss"] for h in straight.history] == [h["loss"] for h in resumed.history]


def test_heads_only_training_moves_only_the_box_heads(prepared, tmp_path):
    """train_only=adm_heads (box localisation on a finished detector): every tensor but the ADM's loc/conf heads,
    BatchNorm statistics included, stays bit for bit, so P(fake) is unchanged."""
    first = fit(_cfg(prepared, tmp_path / "a", "epochs=1"))
    second = fit(_cfg(prepared, tmp_path / "b", "epochs=1", f"init={first.last}", "train_only=adm_heads",
                      "p_partial=1.0"))
    wa, wb = _weights(first.last), _weights(second.last)
    changed = {k for k in wa if not torch.equal(wa[k], wb[k])}
    assert changed and all(k.startswith(("adm.loc_heads.", "adm.conf_heads.")) for k in changed), changed
    with pytest.raises(ConfigError, match="train_only"):
        fit(_cfg(prepared, tmp_path / "c", "epochs=1", "train_only=backbone"))


def test_killed_mid_epoch_loses_only_that_epoch(prepared, tmp_path):
    def kill(epoch, step):
        if epoch == 1 and step == 0:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        fit(_cfg(prepared, tmp_path / "k", "epochs=2"), on_step=kill)
    assert load_state(tmp_path / "k")["epoch"] == 1
    resumed = fit(_cfg(prepared, tmp_path / "k", "epochs=2"), resume=tmp_path / "k" / "last.state.pt")
    straight = fit(_cfg(prepared, tmp_path / "s", "epochs=2"))
    wa, wb = _weights(straight.last), _weights(resumed.last)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_nan_loss_stops_without_checkpoint(prepared, tmp_path, monkeypatch, capsys):
    import core.train.fit as T
    real = T.caddm_loss

    def poisoned(*a, **k):
        parts = real(*a, **k)
        parts.total = parts.total * float("nan")
        return parts
    monkeypatch.setattr(T, "caddm_loss", poisoned)
    rc = core.cli.train.main(["fit", f"train_index={prepared}", f"out={tmp_path / 'n'}", "epochs=1", *TINY])
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "loss became nan" in err and "no checkpoint" in err
    assert not (tmp_path / "n" / "last.safetensors").exists()


def test_ddp_two_processes_gloo(prepared, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(port), str(ROOT / "train_cli.py"), "fit", f"train_index={prepared}",
           f"out={tmp_path / 'ddp'}", "epochs=1", *TINY]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "x2 processes" in r.stderr
    assert (tmp_path / "ddp" / "last.safetensors").exists()
    assert load_state(tmp_path / "ddp")["steps"] == 2


def test_config_accepts_authors_keys_and_rejects_unknown(tmp_path):
    cfg = tmp_path / "caddm_train.cfg"
    cfg.write_text("crop_face:\n  face_width: 80\n  output_size: 224\ndet_loss:\n  neg_pos: 2\n  overlap_thresh: 0.9\n"
                   "model:\n  backbone: \"resnet34\"\n  save_path: \"./ck\"\ntrain:\n  batch_size: 64\n  epoch_num: 7\n")
    c = load_config(cfg, ["train.batch_size=8", "mfs=false", "lr_schedule=[[0, 0.001], [2, 0.0001]]"])
    assert (c.backbone, c.out, c.batch_size, c.epochs, c.mfs) == ("resnet34", "./ck", 8, 7, False)
    assert c.lr_at(0) == 1e-3 and c.lr_at(5) == 1e-4
    d = load_config(None)
    assert [d.lr_at(e) for e in (0, 3, 4, 9, 10, 150)] == [3.6e-4, 3.6e-4, 1e-4, 1e-4, 5e-5, 5e-5]
    from core.train.fit import ConfigError
    with pytest.raises(ConfigError, match="unknown setting 'bogus'"):
        load_config(None, ["bogus=1"])


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert core.cli.train.main(["fit", "--config", str(tmp_path / "missing.yaml")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing.yaml: config file not found" in err
    assert core.cli.train.main(["eval", "--model", str(tmp_path / "m.safetensors"), "--index", str(tmp_path),
                           "--out", str(tmp_path / "e")]) == 1
    assert "index.json: index not found" in capsys.readouterr().err
    assert core.cli.train.main(["nonsense"]) == 2
    assert core.cli.train.main(["prepare", "folder", str(tmp_path / "nope"), "--label", "real", "--out",
                           str(tmp_path / "o")]) == 1
    assert "nope: folder not found" in capsys.readouterr().err


@pytest.mark.shared
def test_ffpp_pair_from_shared_data(tmp_path):
    """The real FF++ pair (519 original, 519_515 Deepfakes): fakes pair with their source frames, MFS runs."""
    ff = need(SHARED_DATA / "videos" / "ffpp")
    (tmp_path / "fake").mkdir()
    (tmp_path / "src").mkdir()
    os.symlink(ff / "519_515.mp4", tmp_path / "fake" / "519_515.mp4")
    os.symlink(ff / "519.mp4", tmp_path / "src" / "519.mp4")
    assert core.cli.train.main(["prepare", "folder", str(tmp_path / "fake"), "--label", "fake", "--source-of",
                           str(tmp_path / "src"), "--split", "train", "--out", str(tmp_path / "d"), "--frames", "2",
                           "--quiet"]) == 0
    ix = load_index(tmp_path / "d")
    assert len(ix.records) == 4 and all(r.source for r in ix.records if r.label)
    ds = CADDMDataset(ix, "train")
    kinds = {ds.sample(i, np.random.default_rng(k)).kind for k in range(12) for i in range(len(ds)) if i % 2 == 0}
    assert any(k.startswith("global") or k == "partial" for k in kinds)


def test_consistency_training_records_its_loss_and_resumes_exactly(prepared, tmp_path):
    """consistency > 0: each image and its invisibly perturbed copy go through one forward pass and the log-odds
    difference is penalised; the loss is in the history, perturbations are seeded by (seed, epoch, step), so a
    resumed run equals a straight one."""
    extra = ("consistency=1.0",)
    straight = fit(_cfg(prepared, tmp_path / "a", "epochs=2", *extra))
    assert all(h["loss_cons"] > 0 for h in straight.history)
    assert all(h["loss"] > h["loss_cls"] for h in straight.history)
    fit(_cfg(prepared, tmp_path / "b", "epochs=1", *extra))
    resumed = fit(_cfg(prepared, tmp_path / "b", "epochs=2", *extra), resume=tmp_path / "b")
    wa, wb = _weights(straight.last), _weights(resumed.last)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    plain = fit(_cfg(prepared, tmp_path / "c", "epochs=1"))
    assert "loss_cons" not in plain.history[0]
    for bad in ("consistency=-1", "consistency_kinds=[blur]"):
        with pytest.raises(ConfigError, match="consistency"):
            fit(_cfg(prepared, tmp_path / "d", "epochs=1", "consistency=1.0", bad))
