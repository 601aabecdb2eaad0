"""Forward throughput of the CADDM model: images/s at batch 1 and 16 per backbone, eager (NCHW) vs channels_last,
under torch.inference_mode(), on the CPU (and CUDA when present), plus peak memory.

    .venv/bin/python bench/model_bench.py [--backbones resnet34,efficientnet-lite0] [--seconds 4] [--threads 2]

Prints a table a person can compare with the README's figures. The authors' reference, measured on this kind of
machine (2 cores): resnet34 22 img/s at batch 1, 30 img/s at batch 16.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.common.threads import configure_threads  # noqa: E402

configure_threads()  # first: passive OpenMP waiting, before torch loads
import torch  # noqa: E402

from core.model.caddm import CADDM  # noqa: E402

from core.model.config import ModelConfig  # noqa: E402

ALL = ["resnet34", "efficientnet-b3", "efficientnet-b4", "efficientnet-lite0", "efficientnet-lite2"]


def measure(model, batch: int, device: torch.device, channels_last: bool, seconds: float) -> float:
    x = torch.rand(batch, 3, 224, 224, device=device) * 255
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        for _ in range(2):
            model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds or n < 3:
            model(x)
            n += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        return n * batch / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbones", default=",".join(ALL))
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {args.threads} CPU threads, devices: {', '.join(map(str, devices))}")
    print(f"{'backbone':20s} {'dev':5s} {'batch':>5s} {'NCHW img/s':>11s} {'ch-last img/s':>14s} {'gain':>6s} "
          f"{'params M':>9s} {'peak MB':>8s}")
    for name in args.backbones.split(","):
        model = CADDM(ModelConfig(name)).eval()
        params = sum(p.numel() for p in model.parameters()) / 1e6
        for device in devices:
            model = model.to(device)
            for batch in [int(b) for b in args.batches.split(",")]:
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                base = measure(model.to(memory_format=torch.contiguous_format), batch, device, False, args.seconds)
                fast = measure(model.to(memory_format=torch.channels_last), batch, device, True, args.seconds)
                peak = (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
                        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
                print(f"{name:20s} {device.type:5s} {batch:5d} {base:11.1f} {fast:14.1f} {fast / base:5.2f}x "
                      f"{params:9.1f} {peak:8.0f}", flush=True)
        del model


if __name__ == "__main__":
    main()
