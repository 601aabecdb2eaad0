"""Average the weights of several checkpoints of one run (stochastic weight averaging over the last epochs at the
final learning rate): one model whose scores vary less from epoch to epoch.

    .venv/bin/python resources/models/recipe/average.py RUN/epoch_030.safetensors ... --out AVG.safetensors

BatchNorm running statistics are averaged like the weights; integer buffers (num_batches_tracked) are taken from the
last checkpoint. The card is the last checkpoint's, with `averaged_from` (the file names) added.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from core.common.threads import configure_threads  # noqa: E402

configure_threads()
import torch  # noqa: E402

from core.model.checkpoints import load_model, save_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    models = [load_model(p) for p in args.checkpoints]
    last = models[-1]
    if any(m.config.to_dict() != last.config.to_dict() for m in models):
        sys.exit("the checkpoints describe different architectures")
    states = [m.state_dict() for m in models]
    avg = {k: (torch.stack([s[k].float() for s in states]).mean(0) if v.is_floating_point() else v)
           for k, v in states[-1].items()}
    last.load_state_dict(avg)
    save_model(last, args.out, averaged_from=[Path(p).name for p in args.checkpoints])
    print(f"{args.out}: mean of {len(models)} checkpoints")


if __name__ == "__main__":
    main()
