"""Training throughput: optimiser steps/s and samples/s of CADDM (forward, loss, backward, clip, AdamW step).

    OMP_NUM_THREADS=1 python bench/train_bench.py [--batch 4] [--steps 5] [--threads 1] [--device cpu|cuda|all]
                                                  [--backbones resnet34 efficientnet-lite0] [--data]
    python bench/train_bench.py --table [--batch 16] [--backbones ...] [--index IDX]

Synthetic batches (random crops, half fake with the full-face box) so only the model is timed; `--data` also
times the data pipeline (MFS + augmentation on one synthetic face) per sample. CUDA is measured when present
(`--device all`), with AMP as `fit` uses it.

`--table` prints the CPU step-time table: each backbone at 1 and 2 torch threads in NCHW, channels_last,
channels_last with bf16 autocast, and channels_last under `torch.compile`; with `--index` (a prepared index) also
the paired data pipeline's time per item (real + its self-blend or fake + its source, augmentation, anchor
matching) in one process, i.e. what one DataLoader worker adds per step.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from core.model.anchors import make_anchors  # noqa: E402
from core.model.boxes import match  # noqa: E402
from core.train.loss import caddm_loss  # noqa: E402
from core.model.caddm import CADDM  # noqa: E402
from core.model.config import ModelConfig  # noqa: E402
from core.model.preprocess import to_model_input  # noqa: E402


def batch(n: int, device):
    g = torch.Generator().manual_seed(0)
    imgs = torch.randint(0, 256, (n, 224, 224, 3), generator=g, dtype=torch.uint8)
    labels = torch.arange(n) % 2
    loc1, conf1 = (torch.from_numpy(a) for a in match(np.array([[0.0, 0.0, 1.0, 1.0]], np.float32), make_anchors()))
    loc_t = torch.stack([loc1 if l else torch.zeros_like(loc1) for l in labels])
    conf_t = torch.stack([conf1 if l else torch.zeros_like(conf1) for l in labels])
    return imgs, labels.to(device), loc_t.to(device), conf_t.to(device)


def bench(backbone: str, device: torch.device, bs: int, steps: int, warmup: int = 2, channels_last: bool = False,
          bf16: bool = False, compile_: bool = False) -> dict:
    model = CADDM(ModelConfig(backbone)).to(device).train()
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    net = torch.compile(model) if compile_ else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=4e-3)
    amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    imgs, labels, loc_t, conf_t = batch(bs, device)
    params = sum(p.numel() for p in model.parameters())

    def step():
        x = to_model_input(imgs, model.convention, device).contiguous(memory_format=layout)
        if bf16:
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
                out = net(x)
        else:
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
                out = net(x)
        loss = caddm_loss(out, labels, loc_t, conf_t).total
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_value_(model.parameters(), 2.0)
        scaler.step(opt)
        scaler.update()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t) / steps
    return {"backbone": backbone, "adm_width": model.config.adm_width, "params_M": params / 1e6,
            "device": str(device), "batch": bs, "steps_per_s": 1 / dt, "samples_per_s": bs / dt}


def bench_data(n: int = 16) -> float:
    """Samples/s of the data pipeline (random alignment, MFS, flip, augmentation, anchor matching)."""
    import tempfile

    import cv2

    from core.train.dataset import CADDMDataset, FrameRecord, SampleOptions, write_index, load_index
    face = cv2.imread(str(Path(__file__).resolve().parents[1] / "tests" / "data" / "astronaut_face.jpg"))
    from core.train.prepare import FaceFinder
    box, lm = FaceFinder()(face)
    with tempfile.TemporaryDirectory() as d:
        cv2.imwrite(f"{d}/r.png", face)
        fake = face.copy()
        fake[60:150, 90:170] = cv2.GaussianBlur(fake[60:150, 90:170], (9, 9), 3)
        cv2.imwrite(f"{d}/f.png", fake)
        common = dict(dataset="b", frame=0, split="train", landmarks=lm.tolist(), box=box.tolist())
        write_index(d, [FrameRecord("b/r/0", "r.png", 0, method="real", video="r", **common),
                        FrameRecord("b/f/0", "f.png", 1, method="fake", video="f", source="b/r/0", **common)])
        ds = CADDMDataset(load_index(d), "train", SampleOptions())
        t = time.perf_counter()
        for i in range(n):
            ds.set_epoch(i)
            ds[i % 2]
        return n / (time.perf_counter() - t)


def bench_pairs(index: str, n: int = 40) -> float:
    """Seconds per paired item (two samples) of `core.train.pairs.PairedDataset` on a prepared index, one process."""
    import numpy as np

    from core.train.augment import AugmentConfig
    from core.train.dataset import SampleOptions, load_index
    from core.train.pairs import PairedDataset

    ds = PairedDataset(load_index(index), "train", SampleOptions(), seed=0,
                       augment_config=AugmentConfig(p_low_light=0.1, p_h264=0.3))
    g = np.random.default_rng(0)
    picks = g.integers(0, len(ds), n)
    ds[int(picks[0])]
    t = time.perf_counter()
    for i in picks:
        ds[int(i)]
    return (time.perf_counter() - t) / n


def table(backbones, bs: int, steps: int, index: str | None) -> None:
    import platform
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")),
               platform.processor())
    print(f"CPU {cpu}, {torch.get_num_threads()} threads available, torch {torch.__version__}; batch {bs}, "
          f"{steps} timed steps after 2 warm-up steps")
    print("| backbone | threads | NCHW | channels_last | channels_last + bf16 | channels_last + compile |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in backbones:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            cells = []
            for kw in (dict(), dict(channels_last=True), dict(channels_last=True, bf16=True),
                       dict(channels_last=True, compile_=True)):
                try:
                    r = bench(name, torch.device("cpu"), bs, steps, **kw)
                    cells.append(f"{1 / r['steps_per_s']:.2f} s ({r['samples_per_s']:.1f}/s)")
                except Exception as e:  # noqa: BLE001 - e.g. no compiler for torch.compile: say so in the table
                    cells.append(f"failed ({type(e).__name__})")
            print(f"| {name} | {threads} | " + " | ".join(cells) + " |")
    if index:
        torch.set_num_threads(1)
        print(f"paired data pipeline: {bench_pairs(index) * 1000:.0f} ms per item (2 samples) in one process")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="all", choices=["cpu", "cuda", "all"])
    p.add_argument("--cuda-batch", type=int, default=64)
    p.add_argument("--backbones", nargs="+", default=["resnet34", "efficientnet-lite0"])
    p.add_argument("--data", action="store_true")
    p.add_argument("--table", action="store_true", help="the CPU step-time table (module docstring)")
    p.add_argument("--index", default=None, help="with --table: a prepared index for the paired data time")
    a = p.parse_args(argv)
    if a.table:
        table(a.backbones, a.batch, a.steps, a.index)
        return 0
    if a.threads:
        torch.set_num_threads(a.threads)
    devices = []
    if a.device in ("cpu", "all"):
        devices.append((torch.device("cpu"), a.batch))
    if a.device in ("cuda", "all") and torch.cuda.is_available():
        devices.append((torch.device("cuda"), a.cuda_batch))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no CUDA"))
    for dev, bs in devices:
        for name in a.backbones:
            r = bench(name, dev, bs, a.steps)
            print(f"{r['backbone']:>20} ADM {r['adm_width']:>4} ({r['params_M']:.1f}M) {r['device']:>5} batch {bs:>3}: "
                  f"{r['steps_per_s']:.3f} steps/s, {r['samples_per_s']:.1f} samples/s")
    if a.data:
        print(f"data pipeline (MFS + augmentation, 1 process): {bench_data():.1f} samples/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
