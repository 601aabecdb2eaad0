"""`caddm-train`: prepare data, preview MFS samples, train and evaluate CADDM models.

    caddm-train prepare ffpp ROOT --out DIR [--frames N] [--split train|val|test|all] [--splits DIR]
                                   [--methods M ...] [--compression c23] [--workers K] [--detector retinaface|hog|cnn]
    caddm-train prepare folder DIR --label real|fake --out OUT [--source-of DIR] [--split auto|train|val|test]
    caddm-train prepare celebdf ROOT --out DIR        caddm-train prepare dfdc ROOT --out DIR
    caddm-train preview --index DIR --out grid.png [--n 16] [--split train] [--no-mfs] [--no-augment]
    caddm-train fit --config FILE [key=value ...] [--resume RUN_OR_STATE]
    caddm-train campaign CONFIG --work DIR [--hours H]
    caddm-train eval --model CKPT --index DIR --out DIR [--split test] [--threshold 0.5]
    caddm-train probe-identity --model CKPT|imagenet:BACKBONE ... --index DIR [--out FILE.json]

Exit codes: 0 ok, 1 failure (one line naming the file), 2 usage error. The work lives in `core` (prepare,
dataset, training, evaluation); this file only parses arguments.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from core.model.device import DEVICE_CHOICES, is_device_name
from core.common.errors import CaddmError
from core.faces.detector_choice import DEFAULT_DETECTOR, DETECTORS
from core.common.threads import configure_threads


def _add_prepare_common(p):
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (index.json, frames/, videos/)")
    p.add_argument("--frames", type=int, default=32, metavar="N", help="evenly spaced frames per video (32)")
    p.add_argument("--workers", type=int, default=1, metavar="K", help="parallel processes (1)")
    p.add_argument("--image-format", choices=["png", "jpg"], default="png", help="saved face images (png)")
    p.add_argument("--max-face", type=int, default=192, metavar="PX",
                   help="downscale saved images so the landmarks span at most PX pixels (192)")
    p.add_argument("--detector", choices=DETECTORS, default=DEFAULT_DETECTOR,
                   help=f"face detector, as in caddm-analyze ({DEFAULT_DETECTOR}); recorded in the index and in every "
                        "model trained on it; one folder holds one detector's crops")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _device_arg(text: str) -> str:
    if not is_device_name(text):
        raise argparse.ArgumentTypeError(f"choose from {', '.join(DEVICE_CHOICES)} or cuda:N, not {text!r}")
    return text.lower()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="caddm-train", description="Train and evaluate CADDM deepfake detectors.",
                                epilog="Exit codes: 0 ok, 1 failure, 2 usage error.")
    sub = p.add_subparsers(dest="command", required=True)

    prep = sub.add_parser("prepare", help="extract faces + landmarks from videos into an index")
    layouts = prep.add_subparsers(dest="layout", required=True)
    ff = layouts.add_parser("ffpp", help="FaceForensics++ (originals + manipulated methods)")
    ff.add_argument("root", metavar="ROOT")
    ff.add_argument("--split", choices=["train", "val", "test", "all"], default="train")
    ff.add_argument("--splits", metavar="DIR", help="folder with FF++'s official train/val/test.json")
    ff.add_argument("--methods", nargs="+", default=None, metavar="M",
                    help="Deepfakes Face2Face FaceSwap NeuralTextures FaceShifter (default: all present)")
    ff.add_argument("--compression", default="c23", choices=["raw", "c0", "c23", "c40"])
    ff.add_argument("--seed", type=int, default=0, help="seed of the split when --splits is not given")
    _add_prepare_common(ff)
    fo = layouts.add_parser("folder", help="a folder of videos/images with one label")
    fo.add_argument("root", metavar="DIR")
    fo.add_argument("--label", required=True, choices=["real", "fake"])
    fo.add_argument("--source-of", metavar="DIR", help="(fakes) folder of their source videos: X.mp4 or T_S.mp4 "
                                                       "pairs with X.* or T.* there")
    fo.add_argument("--split", choices=["auto", "train", "val", "test"], default="auto",
                    help="auto: a seeded 72/14/14 split by video name")
    fo.add_argument("--seed", type=int, default=0)
    _add_prepare_common(fo)
    for name, help_ in (("celebdf", "Celeb-DF test set (List_of_testing_videos.txt)"),
                        ("dfdc", "DFDC test set (metadata.json)")):
        lp = layouts.add_parser(name, help=help_)
        lp.add_argument("root", metavar="ROOT")
        _add_prepare_common(lp)

    pv = sub.add_parser("preview", help="a grid of training samples (MFS + augmentation) with their boxes")
    pv.add_argument("--index", required=True, metavar="DIR")
    pv.add_argument("--out", required=True, metavar="PNG")
    pv.add_argument("--n", type=int, default=16)
    pv.add_argument("--cols", type=int, default=4)
    pv.add_argument("--split", default="train")
    pv.add_argument("--seed", type=int, default=0)
    pv.add_argument("--no-mfs", action="store_true")
    pv.add_argument("--no-augment", action="store_true")
    pv.add_argument("--self-blend", choices=["auto", "on", "off"], default="auto")

    fi = sub.add_parser("fit", help="train a model", description="Train a model. Settings: a YAML file (ours or "
                        "the authors' caddm_train.cfg) then key=value overrides, e.g. epochs=10 mfs=false.")
    fi.add_argument("--config", metavar="FILE", help="YAML settings")
    fi.add_argument("overrides", nargs="*", metavar="key=value")
    fi.add_argument("--resume", metavar="RUN_OR_STATE", help="continue a run (its folder or last.state.pt)")

    ca = sub.add_parser("campaign", help="start or continue a training campaign for a wall-clock budget",
                        description="Start or continue a training campaign (core.train.campaign): train for the "
                        "budget, evaluate on the held-out set after each leg, append to WORK/curve.csv, keep the "
                        "checkpoints that beat the baseline in WORK/candidates/.")
    ca.add_argument("config", metavar="CONFIG", help="campaign YAML (a train: mapping and heldout_index)")
    ca.add_argument("--work", required=True, metavar="DIR", help="the campaign's work folder (kept outside git)")
    ca.add_argument("--hours", type=float, default=2.0, help="wall-clock budget of this call, in hours (2)")

    ev = sub.add_parser("eval", help="evaluate a checkpoint on an index")
    ev.add_argument("--model", required=True, metavar="CKPT")
    ev.add_argument("--index", required=True, metavar="DIR")
    ev.add_argument("--out", required=True, metavar="DIR")
    ev.add_argument("--split", default="test", help="train, val, test or all (test)")
    ev.add_argument("--threshold", type=float, default=0.5)
    ev.add_argument("--frames", type=int, default=None, metavar="N", help="at most N frames per video")
    ev.add_argument("--device", default="auto", type=_device_arg, metavar="|".join(DEVICE_CHOICES) + "|cuda:N")
    ev.add_argument("--batch-size", type=int, default=32)

    pr = sub.add_parser("probe-identity", help="how much identity a model's frozen features carry (the paper's "
                        "probe)", description="Fit a linear identity classifier on each model's frozen pooled "
                        "features of real frames (split by time within each identity) and print its top-1 "
                        "accuracy on the held-out frames against chance. See core/train/probe.py.")
    pr.add_argument("--model", required=True, nargs="+", metavar="CKPT",
                    help="checkpoints, or imagenet:BACKBONE for a backbone with its packaged ImageNet weights "
                         "before any training (e.g. imagenet:efficientnet-lite0)")
    pr.add_argument("--index", required=True, metavar="DIR", help="a prepared index (its real frames, all splits)")
    pr.add_argument("--out", metavar="FILE.json", help="also write the table as JSON")
    pr.add_argument("--min-frames", type=int, default=8, metavar="N", help="skip identities with fewer frames (8)")
    pr.add_argument("--max-frames", type=int, default=48, metavar="N", help="at most N frames per identity (48)")
    pr.add_argument("--test-share", type=float, default=0.3, help="last share of each identity's frames (0.3)")
    pr.add_argument("--device", default="auto", type=_device_arg, metavar="|".join(DEVICE_CHOICES) + "|cuda:N")
    pr.add_argument("--batch-size", type=int, default=32)
    return p


def _prepare(args) -> int:
    from core.train import prepare as P

    kw = dict(image_format=args.image_format, max_face=args.max_face)
    if args.layout == "ffpp":
        tasks = P.ffpp_tasks(args.root, args.frames, args.split, args.splits, args.methods or P.FFPP_METHODS,
                             args.compression, args.seed, **kw)
    elif args.layout == "folder":
        tasks = P.folder_tasks(args.root, args.label, args.frames, args.split, args.source_of, seed=args.seed, **kw)
    elif args.layout == "celebdf":
        tasks = P.celebdf_tasks(args.root, args.frames, **kw)
    else:
        tasks = P.dfdc_tasks(args.root, args.frames, **kw)
    s = P.run_tasks(tasks, args.out, workers=args.workers, finder=P.FaceFinder(args.detector),
                    progress=not args.quiet)
    print(f"{s['index']}: {s['records']} frames ({s['real']} real, {s['fake']} fake; "
          f"{', '.join(f'{k} {v}' for k, v in s['by_split'].items())}); {s['prepared']} videos prepared now, "
          f"{s['done_before']} done before, {len(s['skipped'])} skipped; faces by {s['face_detector']}")
    reasons = {}
    for r in s["skipped"].values():
        reasons[r.split(" (")[0]] = reasons.get(r.split(" (")[0], 0) + 1
    for reason, n in sorted(reasons.items()):
        print(f"  skipped ({reason}): {n} videos; list in {Path(args.out) / 'skipped.json'}")
    if s["fakes_without_source"]:
        print(f"  {s['fakes_without_source']} fake frames have no prepared source frame (no MFS pairing for them)")
    return 0


def _preview(args) -> int:
    import cv2
    import numpy as np

    from core.train.dataset import CADDMDataset, SampleOptions, load_index
    from core.common.errors import OutputError
    from core.train.mfs import preview_grid

    ds = CADDMDataset(load_index(args.index), args.split,
                      SampleOptions(mfs=not args.no_mfs, augment=not args.no_augment, self_blend=args.self_blend),
                      seed=args.seed)
    g = np.random.default_rng(args.seed)
    items = g.permutation(len(ds))[: args.n] if args.n <= len(ds) else g.integers(0, len(ds), args.n)
    samples = [ds.sample(int(i), np.random.default_rng([args.seed, k])) for k, i in enumerate(items)]
    grid = preview_grid(samples, args.cols)
    out = Path(args.out)
    ok, buf = cv2.imencode(out.suffix or ".png", grid)
    if not ok:
        raise OutputError(out, "cannot encode the image (use .png or .jpg)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        from core.common.atomic import atomic_write_bytes
        atomic_write_bytes(out, buf.tobytes())
    except OSError as e:
        raise OutputError(out, f"cannot be written ({e.strerror})") from None
    kinds = {}
    for s in samples:
        kinds[s.kind] = kinds.get(s.kind, 0) + 1
    print(f"{out}: {len(samples)} samples ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})")
    return 0


def _fit(args, argv) -> int:
    from core.train.fit import ConfigError, fit, load_config

    cfg = load_config(args.config, args.overrides)
    if not cfg.train_index:
        raise ConfigError(args.config, "no train_index given (set it in the config or as train_index=DIR)")
    command = "caddm-train " + " ".join(shlex.quote(a) for a in argv)
    r = fit(cfg, resume=args.resume, command=command)
    print(f"{r.out}: {r.epochs} epochs, {r.steps} steps; best {r.best}")
    return 0


def _eval(args) -> int:
    from core.model.checkpoints import load_model
    from core.train.dataset import load_index
    from core.train.evaluation import evaluate
    from core.model.inference import Predictor

    index = load_index(args.index)
    model = load_model(args.model, "cpu")
    pred = Predictor(model, args.device, batch_size=args.batch_size)
    m = evaluate(pred, index, args.split, args.threshold, args.frames, out_dir=args.out)
    m["model"] = {"name": model.info.name, "path": model.info.path, "sha256": model.info.sha256,
                  "format": model.info.format}
    from core.common.atomic import atomic_write_text
    atomic_write_text(Path(args.out) / "metrics.json", json.dumps(m, indent=2, sort_keys=True))

    def f(x):
        return "n/a" if x is None else f"{x:.4f}"
    print(f"{args.out}: video AUC {f(m['video']['auc'])} ({m['video']['n']} videos), frame AUC "
          f"{f(m['frame']['auc'])} ({m['frame']['n']} frames), video accuracy {f(m['video']['accuracy'])} "
          f"at {args.threshold}")
    for name, e in m["per_method"].items():
        extra = f" video AUC {f(e.get('video_auc'))}" if "video_auc" in e else ""
        print(f"  {name}: {e['videos']} videos, video accuracy {f(e['video_accuracy'])}{extra}")
    return 0


def _probe_model(spec: str):
    """(model, name) for a checkpoint path or imagenet:BACKBONE."""
    from core.model.checkpoints import load_model
    from core.model.caddm import CADDM
    from core.model.config import ModelConfig

    if spec.startswith("imagenet:"):
        backbone = spec.split(":", 1)[1]
        return CADDM(ModelConfig(backbone), pretrained=True), f"{backbone} (ImageNet, untrained)"
    model = load_model(spec, "cpu")
    return model, f"{model.info.name} ({Path(spec).name})"


def _probe(args) -> int:
    from core.model.backbones import get_spec
    from core.model.device import resolve_device
    from core.train.dataset import load_index
    from core.train.probe import probe_split, run_probe

    for spec in args.model:
        if spec.startswith("imagenet:"):
            try:
                get_spec(spec.split(":", 1)[1])
            except (KeyError, ValueError) as e:
                raise CaddmError(None, f"--model {spec}: {e.args[0]}") from None
    index = load_index(args.index)
    split = probe_split(index, args.min_frames, args.test_share, args.max_frames)
    device = resolve_device(args.device)
    print(f"{index.path}: {len(split.names)} identities, {len(split.train)} train / {len(split.test)} test real "
          f"frames (last {args.test_share:.0%} of each identity's frames); device {device}")
    rows = []
    for spec in args.model:
        model, name = _probe_model(spec)
        r = run_probe(model, name, index, split, device, args.batch_size)
        rows.append(r.to_dict() | {"spec": spec})
        shots = ", ".join(f"{k} frame{'s' if k != '1' else ''} an identity {v:.3f}" for k, v in r.top1_shots.items())
        print(f"  {name}: identity top-1 on test frames {r.top1:.3f} ({shots}; train {r.train_top1:.3f}; chance "
              f"{r.chance:.3f}, majority {r.majority:.3f}; {r.features} features)")
    if args.out:
        from core.common.atomic import atomic_write_text
        atomic_write_text(Path(args.out), json.dumps({"index": str(index.path), "identities": split.names,
                                                      "test_share": args.test_share, "rows": rows}, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    configure_threads()  # before anything loads torch
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0) if e.code in (0, None) else 2
    try:
        if args.command == "prepare":
            return _prepare(args)
        if args.command == "preview":
            return _preview(args)
        if args.command == "fit":
            return _fit(args, argv)
        if args.command == "campaign":
            from core.train.campaign import load_campaign_config, run_campaign
            rows = run_campaign(load_campaign_config(args.config), args.work, args.hours,
                                command="caddm-train " + " ".join(shlex.quote(a) for a in argv))
            print(f"{args.work}: {len(rows)} evaluations in {Path(args.work) / 'curve.csv'}")
            return 0
        if args.command == "probe-identity":
            return _probe(args)
        return _eval(args)
    except CaddmError as e:
        print(f"caddm-train: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("caddm-train: interrupted (a run continues with --resume from its last finished epoch)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
