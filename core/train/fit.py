"""Training CADDM: configuration, the training loop, checkpoints and exact resumption.

- Config: `TrainConfig` (YAML file + `key=value` overrides; the authors' `caddm_train.cfg` keys are accepted).
- Loss: `core.train.loss.caddm_loss` (ADM off = detection weight 0). Optimiser AdamW (wd 4e-3), the authors' step
  schedule (3.6e-4 for epochs 0-3, 1e-4 for 4-9, 5e-5 after), gradients clipped by value (2).
- Data: `core.train.dataset.CADDMDataset` (MFS / self-blend / augmentation switches) drawn by `EpochSampler`
  (`batches_per_epoch` batches per process and epoch). Samples depend on (seed, epoch, item) only.
- Devices: "auto" (CUDA, MPS, CPU); mixed precision (fp16 autocast + GradScaler) on CUDA; several processes with
  DistributedDataParallel when started by `torchrun` (RANK / WORLD_SIZE / LOCAL_RANK; NCCL on CUDA, gloo on CPU).
- Output folder: `last.safetensors` every epoch (`core.model.checkpoints.save_model`, atomic), `best.safetensors`
  (best validation video AUC; the last one when there is no validation data), `last.state.pt` (everything needed to
  continue: model, optimiser, scaler, RNG states, epoch, history; plain tensors and containers so it reloads with
  `torch.load(weights_only=True)`), `metrics.csv` (one row per epoch), `config.yaml`.
- `fit(..., resume=PATH)` continues from a state file (or its run folder): the result equals an uninterrupted run.
  A run killed mid-epoch loses that epoch only. A non-finite loss stops training with `TrainingError`, and no
  checkpoint is written from non-finite weights.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import yaml

from core.common.atomic import atomic_write_bytes, atomic_write_text
from core.model.checkpoints import load_model, save_model
from core.common.hashing import sha256_file
from core.train.dataset import CADDMDataset, EpochSampler, SampleOptions, load_index
from core.model.device import resolve_device
from core.common.errors import CaddmError
from core.train.loss import caddm_loss
from core.train.pairs import flatten_pairs
from core.model.caddm import CADDM
from core.model.config import ModelConfig
from core.model.preprocess import to_model_input

STATE_FORMAT = "caddm-inspector/train-state@1"
LICENCE = ("CADDM Inspector code: Apache-2.0. These weights were trained on the data named in 'data': "
           "their use is bound by that data's terms (FaceForensics++: research use only).")


class ConfigError(CaddmError):
    """A training configuration that cannot be used (unknown key, bad value)."""


class TrainingError(CaddmError):
    """Training stopped (non-finite loss or weights, a state file that does not fit)."""


@dataclass
class TrainConfig:
    # data
    train_index: str = ""  # DIR or DIR/index.json made by `caddm-train prepare`
    train_split: str = "train"
    val_index: str | None = None  # None: the train index
    val_split: str = "val"
    val_frames: int | None = 32  # frames per video at validation (None: all)
    out: str = "runs/caddm"
    # model
    backbone: str = "resnet34"
    adm_width: int | None = None
    pretrained: bool = False  # the backbone's packaged ImageNet weights (efficientnet-lite0/2)
    init: str | None = None  # a checkpoint to start from (ours or the authors')
    # method switches
    mfs: bool = True
    adm: bool = True  # off: detection loss weight 0 (classifier only)
    augment: bool = True
    augment_low_light: float = 0.0  # probability of the low-light step (core.train.augment; 0: the authors' chain)
    augment_h264: float = 0.0  # probability of the H.264 re-encode step
    jitter: bool | None = None  # random alignment; None: as `augment`
    self_blend: str = "auto"  # auto | on | off
    p_partial: float = 0.2  # MFS / self-blend partial-swap probability (the paper's 0.2); the global kinds share the rest
    pairs: bool = False  # paired items (core.train.pairs): each real with its self-blend, each fake with its source
    pair_kinds: list = field(default_factory=lambda: ["sbi", "ffpp"])  # with pairs: which pair kinds
    train_only: str = "all"  # all | adm_heads (only the ADM's box heads learn: P(fake) stays exactly as it was)
    consistency: float = 0.0  # weight of the score-consistency loss (core.train.consistency; 0: off)
    consistency_kinds: list = field(default_factory=lambda: ["noise", "shift", "jpeg"])  # invisible perturbations
    # optimisation (the authors' values)
    batch_size: int = 128
    epochs: int = 200
    batches_per_epoch: int | None = 512  # None: one pass over the data
    lr_schedule: list = field(default_factory=lambda: [[0, 3.6e-4], [4, 1e-4], [10, 5e-5]])
    weight_decay: float = 4e-3
    grad_clip: float = 2.0
    det_weight: float = 0.1
    neg_pos: int = 2
    seed: int = 0
    # machinery
    device: str = "auto"
    amp: bool = True  # CUDA only
    channels_last: bool = True  # NHWC memory layout: 1.4x faster training steps for efficientnet-lite0 on a 2-core CPU
    workers: int = 4
    log_every: int = 20
    keep_epochs: bool = False  # also keep epoch_NNN.safetensors

    def lr_at(self, epoch: int) -> float:
        lr = None
        for start, value in sorted(self.lr_schedule, key=lambda p: p[0]):
            if epoch >= start:
                lr = float(value)
        return float(self.lr_schedule[0][1]) if lr is None else lr

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# The authors' caddm_train.cfg: keys that map onto ours, and sections that hold fixed facts of the method.
_AUTHORS_MAP = {"model.backbone": "backbone", "model.save_path": "out", "train.batch_size": "batch_size",
                "train.epoch_num": "epochs", "det_loss.neg_pos": "neg_pos", "dataset.img_path": "train_index"}
_AUTHORS_FIXED = ("crop_face", "adm_det", "sliding_win", "det_loss", "dataset")


def _coerce(name: str, value, source):
    f = TrainConfig.__dataclass_fields__[name]
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    if value is None:
        return None
    if isinstance(default, bool) or name == "jitter":
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
        if isinstance(value, bool):
            return value
        raise ConfigError(source, f"{name} must be true or false, not {value!r}")
    try:
        if name in ("adm_width", "batches_per_epoch", "val_frames") or isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if name == "pair_kinds":
            kinds = [str(k) for k in (value.split(",") if isinstance(value, str) else value)]
            if not kinds or set(kinds) - {"sbi", "ffpp"}:
                raise ValueError(kinds)
            return kinds
        if name == "lr_schedule":
            pairs = [[int(a), float(b)] for a, b in value]
            if not pairs:
                raise ValueError("empty")
            return pairs
    except (TypeError, ValueError):
        raise ConfigError(source, f"{name} has a bad value {value!r}") from None
    return str(value) if isinstance(value, (int, float)) and name in ("train_index", "val_index", "out") else value


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and k in ("model", "train", "det_loss", "dataset", "crop_face", "adm_det", "sliding_win"):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def build_config(values: dict, source=None, base: TrainConfig | None = None) -> TrainConfig:
    """A TrainConfig from a (possibly nested, possibly the authors') dict of settings; unknown keys are errors."""
    cfg = dataclasses.replace(base) if base else TrainConfig()
    names = TrainConfig.__dataclass_fields__
    for key, value in _flatten(values).items():
        name = _AUTHORS_MAP.get(key, key)
        if name in names:
            setattr(cfg, name, _coerce(name, value, source))
        elif key.split(".")[0] in _AUTHORS_FIXED:
            continue  # the authors' fixed facts of the method (anchors, crop size, ...): built in here
        else:
            raise ConfigError(source, f"unknown setting {key!r} (known: {', '.join(names)})")
    return cfg


def load_config(path: str | os.PathLike | None, overrides: list[str] = ()) -> TrainConfig:
    """YAML file (ours or the authors' caddm_train.cfg) then `key=value` overrides (values parsed as YAML)."""
    values = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(p, "config file not found")
        try:
            values = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise ConfigError(p, f"is not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(values, dict):
            raise ConfigError(p, "must hold a mapping of settings")
    cfg = build_config(values, path)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(None, f"override {item!r} is not key=value")
        k, v = item.split("=", 1)
        try:
            parsed = yaml.safe_load(v) if v != "" else None
        except yaml.YAMLError:
            parsed = v
        cfg = build_config({k.strip(): parsed}, f"override {k.strip()}", base=cfg)
    return cfg


# ------------------------------------------------------------------------------------------- distributed
@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "Dist":
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_RANK", 0)))


def _init_dist(dist: Dist, device: torch.device) -> None:
    import torch.distributed as td
    if dist.world > 1 and not td.is_initialized():
        td.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=dist.rank, world_size=dist.world)


def _barrier(dist: Dist) -> None:
    if dist.world > 1:
        import torch.distributed as td
        td.barrier()


# ---------------------------------------------------------------------------------------------- state I/O
def _rng_state() -> dict:
    st = np.random.get_state()
    py = random.getstate()
    out = {"torch": torch.get_rng_state(),
           "numpy": {"keys": torch.from_numpy(st[1].astype(np.int64)), "pos": int(st[2]),
                     "has_gauss": int(st[3]), "gauss": float(st[4])},
           "python": {"version": py[0], "state": torch.tensor(py[1], dtype=torch.int64)}}
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def _set_rng_state(st: dict) -> None:
    torch.set_rng_state(st["torch"])
    n = st["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    random.setstate((st["python"]["version"], tuple(int(v) for v in st["python"]["state"].tolist()), None))
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def save_state(path: Path, **state) -> None:
    buf = io.BytesIO()
    torch.save({"format": STATE_FORMAT, **state}, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_state(path: str | os.PathLike) -> dict:
    p = Path(path)
    if p.is_dir():
        p = p / "last.state.pt"
    elif p.suffix == ".safetensors":
        p = p.parent / "last.state.pt"
    if not p.exists():
        raise TrainingError(p, "training state file not found (a run folder holds last.state.pt)")
    try:
        st = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise TrainingError(p, f"is not a readable training state ({type(e).__name__})") from None
    if not isinstance(st, dict) or st.get("format") != STATE_FORMAT:
        raise TrainingError(p, "is not a CADDM Inspector training state")
    st["path"] = str(p)
    return st


def _finite_params(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in model.state_dict().values() if v.is_floating_point())


def _write_csv(path: Path, history: list[dict]) -> None:
    if not history:
        return
    cols = list(history[0])
    for h in history[1:]:
        cols += [c for c in h if c not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    for h in history:
        w.writerow({k: ("" if v is None else v) for k, v in h.items()})
    atomic_write_text(path, buf.getvalue())


# --------------------------------------------------------------------------------------------- the loop
@dataclass
class FitResult:
    out: Path
    epochs: int
    steps: int
    history: list[dict]
    best: Path | None
    last: Path | None


def _build_model(cfg: TrainConfig) -> CADDM:
    if cfg.init:
        src = load_model(cfg.init, "cpu")
        if cfg.adm_width is not None and src.config.adm_width != cfg.adm_width:
            raise ConfigError(cfg.init, f"has ADM width {src.config.adm_width}, the config asks {cfg.adm_width}")
        model = CADDM(src.config)
        model.load_state_dict(src.state_dict())
        return model
    return CADDM(ModelConfig(cfg.backbone, cfg.adm_width), pretrained=cfg.pretrained)


def mfs_config(p_partial: float):
    """The MFS configuration with partial swaps at `p_partial`, the global kinds keeping the paper's 2:1:1 shares."""
    from core.train.mfs import MFSConfig

    g = 1.0 - p_partial
    return MFSConfig(p_global=g, p_source_to_fake=0.5 * g, p_fake_to_source=0.25 * g, p_untouched=0.25 * g,
                     p_partial=p_partial)


def _trainable(model: CADDM, train_only: str) -> list:
    """The parameters that learn; with "adm_heads" every other parameter is frozen (requires_grad False)."""
    if train_only == "all":
        return list(model.parameters())
    heads = list(model.adm.loc_heads.parameters()) + list(model.adm.conf_heads.parameters())
    ids = {id(p) for p in heads}
    for prm in model.parameters():
        prm.requires_grad_(id(prm) in ids)
    return heads


def fit(cfg: TrainConfig, resume: str | os.PathLike | None = None, log: Callable[[str], None] | None = None,
        command: str | None = None, on_step: Callable[[int, int], None] | None = None) -> FitResult:
    """Train per `cfg` (see the module docstring). `on_step(epoch, step)` is called after every optimiser step."""
    dist = Dist.from_env()
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    say = log if dist.main else (lambda s: None)
    device = resolve_device(cfg.device)
    if device.type == "cuda" and dist.world > 1:
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
    _init_dist(dist, device)
    out = Path(cfg.out)
    if dist.main:
        out.mkdir(parents=True, exist_ok=True)
    state = load_state(resume) if resume else None
    if state is not None:
        saved = json.loads(state["config"])
        for k in ("backbone", "adm_width", "batch_size", "seed", "train_index"):
            if saved.get(k) != getattr(cfg, k):
                say(f"warning: resuming with {k}={getattr(cfg, k)!r} (the run was started with {saved.get(k)!r})")

    random.seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    torch.manual_seed(cfg.seed)

    index = load_index(cfg.train_index)
    options = SampleOptions(mfs=cfg.mfs, augment=cfg.augment,
                            jitter=cfg.augment if cfg.jitter is None else cfg.jitter, self_blend=cfg.self_blend)
    if cfg.train_only not in ("all", "adm_heads"):
        raise ConfigError(None, f"train_only must be all or adm_heads, not {cfg.train_only!r}")
    for name in ("p_partial", "augment_low_light", "augment_h264"):
        if not 0.0 <= getattr(cfg, name) <= 1.0:
            raise ConfigError(None, f"{name} must be within [0, 1], not {getattr(cfg, name)}")
    if cfg.consistency < 0:
        raise ConfigError(None, f"consistency must be >= 0, not {cfg.consistency}")
    if cfg.consistency:
        from core.train.consistency import KINDS, logodds_consistency, perturb
        bad = [k for k in cfg.consistency_kinds if k not in KINDS]
        if not cfg.consistency_kinds or bad:
            raise ConfigError(None, f"consistency_kinds must be among {list(KINDS)}, not {cfg.consistency_kinds}")
    from core.train.augment import AugmentConfig
    augment_config = AugmentConfig(p_low_light=cfg.augment_low_light, p_h264=cfg.augment_h264)
    if cfg.pairs:
        from core.train.pairs import PairedDataset
        from core.train.sbi import SBIConfig
        if cfg.batch_size % 2:
            raise ConfigError(None, f"batch_size must be even with pairs (two samples an item), not {cfg.batch_size}")
        dataset = PairedDataset(index, cfg.train_split, options, seed=cfg.seed, mfs_config=mfs_config(cfg.p_partial),
                                sbi_config=SBIConfig(p_partial=cfg.p_partial), kinds=tuple(cfg.pair_kinds),
                                augment_config=augment_config)
    else:
        dataset = CADDMDataset(index, cfg.train_split, options, seed=cfg.seed, mfs_config=mfs_config(cfg.p_partial),
                               augment_config=augment_config)
    per_item = 2 if cfg.pairs else 1
    val_index = load_index(cfg.val_index) if cfg.val_index else index
    has_val = bool(val_index.split(cfg.val_split))
    if not has_val:
        say(f"note: no '{cfg.val_split}' records in {val_index.path}: best.safetensors will be the last epoch")

    model = _build_model(cfg).to(device)
    layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    det_weight = cfg.det_weight if cfg.adm else 0.0
    trainable = _trainable(model, cfg.train_only)
    optimizer = torch.optim.AdamW(trainable, lr=cfg.lr_at(0), weight_decay=cfg.weight_decay)
    use_amp = bool(cfg.amp and device.type == "cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    start_epoch, steps, best, history, elapsed = 0, 0, -math.inf, [], 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"])
        start_epoch, steps, best = int(state["epoch"]), int(state["steps"]), float(state["best"])
        history, elapsed = list(state["history"]), float(state["time_s"])
        say(f"resuming from {state['path']} after epoch {start_epoch}")
    net = model
    if dist.world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)

    loader_batch = cfg.batch_size // per_item
    sampler = EpochSampler(len(dataset), loader_batch, cfg.batches_per_epoch, cfg.seed, dist.rank, dist.world)
    loader = torch.utils.data.DataLoader(dataset, batch_size=loader_batch, sampler=sampler, drop_last=True,
                                         num_workers=cfg.workers, pin_memory=device.type == "cuda")
    data_meta = {"train_index": str(index.path), "train_index_sha256": sha256_file(index.path),
                 "face_detector": index.face_detector,
                 "train_records": len(dataset.records), "train_items": len(dataset),
                 "self_blend": dataset.self_blend, "pairs": bool(cfg.pairs), "val_index": str(val_index.path) if has_val else None}
    if dist.main:
        atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        say(f"training {model.config.backbone} (ADM width {model.config.adm_width}) on {device}"
            f"{f' x{dist.world} processes' if dist.world > 1 else ''}: {len(dataset)} items, "
            f"{sampler.num_batches} batches of {cfg.batch_size} per epoch and process, epochs {start_epoch}-{cfg.epochs - 1}")

    last_path = best_path = None
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.monotonic()
        dataset.set_epoch(epoch)
        sampler.set_epoch(epoch)
        torch.manual_seed(cfg.seed * 100_003 + epoch)  # dropout etc.: a function of the epoch
        lr = cfg.lr_at(epoch)
        for g in optimizer.param_groups:
            g["lr"] = lr
        net.train(cfg.train_only == "all")  # heads only: BatchNorm statistics and dropout stay as at inference
        sums = {"loss": 0.0, "loss_cls": 0.0, "loss_loc": 0.0, "loss_conf": 0.0}
        if cfg.consistency:
            sums["loss_cons"] = 0.0
        correct = seen = 0
        data_s = compute_s = 0.0
        t_wait = time.monotonic()
        for step, batch in enumerate(loader):
            t_got = time.monotonic()
            data_s += t_got - t_wait
            batch = flatten_pairs(batch)
            images = batch["image"]
            n_clean = len(images)
            if cfg.consistency:  # each image and its invisibly perturbed copy in one forward pass
                rng = np.random.default_rng([cfg.seed, epoch, step, dist.rank])
                images = torch.cat([images, perturb(images, rng, tuple(cfg.consistency_kinds))])
            x = to_model_input(images, model.convention, device).contiguous(memory_format=layout)
            labels = batch["label"].to(device)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                outputs = net(x)
            if cfg.consistency:
                cons = logodds_consistency(outputs["logits"][:n_clean], outputs["logits"][n_clean:])
                outputs = {k: v[:n_clean] for k, v in outputs.items()}
            parts = caddm_loss(outputs, labels, batch["loc_t"].to(device), batch["conf_t"].to(device),
                               det_weight, cfg.neg_pos)
            if cfg.consistency:
                parts.total = parts.total + cfg.consistency * cons
                sums["loss_cons"] += float(cons.detach())
            finite = torch.isfinite(parts.total.detach()).float()
            if dist.world > 1:
                import torch.distributed as td
                td.all_reduce(finite, op=td.ReduceOp.MIN)
            if finite.item() < 1:
                raise TrainingError(None, f"loss became {float(parts.total.detach())} at epoch {epoch} step {step} "
                                          f"(lr {lr:g}); stopped, no checkpoint written from it. Lower the learning "
                                          f"rate, turn amp off, or check the data")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(parts.total).backward()
            scaler.unscale_(optimizer)
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_value_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            steps += 1
            for k, v in parts.as_floats().items():
                sums[k] += v
            correct += int((outputs["logits"].argmax(1) == labels).sum())
            seen += len(labels)
            t_wait = time.monotonic()
            compute_s += t_wait - t_got
            if on_step:
                on_step(epoch, step)
            if cfg.log_every and ((step + 1) % cfg.log_every == 0 or step + 1 == sampler.num_batches):
                rate = seen * dist.world / max(time.monotonic() - t0, 1e-9)
                say(f"epoch {epoch} step {step + 1}/{sampler.num_batches} loss {sums['loss'] / (step + 1):.4f} "
                    f"acc {correct / seen:.3f} lr {lr:.3g} {rate:.1f} samples/s "
                    f"(waiting for data {data_s / (step + 1):.3f} s, compute {compute_s / (step + 1):.3f} s a step)")
        n_steps = max(1, sampler.num_batches)
        row = {"epoch": epoch, "lr": lr, **{k: round(v / n_steps, 6) for k, v in sums.items()},
               "acc": round(correct / max(seen, 1), 6), "samples_per_s": round(seen * dist.world / max(time.monotonic() - t0, 1e-9), 3),
               "steps": steps, "data_s_per_step": round(data_s / n_steps, 4),
               "compute_s_per_step": round(compute_s / n_steps, 4), "val_frame_auc": None, "val_video_auc": None}
        if not _finite_params(model):
            raise TrainingError(None, f"weights became non-finite in epoch {epoch}; stopped, no checkpoint written")
        if dist.main:
            if has_val:
                from core.train.evaluation import evaluate
                from core.model.inference import Predictor
                pred = Predictor(model, device, batch_size=max(1, min(cfg.batch_size, 64)), channels_last=False,
                                 runtime="torch")  # weights change every epoch: no export
                m = evaluate(pred, val_index, cfg.val_split, frames_per_video=cfg.val_frames)
                row["val_frame_auc"], row["val_video_auc"] = m["frame"]["auc"], m["video"]["auc"]
            elapsed += time.monotonic() - t0
            row["time_s"] = round(elapsed, 3)
            history.append(row)
            score = row["val_video_auc"] if row["val_video_auc"] is not None else -math.inf
            meta = {"name": out.name, "data": data_meta, "command": command, "config": cfg.to_dict(),
                    "epochs": epoch + 1, "steps": steps, "train_time_s": round(elapsed, 1),
                    "metrics": {k: row[k] for k in ("loss", "acc", "val_frame_auc", "val_video_auc")},
                    "licence": LICENCE}
            last_path = save_model(model, out / "last.safetensors", **meta)
            if cfg.keep_epochs:
                save_model(model, out / f"epoch_{epoch:03d}.safetensors", **meta)
            improved = score > best or (not has_val)
            if improved:
                best = score if has_val else best
                best_path = save_model(model, out / "best.safetensors", **meta, best_epoch=epoch)
            save_state(out / "last.state.pt", epoch=epoch + 1, steps=steps, best=best, history=history,
                       time_s=elapsed, config=json.dumps(cfg.to_dict()), model=model.state_dict(),
                       optimizer=optimizer.state_dict(), scaler=scaler.state_dict(), rng=_rng_state())
            _write_csv(out / "metrics.csv", history)
            val = (f" val frame AUC {row['val_frame_auc']} video AUC {row['val_video_auc']}" if has_val else "")
            say(f"epoch {epoch} done: loss {row['loss']:.4f} acc {row['acc']:.3f}{val} "
                f"({time.monotonic() - t0:.1f} s){' *best*' if improved and has_val else ''}")
        _barrier(dist)
    if dist.world > 1:
        import torch.distributed as td
        td.destroy_process_group()
    if best_path is None and (out / "best.safetensors").exists():
        best_path = out / "best.safetensors"
    return FitResult(out, cfg.epochs, steps, history, best_path, last_path or (out / "last.safetensors"))
