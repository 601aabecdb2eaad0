"""A training campaign: one command that starts or continues training for a wall-clock budget, evaluates on the
held-out set at fixed points and keeps a learning curve, across sessions and machines.

    caddm-train campaign CONFIG --work DIR [--hours H]

CONFIG (YAML): a `train:` mapping of `core.train.fit.TrainConfig` settings (its `out` is ignored: the run lives in
DIR/run) and campaign settings:
- `heldout_index`: the index whose `heldout_split` ("val") is the held-out-by-identity set (`core.train.heldout`);
- `eval_every_epochs`: epochs between two evaluations (one "leg");
- `baseline`: the checkpoint a candidate must beat (default: the bundled model);
- `fpr`: the false-positive target of the calibrated threshold (0.05).

The work folder (outside git; it survives from one day to the next) holds:
- `run/`: the `fit` run (`last.state.pt` for exact resumption, `last.safetensors`, `metrics.csv`);
- `curve.csv`: one row per evaluation: steps, samples seen, training wall time, per-group AUC, false positives at
  the calibrated threshold, paired win rates, and the leg's own cost: `leg_wall_s` and `leg_cpu_s` (CPU seconds of
  the training process and its data workers, training and evaluation; time stopped while something else is timed
  does not count, so the column's sum is the curve's CPU hours); `evals/step_NNNNNN.json` the whole evaluation;
- `baseline.json`: the baseline's evaluation (made once);
- `candidates/step_NNNNNN.safetensors`: each evaluated checkpoint that beats the baseline on the all-methods AUC
  and is no worse on false positives (all held-out real videos, and the non-FF++ real clips, at each model's own
  calibrated threshold); `curve.csv` marks them.
A kill at any point loses at most the epoch in progress: the next command resumes from `run/last.state.pt`.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from core.common.atomic import atomic_write_text
from core.common.errors import CaddmError

CURVE_NAME = "curve.csv"


@dataclass
class CampaignConfig:
    train: dict
    heldout_index: str
    heldout_split: str = "val"
    eval_every_epochs: int = 10
    baseline: str | None = None  # None: the bundled model
    fpr: float = 0.05


def load_campaign_config(path: str | os.PathLike) -> CampaignConfig:
    """Read a campaign YAML; CaddmError naming the file on any problem."""
    p = Path(path)
    if not p.exists():
        raise CaddmError(p, "campaign config not found")
    try:
        values = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise CaddmError(p, f"is not valid YAML ({str(e).splitlines()[0]})") from None
    names = {f.name for f in dataclasses.fields(CampaignConfig)}
    unknown = set(values) - names
    if not isinstance(values, dict) or unknown:
        raise CaddmError(p, f"unknown campaign settings {sorted(unknown)} (known: {', '.join(sorted(names))})")
    if not isinstance(values.get("train"), dict) or not values.get("heldout_index"):
        raise CaddmError(p, "needs a 'train' mapping and a 'heldout_index'")
    try:
        cfg = CampaignConfig(**values)
        cfg.eval_every_epochs = int(cfg.eval_every_epochs)
        cfg.fpr = float(cfg.fpr)
    except (TypeError, ValueError) as e:
        raise CaddmError(p, f"has a bad value ({e})") from None
    if cfg.eval_every_epochs < 1:
        raise CaddmError(p, "eval_every_epochs must be at least 1")
    return cfg


def _cpu_s() -> float:
    """CPU seconds used so far by this process and its finished children (the data workers of finished epochs)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _read_curve(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _write_curve(path: Path, rows: list[dict]) -> None:
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k, "") for k in cols})
    atomic_write_text(path, buf.getvalue())


def evaluate_checkpoint(path: str | os.PathLike, index, split: str, fpr: float) -> dict:
    """Held-out evaluation of a checkpoint file (torch runtime: the weights are fresh, no export)."""
    from core.model.checkpoints import load_model
    from core.model.inference import Predictor
    from core.train.heldout import evaluate_heldout

    model = load_model(path, "cpu")
    pred = Predictor(model, "auto", batch_size=32, runtime="torch")
    out = evaluate_heldout(pred, index, split, fpr)
    return {"model": model.info.name, "path": str(path), "sha256": model.info.sha256, **out}


def beats(candidate: dict, baseline: dict) -> bool:
    """The shipping rule: a higher all-methods AUC, and no more false positives than the baseline on the held-out
    real videos and on the non-FF++ real clips (each at its own calibrated threshold)."""
    from core.train.heldout import ALL_GROUP

    fc, fb = candidate["false_positives"], baseline["false_positives"]
    return (candidate["groups"][ALL_GROUP]["auc"] > baseline["groups"][ALL_GROUP]["auc"]
            and fc["real_videos"]["rate"] <= fb["real_videos"]["rate"]
            and fc["non_ffpp_real_clips"]["rate"] <= fb["non_ffpp_real_clips"]["rate"])


def run_campaign(config: CampaignConfig, work: str | os.PathLike, hours: float,
                 log: Callable[[str], None] | None = None, command: str | None = None) -> list[dict]:
    """Train in legs of `eval_every_epochs` epochs until `hours` of wall time are spent (checked between legs; at
    least one leg a call), evaluating after each leg (module docstring). Returns the learning curve rows."""
    from core.model.registry import resolve_model
    from core.train.dataset import load_index
    from core.train.fit import build_config, fit, load_state
    from core.train.heldout import summary_row

    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    work = Path(work)
    (work / "evals").mkdir(parents=True, exist_ok=True)
    run_dir = work / "run"
    heldout = load_index(config.heldout_index)
    base_path = work / "baseline.json"
    if base_path.exists():
        baseline = json.loads(base_path.read_text(encoding="utf-8"))
    else:
        ref = config.baseline or str(resolve_model(None))
        log(f"campaign: evaluating the baseline {ref} on the held-out set (once)")
        baseline = evaluate_checkpoint(ref, heldout, config.heldout_split, config.fpr)
        atomic_write_text(base_path, json.dumps(baseline, indent=1, sort_keys=True))
    curve_path = work / CURVE_NAME
    rows = _read_curve(curve_path)
    train = build_config({**config.train, "out": str(run_dir)}, "campaign config")
    legs = 0
    deadline = time.monotonic() + hours * 3600.0  # after the one-off baseline evaluation
    while legs == 0 or time.monotonic() < deadline:
        state = run_dir / "last.state.pt"
        done_epochs = int(load_state(state)["epoch"]) if state.exists() else 0
        cfg = dataclasses.replace(train, epochs=done_epochs + config.eval_every_epochs)
        t0, cpu0 = time.monotonic(), _cpu_s()
        r = fit(cfg, resume=state if state.exists() else None, log=log, command=command)
        legs += 1
        last = r.history[-1] if r.history else {}
        ckpt = run_dir / "last.safetensors"
        ev = evaluate_checkpoint(ckpt, heldout, config.heldout_split, config.fpr)
        steps = int(last.get("steps", r.steps))
        atomic_write_text(work / "evals" / f"step_{steps:06d}.json", json.dumps(ev, indent=1, sort_keys=True))
        better = beats(ev, baseline)
        if better:
            (work / "candidates").mkdir(exist_ok=True)
            shutil.copyfile(ckpt, work / "candidates" / f"step_{steps:06d}.safetensors")
        row = {"steps": steps, "samples_seen": steps * train.batch_size, "epochs": r.epochs,
               "train_time_s": last.get("time_s"), "loss": last.get("loss"), "acc": last.get("acc"),
               "samples_per_s": last.get("samples_per_s"), "data_s_per_step": last.get("data_s_per_step"),
               "compute_s_per_step": last.get("compute_s_per_step"), **summary_row(ev),
               "beats_baseline": int(better), "leg_wall_s": round(time.monotonic() - t0, 1),
               "leg_cpu_s": round(_cpu_s() - cpu0, 1)}
        rows.append(row)
        _write_curve(curve_path, rows)
        from core.train.heldout import ALL_GROUP
        log(f"campaign: step {steps}: all-methods AUC {ev['groups'][ALL_GROUP]['auc']:.3f} (baseline "
            f"{baseline['groups'][ALL_GROUP]['auc']:.3f}), FP real videos {ev['false_positives']['real_videos']['rate']:.1%}"
            f", FF++ pairs won {ev['pairs']['ffpp']['win_rate']:.0%}, self-blend pairs won "
            f"{ev['pairs'].get('sbi', {}).get('win_rate', math.nan):.0%}{'  -> candidate' if better else ''}")
    log(f"campaign: budget of {hours:g} h spent after {legs} leg(s); curve in {curve_path}")
    return rows
